"""RFC 2217 settings requests, one at a time and in bursts: the same answers
as ser2net, byte for byte, and the same speed on the device.

ser2net answers the requests of one read after the read, each with the
value in force once all of them reached the device; a request the device
refuses gets no answer.  pyser2net takes the requests of a turn, applies
them once in the next and answers them the same way.

What a pty refuses: nothing that RFC 2217 can ask.  It takes every 32-bit
speed (termios2 with BOTHER, from 1 to 4294967295) and keeps CS8 without
parity whatever the framing asked for, which both daemons take as applied.
So the values refused here are those no port takes (data size 9, parity 6,
1.5 stop bits), refused before the device; speeds of 2**31 and more, which
pyser2net once refused where ser2net takes them, are in the bursts.  A
device refusing in a burst is covered by tests/unit/test_rfc2217_session.py.

Skipped when ser2net is not installed.
"""

from __future__ import annotations

import array
import fcntl
from pathlib import Path
from typing import List, Optional, Tuple

import pytest
from test_telnet_connect_bytes import SENTINEL, SENTINEL_ANSWER, neg, recv_until_quiet, sb

from helpers import connect, daemon, free_port, new_pty
from ser2net_helpers import IMPLEMENTATIONS, SER2NET

pytestmark = pytest.mark.skipif(SER2NET is None, reason="ser2net is not installed")

WILL = 251
COM_PORT = 44
TCGETS2 = 0x802C542A  # struct termios2, x86 and arm; the test skips elsewhere


def baud(value: int) -> bytes:
    return sb(1, *value.to_bytes(4, "big"))


def size(value: int) -> bytes:
    return sb(2, value)


def parity(value: int) -> bytes:
    return sb(3, value)


def stop(value: int) -> bytes:
    return sb(4, value)


def control(value: int) -> bytes:
    return sb(5, value)


# At most 7 requests a step: with the sentinel, one piece of a client's
# telnet layer, which pyser2net handles in one turn.
SINGLE = [
    ("speed", baud(19200)),
    ("speed query", baud(0)),
    ("odd speed", baud(12345)),
    ("speed of 2**31", baud(1 << 31)),
    ("largest speed, its 0xFF bytes doubled", baud(0xFFFFFFFF)),
    ("back to 9600", baud(9600)),
    ("data size", size(7)),
    ("data size query", size(0)),
    ("parity", parity(3)),
    ("stop bits", stop(2)),
    ("XON/XOFF", control(2)),
    ("flow control query", control(0)),
    ("no flow control", control(1)),
    ("data size no port has", size(9)),
    ("parity no port has", parity(6)),
    ("1.5 stop bits", stop(3)),
]

BURSTS = [
    ("speeds", baud(1200) + baud(2400) + baud(4800)),
    ("a speed past 2**31 in the middle", baud(19200) + baud(1 << 31) + baud(38400)),
    ("a speed past 2**31 last", baud(57600) + baud(0xFFFFFFFE)),
    ("the same speed", baud(115200) * 6),
    ("speed and queries", baud(38400) + baud(0) + size(8) + size(0)),
    ("data sizes", size(5) + size(6) + size(7) + size(8)),
    ("parities", parity(2) + parity(3) + parity(0)),
    ("refused values between", baud(300) + size(9) + baud(600) + parity(6) + stop(3)),
    ("flow control", control(0) + control(2) + control(0) + control(1) + control(13)),
    ("inbound flow control", baud(110) + control(13) + control(14) + baud(0)),
    ("a signature between", baud(300) + sb(0) + baud(600)),
    ("a purge between", baud(4800) + sb(12, 1) + baud(9600)),
    ("a negotiation between", baud(1200) + neg(253, 5) + size(7) + neg(253, 6)),
    ("everything", baud(2400) + size(7) + parity(2) + stop(2) + control(3) + baud(4800)),
]


def speed(fd: int) -> Optional[int]:
    """The output speed of the line (termios2), whatever it is."""
    attrs = array.array("I", [0] * 64)
    try:
        fcntl.ioctl(fd, TCGETS2, attrs)
    except OSError:
        return None
    return attrs[10]


def observe(command: List[str], tmp_path: Path) -> List[Tuple[str, str, Optional[int]]]:
    """Each step's answers (hex) and the device's speed after it."""
    dev = new_pty()
    port = free_port()
    config = (
        "connection: &c\n"
        f"  accepter: telnet(rfc2217),tcp,127.0.0.1,{port}\n"
        f"  connector: serialdev,{dev.path},9600n81,local\n"
    )
    seen = []
    try:
        with daemon(config, tmp_path, [port], command=command, extra_args=["-u"]):
            with connect(port) as sock:
                recv_until_quiet(sock)
                sock.sendall(bytes((255, WILL, COM_PORT)) + SENTINEL)
                recv_until_quiet(sock, SENTINEL_ANSWER)
                for name, data in SINGLE + BURSTS:
                    sock.sendall(data + SENTINEL)
                    answers = recv_until_quiet(sock, SENTINEL_ANSWER)
                    assert SENTINEL_ANSWER in answers, name
                    answers = answers.replace(SENTINEL_ANSWER, b"", 1)
                    seen.append((name, answers.hex(" "), speed(dev.slave)))
    finally:
        dev.close()
    return seen


def test_settings_requests_are_answered_as_ser2net_answers_them(tmp_path: Path) -> None:
    probe = new_pty()
    try:
        if speed(probe.slave) is None:
            pytest.skip("no termios2 on this system")
    finally:
        probe.close()
    theirs = observe(IMPLEMENTATIONS["ser2net"], tmp_path)
    ours = observe(IMPLEMENTATIONS["pyser2net"], tmp_path)
    assert [s for _, _, s in theirs][3:5] == [1 << 31, 0xFFFFFFFF], "scenario broken"
    for mine, real in zip(ours, theirs):
        assert mine == real
    assert len(ours) == len(theirs) == len(SINGLE) + len(BURSTS)
