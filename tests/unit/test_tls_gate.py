"""The handshake before a TLS client exists: real sockets, a fake clock.

Clients are Python's ssl module in a thread (a real TLS stack, blocking as
a user's program is), and raw sockets for the misbehaving ones.  The loop
runs on a fake clock, so the 60-second deadline is reached by moving the
clock, not by waiting.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
from pathlib import Path
from typing import List, Optional, Tuple

import pytest
from fakeloop import FakeLoop

from pyser2net.config.model import SslSettings
from pyser2net.protocol.events import Data
from pyser2net.protocol.tls import TlsFilter
from pyser2net.runtime.tlsaccept import HANDSHAKE_TIMEOUT, TlsGate
from pyser2net.runtime.tlsconfig import server_tls

from tlsfiles import TlsFiles


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return TlsFiles(tmp_path_factory.mktemp("tls"))


class Setup:
    def __init__(self, files: TlsFiles, **settings: object) -> None:
        self.loop = FakeLoop()
        self.tls = server_tls(
            SslSettings(key=str(files.server.key), cert=str(files.server.cert), **settings)
        )  # type: ignore[arg-type]
        self.ready: List[Tuple[socket.socket, tuple, TlsFilter]] = []
        self.gate = TlsGate(
            self.loop.reactor,
            self.tls.new_filter,
            lambda s, a, t: self.ready.append((s, a, t)),
            label="tls1",
        )
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.port = self.listener.getsockname()[1]

    def accept(self) -> socket.socket:
        self.listener.settimeout(5)
        sock, addr = self.listener.accept()
        sock.setblocking(False)
        self.gate(sock, addr)
        return sock

    def close(self) -> None:
        self.gate.close()
        for sock, _, _ in self.ready:
            sock.close()
        self.listener.close()
        self.loop.close()


@pytest.fixture
def setup(files: TlsFiles):
    s = Setup(files)
    yield s
    s.close()


def python_client(
    files: TlsFiles, port: int, send: bytes = b"", result: Optional[list] = None
) -> threading.Thread:
    """A blocking Python ssl client that connects, optionally sends right
    after its handshake, and records what happened."""

    def run() -> None:
        context = ssl.create_default_context(cafile=str(files.ca_pem))
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
                with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                    if send:
                        tls.sendall(send)
                    if result is not None:
                        result.append(tls.version())
                        result.append(tls.recv(100))
        except (OSError, ssl.SSLError) as exc:
            if result is not None:
                result.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_a_handshake_hands_the_socket_and_session_on(files: TlsFiles, setup: Setup) -> None:
    result: list = []
    thread = python_client(files, setup.port, result=result)
    setup.accept()
    setup.loop.until(lambda: bool(setup.ready))
    sock, addr, session = setup.ready[0]
    assert addr[0] == "127.0.0.1" and session.established
    assert not setup.gate.pending
    # The handed-on socket is no longer watched by the gate: its new owner
    # reads it.  Answer through the session, as the client stack will.
    sock.setblocking(True)
    sock.sendall(session.send(b"hi \xff"))
    thread.join(5)
    assert result[0] in ("TLSv1.2", "TLSv1.3") and result[1] == b"hi \xff"


def test_data_right_behind_the_handshake_waits_in_the_session(
    files: TlsFiles, setup: Setup
) -> None:
    thread = python_client(files, setup.port, send=b"typed at once")
    setup.accept()
    setup.loop.until(lambda: bool(setup.ready))
    sock, _, session = setup.ready[0]
    got = b""
    # It is either already held, or still on the socket: both reach the reader.
    for event in session.receive(b""):
        assert isinstance(event, Data)
        got += event.data
    sock.setblocking(True)
    sock.settimeout(5)
    while len(got) < len(b"typed at once"):
        for event in session.receive(sock.recv(4096)):
            if isinstance(event, Data):
                got += event.data
    assert got == b"typed at once"
    thread.join(5)


def test_a_silent_client_waits_alone_until_the_deadline(
    files: TlsFiles, setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    silent = socket.create_connection(("127.0.0.1", setup.port), timeout=5)
    setup.accept()
    setup.loop.turn(3)
    # Meanwhile a real client completes its handshake: nothing waits for the silent one.
    result: list = []
    thread = python_client(files, setup.port, result=result)
    setup.accept()
    setup.loop.until(lambda: bool(setup.ready))
    assert len(setup.gate.pending) == 1
    with caplog.at_level(logging.WARNING, logger="pyser2net"):
        setup.loop.advance(HANDSHAKE_TIMEOUT - 1)
        assert len(setup.gate.pending) == 1
        setup.loop.advance(1.5)
    assert not setup.gate.pending
    assert [r.getMessage() for r in caplog.records] == [
        f"tls1: refused 127.0.0.1,{silent.getsockname()[1]}: no TLS handshake within 60s"
    ]
    silent.settimeout(5)
    assert silent.recv(10) == b""  # closed by the daemon
    silent.close()
    setup.ready[0][0].close()
    thread.join(5)


def test_plain_text_is_refused_and_logged(
    files: TlsFiles, setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    plain = socket.create_connection(("127.0.0.1", setup.port), timeout=5)
    setup.accept()
    plain.sendall(b"hello\r\n")
    with caplog.at_level(logging.WARNING, logger="pyser2net"):
        setup.loop.until(lambda: not setup.gate.pending)
    assert [r.getMessage() for r in caplog.records] == [
        f"tls1: refused 127.0.0.1,{plain.getsockname()[1]}: "
        "not a TLS client (plain text on a TLS port?)"
    ]
    assert not setup.ready
    plain.close()


def test_refusals_of_one_host_are_logged_once_a_minute(
    files: TlsFiles, setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="pyser2net"):
        for _ in range(5):
            plain = socket.create_connection(("127.0.0.1", setup.port), timeout=5)
            setup.accept()
            plain.sendall(b"hello\r\n")
            setup.loop.until(lambda: not setup.gate.pending)
            plain.close()
    assert len(caplog.records) == 1


def test_closing_the_gate_drops_handshakes_under_way(files: TlsFiles, setup: Setup) -> None:
    silent = socket.create_connection(("127.0.0.1", setup.port), timeout=5)
    setup.accept()
    setup.gate.close()
    assert not setup.gate.pending
    assert silent.recv(10) == b""
    silent.close()


def test_too_many_handshakes_at_once_are_turned_away(
    files: TlsFiles, setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("pyser2net.runtime.tlsaccept.MAX_PENDING", 2)
    clients = [socket.create_connection(("127.0.0.1", setup.port), timeout=5) for _ in range(3)]
    for _ in clients:
        setup.accept()
    assert len(setup.gate.pending) == 2
    assert clients[2].recv(10) == b""
    for c in clients:
        c.close()


def test_mutual_tls_refusal_names_the_reason(
    files: TlsFiles, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    s = Setup(files, ca=str(files.ca_pem), clientauth=True)
    try:
        result: list = []
        thread = python_client(files, s.port, result=result)  # shows no certificate
        s.accept()
        with caplog.at_level(logging.WARNING, logger="pyser2net"):
            s.loop.until(lambda: not s.gate.pending)
        thread.join(5)
        assert "no client certificate (clientauth needs one)" in caplog.records[0].getMessage()
        assert isinstance(result[-1], (ssl.SSLError, OSError)) or result[-1] == b""
    finally:
        s.close()
