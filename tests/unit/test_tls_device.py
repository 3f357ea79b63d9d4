"""An ssl connector's device: a TLS client over a tcp peer, against Python's
ssl server on loopback, on a reactor whose clock the test moves."""

from __future__ import annotations

import socket
import ssl
import threading
from pathlib import Path
from typing import Iterator, List, Optional

import pytest
from fakeloop import FakeLoop

from pyser2net.config.model import NetworkDevice, SslSettings
from pyser2net.runtime.devices import NetworkPeer
from pyser2net.runtime.stream import StreamError
from pyser2net.runtime.tlsconfig import ClientTlsSource
from pyser2net.runtime.tlsdevice import TlsPeer

from tlsfiles import TlsFiles

ALL = bytes(range(256))


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    files = TlsFiles(tmp_path_factory.mktemp("tls"))
    files.other_ca("stranger")
    return files


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    sock.settimeout(10)
    yield sock
    sock.close()


class Recorder:
    """The port's side of the device stream."""

    def __init__(self) -> None:
        self.received = bytearray()
        self.ready = False
        self.eof = False
        self.lost: List[Optional[StreamError]] = []

    def data_received(self, data: bytes) -> None:
        self.received += data

    def eof_received(self) -> None:
        self.eof = True

    def connection_lost(self, exc: Optional[StreamError]) -> None:
        self.lost.append(exc)

    def pause_writing(self) -> None:
        pass

    def resume_writing(self) -> None:
        pass


def open_peer(loop: FakeLoop, listener: socket.socket, ca: Path, user: Recorder) -> tuple:
    host, port = listener.getsockname()
    peer = NetworkPeer(NetworkDevice(host, port), f"ssl,tcp,{host},{port}")
    peer.open()
    device = TlsPeer(peer, ClientTlsSource(SslSettings(ca=str(ca)), label="c"))

    def ready() -> None:
        user.ready = True

    stream = device.open_stream(loop.reactor, user, read_limit=4096, high_water=65536, ready=ready)
    stream.resume_reading()
    return device, stream


def tls_echo(files: TlsFiles, listener: socket.socket, got: bytearray, greeting: bytes) -> None:
    """A TLS service: greets, then echoes until the end of the session."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(files.server.cert), str(files.server.key))
    raw, _ = listener.accept()
    raw.settimeout(10)
    try:
        with context.wrap_socket(raw, server_side=True) as tls:
            tls.sendall(greeting)
            while True:
                chunk = tls.recv(65536)
                if not chunk:
                    break
                got.extend(chunk)
                tls.sendall(chunk)
    except (ssl.SSLError, OSError):
        pass


def test_every_byte_both_ways_once_the_server_verified(files: TlsFiles, listener) -> None:
    loop = FakeLoop()
    got = bytearray()
    thread = threading.Thread(
        target=tls_echo, args=(files, listener, got, b"\xffhello\xff\x00"), daemon=True
    )
    thread.start()
    user = Recorder()
    device, stream = open_peer(loop, listener, files.ca_pem, user)
    try:
        stream.write(b"\xff" + ALL)  # before the handshake: it waits, then follows it
        assert not user.ready
        loop.until(lambda: len(user.received) >= 8 + 257, turns=2000)
        assert user.ready and device.established
        assert bytes(user.received) == b"\xffhello\xff\x00" + b"\xff" + ALL
        assert bytes(got) == b"\xff" + ALL
        assert not user.lost
    finally:
        stream.close()
        thread.join(10)
        loop.close()


def test_a_server_from_another_ca_is_an_open_failure(files: TlsFiles, listener) -> None:
    loop = FakeLoop()
    got = bytearray()
    thread = threading.Thread(target=tls_echo, args=(files, listener, got, b"x"), daemon=True)
    thread.start()
    user = Recorder()
    device, stream = open_peer(loop, listener, files.root / "stranger.pem", user)
    try:
        stream.write(b"secret")
        loop.until(lambda: bool(user.lost), turns=2000)
        error = device.error_for(user.lost[0])
        assert error.opening
        assert error.reason == "Certificate is not valid"  # ser2net's words for the client
        assert error.detail.endswith(
            "server certificate did not verify: unable to get local issuer certificate"
        )
        assert not user.ready and not user.received
    finally:
        stream.close()
        thread.join(10)
        loop.close()
    assert got == b""  # nothing was sent to a server we did not trust


def test_a_server_that_never_speaks_tls_times_out_alone(files: TlsFiles, listener) -> None:
    loop = FakeLoop()
    user = Recorder()
    device, stream = open_peer(loop, listener, files.ca_pem, user)
    silent, _ = listener.accept()
    try:
        loop.until(lambda: device.inner.connected, turns=500)
        loop.advance(59)
        assert not user.lost
        loop.advance(1)
        assert len(user.lost) == 1
        error = device.error_for(user.lost[0])
        assert error.opening and error.reason == "Operation timed out"
        assert error.detail.endswith("no TLS session after 60 s")
    finally:
        silent.close()
        stream.close()
        loop.close()


def test_a_server_that_hangs_up_during_the_handshake(files: TlsFiles, listener) -> None:
    loop = FakeLoop()
    user = Recorder()
    device, stream = open_peer(loop, listener, files.ca_pem, user)
    rude, _ = listener.accept()
    try:
        loop.until(lambda: device.inner.connected, turns=500)
        rude.close()
        loop.until(lambda: bool(user.lost) or user.eof, turns=500)
        error = device.error_for(user.lost[0] if user.lost else None)
        assert error.opening and error.reason == "Remote end closed connection"
    finally:
        stream.close()
        loop.close()
