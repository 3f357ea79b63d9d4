"""A port driven in-process: clients on socketpairs, a pty as the device, a fake clock.

No daemon process and no sleeping: each test turns the loop itself and moves
the clock by hand, so timeouts of seconds take microseconds and nothing
depends on the speed of the machine.
"""

from __future__ import annotations

import logging
import os
import socket
import tty
from pathlib import Path
from typing import Iterator, List

import pytest
from fakeloop import FakeLoop

from pyser2net.config import load_text
from pyser2net.runtime import locks
from pyser2net.runtime.port import Port


class Rig:
    """A port on a pty, and the test's ends of everything."""

    def __init__(
        self,
        loop: FakeLoop,
        path: str,
        options: str = "",
        connector_prefix: str = "",
        accepter: str = "tcp,127.0.0.1,2000",
    ) -> None:
        self.loop = loop
        text = (
            "connection: &p\n"
            f"  accepter: {accepter}\n"
            f"  connector: {connector_prefix}serialdev,{path},115200n81,local\n"
        )
        if options:
            text += "  options:\n" + "".join(f"    {line}\n" for line in options.splitlines())
        self.conn = load_text(text, "test.yaml").connections[0]
        self.port = Port(loop.reactor, self.conn)
        self.peers: List[socket.socket] = []
        self._next = 40000

    def connect(self) -> socket.socket:
        """A client, as the listener would hand it over; returns the peer's end."""
        ours, peer = socket.socketpair()
        ours.setblocking(False)
        peer.setblocking(False)
        self._next += 1
        self.port.accept(ours, ("127.0.0.1", self._next))
        self.peers.append(peer)
        return peer

    def recv(self, peer: socket.socket, n: int) -> bytes:
        got = bytearray()

        def done() -> bool:
            try:
                chunk = peer.recv(n - len(got))
            except BlockingIOError:
                return False
            assert chunk, f"closed after {bytes(got)!r}"
            got.extend(chunk)
            return len(got) == n

        self.loop.until(done)
        return bytes(got)

    def closed(self, peer: socket.socket) -> bytes:
        """What the peer still receives before the port closes it."""
        got = bytearray()
        eof = []

        def done() -> bool:
            try:
                chunk = peer.recv(65536)
            except BlockingIOError:
                return False
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                eof.append(True)
                return True
            got.extend(chunk)
            return False

        self.loop.until(done)
        return bytes(got)

    def nothing(self, peer: socket.socket, turns: int = 5) -> bool:
        """Whether the peer got neither bytes nor a close in a few turns."""
        self.loop.turn(turns)
        try:
            peer.recv(65536)
        except BlockingIOError:
            return True
        return False

    def close(self) -> None:
        self.port.stop()
        for peer in self.peers:
            peer.close()


class Pty:
    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.master)
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self.slave)

    def read(self, loop: FakeLoop, n: int) -> bytes:
        got = bytearray()

        def done() -> bool:
            try:
                got.extend(os.read(self.master, n - len(got)))
            except BlockingIOError:
                pass
            return len(got) >= n

        loop.until(done)
        return bytes(got)

    def write(self, data: bytes) -> int:
        try:
            return os.write(self.master, data)
        except BlockingIOError:
            return 0

    def close(self) -> None:
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass


@pytest.fixture
def loop() -> Iterator[FakeLoop]:
    was = locks.enabled()
    locks.set_enabled(False)
    loop = FakeLoop()
    yield loop
    loop.close()
    locks.set_enabled(was)


@pytest.fixture
def pty() -> Iterator[Pty]:
    p = Pty()
    yield p
    p.close()


def rig(loop, pty, options="", **kw) -> Rig:
    return Rig(loop, pty.path, options, **kw)


# -- the data path ---------------------------------------------------------------


def test_bytes_go_both_ways(loop, pty):
    r = rig(loop, pty, "chardelay: false")
    peer = r.connect()
    peer.sendall(b"to device")
    assert pty.read(loop, 9) == b"to device"
    pty.write(b"to client")
    assert r.recv(peer, 9) == b"to client"
    assert r.port.bytes_to_device == 9 and r.port.bytes_from_device == 9
    client = r.port.clients[0]
    assert (client.bytes_received, client.bytes_sent) == (9, 9)
    r.close()


def test_a_slow_client_holds_the_device_back_with_hysteresis(loop, pty):
    # dev-to-net-bufsize 32768: the client's queue pauses the device at that
    # many bytes and resumes it only at a quarter, not as soon as it dips
    # below the mark.
    high, low = 32768, 8192
    r = rig(loop, pty, f"chardelay: false\ndev-to-net-bufsize: {high}")
    peer = r.connect()
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    client = r.port.clients[0]
    client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    device = r.port._dev
    assert device is not None and device.reading
    payload = bytes(i % 251 for i in range(200_000))
    offered = 0
    while device.reading:
        offered += pty.write(payload[offered : offered + 1024])
        loop.turn()
        assert offered < len(payload), "the device was never paused"
    assert client.stream.queued >= high
    received = bytearray()
    seen_between = False
    while offered < len(payload) or len(received) < offered:
        try:
            received += peer.recv(512)
        except BlockingIOError:
            pass
        loop.turn()
        queued = client.stream.queued
        if not device.reading:
            seen_between |= low < queued < high
        else:
            assert queued < high
        if device.reading or queued <= low:
            offered += pty.write(payload[offered : offered + 1024])
    assert seen_between, "the device resumed without waiting for the low-water mark"
    assert bytes(received) == payload
    r.close()


def test_a_full_device_queue_stops_reading_clients(loop, pty):
    r = rig(loop, pty, "chardelay: false\nnet-to-dev-bufsize: 4096")
    peer = r.connect()
    client = r.port.clients[0]
    chunk = b"x" * 4096
    sent = 0
    while client.stream.reading:
        try:
            sent += peer.send(chunk)
        except BlockingIOError:
            pass
        loop.turn()
        assert sent < 10_000_000, "the client was never paused"
    assert r.port.devq >= 4096 and r.port.clients_paused
    # The device takes everything: clients are read again.
    got = pty.read(loop, sent)
    assert got == b"x" * sent
    loop.until(lambda: client.stream.reading)
    r.close()


# -- admission -----------------------------------------------------------------


def test_max_connections_turns_the_next_client_away(loop, pty):
    r = rig(loop, pty, "chardelay: false\nmax-connections: 2")
    a, b = r.connect(), r.connect()
    c = r.connect()
    assert r.closed(c) == b"Port already in use\r\n"
    pty.write(b"both")
    assert r.recv(a, 4) == b"both" and r.recv(b, 4) == b"both"
    assert len(r.port.clients) == 2
    r.close()


def test_kickolduser_replaces_the_old_client_on_the_same_device(loop, pty):
    r = rig(loop, pty, "chardelay: false\nkickolduser: true\nopenstr: 'O'\nclosestr: 'C'")
    old = r.connect()
    assert pty.read(loop, 1) == b"O"
    device = r.port.device
    new = r.connect()
    assert r.closed(old) == b""
    assert r.port.device is device  # never closed in between
    assert pty.read(loop, 2) == b"CO"  # the old session ends, a new one starts
    pty.write(b"hi")
    assert r.recv(new, 2) == b"hi"
    r.close()


def test_a_refused_address_kicks_nobody(loop, pty):
    r = rig(loop, pty, "chardelay: false\nkickolduser: true\nremaddr: '127.0.0.1,0'")
    old = r.connect()
    ours, peer = socket.socketpair()
    ours.setblocking(False)
    peer.setblocking(False)
    r.port.accept(ours, ("10.0.0.1", 5000))
    assert r.closed(peer) == b"Accessed denied due to your net address\r\n"
    pty.write(b"still")
    assert r.recv(old, 5) == b"still"
    peer.close()
    r.close()


# -- timers on the fake clock ------------------------------------------------------


def test_chardelay_holds_device_bytes_until_the_line_is_quiet(loop, pty):
    r = rig(loop, pty)  # chardelay on: 115200 baud holds 1 ms (the minimum)
    peer = r.connect()
    pty.write(b"abc")
    loop.until(lambda: r.port._hold is not None and r.port._hold.held == 3)
    assert r.nothing(peer)
    loop.advance(0.0009)
    assert r.nothing(peer)
    loop.advance(0.0001)
    assert r.recv(peer, 3) == b"abc"
    r.close()


def test_chardelay_sends_at_the_latest_after_chardelay_max(loop, pty):
    r = rig(loop, pty, "chardelay-max: 4000")
    peer = r.connect()
    start = loop.clock.now
    for n in range(5):  # a byte every 0.98 ms: never quiet for the 1 ms hold
        pty.write(b"%d" % n)
        loop.until(lambda n=n: r.port._hold is not None and r.port._hold.held == n + 1)
        assert r.nothing(peer)
        if n < 4:
            loop.advance(1 / 1024)
    # The first byte waits 4 ms at most, although bytes keep coming.
    assert r.port._flush.when == pytest.approx(start + 0.004)
    loop.clock.now = start + 0.0039
    assert r.nothing(peer)
    loop.clock.now = start + 0.0041
    assert r.recv(peer, 5) == b"01234"
    r.close()


def test_chardelay_sends_a_full_buffer_at_once(loop, pty):
    r = rig(loop, pty, "dev-to-net-bufsize: 8")
    peer = r.connect()
    pty.write(b"abc")
    loop.until(lambda: r.port._hold is not None and r.port._hold.held == 3)
    assert r.nothing(peer)
    pty.write(b"defgh")  # the hold reaches the buffer size: no waiting
    assert r.recv(peer, 8) == b"abcdefgh"
    assert r.port._hold.held == 0 and not r.port._flush.pending
    r.close()


def test_chardelay_flush_reaches_every_client(loop, pty):
    r = rig(loop, pty, "max-connections: 2")
    peers = [r.connect(), r.connect()]
    pty.write(b"xyz")
    loop.until(lambda: r.port._hold is not None and r.port._hold.held == 3)
    loop.advance(0.001)
    assert [r.recv(peer, 3) for peer in peers] == [b"xyz", b"xyz"]
    assert [c.bytes_sent for c in r.port.clients] == [3, 3]
    r.close()


def test_keepopen_keeps_the_client_and_reopens_the_device(loop, tmp_path):
    link = Path(tmp_path) / "tty"
    first = Pty()
    link.symlink_to(first.path)
    r = Rig(loop, str(link), "chardelay: false", connector_prefix="keepopen(retry-time=250),")
    peer = r.connect()
    peer.sendall(b"one")
    assert first.read(loop, 3) == b"one"
    first.close()  # the device vanishes
    link.unlink()
    loop.until(lambda: r.port.device is None)
    assert len(r.port.clients) == 1 and r.port.clients_paused
    peer.sendall(b"two")  # held in the kernel while the device is away
    loop.advance(0.25)  # a retry fails: nothing at the path
    assert r.port.device is None and r.nothing(peer)
    second = Pty()
    link.symlink_to(second.path)
    loop.advance(0.125)
    assert r.port.device is None
    loop.advance(0.125)
    assert r.port.device is not None and not r.port.clients_paused
    assert second.read(loop, 3) == b"two"
    second.write(b"back")
    assert r.recv(peer, 4) == b"back"
    r.close()
    second.close()


def test_an_idle_client_times_out_on_the_fake_clock(loop, pty):
    r = rig(loop, pty, "chardelay: false")
    r.port.set_timeout(30)
    peer = r.connect()
    loop.advance(29)
    peer.sendall(b"x")  # activity
    assert pty.read(loop, 1) == b"x"
    loop.advance(29.9)
    assert len(r.port.clients) == 1
    loop.advance(0.1)
    assert r.closed(peer) == b""
    assert r.port.clients == [] and r.port.device is None
    r.close()


def _stall(r: Rig, peer: socket.socket) -> None:
    """Make the port's end of ``peer`` small, so that bytes queue soon."""
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    r.port.clients[-1].sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)


def drain(peer: socket.socket, into: bytearray) -> None:
    try:
        while True:
            data = peer.recv(65536)
            if not data:
                return
            into += data
    except (BlockingIOError, ConnectionResetError):
        pass


def test_client_buffer_limit_drops_the_client_that_stopped_reading(loop, pty, caplog):
    caplog.set_level(logging.INFO)
    r = rig(loop, pty, "chardelay: false\nmax-connections: 2\nclient-buffer-limit: 20000")
    stalled = r.connect()
    _stall(r, stalled)
    reader = r.connect()
    got = bytearray()
    payload = bytes(i % 253 for i in range(300_000))
    offered = 0
    while len(r.port.clients) == 2:
        offered += pty.write(payload[offered : offered + 4096])
        loop.turn()
        drain(reader, got)
        assert r.port._dev is not None and r.port._dev.reading  # never held back
        assert offered < len(payload), "the stalled client was never dropped"
    assert "stopped reading" in caplog.text and "client-buffer-limit is 20000" in caplog.text
    while len(got) < offered or offered < len(payload):
        offered += pty.write(payload[offered : offered + 4096])
        loop.turn()
        drain(reader, got)
    assert bytes(got) == payload
    r.close()


def test_client_send_timeout_drops_a_client_whose_queue_does_not_move(loop, pty, caplog):
    caplog.set_level(logging.INFO)
    r = rig(loop, pty, "chardelay: false\nmax-connections: 2\nclient-send-timeout: 2")
    stalled = r.connect()
    _stall(r, stalled)
    reader = r.connect()
    client = r.port.clients[0]
    while not client.stream.queued:
        pty.write(b"s" * 4096)
        loop.turn()
    started = client.stream.stalled_since
    assert started == loop.clock.now
    loop.advance(1.5)
    assert client in r.port.clients
    loop.advance(0.5)
    assert client not in r.port.clients
    assert "no progress for 2s (client-send-timeout)" in caplog.text
    got = bytearray()
    drain(reader, got)
    pty.write(b"go on")
    loop.until(lambda: (drain(reader, got), got.endswith(b"go on"))[1])
    r.close()


# -- fairness: bounded work and bounded answers per client -------------------------

IAC, SB, SE = 255, 250, 240
RFC2217 = "telnet(rfc2217),tcp,127.0.0.1,2000"
SIGNATURE_REQUEST = bytes([IAC, SB, 44, 0, IAC, SE])


def baud_request(baud: int) -> bytes:
    return bytes([IAC, SB, 44, 1]) + baud.to_bytes(4, "big") + bytes([IAC, SE])


def baud_answer(baud: int) -> bytes:
    return bytes([IAC, SB, 44, 101]) + baud.to_bytes(4, "big") + bytes([IAC, SE])


def test_a_backlog_of_requests_is_worked_off_a_share_per_turn(loop, pty):
    from pyser2net.protocol.telnet import MAX_RUN
    from pyser2net.runtime.client import BACKLOG_PAUSE, COMMANDS_PER_TURN

    r = rig(loop, pty, "chardelay: false", accepter=RFC2217)
    peer = r.connect()
    greeting = r.recv(peer, len(r.port.clients[0].stack.start()))
    assert greeting
    bauds = [(1200, 2400, 4800, 9600, 19200, 38400, 57600)[i % 7] for i in range(5000)]
    peer.sendall(b"".join(baud_request(b) for b in bauds))
    got = bytearray()
    turns = 0
    while len(got) < len(bauds) * len(baud_answer(0)):
        loop.advance(BACKLOG_PAUSE)
        turns += 1
        before = len(got)
        drain(peer, got)
        # One piece of the backlog at a time, BACKLOG_PAUSE apart (its
        # answers come in the turn after it, with those of the next, at
        # most); requests in a row are parsed MAX_RUN at a time.
        assert len(got) - before <= 2 * COMMANDS_PER_TURN * MAX_RUN * len(baud_answer(0))
        assert turns < 1000
    # Each piece is answered with the value in force once it reached the
    # line (its last), as ser2net answers the requests of one read.
    answers = [bytes(got[i : i + 10]) for i in range(0, len(got), 10)]
    assert set(answers) <= {baud_answer(b) for b in bauds}
    assert answers[-1] == baud_answer(bauds[-1])
    loop.turn(2)
    session = r.port.rfc2217
    assert r.port.device.settings.speed == bauds[-1]
    # Once a piece (reads may cut a piece short), not once a request.
    assert session.applied <= len(bauds) // (COMMANDS_PER_TURN * MAX_RUN) + 10
    assert termios_speed(pty) == termios_speed_constant(bauds[-1])
    # The client is read again once its backlog is gone.
    assert r.port.clients[0].stream.reading
    r.close()


def termios_speed(pty: Pty) -> int:
    import termios

    return termios.tcgetattr(pty.master)[5]


def termios_speed_constant(baud: int) -> int:
    import termios

    return getattr(termios, f"B{baud}")


def test_a_client_that_does_not_read_its_answers_is_not_read(loop, pty):
    from pyser2net.protocol.telnet import MAX_ANSWER
    from pyser2net.runtime.client import BACKLOG_PAUSE, COMMANDS_PER_TURN

    high = 4096
    r = rig(loop, pty, f"chardelay: false\ndev-to-net-bufsize: {high}", accepter=RFC2217)
    peer = r.connect()
    _stall(r, peer)
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8192)
    client = r.port.clients[0]
    client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
    count = 100_000
    requests = SIGNATURE_REQUEST * count  # 600 kB of requests, each with an answer
    sent = 0
    for _ in range(500):
        try:
            sent += peer.send(requests[sent : sent + 8192])
        except BlockingIOError:
            pass
        loop.advance(BACKLOG_PAUSE)
        assert client.stream.queued <= high + COMMANDS_PER_TURN * MAX_ANSWER
        if sent == len(requests):
            break
    assert not client.stream.reading and sent < len(requests), "never held back"
    # Reading the answers lets it go on, and every answer arrives.
    answer = bytes([IAC, SB, 44, 100])
    got = bytearray()
    quiet = 0
    for _ in range(20000):
        if sent < len(requests):
            try:
                sent += peer.send(requests[sent : sent + 8192])
            except BlockingIOError:
                pass
        loop.advance(BACKLOG_PAUSE)
        before = len(got)
        drain(peer, got)
        quiet = quiet + 1 if len(got) == before and sent == len(requests) else 0
        if quiet == 5:
            break
    greeting = client.stack.start()
    assert got.startswith(greeting + answer)
    del got[: len(greeting)]
    one = bytes(got[: got.index(bytes([IAC, SE])) + 2])
    assert got == one * count
    r.close()


def test_other_clients_are_not_told_past_their_output_bound(loop, pty):
    high = 4096
    r = rig(
        loop,
        pty,
        f"chardelay: false\nmax-connections: 2\ndev-to-net-bufsize: {high}",
        accepter=RFC2217,
    )
    asker = r.connect()
    deaf = r.connect()
    _stall(r, deaf)
    deaf_client = r.port.clients[1]
    got = bytearray()
    for i in range(3000):
        asker.sendall(baud_request((1200, 2400)[i % 2]))
        loop.turn()
        drain(asker, got)
        assert deaf_client.stream.queued < high + 64
    r.close()


def test_clients_with_backlogs_take_turns(loop, pty):
    from pyser2net.protocol.telnet import MAX_RUN
    from pyser2net.runtime.client import BACKLOG_PAUSE, COMMANDS_PER_TURN, PIECES_PER_TURN

    piece = COMMANDS_PER_TURN * MAX_RUN  # requests in a row: MAX_RUN a command

    # One setting each (baud rate, data size, parity, stop bits, flow
    # control): a client's answers carry its own setting, and what it hears
    # of the others' changes is about theirs.
    asks = [(1, b"\x00\x00\x04\xb0"), (2, b"\x07"), (3, b"\x03"), (4, b"\x02"), (5, b"\x03")]
    r = rig(loop, pty, f"chardelay: false\nmax-connections: {len(asks)}", accepter=RFC2217)
    peers = [r.connect() for _ in asks]
    loop.turn(3)
    for peer in peers:
        drain(peer, bytearray())
    count = 6 * piece
    for peer, (code, value) in zip(peers, asks):
        peer.sendall((bytes([IAC, SB, 44, code]) + value + bytes([IAC, SE])) * count)
    answers = [bytes([IAC, SB, 44, code + 100]) + value + bytes([IAC, SE]) for code, value in asks]
    got = [bytearray() for _ in peers]

    def own() -> List[int]:
        for peer, into in zip(peers, got):
            drain(peer, into)
        return [g.count(a) for g, a in zip(got, answers)]

    loop.turn(2)  # each client reads what it sent and handles a first piece, answered next
    assert own() == [piece] * len(asks)
    done = None
    for _ in range(2000):
        before = sum(own())
        loop.advance(BACKLOG_PAUSE)
        # However many clients have a backlog, a few pieces at a time (and
        # the first of a fresh read, for a client whose backlog is gone).
        assert sum(own()) - before <= (PIECES_PER_TURN + 1) * piece
        if done is None and count in own():
            done = own()
        if own() == [count] * len(asks):
            break
    assert own() == [count] * len(asks)
    # In turns: when the first was through, the others were nearly so.
    assert done is not None and min(done) >= count - 2 * piece, done
    r.close()
