"""TCP over a serial cable, end to end: two daemons, a cable, an echo service.

The near daemon (A) serves ``accepter: tcp,...`` with a connector through
a link (``relpkt,msgdelim,serialdev,...`` or ``serialtcp,serialdev,...``)
on one end of a ``Cable``; the far daemon (B) serves ``accepter:
conacc,...`` on the other end with ``connector: tcp,127.0.0.1,<echo>``.
Either daemon may be pyser2net or ser2net.  A TCP client of A thus talks,
through the cable, to the echo service behind B.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Dict, Iterator, List, Optional

from helpers import daemon, free_port, read_for
from linkcable import Cable

PYSER2NET = [sys.executable, "-m", "pyser2net"]

#: What ser2net says to a second client of a port that takes one.
PORT_IN_USE = b"Port already in use\r\n"

#: A serial line at 115200 baud, 8N1: bytes a second each way.
LINE_RATE = 115200 / 10

#: The link each end runs, by name: (A's connector layers, B's layers under conacc).
LINKS: Dict[str, tuple] = {
    "relpkt": ("relpkt,msgdelim", "relpkt(mode=server),msgdelim"),
    # A window of 64 packets (both ends must offer it; the smaller wins).
    "relpkt64": ("relpkt(max_packets=64),msgdelim", "relpkt(mode=server,max_packets=64),msgdelim"),
    "serialtcp": ("serialtcp(server)", "serialtcp(client)"),
}


class EchoService:
    """A TCP echo server on 127.0.0.1 that can be stopped and counts what it saw."""

    def __init__(self, port: Optional[int] = None) -> None:
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", port or 0))
        self.listener.listen(8)
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self.closed_by_peer = 0
        self._open: List[socket.socket] = []
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            self._open.append(conn)
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    def _echo(self, conn: socket.socket) -> None:
        conn.settimeout(60)
        try:
            while True:
                data = conn.recv(65536)
                if not data:
                    self.closed_by_peer += 1
                    break
                conn.sendall(data)
        except OSError:
            pass
        finally:
            conn.close()

    def hang_up(self) -> None:
        """Close every connection it has (the far service ends them)."""
        for conn in self._open:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        """Stop listening (connects are refused from now on) and hang up."""
        self._stop = True
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
        except OSError:
            pass
        self.listener.close()
        self.hang_up()
        self._thread.join(timeout=5)


def near_config(port: int, layers: str, end: str, extra: str = "") -> str:
    return (
        f"connection: &near\n  accepter: tcp,127.0.0.1,{port}\n"
        f"  connector: {layers},serialdev,{end},115200n81,local\n{extra}"
    )


def far_config(admin: int, layers: str, end: str, service: int) -> str:
    return (
        f"connection: &far\n  accepter: conacc,{layers},serialdev,{end},115200n81,local\n"
        f"  connector: tcp,127.0.0.1,{service}\n"
        f"admin:\n  accepter: tcp,127.0.0.1,{admin}\n"
    )


class Tunnel:
    """Both daemons and what joins them; ``port`` is where TCP clients go."""

    def __init__(
        self,
        tmp_path: Path,
        cable: Cable,
        service: EchoService,
        link: str,
        near: List[str],
        far: List[str],
        near_extra: str = "",
    ) -> None:
        self.tmp_path = tmp_path
        self.cable = cable
        self.service = service
        self.port = free_port()
        self.admin = free_port()
        near_layers, far_layers = LINKS[link]
        self.near_text = near_config(self.port, near_layers, cable.a, near_extra)
        self.far_text = far_config(self.admin, far_layers, cable.b, service.port)
        self.near_command = near
        self.far_command = far
        self._stack = contextlib.ExitStack()
        self.near_proc = self.far_proc = None

    def start_near(self, extra_ports: List[int] = ()) -> None:  # type: ignore[assignment]
        self.near_proc = self._stack.enter_context(
            daemon(
                self.near_text, self.tmp_path, [self.port, *extra_ports], command=self.near_command
            )
        )

    def start_far(self) -> None:
        self.far_proc = self._stack.enter_context(
            daemon(self.far_text, self.tmp_path, [self.admin], command=self.far_command)
        )

    def close(self) -> None:
        self._stack.close()

    def restart_far_mid_stream(self) -> None:
        """A client's session is echoing; the far daemon is killed and
        started again; the client keeps talking into the new far end (which
        ends the stale session) and must see its connection close."""
        sock = echoing_client(self.port)
        kill(self.far_proc)
        self.start_far()
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            try:
                sock.sendall(b"y" * 100)
            except OSError:
                break
            time.sleep(0.1)
        until_closed(sock, 15)  # relpkt gives up after six silent seconds at most
        sock.close()

    def restart_near_mid_stream(self) -> None:
        """A client's session is echoing; the near daemon is killed (the
        kernel closes the client's connection) and started again."""
        sock = echoing_client(self.port)
        kill(self.near_proc)
        until_closed(sock, 5)
        sock.close()
        self.start_near()


def echoing_client(port: int) -> socket.socket:
    """A client whose first bytes came back through the tunnel."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(b"x" * 1000)
    assert len(sock.recv(1000)) > 0
    return sock


def kill(proc: object) -> None:
    os.kill(proc.pid, signal.SIGKILL)  # type: ignore[attr-defined]
    proc.wait(5)  # type: ignore[attr-defined]


@contextlib.contextmanager
def tunnel(
    tmp_path: Path,
    link: str = "relpkt",
    near: List[str] = PYSER2NET,
    far: List[str] = PYSER2NET,
    errors_per_byte: float = 0.0,
    near_extra: str = "",
    extra_ports: List[int] = (),
    rate: Optional[float] = None,
) -> Iterator[Tunnel]:  # type: ignore[assignment]
    """Both daemons, the cable (paced to ``rate`` bytes a second each way,
    if given) and the echo service, for the ``with`` block."""
    cable = Cable(rate=rate, errors_per_byte=errors_per_byte, seed=3)
    service = EchoService()
    t = Tunnel(tmp_path, cable, service, link, near, far, near_extra)
    try:
        t.start_far()
        t.start_near(list(extra_ports))
        yield t
    finally:
        t.close()
        service.close()
        cable.close()


def round_trip(port: int, data: bytes, timeout: float = 60.0, stall: float = 0.0) -> bytes:
    """Send ``data`` through the tunnel and read as much back (the service
    echoes), writing and reading at once; what came back, maybe less.

    Gives up after ``timeout``, or once nothing came back for ``stall``
    seconds if that is set."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    got = bytearray()
    deadline = time.monotonic() + timeout

    def reader() -> None:
        last = time.monotonic()
        while len(got) < len(data) and time.monotonic() < deadline:
            if stall and time.monotonic() - last > stall:
                break
            sock.settimeout(max(0.05, min(deadline - time.monotonic(), 0.5)))
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                break
            if not chunk:
                break
            got.extend(chunk)
            last = time.monotonic()
        try:
            sock.shutdown(socket.SHUT_RDWR)  # a writer still blocked gives up too
        except OSError:
            pass

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        sock.settimeout(timeout)
        sock.sendall(data)
    except OSError:
        pass
    thread.join(timeout + 5)
    sock.close()
    return bytes(got)


def until_closed(sock: socket.socket, timeout: float) -> bytes:
    """Everything the daemon sends until it closes; fails after ``timeout``."""
    out = bytearray()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        except OSError:
            return bytes(out)
        if not chunk:
            return bytes(out)
        out += chunk
    raise AssertionError(f"not closed within {timeout}s; got {bytes(out)[:80]!r}")


def random_bytes(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


def second_client_refusal(port: int) -> bytes:
    """What a second client of a busy tunnel gets before it is closed.

    A first client echoes through the tunnel; a second one connects and
    reads until the near end closes it; the first must still echo."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as first:
        first.sendall(b"one")
        assert read_for(first, 10, until=b"one") == b"one"
        with socket.create_connection(("127.0.0.1", port), timeout=10) as second:
            refusal = until_closed(second, 10)
        first.sendall(b"still")
        assert read_for(first, 10, until=b"still") == b"still"
    return refusal
