"""The telnet codec under hostile input: the worst cases of its bulk paths
give the same events and answers whatever the chunking, and ``limit``
bounds what one call does.

Feeding one byte per call never takes a bulk path (no run, no storm fits
in one byte), so it is the reference each whole or chunked feed is held to.
"""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyser2net.protocol.telnet import (
    MAX_ANSWER,
    MAX_SB_PAYLOAD,
    ComPortRequest,
    Data,
    Event,
    ModemStateMaskChanged,
    ProtocolWarning,
    TelnetServerCodec,
)

IAC, SB, SE, NOP, DM, BRK, GA = 255, 250, 240, 241, 242, 243, 249
WILL, WONT, DO, DONT = 251, 252, 253, 254


def chunks(data: bytes, cuts: Sequence[int]) -> List[bytes]:
    points = sorted({c for c in cuts if 0 < c < len(data)})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:])]


def normalise(events: List[Event]) -> List[Event]:
    out: List[Event] = []
    for event in events:
        if isinstance(event, Data) and out and isinstance(out[-1], Data):
            out[-1] = Data(out[-1].data + event.data)
        else:
            out.append(event)
    return out


def feed(
    codec: TelnetServerCodec, parts: List[bytes], limit: Optional[int] = None
) -> Tuple[List[Event], bytes]:
    """Feed ``parts``; with ``limit``, drain what each call holds back first."""
    events: List[Event] = []
    out = bytearray()
    for part in parts:
        events.extend(codec.receive_data(part, limit=limit))
        out += codec.data_to_send()
        while codec.input_pending:
            events.extend(codec.receive_data(limit=limit))
            out += codec.data_to_send()
    return events, bytes(out)


def outcome(codec: TelnetServerCodec, parts: List[bytes], limit: Optional[int] = None) -> tuple:
    events, out = feed(codec, parts, limit)
    return (
        normalise(events),
        out,
        codec.protocol_warnings,
        codec.rfc2217_active,
        codec.modemstate_mask,
        codec.linestate_mask,
        bytes(codec._sb_buf),
    )


def bytewise(data: bytes) -> List[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


codec_kwargs = st.fixed_dictionaries(
    {"rfc2217": st.booleans(), "brk_on_sync": st.booleans(), "modemstate": st.integers(0, 255)}
)
cut_lists = st.lists(st.integers(0, 4000), max_size=30)


def check_split_invariance(data: bytes, cuts: List[int], kwargs: dict) -> None:
    reference = outcome(TelnetServerCodec(**kwargs), bytewise(data))
    assert outcome(TelnetServerCodec(**kwargs), [data]) == reference
    assert outcome(TelnetServerCodec(**kwargs), chunks(data, cuts)) == reference


# Worst case 1: payload that is all (or nearly all) 0xFF, doubled or not.
ff_heavy = st.lists(
    st.sampled_from([b"\xff\xff", b"\xff\xff", b"\xff\xff", b"\xff", b"a", b"\xfe", b"\x00"]),
    max_size=1500,
).map(b"".join)


@settings(max_examples=200, deadline=None)
@given(data=ff_heavy, cuts=cut_lists, kwargs=codec_kwargs)
def test_ff_heavy_payload_split_invariance(data: bytes, cuts: List[int], kwargs: dict) -> None:
    check_split_invariance(data, cuts, kwargs)


# Worst case 2: commands alternating with payload, mostly ones without effect.
alternating = st.lists(
    st.sampled_from(
        [bytes((IAC, c)) for c in (NOP, GA, 244, 246, DM, BRK, SE, 0, 65, IAC)]
        + [b"x", b"\xfe", b"\xf1", bytes((IAC, WILL, 1)), bytes((IAC,))]
    ),
    max_size=600,
).map(b"".join)


@settings(max_examples=200, deadline=None)
@given(data=alternating, cuts=cut_lists, kwargs=codec_kwargs)
def test_alternating_commands_split_invariance(data: bytes, cuts: List[int], kwargs: dict) -> None:
    check_split_invariance(data, cuts, kwargs)


# Worst case 3: long subnegotiation bodies, with doubled and stray IACs.
sb_body = st.lists(
    st.sampled_from(
        [b"\xff\xff", b"\xff\x01", b"\xff\xfe", b"\xfe\x01", b"\xfe\x02", b"\x02"]
        + [b"z" * 50, b"\xff"]
    ),
    max_size=400,
).map(b"".join)
long_sb = st.tuples(
    st.sampled_from([44, 44, 31, 255]),
    st.sampled_from([b"", b"\x00", b"\x01", b"\x0a"]),
    sb_body,
    st.sampled_from([bytes((IAC, SE)), b"", bytes((IAC, SE)) + b"after\xff\xff"]),
).map(lambda t: bytes((IAC, SB, t[0])) + t[1] + t[2] + t[3])


@settings(max_examples=200, deadline=None)
@given(data=long_sb, cuts=cut_lists, kwargs=codec_kwargs)
def test_long_subnegotiation_split_invariance(data: bytes, cuts: List[int], kwargs: dict) -> None:
    check_split_invariance(data, cuts, kwargs)
    codec = TelnetServerCodec(**kwargs)
    codec.receive_data(data)
    assert len(codec._sb_buf) <= MAX_SB_PAYLOAD


# Worst case 4: negotiation storms, a unit of one to four negotiations
# repeated, after anything that may have set the options' states.
negotiation = st.tuples(
    st.sampled_from([WILL, WONT, DO, DONT]), st.sampled_from([0, 1, 3, 44, 200, 255])
).map(lambda t: bytes((IAC, *t)))
storm = st.tuples(
    st.lists(negotiation, max_size=6).map(b"".join),
    st.lists(negotiation, min_size=1, max_size=4).map(b"".join),
    st.integers(0, 80),
    st.sampled_from([b"", b"x", bytes((IAC,)), bytes((IAC, IAC)), bytes((IAC, DO))]),
).map(lambda t: t[0] + t[1] * t[2] + t[3])


@settings(max_examples=300, deadline=None)
@given(data=storm, cuts=cut_lists, kwargs=codec_kwargs)
def test_negotiation_storm_split_invariance(data: bytes, cuts: List[int], kwargs: dict) -> None:
    check_split_invariance(data, cuts, kwargs)


# Units that look like a storm but are not only negotiations: doubled IACs
# (payload) where a negotiation could be, after an option byte 255.
almost_storm = st.tuples(
    st.lists(
        st.one_of(
            st.tuples(st.sampled_from([WILL, WONT, DO, DONT]), st.sampled_from([44, 255])).map(
                lambda t: bytes((IAC, *t))
            ),
            st.sampled_from([b"\xff\xff", b"\xff\xff\xff\xff", b"\xfc,", b"x"]),
        ),
        min_size=1,
        max_size=4,
    ).map(b"".join),
    st.integers(4, 40),
).map(lambda t: t[0] * t[1])


@settings(max_examples=300, deadline=None)
@given(data=almost_storm, cuts=cut_lists, kwargs=codec_kwargs)
def test_almost_a_storm_split_invariance(data: bytes, cuts: List[int], kwargs: dict) -> None:
    check_split_invariance(data, cuts, kwargs)


def test_doubled_iac_after_option_255_is_payload_in_a_repeated_unit() -> None:
    # Found by the fuzzer: WONT 44, WONT 255, then payload 255 255 0xFC ','
    # repeated; the storm step took "IAC IAC IAC" for a negotiation.
    unit = bytes.fromhex("fffc2c fffcff ffffffff fc2c")
    codec = TelnetServerCodec(rfc2217=True)
    events = codec.receive_data(unit * 4)
    assert normalise(events) == [Data(b"\xff\xff\xfc," * 4)]


any_hostile = st.lists(st.one_of(ff_heavy, alternating, long_sb, storm), max_size=4).map(b"".join)


@settings(max_examples=300, deadline=None)
@given(data=any_hostile, cuts=cut_lists, kwargs=codec_kwargs, limit=st.integers(1, 6))
def test_limit_changes_nothing_but_pace(
    data: bytes, cuts: List[int], kwargs: dict, limit: int
) -> None:
    reference = outcome(TelnetServerCodec(**kwargs), [data])
    assert outcome(TelnetServerCodec(**kwargs), chunks(data, cuts), limit) == reference


@settings(max_examples=300, deadline=None)
@given(data=any_hostile, kwargs=codec_kwargs, limit=st.integers(1, 6))
def test_limit_bounds_each_call(data: bytes, kwargs: dict, limit: int) -> None:
    codec = TelnetServerCodec(**kwargs)
    events = codec.receive_data(data, limit=limit)
    while True:
        # An engine answering every request at once still stays in bounds.
        for event in events:
            if isinstance(event, ComPortRequest):
                codec.reply(event.command, event.value & 0xFF)
        assert len(codec.data_to_send()) <= limit * MAX_ANSWER
        # Warnings have their own bound (MAX_WARNINGS per connection).
        assert sum(not isinstance(e, (Data, ProtocolWarning)) for e in events) <= 2 * limit
        if not codec.input_pending:
            break
        events = codec.receive_data(limit=limit)


# ------------------------------------------------------------ limit, by hand


def test_limit_holds_the_rest_of_a_storm() -> None:
    # A storm goes on in pieces: each call queues at most limit x MAX_ANSWER
    # bytes of answers (here some 1200 of the 3-byte answers a call).
    codec = TelnetServerCodec()
    storm = bytes((IAC, DO, 200)) * 10000 + b"tail"
    events: List[Event] = []
    answers = calls = 0
    data = storm
    while data or codec.input_pending:
        events += codec.receive_data(data, limit=10)
        data = b""
        out = codec.data_to_send()
        assert len(out) <= 10 * MAX_ANSWER
        assert out == bytes((IAC, WONT, 200)) * (len(out) // 3)
        answers += len(out) // 3
        calls += 1
    assert events == [Data(b"tail")]
    assert answers == 10000
    assert 5 <= calls <= 20
    assert codec.receive_data() == []


def test_new_data_is_parsed_after_held_input() -> None:
    codec = TelnetServerCodec(brk_on_sync=False)
    held = bytes((IAC, BRK)) * 3
    assert len(codec.receive_data(held + b"a", limit=1)) == 1
    events = codec.receive_data(b"b")  # no limit: everything, held input first
    assert normalise(events)[-1] == Data(b"ab")
    assert len(events) == 3
    assert not codec.input_pending


def test_commands_without_effect_cost_nothing_against_the_limit() -> None:
    codec = TelnetServerCodec()
    data = bytes((IAC, NOP, 65)) * 1000 + bytes((IAC, BRK))
    events = codec.receive_data(data, limit=1)
    assert events[0] == Data(b"A" * 1000)
    assert len(events) == 2
    assert not codec.input_pending


def test_storm_answers_are_the_ones_of_each_command() -> None:
    # DO/DONT flips on ECHO: every DONT after a DO is refused again.
    codec = TelnetServerCodec()
    codec.receive_data(bytes((IAC, DO, 1, IAC, DONT, 1)) * 5000)
    assert codec.data_to_send() == bytes((IAC, WONT, 1)) * 5000


def test_storm_stops_repeating_at_the_first_change() -> None:
    # The first WILL COM-PORT-OPTION changes the state (mask reported once);
    # what follows repeats, and a different command ends the run.
    codec = TelnetServerCodec(rfc2217=True, modemstate=0x30)
    data = bytes((IAC, WILL, 44)) * 50 + bytes((IAC, DO, 44)) * 3
    events = codec.receive_data(data)
    assert events == [ModemStateMaskChanged(255)]
    assert (
        codec.data_to_send()
        == bytes((IAC, SB, 44, 107, 0x30, IAC, SE)) + bytes((IAC, WONT, 44)) * 3
    )


@pytest.mark.parametrize("size", [1, 2, 3, 4097, 65536])
def test_all_ff_in_any_chunking(size: int) -> None:
    wire = b"\xff" * (2 * 70000)
    codec = TelnetServerCodec()
    events, _ = feed(codec, [wire[i : i + size] for i in range(0, len(wire), size)])
    assert b"".join(e.data for e in events if isinstance(e, Data)) == b"\xff" * 70000
    assert codec.protocol_warnings == 0


def test_garbage_in_a_huge_subnegotiation_is_counted_not_kept() -> None:
    codec = TelnetServerCodec(rfc2217=True)
    body = bytes((IAC, 1)) * 100000 + b"\x00sig"
    events = codec.receive_data(bytes((IAC, SB, 44)) + body + bytes((IAC, SE)))
    warnings = [e for e in events if isinstance(e, ProtocolWarning)]
    assert len(warnings) == 16
    assert codec.protocol_warnings == 100000
    assert len(codec.data_to_send()) > 0  # the signature request is still answered
