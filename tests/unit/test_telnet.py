"""Exact-byte tests of the telnet / RFC 2217 server codec.

The expected bytes are what ser2net 4.3 sends for the same input (recorded
against a pty-backed port); the compat test replays part of this against
the real daemon.
"""

from __future__ import annotations

from typing import List

import pytest

from pyser2net.protocol.telnet import (
    CISCO_BAUD_RATES,
    MAX_SB_PAYLOAD,
    MAX_WARNINGS,
    Break,
    ComPortCommand,
    ComPortRequest,
    ControlValue,
    Data,
    Event,
    FlowResume,
    FlowSuspend,
    LineStateMaskChanged,
    ModemState,
    ModemStateMaskChanged,
    ProtocolWarning,
    SignatureReceived,
    TelnetCommand,
    TelnetOption,
    TelnetServerCodec,
    initial_negotiation,
    modemstate_with_deltas,
)

IAC, SB, SE = 255, 250, 240
WILL, WONT, DO, DONT = 251, 252, 253, 254
CP = 44

START_PLAIN = bytes.fromhex("fffb03 fffd03 fffb01 fffe01 fffd00 fffb00")
START_2217 = START_PLAIN + bytes.fromhex("fffd2c")


def neg(verb: int, option: int) -> bytes:
    return bytes((IAC, verb, option))


def sb(*payload: int) -> bytes:
    """A COM-PORT-OPTION subnegotiation with IAC doubled in the payload."""
    return bytes((IAC, SB, CP)) + bytes(payload).replace(b"\xff", b"\xff\xff") + bytes((IAC, SE))


def server_sb(code: int, *payload: int) -> bytes:
    return sb(code, *payload)


def run(codec: TelnetServerCodec, data: bytes) -> tuple:
    events = codec.receive_data(data)
    return events, codec.data_to_send()


def non_data(events: List[Event]) -> List[Event]:
    return [e for e in events if not isinstance(e, Data)]


@pytest.fixture
def c2217() -> TelnetServerCodec:
    return TelnetServerCodec(rfc2217=True)


@pytest.fixture
def plain() -> TelnetServerCodec:
    return TelnetServerCodec()


# --------------------------------------------------------------- connect


def test_start_bytes_plain() -> None:
    assert TelnetServerCodec().start() == START_PLAIN
    assert TelnetServerCodec(rfc2217=False).start() == START_PLAIN
    assert initial_negotiation(False) == START_PLAIN


def test_start_bytes_rfc2217() -> None:
    assert TelnetServerCodec(rfc2217=True).start() == START_2217
    assert initial_negotiation(True) == START_2217


def test_start_does_not_queue(c2217: TelnetServerCodec) -> None:
    c2217.start()
    assert c2217.data_to_send() == b""


# ----------------------------------------------------------- negotiation

# (verb, option) -> (answer to the first request, answer to the same request
# repeated) on a fresh connection, as recorded from ser2net 4.3.
NEGOTIATION_2217 = {
    (WILL, 0): (b"", b""),
    (WONT, 0): (b"", b""),
    (DO, 0): (b"", b""),
    (DONT, 0): (b"", b""),
    (WILL, 1): (neg(DONT, 1), neg(DONT, 1)),
    (WONT, 1): (b"", b""),
    (DO, 1): (b"", b""),
    (DONT, 1): (b"", b""),
    (WILL, 3): (neg(DO, 3), b""),
    (WONT, 3): (neg(DONT, 3), b""),
    (DO, 3): (b"", b""),
    (DONT, 3): (b"", b""),
    (WILL, 44): (server_sb(107, 0), b""),
    (WONT, 44): (b"", b""),
    (DO, 44): (neg(WONT, 44), neg(WONT, 44)),
    (DONT, 44): (neg(WONT, 44), b""),
}
NEGOTIATION_PLAIN = dict(NEGOTIATION_2217)
NEGOTIATION_PLAIN.update(
    {
        (WILL, 3): (b"", b""),
        (WONT, 3): (b"", b""),
        (WILL, 44): (neg(DONT, 44), neg(DONT, 44)),
        (WONT, 44): (neg(DONT, 44), b""),
    }
)
for _table in (NEGOTIATION_2217, NEGOTIATION_PLAIN):
    for _opt in (5, 24, 200, 255):
        _table[(WILL, _opt)] = (neg(DONT, _opt), neg(DONT, _opt))
        _table[(DO, _opt)] = (neg(WONT, _opt), neg(WONT, _opt))
        _table[(WONT, _opt)] = (b"", b"")
        _table[(DONT, _opt)] = (b"", b"")


@pytest.mark.parametrize("rfc2217", [True, False], ids=["rfc2217", "plain"])
@pytest.mark.parametrize(
    "verb,option", sorted(NEGOTIATION_2217), ids=lambda v: str(v) if isinstance(v, int) else None
)
def test_single_negotiation(rfc2217: bool, verb: int, option: int) -> None:
    table = NEGOTIATION_2217 if rfc2217 else NEGOTIATION_PLAIN
    first, again = table[(verb, option)]
    codec = TelnetServerCodec(rfc2217=rfc2217)
    assert run(codec, neg(verb, option))[1] == first
    assert run(codec, neg(verb, option))[1] == again


@pytest.mark.parametrize(
    "rfc2217,steps",
    [
        (True, [(neg(WILL, 3), neg(DO, 3)), (neg(WONT, 3), neg(DONT, 3)), (neg(WILL, 3), b"")]),
        (False, [(neg(WILL, 3), b""), (neg(WONT, 3), neg(DONT, 3)), (neg(WILL, 3), b"")]),
        (True, [(neg(WILL, 0), b""), (neg(WONT, 0), neg(DONT, 0)), (neg(WILL, 0), b"")]),
        (True, [(neg(DO, 0), b""), (neg(DONT, 0), neg(WONT, 0)), (neg(DO, 0), b"")]),
        (True, [(neg(DO, 1), b""), (neg(DONT, 1), neg(WONT, 1)), (neg(DO, 1), b"")]),
        (
            True,
            [
                (neg(WILL, 44), server_sb(107, 0)),
                (neg(WONT, 44), neg(DONT, 44)),
                (neg(WILL, 44), b""),
                (sb(1, 0, 0, 0, 0), b""),
            ],
        ),
        (
            False,
            [(neg(WILL, 44), neg(DONT, 44)), (neg(WONT, 44), b""), (neg(WILL, 44), neg(DONT, 44))],
        ),
    ],
)
def test_negotiation_sequences(rfc2217: bool, steps: list) -> None:
    codec = TelnetServerCodec(rfc2217=rfc2217)
    for sent, expected in steps:
        assert run(codec, sent)[1] == expected


def test_negotiation_state_flags(c2217: TelnetServerCodec) -> None:
    assert not c2217.rfc2217_active
    run(c2217, neg(WILL, 44))
    assert c2217.rfc2217_active
    run(c2217, neg(WONT, 44))
    assert not c2217.rfc2217_active
    run(c2217, neg(WILL, 44))
    assert c2217.rfc2217_active
    assert not c2217.remote_enabled(TelnetOption.BINARY)
    run(c2217, neg(WILL, 0) + neg(DO, 0))
    assert c2217.remote_enabled(TelnetOption.BINARY)
    assert c2217.local_enabled(TelnetOption.BINARY)
    run(c2217, neg(DONT, 0))
    assert not c2217.local_enabled(TelnetOption.BINARY)
    run(c2217, neg(DO, 44))
    assert not c2217.local_enabled(TelnetOption.COM_PORT_OPTION)
    assert not c2217.remote_enabled(200)


def test_plain_never_activates_com_port(plain: TelnetServerCodec) -> None:
    events, out = run(plain, neg(WILL, 44))
    assert out == neg(DONT, 44)
    assert events == []
    assert not plain.rfc2217_active


def test_negotiation_never_produces_events() -> None:
    codec = TelnetServerCodec(rfc2217=True, modemstate=0x30)
    events, _ = run(codec, b"".join(neg(v, o) for v in (WILL, WONT, DO, DONT) for o in (0, 1, 3)))
    assert events == []


def test_pyserial_open_sequence(c2217: TelnetServerCodec) -> None:
    # What pyserial sends when its reader thread has seen the server's offers.
    assert run(c2217, neg(WILL, 0))[1] == b""
    assert run(c2217, neg(DO, 0))[1] == b""
    assert run(c2217, neg(DO, 44))[1] == neg(WONT, 44)


def test_pyserial_open_sequence_early(c2217: TelnetServerCodec) -> None:
    # ... and when it sends its own requests before reading anything.
    sent = neg(DO, 1) + neg(WILL, 3) + neg(DO, 3) + neg(DO, 44) + neg(WILL, 44)
    events, out = run(c2217, sent)
    assert out == neg(DO, 3) + neg(WONT, 44) + server_sb(107, 0)
    assert events == [ModemStateMaskChanged(255)]


def test_unknown_option_storm_is_linear_and_stateless(c2217: TelnetServerCodec) -> None:
    storm = (neg(WILL, 200) + neg(DO, 201) + neg(WONT, 202) + neg(DONT, 203)) * 5000
    events, out = run(c2217, storm)
    assert events == []
    assert out == (neg(DONT, 200) + neg(WONT, 201)) * 5000
    assert len(c2217._options) == 4


def test_known_option_storm_answers_at_most_once(c2217: TelnetServerCodec) -> None:
    events, out = run(c2217, (neg(WILL, 3) + neg(DO, 3) + neg(WILL, 0) + neg(DO, 0)) * 1000)
    assert out == neg(DO, 3)


def test_option_byte_may_be_iac(c2217: TelnetServerCodec) -> None:
    assert run(c2217, bytes((IAC, WILL, IAC)))[1] == bytes((IAC, DONT, IAC))
    assert run(c2217, bytes((IAC, DO, IAC)) + b"x")[0] == [Data(b"x")]


# --------------------------------------------------------------- payload


def test_plain_data_fast_path(c2217: TelnetServerCodec) -> None:
    assert c2217.receive_data(b"hello") == [Data(b"hello")]
    assert c2217.receive_data(b"") == []
    assert c2217.receive_data(bytearray(b"ab")) == [Data(b"ab")]
    assert c2217.receive_data(memoryview(b"cd")) == [Data(b"cd")]
    assert type(c2217.receive_data(bytearray(b"ab"))[0].data) is bytes


def test_doubled_iac_is_payload(c2217: TelnetServerCodec) -> None:
    assert c2217.receive_data(b"a\xff\xffb\xff\xff") == [Data(b"a\xffb\xff")]
    assert c2217.receive_data(b"\xff\xff" * 3) == [Data(b"\xff" * 3)]


@pytest.mark.parametrize(
    "chunks,expected",
    [
        ([b"\xff\xff\xff\xff"], [Data(b"\xff\xff")]),
        ([b"\xff\xff\xff", b"\xffa"], [Data(b"\xff"), Data(b"\xffa")]),
        ([b"\xff\xff\xff\xf3"], [Data(b"\xff"), Break()]),
        ([b"a\xff", b"\xffb"], [Data(b"a"), Data(b"\xffb")]),
        ([b"\xff", b"\xff\xff\xff"], [Data(b"\xff\xff")]),
    ],
)
def test_escaped_iac_fast_paths(chunks: List[bytes], expected: List[Event]) -> None:
    codec = TelnetServerCodec()
    events: List[Event] = []
    for chunk in chunks:
        events += codec.receive_data(chunk)
    assert events == expected


@pytest.mark.parametrize("binary", [False, True])
def test_no_newline_translation(binary: bool) -> None:
    codec = TelnetServerCodec(rfc2217=True)
    if binary:
        run(codec, neg(WILL, 0) + neg(DO, 0))
    payload = b"a\r\x00b\r\nc\rd\x00e"
    assert codec.receive_data(payload) == [Data(payload)]
    assert codec.encode(payload) == payload


def test_data_coalesced_across_silent_commands(c2217: TelnetServerCodec) -> None:
    data = b"a" + bytes((IAC, TelnetCommand.NOP)) + b"b" + neg(DO, 0) + b"c\xff\xffd"
    assert c2217.receive_data(data) == [Data(b"abc\xffd")]


def test_data_split_by_events(c2217: TelnetServerCodec) -> None:
    data = b"a" + bytes((IAC, TelnetCommand.BRK)) + b"b" + sb(2, 7) + b"c"
    assert c2217.receive_data(data) == [
        Data(b"a"),
        Break(),
        Data(b"b"),
        ComPortRequest(ComPortCommand.SET_DATASIZE, 7),
        Data(b"c"),
    ]


def test_encode_doubles_iac_only(c2217: TelnetServerCodec) -> None:
    assert c2217.encode(b"x\xffy\r\nz\rw\x00") == b"x\xff\xffy\r\nz\rw\x00"
    assert c2217.encode(b"") == b""
    assert c2217.encode(bytearray(b"\xff")) == b"\xff\xff"
    assert c2217.encode(b"abc") == b"abc"
    assert c2217.data_to_send() == b""


# -------------------------------------------------------------- commands


def test_break(c2217: TelnetServerCodec) -> None:
    assert run(c2217, bytes((IAC, TelnetCommand.BRK))) == ([Break()], b"")


@pytest.mark.parametrize("brk_on_sync", [False, True])
def test_data_mark(brk_on_sync: bool) -> None:
    codec = TelnetServerCodec(brk_on_sync=brk_on_sync)
    events, out = run(codec, b"x" + bytes((IAC, TelnetCommand.DM)) + b"y")
    assert out == b""
    if brk_on_sync:
        assert events == [Data(b"x"), Break(), Data(b"y")]
    else:
        assert events == [Data(b"xy")]


@pytest.mark.parametrize(
    "command",
    [
        TelnetCommand.NOP,
        TelnetCommand.IP,
        TelnetCommand.AO,
        TelnetCommand.AYT,
        TelnetCommand.EC,
        TelnetCommand.EL,
        TelnetCommand.GA,
    ],
)
def test_harmless_commands(c2217: TelnetServerCodec, command: int) -> None:
    assert run(c2217, b"a" + bytes((IAC, command)) + b"b") == ([Data(b"ab")], b"")
    assert c2217.protocol_warnings == 0


def test_stray_se_warns(c2217: TelnetServerCodec) -> None:
    events, out = run(c2217, b"a\xff\xf0b")
    assert out == b""
    assert [type(e) for e in events] == [Data, ProtocolWarning, Data]
    assert events[0] == Data(b"a") and events[2] == Data(b"b")


def test_iac_before_non_command_drops_both(c2217: TelnetServerCodec) -> None:
    events, _ = run(c2217, b"a\xffAb")
    assert non_data(events) and isinstance(events[1], ProtocolWarning)
    assert b"".join(e.data for e in events if isinstance(e, Data)) == b"ab"


def test_warnings_are_capped(c2217: TelnetServerCodec) -> None:
    events, _ = run(c2217, b"\xff\xf0" * 100)
    assert len(events) == MAX_WARNINGS
    assert all(isinstance(e, ProtocolWarning) for e in events)
    assert c2217.protocol_warnings == 100


# ------------------------------------------------------ subnegotiation


def test_sb_for_other_option_ignored(c2217: TelnetServerCodec) -> None:
    data = bytes((IAC, SB, 31, 0, 80, 0, 24, IAC, SE)) + b"z"
    assert run(c2217, data) == ([Data(b"z")], b"")


def test_sb_option_byte_may_be_iac(c2217: TelnetServerCodec) -> None:
    # The byte after SB is the option even when it is 255; the SE after it
    # is payload, so the subnegotiation ends only at the next IAC SE.
    assert run(c2217, bytes((IAC, SB, IAC, SE)) + b"lost") == ([], b"")
    assert run(c2217, bytes((IAC, SE)) + b"kept") == ([Data(b"kept")], b"")


def test_iac_command_inside_sb_is_dropped(c2217: TelnetServerCodec) -> None:
    # IAC WILL vanishes, the 0 that followed it is the datasize: a query.
    data = bytes((IAC, SB, CP, 2, IAC, WILL, 0, 7, IAC, SE))
    events, out = run(c2217, data)
    assert out == b""
    assert isinstance(events[0], ProtocolWarning)
    assert events[1:] == [ComPortRequest(ComPortCommand.SET_DATASIZE, 0)]


def test_iac_command_inside_sb_too_short(c2217: TelnetServerCodec) -> None:
    events, out = run(c2217, bytes((IAC, SB, CP, 2, IAC, WILL, IAC, SE)))
    assert out == b""
    assert not any(isinstance(e, ComPortRequest) for e in events)


def test_unterminated_sb_swallows_data_until_se(c2217: TelnetServerCodec) -> None:
    assert run(c2217, bytes((IAC, SB, CP, 2, 7)) + b"hello") == ([], b"")
    events, _ = run(c2217, bytes((IAC, SE)) + b"world")
    assert events == [ComPortRequest(ComPortCommand.SET_DATASIZE, 7), Data(b"world")]


def test_unterminated_sb_payload(c2217: TelnetServerCodec) -> None:
    run(c2217, bytes((IAC, SB, CP, 2, 7)) + b"hello")
    events, _ = run(c2217, bytes((IAC, SE)))
    assert events == [ComPortRequest(ComPortCommand.SET_DATASIZE, 7)]


def test_long_sb_is_truncated_bounded_and_processed(c2217: TelnetServerCodec) -> None:
    events, out = run(c2217, sb(0, *([ord("x")] * 300)))
    assert out == server_sb(100, *b"ser2net")
    assert isinstance(events[0], ProtocolWarning)
    assert events[1] == SignatureReceived("x" * (MAX_SB_PAYLOAD - 1))


def test_long_baud_sb_uses_first_four_bytes(c2217: TelnetServerCodec) -> None:
    events, _ = run(c2217, sb(1, 0, 0, 0x4B, 0, *([7] * 400)))
    assert events[-1] == ComPortRequest(ComPortCommand.SET_BAUDRATE, 19200)


def test_sb_memory_is_bounded(c2217: TelnetServerCodec) -> None:
    c2217.receive_data(bytes((IAC, SB, CP, 0)))
    for _ in range(100):
        c2217.receive_data(b"y" * 10000 + b"\xff\xff")
        assert len(c2217._sb_buf) <= MAX_SB_PAYLOAD


def test_empty_and_valueless_sb_ignored(c2217: TelnetServerCodec) -> None:
    for data in (bytes((IAC, SB, CP, IAC, SE)), sb(2), sb(1), sb(10), sb(11), sb(12)):
        events, out = run(c2217, data)
        assert out == b""
        assert all(isinstance(e, ProtocolWarning) for e in events)


# --------------------------------------------------------------- RFC 2217


def test_signature_request(c2217: TelnetServerCodec) -> None:
    assert run(c2217, sb(0)) == ([SignatureReceived("")], server_sb(100, *b"ser2net"))


def test_signature_with_client_text_still_answered(c2217: TelnetServerCodec) -> None:
    events, out = run(c2217, sb(0, *b"pyclient"))
    assert events == [SignatureReceived("pyclient")]
    assert out == server_sb(100, *b"ser2net")


def test_custom_signature() -> None:
    codec = TelnetServerCodec(rfc2217=True, signature="port 7 \u00e9")
    assert run(codec, sb(0))[1] == server_sb(100, *"port 7 \u00e9".encode())


def test_signature_truncated_like_ser2net() -> None:
    codec = TelnetServerCodec(rfc2217=True, signature="s" * 1000)
    assert run(codec, sb(0))[1] == server_sb(100, *(b"s" * 254))


@pytest.mark.parametrize(
    "payload,event",
    [
        ((1, 0, 0, 0xE1, 0), ComPortRequest(ComPortCommand.SET_BAUDRATE, 57600)),
        ((1, 0, 0, 0, 0), ComPortRequest(ComPortCommand.SET_BAUDRATE, 0)),
        ((1, 0, 0, 0x25, 0x80, 7), ComPortRequest(ComPortCommand.SET_BAUDRATE, 9600)),
        ((1, 0xFF, 0xFF, 0xFF, 0xFF), ComPortRequest(ComPortCommand.SET_BAUDRATE, 0xFFFFFFFF)),
        ((2, 7), ComPortRequest(ComPortCommand.SET_DATASIZE, 7)),
        ((2, 0), ComPortRequest(ComPortCommand.SET_DATASIZE, 0)),
        ((2, 9), ComPortRequest(ComPortCommand.SET_DATASIZE, 9)),
        ((3, 3), ComPortRequest(ComPortCommand.SET_PARITY, 3)),
        ((4, 2), ComPortRequest(ComPortCommand.SET_STOPSIZE, 2)),
        ((5, 8), ComPortRequest(ComPortCommand.SET_CONTROL, ControlValue.DTR_ON)),
        ((5, 19), ComPortRequest(ComPortCommand.SET_CONTROL, 19)),
        ((2, 6, 9, 9), ComPortRequest(ComPortCommand.SET_DATASIZE, 6)),
    ],
)
def test_device_requests(c2217: TelnetServerCodec, payload: tuple, event: Event) -> None:
    events, out = run(c2217, sb(*payload))
    assert events == [event]
    assert out == b""


@pytest.mark.parametrize("value", [1, 2, 3, 0, 4, 0xFF])
def test_purge_answered_at_once(c2217: TelnetServerCodec, value: int) -> None:
    # ser2net echoes any purge value without waiting for the device.
    events, out = run(c2217, sb(12, value))
    assert events == [ComPortRequest(ComPortCommand.PURGE_DATA, value)]
    assert out == server_sb(112, value)
    c2217.reply(ComPortCommand.PURGE_DATA, value)  # the engine's answer is swallowed
    assert c2217.data_to_send() == b""
    c2217.reply(ComPortCommand.PURGE_DATA, 2)  # an unsolicited one is not
    assert c2217.data_to_send() == server_sb(112, 2)


def test_purge_answer_order(c2217: TelnetServerCodec) -> None:
    events = c2217.receive_data(sb(1, 0, 0, 0, 0) + sb(12, 1) + sb(12, 2))
    for event in events:
        c2217.reply(event.command, 9600 if event.command == ComPortCommand.SET_BAUDRATE else 1)
    assert c2217.data_to_send() == server_sb(112, 1) + server_sb(112, 2) + server_sb(
        101, 0, 0, 0x25, 0x80
    )


def test_requests_honoured_before_will(c2217: TelnetServerCodec) -> None:
    assert not c2217.rfc2217_active
    assert run(c2217, sb(1, 0, 0, 0x4B, 0))[0] == [
        ComPortRequest(ComPortCommand.SET_BAUDRATE, 19200)
    ]
    assert run(c2217, sb(0))[1] == server_sb(100, *b"ser2net")


@pytest.mark.parametrize(
    "command,value,expected",
    [
        (ComPortCommand.SET_BAUDRATE, 57600, server_sb(101, 0, 0, 0xE1, 0x00)),
        (ComPortCommand.SET_BAUDRATE, 9600, server_sb(101, 0, 0, 0x25, 0x80)),
        (ComPortCommand.SET_BAUDRATE, 0xFF, bytes.fromhex("fffa2c65 000000ffff fff0")),
        (ComPortCommand.SET_DATASIZE, 7, bytes.fromhex("fffa2c6607fff0")),
        (ComPortCommand.SET_PARITY, 3, bytes.fromhex("fffa2c6703fff0")),
        (ComPortCommand.SET_STOPSIZE, 2, bytes.fromhex("fffa2c6802fff0")),
        (ComPortCommand.SET_CONTROL, 1, bytes.fromhex("fffa2c6901fff0")),
        (ComPortCommand.SET_CONTROL, 255, bytes.fromhex("fffa2c69fffffff0")),
        (ComPortCommand.PURGE_DATA, 2, bytes.fromhex("fffa2c7002fff0")),
        (ComPortCommand.NOTIFY_MODEMSTATE, 0x30, bytes.fromhex("fffa2c6b30fff0")),
        (101, 57600, server_sb(101, 0, 0, 0xE1, 0x00)),
    ],
)
def test_reply_bytes(c2217: TelnetServerCodec, command: int, value: int, expected: bytes) -> None:
    c2217.reply(command, value)
    assert c2217.data_to_send() == expected


def test_reply_range_checked(c2217: TelnetServerCodec) -> None:
    with pytest.raises(ValueError):
        c2217.reply(ComPortCommand.SET_DATASIZE, 256)
    with pytest.raises(ValueError):
        c2217.reply(ComPortCommand.SET_BAUDRATE, -1)
    with pytest.raises(ValueError):
        c2217.reply(ComPortCommand.SET_BAUDRATE, 1 << 32)
    assert c2217.data_to_send() == b""


def test_reply_is_noop_without_rfc2217(plain: TelnetServerCodec) -> None:
    plain.reply(ComPortCommand.SET_BAUDRATE, 9600)
    plain.notify_modemstate(0xFF, force=True)
    plain.notify_linestate(0xFF, force=True)
    assert plain.data_to_send() == b""


def test_com_port_sb_ignored_without_rfc2217(plain: TelnetServerCodec) -> None:
    for payload in ((0,), (1, 0, 0, 0x4B, 0), (2, 7), (10, 0xFF), (11, 0xFF), (8,)):
        events, out = run(plain, sb(*payload))
        assert out == b""
        assert all(isinstance(e, ProtocolWarning) for e in events)
    assert not plain.flow_suspended


def test_cisco_baud(c2217: TelnetServerCodec) -> None:
    assert not c2217.cisco_baud
    assert run(c2217, sb(1, 13))[0] == [ComPortRequest(ComPortCommand.SET_BAUDRATE, 57600)]
    assert c2217.cisco_baud
    c2217.reply(ComPortCommand.SET_BAUDRATE, 57600)
    assert c2217.data_to_send() == bytes.fromhex("fffa2c650dfff0")
    # Once Cisco, always Cisco: a four-byte request is answered by index.
    assert run(c2217, sb(1, 0, 0, 0x25, 0x80))[0] == [
        ComPortRequest(ComPortCommand.SET_BAUDRATE, 9600)
    ]
    c2217.reply(ComPortCommand.SET_BAUDRATE, 9600)
    assert c2217.data_to_send() == bytes.fromhex("fffa2c6508fff0")
    c2217.reply(ComPortCommand.SET_BAUDRATE, 12345)
    assert c2217.data_to_send() == bytes.fromhex("fffa2c6500fff0")


@pytest.mark.parametrize("payload", [(1, 0), (1, 99), (1, 0x25, 0x80), (1, 1, 2, 3)])
def test_cisco_unknown_index_is_query(c2217: TelnetServerCodec, payload: tuple) -> None:
    assert run(c2217, sb(*payload))[0] == [ComPortRequest(ComPortCommand.SET_BAUDRATE, 0)]
    assert c2217.cisco_baud


def test_cisco_table() -> None:
    assert CISCO_BAUD_RATES[8] == 9600 and CISCO_BAUD_RATES[15] == 230400
    assert len(set(CISCO_BAUD_RATES.values())) == len(CISCO_BAUD_RATES)


def test_flow_suspend_resume(c2217: TelnetServerCodec) -> None:
    assert not c2217.flow_suspended
    assert run(c2217, sb(8)) == ([FlowSuspend()], b"")
    assert c2217.flow_suspended
    assert run(c2217, sb(8)) == ([FlowSuspend()], b"")
    assert run(c2217, sb(9)) == ([FlowResume()], b"")
    assert not c2217.flow_suspended


@pytest.mark.parametrize("payload", [(6, 1), (7, 1)])
def test_client_notifications_ignored(c2217: TelnetServerCodec, payload: tuple) -> None:
    assert run(c2217, sb(*payload)) == ([], b"")


@pytest.mark.parametrize("payload", [(13, 1), (100,), (101, 0, 0, 0x25, 0x80), (5, 20)])
def test_unknown_com_port_commands_warn(c2217: TelnetServerCodec, payload: tuple) -> None:
    events, out = run(c2217, sb(*payload))
    assert out == b""
    assert len(events) == 1 and isinstance(events[0], ProtocolWarning)


# ------------------------------------------------------ line/modem state


def test_first_will_reports_modemstate_once() -> None:
    codec = TelnetServerCodec(rfc2217=True, modemstate=0x33)
    assert run(codec, neg(WILL, 44)) == ([ModemStateMaskChanged(255)], server_sb(107, 0x33))
    assert codec.modemstate_mask == 255
    run(codec, neg(WONT, 44))
    assert run(codec, neg(WILL, 44)) == ([], b"")


def test_modemstate_mask_is_acknowledged_then_reports_masked_state() -> None:
    codec = TelnetServerCodec(rfc2217=True, modemstate=0xB1)
    assert run(codec, sb(11, 0x30)) == (
        [ModemStateMaskChanged(0x30)],
        server_sb(111, 0x30) + server_sb(107, 0x30),
    )
    assert run(codec, sb(11, 0xFF)) == (
        [ModemStateMaskChanged(0xFF)],
        server_sb(111, 0xFF) + server_sb(107, 0xB1),
    )
    assert run(codec, sb(11, 0)) == (
        [ModemStateMaskChanged(0)],
        server_sb(111, 0) + server_sb(107, 0),
    )


def test_mask_before_will_is_reset_by_will(c2217: TelnetServerCodec) -> None:
    assert run(c2217, sb(11, 0xF0))[1] == server_sb(111, 0xF0) + server_sb(107, 0)
    assert run(c2217, neg(WILL, 44))[1] == server_sb(107, 0)  # not asked: no acknowledgement
    assert c2217.modemstate_mask == 0xFF


def test_linestate_mask_is_acknowledged_then_reports_masked_state() -> None:
    codec = TelnetServerCodec(rfc2217=True, linestate=0x61)
    assert run(codec, sb(10, 0xFF)) == (
        [LineStateMaskChanged(0xFF)],
        server_sb(110, 0xFF) + server_sb(106, 0x61),
    )
    assert run(codec, sb(10, 0x20)) == (
        [LineStateMaskChanged(0x20)],
        server_sb(110, 0x20) + server_sb(106, 0x20),
    )
    assert codec.linestate_mask == 0x20


def test_notify_modemstate_needs_masked_delta(c2217: TelnetServerCodec) -> None:
    c2217.notify_modemstate(0x11)
    assert c2217.data_to_send() == b""  # mask still 0
    run(c2217, neg(WILL, 44))
    c2217.notify_modemstate(0x30)
    assert c2217.data_to_send() == b""  # no delta bit
    c2217.notify_modemstate(0x31)
    assert c2217.data_to_send() == server_sb(107, 0x31)
    run(c2217, sb(11, 0xF0))
    c2217.notify_modemstate(0x31)
    assert c2217.data_to_send() == b""  # delta masked out
    c2217.notify_modemstate(0x31, force=True)
    assert c2217.data_to_send() == server_sb(107, 0x30)
    run(c2217, sb(11, 0x0F))  # reports the cached value under the new mask
    assert c2217.data_to_send() == b""
    assert run(c2217, sb(11, 0xFF))[1] == server_sb(111, 0xFF) + server_sb(107, 0x31)


def test_notify_linestate_needs_masked_bit(c2217: TelnetServerCodec) -> None:
    c2217.notify_linestate(0x10)
    assert c2217.data_to_send() == b""
    run(c2217, sb(10, 0x10))
    c2217.notify_linestate(0x01)
    assert c2217.data_to_send() == b""
    c2217.notify_linestate(0x11)
    assert c2217.data_to_send() == server_sb(106, 0x10)


def test_modemstate_with_deltas() -> None:
    assert modemstate_with_deltas(0x00, 0x30) == 0x33
    assert modemstate_with_deltas(0x30, 0x30) == 0x30
    assert modemstate_with_deltas(0xF0, 0x00) == 0x0F
    assert modemstate_with_deltas(0x3F, 0x35) == 0x30  # input deltas ignored
    cd = ModemState.CD | ModemState.CD_DELTA
    assert modemstate_with_deltas(0, ModemState.CD) == cd


# ----------------------------------------------------------- ordering


def fake_engine(codec: TelnetServerCodec, events: List[Event], state: dict) -> None:
    """Answer device requests the way ser2net does for a pty at 9600n81."""
    keys = {
        ComPortCommand.SET_BAUDRATE: "baud",
        ComPortCommand.SET_DATASIZE: "datasize",
        ComPortCommand.SET_PARITY: "parity",
        ComPortCommand.SET_STOPSIZE: "stopsize",
    }
    for event in events:
        if isinstance(event, ComPortRequest) and event.command in keys:
            key = keys[event.command]
            if event.value:
                state[key] = event.value
            codec.reply(event.command, state[key])


def test_chunk_order_matches_ser2net() -> None:
    # Recorded: automatic answers first, device answers after them.  The
    # mask acknowledgement (fffa2c6f00fff0) is ours alone: ser2net omits it.
    codec = TelnetServerCodec(rfc2217=True)
    state = {"baud": 9600, "datasize": 8, "parity": 1, "stopsize": 1}
    chunk = sb(1, 0, 0, 0x4B, 0) + sb(0) + sb(11, 0) + neg(WILL, 44) + sb(2, 0) + neg(DO, 5)
    events = codec.receive_data(chunk)
    fake_engine(codec, events, state)
    assert codec.data_to_send() == bytes.fromhex(
        "fffa2c64 736572326e6574 fff0"
        " fffa2c6f00fff0 fffa2c6b00fff0"
        " fffa2c6b00fff0"
        " fffc05"
        " fffa2c6500004b00fff0"
        " fffa2c6608fff0"
    )


def test_combined_negotiation_chunk_matches_ser2net() -> None:
    codec = TelnetServerCodec(rfc2217=True)
    state = {"baud": 9600, "datasize": 8, "parity": 1, "stopsize": 1}
    chunk = (
        neg(WILL, 3)
        + neg(DO, 3)
        + neg(WILL, 44)
        + neg(DO, 44)
        + neg(WILL, 1)
        + sb(0)
        + sb(1, 0, 0, 0, 0)
    )
    fake_engine(codec, codec.receive_data(chunk), state)
    assert codec.data_to_send() == bytes.fromhex(
        "fffd03 fffa2c6b00fff0 fffc2c fffe01 fffa2c64736572326e6574fff0 fffa2c6500002580fff0"
    )


def test_pyserial_settings_exchange() -> None:
    codec = TelnetServerCodec(rfc2217=True)
    state = {"baud": 9600, "datasize": 8, "parity": 1, "stopsize": 1}
    chunk = sb(1, 0, 0, 0xE1, 0) + sb(2, 7) + sb(3, 3) + sb(4, 2)
    fake_engine(codec, codec.receive_data(chunk), state)
    assert codec.data_to_send() == (
        server_sb(101, 0, 0, 0xE1, 0) + server_sb(102, 7) + server_sb(103, 3) + server_sb(104, 2)
    )


def test_server_codes() -> None:
    assert ComPortCommand.SIGNATURE.server_code == 100
    assert ComPortCommand.PURGE_DATA.server_code == 112
    assert [int(c) for c in ComPortCommand] == list(range(13))


def test_escaped_ff_between_repeated_negotiations_is_payload() -> None:
    """A repeating run of negotiations with an escaped 0xFF among them: the
    IAC IAC is payload, not a negotiation with verb 255 (found by fuzzing)."""
    unit = b"\xff\xfb\x00\xff\xfd\x01\xff\xff\x00"
    for n in (1, 4, 8, 64):
        codec = TelnetServerCodec()
        events = codec.receive_data(unit * n)
        assert b"".join(e.data for e in events if isinstance(e, Data)) == b"\xff\x00" * n
        assert codec.data_to_send() == b""
