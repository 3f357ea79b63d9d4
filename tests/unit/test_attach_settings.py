"""What attach connects to (URLs and gensio stacks), --format, and termios as requests."""

from __future__ import annotations

import termios

import pytest

from pyser2net.config.attach import AttachTarget, Frame, parse_format, parse_target
from pyser2net.config.errors import ConfigError
from pyser2net.config.model import SslSettings
from pyser2net.protocol.linesettings import (
    CMSPAR,
    LineSettings,
    frame_requests,
    purge_value,
    requests_between,
)
from pyser2net.protocol.telnet import ComPortCommand, ControlValue


@pytest.mark.parametrize(
    "text, host, port, kind",
    [
        ("rfc2217://127.0.0.1:2000", "127.0.0.1", 2000, "rfc2217"),
        ("RFC2217://server.lan:7000/", "server.lan", 7000, "rfc2217"),
        ("rfc2217://[::1]:2000", "::1", 2000, "rfc2217"),
        ("socket://localhost:4001", "localhost", 4001, "raw"),
        ("telnet(rfc2217),tcp,10.0.0.5,3001", "10.0.0.5", 3001, "rfc2217"),
        ("telnet(rfc2217=true), tcp, host, 3001", "host", 3001, "rfc2217"),
        ("telnet(rfc2217),10.0.0.5,3001", "10.0.0.5", 3001, "rfc2217"),
        ("telnet,tcp,host,23", "host", 23, "telnet"),
        ("telnet(rfc2217=false),tcp,host,23", "host", 23, "telnet"),
        ("tcp,host,4000", "host", 4000, "raw"),
        ("tcp,ipv6,::1,4000", "::1", 4000, "raw"),
    ],
)
def test_targets(text, host, port, kind):
    target = parse_target(text)
    assert (target.host, target.port, target.kind) == (host, port, kind)
    assert target.ssl is None


def test_an_ssl_stack_is_read_with_its_options():
    target = parse_target("telnet(rfc2217),ssl(CA=/etc/ca.pem,cert=c.pem,key=k.pem),tcp,h,3001")
    assert target == AttachTarget(
        text=target.text,
        host="h",
        port=3001,
        telnet=True,
        rfc2217=True,
        ssl=SslSettings(key="k.pem", cert="c.pem", ca="/etc/ca.pem"),
    )


@pytest.mark.parametrize(
    "text, words",
    [
        ("loop://", "unknown scheme"),
        ("rfc2217://host", "HOST:PORT"),
        ("rfc2217://host:0", "out of range"),
        ("rfc2217://host:2000?logging=debug", "URL options"),
        ("serialdev,/dev/ttyS0,9600", "cannot reach"),
        ("udp,host,2000", "cannot reach"),
        ("telnet(rfc2217)", "no tcp,HOST,PORT"),
        ("tcp,2000", "needs a host"),
        ("frobnicate,tcp,h,1", "unknown layer 'frobnicate'"),
        ("telnet(bogus),tcp,h,1", "unknown option 'bogus'"),
        ("ssl(pin=x),tcp,h,1", "unknown option 'pin' for layer ssl"),
        ("ssl(clientauth),tcp,h,1", "only applies to an accepter"),
        ("ssl,telnet,tcp,h,1", "telnet goes above ssl"),
        ("ssl,ssl,tcp,h,1", "two ssl layers"),
    ],
)
def test_bad_targets_say_why_in_one_line(text, words):
    with pytest.raises(ConfigError) as info:
        parse_target(text)
    message = str(info.value)
    assert words in message and "\n" not in message


@pytest.mark.parametrize(
    "text, frame",
    [
        ("8N1", Frame(8, "none", 1)),
        ("7E1", Frame(7, "even", 1)),
        ("7o2", Frame(7, "odd", 2)),
        ("5M1", Frame(5, "mark", 1)),
        ("8S1", Frame(8, "space", 1)),
    ],
)
def test_formats(text, frame):
    assert parse_format(text) == frame
    assert frame.short == text.upper()


@pytest.mark.parametrize("text", ["9N1", "8X1", "8N3", "8N", "115200N81", ""])
def test_bad_formats(text):
    with pytest.raises(ConfigError, match="invalid format"):
        parse_format(text)


def test_line_settings_from_flags():
    plain = LineSettings.from_flags(0, termios.CS8 | termios.CREAD, 9600)
    assert plain == LineSettings(9600, 1, "none", hupcl=False)
    s = LineSettings.from_flags(
        termios.IXON | termios.IXOFF, termios.CSTOPB | termios.HUPCL | termios.PARODD, 57600
    )
    assert (s.baud, s.stopbits, s.flow, s.hupcl, s.parity_hint) == (
        57600,
        2,
        "xonxoff",
        True,
        "odd",
    )
    s = LineSettings.from_flags(termios.IXON, termios.CRTSCTS | CMSPAR, 12345)
    assert (s.flow, s.parity_hint) == ("rtscts", "space")
    assert LineSettings.from_flags(0, CMSPAR | termios.PARODD, 1).parity_hint == "mark"


def test_requests_for_a_new_connection_ask_for_everything():
    s = LineSettings(12345, 2, "rtscts")
    assert requests_between(None, s) == [
        (ComPortCommand.SET_BAUDRATE, 12345),
        (ComPortCommand.SET_STOPSIZE, 2),
        (ComPortCommand.SET_CONTROL, ControlValue.FLOW_HARDWARE),
    ]


def test_requests_carry_only_changes():
    old = LineSettings(9600, 1, "none")
    assert requests_between(old, old) == []
    assert requests_between(old, LineSettings(57600, 1, "none")) == [
        (ComPortCommand.SET_BAUDRATE, 57600)
    ]
    assert requests_between(old, LineSettings(9600, 1, "xonxoff")) == [
        (ComPortCommand.SET_CONTROL, ControlValue.FLOW_XONXOFF)
    ]
    assert requests_between(old, LineSettings(9600, 2, "none", hupcl=False)) == [
        (ComPortCommand.SET_STOPSIZE, 2)
    ]


def test_b0_is_a_hang_up_not_a_rate():
    assert requests_between(LineSettings(9600), LineSettings(0)) == []
    assert (ComPortCommand.SET_BAUDRATE, 0) not in requests_between(None, LineSettings(0))


def test_frame_requests_and_purges():
    assert frame_requests(Frame(7, "even", 1)) == [
        (ComPortCommand.SET_DATASIZE, 7),
        (ComPortCommand.SET_PARITY, 3),
    ]
    assert [purge_value(s) for s in (0x01, 0x02, 0x03, 0x40, 0x41)] == [1, 2, 3, 0, 1]
