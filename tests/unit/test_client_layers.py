"""The filters a new client gets, from its accepter's layers."""

from __future__ import annotations

from pyser2net.config import load_text
from pyser2net.protocol.telnet import initial_negotiation
from pyser2net.protocol.telnet_filter import TelnetServerFilter
from pyser2net.runtime.layers import client_stack


def conn(accepter: str, options: str = ""):
    text = f"connection: &c\n  accepter: {accepter}\n  connector: echo\n"
    if options:
        text += "  options:\n" + "".join(f"    {line}\n" for line in options.splitlines())
    return load_text(text, "test.yaml").connections[0]


def test_a_raw_accepter_has_no_filters():
    assert client_stack(conn("tcp,127.0.0.1,2000"), "ser2net") == (None, None)


def test_telnet_gives_a_telnet_filter_and_its_codec():
    stack, codec = client_stack(conn("telnet(rfc2217),tcp,127.0.0.1,2000"), "ser2net")
    assert stack is not None and codec is not None
    (only,) = stack.filters
    assert isinstance(only, TelnetServerFilter) and only.codec is codec
    assert stack.start() == initial_negotiation(True)


def test_the_signature_is_the_connection_s_or_the_port_s_default():
    query = bytes([255, 250, 44, 0, 255, 240])
    _, codec = client_stack(conn("telnet(rfc2217),tcp,127.0.0.1,2000"), "-s text")
    assert codec is not None
    codec.receive_data(query)
    assert b"-s text" in codec.data_to_send()
    _, codec = client_stack(
        conn("telnet(rfc2217),tcp,127.0.0.1,2000", "signature: mine"), "-s text"
    )
    assert codec is not None
    codec.receive_data(query)
    assert b"mine" in codec.data_to_send()


def test_every_client_gets_its_own_filters():
    c = conn("telnet,tcp,127.0.0.1,2000")
    (a, _), (b, _) = client_stack(c, "x"), client_stack(c, "x")
    assert a is not None and b is not None and a.filters[0] is not b.filters[0]
