"""serialtcp: the in-band protocol of serialtcp.py, from its description.

The vectors below are written from the protocol as described (escape 0x1F,
codes C c F D s, hello 0xE0, sync pairs 0xC1-C3/0xE1-E3), not captured
from the program.
"""

from __future__ import annotations

from typing import List, Tuple

from fakeloop import FakeTimer
from hypothesis import given, settings
from hypothesis import strategies as st

from pyser2net.protocol.events import Data, Event, LinkDown, LinkUp
from pyser2net.protocol.serialtcp import SerialTcp, State

ESC = b"\x1f"
D, C, c, F, s = ESC + b"D", ESC + b"C", ESC + b"c", ESC + b"F", ESC + b"s"
HELLO = ESC + b"\xe0"
C1, C2, C3 = ESC + b"\xc1", ESC + b"\xc2", ESC + b"\xc3"
E1, E2, E3 = ESC + b"\xe1", ESC + b"\xe2", ESC + b"\xe3"


def make(server: bool) -> Tuple[SerialTcp, FakeTimer]:
    timer = FakeTimer()
    return SerialTcp(timer, server=server), timer


def synced_server() -> SerialTcp:
    server, _ = make(True)
    server.start()
    server.receive(C1 + C2 + C3)
    server.data_to_send()
    return server


def synced_client() -> SerialTcp:
    client, _ = make(False)
    client.start()
    client.receive(E1 + E2 + E3)
    client.data_to_send()
    return client


def payload(events: List[Event]) -> bytes:
    return b"".join(e.data for e in events if isinstance(e, Data))


def test_the_server_greets_with_disconnect_disconnect_hello() -> None:
    server, timer = make(True)
    assert server.start() == D + D + HELLO
    assert timer.delay == 1.0


def test_the_client_greets_with_disconnect_disconnect_c1() -> None:
    client, timer = make(False)
    assert client.start() == D + D + C1
    assert timer.delay == 1.0


def test_the_server_answers_each_sync_step_then_asks_to_connect() -> None:
    server, _ = make(True)
    server.start()
    assert server.receive(C1) == [] and server.data_to_send() == E1
    assert server.receive(C2) == [] and server.data_to_send() == E2
    assert server.receive(C3) == [] and server.data_to_send() == E3 + C
    assert server.state is State.CONNECTING


def test_the_client_steps_through_the_sync_and_waits_for_connect() -> None:
    client, timer = make(False)
    client.start()
    client.receive(E1)
    assert client.data_to_send() == C2
    client.receive(E2)
    assert client.data_to_send() == C3
    client.receive(E3)
    assert client.data_to_send() == b""
    assert client.state is State.WAIT_CONNECT and timer.delay is None


def test_connect_then_connected_then_start_opens_both_ends() -> None:
    server, client = synced_server(), synced_client()
    assert client.receive(C) == [LinkUp()]
    assert client.far_end_ready() == c + s
    assert server.receive(c + s) == [LinkUp()]
    assert server.data_to_send() == s
    assert server.is_open and client.is_open


def test_data_with_the_escape_byte_doubles_it() -> None:
    server = synced_server()
    server.receive(c + s)
    server.data_to_send()
    assert server.send(b"a\x1fb\x1f\x1f") == b"a\x1f\x1fb\x1f\x1f\x1f\x1f"


def test_a_doubled_escape_is_one_literal_byte() -> None:
    client = synced_client()
    client.receive(C)
    client.far_end_ready()
    assert client.receive(s + b"a\x1f\x1fb") == [Data(b"a\x1fb")]


def test_bytes_before_start_are_dropped() -> None:
    server = synced_server()
    assert server.receive(b"junk" + c + b"more junk\x1f\x1f" + s + b"data") == [
        LinkUp(),
        Data(b"data"),
    ]


def test_the_client_reports_a_failed_connect_with_f() -> None:
    client = synced_client()
    client.receive(C)
    assert client.close() == F
    assert client.state is State.CLOSED


def test_the_server_hears_connect_failed() -> None:
    server = synced_server()
    assert server.receive(F) == [LinkDown("the far end could not connect")]


def test_disconnect_ends_an_open_session_either_way() -> None:
    server = synced_server()
    server.receive(c + s)
    assert server.data_to_send() == s
    assert server.close() == D
    client = synced_client()
    client.receive(C)
    client.far_end_ready()
    assert client.receive(s + b"bye" + D) == [
        Data(b"bye"),
        LinkDown("closed by the far end", error=False),
    ]


def test_an_escape_split_across_reads_is_kept() -> None:
    client = synced_client()
    client.receive(C)
    client.far_end_ready()
    client.receive(s)
    assert client.receive(b"x\x1f") == [Data(b"x")]
    assert client.receive(b"\x1fy\x1f") == [Data(b"\x1fy")]
    assert client.receive(b"D") == [LinkDown("closed by the far end", error=False)]


def test_a_repeated_step_is_ignored() -> None:
    server, _ = make(True)
    server.start()
    server.receive(C1 + C2)
    server.data_to_send()
    assert server.receive(C2) == [] and server.data_to_send() == b""
    server.receive(C3)
    assert server.data_to_send() == E3 + C


def test_an_out_of_order_step_restarts_the_sync() -> None:
    server, _ = make(True)
    server.start()
    server.receive(C1)
    server.data_to_send()
    server.receive(C3)
    assert server.data_to_send() == D + D + HELLO


def test_a_hello_restarts_the_client_at_once() -> None:
    client, _ = make(False)
    client.start()
    client.receive(E1)
    client.data_to_send()
    client.receive(HELLO)
    assert client.data_to_send() == D + D + C1


def test_an_unanswered_step_is_tried_again_waiting_longer() -> None:
    client, timer = make(False)
    client.start()
    delays = []
    for _ in range(4):
        assert timer.delay is not None
        delays.append(timer.delay)
        client.timer_expired()
        assert client.data_to_send() == D + D + C1
    assert delays == [1.0, 1.5, 2.25, 3.375]


def test_a_server_gives_up_after_the_connect_timeout() -> None:
    server, timer = make(True)
    server.start()
    events: List[Event] = []
    elapsed = 0.0
    while timer.delay is not None:
        elapsed += timer.delay
        timer.delay = None
        events += server.timer_expired()
    assert events == [LinkDown("no answer from the far end of the serial line")]
    assert elapsed == 10.0


def test_a_server_waiting_for_connected_gives_up_with_disconnect() -> None:
    server, timer = make(True)
    server.start()
    server.receive(C1 + C2 + C3)
    server.data_to_send()
    events: List[Event] = []
    while timer.delay is not None:
        timer.delay = None
        events += server.timer_expired()
    assert events == [LinkDown("the far end did not answer the connect request")]
    assert server.data_to_send() == D


def test_nothing_is_sent_before_the_session_is_open() -> None:
    server = synced_server()
    assert server.send(b"early") == b""


def pump(
    a: SerialTcp, b: SerialTcp, wire_ab: bytes, wire_ba: bytes, got: List[List[Event]]
) -> None:
    for _ in range(20):
        if not wire_ab and not wire_ba:
            return
        events = b.receive(wire_ab)
        got[1] += events
        wire_ab = b""
        wire_ba += b.data_to_send()
        if any(isinstance(e, LinkUp) for e in events) and not b.server:
            wire_ba += b.far_end_ready()
        events = a.receive(wire_ba)
        got[0] += events
        wire_ba = b""
        wire_ab += a.data_to_send()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=8), st.lists(st.binary(max_size=300), max_size=8))
def test_both_ends_carry_any_bytes_exactly(to_client: List[bytes], to_server: List[bytes]) -> None:
    server, _ = make(True)
    client, _ = make(False)
    got: List[List[Event]] = [[], []]
    pump(server, client, server.start(), client.start(), got)
    assert server.is_open and client.is_open
    for chunk in to_client:
        pump(server, client, server.send(chunk), b"", got)
    for chunk in to_server:
        pump(server, client, b"", client.send(chunk), got)
    assert payload(got[1]) == b"".join(to_client)
    assert payload(got[0]) == b"".join(to_server)
