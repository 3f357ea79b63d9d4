"""Link streams: relpkt, msgdelim and serialtcp under a plain stream user.

Two ends are joined by a socketpair (the "cable") on a reactor whose clock
the test moves, so keepalives, resends and timeouts run in microseconds.
"""

from __future__ import annotations

import socket
from typing import Iterator, List, Optional, Tuple

import pytest
from fakeloop import FakeLoop, FakeTimer

from pyser2net.config.model import MsgDelimLayer, RelPktLayer, SerialSettings, SerialTcpLayer
from pyser2net.protocol.links import line_rate
from pyser2net.runtime.layers import build_link
from pyser2net.runtime.linkstream import LinkError, LinkStream
from pyser2net.runtime.stream import DrainTimeout, Stream, StreamError, StreamUser


class User:
    """Records what a link stream tells its user."""

    def __init__(self) -> None:
        self.received = bytearray()
        self.lost: List[Optional[StreamError]] = []
        self.paused = 0
        self.resumed = 0
        self.up = 0

    def data_received(self, data: bytes) -> None:
        self.received += data

    def eof_received(self) -> None:
        raise AssertionError("a link stream reports an ended device as connection_lost")

    def connection_lost(self, exc: Optional[StreamError]) -> None:
        self.lost.append(exc)

    def pause_writing(self) -> None:
        self.paused += 1

    def resume_writing(self) -> None:
        self.resumed += 1

    def link_up(self) -> None:
        self.up += 1


@pytest.fixture
def loop() -> Iterator[FakeLoop]:
    fake = FakeLoop()
    yield fake
    fake.close()


@pytest.fixture
def cable() -> Iterator[Tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    yield a, b
    a.close()
    b.close()


def end(
    loop: FakeLoop,
    sock: socket.socket,
    layers: tuple,
    high_water: int = 1 << 16,
    serial: Optional[SerialSettings] = None,
) -> Tuple[LinkStream, User]:
    user = User()

    def inner(u: StreamUser) -> Stream:
        return Stream.for_socket(loop.reactor, u, sock, high_water=high_water)

    stream = LinkStream(
        loop.reactor,
        user,
        lambda timer: build_link(layers, timer, serial),
        inner,
        high_water=high_water,
        on_up=user.link_up,
    )
    stream.resume_reading()
    return stream, user


RELPKT_CLIENT = (RelPktLayer(server=False), MsgDelimLayer())
RELPKT_SERVER = (RelPktLayer(server=True), MsgDelimLayer())


def relpkt_pair(
    loop: FakeLoop, cable: Tuple[socket.socket, socket.socket], **kwargs: object
) -> Tuple[LinkStream, User, LinkStream, User]:
    b, ub = end(loop, cable[1], RELPKT_SERVER, **kwargs)  # type: ignore[arg-type]
    a, ua = end(loop, cable[0], RELPKT_CLIENT, **kwargs)  # type: ignore[arg-type]
    loop.until(lambda: ua.up == 1 and ub.up == 1)
    return a, ua, b, ub


def test_relpkt_ends_come_up_and_carry_bytes_both_ways(loop: FakeLoop, cable) -> None:
    a, ua, b, ub = relpkt_pair(loop, cable)
    payload = bytes(range(256)) * 40
    a.write(payload)
    b.write(b"answer")
    loop.until(lambda: len(ub.received) == len(payload) and ua.received == b"answer")
    assert ub.received == payload
    loop.until(lambda: a.queued == 0)
    assert a.bytes_written == len(payload)


def test_bytes_written_before_the_link_is_up_wait_for_it(loop: FakeLoop, cable) -> None:
    a, ua = end(loop, cable[0], RELPKT_CLIENT)
    a.write(b"early")
    assert a.queued == 5
    b, ub = end(loop, cable[1], RELPKT_SERVER)
    loop.until(lambda: ub.received == b"early")


def test_a_graceful_close_waits_for_acks_and_the_answer(loop: FakeLoop, cable) -> None:
    a, ua, b, ub = relpkt_pair(loop, cable)
    a.write(b"last words")
    a.close_after_flush(5.0)
    loop.until(lambda: ua.lost and ub.lost)
    assert ub.received == b"last words"
    assert ua.lost == [None]
    lost = ub.lost[0]
    assert isinstance(lost, LinkError)
    assert (lost.reason, lost.opened, lost.failed) == ("closed by the far end", True, False)


def test_a_close_carries_an_error_for_a_pyser2net_far_end(loop: FakeLoop, cable) -> None:
    a, ua, b, ub = relpkt_pair(loop, cable)
    b.close_after_flush(5.0, error=28)
    loop.until(lambda: bool(ua.lost))
    lost = ua.lost[0]
    assert isinstance(lost, LinkError)
    assert lost.reason == "closed by the far end: Connection refused"


def test_close_now_sends_one_close_and_calls_nobody_back(loop: FakeLoop, cable) -> None:
    a, ua, b, ub = relpkt_pair(loop, cable)
    a.close()
    loop.until(lambda: bool(ub.lost))
    assert ua.lost == []
    assert isinstance(ub.lost[0], LinkError)


def test_a_silent_far_end_ends_the_link_after_six_seconds(loop: FakeLoop, cable) -> None:
    a, ua, b, ub = relpkt_pair(loop, cable)
    b.inner.pause_reading()  # the far end stops listening ...
    b.timer.cancel()  # ... and talking
    for _ in range(70):
        loop.advance(0.1)
    assert len(ua.lost) == 1
    lost = ua.lost[0]
    assert isinstance(lost, LinkError) and lost.opened
    assert lost.reason == "the far end stopped answering (relpkt timed out)"


def test_no_far_end_is_an_open_failure(loop: FakeLoop, cable) -> None:
    a, ua = end(loop, cable[0], RELPKT_CLIENT)
    for _ in range(65):
        loop.advance(0.1)
    lost = ua.lost[0]
    assert isinstance(lost, LinkError) and not lost.opened
    assert lost.reason == "the far end did not answer (relpkt open timed out)"


def test_a_paused_user_holds_delivery_while_the_link_stays_up(loop: FakeLoop, cable) -> None:
    a, ua, b, ub = relpkt_pair(loop, cable)
    b.pause_reading()
    a.write(bytes(123 * 40))
    for _ in range(100):
        loop.advance(0.1)
    assert ub.received == b""
    assert ua.lost == [] and ub.lost == []
    assert a.queued > 0
    b.resume_reading()
    loop.until(lambda: len(ub.received) == 123 * 40)


def test_water_marks_follow_the_unacknowledged_bytes(loop: FakeLoop, cable) -> None:
    a, ua, b, ub = relpkt_pair(loop, cable, high_water=4000)
    a.write(bytes(10000))
    assert ua.paused == 1
    loop.until(lambda: ua.resumed == 1)
    loop.until(lambda: len(ub.received) == 10000)


def test_line_rate_comes_from_the_serial_settings() -> None:
    assert line_rate(SerialSettings(speed=115200)) == 11520
    assert line_rate(SerialSettings(speed=9600, parity="even", stopbits=2)) == 800
    assert line_rate(None) is None
    link = build_link(RELPKT_CLIENT, FakeTimer(), SerialSettings(speed=115200))
    assert 0.7 < link.resend_time < 0.9  # type: ignore[union-attr]


def test_msgdelim_alone_is_up_at_once(loop: FakeLoop, cable) -> None:
    a, ua = end(loop, cable[0], (MsgDelimLayer(writebuf=10),))
    b, ub = end(loop, cable[1], (MsgDelimLayer(readbuf=10),))
    assert ua.up == 1 and ub.up == 1
    a.write(b"0123456789abcdefghij!")
    loop.until(lambda: ub.received == b"0123456789abcdefghij!")


def test_serialtcp_ends_connect_and_carry_the_escape_byte(loop: FakeLoop, cable) -> None:
    server, us = end(loop, cable[0], (SerialTcpLayer(server=True),))
    client, uc = end(loop, cable[1], (SerialTcpLayer(server=False),))
    server.write(b"before \x1f start")
    loop.until(lambda: uc.up == 1)
    assert us.up == 0
    client.far_end_ready()
    loop.until(lambda: us.up == 1)
    loop.until(lambda: uc.received == b"before \x1f start")
    client.write(b"\x1f\x1f back")
    loop.until(lambda: us.received == b"\x1f\x1f back")
    client.close_after_flush(1.0)
    loop.until(lambda: bool(us.lost) and bool(uc.lost))
    assert uc.lost == [None]
    lost = us.lost[0]
    assert isinstance(lost, LinkError) and lost.reason == "closed by the far end"


def test_serialtcp_client_refusing_reports_a_failed_connect(loop: FakeLoop, cable) -> None:
    server, us = end(loop, cable[0], (SerialTcpLayer(server=True),))
    client, uc = end(loop, cable[1], (SerialTcpLayer(server=False),))
    loop.until(lambda: uc.up == 1)
    client.close_after_flush(1.0)  # the connection on was refused
    loop.until(lambda: bool(us.lost))
    lost = us.lost[0]
    assert isinstance(lost, LinkError) and not lost.opened
    assert lost.reason == "the far end could not connect"


def test_the_device_going_away_ends_the_link(loop: FakeLoop, cable) -> None:
    a, ua, b, ub = relpkt_pair(loop, cable)
    cable[1].close()
    loop.until(lambda: bool(ua.lost))
    assert isinstance(ua.lost[0], StreamError)


def test_a_close_the_far_end_never_answers_gives_up_at_the_deadline(loop: FakeLoop, cable) -> None:
    a, ua, b, ub = relpkt_pair(loop, cable)
    b.inner.pause_reading()
    b.timer.cancel()
    a.write(b"never acknowledged")
    a.close_after_flush(3.0)
    for _ in range(40):
        loop.advance(0.1)
    assert len(ua.lost) == 1 and isinstance(ua.lost[0], DrainTimeout)
