"""Every legacy fixture: the real ser2net 4.3 and pyser2net agree on it.

Agreement means: ser2net logs a problem on exactly the lines where
pyser2net reports one (a fixture's ``# ser2net-errors:`` header lists the
lines where ser2net knowingly differs, with the reason); it serves the
connections pyser2net's model has; and on loopback, what a client and the
device see (banner bytes, termios settings of the pty) is what the model
says.  The YAML that ``to_yaml`` writes for a good fixture must be taken by
ser2net without a complaint and give the same banners and settings.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import socket
import subprocess
import termios
import time
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Set, Tuple

import pytest

from pyser2net.config import ConfigError, LoadResult, load_file
from pyser2net.config.convert import to_yaml
from pyser2net.config.legacy import parse_legacy, read_legacy
from pyser2net.config.model import Config, SerialDevice
from pyser2net.protocol.templates import context_for, render

from helpers import free_port, listening, new_pty, stop_process, wait_until
from ser2net_helpers import SER2NET

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "legacy"
#: Fixtures ser2net cannot be run on here carry a "# compat: skip (why)"
#: line (LEDs: ser2net opens them in the real /sys while reading the file);
#: they are covered by the unit tests only and not collected here.
NAMES = sorted(
    p.name
    for p in FIXTURES.glob("*.conf")
    if not re.search(r"^# compat: skip", p.read_text(), re.M)
)

pytestmark = pytest.mark.skipif(SER2NET is None, reason="ser2net is not installed")

_SPEEDS = {
    getattr(termios, f"B{s}"): s for s in (300, 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)
}
_LINE_RE = re.compile(r"on (?:line )?(\d+)")


def header_lines(text: str, key: str) -> Set[int]:
    match = re.search(rf"^# {key}: ([0-9 ]*)", text, re.M)
    return {int(n) for n in match.group(1).split()} if match else set()


@contextlib.contextmanager
def ptys(count: int) -> Iterator[List[Tuple[int, int, str]]]:
    pairs = []
    try:
        for _ in range(count):
            pty = new_pty()
            pairs.append((pty.master, pty.slave, pty.path))
        yield pairs
    finally:
        for master, slave, _ in pairs:
            os.close(master)
            os.close(slave)


def materialize(text: str, pairs: List[Tuple[int, int, str]], ports: List[int]) -> str:
    text = re.sub(r"@PORT(\d)@", lambda m: str(ports[int(m.group(1))]), text)
    return re.sub(r"@PTY(\d)@", lambda m: pairs[int(m.group(1))][2], text)


def _wait_listening(port: int, deadline: float) -> bool:
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        time.sleep(0.05)
    return False


@contextlib.contextmanager
def real_ser2net(path: Path, admin: int, own_admin: bool) -> Iterator[Path]:
    """Run ser2net on ``path`` until the admin port answers; yield its log."""
    assert SER2NET is not None
    argv = [SER2NET, "-n", "-d", "-c", str(path)]
    if not own_admin:
        argv += ["-p", f"127.0.0.1,{admin}"]
    log_path = path.with_suffix(".log")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        try:
            assert _wait_listening(admin, time.monotonic() + 5.0), "ser2net did not start"
            time.sleep(0.2)
            yield log_path
        finally:
            stop_process(proc, timeout=3.0)


def read_for(sock: socket.socket, want: int, timeout: float = 1.0) -> bytes:
    out = b""
    deadline = time.monotonic() + timeout
    while len(out) < want and time.monotonic() < deadline:
        ready, _, _ = select.select([sock], [], [], deadline - time.monotonic())
        if not ready:
            break
        chunk = sock.recv(4096)
        if not chunk:
            break
        out += chunk
    return out


def observe(config: Config, pairs: List[Tuple[int, int, str]], skip_lines: Set[int]) -> None:
    """Banner bytes and pty settings of every plain raw connection."""
    by_path = {path: slave for _, slave, path in pairs}
    for conn in config.connections:
        line = conn.position.line if conn.position else 0
        device = conn.connector.device
        if (
            not conn.enable
            or conn.accepter.telnet
            or line in skip_lines
            or not isinstance(device, SerialDevice)
            or conn.accepter.transport != "tcp"
            or device.serial.rs485 is not None
        ):  # a pty refuses the RS-485 ioctl
            continue
        expected = b""
        if conn.options.banner:
            expected = render(conn.options.banner, context_for(conn))
        with socket.create_connection(("127.0.0.1", conn.accepter.port), timeout=2) as sock:
            got = read_for(sock, len(expected) or 1, timeout=5.0 if expected else 0.3)
            if expected:
                assert got == expected, conn.name
            if not device.wronly:
                s = device.serial
                # The line is set as the device opens, which a loaded machine may delay.
                slave = by_path[device.path]
                wait_until(lambda fd=slave, want=s.speed: _speed(fd) == want, timeout=5.0)
                attrs = termios.tcgetattr(slave)
                cflag, iflag = attrs[2], attrs[0]
                assert _SPEEDS.get(attrs[5]) == s.speed, conn.name
                # A Linux pty forces CS8 and clears PARENB whatever is asked,
                # so data bits and parity are only visible in the banners (\B).
                assert bool(cflag & termios.CSTOPB) == (s.stopbits == 2), conn.name
                assert bool(cflag & termios.CRTSCTS) == s.rtscts, conn.name
                assert bool(cflag & termios.CLOCAL) == s.local, conn.name
                assert bool(iflag & termios.IXON) == s.xonxoff, conn.name


def _speed(fd: int) -> Optional[int]:
    return _SPEEDS.get(termios.tcgetattr(fd)[5])


def error_lines(log: Path) -> Set[int]:
    """Lines ser2net's messages name (a message may run over two log lines)."""
    messages: List[str] = []
    for text in log.read_text(errors="replace").splitlines():
        if text.startswith("ser2net["):
            messages.append(text)
        elif messages:
            messages[-1] += " " + text
    lines: Set[int] = set()
    for text in messages:
        match = _LINE_RE.search(text)
        if match:
            lines.add(int(match.group(1)))
    return lines


def same_ports_served(result: LoadResult, ports: List[int], differing: Set[int]) -> None:
    """The ports ser2net listens on are those pyser2net would serve, except on the
    lines known to differ (ser2net's showport also lists ports it failed to set up,
    so what listens is compared)."""
    line_of: Dict[int, int] = {}
    ours: Set[int] = set()
    for conn in result.config.connections:
        if conn.position is not None:
            line_of[conn.accepter.port] = conn.position.line
        if conn.enable:
            ours.add(conn.accepter.port)
    for rotator in result.config.rotators:
        ours.add(rotator.accepter.port)
        if rotator.position is not None:
            line_of[rotator.accepter.port] = rotator.position.line
    for left_out in result.rejected:
        number = re.search(r"(\d+)$", left_out.name or "")
        if number and left_out.position is not None:
            line_of.setdefault(int(number.group(1)), left_out.position.line)
    # ser2net sets its ports up one by one after the admin port: on a loaded
    # machine, give those pyser2net serves a moment before calling them missing.
    both = {p for p in ours & set(ports) if line_of.get(p) not in differing}
    wait_until(lambda: all(listening(p) for p in both), timeout=5.0)
    theirs = {p for p in ports if listening(p)}
    for port in ours ^ theirs:
        who = "pyser2net" if port in ours else "ser2net"
        assert line_of.get(port) in differing, f"only {who} serves port {port}"


@pytest.mark.parametrize("name", NAMES)
def test_legacy_fixture(name: str, tmp_path: Path) -> None:
    raw = (FIXTURES / name).read_text()
    ports = [free_port() for _ in range(6)]
    with ptys(4) as pairs:
        text = materialize(raw, pairs, ports)
        path = tmp_path / "ser2net.conf"
        path.write_text(text)
        try:
            config = parse_legacy(text, name)
            ours: Set[int] = set()
        except ConfigError as exc:
            config = None
            ours = {i.position.line for i in exc.issues if i.position}
        own_admin = "CONTROLPORT:" in text
        admin = ports[5]
        with real_ser2net(path, admin, own_admin) as log:
            theirs = error_lines(log)
            expected = (
                header_lines(raw, "ser2net-errors")
                if "# ser2net-errors:" in raw
                else header_lines(raw, "errors")
            )
            assert theirs == expected, log.read_text()
            assert ours == header_lines(raw, "errors")
            try:
                reading = read_legacy(text, name)
            except ConfigError:  # not read at all: nothing is served
                reading = LoadResult(Config())
            same_ports_served(reading, ports[:5], header_lines(raw, "errors") ^ expected)
            if config is not None:
                observe(config, pairs, theirs)
        if config is None:
            return
        converted = tmp_path / "converted.yaml"
        converted.write_text(to_yaml(config))
        # In YAML, \d and \p print the gensio strings, so banners come
        # from the model of the converted file.
        config = load_file(str(converted))
        with real_ser2net(converted, admin, config.admin is not None) as log:
            complaints = [
                t
                for t in log.read_text(errors="replace").splitlines()
                if t.strip() and "mdns" not in t
            ]
            assert complaints == [], complaints
            observe(config, pairs, set())


def test_ports_are_named_as_written(tmp_path: Path) -> None:
    """showport names a legacy connection by its port spec, as the model does."""
    ports = [free_port() for _ in range(2)]
    with ptys(1) as pairs:
        text = f"ipv4,127.0.0.1,{ports[0]}:raw:0:{pairs[0][2]}:9600 LOCAL\n"
        path = tmp_path / "ser2net.conf"
        path.write_text(text)
        conn = parse_legacy(text, "t.conf").connections[0]
        with real_ser2net(path, ports[1], False):
            with socket.create_connection(("127.0.0.1", ports[1]), timeout=2) as sock:
                read_for(sock, 2, 0.5)
                sock.sendall(b"showport\r\n")
                reply = read_for(sock, 1 << 16, 1.0).decode(errors="replace")
    shown: Dict[str, str] = dict(re.findall(r"^\s*(port|accepter|device): (.*?)\r?$", reply, re.M))
    assert shown["port"] == conn.name
    assert shown["accepter"] == conn.accepter.text
    assert shown["device"] == conn.connector.text
