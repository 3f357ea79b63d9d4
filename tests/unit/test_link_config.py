"""Link layers (msgdelim, relpkt, serialtcp) and conacc in connector and accepter strings."""

from __future__ import annotations

import pytest
from fakeloop import FakeTimer

from pyser2net.config import ConfigError, load_text
from pyser2net.config import gensio as g
from pyser2net.config.convert import accepter_string, connector_string
from pyser2net.config.model import (
    Accepter,
    ConAcc,
    MsgDelimLayer,
    RelPktLayer,
    SerialDevice,
    SerialSettings,
    SerialTcpLayer,
)
from pyser2net.config.summary import summarize
from pyser2net.runtime.layers import LINKS, build_link


def test_relpkt_over_msgdelim_with_gensio_defaults() -> None:
    con = g.parse_connector("relpkt,msgdelim,serialdev,/dev/ttyS0,115200n81,local")
    assert con.link == (RelPktLayer(), MsgDelimLayer())
    assert con.link[0] == RelPktLayer(
        server=False, max_pktsize=123, max_packets=16, timeout_ms=1000, max_timeouts=5
    )
    assert con.device == SerialDevice("/dev/ttyS0", SerialSettings(speed=115200, local=True))


def test_relpkt_and_msgdelim_options() -> None:
    con = g.parse_connector(
        "relpkt(mode=server,max_pktsize=60,max_packets=8,timeout=2,"
        "max_timeouts=3),msgdelim(readbuf=100,writebuf=90,crc=off),"
        "/dev/ttyUSB0,9600"
    )
    assert con.link == (
        RelPktLayer(server=True, max_pktsize=60, max_packets=8, timeout_ms=2000, max_timeouts=3),
        MsgDelimLayer(readbuf=100, writebuf=90, crc=False),
    )


@pytest.mark.parametrize("value,ms", [("2", 2000), ("500m", 500), ("1s500m", 1500)])
def test_relpkt_timeout_is_in_seconds_unless_a_unit_is_given(value: str, ms: int) -> None:
    con = g.parse_connector(f"relpkt(timeout={value}),msgdelim,serialdev,/dev/x")
    assert isinstance(con.link[0], RelPktLayer) and con.link[0].timeout_ms == ms


def test_msgdelim_alone_and_serialtcp() -> None:
    assert g.parse_connector("msgdelim,serialdev,/dev/x").link == (MsgDelimLayer(),)
    for text in ("serialtcp,/dev/x", "serialtcp(server),/dev/x", "serialtcp(mode=server),/dev/x"):
        assert g.parse_connector(text).link == (SerialTcpLayer(server=True),)
    assert g.parse_connector("serialtcp(timeout=3),/dev/x").link == (
        SerialTcpLayer(server=True, timeout_ms=3000),
    )


def accepter(text: str) -> Accepter:
    return g.parse_accepter(text, allow_conacc=True)


def test_conacc_accepters() -> None:
    acc = accepter("conacc,relpkt(mode=server),msgdelim,serialdev,/dev/ttyS1,115200n81")
    assert acc.transport == "conacc"
    assert acc.conacc is not None
    assert acc.conacc.retry_time_ms == 0
    assert acc.conacc.connector.link == (RelPktLayer(server=True), MsgDelimLayer())
    assert acc.conacc.connector.device == SerialDevice("/dev/ttyS1", SerialSettings(speed=115200))
    acc = accepter("conacc(retry-time=2s),serialtcp,serialdev,/dev/ttyS1")
    assert acc.conacc == ConAcc(connector=acc.conacc.connector, retry_time_ms=2000)
    assert acc.conacc.connector.link == (SerialTcpLayer(server=False),)


def test_relpkt_under_conacc_is_a_client_unless_told_as_in_gensio() -> None:
    acc = accepter("conacc,relpkt,msgdelim,serialdev,/dev/ttyS1")
    assert acc.conacc is not None and acc.conacc.connector.link[0] == RelPktLayer(server=False)


def test_conacc_takes_serial_defaults_from_the_file() -> None:
    text = (
        "default:\n  name: speed\n  value: 57600\n  class: serialdev\n"
        "connection: &b\n  accepter: conacc,relpkt(mode=server),msgdelim,serialdev,/dev/x\n"
        "  connector: tcp,127.0.0.1,7\n"
    )
    conn = load_text(text, "b.yaml").connections[0]
    assert conn.accepter.conacc is not None
    device = conn.accepter.conacc.connector.device
    assert isinstance(device, SerialDevice) and device.serial.speed == 57600


@pytest.mark.parametrize(
    "text,message",
    [
        ("msgdelim,relpkt,serialdev,/dev/x", "link layers 'msgdelim,relpkt' are not supported"),
        ("relpkt,serialdev,/dev/x", "link layers 'relpkt' are not supported"),
        ("relpkt,msgdelim,msgdelim,/dev/x", "link layers 'relpkt,msgdelim,msgdelim'"),
        ("serialtcp,msgdelim,/dev/x", "link layers 'serialtcp,msgdelim'"),
        ("serialtcp(client),serialdev,/dev/x", "serialtcp on a connector is the server end"),
        ("serialtcp(server=yes),/dev/x", "serialtcp option 'server' takes no value"),
        (
            "relpkt(max_pktsize=200),msgdelim,/dev/x",
            "relpkt max_pktsize=200 needs msgdelim messages of 203 bytes",
        ),
        ("relpkt(max_packets=128),msgdelim,/dev/x", "relpkt max_packets=128 out of range"),
        ("relpkt(max_packets=0),msgdelim,/dev/x", "relpkt max_packets=0 out of range"),
        ("relpkt(mode=peer),msgdelim,/dev/x", "invalid relpkt mode 'peer'"),
        ("relpkt(timeout=0),msgdelim,/dev/x", "relpkt timeout must be more than 0"),
        ("relpkt(readbuf=10),msgdelim,/dev/x", "unknown option 'readbuf' for layer relpkt"),
        ("relpkt,msgdelim(crc=maybe),/dev/x", "invalid boolean 'maybe' for msgdelim crc"),
        ("relpkt,msgdelim(writebuf=x),/dev/x", "invalid number 'x' for msgdelim writebuf"),
        ("keepopen,relpkt,msgdelim,/dev/x", "keepopen over a link layer is not supported"),
    ],
)
def test_bad_link_stacks(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        g.parse_connector(text)
    assert message in str(info.value)


@pytest.mark.parametrize(
    "text,message",
    [
        ("conacc", "conacc needs a connector below it"),
        ("conacc(bogus=1),/dev/x", "unknown option 'bogus' for layer conacc"),
        ("conacc(retry-time=soon),/dev/x", "invalid time 'soon' for conacc retry-time"),
        ("telnet,conacc,relpkt,msgdelim,/dev/x", "telnet over conacc is not supported"),
        ("conacc,serialtcp(server),/dev/x", "serialtcp under conacc is the client end"),
        ("conacc,keepopen,/dev/x", "conacc over keepopen, telnet or ssl is not supported"),
        (
            "relpkt,msgdelim,udp,2000",
            "pyser2net serves link layers on an accepter under conacc "
            "(conacc,relpkt(mode=server),msgdelim",
        ),
    ],
)
def test_bad_conacc_accepters(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        accepter(text)
    assert message in str(info.value)


@pytest.mark.parametrize(
    "text",
    [
        "relpkt,msgdelim,serialdev,/dev/ttyS0,115200n81,local",
        "relpkt(mode=server,max_packets=8,timeout=2,max_timeouts=2),msgdelim(crc=off),/dev/x",
        "msgdelim(readbuf=64,writebuf=32),/dev/x",
        "serialtcp(timeout=3),/dev/x",
    ],
)
def test_connector_strings_are_written_back_as_read(text: str) -> None:
    con = g.parse_connector(text)
    assert g.parse_connector(connector_string(con)) == con


@pytest.mark.parametrize(
    "text",
    [
        "conacc,relpkt(mode=server),msgdelim,serialdev,/dev/ttyS1,115200n81",
        "conacc(retry-time=2s),serialtcp(client),/dev/x",
    ],
)
def test_accepter_strings_are_written_back_as_read(text: str) -> None:
    acc = accepter(text)
    assert accepter(accepter_string(acc)) == acc


def test_check_summary_names_each_layer() -> None:
    text = (
        "connection: &b\n  accepter: conacc,relpkt(mode=server),msgdelim,serialdev,/dev/x,"
        "115200n81\n  connector: tcp,127.0.0.1,7\n"
        "connection: &a\n  accepter: tcp,127.0.0.1,2000\n"
        "  connector: relpkt,msgdelim(crc=off),serialdev,/dev/y,115200n81,local\n"
    )
    summary = summarize(load_text(text, "t.yaml"))
    assert (
        "accepter:  conacc: relpkt (server, 16 x 123 bytes, timeout 1000 ms x 6) over "
        "msgdelim (128/128 bytes) over serial /dev/x 115200N81"
    ) in summary
    assert (
        "connector: relpkt (client, 16 x 123 bytes, timeout 1000 ms x 6) over msgdelim "
        "(128/128 bytes, no CRC) over serial /dev/y 115200N81 local"
    ) in summary


@pytest.mark.parametrize(
    "text",
    [
        "relpkt,msgdelim,/dev/x",
        "relpkt(mode=server),msgdelim(crc=off),/dev/x",
        "msgdelim,/dev/x",
        "serialtcp,/dev/x",
        "/dev/x",
    ],
)
def test_every_link_the_parsers_accept_has_an_entry_in_the_run_time_table(text: str) -> None:
    layers = g.parse_connector(text).link
    kinds = tuple(type(layer) for layer in layers)
    assert kinds in {kind.layers for kind in LINKS}
    build_link(layers, FakeTimer())


@pytest.mark.parametrize(
    "text",
    [
        "rotator: &r\n  accepter: conacc,serialdev,/dev/x\n  connections: [ a ]\n",
        "admin:\n  accepter: conacc,serialdev,/dev/x\n",
    ],
)
def test_conacc_is_only_a_connections_accepter(text: str) -> None:
    head = "connection: &a\n  accepter: tcp,2000\n  connector: echo\n"
    with pytest.raises(ConfigError) as info:
        load_text(head + text, "c.yaml")
    assert "conacc is served only as a connection's accepter" in str(info.value)
