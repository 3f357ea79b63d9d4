"""The legacy ser2net.conf reader against its fixtures and ser2net 4.3's rules.

Every good fixture must give the model its YAML twin gives (the twin is the
same service written for ser2net 4.x); every bad fixture must be refused
with one issue on each line its ``# errors:`` header lists.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import List, Set

import pytest

from pyser2net.config import ConfigError, load_legacy_lines
from pyser2net.config.legacy import escape_controls, parse_legacy, split_words
from pyser2net.config.model import SerialDevice, SerialSettings
from pyser2net.config.yaml import parse_yaml

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "legacy"
GOOD = sorted(p.name for p in FIXTURES.glob("g*.conf"))
BAD = sorted(p.name for p in FIXTURES.glob("b*.conf"))


def materialize(text: str) -> str:
    """Fixed stand-ins for the placeholders the compat test fills with ptys/ports."""
    text = re.sub(r"@PORT(\d)@", lambda m: str(3000 + int(m.group(1))), text)
    return re.sub(r"@PTY(\d)@", lambda m: f"/dev/ttyS{m.group(1)}", text)


def header_lines(text: str, key: str) -> Set[int]:
    match = re.search(rf"^# {key}: ([0-9 ]*)", text, re.M)
    return {int(n) for n in match.group(1).split()} if match else set()


def parse(text: str, name: str = "t.conf"):
    return parse_legacy(text, name)


def issue_lines(text: str) -> List[int]:
    with pytest.raises(ConfigError) as info:
        parse(text)
    return [i.position.line for i in info.value.issues if i.position]


def test_enough_fixtures() -> None:
    assert len(GOOD) + len(BAD) >= 15


@pytest.mark.parametrize("name", GOOD)
def test_good_fixture_equals_yaml_twin(name: str) -> None:
    config = parse(materialize((FIXTURES / name).read_text()), name)
    assert config.connections
    twin = FIXTURES / name.replace(".conf", ".yaml")
    if not twin.exists():
        return
    expected = parse_yaml(materialize(twin.read_text()), twin.name)
    for conn in expected.connections:
        assert config.connection(conn.name) == conn
    if expected.admin is not None:
        assert config.admin == expected.admin
    if expected.rotators:
        assert config.rotators == expected.rotators
    if expected.leds:
        assert config.leds == expected.leds


@pytest.mark.parametrize("name", BAD)
def test_bad_fixture_issue_lines(name: str) -> None:
    text = (FIXTURES / name).read_text()
    with pytest.raises(ConfigError) as info:
        parse(materialize(text), name)
    lines = {i.position.line for i in info.value.issues}
    assert lines == header_lines(text, "errors")
    for issue in info.value.issues:
        assert re.match(rf"^{re.escape(name)}:\d+:\d+: \S", str(issue))


def test_device_and_accepter_as_ser2net_shows_them() -> None:
    conn = parse("2000:raw:0:/dev/pts/0:115200 LOCAL\n").connections[0]
    assert conn.name == "2000" and conn.accepter.text == "2000"
    assert conn.connector.text == "/dev/pts/0,115200,LOCAL"
    conn = parse(
        "2001:raw:0:/dev/x:19200 ODD -XONXOFF -RTSCTS -LOCAL HANGUP_WHEN_DONE "
        "-HANGUP_WHEN_DONE NOBREAK -NOBREAK\n"
    ).connections[0]
    assert conn.connector.text == (
        "/dev/x,19200,ODD,xonxoff=false,rtscts=false,local=false,"
        "hangup-when-done,hangup-when-done=false,NOBREAK,"
        "nobreak=false"
    )
    assert parse("2002:rawlp:0:/dev/lp0:\n").connections[0].connector.text == "/dev/lp0,WRONLY"


def test_states() -> None:
    config = parse(
        "1:raw:0:/dev/a:\n2:rawlp:0:/dev/b:\n3:telnet:0:/dev/c:\n"
        "4:telnet:0:/dev/d:remctl\n5:off:0:/dev/e:\n6:on:0:/dev/f:\n"
    )
    by = {c.name: c for c in config.connections}
    assert isinstance(by["2"].connector.device, SerialDevice) and by["2"].connector.device.wronly
    assert by["3"].accepter.telnet and not by["3"].accepter.rfc2217
    assert by["4"].accepter.telnet and by["4"].accepter.rfc2217
    assert not by["5"].enable and by["6"].enable and not by["1"].accepter.telnet


def test_port_specs() -> None:
    config = parse(
        "ipv4,127.0.0.1,2000:raw:0:/dev/a:\nudp,2001:raw:0:/dev/b:\n"
        "ipv6,::1,2002:raw:0:/dev/c:\n127.0.0.1,2003:raw:0:/dev/d:\n"
    )
    a, b, c, d = config.connections
    assert (a.accepter.family, a.accepter.host, a.accepter.port) == ("ipv4", "127.0.0.1", 2000)
    assert b.accepter.transport == "udp" and b.name == "udp,2001"
    assert (c.accepter.family, c.accepter.host) == ("ipv6", "::1")
    assert d.accepter.host == "127.0.0.1" and d.accepter.family is None


def test_state_scan_quirk_and_case() -> None:
    # ser2net's automaton does not look again at the character that broke
    # a partial match, so a doubled colon hides the state.
    assert issue_lines("2000::raw:0:/dev/a:\n") == [1]
    assert issue_lines("2000:RAW:0:/dev/a:\n") == [1]


def test_option_case_rules() -> None:
    conn = parse("1:raw:0:/dev/a:KICKOLDUSER 9600e71 8databits\n").connections[0]
    assert conn.options.kickolduser
    assert conn.connector.device.serial.databits == 8
    assert conn.connector.device.serial.parity == "even"
    for word in ("local", "even", "REMCTL", "Telnet_brk_on_sync", "-KICKOLDUSER"):
        assert issue_lines(f"1:raw:0:/dev/a:{word}\n") == [1], word


def test_continuation_and_comments() -> None:
    text = "# x \\\n1:raw:0:/dev/a:\\\n 9600 \\\nLOCAL\n\n  # indented\n   \n"
    conn = parse(text).connections[0]
    assert conn.connector.text == "/dev/a, 9600 LOCAL".replace(" 9600 ", "9600,")
    assert conn.position is not None and conn.position.line == 2


def test_crlf_lines() -> None:
    config = parse("BANNER:b:hi\r\n1:raw:0:/dev/a:b\r\n")
    assert config.connections[0].options.banner == "hi"


def test_error_position_on_continued_line() -> None:
    with pytest.raises(ConfigError) as info:
        parse("1:raw:0:/dev/a:9600 \\\n  bogus\n")
    assert str(info.value.issues[0]).startswith("t.conf:2:3:")


def test_strings_last_definition_wins_whatever_kind() -> None:
    conn = parse("BANNER:x:one\nSIGNATURE:x:two\n1:raw:0:/dev/a:x\n").connections[0]
    assert conn.options.signature == "two" and conn.options.banner is None
    assert issue_lines("DEVICE:x:/dev/b\n1:raw:0:/dev/a:x\n") == [2]


def test_device_alias() -> None:
    conn = parse("DEVICE:modem:/dev/ttyUSB0\n1:raw:0:modem:9600\n").connections[0]
    assert conn.connector.device.path == "/dev/ttyUSB0"
    assert conn.connector.text == "/dev/ttyUSB0,9600" and conn.connector.alias == "modem"


def test_option_words_are_split_like_a_shell_line() -> None:
    conn = parse("1:raw:0:/dev/a:banner=\"a b\\r\\n\" openstr='x y'\n").connections[0]
    assert conn.options.banner == "a b\\r\\n" and conn.options.openstr == "x y"
    assert issue_lines('1:raw:0:/dev/a:banner="open\n') == [1]


def test_split_words_escapes() -> None:
    assert split_words(r"a\tb 'c d' \101\x41") == [("a\tb", 0), ("c d", 5), ("AA", 11)]
    # gensio 2.6 counts hex letters from zero: \x4A is '@'.
    assert split_words(r"\x4A") == [("@", 0)]
    with pytest.raises(ValueError):
        split_words("abc\\")


def test_escape_controls() -> None:
    assert escape_controls("a\r\n\x01\tb") == "a\\r\\n\\x01\tb"


def test_defaults_apply_to_following_lines() -> None:
    config = parse(
        "1:raw:0:/dev/a:\nDEFAULT:speed:19200E71:serialdev\nDEFAULT:kickolduser:true\n"
        "2:raw:0:/dev/b:\nDEFAULT:kickolduser:false:ser2net\n3:raw:0:/dev/c:115200\n"
    )
    one, two, three = config.connections
    assert one.connector.device.serial.speed == 9600 and not one.options.kickolduser
    assert two.connector.device.serial.speed == 19200 and two.options.kickolduser
    assert three.connector.device.serial.speed == 115200
    assert three.connector.device.serial.parity == "even" and not three.options.kickolduser


def test_default_names_are_gensio_names() -> None:
    assert issue_lines("DEFAULT:databits:7\n") == [1]
    assert issue_lines("DEFAULT:KICKOLDUSER:true\n") == [1]
    assert issue_lines("DEFAULT:hangup-when-done:true\n") == [1]
    conn = parse("DEFAULT:hangup_when_done:true\n1:raw:0:/dev/a:\n").connections[0]
    assert conn.connector.device.serial.hangup_when_done


def test_timeout_reads_like_strtoul() -> None:
    assert parse("1:raw:0x10:/dev/a:\n").connections[0].timeout == 16
    assert parse("1:raw::010:/dev/a:\n").connections[0].timeout == 8


def test_trace_words() -> None:
    conn = parse(
        "TRACEFILE:t:/tmp/\\d.log\n1:raw:0:/dev/a:tb=t hexdump -timestamp tb-timestamp\n"
    ).connections[0]
    assert conn.options.trace_both is not None
    assert conn.options.trace_both.path == "/tmp/\\d.log"
    assert conn.options.trace_both.hexdump and conn.options.trace_both.timestamp


def test_closeon_escapes_checked() -> None:
    assert issue_lines("CLOSEON:c:bye\\d\n") == [1]
    assert (
        parse("CLOSEON:c:\\x04\\r\n1:raw:0:/dev/a:c\n").connections[0].options.closeon == "\\x04\\r"
    )


def test_controlport_rotator_led() -> None:
    config = parse(
        "CONTROLPORT:127.0.0.1,2001\nLED:l:sysfs:device=x::y state=0\n"
        "1:raw:0:/dev/a:led-tx=l\n2:raw:0:/dev/b:\nROTATOR:3000:1 2\n"
    )
    assert config.admin is not None and config.admin.accepter.port == 2001
    assert config.leds[0].device == "x::y" and config.leds[0].state == 0
    assert config.connections[0].options.led_tx == "l"
    assert config.rotators[0].connections == ("1", "2") and config.rotators[0].name == "3000"
    assert issue_lines("ROTATOR:3000:\n") == [1]  # ser2net 4.3 crashes on this one
    assert issue_lines("1:raw:0:/dev/a:\nROTATOR:3000:1 9\n") == [2]


def test_command_line_lines() -> None:
    config = load_legacy_lines(["BANNER:b:x", "2000:raw:0:/dev/a:b"])
    assert config.connections[0].options.banner == "x"


def test_all_problems_collected() -> None:
    assert issue_lines("1:raw:x:/dev/a:\n2:bogus\n3:raw:0:/dev/a:nope\n") == [1, 2, 3]


def test_comma_separated_serial_options_go_to_the_device() -> None:
    """ser2net appends a word that starts with a digit to the device string."""
    config = parse(materialize((FIXTURES / "g18_comma_serial.conf").read_text()))
    first, second, third = (c.connector for c in config.connections)
    assert first.text == "/dev/ttyS0,9600,NONE,1STOPBIT,8DATABITS,-XONXOFF,-RTSCTS,LOCAL"
    assert first.device == SerialDevice("/dev/ttyS0", SerialSettings(local=True))
    assert second.device == SerialDevice(
        "/dev/ttyS1", SerialSettings(19200, stopbits=2, xonxoff=True, rtscts=True, local=True)
    )
    assert config.connections[1].options.kickolduser
    assert third.device == SerialDevice(
        "/dev/ttyS2", SerialSettings(38400, stopbits=2, local=True, hangup_when_done=True)
    )


def test_comma_separated_non_serial_option_is_named() -> None:
    with pytest.raises(ConfigError) as info:
        parse("2000:raw:0:/dev/a:38400,LOCAL,kickolduser\n")
    assert str(info.value) == (
        "t.conf:1:19: 'kickolduser' in '38400,LOCAL,kickolduser' is not a serial option: a "
        "word that starts with a digit goes to the device whole, so separate other options "
        "with spaces"
    )


def test_rs485conf_is_checked_where_it_is_used() -> None:
    assert parse("RS485CONF:old:0:0:0:0\n2000:raw:0:/dev/a:9600\n").connections
    with pytest.raises(ConfigError) as info:
        parse("RS485CONF:old:5:6:1:1\n2000:raw:0:/dev/a:9600 rs485=old\n")
    message = str(info.value)
    assert message.startswith("t.conf:2:24: rs485=old: RS485CONF old at t.conf:1:11: ")
    assert message.endswith(
        "(this is the ser2net 3 form; ser2net 4 takes flag names: "
        "RS485CONF:old:5:6:rts_on_send:rx_during_tx)"
    )
