"""The telnet codec against the real ser2net: same input, same bytes out.

ser2net runs on loopback with pty-backed ports; each scripted step is sent
to it and fed to a :class:`TelnetServerCodec` whose device requests are
answered the way a pty answers them.  Skipped when ser2net is not installed.
"""

from __future__ import annotations

import re
import socket
import time
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import pytest

from pyser2net.protocol.telnet import ComPortCommand, ComPortRequest, Data, Event, TelnetServerCodec

from helpers import Pty, connect, daemon, free_port, new_pty, read_exact, recv_exact
from ser2net_helpers import SER2NET

pytestmark = pytest.mark.skipif(
    SER2NET is None, reason="ser2net is not installed (apt-get install ser2net)"
)

IAC, SB, SE = 255, 250, 240
WILL, WONT, DO, DONT = 251, 252, 253, 254
NOP, DM, AYT, GA = 241, 242, 246, 249

# An option nobody knows: both sides answer DO 200 with WONT 200 at once, so
# seeing that answer means ser2net has parsed everything sent before it.
SENTINEL = bytes((IAC, DO, 200))
SENTINEL_ANSWER = bytes((IAC, WONT, 200))
QUIET = 0.15  # device answers may follow the sentinel's; they come within ms
DEADLINE = 5.0


def neg(verb: int, option: int) -> bytes:
    return bytes((IAC, verb, option))


def sb(*payload: int) -> bytes:
    return bytes((IAC, SB, 44)) + bytes(payload).replace(b"\xff", b"\xff\xff") + bytes((IAC, SE))


class PtyAnswers:
    """Answers device requests the way ser2net does for a pty at 9600n81.

    A pty accepts the standard settings; ser2net stays silent when the
    device refuses a value, and reports inbound flow control as "none".
    All changes from one read reach the device before any answer is sent,
    so every answer carries the setting's value after the whole read.
    """

    def __init__(self) -> None:
        self.values: Dict[int, int] = {
            ComPortCommand.SET_BAUDRATE: 9600,
            ComPortCommand.SET_DATASIZE: 8,
            ComPortCommand.SET_PARITY: 1,
            ComPortCommand.SET_STOPSIZE: 1,
            ComPortCommand.SET_CONTROL: 1,
        }
        self.valid = {
            ComPortCommand.SET_DATASIZE: range(5, 9),
            ComPortCommand.SET_PARITY: range(1, 6),
            ComPortCommand.SET_STOPSIZE: range(1, 3),
            ComPortCommand.SET_CONTROL: range(1, 4),
        }

    def answer(self, codec: TelnetServerCodec, events: List[Event]) -> None:
        requests = [e for e in events if isinstance(e, ComPortRequest)]
        accepted = [self.apply(e.command, e.value) for e in requests]
        for event, ok in zip(requests, accepted):
            if not ok:
                continue
            if event.command == ComPortCommand.PURGE_DATA:
                codec.reply(event.command, event.value)  # swallowed: already answered
            elif event.command == ComPortCommand.SET_CONTROL and 13 <= event.value <= 19:
                codec.reply(event.command, 14)
            else:
                codec.reply(event.command, self.values[event.command])

    def apply(self, command: ComPortCommand, value: int) -> bool:
        """Change the emulated device; False when ser2net would not answer."""
        if command == ComPortCommand.PURGE_DATA or value == 0:
            return True
        if command == ComPortCommand.SET_CONTROL and 13 <= value <= 19:
            return True
        if command != ComPortCommand.SET_BAUDRATE and value not in self.valid[command]:
            return False
        self.values[command] = value
        return True


# SET-LINESTATE-MASK / SET-MODEMSTATE-MASK requests, and the acknowledgement
# RFC 2217 asks for (server code 110 / 111 echoing the mask).  ser2net 4.3
# sends none; pyser2net sends one before the notification both send.
MASK_REQUEST = re.compile(rb"\xff\xfa\x2c([\x0a\x0b])(\xff\xff|[^\xff])\xff\xf0")
MASK_ACK = re.compile(rb"\xff\xfa\x2c[\x6e\x6f](?:\xff\xff|[^\xff])\xff\xf0")


def without_mask_acks(ours: bytes, sent: bytes) -> bytes:
    """``ours`` less the mask acknowledgements, checked to answer ``sent``'s requests."""
    wanted = [
        bytes((IAC, SB, 44, m.group(1)[0] + 100)) + m.group(2) + bytes((IAC, SE))
        for m in MASK_REQUEST.finditer(sent)
    ]
    assert MASK_ACK.findall(ours) == wanted
    return MASK_ACK.sub(b"", ours)


def recv_until_quiet(sock: socket.socket, marker: bytes = b"") -> bytes:
    """Read until ``marker`` was seen and then nothing came for QUIET seconds."""
    deadline = time.monotonic() + DEADLINE
    out = bytearray()
    while time.monotonic() < deadline:
        waiting_marker = marker and marker not in out
        sock.settimeout(DEADLINE if waiting_marker else QUIET)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            if not waiting_marker:
                break
            continue
        if not chunk:
            break
        out += chunk
    return bytes(out)


class Pair:
    """One connection to ser2net and one codec, fed the same bytes."""

    def __init__(self, port: int, rfc2217: bool) -> None:
        self.sock = connect(port)
        self.codec = TelnetServerCodec(rfc2217=rfc2217)
        self.device = PtyAnswers()

    def close(self) -> None:
        self.sock.close()

    def exchange(self, data: bytes, sync: bool = True) -> Tuple[bytes, bytes, List[Event]]:
        """Send ``data``; return (ser2net's answer, the codec's answer, events)."""
        if sync:
            data += SENTINEL
        self.sock.sendall(data)
        real = recv_until_quiet(self.sock, SENTINEL_ANSWER if sync else b"")
        events = self.codec.receive_data(data)
        self.device.answer(self.codec, events)
        return real, self.codec.data_to_send(), events


MODES = {
    "rfc2217": ("telnet(rfc2217)", True),
    "telnet": ("telnet", False),
    "rfc2217-false": ("telnet(rfc2217=false)", False),
}


@pytest.fixture(scope="module")
def ser2net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dict[str, Tuple[int, Pty]]]:
    tmp_path: Path = tmp_path_factory.mktemp("ser2net")
    ptys = {name: new_pty() for name in MODES}
    ports = {name: free_port() for name in MODES}
    config = "".join(
        f"connection: &{name.replace('-', '_')}\n"
        f"  accepter: {accepter},tcp,127.0.0.1,{ports[name]}\n"
        f"  connector: serialdev,{ptys[name].path},9600n81,local\n"
        for name, (accepter, _) in MODES.items()
    )
    try:
        with daemon(config, tmp_path, list(ports.values()), command=[SER2NET], extra_args=["-u"]):
            yield {name: (ports[name], ptys[name]) for name in MODES}
    finally:
        for dev in ptys.values():
            dev.close()


@pytest.mark.parametrize("mode", list(MODES))
def test_connect_bytes(ser2net: Dict[str, Tuple[int, Pty]], mode: str) -> None:
    port, _ = ser2net[mode]
    with connect(port) as sock:
        real = recv_until_quiet(sock)
    assert real.hex(" ") == TelnetServerCodec(rfc2217=MODES[mode][1]).start().hex(" ")


STEPS_2217 = [
    ("pyserial's answers to the offers", neg(WILL, 0) + neg(DO, 0) + neg(DO, 44)),
    ("client enables COM-PORT-OPTION", neg(WILL, 44)),
    ("pyserial's own requests", neg(DO, 1) + neg(WILL, 3) + neg(DO, 3) + neg(WILL, 44)),
    ("SGA off and on", neg(WONT, 3) + neg(WILL, 3)),
    ("BINARY off and on", neg(DONT, 0) + neg(DO, 0) + neg(WONT, 0) + neg(WILL, 0)),
    ("ECHO", neg(WILL, 1) + neg(WONT, 1) + neg(DONT, 1) + neg(DO, 1)),
    ("server-side COM-PORT-OPTION", neg(DO, 44) + neg(DONT, 44) + neg(DONT, 44)),
    (
        "unknown options",
        neg(DO, 5) + neg(WILL, 24) + neg(DONT, 31) + neg(WONT, 31) + neg(WILL, 255) + neg(DO, 255),
    ),
    ("signature request", sb(0)),
    ("client signature", sb(0, *b"pyclient")),
    ("over-long signature", sb(0, *(b"x" * 300))),
    ("pyserial settings", sb(1, 0, 0, 0xE1, 0) + sb(2, 7) + sb(3, 3) + sb(4, 2)),
    ("queries", sb(1, 0, 0, 0, 0) + sb(2, 0) + sb(3, 0) + sb(4, 0)),
    ("values the device refuses", sb(2, 9) + sb(3, 6) + sb(4, 4)),
    ("flow control in one read", sb(5, 0) + sb(5, 2) + sb(5, 0) + sb(5, 1) + sb(5, 13)),
    ("XON/XOFF flow control", sb(5, 2)),
    ("flow control query", sb(5, 0)),
    ("no flow control", sb(5, 1)),
    ("purge", sb(12, 1) + sb(12, 2) + sb(12, 3)),
    ("state masks", sb(10, 0xFF) + sb(10, 0) + sb(11, 0xFF) + sb(11, 0x30)),
    (
        "ignored COM-PORT commands",
        sb(6, 1)
        + sb(7, 1)
        + sb(13, 1)
        + sb(101, 0, 0, 0x25, 0x80)
        + sb(100)
        + bytes((IAC, SB, 44, IAC, SE))
        + sb(2),
    ),
    ("IAC WILL inside a subnegotiation", bytes((IAC, SB, 44, 2, IAC, WILL, 0, 7, IAC, SE))),
    ("one-byte commands", bytes((IAC, SE, IAC, NOP, IAC, AYT, IAC, GA, IAC, DM, IAC, 65))),
    ("other option's subnegotiation", bytes((IAC, SB, 31, 0, 80, 0, 24, IAC, SE))),
    ("mixed chunk", sb(1, 0, 0, 0x4B, 0) + sb(0) + sb(11, 0) + sb(2, 0) + neg(DO, 5)),
    ("Cisco baud rate", sb(1, 13)),
    ("Cisco baud rates in one read", sb(1, 0, 0, 0x25, 0x80) + sb(1, 13) + sb(1, 99)),
    ("COM-PORT-OPTION off and on", neg(WONT, 44) + neg(WILL, 44) + sb(1, 0, 0, 0, 0)),
]

STEPS_PLAIN = [
    ("pyserial's answers to the offers", neg(WILL, 0) + neg(DO, 0) + neg(DO, 44)),
    ("COM-PORT-OPTION refused", neg(WILL, 44) + neg(WONT, 44) + neg(WILL, 44) + neg(DONT, 44)),
    ("SGA", neg(WILL, 3) + neg(WONT, 3) + neg(WILL, 3)),
    ("ECHO", neg(WILL, 1) + neg(DO, 1) + neg(DONT, 1)),
    ("RFC 2217 requests ignored", sb(0) + sb(1, 0, 0, 0x4B, 0) + sb(11, 0xFF) + sb(8)),
    ("unknown options", neg(DO, 5) + neg(WILL, 24) + neg(WONT, 24)),
]


def run_steps(port: int, rfc2217: bool, steps: List[Tuple[str, bytes]]) -> None:
    pair = Pair(port, rfc2217)
    try:
        assert recv_exact(pair.sock, len(pair.codec.start())) == pair.codec.start()
        for name, data in steps:
            real, ours, _ = pair.exchange(data)
            if rfc2217:
                ours = without_mask_acks(ours, data)
            assert ours.hex(" ") == real.hex(" "), name
    finally:
        pair.close()


def test_negotiation_script_rfc2217(ser2net: Dict[str, Tuple[int, Pty]]) -> None:
    port, _ = ser2net["rfc2217"]
    run_steps(port, True, STEPS_2217)


@pytest.mark.parametrize("mode", ["telnet", "rfc2217-false"])
def test_negotiation_script_plain(ser2net: Dict[str, Tuple[int, Pty]], mode: str) -> None:
    port, _ = ser2net[mode]
    run_steps(port, False, STEPS_PLAIN)


def test_whole_script_in_one_chunk(ser2net: Dict[str, Tuple[int, Pty]]) -> None:
    # One read on ser2net's side: its own answers first, device answers after.
    port, _ = ser2net["rfc2217"]
    pair = Pair(port, True)
    try:
        recv_exact(pair.sock, len(pair.codec.start()))
        chunk = b"".join(data for _, data in STEPS_2217[:15])
        real, ours, _ = pair.exchange(chunk)
        assert without_mask_acks(ours, chunk).hex(" ") == real.hex(" ")
    finally:
        pair.close()


def test_payload_both_ways(ser2net: Dict[str, Tuple[int, Pty]]) -> None:
    port, dev = ser2net["rfc2217"]
    pair = Pair(port, True)
    try:
        recv_exact(pair.sock, len(pair.codec.start()))
        pair.exchange(neg(WILL, 44))
        read_exact(dev.master, 1 << 16, timeout=0.2)  # anything left over
        up = b"a\r\x00b\r\nc\xff\xffd" + bytes((IAC, NOP)) + b"e\r"
        real, ours, events = pair.exchange(up)
        assert ours == real
        expected = b"".join(e.data for e in events if isinstance(e, Data))
        assert expected == b"a\r\x00b\r\nc\xffde\r"
        assert read_exact(dev.master, len(expected)) == expected
        down = b"x\xffy\r\nz\rw\x00\xff"
        dev.write(down)
        encoded = pair.codec.encode(down)
        assert recv_exact(pair.sock, len(encoded)) == encoded
    finally:
        pair.close()


def test_unterminated_subnegotiation_swallows_payload(
    ser2net: Dict[str, Tuple[int, Pty]],
) -> None:
    port, dev = ser2net["rfc2217"]
    pair = Pair(port, True)
    try:
        recv_exact(pair.sock, len(pair.codec.start()))
        read_exact(dev.master, 1 << 16, timeout=0.2)
        real, ours, events = pair.exchange(bytes((IAC, SB, 44, 2, 5)) + b"lost", sync=False)
        assert (real, ours, events) == (b"", b"", [])
        real, ours, events = pair.exchange(bytes((IAC, SE)) + b"kept")
        assert ours.hex(" ") == real.hex(" ")
        assert read_exact(dev.master, 4) == b"kept"
        assert read_exact(dev.master, 1, timeout=0.2) == b""
    finally:
        pair.close()
