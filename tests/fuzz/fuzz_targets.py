"""What the fuzzer runs, and what each target must never do.

A target's ``run(data)`` returns normally for every input it handles as
designed (a configuration with errors raises ConfigError, which is fine)
and raises anything else: that is a crash.  Each target also checks the
promises of its layer, so that a wrong answer is a crash too, not only an
exception.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, List, Optional, Sequence

ROOT = Path(__file__).resolve().parent.parent.parent
FIXTURES = ROOT / "tests" / "fixtures"


@dataclass(frozen=True)
class Target:
    run: Callable[[bytes], None]
    seeds: Callable[[], List[bytes]]
    words: Sequence[bytes]
    max_size: int = 1 << 20
    #: Inputs are cut to this size, but for a fixed share of large ones
    #: (the fuzzer's LARGE_EVERY) that run up to ``max_size``: the work of
    #: a byte-stream target grows with its input, and a short stream
    #: reaches as many states, so more inputs are tried in the same time.
    #: None: every input may reach ``max_size``.
    small_size: Optional[int] = None


#: The usual size of a byte-stream target's input.
SMALL_STREAM = 2048


class Broken(AssertionError):
    """A promise of the layer under test was not kept."""


def _files(*patterns: str) -> List[bytes]:
    out = []
    for pattern in patterns:
        for path in sorted(ROOT.glob(pattern)):
            if path.is_file():
                out.append(path.read_bytes())
    return out


# -- configuration readers ----------------------------------------------------


def prepare_sandbox(root: str) -> None:
    """Files an include or ``*{file}`` of a fuzzed configuration may name.

    The configuration under test is written to ``input.yaml`` or
    ``input.conf`` in the same folder, so relative names find these.
    """
    base = Path(root)
    os.mkfifo(base / "fifo")
    (base / "self.yaml").write_text("include: self.yaml\ninclude: self.yaml\n")
    (base / "ok.yaml").write_text("define: &inc included\n")
    (base / "text").write_text("some text\n")
    (base / "dir").mkdir()
    (base / "zero").symlink_to("/dev/zero")
    (base / "big.yaml").write_text("define: &big " + "x" * 300_000 + "\n")


YAML_WORDS = [
    b"*(",
    b"=(",
    b"*{",
    b"={",
    b")",
    b"}",
    b"&a ",
    b"*a",
    b"&b ",
    b"*b",
    b"**",
    b"==",
    b"include: ",
    b"define: &",
    b"connection: &",
    b"default:\n  name: ",
    b"accepter: ",
    b"connector: ",
    b"options:\n",
    b"telnet(rfc2217),tcp,",
    b"serialdev,/dev/ttyS0,",
    b"tcp,localhost,",
    b"udp,",
    b"ipv6,::1,",
    b"remaddr: ",
    b"connback: ",
    b"127..0.0.1",
    b"\n  ",
    b"\n    ",
    b"- ",
    b": ",
    b"fifo",
    b"self.yaml",
    b"zero",
    b"/dev/zero",
    b"dir",
    b"big.yaml",
    b"text",
    b"%YAML 1.1\n---\n",
    b"---\n",
    b"...\n",
    b"defines:\n",
    b"connections:\n",
    b"0x",
    b"0777",
    b"99999999999999999999",
    b"\xc3\xa9",
    b"\xff",
    b"xn--",
    b"." * 70,
    b"a" * 64 + b".",
    b"\t",
    b"'",
    b'"',
    b"\\",
    b"!!str ",
    b"<<: *a\n",
    b"led: &l\n  driver: sysfs\n  options:\n    device: x\n",
    b"rotator: &r\n",
    b"admin:\n  accepter: tcp,",
    b"$HOME",
    b"~/",
    b"*",
    b"?",
    b"[a-z]",
]

LEGACY_WORDS = [
    b":raw:",
    b":telnet:",
    b":rawlp:",
    b":off:",
    b"0:",
    b"600:",
    b"/dev/ttyS0:",
    b"9600 ",
    b"115200 ",
    b"8DATABITS ",
    b"NONE ",
    b"1STOPBIT ",
    b"XONXOFF ",
    b"RTSCTS ",
    b"LOCAL ",
    b"banner",
    b"BANNER:",
    b"OPENSTR:",
    b"CLOSESTR:",
    b"SIGNATURE:",
    b"TRACEFILE:",
    b"TIMESTAMP",
    b"CONTROLPORT:",
    b"LED:",
    b"ROTATOR:",
    b"DEVICE:",
    b"\\n",
    b"\\r",
    b"\\t",
    b"\\x",
    b"\\0",
    b"\\\\",
    b"\\d",
    b"\\p",
    b"\\s",
    b"\\B",
    b"127..0.0.1,",
    b"localhost,",
    b"ipv6,::1,",
    b"remaddr=",
    b"tr=",
    b"tw=",
    b"max-connections=",
    b"\n",
    b"#",
    b"\\\n",
    b"99999999999999999999",
    b"\xc3\xa9",
    b"\xff",
    b"." * 70,
    b"kickolduser",
    b"chardelay",
    b"-chardelay",
]


def _hosts(config: object) -> Iterable[str]:
    """Every host name in a configuration that the daemon will resolve."""
    from pyser2net.config.model import NetworkDevice

    def accepter_host(acc: object) -> Iterable[str]:
        host = getattr(acc, "host", None)
        if host:
            yield host

    for conn in getattr(config, "connections", ()):
        yield from accepter_host(conn.accepter)
        device = conn.connector.device
        if isinstance(device, NetworkDevice):
            yield device.host
        for entry in conn.options.remaddr or ():
            yield entry.host
        for back in conn.options.connback or ():
            if isinstance(back.device, NetworkDevice):
                yield back.device.host
    for rot in getattr(config, "rotators", ()):
        yield from accepter_host(rot.accepter)
    admin = getattr(config, "admin", None)
    if admin is not None:
        yield from accepter_host(admin.accepter)


#: What the readers' guard against their own defects says (see yaml.py, legacy.py).
_READER_DEFECT = "cannot read this "


def _check_config_file(data: bytes, name: str) -> None:
    from pyser2net.config import ConfigError, load_file
    from pyser2net.config.convert import to_yaml
    from pyser2net.config.summary import summarize

    Path(name).write_bytes(data)
    try:
        config = load_file(name)
    except ConfigError as exc:
        if not exc.issues:
            raise Broken("a ConfigError without any issue") from None
        for issue in exc.issues:
            text = str(issue)
            if "\n" in text or "Traceback" in text:
                raise Broken(f"an error that is not one line: {text!r}") from None
            if issue.position is None:
                raise Broken(f"an error without FILE:LINE:COL: {text!r}") from None
            if _READER_DEFECT in issue.message:
                # The readers' last guard: it keeps the user from a traceback,
                # but something nobody foresaw went wrong.
                raise Broken(f"a reader failed: {text!r}") from None
        return
    summarize(config)
    to_yaml(config)
    for host in _hosts(config):
        try:
            host.encode("idna")
        except UnicodeError as exc:
            raise Broken(f"host {host!r} accepted but cannot be resolved: {exc}") from None


def _run_yaml(data: bytes) -> None:
    _check_config_file(data, "input.yaml")


def _run_legacy(data: bytes) -> None:
    _check_config_file(data, "input.conf")


# -- telnet codec and RFC 2217 ------------------------------------------------


def _telnet_setup(data: bytes) -> tuple:
    """Codec options, a limit and chunk sizes from the first three bytes."""
    head = data[:3].ljust(3, b"\0")
    kwargs = {
        "rfc2217": bool(head[0] & 1),
        "brk_on_sync": bool(head[0] & 2),
        "modemstate": head[1],
        "com_port_runs": bool(head[0] & 64),
    }
    limit = None if head[0] & 4 else 1 + (head[0] >> 3) % 8
    cut = 1 + head[2] * 7
    return kwargs, limit, cut, data[3:]


def _telnet_outcome(
    payload: bytes,
    kwargs: dict,
    limit: Optional[int],
    cut: int,
    answer: Optional[Callable[[object, object], None]],
) -> tuple:
    from pyser2net.protocol.telnet import (
        MAX_ANSWER,
        MAX_SB_PAYLOAD,
        MAX_WARNINGS,
        Data,
        ProtocolWarning,
        TelnetServerCodec,
    )

    codec = TelnetServerCodec(**kwargs)
    events: List[object] = []
    out = bytearray()
    bound = None if limit is None else limit * MAX_ANSWER
    parts = [payload[i : i + cut] for i in range(0, len(payload), cut)] if cut else [payload]
    receive, take = codec.receive_data, codec.data_to_send
    for part in parts:
        new = receive(part, limit=limit)
        while True:
            sent = take()
            if answer is not None and new:
                # The answers to requests are kept apart, so that the
                # codec's own bytes can be compared with a run without them.
                for event in new:
                    answer(codec, event)
                replies = len(take())
            else:
                replies = 0
            if bound is not None and len(sent) + replies > bound:
                raise Broken(f"{len(sent) + replies} bytes sent for one call with limit {limit}")
            out += sent
            events += new
            if not codec.input_pending:
                break
            new = receive(limit=limit)
    if len(codec._sb_buf) > MAX_SB_PAYLOAD:
        raise Broken("subnegotiation buffer beyond its bound")
    if sum(type(e) is ProtocolWarning for e in events) > MAX_WARNINGS:
        raise Broken("more warnings than MAX_WARNINGS")
    return _merged(events, Data), bytes(out), codec.protocol_warnings


def _merged(events: List[object], data_type: Any) -> List[object]:
    """``events`` with each run of data events made one, and each run of
    settings requests as its requests (chunks may cut such runs elsewhere)."""
    from pyser2net.protocol.telnet import ComPortRequest, ComPortRun, run_requests

    merged: List[object] = []
    run: List[bytes] = []
    for event in events:
        if type(event) is ComPortRun:
            requests = [ComPortRequest(c, v) for c, v in run_requests(event.items)]
            if run:
                merged.append(data_type(b"".join(run)))
                run = []
            merged.extend(requests)
            continue
        if type(event) is data_type:
            run.append(event.data)  # type: ignore[attr-defined]
            continue
        if run:
            merged.append(data_type(b"".join(run)))
            run = []
        merged.append(event)
    if run:
        merged.append(data_type(b"".join(run)))
    return merged


def _run_telnet(data: bytes, answer: Optional[Callable[[object, object], None]] = None) -> None:
    """One call against the input in chunks with a limit; with ``answer``, the
    chunked run also answers every request, as the daemon does, and is
    compared with the one call leaving the answers out."""
    kwargs, limit, cut, payload = _telnet_setup(data)
    whole = _telnet_outcome(payload, kwargs, None, 0, None)
    pieces = _telnet_outcome(payload, kwargs, limit, cut, answer)
    if pieces != whole:
        raise Broken(f"chunks of {cut} bytes with limit {limit} parse differently from one call")


def _rfc2217_answer() -> Callable[[object, object], None]:
    """An engine answering requests on a line that only remembers settings."""
    from pyser2net.config.model import SerialSettings
    from pyser2net.protocol.comport import VirtualLines, apply_request
    from pyser2net.protocol.telnet import (
        ComPortRequest,
        ComPortRun,
        com_port_answer,
        run_requests,
    )

    line = VirtualLines(SerialSettings())

    def answer(codec: object, event: object) -> None:
        if isinstance(event, ComPortRequest):
            value = apply_request(line, event.command, event.value)
            if value is not None:
                codec.reply(event.command, value)  # type: ignore[attr-defined]
        elif isinstance(event, ComPortRun):  # as the daemon answers a run
            answers = []
            for command, asked in run_requests(event.items):
                value = apply_request(line, command, asked)
                if value is not None:
                    answers.append(com_port_answer(command, value))
            codec.reply_encoded(b"".join(answers))  # type: ignore[attr-defined]

    return answer


def _run_rfc2217(data: bytes) -> None:
    # Always rfc2217 with runs of settings requests, as in the daemon; the
    # answers come from apply_request.
    data = bytes([data[0] | 65]) + data[1:] if data else b"\x41"
    _run_telnet(data, _rfc2217_answer())


def _client_outcome(payload: bytes, rfc2217: bool, cut: int) -> tuple:
    """What the client filter makes of a server's bytes, fed in ``cut``-byte chunks."""
    from pyser2net.protocol.telnet import MAX_ANSWER, MAX_SB_PAYLOAD, MAX_WARNINGS, Data
    from pyser2net.protocol.telnet_client import ProtocolWarning, TelnetClient

    client = TelnetClient(rfc2217=rfc2217)
    out = bytearray(client.start())
    events: List[object] = []
    parts = [payload[i : i + cut] for i in range(0, len(payload), cut)] if cut else [payload]
    for part in parts:
        new = client.receive(part)
        sent = client.data_to_send()
        # Each command of at least 3 bytes gets at most one answer of at most
        # MAX_ANSWER bytes: answers never outgrow what the server sends.
        if len(sent) > len(part) + MAX_ANSWER:
            raise Broken(f"{len(sent)} bytes of answers to {len(part)} bytes")
        out += sent
        events.extend(new)
    if len(client._sb_buf) > MAX_SB_PAYLOAD:
        raise Broken("subnegotiation buffer beyond its bound")
    if sum(type(e) is ProtocolWarning for e in events) > MAX_WARNINGS:
        raise Broken("more warnings than MAX_WARNINGS")
    return _merged(events, Data), bytes(out), client.com_port


def _run_telnet_client(data: bytes) -> None:
    """The client side (pyser2net attach) against whatever a server sends."""
    head = data[:2].ljust(2, b"\0")
    rfc2217, cut, payload = bool(head[0] & 1), 1 + head[1] * 7, data[2:]
    whole = _client_outcome(payload, rfc2217, 0)
    if _client_outcome(payload, rfc2217, cut) != whole:
        raise Broken(f"chunks of {cut} bytes parse differently from one call")


TELNET_WORDS = [
    bytes((255,)),
    bytes((255, 255)),
    bytes((255, 240)),
    bytes((255, 250, 44)),
    bytes((255, 251, 44)),
    bytes((255, 252, 44)),
    bytes((255, 253, 1)),
    bytes((255, 254, 1)),
    bytes((255, 253, 0)),
    bytes((255, 251, 3)),
    bytes((255, 241)),
    bytes((255, 242)),
    bytes((255, 243)),
    bytes((255, 246)),
    bytes((255, 250, 44, 0, 255, 240)),
    bytes((255, 250, 44, 1, 0, 0, 0x25, 0x80, 255, 240)),
    bytes((255, 250, 44, 5, 8, 255, 240)),
    bytes((255, 250, 44, 12, 3, 255, 240)),
    bytes((255, 250, 44, 11, 255, 255, 255, 240)),
    bytes((254, 1)),
    b"\r\0",
    b"\r\n",
]


# -- admin session ------------------------------------------------------------


#: The most output one admin command line may produce with the backend
#: below (help is the longest: 1.8 KB).
ADMIN_ANSWER = 4096


class _Failures(logging.Handler):
    """Errors the session logs: a command it could not carry out is a crash here."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: List[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _run_admin(data: bytes) -> None:
    from pyser2net.protocol.admin import AdminSession

    failures = _Failures()
    logging.getLogger("pyser2net").addHandler(failures)
    logging.getLogger("pyser2net").propagate = False
    try:
        _admin_session(AdminSession, data)
    finally:
        logging.getLogger("pyser2net").removeHandler(failures)
    if failures.messages:
        raise Broken(f"the admin session logged an error: {failures.messages[0]}")


def _admin_session(session_class: Any, data: bytes) -> None:
    backend = _admin_backend()
    session = session_class(backend)
    cut = 1 + (data[0] if data else 0) * 3
    data = data[1:]  # the first byte only chooses the chunk size
    for i in range(0, len(data), cut):
        chunk = data[i : i + cut]
        session.feed(chunk)
        # Output follows input: the echo, and one answer per line end.
        out = len(session.take_output())
        bound = 4 * len(chunk) + ADMIN_ANSWER * (chunk.count(b"\r") + chunk.count(b"\n") + 1)
        if out > bound:
            raise Broken(f"{out} bytes of admin output for {chunk[:60]!r}...")
        if session.closed:
            break


def _admin_backend() -> object:
    from pyser2net.protocol.admin import AdminBackend
    from pyser2net.protocol.adminapi import ClientStatus, PortStatus, ReloadOutcome

    class Backend(AdminBackend):
        version = "ser2net 4.3.11"

        def __init__(self) -> None:
            self.ports = {
                "con1": PortStatus(
                    "con1",
                    "telnet,tcp,127.0.0.1,2000",
                    True,
                    600,
                    "serialdev,/dev/ttyS0,9600n81,local",
                    clients=[ClientStatus("127.0.0.1,40000", 5, 7)],
                    device_config="9600N81,CLOCAL",
                ),
                "2001": PortStatus("2001", "tcp,2001", False, 0, "echo"),
            }
            self.monitored: dict = {}

        def port_names(self) -> List[str]:
            return list(self.ports)

        def port_status(self, name: str) -> Optional[PortStatus]:
            return self.ports.get(name)

        def disconnect(self, name: str) -> Optional[str]:
            return None

        def set_timeout(self, name: str, seconds: int) -> Optional[str]:
            self.ports[name].timeout = seconds
            return None

        def set_control(self, name: str, controls: Sequence[str]) -> Optional[str]:
            return None

        def set_enable(self, name: str, enable: bool) -> Optional[str]:
            self.ports[name].enabled = enable
            return None

        def reload(self, done: Callable[[ReloadOutcome], None]) -> None:
            done(ReloadOutcome())

        def monitor(self, session: object, kind: str, name: str) -> Optional[str]:
            self.monitored[name] = session
            return None

        def unmonitor(self, session: object) -> None:
            self.monitored = {k: v for k, v in self.monitored.items() if v is not session}

    return Backend()


ADMIN_WORDS = [
    b"help",
    b"version",
    b"showport",
    b"showshortport",
    b"monitor ",
    b"tcp ",
    b"term ",
    b"stop",
    b"disconnect ",
    b"setporttimeout ",
    b"setportcontrol ",
    b"setportenable ",
    b"reload",
    b"yaml",
    b"exit",
    b"con1",
    b"2001",
    b"\r\n",
    b"\n",
    b"\r",
    b"\x08",
    b"\x7f",
    b"%YAML 1.1\n---\n",
    b"...\n",
    b"id: 5\n",
    b"\xff\xfb\x01",
    b"\xff\xff",
    b"DTRHI",
    b"999999999999999999999",
    b" ",
    b"on",
    b"off",
]


# -- link layers ----------------------------------------------------------------


class _NoTimer:
    def arm(self, delay: float) -> None:
        pass

    def cancel(self) -> None:
        pass


def _link_outcome(kind: int, payload: bytes, cut: int) -> tuple:
    """What a link end makes of bytes from the line, fed in ``cut``-byte
    chunks (0: at once): its events and what it sent back."""
    from pyser2net.protocol.msgdelim import MsgDelim
    from pyser2net.protocol.relpkt import RelPkt
    from pyser2net.protocol.serialtcp import SerialTcp

    end: Any
    if kind == 0:
        end = MsgDelim(readbuf=64)
    elif kind in (1, 2):
        end = RelPkt(MsgDelim(), _NoTimer(), server=kind == 1, max_packets=4)
    else:
        end = SerialTcp(_NoTimer(), server=kind == 3)
    sent = bytearray(end.start())
    events: List[object] = []
    chunks = [payload] if not cut else [payload[i : i + cut] for i in range(0, len(payload), cut)]
    for chunk in chunks:
        got = end.receive(chunk)
        for event in got:
            if type(event).__name__ == "Data" and kind == 0 and len(event.data) > 64:
                raise Broken(f"a message of {len(event.data)} bytes passed readbuf 64")
        events += got
        out = end.data_to_send()
        # Each message or control code in may be answered, relpkt with its
        # window sent again: never more than that.
        if len(out) > 8 * len(chunk) + 4 * 300:
            raise Broken(f"{len(out)} bytes sent back for {len(chunk)} bytes read")
        sent += out
    data = b"".join(e.data for e in events if type(e).__name__ == "Data")  # type: ignore[attr-defined]
    others = [e for e in events if type(e).__name__ != "Data"]
    return data, others, bytes(sent) if kind in (0, 3, 4) else len(sent) > 0


def _link_seeds() -> List[bytes]:
    """For each kind of end, a session's opening as the far end sends it."""
    relpkt = bytes.fromhex("fe01100010007b88c5fe01200000686977b8fe01")
    to_server = b"\x1fD\x1fD\x1f\xc1\x1f\xc2\x1f\xc3\x1fc\x1fs data\x1f\x1f\x1fD"
    to_client = b"\x1fD\x1fD\x1f\xe0\x1f\xe1\x1f\xe2\x1f\xe3\x1fC\x1fs data\x1fD"
    return [
        bytes((0, 4)) + relpkt,
        bytes((1, 7)) + relpkt,
        bytes((2, 2)) + relpkt,
        bytes((3, 5)) + to_server,
        bytes((4, 3)) + to_client,
    ]


def _run_link(data: bytes) -> None:
    """msgdelim, relpkt (server, client) and serialtcp (server, client) on any line bytes."""
    head = data[:2].ljust(2, b"\0")
    kind, cut, payload = head[0] % 5, 1 + head[1] * 3, data[2:]
    whole = _link_outcome(kind, payload, 0)
    if kind in (0, 3, 4) and _link_outcome(kind, payload, cut) != whole:
        raise Broken(f"chunks of {cut} bytes read differently from one call")


LINK_WORDS = [
    b"\xfe",
    b"\xfe\x00",
    b"\xfe\x01",
    b"\xfe\x02",
    bytes.fromhex("fe01100010007b88c5fe01"),  # a relpkt INIT, as ser2net sends it
    bytes.fromhex("fe01110010007b2294fe01"),  # its answer
    bytes.fromhex("fe014000001dadfe01"),  # CLOSE
    b"\x1f",
    b"\x1f\x1f",
    b"\x1fC",
    b"\x1fc",
    b"\x1fs",
    b"\x1fD",
    b"\x1fF",
    b"\x1f\xe0",
    b"\x1f\xc1",
    b"\x1f\xc2",
    b"\x1f\xc3",
    b"\x1f\xe1",
    b"\x1f\xe2",
    b"\x1f\xe3",
]


def _none() -> List[bytes]:
    return []


#: name -> target.  Seeds are the files in tests/fixtures/fuzz/NAME/ (each
#: once found a problem, or is a shape worth mutating), plus these.
TARGETS = {
    "yaml": Target(
        _run_yaml,
        lambda: _files(
            "tests/fixtures/yaml/*.yaml", "tests/fixtures/legacy/*.yaml", "examples/*.yaml"
        ),
        YAML_WORDS,
    ),
    "legacy": Target(_run_legacy, lambda: _files("tests/fixtures/legacy/*.conf"), LEGACY_WORDS),
    "telnet": Target(_run_telnet, _none, TELNET_WORDS, max_size=1 << 18, small_size=SMALL_STREAM),
    "rfc2217": Target(_run_rfc2217, _none, TELNET_WORDS, max_size=1 << 18, small_size=SMALL_STREAM),
    "admin": Target(_run_admin, _none, ADMIN_WORDS, max_size=1 << 16, small_size=SMALL_STREAM),
    "telnet_client": Target(
        _run_telnet_client, _none, TELNET_WORDS, max_size=1 << 18, small_size=SMALL_STREAM
    ),
    "link": Target(_run_link, _link_seeds, LINK_WORDS, max_size=1 << 16, small_size=SMALL_STREAM),
}


# -- the harness's own checks ---------------------------------------------------


def _run_faults(data: bytes) -> None:
    """Each way an input can fail, on demand: the fuzzer must report each."""
    import signal
    import time

    if data == b"crash":
        raise ValueError("a crash on purpose")
    if data == b"die":
        os.kill(os.getpid(), signal.SIGKILL)
    if data == b"hang":
        while True:  # the worker's own timer ends this one
            pass
    if data == b"hang-unseen":
        # The timer cannot fire: only the parent's backstop ends this one.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        time.sleep(60)


def _nothing(data: bytes) -> None:
    pass


#: Targets that test the fuzzer itself (tests/fuzz/test_fuzz.py), not fuzzed by default.
HARNESS_CHECKS = {
    "faults": Target(
        _run_faults,
        lambda: [b"ok", b"crash", b"ok", b"hang", b"ok", b"die", b"hang-unseen", b"ok"],
        [b"x"],
    ),
    "nothing": Target(_nothing, lambda: [b"abc"], [b"x"], max_size=4096, small_size=16),
}
