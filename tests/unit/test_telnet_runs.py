"""Runs of RFC 2217 settings requests parsed in one step (``com_port_runs``):
the same requests, in the same order, as parsed one by one."""

from __future__ import annotations

from typing import List

from hypothesis import given, settings
from hypothesis import strategies as st

from pyser2net.protocol.telnet import (
    MAX_RUN,
    ComPortCommand,
    ComPortRequest,
    ComPortRun,
    Data,
    Event,
    TelnetServerCodec,
    com_port_answer,
    run_requests,
)

IAC, SB, SE = 255, 250, 240


def sb(*payload: int) -> bytes:
    return bytes((IAC, SB, 44)) + bytes(payload).replace(b"\xff", b"\xff\xff") + bytes((IAC, SE))


def baud(value: int) -> bytes:
    return sb(1, *value.to_bytes(4, "big"))


def expand(events: List[Event]) -> List[Event]:
    """Runs as the requests they hold; payload joined."""
    out: List[Event] = []
    for event in events:
        if isinstance(event, ComPortRun):
            out.extend(ComPortRequest(c, v) for c, v in run_requests(event.items))
        elif isinstance(event, Data) and out and isinstance(out[-1], Data):
            out[-1] = Data(out[-1].data + event.data)
        else:
            out.append(event)
    return out


def parse(chunks: List[bytes], runs: bool, limit=None) -> List[Event]:
    codec = TelnetServerCodec(rfc2217=True, com_port_runs=runs)
    events: List[Event] = []
    for chunk in chunks:
        events += codec.receive_data(chunk, limit=limit)
        while codec.input_pending:
            events += codec.receive_data(limit=limit)
    return events


def test_a_flood_of_settings_requests_comes_in_runs():
    flood = baud(9600) + b"".join(baud(v) for v in range(1, 100)) + sb(2, 7) + sb(5, 2)
    events = parse([flood], runs=True)
    assert [len(r.items) for r in events] == [MAX_RUN] * (102 // MAX_RUN) + [102 % MAX_RUN]
    assert expand(events) == parse([flood], runs=False)


def test_a_run_counts_as_one_command_against_the_limit():
    flood = b"".join(baud(1200 * (v % 5 + 1)) for v in range(MAX_RUN - 1 + 8 * MAX_RUN))
    codec = TelnetServerCodec(rfc2217=True, com_port_runs=True)
    first = codec.receive_data(flood, limit=8)
    assert [len(e.items) for e in first] == [MAX_RUN] * 8 and codec.input_pending
    rest = codec.receive_data(limit=8)
    assert [len(e.items) for e in rest] == [MAX_RUN - 1] and not codec.input_pending


def test_requests_that_runs_leave_alone():
    codec = TelnetServerCodec(rfc2217=True, com_port_runs=True)
    # DTR, a purge, a value with a doubled IAC, the Cisco form: one by one.
    for data in (
        sb(5, 8) + sb(5, 9) + sb(5, 8),
        sb(12, 1) + sb(12, 2),
        baud(0xFF) + baud(0xFF00) + baud(0xFF),
    ):
        assert not any(isinstance(e, ComPortRun) for e in codec.receive_data(data))
    codec.receive_data(sb(1, 13))  # Cisco: the answers take its form from now on
    assert not any(isinstance(e, ComPortRun) for e in codec.receive_data(baud(1) * 4))
    plain = TelnetServerCodec(rfc2217=False, com_port_runs=True)
    assert not any(isinstance(e, ComPortRun) for e in plain.receive_data(baud(1) * 4))


def test_run_answers_are_those_reply_queues():
    codec = TelnetServerCodec(rfc2217=True)
    for command, value in [
        (ComPortCommand.SET_BAUDRATE, 115200),
        (ComPortCommand.SET_BAUDRATE, 0xFFFFFFFF),
        (ComPortCommand.SET_DATASIZE, 7),
        (ComPortCommand.SET_PARITY, 3),
        (ComPortCommand.SET_STOPSIZE, 2),
        (ComPortCommand.SET_CONTROL, 16),
    ]:
        codec.reply(command, value)
        assert codec.data_to_send() == com_port_answer(command, value)


REQUEST = st.one_of(
    st.integers(0, 0xFFFFFFFF).map(baud),
    st.tuples(st.integers(2, 4), st.integers(0, 255)).map(lambda t: sb(*t)),
    st.integers(0, 19).map(lambda v: sb(5, v)),
    st.integers(0, 3).map(lambda v: sb(12, v)),
    st.sampled_from([sb(1, 13), sb(0), sb(1, 0, 0), bytes((IAC, 253, 1)), b"a\xff\xffb"]),
    st.binary(max_size=4),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(REQUEST, max_size=80), st.lists(st.integers(1, 200), max_size=6))
def test_runs_parse_to_the_same_requests_and_answers(parts, cuts):
    stream = b"".join(parts)
    chunks, at = [], 0
    for cut in cuts:
        chunks.append(stream[at : at + cut])
        at += cut
    chunks.append(stream[at:])
    for limit in (None, 8):
        assert expand(parse(chunks, runs=True, limit=limit)) == expand(
            parse(chunks, runs=False, limit=limit)
        )
