"""Accepter and connector strings, checked against what ser2net 4.3 accepts."""

from __future__ import annotations

from typing import Dict

import pytest

from pyser2net.config.errors import ConfigError
from pyser2net.config.gensio import (
    apply_serial_word,
    parse_accepter,
    parse_connector,
    parse_gtime_ms,
    serial_settings,
    split_top,
)
from pyser2net.config.model import (
    EchoDevice,
    NetworkDevice,
    SerialDevice,
    SerialSettings,
    SslSettings,
)


def known_hosts(host: str) -> bool:
    """A pure resolver: only ``localhost`` and ``gw.example`` resolve."""
    return host in ("localhost", "gw.example")


def serial(text: str) -> SerialSettings:
    device = parse_connector(f"serialdev,/dev/ttyS0,{text}").device
    assert isinstance(device, SerialDevice)
    return device.serial


def test_split_top_respects_parentheses_and_quotes() -> None:
    assert split_top("ssl(key=a,cert=b),tcp, 1") == ["ssl(key=a,cert=b)", "tcp", "1"]
    assert split_top("sctp(laddr='h,1'),h,2") == ["sctp(laddr='h,1')", "h", "2"]


@pytest.mark.parametrize(
    "text,transport,host,port,telnet,rfc2217",
    [
        ("tcp,3001", "tcp", None, 3001, False, False),
        ("tcp, 127.0.0.1, 3001", "tcp", "127.0.0.1", 3001, False, False),
        ("udp,::1,3001", "udp", "::1", 3001, False, False),
        ("telnet,tcp,3001", "tcp", None, 3001, True, False),
        ("telnet(rfc2217),tcp,3001", "tcp", None, 3001, True, True),
        ("telnet(rfc2217=false),tcp,3001", "tcp", None, 3001, True, False),
        ("telnet(rfc2217=1),tcp,3001", "tcp", None, 3001, True, True),
        ("tcp(nodelay),h,3001", "tcp", "h", 3001, False, False),
        ("3001", "tcp", None, 3001, False, False),
        # gensio's defaults: an address where a layer is expected means tcp.
        ("telnet,3001", "tcp", None, 3001, True, False),
        ("telnet(rfc2217),3001", "tcp", None, 3001, True, True),
        ("telnet,127.0.0.1,3001", "tcp", "127.0.0.1", 3001, True, False),
        ("telnet(rfc2217),localhost,3001", "tcp", "localhost", 3001, True, True),
        ("127.0.0.1,3001", "tcp", "127.0.0.1", 3001, False, False),
        ("::1,3001", "tcp", "::1", 3001, False, False),
        ("ipv4,3001", "tcp", None, 3001, False, False),
        ("ipv4,tcp,127.0.0.1,3001", "tcp", "127.0.0.1", 3001, False, False),
        ("ipv6,udp,::1,3001", "udp", "::1", 3001, False, False),
        ("telnet,udp,3001", "udp", None, 3001, True, False),
        ("telnet,ipv4,127.0.0.1,3001", "tcp", "127.0.0.1", 3001, True, False),
        ("ipv6n4,3001", "tcp", None, 3001, False, False),
    ],
)
def test_accepters(
    text: str, transport: str, host: object, port: int, telnet: bool, rfc2217: bool
) -> None:
    acc = parse_accepter(text, resolves=known_hosts)
    assert (acc.transport, acc.host, acc.port, acc.telnet, acc.rfc2217) == (
        transport,
        host,
        port,
        telnet,
        rfc2217,
    )
    assert acc.text == text


@pytest.mark.parametrize(
    "text,family",
    [
        ("tcp,ipv6,::,3001", "ipv6"),
        ("ipv4,3001", "ipv4"),
        ("ipv6,tcp,3001", "ipv6"),
        ("telnet,ipv4,127.0.0.1,3001", "ipv4"),
        ("ipv4,ipv4,3001", "ipv4"),
        ("ipv6n4,3001", None),
        ("3001", None),
    ],
)
def test_family(text: str, family: object) -> None:
    assert parse_accepter(text).family == family


def test_tls_accepters() -> None:
    acc = parse_accepter("telnet(rfc2217),ssl(key=/k,cert=/c,CA=/ca/,clientauth),tcp,3001")
    assert acc.telnet and acc.rfc2217 and acc.port == 3001
    assert acc.ssl == SslSettings(key="/k", cert="/c", ca="/ca/", clientauth=True)
    assert parse_accepter("ssl,tcp,3001").ssl == SslSettings(
        key="/etc/ser2net/ser2net.key", cert="/etc/ser2net/ser2net.crt"
    )
    assert parse_accepter("ssl,3001").ssl is not None  # gensio's shorthand for tcp
    with pytest.raises(ConfigError) as info:
        parse_accepter("ssl,udp,3001")
    assert "an ssl accepter runs over tcp" in str(info.value)
    with pytest.raises(ConfigError) as info:
        parse_accepter("ssl,conacc,serialdev,/dev/ttyS0,9600")
    assert "an ssl accepter runs over tcp (ssl,tcp,PORT), not conacc" in str(info.value)


def test_a_word_before_a_port_is_a_host_only_if_the_resolver_knows_it() -> None:
    """The parser does no lookups: the caller's resolver decides, and
    without one every such word is a (mistyped) layer."""
    asked = []

    def resolves(host: str) -> bool:
        asked.append(host)
        return known_hosts(host)

    assert parse_accepter("gw.example,3001", resolves=resolves).host == "gw.example"
    connector = parse_connector("gw.example,3001", resolves=resolves)
    assert isinstance(connector.device, NetworkDevice) and connector.device.host == "gw.example"
    assert asked == ["gw.example", "gw.example"]
    for text in ("gw.example,3001", "telnet,localhost,3001"):
        with pytest.raises(ConfigError, match="not a host name that resolves"):
            parse_accepter(text)
    # Only a well-formed name is ever asked about; an explicit tcp never asks.
    with pytest.raises(ConfigError, match="unknown accepter layer 'bad_name'"):
        parse_accepter("bad_name,3001", resolves=resolves)
    assert parse_connector("tcp,elsewhere.example,3001", resolves=resolves).text
    assert asked == ["gw.example", "gw.example"]


@pytest.mark.parametrize(
    "text,message",
    [
        ("TCP,3001", "unknown accepter layer 'TCP'"),
        ("tcpx,3001", "unknown accepter layer 'tcpx'"),
        ("telnet(rfc2217=TRUE),tcp,3001", "invalid boolean 'TRUE'"),
        ("telnet(rfc2217=maybe),tcp,3001", "invalid boolean"),
        ("telnet(foo),tcp,3001", "unknown option 'foo' for layer telnet"),
        ("tcp(foo),h,3001", "unknown option 'foo' for layer tcp"),
        ("tcp", "needs [host,]port"),
        ("tcp,h,abc", "invalid port 'abc'"),
        ("tcp,h,70000", "out of range"),
        ("tcp,h,1,h,2", "several addresses"),
        ("sctp,3001", "'sctp' is valid for ser2net but not supported by pyser2net"),
        ("telnet,mux,certauth,ssl,tcp,1", "'mux' is valid for ser2net but not supported"),
        ("telnet", "accepter 'telnet' has no address (expected e.g. telnet,2000"),
        ("0", "stdio accepter"),
        ("telnet,000", "stdio accepter"),
        ("tcpx,127.0.0.1,3001", "unknown accepter layer 'tcpx'"),
        ("nosuchhost.invalid,3001", "write tcp,nosuchhost.invalid,PORT for a host name"),
        ("TELNET,3001", "layer names are lower case"),
        ("serialdev,/dev/x", "serialdev is not an accepter layer"),
        ("ipv4,ipv6,3001", "names two address families"),
        ("ipv4,sctp,3001", "'sctp' is valid for ser2net but not supported"),
        ("unix,/tmp/s", "'unix' is valid for ser2net but not supported"),
        ("127.0.0.1", "invalid port '127.0.0.1'"),
        ("tcp(,3001", "malformed gensio layer"),
    ],
)
def test_bad_accepters(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_accepter(text)
    assert message in str(info.value)


@pytest.mark.parametrize(
    "words,expected",
    [
        ("9600n81", SerialSettings()),
        ("115200E72", SerialSettings(115200, "even", 7, 2)),
        ("9600o72", SerialSettings(9600, "odd", 7, 2)),
        ("9600m81", SerialSettings(parity="mark")),
        ("9600s81", SerialSettings(parity="space")),
        ("9600e", SerialSettings(parity="even")),
        ("300", SerialSettings(speed=300)),
        ("speed=4800", SerialSettings(speed=4800)),
        ("Speed=9600e71", SerialSettings(9600, "even", 7, 1)),
        ("19200,EVEN,7DATABITS,2STOPBITS", SerialSettings(19200, "even", 7, 2)),
        ("NONE,ODD,MARK,SPACE", SerialSettings(parity="space")),
        ("5DATABITS,1STOPBIT", SerialSettings(databits=5)),
        ("9600n81 local rtscts", SerialSettings(local=True, rtscts=True)),
        (
            "LOCAL,xonxoff,HANGUP_WHEN_DONE,nobreak",
            SerialSettings(local=True, xonxoff=True, hangup_when_done=True, nobreak=True),
        ),
        ("Local,hangup-when-done", SerialSettings(local=True, hangup_when_done=True)),
        ("local,-local,rtscts=true,-RTSCTS", SerialSettings()),
        ("xonxoff=false,nobreak=false", SerialSettings()),
        ("dtr=off,rts=on", SerialSettings(dtr=False, rts=True)),
        ("dtr=1", SerialSettings(dtr=True)),
        ("rs485=1:2", SerialSettings(rs485="1:2")),
        (
            "rs485=1:2:rts_on_send:rx_during_tx",
            SerialSettings(rs485="1:2:rts_on_send:rx_during_tx"),
        ),
        ("rs485=off", SerialSettings()),
    ],
)
def test_serial_words(words: str, expected: SerialSettings) -> None:
    assert serial(words) == expected


@pytest.mark.parametrize(
    "words,message",
    [
        ("even", "unknown serial option 'even'"),
        ("Even", "unknown serial option"),
        ("mark", "unknown serial option"),
        ("7databits", "unknown serial option"),
        ("CLOCAL", "unknown serial option"),
        ("custspeed", "unknown serial option"),
        ("9600x81", "unknown serial option"),
        ("9600n91", "invalid data bits"),
        ("9600n83", "invalid stop bits"),
        ("7n1", "invalid data bits"),
        ("dtr=maybe", "invalid boolean"),
        ("local=maybe", "invalid boolean"),
        ("rs485=fast", "invalid rs485"),
        ("speed=fast", "invalid speed"),
    ],
)
def test_bad_serial_words(words: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        serial(words)
    assert message in str(info.value)


def test_apply_serial_word_reports_non_serial_words() -> None:
    values: Dict[str, object] = {}
    assert apply_serial_word(values, "9600", None)
    assert not apply_serial_word(values, "banner", None)
    assert not apply_serial_word(values, "kickolduser", None)
    assert values == {"speed": 9600}


def test_serial_settings_over_defaults() -> None:
    settings = serial_settings(["EVEN"], None, {"speed": 57600, "local": True})
    assert settings == SerialSettings(speed=57600, parity="even", local=True)


def test_connectors() -> None:
    dev = parse_connector("serialdev,/dev/lp0,wronly").device
    assert isinstance(dev, SerialDevice) and dev.wronly
    assert parse_connector("tcp,h,4000").device == NetworkDevice("h", 4000)
    assert parse_connector("tcp,4000").device == NetworkDevice("localhost", 4000)
    assert parse_connector("udp,h,4000").device == NetworkDevice("h", 4000, "udp")
    assert parse_connector("echo").device == EchoDevice()
    assert parse_connector("echo,ignored").device == EchoDevice()
    con = parse_connector("keepopen(retry-time=2s,discard-badwrites),serialdev,/dev/x")
    assert con.keepopen is not None
    assert (con.keepopen.retry_time_ms, con.keepopen.discard_badwrites) == (2000, True)
    assert parse_connector("keepopen,serialdev,/dev/x").keepopen.retry_time_ms == 1000


@pytest.mark.parametrize(
    "text,device",
    [
        ("127.0.0.1,4000", NetworkDevice("127.0.0.1", 4000)),
        ("ipv4,127.0.0.1,4000", NetworkDevice("127.0.0.1", 4000)),
        ("ipv4,udp,127.0.0.1,4000", NetworkDevice("127.0.0.1", 4000, "udp")),
        ("4000", NetworkDevice("localhost", 4000)),
        ("/dev/ttyS0", SerialDevice("/dev/ttyS0")),
        (
            "/dev/ttyS0,19200e71,local",
            SerialDevice("/dev/ttyS0", SerialSettings(19200, "even", 7, 1, local=True)),
        ),
        ("keepopen,/dev/ttyS0,9600", SerialDevice("/dev/ttyS0")),
    ],
)
def test_connector_defaults(text: str, device: object) -> None:
    """gensio: a device path means serialdev, an address means tcp."""
    assert parse_connector(text).device == device


def test_ssl_connector() -> None:
    """TLS towards a network peer: a client, trusting CA= (system CAs without)."""
    con = parse_connector("keepopen,ssl(CA=/etc/ca.pem),tcp,example.net,7000")
    assert con.device == NetworkDevice(
        "example.net", 7000, ssl=SslSettings(key=None, cert=None, ca="/etc/ca.pem")
    )
    assert con.keepopen is not None
    dev = parse_connector("ssl(key=/k.pem,cert=/c.pem),tcp,h,1").device
    assert isinstance(dev, NetworkDevice)
    assert dev.ssl == SslSettings(key="/k.pem", cert="/c.pem")
    dev = parse_connector("ssl(mode=client),tcp,h,1").device
    assert isinstance(dev, NetworkDevice) and dev.ssl == SslSettings()


def test_connector_serial_defaults() -> None:
    dev = parse_connector("serialdev,/dev/x,EVEN", None, {"speed": 19200}).device
    assert isinstance(dev, SerialDevice)
    assert dev.serial == SerialSettings(speed=19200, parity="even")


@pytest.mark.parametrize(
    "text,message",
    [
        ("Serialdev,/dev/x", "unknown connector layer 'Serialdev'"),
        ("serialdev", "needs a device path"),
        ("serialdev(wronly),/dev/lp0", "wronly is a serial option"),
        ("serialdev(foo),/dev/x", "unknown option 'foo'"),
        ("keepopen(foo),serialdev,/dev/x", "unknown option 'foo'"),
        ("keepopen(retry-time=soon),serialdev,/dev/x", "invalid time"),
        ("telnet,tcp,h,4000", "connector layer 'telnet': telnet connectors (a telnet client"),
        ("telnet,serialdev,/dev/x", "connector layer 'telnet'"),
        ("echo(noecho)", "not supported by pyser2net"),
        ("ipmisol,lan -U x,9600", "'ipmisol' is valid for ser2net but not supported"),
        ("stdio,cat", "'stdio' is valid for ser2net"),
        ("ssl,udp,h,1", "an ssl connector runs over tcp"),
        ("ssl,serialdev,/dev/x", "an ssl connector runs over tcp"),
        ("ssl,ssl,tcp,h,1", "connector has two ssl layers"),
        ("ssl(clientauth),tcp,h,1", "'clientauth' only applies to an accepter"),
        ("ssl(mode=server),tcp,h,1", "'mode=server' on a connector is not supported"),
        ("ssl(cert=/c.pem),tcp,h,1", "cert= needs the key"),
        ("msgdelim,ssl,tcp,h,1", "link layers over an ssl connector are not supported"),
        ("telnet(rfc2217),ssl,tcp,h,1", "connector layer 'telnet': telnet connectors"),
        ("file(infile=/a,outfile=/b,create)", "connector layer 'file': file connectors are not"),
        ("file", "connector layer 'file': file connectors are not supported yet"),
        ("keepopen,file(outfile=/tmp/x)", "connector layer 'file'"),
        ("keepopen", "connector 'keepopen' has no device (expected e.g. serialdev"),
        ("tcp,h,0", "connector tcp needs a port to connect to, not 0"),
        ("127.0.0.1,0", "connector tcp needs a port to connect to, not 0"),
        ("bogus,1", "unknown connector layer 'bogus'"),
        ("Echo", "layer names are lower case"),
    ],
)
def test_bad_connectors(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_connector(text)
    assert message in str(info.value)


@pytest.mark.parametrize(
    "text,ms",
    [("100", 100), ("1s", 1000), ("1M30s", 90000), ("2H", 7200000), ("500u", 0), ("1D", 86400000)],
)
def test_gtime(text: str, ms: int) -> None:
    assert parse_gtime_ms(text, None, "t") == ms


def test_trailing_newline_of_a_folded_block_is_rejected_like_ser2net() -> None:
    with pytest.raises(ConfigError) as info:
        parse_accepter("tcp,127.0.0.1,3001\n")
    assert "ends with a newline" in str(info.value)
