"""Every version 1 YAML fixture: ser2net 4.3 and pyser2net agree on it.

Agreement means: both accept it or both reject it; when accepted, they
create the same connections; and for loopback connections, what a client
and a device see from the real ser2net (banner bytes, termios settings of
the pty) is what pyser2net's model of the file says.  Fixtures prefixed
``v2-`` (ser2net >= 4.5 only) and ``ext-`` (pyser2net extensions, newer
options, sysfs LEDs, layers we do not serve) are skipped by design.
"""

from __future__ import annotations

import re
import socket
import tempfile
import termios
import time
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import pytest

from pyser2net.config import ConfigError, load_file
from pyser2net.config.model import Config, SerialDevice

from helpers import free_port, open_pty
from ser2net_helpers import SER2NET, check_config

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "yaml"
NAMES = sorted(p.name for p in FIXTURES.glob("*.yaml"))
COMPARED = [n for n in NAMES if not n.startswith(("v2-", "ext-"))]

pytestmark = pytest.mark.skipif(SER2NET is None, reason="ser2net is not installed")

_SPEEDS = {
    getattr(termios, f"B{s}"): s for s in (300, 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)
}


@pytest.fixture
def pty_path() -> Iterator[Tuple[int, str]]:
    with open_pty() as pty:
        yield pty.master, pty.path


def materialize(dest: Path, pty: str) -> Dict[str, int]:
    ports = {f"@PORT{i}@": free_port() for i in range(6)}
    for src in FIXTURES.rglob("*"):
        if src.is_file():
            out = dest / src.relative_to(FIXTURES)
            out.parent.mkdir(parents=True, exist_ok=True)
            text = src.read_text().replace("@PTY@", pty).replace("@DIR@", str(dest))
            for key, port in ports.items():
                text = text.replace(key, str(port))
            out.write_text(text)
    return ports


def ours(path: Path) -> Tuple[bool, Config]:
    try:
        return True, load_file(str(path))
    except ConfigError:
        return False, Config()


def read_banner(port: int, size: int, timeout: float = 3.0) -> bytes:
    data = b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        deadline = time.monotonic() + timeout
        sock.settimeout(0.2)
        while len(data) < size and time.monotonic() < deadline:
            try:
                chunk = sock.recv(size - len(data))
            except socket.timeout:
                continue
            if not chunk:
                break
            data += chunk
    return data


def simple_banner(text: str) -> bytes:
    """The bytes of a banner that uses only \\r and \\n escapes."""
    return text.replace("\\r", "\r").replace("\\n", "\n").encode()


@pytest.mark.parametrize("name", COMPARED)
def test_ser2net_agrees(name: str, tmp_path: Path, pty_path: Tuple[int, str]) -> None:
    materialize(tmp_path, pty_path[1])
    path = tmp_path / name
    accepted, config = ours(path)
    admin = config.admin.accepter.port if config.admin is not None else None
    theirs = check_config(path, admin_port=admin)
    assert (not theirs.errors) == accepted, (
        f"pyser2net {'accepts' if accepted else 'rejects'} {name}; ser2net logged {theirs.errors}"
    )
    if accepted:
        assert sorted(theirs.ports) == sorted(c.name for c in config.connections)


def observable_checks(config: Config, pty: str) -> List[Tuple[str, int, object]]:
    """What of a configuration can be observed from outside: banners, pty settings."""
    checks: List[Tuple[str, int, object]] = []
    for conn in config.connections:
        acc = conn.accepter
        if not conn.enable or acc.transport != "tcp" or acc.host != "127.0.0.1" or acc.telnet:
            continue
        banner = conn.options.banner
        if banner is not None and re.fullmatch(r"(?:[^\\]|\\[rn])*", banner):
            checks.append(("banner", acc.port, simple_banner(banner)))
        device = conn.connector.device
        if isinstance(device, SerialDevice) and device.path == pty and not device.wronly:
            checks.append(("serial", acc.port, device.serial))
    return checks


def _observable_fixtures() -> List[str]:
    """The accepted fixtures that have something observable to compare."""
    fake_pty = "/dev/pts/observable-check"
    names = []
    with tempfile.TemporaryDirectory() as tmp:
        materialize(Path(tmp), fake_pty)
        for name in COMPARED:
            if not name.startswith("good-"):
                continue
            accepted, config = ours(Path(tmp) / name)
            if accepted and observable_checks(config, fake_pty):
                names.append(name)
    return names


@pytest.mark.parametrize("name", _observable_fixtures())
def test_behaviour_matches_the_model(name: str, tmp_path: Path, pty_path: Tuple[int, str]) -> None:
    """Banner bytes and pty settings from the real ser2net equal our model."""
    master, pty = pty_path
    materialize(tmp_path, pty)
    path = tmp_path / name
    config = load_file(str(path))
    checks = observable_checks(config, pty)
    import subprocess

    proc = subprocess.Popen(
        [str(SER2NET), "-n", "-d", "-c", str(path), "-P", str(tmp_path / "behaviour.pid")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 5
        for kind, port, want in checks:
            while time.monotonic() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    break
                except OSError:
                    time.sleep(0.05)
            time.sleep(0.2)  # let ser2net finish the previous client
            if kind == "banner":
                assert read_banner(port, len(want)) == want  # type: ignore[arg-type]
            else:
                with socket.create_connection(("127.0.0.1", port), timeout=3):
                    time.sleep(0.3)
                    attrs = termios.tcgetattr(master)
                serial = want
                assert _SPEEDS.get(attrs[4]) == serial.speed  # type: ignore[attr-defined]
                # A Linux pty forces CS8 and clears PARENB whatever is asked,
                # so data bits and parity cannot be observed here.
                assert bool(attrs[2] & termios.CSTOPB) == (serial.stopbits == 2)  # type: ignore
                assert bool(attrs[2] & termios.CRTSCTS) == serial.rtscts  # type: ignore
                assert bool(attrs[2] & termios.CLOCAL) == serial.local  # type: ignore
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=3)
