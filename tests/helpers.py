"""Shared test helpers: pty devices, free loopback ports, and the daemon process.

Every wait here has a deadline and every process is ended by its pid, so a
broken daemon fails a test instead of hanging the suite.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import subprocess
import sys
import time
import tty
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"


#: The connections the admin-port tests look at: an echo and a pty.
ADMIN_CONFIG = """%YAML 1.1
---
connection: &echo1
  accepter: tcp,127.0.0.1,{echo}
  connector: echo
connection: &tty1
  accepter: tcp,127.0.0.1,{tty}
  connector: serialdev,{dev},115200n81,local
"""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Pty:
    """A pty pair: the test holds the master, the daemon opens ``path``."""

    master: int
    slave: int
    path: str

    def read(self, size: int, timeout: float = 5.0) -> bytes:
        """Read exactly ``size`` bytes from the master, or fail at the deadline."""
        return read_exact(self.master, size, timeout)

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    def close(self) -> None:
        os.close(self.master)
        os.close(self.slave)


def new_pty() -> Pty:
    """A pty pair with the master side raw, so bytes pass unchanged."""
    master, slave = os.openpty()
    tty.setraw(master)
    return Pty(master, slave, os.ttyname(slave))


@contextlib.contextmanager
def open_pty() -> Iterator[Pty]:
    pty = new_pty()
    try:
        yield pty
    finally:
        pty.close()


def read_exact(fd: int, size: int, timeout: float = 5.0) -> bytes:
    deadline = time.monotonic() + timeout
    out = bytearray()
    while len(out) < size:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                chunk = os.read(fd, size - len(out))
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    return bytes(out)


def read_line(fd: int, timeout: float = 10.0) -> bytes:
    """One line from a pipe, byte by byte so nothing after it is consumed."""
    deadline = time.monotonic() + timeout
    out = bytearray()
    while not out.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            break
        chunk = os.read(fd, 1)
        if not chunk:
            break
        out += chunk
    return bytes(out)


def tcp_options(sock: socket.socket) -> tuple:
    """A client socket's TCP options as the daemon sets them: keepalive on,
    Nagle off, keepalive idle, interval and count, user timeout (ms)."""
    tcp = socket.IPPROTO_TCP
    return (
        sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
        sock.getsockopt(tcp, socket.TCP_NODELAY),
        sock.getsockopt(tcp, socket.TCP_KEEPIDLE),
        sock.getsockopt(tcp, socket.TCP_KEEPINTVL),
        sock.getsockopt(tcp, socket.TCP_KEEPCNT),
        sock.getsockopt(tcp, socket.TCP_USER_TIMEOUT),
    )


#: The TCP keepalive timers are Linux options.
keepalive_timers = hasattr(socket, "TCP_KEEPIDLE")


def listening(port: int) -> bool:
    """Whether a TCP socket listens, or a UDP socket is bound, on ``port``.

    Read from /proc, which has no side effects.

    Probing by connecting would make the daemon open the device and run
    openstr/closestr, which tests of those features must not see.
    """
    return any(
        p == port and state == ("0A" if table.startswith("tcp") else "07")
        for table, p, state, _ in _proc_net_sockets("tcp", "tcp6", "udp", "udp6")
    )


def _proc_net_sockets(*tables: str) -> Iterator[Tuple[str, int, str, str]]:
    """Each socket of the /proc/net ``tables`` (``tcp``, ``udp6``...): its
    table, local port, state (``0A``: TCP listening, ``07``: UDP bound) and
    inode."""
    for table in tables:
        try:
            with open(f"/proc/net/{table}") as f:
                next(f)
                rows = [line.split() for line in f]
        except OSError:
            continue
        for fields in rows:
            yield table, int(fields[1].rsplit(":", 1)[1], 16), fields[3], fields[9]


def wait_for_port(
    port: int, timeout: float = 10.0, proc: Optional[subprocess.Popen] = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"daemon exited with {proc.returncode}")
        if listening(port):
            return
        time.sleep(0.02)
    raise TimeoutError(f"nothing listens on port {port} after {timeout}s")


def ports_listened_by(pid: int) -> List[int]:
    """The TCP ports that process ``pid`` listens on, read from /proc.

    A port a test picks with ``free_port()`` is only free when picked: a
    program started elsewhere on the machine may listen there before the
    daemon does (any ``accepter: tcp,...,0`` takes a port from the same
    pool), and then ``listening()`` answers for it.  A daemon told to listen
    on port 0 gets a port nobody else has; this says which.
    """
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue  # closed meanwhile
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
    except OSError:
        return []  # gone
    return sorted(
        port
        for _, port, state, inode in _proc_net_sockets("tcp", "tcp6")
        if state == "0A" and inode in inodes
    )


def wait_for_own_port(proc: subprocess.Popen, timeout: float = 30.0) -> int:
    """Wait until ``proc`` (a daemon with one TCP accepter on port 0)
    listens, and return the port the kernel gave it.  (Python alone can
    take more than 10 s to start on a machine with a load of 8.)"""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"daemon exited with {proc.returncode}")
        ports = ports_listened_by(proc.pid)
        if ports:
            assert len(ports) == 1, ports
            return ports[0]
        time.sleep(0.02)
    raise TimeoutError(f"process {proc.pid} listens on no port after {timeout}s")


def stop_process(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 5.0) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=timeout)


def round_trip_through(
    argv: Sequence[str], pty: Pty, to_device: bytes, to_client: bytes, timeout: float = 5.0
) -> None:
    """Run a client program that relays its stdin and stdout (gensiot,
    socat, openssl s_client): what it is given must reach the device, and
    what the device says must come out, byte for byte.  The program is
    stopped by its pid, whatever happens."""
    proc = subprocess.Popen(
        list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    try:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(to_device)
        proc.stdin.flush()
        assert pty.read(len(to_device), timeout) == to_device
        pty.write(to_client)
        assert read_exact(proc.stdout.fileno(), len(to_client), timeout) == to_client
    finally:
        stop_process(proc)


@contextlib.contextmanager
def daemon(
    config: str,
    tmp_path: Path,
    ports: List[int],
    suffix: str = ".yaml",
    command: Optional[List[str]] = None,
    extra_args: Optional[List[str]] = None,
    env: Optional[Dict[str, str]] = None,
    preexec_fn: Optional[Callable[[], None]] = None,
    start_timeout: float = 10.0,
) -> Iterator[subprocess.Popen]:
    """Run pyser2net (or ``command``, e.g. the real ser2net) on ``config``.

    The config is written to a file; the context yields once every port in
    ``ports`` listens.  ``env`` adds to the environment; ``preexec_fn`` runs
    in the child before it starts (to set its resource limits, say); the
    process's output file is ``proc.log_path``.  Each port must listen
    within ``start_timeout`` seconds.
    """
    path = tmp_path / f"config{len(list(tmp_path.iterdir()))}{suffix}"
    path.write_text(config)
    argv = (command or [sys.executable, "-m", "pyser2net"]) + ["-n", "-d", "-c", str(path)]
    argv += extra_args or []
    log_path = tmp_path / f"daemon-{len(list(tmp_path.iterdir()))}.log"
    log = open(log_path, "wb")
    # UUCP lock files go to the test's own directory, not the machine's.
    lockdir = tmp_path / "lock"
    lockdir.mkdir(exist_ok=True)
    full_env = dict(os.environ, PYSER2NET_LOCKDIR=str(lockdir))
    full_env.update(env or {})
    proc = subprocess.Popen(
        argv,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=str(ROOT),
        env=full_env,
        preexec_fn=preexec_fn,
    )
    proc.log_path = log_path  # type: ignore[attr-defined]
    try:
        try:
            for port in ports:
                wait_for_port(port, start_timeout, proc=proc)
        except (RuntimeError, TimeoutError) as exc:
            output = log_path.read_text(errors="replace")
            raise RuntimeError(f"{exc}; its output: {output}") from None
        time.sleep(0.1)
        yield proc
    finally:
        stop_process(proc)
        log.close()


def connect(port: int, timeout: float = 5.0) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return sock


def _receive(sock: socket.socket, limit: int, timeout: float) -> bytes:
    """Read until ``limit`` bytes, the peer closes, or the deadline."""
    deadline = time.monotonic() + timeout
    out = bytearray()
    while len(out) < limit:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        sock.settimeout(left)
        try:
            chunk = sock.recv(min(65536, limit - len(out)))
        except (socket.timeout, OSError):
            break
        if not chunk:
            break
        out += chunk
    return bytes(out)


def recv_exact(sock: socket.socket, size: int, timeout: float = 5.0) -> bytes:
    """``size`` bytes, or fewer if the peer closes or the deadline passes."""
    return _receive(sock, size, timeout)


def recv_until_closed(sock: socket.socket, timeout: float = 5.0, limit: int = 1 << 20) -> bytes:
    """Everything the peer sends until it closes (or the deadline)."""
    return _receive(sock, limit, timeout)


def read_for(sock: socket.socket, seconds: float = 0.5, until: bytes = b"") -> bytes:
    """What arrives within ``seconds`` (returns early once ``until`` is seen)."""
    out = bytearray()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ready, _, _ = select.select([sock], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        chunk = sock.recv(65536)
        if not chunk:
            break
        out += chunk
        if until and out.endswith(until):
            break
    return bytes(out)


def attach_control_status(ctl: Path) -> str:
    """The answer of `pyser2net attach`'s control socket to ``status``."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(5)
        s.connect(str(ctl))
        s.sendall(b"status\n")
        answer = b""
        while not answer.endswith(b"ok\n"):
            chunk = s.recv(4096)
            if not chunk:
                break
            answer += chunk
        return answer.decode(errors="replace")


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll ``predicate`` every 50 ms until it holds or the deadline passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()
