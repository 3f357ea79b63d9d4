"""The telnet / RFC 2217 client filter, against the server codec and pyserial's server."""

from __future__ import annotations

import tracemalloc
from typing import List, Tuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyser2net.protocol.events import Data, Event
from pyser2net.protocol.telnet import (
    MAX_SB_PAYLOAD,
    ComPortCommand,
    ComPortRequest,
    ControlValue,
    TelnetServerCodec,
    initial_negotiation,
)
from pyser2net.protocol.telnet_client import (
    ComPortAccepted,
    ComPortAnswer,
    ComPortRefused,
    FlowResume,
    FlowSuspend,
    LineStateReport,
    ModemStateReport,
    ProtocolWarning,
    ServerSignature,
    TelnetClient,
    control_group,
)

IAC, SB, SE, WILL, WONT, DO, DONT = 255, 250, 240, 251, 252, 253, 254
CPO = 44


def sb(code: int, payload: bytes) -> bytes:
    return bytes((IAC, SB, CPO, code)) + payload.replace(b"\xff", b"\xff\xff") + bytes((IAC, SE))


def payload(events: List[Event]) -> bytes:
    return b"".join(e.data for e in events if isinstance(e, Data))


def others(events: List[Event]) -> List[Event]:
    return [e for e in events if not isinstance(e, Data)]


def connected() -> Tuple[TelnetClient, TelnetServerCodec, List[Event]]:
    """A client and an rfc2217 server after the opening exchange; the
    server's events so far."""
    client = TelnetClient()
    server = TelnetServerCodec(rfc2217=True)
    server_events = server.receive_data(client.start())
    client_events = client.receive(server.start() + server.data_to_send())
    assert ComPortAccepted() in client_events
    server_events += server.receive_data(client.data_to_send())
    client.receive(server.data_to_send())
    return client, server, server_events


def test_the_opening_is_will_com_port_option_only():
    assert TelnetClient().start() == bytes((IAC, WILL, CPO))
    assert TelnetClient(rfc2217=False).start() == b""


def test_answers_to_ser2nets_opening_burst():
    client = TelnetClient()
    events = client.receive(initial_negotiation(rfc2217=True))
    assert events == [ComPortAccepted()]
    assert client.com_port == "on"
    assert client.data_to_send() == bytes(
        [
            IAC,
            DO,
            3,  # WILL SGA: yes
            IAC,
            WILL,
            3,  # DO SGA: yes
            IAC,
            DONT,
            1,  # WILL ECHO: no, the device echoes if anything
            IAC,
            WONT,
            1,  # DONT ECHO: agreed
            IAC,
            WILL,
            0,  # DO BINARY
            IAC,
            DO,
            0,  # WILL BINARY
        ]
    )  # and nothing for DO COM-PORT-OPTION: it answers our WILL


def test_negotiation_with_the_server_codec_settles():
    client = TelnetClient()
    server = TelnetServerCodec(rfc2217=True)
    to_server, to_client = client.start(), server.start()
    for _ in range(10):
        server.receive_data(to_server)
        client.receive(to_client)
        to_server, to_client = client.data_to_send(), server.data_to_send()
        if not to_server and not to_client:
            break
    else:
        pytest.fail("the negotiation never settles")
    assert client.com_port == "on" and server.rfc2217_active
    assert client.remote_enabled(0) and client.local_enabled(0)  # BINARY both ways


def test_requests_before_the_servers_agreement_wait_and_the_latest_wins():
    client = TelnetClient()
    assert client.request(ComPortCommand.SET_BAUDRATE, 9600)
    assert client.request(ComPortCommand.SET_STOPSIZE, 2)
    assert client.request(ComPortCommand.SET_BAUDRATE, 12345)
    assert not client.request(ComPortCommand.PURGE_DATA, 3)  # nothing to purge yet
    assert client.request(ComPortCommand.SET_CONTROL, ControlValue.DTR_ON)
    assert client.request(ComPortCommand.SET_CONTROL, ControlValue.FLOW_HARDWARE)
    assert client.data_to_send() == b""
    assert client.queued_requests == 4
    server = TelnetServerCodec(rfc2217=True)
    server.receive_data(client.start())
    client.receive(server.start())
    events = server.receive_data(client.data_to_send())
    requests = [(e.command, e.value) for e in events if isinstance(e, ComPortRequest)]
    assert requests == [
        (ComPortCommand.SET_STOPSIZE, 2),
        (ComPortCommand.SET_BAUDRATE, 12345),
        (ComPortCommand.SET_CONTROL, ControlValue.DTR_ON),
        (ComPortCommand.SET_CONTROL, ControlValue.FLOW_HARDWARE),
    ]


def test_requests_after_agreement_go_out_at_once_with_value_bytes_escaped():
    client, server, _ = connected()
    client.request(ComPortCommand.SET_BAUDRATE, 0x1FF)  # 00 00 01 FF: the FF is doubled
    wire = client.data_to_send()
    assert wire == bytes([IAC, SB, CPO, 1, 0, 0, 1, IAC, IAC, IAC, SE])
    assert server.receive_data(wire) == [ComPortRequest(ComPortCommand.SET_BAUDRATE, 0x1FF)]


def test_answers_carry_what_was_asked():
    client, server, _ = connected()
    client.request(ComPortCommand.SET_BAUDRATE, 12345)
    client.request(ComPortCommand.SET_CONTROL, ControlValue.DTR_OFF)
    server.receive_data(client.data_to_send())
    server.reply(ComPortCommand.SET_BAUDRATE, 9600)  # the port could not do it
    server.reply(ComPortCommand.SET_CONTROL, ControlValue.DTR_OFF)
    events = client.receive(server.data_to_send())
    assert events == [
        ComPortAnswer(ComPortCommand.SET_BAUDRATE, 9600, 12345),
        ComPortAnswer(ComPortCommand.SET_CONTROL, ControlValue.DTR_OFF, ControlValue.DTR_OFF),
    ]
    assert events[0].differs and not events[1].differs
    # A second answer (another client changed it) has nothing asked.
    server.reply(ComPortCommand.SET_BAUDRATE, 19200)
    assert client.receive(server.data_to_send()) == [
        ComPortAnswer(ComPortCommand.SET_BAUDRATE, 19200, None)
    ]


def test_answers_match_requests_of_the_same_setting_in_order():
    client, server, _ = connected()
    client.request(ComPortCommand.PURGE_DATA, 1)
    client.request(ComPortCommand.PURGE_DATA, 2)
    client.request(ComPortCommand.SET_CONTROL, ControlValue.DTR_ON)  # never answered
    client.request(ComPortCommand.SET_CONTROL, ControlValue.DTR_OFF)
    client.request(ComPortCommand.SET_BAUDRATE, 12345)
    client.request(ComPortCommand.SET_BAUDRATE, 57600)
    client.data_to_send()
    events = client.receive(
        sb(112, b"\x01")
        + sb(112, b"\x02")
        + sb(105, b"\x09")
        + sb(101, (9600).to_bytes(4, "big"))
        + sb(101, (57600).to_bytes(4, "big"))
    )
    assert [(e.value, e.requested, e.differs) for e in events] == [
        (1, 1, False),
        (2, 2, False),
        (9, 9, False),
        (9600, 12345, True),
        (57600, 57600, False),
    ]
    # Requests a server never answers are forgotten after a few.
    for _ in range(100):
        client.request(ComPortCommand.SET_CONTROL, ControlValue.RTS_ON)
    assert max(len(q) for q in client._asked.values()) <= 8


def test_a_query_answer_never_differs():
    assert not ComPortAnswer(ComPortCommand.SET_BAUDRATE, 9600, 0).differs
    assert not ComPortAnswer(ComPortCommand.SET_CONTROL, 8, ControlValue.DTR_REQUEST).differs
    assert ComPortAnswer(ComPortCommand.PURGE_DATA, 1, 3).differs


def test_purge_is_echoed_by_the_server():
    client, server, _ = connected()
    client.request(ComPortCommand.PURGE_DATA, 1)
    assert server.receive_data(client.data_to_send()) == [
        ComPortRequest(ComPortCommand.PURGE_DATA, 1)
    ]
    assert client.receive(server.data_to_send()) == [ComPortAnswer(ComPortCommand.PURGE_DATA, 1, 1)]


def test_refusal_drops_requests_and_keeps_bytes_flowing():
    client = TelnetClient()
    client.request(ComPortCommand.SET_BAUDRATE, 9600)
    events = client.receive(bytes([IAC, DONT, CPO]) + b"hello")
    assert events == [ComPortRefused(), Data(b"hello")]
    assert client.com_port == "refused"
    assert client.data_to_send() == b""  # an answer to our WILL needs no answer
    assert not client.request(ComPortCommand.SET_BAUDRATE, 9600)
    assert client.send(b"\xffx") == b"\xff\xffx"


def test_plain_telnet_client_ignores_com_port_subnegotiations():
    client = TelnetClient(rfc2217=False)
    assert not client.request(ComPortCommand.SET_BAUDRATE, 9600)
    events = client.receive(bytes([IAC, DO, CPO]) + sb(101, b"\x00\x00\x25\x80") + b"x")
    assert payload(events) == b"x"
    assert [type(e) for e in others(events)] == [ProtocolWarning]
    assert client.data_to_send() == bytes([IAC, WONT, CPO])


def test_payload_both_ways_is_exact_including_ff_and_nul():
    client, server, _ = connected()
    data = bytes(range(256)) * 8
    assert payload(server.receive_data(client.send(data))) == data
    assert payload(client.receive(server.encode(data))) == data


def test_notifications_and_flow_control_from_the_server():
    client, _, _ = connected()
    events = client.receive(
        sb(107, b"\x31") + sb(106, b"\x60") + sb(108, b"") + b"a" + sb(109, b"")
    )
    assert events == [
        ModemStateReport(0x31),
        LineStateReport(0x60),
        FlowSuspend(),
        Data(b"a"),
        FlowResume(),
    ]
    assert not client.flow_suspended


def test_signatures():
    client, server, _ = connected()
    assert client.request_signature()
    server.receive_data(client.data_to_send())
    assert client.receive(server.data_to_send()) == [ServerSignature("ser2net")]
    # An empty server signature asks for ours.
    assert client.receive(sb(100, b"")) == []
    assert client.data_to_send() == sb(0, b"pyser2net")
    assert client.receive(sb(100, b"") * 100) == []
    assert client.data_to_send() == b""  # once per connection


def test_one_byte_commands_from_the_server_are_dropped():
    client, _, _ = connected()
    events = client.receive(b"a\xff\xf3b\xff\xf2c\xff\xf1d\xff\xf6e")
    assert events == [Data(b"abcde")]
    assert client.data_to_send() == b""


@pytest.mark.parametrize(
    "wire",
    [
        sb(1, b"\x00\x00\x25\x80"),  # a client's code from the server
        sb(113, b"\x01"),  # no such answer
        sb(101, b""),  # an answer without value
        bytes((IAC, SB, CPO, IAC, SE)),  # empty
    ],
)
def test_malformed_com_port_answers_are_warnings(wire):
    client, _, _ = connected()
    events = client.receive(wire + b"ok")
    assert payload(events) == b"ok"
    assert [type(e) for e in others(events)] == [ProtocolWarning]


def test_control_groups():
    assert [control_group(v) for v in range(20)] == (
        [0] * 4 + [4] * 3 + [7] * 3 + [10] * 3 + [13] * 4 + [17, 18, 19]
    )


def test_an_endless_subnegotiation_stays_bounded():
    client, _, _ = connected()
    client.receive(bytes((IAC, SB, CPO)))
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(64):
            assert client.receive(b"\x01\x02\xff\xff" * 4096) == []
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 64 * 1024
    assert len(client._sb_buf) <= MAX_SB_PAYLOAD
    events = client.receive(bytes((IAC, SE)) + b"after")
    assert payload(events) == b"after"


def test_a_negotiation_storm_costs_one_answer_per_request_at_most():
    client, _, _ = connected()
    storm = bytes((IAC, DO, 99, IAC, WILL, 98)) * 10000
    client.receive(storm)
    assert len(client.data_to_send()) <= len(storm)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400), st.lists(st.integers(min_value=1, max_value=50), max_size=20))
def test_any_server_bytes_in_any_split_give_the_same_result(data, cuts):
    whole = TelnetClient()
    whole.receive(initial_negotiation(rfc2217=True))
    whole.data_to_send()
    expected = whole.receive(data)
    expected_out = whole.data_to_send()

    split = TelnetClient()
    split.receive(initial_negotiation(rfc2217=True))
    split.data_to_send()
    got: List[Event] = []
    rest = data
    for cut in cuts:
        got += split.receive(rest[:cut])
        rest = rest[cut:]
    got += split.receive(rest)
    assert payload(got) == payload(expected)
    assert others(got) == others(expected)
    assert split.data_to_send() == expected_out
    assert len(expected_out) <= 3 * len(data) + 2 * 260


def test_against_pyserials_server():
    """pyserial's PortManager (a server) applies what the client asks for."""
    serial = pytest.importorskip("serial")
    from serial.rfc2217 import PortManager

    class Wire:
        def __init__(self) -> None:
            self.out = bytearray()

        def write(self, data: bytes) -> None:
            self.out += data

    port = serial.serial_for_url("loop://", do_not_open=False)
    wire = Wire()
    manager = PortManager(port, wire)
    client = TelnetClient()
    to_server = client.start()
    for _ in range(6):
        list(manager.filter(to_server))
        events = client.receive(bytes(wire.out))
        wire.out.clear()
        to_server = client.data_to_send()
        if client.com_port == "on" and not to_server:
            break
    assert client.com_port == "on"
    client.request(ComPortCommand.SET_BAUDRATE, 12345)
    client.request(ComPortCommand.SET_STOPSIZE, 2)
    client.request(ComPortCommand.SET_PARITY, 3)
    client.request(ComPortCommand.SET_DATASIZE, 7)
    data = b"".join(manager.filter(client.send(b"x\xffy")))
    assert data == b"x\xffy"
    assert (port.baudrate, port.stopbits, port.parity, port.bytesize) == (12345, 2, "E", 7)
    events = client.receive(bytes(wire.out))
    answers = {(e.command, e.value) for e in events if isinstance(e, ComPortAnswer)}
    assert answers == {
        (ComPortCommand.SET_BAUDRATE, 12345),
        (ComPortCommand.SET_STOPSIZE, 2),
        (ComPortCommand.SET_PARITY, 3),
        (ComPortCommand.SET_DATASIZE, 7),
    }
    port.close()
