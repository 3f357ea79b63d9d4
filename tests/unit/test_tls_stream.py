"""A TLS stream under a plain stream user: real sockets, Python's ssl client."""

from __future__ import annotations

import socket
import ssl
import threading
from typing import List, Optional

import pytest
from fakeloop import FakeLoop

from pyser2net.config.model import SslSettings
from pyser2net.protocol.tls import TlsFilter
from pyser2net.runtime.stream import StreamError
from pyser2net.runtime.tlsaccept import TlsGate
from pyser2net.runtime.tlsconfig import server_tls
from pyser2net.runtime.tlsstream import TlsStream

from tlsfiles import TlsFiles


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return TlsFiles(tmp_path_factory.mktemp("tls"))


class Echo:
    """A stream user that sends every byte back, as an echo device would."""

    def __init__(self) -> None:
        self.stream: Optional[TlsStream] = None
        self.received = bytearray()
        self.eof = False
        self.lost: List[Optional[StreamError]] = []

    def data_received(self, data: bytes) -> None:
        self.received += data
        assert self.stream is not None
        self.stream.write(data)

    def eof_received(self) -> None:
        self.eof = True
        assert self.stream is not None
        self.stream.close_after_flush(5)

    def connection_lost(self, exc: Optional[StreamError]) -> None:
        self.lost.append(exc)

    def pause_writing(self) -> None:
        pass

    def resume_writing(self) -> None:
        pass


def serve(files: TlsFiles, loop: FakeLoop, listener: socket.socket) -> Echo:
    tls = server_tls(SslSettings(key=str(files.server.key), cert=str(files.server.cert)))
    user = Echo()

    def ready(sock: socket.socket, addr: tuple, session: TlsFilter) -> None:
        user.stream = TlsStream(loop.reactor, user, sock, session)
        user.stream.resume_reading()

    gate = TlsGate(loop.reactor, tls.new_filter, ready, label="t")
    listener.settimeout(5)
    sock, addr = listener.accept()
    sock.setblocking(False)
    gate(sock, addr)
    return user


def test_echo_through_tls_with_every_byte_value(files: TlsFiles) -> None:
    loop = FakeLoop()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    payload = bytes(range(256)) * 2000  # 512 KB, many records
    got = bytearray()

    def client() -> None:
        context = ssl.create_default_context(cafile=str(files.ca_pem))
        with socket.create_connection(listener.getsockname(), timeout=10) as raw:
            with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                tls.sendall(b"\xff" + payload)
                while len(got) < len(payload) + 1:
                    chunk = tls.recv(65536)
                    if not chunk:
                        break
                    got.extend(chunk)
                tls.unwrap()  # close_notify: the server sees the end of data

    thread = threading.Thread(target=client, daemon=True)
    thread.start()
    try:
        user = serve(files, loop, listener)
        loop.until(lambda: user.eof or bool(user.lost), turns=3000)
        thread.join(10)
        assert bytes(got) == b"\xff" + payload
        assert bytes(user.received) == b"\xff" + payload
        assert user.eof
    finally:
        listener.close()
        loop.close()


def test_data_right_behind_the_handshake_is_read(files: TlsFiles) -> None:
    """Sent in the same breath as the handshake: it must not wait for more."""
    loop = FakeLoop()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    got = bytearray()

    def client() -> None:
        context = ssl.create_default_context(cafile=str(files.ca_pem))
        with socket.create_connection(listener.getsockname(), timeout=10) as raw:
            with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                tls.sendall(b"at once")
                got.extend(tls.recv(100))

    thread = threading.Thread(target=client, daemon=True)
    thread.start()
    try:
        user = serve(files, loop, listener)
        loop.until(lambda: bytes(user.received) == b"at once", turns=1000)
        thread.join(10)
        assert bytes(got) == b"at once"
    finally:
        listener.close()
        loop.close()
