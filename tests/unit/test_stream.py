"""Streams on real socketpairs, pipes and ptys, with timers on a fake clock."""

from __future__ import annotations

import errno
import os
import socket
import tty
from typing import List, Optional

import pytest
from fakeloop import FakeLoop

from pyser2net.runtime.stream import DatagramPeer, DrainTimeout, Stream, StreamError


class Recorder:
    """A stream user that writes down everything it is told."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.events: List[str] = []
        self.lost: List[Optional[StreamError]] = []

    def data_received(self, data: bytes) -> None:
        self.data += data

    def eof_received(self) -> None:
        self.events.append("eof")

    def connection_lost(self, exc: Optional[StreamError]) -> None:
        self.events.append("lost")
        self.lost.append(exc)

    def pause_writing(self) -> None:
        self.events.append("pause")

    def resume_writing(self) -> None:
        self.events.append("resume")


@pytest.fixture
def loop():
    loop = FakeLoop()
    yield loop
    loop.close()


@pytest.fixture
def pair():
    """Our end (non-blocking, small buffers) and the peer's end (blocking reads)."""
    ours, peer = socket.socketpair()
    ours.setblocking(False)
    for s in (ours, peer):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    peer.settimeout(5)
    yield ours, peer
    peer.close()
    ours.close()


def read_exactly(sock: socket.socket, n: int, loop: FakeLoop) -> bytes:
    got = bytearray()
    sock.setblocking(False)
    while len(got) < n:
        loop.turn()
        try:
            chunk = sock.recv(n - len(got))
        except BlockingIOError:
            continue
        assert chunk, "unexpected end of file"
        got += chunk
    return bytes(got)


def fill_kernel(stream: Stream) -> None:
    """Write until the kernel buffers are full and bytes start to queue."""
    while not stream.queued:
        stream.write(b"k" * 4096)


def test_bytes_flow_both_ways_and_eof_is_reported(loop, pair):
    ours, peer = pair
    user = Recorder()
    stream = Stream.for_socket(loop.reactor, user, ours)
    stream.write(b"hello")
    assert peer.recv(100) == b"hello"
    assert stream.bytes_written == 5
    peer.sendall(b"world")
    loop.turn()
    assert user.data == b""  # not reading until told to
    stream.resume_reading()
    loop.until(lambda: user.data == b"world")
    peer.shutdown(socket.SHUT_WR)
    loop.until(lambda: user.events == ["eof"])
    assert not stream.reading and not stream.closed
    stream.write(b"still")  # the other direction stays open
    assert peer.recv(100) == b"still"


def test_pause_reading_leaves_bytes_in_the_kernel(loop, pair):
    ours, peer = pair
    user = Recorder()
    stream = Stream.for_socket(loop.reactor, user, ours)
    stream.resume_reading()
    stream.pause_reading()
    peer.sendall(b"later")
    loop.turn(3)
    assert user.data == b""
    stream.resume_reading()
    loop.until(lambda: user.data == b"later")


def test_pause_and_resume_writing_at_the_water_marks(loop, pair):
    ours, peer = pair
    user = Recorder()
    stream = Stream.for_socket(loop.reactor, user, ours, high_water=40000, low_water=10000)
    fill_kernel(stream)
    while "pause" not in user.events:
        stream.write(b"q" * 1000)
    queued = stream.queued
    assert queued >= 40000 and user.events == ["pause"]
    # The peer takes some: below the high mark, above the low one, no resume.
    taken = 0
    while stream.queued > 20000:
        taken += len(peer.recv(4096))
        loop.turn()
    assert stream.queued > 10000 and user.events == ["pause"]
    # Writing more while paused does not repeat the pause.
    stream.write(b"x" * 100)
    assert user.events == ["pause"]
    # Drained to the low mark: one resume.
    while stream.queued > 0:
        taken += len(peer.recv(65536))
        loop.turn()
    assert user.events == ["pause", "resume"]
    assert stream.stalled_since is None


def test_the_default_low_water_mark_is_a_quarter(loop, pair):
    stream = Stream.for_socket(loop.reactor, Recorder(), pair[0], high_water=1000)
    assert stream.low_water == 250


def test_stalled_since_follows_progress_on_the_fake_clock(loop, pair):
    ours, peer = pair
    stream = Stream.for_socket(loop.reactor, Recorder(), ours)
    assert stream.stalled_since is None
    fill_kernel(stream)
    assert stream.stalled_since == loop.clock.now
    loop.clock.now += 3
    loop.turn()  # nothing taken: no progress
    assert stream.stalled_since == loop.clock.now - 3
    peer.setblocking(False)

    def progress() -> bool:
        try:
            peer.recv(4096)
        except BlockingIOError:
            pass
        return stream.stalled_since != loop.clock.now - 3

    loop.until(progress)
    assert stream.stalled_since in (loop.clock.now, None)


def test_close_after_flush_sends_everything_then_closes(loop, pair):
    ours, peer = pair
    user = Recorder()
    stream = Stream.for_socket(loop.reactor, user, ours, high_water=1 << 20)
    stream.resume_reading()
    payload = bytes(range(256)) * 400
    stream.write(payload)
    assert stream.queued
    stream.close_after_flush(5.0)
    assert not stream.reading and not stream.closed
    got = read_exactly(peer, len(payload), loop)
    assert got == payload
    loop.until(lambda: stream.closed)
    assert user.events == ["lost"] and user.lost == [None]
    assert user.data == b""
    assert peer.recv(10) == b""  # closed after the last byte


def test_close_after_flush_with_nothing_queued_closes_at_once(loop, pair):
    user = Recorder()
    stream = Stream.for_socket(loop.reactor, user, pair[0])
    stream.close_after_flush(5.0)
    assert stream.closed and user.lost == [None]


def test_close_after_flush_gives_up_at_the_deadline(loop, pair):
    ours, _peer = pair
    user = Recorder()
    stream = Stream.for_socket(loop.reactor, user, ours)
    fill_kernel(stream)
    stream.close_after_flush(5.0)
    loop.advance(4.9)
    assert not stream.closed
    loop.advance(0.1)
    assert stream.closed
    assert user.events == ["lost"]
    assert isinstance(user.lost[0], DrainTimeout) and user.lost[0].queued > 0
    assert ours.fileno() == -1
    assert loop.reactor.watched() == []


def test_close_by_the_user_drops_the_queue_without_a_callback(loop, pair):
    ours, _peer = pair
    user = Recorder()
    stream = Stream.for_socket(loop.reactor, user, ours)
    stream.resume_reading()
    fill_kernel(stream)
    stream.close()
    stream.close()
    assert user.events == [] and stream.queued == 0
    assert loop.reactor.watched() == []
    stream.write(b"dropped")  # harmless


def test_a_write_to_a_vanished_peer_closes_the_stream(loop, pair):
    ours, peer = pair
    user = Recorder()
    stream = Stream.for_socket(loop.reactor, user, ours)
    peer.close()
    stream.write(b"x")
    assert stream.closed
    assert isinstance(user.lost[0], StreamError)
    assert user.lost[0].action == "write"
    assert user.lost[0].cause.errno in (errno.EPIPE, errno.ECONNRESET)


def test_held_output_queues_until_released(loop, pair):
    ours, peer = pair
    user = Recorder()
    stream = Stream.for_socket(loop.reactor, user, ours)
    stream.hold_output(True)
    stream.write(b"held")
    loop.turn(2)
    assert stream.queued == 4 and stream.stalled_since is None
    peer.setblocking(False)
    with pytest.raises(BlockingIOError):
        peer.recv(10)
    stream.hold_output(False)
    loop.until(lambda: stream.queued == 0)
    assert read_exactly(peer, 4, loop) == b"held"


def test_a_pty_master_reports_the_slave_hanging_up(loop):
    master, slave = os.openpty()
    tty.setraw(slave)
    os.set_blocking(master, False)
    user = Recorder()
    closed = []
    stream = Stream.for_fds(
        loop.reactor, user, master, master, close=lambda: (os.close(master), closed.append(True))
    )
    stream.resume_reading()
    stream.write(b"to the device")
    assert os.read(slave, 100) == b"to the device"
    os.write(slave, b"from the device")
    loop.until(lambda: user.data == b"from the device")
    os.close(slave)
    loop.until(lambda: bool(user.lost))
    assert user.lost[0] is not None and user.lost[0].action == "read"
    assert user.lost[0].cause.errno == errno.EIO
    assert closed == [True] and stream.closed


def test_separate_read_and_write_descriptors(loop):
    rfd, wfd = os.pipe()
    os.set_blocking(rfd, False)
    os.set_blocking(wfd, False)
    user = Recorder()
    stream = Stream.for_fds(
        loop.reactor, user, rfd, wfd, close=lambda: (os.close(rfd), os.close(wfd))
    )
    stream.resume_reading()
    stream.write(b"echo")
    loop.until(lambda: user.data == b"echo")
    stream.close()
    assert loop.reactor.watched() == []


def test_a_write_only_stream_never_reads(loop):
    rfd, wfd = os.pipe()
    user = Recorder()
    stream = Stream.for_fds(loop.reactor, user, None, wfd, close=lambda: os.close(wfd))
    stream.resume_reading()
    assert not stream.reading
    stream.write(b"printer")
    assert os.read(rfd, 100) == b"printer"
    stream.close()
    os.close(rfd)


def test_a_datagram_stream_takes_an_empty_datagram_as_data_not_eof(loop):
    a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    a.bind(("127.0.0.1", 0))
    b.bind(("127.0.0.1", 0))
    a.connect(b.getsockname())
    a.setblocking(False)
    user = Recorder()
    stream = Stream.for_socket(loop.reactor, user, a, datagram=True)
    stream.resume_reading()
    b.sendto(b"", a.getsockname())
    b.sendto(b"one", a.getsockname())
    loop.until(lambda: user.data == b"one")
    assert user.events == [] and stream.reading
    stream.close()
    b.close()


def test_a_datagram_peer_sends_from_the_shared_socket():
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    remote = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind(("127.0.0.1", 0))
    remote.bind(("127.0.0.1", 0))
    remote.settimeout(5)
    user = Recorder()
    dropped: List[int] = []
    peer = DatagramPeer(listener, remote.getsockname(), user, dropped.append)
    peer.write(b"reply")
    assert remote.recvfrom(100) == (b"reply", listener.getsockname())
    peer.feed(b"in")
    assert user.data == b"in"
    peer.close_after_flush(5.0)
    assert peer.closed and user.lost == [None]
    peer.feed(b"late")
    peer.write(b"late")
    assert user.data == b"in" and dropped == []
    listener.close()
    remote.close()


def test_a_refused_connect_closes_the_stream(loop):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        addr = probe.getsockname()  # nobody listens there once closed
    sock = socket.socket()
    sock.setblocking(False)
    sock.connect_ex(addr)
    user = Recorder()
    stream = Stream.for_socket(loop.reactor, user, sock)
    stream.watch_connect(sock)
    loop.until(lambda: stream.closed)
    assert user.lost[0] is not None and user.lost[0].action == "connect"
    assert user.lost[0].cause.errno == errno.ECONNREFUSED


def test_a_completed_connect_sends_what_was_queued_meanwhile(loop):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    sock = socket.socket()
    sock.setblocking(False)
    sock.connect_ex(listener.getsockname())
    user = Recorder()
    stream = Stream.for_socket(loop.reactor, user, sock)
    stream.watch_connect(sock)
    stream.write(b"early")
    accepted, _ = listener.accept()
    accepted.setblocking(False)
    assert read_exactly(accepted, 5, loop) == b"early"
    loop.until(lambda: stream.queued == 0)
    assert not stream.closed and user.lost == []
    accepted.close()
    listener.close()
    stream.close()


def test_cancel_close_keeps_a_draining_stream(loop, pair):
    ours, peer = pair
    user = Recorder()
    stream = Stream.for_socket(loop.reactor, user, ours)
    stream.resume_reading()
    fill_kernel(stream)
    stream.close_after_flush(5.0)
    assert not stream.reading
    stream.cancel_close()
    stream.resume_reading()
    assert stream.reading and not stream.closing
    loop.advance(10.0)  # the deadline is gone with the close
    assert not stream.closed and user.lost == []
