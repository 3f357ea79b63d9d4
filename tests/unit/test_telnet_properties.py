"""Property tests of the telnet codec: chunking never matters, escaping round-trips,
and hostile input stays bounded."""

from __future__ import annotations

from typing import List, Sequence, Tuple

from hypothesis import given, settings
from hypothesis import strategies as st

from pyser2net.protocol.telnet import (
    MAX_SB_PAYLOAD,
    MAX_WARNINGS,
    ComPortRequest,
    Data,
    Event,
    ProtocolWarning,
    TelnetServerCodec,
)

IAC, SB, SE = 255, 250, 240
WILL, WONT, DO, DONT = 251, 252, 253, 254


class ClientDecoder:
    """Just enough of a telnet client to get the payload out of server bytes.

    It keeps its state between calls, like the server codec, so it can be
    fed arbitrary fragments.
    """

    def __init__(self) -> None:
        self._state = "data"

    def feed(self, data: bytes) -> bytes:
        out = bytearray()
        for b in data:  # test code: clarity over speed
            if self._state == "data":
                if b == IAC:
                    self._state = "iac"
                else:
                    out.append(b)
            elif self._state == "iac":
                if b == IAC:
                    out.append(b)
                    self._state = "data"
                elif b == SB:
                    self._state = "sb"
                elif b in (WILL, WONT, DO, DONT):
                    self._state = "opt"
                else:
                    self._state = "data"
            elif self._state == "opt":
                self._state = "data"
            elif self._state == "sb":
                if b == IAC:
                    self._state = "sb_iac"
            else:  # sb_iac
                self._state = "data" if b == SE else "sb"
        return bytes(out)


def client_encode(payload: bytes) -> bytes:
    return payload.replace(b"\xff", b"\xff\xff")


def chunks(data: bytes, cuts: Sequence[int]) -> List[bytes]:
    points = sorted({c for c in cuts if 0 < c < len(data)})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:])]


def normalise(events: List[Event]) -> List[Event]:
    """Merge neighbouring Data events: chunk boundaries may split a run."""
    out: List[Event] = []
    for event in events:
        if isinstance(event, Data) and out and isinstance(out[-1], Data):
            out[-1] = Data(out[-1].data + event.data)
        else:
            out.append(event)
    return out


def feed(
    codec: TelnetServerCodec, parts: List[bytes], answer: bool = False
) -> Tuple[List[Event], bytes]:
    """Feed ``parts``; return all events and everything queued for the peer.

    With ``answer`` a synchronous engine answers each device request right
    after the chunk, so where those answers land depends on the chunking,
    as it does with ser2net; without it the output is the codec's own.
    """
    events: List[Event] = []
    out = bytearray()
    for part in parts:
        new = codec.receive_data(part)
        if answer:
            for event in new:
                if isinstance(event, ComPortRequest):
                    codec.reply(event.command, event.value & 0xFF)
        events.extend(new)
        out += codec.data_to_send()
    return events, bytes(out)


# Protocol-dense input: real commands, subnegotiations (sometimes broken),
# payload and lone special bytes, glued together in any order.
OPTIONS = st.sampled_from([0, 1, 3, 5, 24, 44, 200, 255])
SPECIAL = st.sampled_from([IAC, SB, SE, 0, 13, 10, 241, 242, 243, 44])
token = st.one_of(
    st.binary(max_size=12),
    st.tuples(st.sampled_from([WILL, WONT, DO, DONT]), OPTIONS).map(lambda t: bytes((IAC, *t))),
    st.integers(0, 255).map(lambda b: bytes((IAC, b))),
    st.tuples(
        st.sampled_from([44, 44, 44, 31, 255]),
        st.lists(st.one_of(st.integers(0, 13), SPECIAL, st.integers(0, 255)), max_size=8),
        st.sampled_from([bytes((IAC, SE)), bytes((IAC, SE)), b"", bytes((IAC,))]),
    ).map(lambda t: bytes((IAC, SB, t[0], *t[1])) + t[2]),
    SPECIAL.map(lambda b: bytes((b,))),
    st.integers(1, 400).map(lambda n: bytes((IAC, SB, 44, 0)) + b"x" * n + bytes((IAC, SE))),
)
streams = st.lists(token, max_size=40).map(b"".join)
cut_lists = st.lists(st.integers(0, 2000), max_size=30)
codec_kwargs = st.fixed_dictionaries(
    {"rfc2217": st.booleans(), "brk_on_sync": st.booleans(), "modemstate": st.integers(0, 255)}
)


@settings(max_examples=400, deadline=None)
@given(data=streams, cuts=cut_lists, kwargs=codec_kwargs)
def test_chunking_does_not_matter(data: bytes, cuts: List[int], kwargs: dict) -> None:
    whole = TelnetServerCodec(**kwargs)
    split = TelnetServerCodec(**kwargs)
    events_whole, out_whole = feed(whole, [data])
    events_split, out_split = feed(split, chunks(data, cuts))
    assert normalise(events_split) == normalise(events_whole)
    assert out_split == out_whole
    assert split.rfc2217_active == whole.rfc2217_active
    assert split.flow_suspended == whole.flow_suspended
    assert split.protocol_warnings == whole.protocol_warnings


@settings(max_examples=200, deadline=None)
@given(data=streams, kwargs=codec_kwargs)
def test_byte_by_byte_equals_whole(data: bytes, kwargs: dict) -> None:
    events_whole, out_whole = feed(TelnetServerCodec(**kwargs), [data])
    parts = [data[i : i + 1] for i in range(len(data))]
    events_bytes, out_bytes = feed(TelnetServerCodec(**kwargs), parts)
    assert normalise(events_bytes) == normalise(events_whole)
    assert out_bytes == out_whole


@settings(max_examples=300, deadline=None)
@given(data=streams, kwargs=codec_kwargs)
def test_bounded_and_never_raises(data: bytes, kwargs: dict) -> None:
    codec = TelnetServerCodec(**kwargs)
    events, out = feed(codec, [data], answer=True)
    assert len(codec._sb_buf) <= MAX_SB_PAYLOAD
    assert len(events) <= len(data) + 1
    assert sum(isinstance(e, ProtocolWarning) for e in events) <= MAX_WARNINGS
    # Every answer is provoked by at least a few request bytes.
    assert len(out) <= 3 * len(data) + 16
    # At most one Data event per run: never two in a row from one call.
    assert all(
        not (isinstance(a, Data) and isinstance(b, Data)) for a, b in zip(events, events[1:])
    )
    assert all(e.data for e in events if isinstance(e, Data))


@settings(max_examples=300, deadline=None)
@given(payload=st.binary(max_size=600), cuts=cut_lists, rfc2217=st.booleans())
def test_client_payload_roundtrip(payload: bytes, cuts: List[int], rfc2217: bool) -> None:
    codec = TelnetServerCodec(rfc2217=rfc2217)
    events, out = feed(codec, chunks(client_encode(payload), cuts))
    assert all(isinstance(e, Data) for e in events)
    assert b"".join(e.data for e in events) == payload
    assert out == b""


@settings(max_examples=300, deadline=None)
@given(payload=st.binary(max_size=600), cuts=cut_lists)
def test_encode_then_client_decode_is_identity(payload: bytes, cuts: List[int]) -> None:
    codec = TelnetServerCodec(rfc2217=True)
    decoder = ClientDecoder()
    # Encoding piecewise and decoding piecewise at other points.
    encoded = b"".join(codec.encode(part) for part in chunks(payload, cuts))
    decoded = b"".join(decoder.feed(part) for part in chunks(encoded, [c // 2 for c in cuts]))
    assert decoded == payload


@settings(max_examples=200, deadline=None)
@given(payload=st.binary(max_size=300), data=streams)
def test_server_output_parses_cleanly_for_a_client(payload: bytes, data: bytes) -> None:
    # Protocol answers interleaved with payload never corrupt the payload.
    codec = TelnetServerCodec(rfc2217=True)
    decoder = ClientDecoder()
    wire = codec.start()
    _, answers = feed(codec, [data], answer=True)
    wire += answers + codec.encode(payload)
    assert decoder.feed(wire) == payload
