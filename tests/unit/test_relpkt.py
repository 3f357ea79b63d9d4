"""relpkt: gensio's reliable packets over msgdelim, driven by bytes and a fake timer."""

from __future__ import annotations

import random
from typing import Callable, List, Optional, Tuple

import pytest
from fakeloop import FakeTimer
from hypothesis import given, settings
from hypothesis import strategies as st

from pyser2net.protocol.events import Data, Event, LinkDown, LinkUp
from pyser2net.protocol.msgdelim import MsgDelim
from pyser2net.protocol.relpkt import RelPkt, State, resend_time_for

#: What ser2net 4.3.11 sends when its relpkt connector opens (captured).
SER2NET_INIT = bytes.fromhex("fe01100010007b88c5fe01")


def end(server: bool, **kwargs: object) -> Tuple[RelPkt, FakeTimer]:
    timer = FakeTimer()
    return RelPkt(MsgDelim(), timer, server=server, **kwargs), timer  # type: ignore[arg-type]


def packets(wire: bytes) -> List[bytes]:
    """The relpkt packets in some bytes on the line."""
    return MsgDelim().messages(wire)


def frame(*pkts: bytes) -> bytes:
    m = MsgDelim()
    return b"".join(m.frame(p) for p in pkts)


def payload(events: List[Event]) -> bytes:
    return b"".join(e.data for e in events if isinstance(e, Data))


class Link:
    """Two ends and the line between them, which may lose packets."""

    def __init__(self, **kwargs: object) -> None:
        self.a, self.ta = end(False, **kwargs)
        self.b, self.tb = end(True, **kwargs)
        self.to_a = bytearray()
        self.to_b = bytearray()
        self.got_a = bytearray()
        self.got_b = bytearray()
        self.events_a: List[Event] = []
        self.events_b: List[Event] = []
        #: Called with each packet on the line; False drops it.
        self.keep: Callable[[str, bytes], bool] = lambda side, pkt: True
        self.time = 0.0
        self.b.start()
        self.to_b += self.a.start()

    def _line(self, side: str, wire: bytes) -> bytes:
        kept = [p for p in packets(wire) if self.keep(side, p)]
        return frame(*kept) if kept else b""

    def run(self, max_steps: int = 10000, until: Optional[Callable[[], bool]] = None) -> None:
        """Carry the bytes on the line; with ``until``, let time pass too
        (until it holds, or both ends are idle)."""
        for _ in range(max_steps):
            if until is not None and until():
                return
            if self.to_b:
                wire, self.to_b = bytes(self.to_b), bytearray()
                events = self.b.receive(self._line("b", wire))
                self.events_b += events
                self.got_b += payload(events)
                self.to_a += self.b.data_to_send()
            elif self.to_a:
                wire, self.to_a = bytes(self.to_a), bytearray()
                events = self.a.receive(self._line("a", wire))
                self.events_a += events
                self.got_a += payload(events)
                self.to_b += self.a.data_to_send()
            else:
                if until is None or (self.ta.delay is None and self.tb.delay is None):
                    return
                self.tick()

    def tick(self) -> None:
        """Let the next timer of either end expire."""
        delays = [t.delay for t in (self.ta, self.tb) if t.delay is not None]
        step = min(delays)
        self.time += step
        for r, t, events, out in (
            (self.a, self.ta, self.events_a, self.to_b),
            (self.b, self.tb, self.events_b, self.to_a),
        ):
            if t.delay is None:
                continue
            t.delay -= step
            if t.delay <= 1e-9:
                t.delay = None
                events += r.timer_expired()
                out += r.data_to_send()


def test_a_client_opens_with_close_then_the_init_ser2net_sends() -> None:
    """ser2net sends the INIT alone; the CLOSE before it ends a session
    the far end may still hold, which it would otherwise answer with."""
    client, timer = end(False)
    wire = client.start()
    assert wire.startswith(bytes.fromhex("fe01400000"))
    assert packets(wire) == [bytes((0x40, 0, 0)), bytes.fromhex("100010007b")]
    assert wire.endswith(SER2NET_INIT[2:])  # the INIT, byte for byte
    assert client.state is State.CONNECTING
    assert timer.delay == client.tick


def test_a_server_answers_ser2net_init_and_is_open() -> None:
    server, timer = end(True)
    assert server.start() == b""
    assert server.receive(SER2NET_INIT) == [LinkUp()]
    assert packets(server.data_to_send()) == [bytes.fromhex("110010007b")]
    assert server.is_open and timer.delay is not None


def test_data_packets_carry_ack_and_sequence() -> None:
    link = Link()
    link.run()
    assert link.events_a == [LinkUp()] and link.events_b == [LinkUp()]
    wire = link.a.send(b"hello")
    assert packets(wire) == [bytes((0x20, 0, 0)) + b"hello"]
    events = link.b.receive(wire)
    assert events == [Data(b"hello")]
    # The delivery is acknowledged: ack 1 (next to deliver), no payload.
    assert packets(link.b.data_to_send()) == [bytes((0x20, 1, 0))]


def test_bytes_are_cut_into_packets_of_the_negotiated_size() -> None:
    link = Link()
    link.b.max_pktsize = 50  # what the far end offers is the limit
    link.run()
    assert link.a.send_pktsize == 50 and link.b.send_pktsize == 50
    wire = link.a.send(bytes(200))
    assert [len(p) - 3 for p in packets(wire)] == [50, 50, 50, 50]


def test_the_window_bounds_packets_in_flight() -> None:
    link = Link(max_packets=4)
    link.run()
    wire = link.a.send(bytes(123 * 10))
    assert len(packets(wire)) == 4
    assert link.a.unacked == 4 and link.a.buffered == 123 * 10
    link.to_b += wire
    link.run()
    assert link.got_b == bytes(123 * 10)
    assert link.a.buffered == 0


def test_keepalive_acks_once_a_timeout_and_the_link_stays_up() -> None:
    link = Link()
    link.run()
    for _ in range(40):
        link.tick()
        link.run()
    assert link.time >= 10
    assert link.a.is_open and link.b.is_open


def test_init_is_sent_six_times_then_the_open_fails() -> None:
    client, timer = end(False)
    inits = packets(client.start())[1:]
    events: List[Event] = []
    elapsed = 0.0
    while timer.delay is not None:
        elapsed += timer.delay
        timer.delay = None
        events += client.timer_expired()
        inits += packets(client.data_to_send())
    assert len(inits) == 6 and all(p == bytes.fromhex("100010007b") for p in inits)
    assert events == [LinkDown("the far end did not answer (relpkt open timed out)")]
    assert 5.9 < elapsed < 6.1


def test_a_silent_far_end_is_given_up_after_six_timeouts() -> None:
    link = Link()
    link.run()
    link.keep = lambda side, pkt: False  # the cable is cut
    link.run(until=lambda: not link.a.is_open)
    assert LinkDown("the far end stopped answering (relpkt timed out)") in link.events_a
    assert 5.9 < link.time < 6.6


def test_a_lost_packet_is_asked_for_and_sent_again() -> None:
    link = Link()
    link.run()
    lost = []

    def keep(side: str, pkt: bytes) -> bool:
        if side == "b" and pkt[0] == 0x20 and len(pkt) > 3 and pkt[2] == 1 and not lost:
            lost.append(pkt)
            return False
        return True

    link.keep = keep
    link.to_b += link.a.send(b"A" * 123 + b"B" * 123 + b"C" * 123)
    wire = bytes(link.to_b)
    link.to_b.clear()
    link.got_b += payload(link.b.receive(link._line("b", wire)))
    reply = link.b.data_to_send()
    requests = [p for p in packets(reply) if p[0] >> 4 == 3]
    assert requests == [bytes((0x30, 1, 1))]  # RESEND 1..1
    link.to_a += reply
    link.run()
    assert link.got_b == b"A" * 123 + b"B" * 123 + b"C" * 123
    assert link.a.counters.packets_resent == 1
    assert link.time == 0  # no timer was needed


def test_a_lost_last_packet_is_sent_again_after_the_resend_time() -> None:
    link = Link(line_rate=11520)
    link.run()
    dropped = []

    def keep(side: str, pkt: bytes) -> bool:
        if side == "b" and len(pkt) > 3 and not dropped:
            dropped.append(pkt)
            return False
        return True

    link.keep = keep
    link.to_b += link.a.send(b"tail")
    link.run(until=lambda: bytes(link.got_b) == b"tail")
    assert link.got_b == b"tail"
    assert link.a.resend_time <= link.time < 2 * link.a.resend_time + 1e-6


def test_resend_time_follows_the_line_speed() -> None:
    assert resend_time_for(None, 16, 123, 1.0) == 1.0  # gensio's, when the speed is unknown
    assert 0.7 < resend_time_for(11520, 16, 123, 1.0) < 0.9  # 115200 baud
    assert resend_time_for(960, 16, 123, 1.0) == 3.0  # 9600 baud: before the far end gives up
    assert resend_time_for(10**9, 16, 123, 1.0) == pytest.approx(0.1, abs=1e-3)


def test_a_duplicate_is_dropped_and_acknowledged_again() -> None:
    link = Link()
    link.run()
    wire = link.a.send(b"once")
    assert payload(link.b.receive(wire)) == b"once"
    link.b.data_to_send()
    assert link.b.receive(wire) == []
    assert packets(link.b.data_to_send()) == [bytes((0x20, 1, 0))]
    assert link.b.counters.duplicates == 1


def test_sequence_numbers_wrap() -> None:
    link = Link()
    link.run()
    data = bytes(random.Random(3).randrange(256) for _ in range(123 * 700))
    for i in range(0, len(data), 123 * 32):
        link.to_b += link.a.send(data[i : i + 123 * 32])
        link.run()
    assert link.got_b == data
    assert link.a.counters.packets_sent == 700


def test_a_paused_end_holds_data_and_acks_until_resumed() -> None:
    link = Link(max_packets=4)
    link.run()
    link.b.pause()
    link.to_b += link.a.send(bytes(123 * 6))
    link.run(max_steps=20)
    assert link.got_b == b""
    assert link.a.unacked == 4  # the window is full: the sender waits
    events = link.b.resume()
    link.got_b += payload(events)
    link.to_a += link.b.data_to_send()
    link.run()
    assert link.got_b == bytes(123 * 6)


def test_close_waits_for_acks_then_closes_with_an_answer() -> None:
    link = Link()
    link.run()
    wire = link.a.send(b"last words")
    wire += link.a.close()
    assert link.a.state is State.DRAINING
    assert all(p[0] != 0x40 for p in packets(wire))
    link.to_b += wire
    link.run()
    assert link.got_b == b"last words"
    assert link.events_a[-1] == LinkDown("closed", error=False)
    assert link.events_b[-1] == LinkDown("closed by the far end", error=False)


def test_close_packet_is_as_gensio_sends_it() -> None:
    link = Link()
    link.run()
    assert packets(link.a.close()) == [bytes((0x40, 0, 0))]


def test_an_unanswered_close_gives_up() -> None:
    link = Link()
    link.run()
    link.keep = lambda side, pkt: False
    link.to_b += link.a.close()
    link.run(until=lambda: link.a.state is State.CLOSED)
    assert link.events_a[-1] == LinkDown("the far end did not answer the close", error=False)


def test_a_lost_init_answer_is_answered_again() -> None:
    link = Link()
    answers = []

    def keep(side: str, pkt: bytes) -> bool:
        if side == "a" and pkt[0] == 0x11 and not answers:
            answers.append(pkt)
            return False
        return True

    link.keep = keep
    link.run(until=lambda: link.a.is_open)
    assert link.a.is_open and link.b.is_open
    assert 0.9 < link.time < 1.1


def test_an_init_from_a_restarted_gensio_client_ends_the_old_session() -> None:
    link = Link()
    link.run()
    link.to_b += link.a.send(b"x")
    link.run()
    assert link.b.receive(SER2NET_INIT) == [LinkDown("the far end started a new connection")]


def test_a_restarted_client_ends_a_stale_session_before_its_init() -> None:
    link = Link()
    link.run()
    link.to_b += link.a.send(b"x")
    link.run()
    fresh, _ = end(False)
    events = link.b.receive(fresh.start())
    assert events == [LinkDown("closed by the far end", error=False)]


def test_a_listening_server_answers_stale_data_with_close() -> None:
    server, _ = end(True)
    server.start()
    assert server.receive(frame(bytes((0x20, 5, 9)) + b"old")) == []
    assert packets(server.data_to_send()) == [bytes((0x40, 0, 0))]


def test_the_far_end_of_a_stale_session_closes_on_that_answer() -> None:
    link = Link()
    link.run()
    assert link.a.receive(frame(bytes((0x40, 0, 0)))) == [
        LinkDown("closed by the far end", error=False)
    ]


def test_two_clients_opening_together_connect() -> None:
    a, _ = end(False)
    b, _ = end(False)
    wa, wb = a.start(), b.start()
    assert a.receive(wb) == [LinkUp()]
    assert b.receive(wa + a.data_to_send()) == [LinkUp()]


@pytest.mark.parametrize(
    "pkt",
    [
        b"",
        b"\x20",
        bytes((0x10, 0, 0, 0, 1)),
        bytes((0x10, 0, 16)),
        b"\x90\x00\x00",
        bytes((0x30, 7)),
        bytes((0x30, 200, 201)),
        bytes((0x20, 77, 0)),
        bytes((0x20, 0, 0)) + bytes(124),
    ],
)
def test_nonsense_packets_are_dropped(pkt: bytes) -> None:
    link = Link()
    link.run()
    assert link.b.receive(frame(pkt) if pkt else b"\xfe\x01\xfe\x01") == []
    assert link.b.is_open


@settings(max_examples=60, deadline=None)
@given(
    st.integers(min_value=0, max_value=2**32),
    st.floats(min_value=0.0, max_value=0.3),
    st.integers(min_value=1, max_value=16),
)
def test_any_pattern_of_lost_packets_still_delivers_everything_in_order(
    seed: int, loss: float, window: int
) -> None:
    rng = random.Random(seed)
    link = Link(max_packets=window, line_rate=11520)
    link.keep = lambda side, pkt: rng.random() >= loss
    link.run(until=lambda: link.a.is_open and link.b.is_open)
    if not (link.a.is_open and link.b.is_open):
        return  # the open itself was lost six times: a fair outcome
    data_ab = bytes(rng.randrange(256) for _ in range(3000))
    data_ba = bytes(rng.randrange(256) for _ in range(2000))
    link.to_b += link.a.send(data_ab)
    link.to_a += link.b.send(data_ba)
    link.run(
        max_steps=100000,
        until=lambda: len(link.got_b) >= len(data_ab) and len(link.got_a) >= len(data_ba),
    )
    down = [e for e in link.events_a + link.events_b if isinstance(e, LinkDown)]
    if down:
        # Only a long run of losses may end the link, and nothing wrong was delivered.
        assert data_ab.startswith(bytes(link.got_b)) and data_ba.startswith(bytes(link.got_a))
        return
    assert link.got_b == data_ab and link.got_a == data_ba


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_garbage_on_the_line_never_raises(noise: bytes) -> None:
    link = Link()
    link.run()
    link.a.receive(noise)
    link.b.receive(noise)
    link.a.receive(frame(noise[:130]))
    link.b.receive(frame(noise[:130]))


def test_a_close_may_say_why_and_the_far_end_logs_it() -> None:
    """gensio sends 0 in the CLOSE error field and ignores it; a pyser2net
    end uses it to say the far connection was refused."""
    from pyser2net.protocol.relpkt import GE_CONNREFUSE

    link = Link()
    link.run()
    wire = link.b.close(error=GE_CONNREFUSE)
    assert packets(wire) == [bytes((0x40, 0, 28))]
    assert link.a.receive(wire) == [LinkDown("closed by the far end: Connection refused")]


def opened_client() -> RelPkt:
    """A client that opened with a far end offering gensio's defaults."""
    client, _ = end(False)
    client.start()
    assert client.receive(frame(bytes.fromhex("110010007b"))) == [LinkUp()]
    return client


def far_data(ack: int, first_seq: int, count: int, size: int) -> bytes:
    """``count`` data packets of ``size`` bytes from the far end, each acking ``ack``."""
    return frame(*(bytes((0x20, ack, (first_seq + i) & 0xFF)) + bytes(size) for i in range(count)))


def test_a_far_end_sending_gensio_sized_packets_as_fast_gets_no_more_bytes_in_flight() -> None:
    """ser2net fills its window with 64-byte packets: 1024 bytes.  Two
    windows of ours (32 packets of 123 bytes) with that much coming back
    limit what we keep in flight to the bytes of its window: 8 packets of
    123 (984 bytes), not 16 (1968), so its acknowledgements do not wait
    behind twice its window of our data on the line."""
    client = opened_client()
    sent = packets(client.send(bytes(123 * 200)))
    assert [p[2] for p in sent] == list(range(16)) and client.byte_limit is None
    # The far end acknowledges them and sends 16 packets of its own.
    client.receive(far_data(16, 0, 16, 64))
    sent = packets(client.data_to_send())
    assert [(p[1], p[2], len(p) - 3) for p in sent] == [(16, s, 123) for s in range(16, 32)]
    assert client.byte_limit == 16 * 64
    # It acknowledges all 32 and sends 16 more: 8 packets go, 984 bytes.
    client.receive(far_data(32, 16, 16, 64))
    sent = packets(client.data_to_send())
    assert [(p[1], p[2]) for p in sent] == [(32, s) for s in range(32, 40)]
    assert client.unacked == 8
    # One acknowledged: one more fits (7 * 123 + 123 <= 1024).
    client.receive(frame(bytes((0x20, 33, 0))))
    assert [p[2] for p in packets(client.data_to_send())] == [40]


def test_a_far_end_that_only_answers_leaves_the_whole_window() -> None:
    """A far end that sends a byte now and then (someone typing) or only
    acknowledges is not starved by our data: the whole window is used."""
    client = opened_client()
    wire = client.send(bytes(123 * 200))
    for round_ in range(4):
        sent = packets(wire)
        assert len(sent) == 16, round_
        client.receive(far_data((sent[-1][2] + 1) & 0xFF, round_, 1, 1))
        wire = client.data_to_send()
    assert client.byte_limit is None


def test_the_limit_goes_once_the_far_end_stops_sending() -> None:
    client = opened_client()
    client.send(bytes(123 * 200))
    client.receive(far_data(16, 0, 16, 64))
    client.data_to_send()
    assert client.byte_limit == 1024
    # Acknowledgements alone from now on: after two windows, the whole window.
    acked = 32
    for _ in range(8):
        if client.byte_limit is None:
            break
        client.receive(frame(bytes((0x20, acked, 0))))
        acked = (acked + len(packets(client.data_to_send()))) & 0xFF
    assert client.byte_limit is None
    client.receive(frame(bytes((0x20, acked, 0))))
    assert len(packets(client.data_to_send())) == 16
