"""The YAML reader against the fixture files and ser2net's observed rules."""

from __future__ import annotations

import re
from pathlib import Path
from typing import List

import pytest

from pyser2net.config import ConfigError, load_file, load_text, load_yaml_fragments
from pyser2net.config.model import (
    EchoDevice,
    NetworkDevice,
    RemoteAddress,
    SerialDevice,
    SerialSettings,
    TraceFile,
)
from pyser2net.config.yaml import parse_yaml

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "yaml"
PORTS = {f"@PORT{i}@": str(4100 + i) for i in range(6)}


def materialize(dest: Path, pty: str = "/dev/pyser2net-test-tty") -> Path:
    """Copy the fixtures with their placeholders filled in."""
    for src in FIXTURES.rglob("*"):
        if src.is_file():
            out = dest / src.relative_to(FIXTURES)
            out.parent.mkdir(parents=True, exist_ok=True)
            text = src.read_text().replace("@PTY@", pty).replace("@DIR@", str(dest))
            for key, value in PORTS.items():
                text = text.replace(key, value)
            out.write_text(text)
    return dest


def expectations(path: Path) -> List[str]:
    return re.findall(r"^# expect: (.*)$", path.read_text(), re.M)


FIXTURE_NAMES = sorted(p.name for p in FIXTURES.glob("*.yaml"))


@pytest.fixture(scope="module")
def fixture_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return materialize(tmp_path_factory.mktemp("yaml"))


def test_there_are_enough_fixtures() -> None:
    assert len(FIXTURE_NAMES) >= 20
    assert any(n.startswith("good-") for n in FIXTURE_NAMES)
    assert any(n.startswith("bad-") for n in FIXTURE_NAMES)
    assert any(n.startswith("v2-") for n in FIXTURE_NAMES)


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_fixture(fixture_dir: Path, name: str) -> None:
    path = fixture_dir / name
    expected = expectations(path)
    assert expected, f"{name} has no '# expect:' line"
    if expected[0].startswith("ok"):
        config = load_file(str(path))
        assert [c.name for c in config.connections] == expected[0].split()[1:]
        return
    with pytest.raises(ConfigError) as info:
        load_file(str(path))
    lines = str(info.value).splitlines()
    assert len(lines) == len(expected), lines
    for want in expected:
        _, where, text = want.split(" ", 2)
        assert any(line.startswith(f"{path}:{where}: ") and text in line for line in lines), (
            want,
            lines,
        )


def test_every_error_line_has_file_line_column(fixture_dir: Path) -> None:
    for name in FIXTURE_NAMES:
        try:
            load_file(str(fixture_dir / name))
        except ConfigError as exc:
            for issue in exc.issues:
                assert issue.position is not None
                assert re.match(r"^.+:\d+:\d+: \S", str(issue)), str(issue)


def test_version2_twin_reads_as_version1(fixture_dir: Path) -> None:
    one = load_file(str(fixture_dir / "good-twin.yaml"))
    two = load_file(str(fixture_dir / "v2-twin.yaml"))
    assert one == two
    assert one.connections[0].connector.device.serial.speed == 4800
    assert one.connections[0].options.banner == "on bench"
    assert one.rotators[0].connections == ("tw1", "tw2")


def test_defaults_apply_only_to_what_follows(fixture_dir: Path) -> None:
    config = load_file(str(fixture_dir / "good-defaults.yaml"))
    before, after = config.connections
    assert before.connector.device.serial.speed == 57600
    assert before.options.kickolduser is True
    assert before.options.chardelay_scale == 20
    assert after.connector.device.serial.speed == 9600
    assert after.options.chardelay_scale == 30


def test_options_fixture_values(fixture_dir: Path) -> None:
    (conn,) = load_file(str(fixture_dir / "good-options.yaml")).connections
    opts = conn.options
    assert conn.timeout == 600
    assert opts.kickolduser and opts.telnet_brk_on_sync and not opts.chardelay
    assert (opts.chardelay_scale, opts.chardelay_min, opts.chardelay_max) == (25, 500, 40000)
    assert (opts.dev_to_net_bufsize, opts.net_to_dev_bufsize, opts.max_connections) == (128, 256, 3)
    assert opts.remaddr == (
        RemoteAddress("127.0.0.1", 0),
        RemoteAddress("127.0.0.2", 4000, True),
        RemoteAddress("::1", 0),
    )
    assert [c.device for c in opts.connback] == [NetworkDevice("127.0.0.1", 4001)]
    assert opts.no_acc_to_con and not opts.no_con_to_acc
    assert (opts.accepter_retry_time, opts.connector_retry_time) == (5, 7)
    assert opts.openstr == "AT\\r" and opts.closeon == "bye" and opts.sendon == "\\r\\n"
    assert opts.trace_read == TraceFile("/tmp/trace-\\o-read", hexdump=True, timestamp=True)
    assert opts.trace_both == TraceFile("/tmp/trace-\\o-both", hexdump=False)
    assert opts.trace_write is None


def test_defines_include_and_file(fixture_dir: Path) -> None:
    (d1,) = load_file(str(fixture_dir / "good-defines.yaml")).connections
    assert d1.options.banner == "Welcome to lab7\\r\\n"
    assert d1.options.openstr == "lab7 *( is not a define"
    inc = load_file(str(fixture_dir / "good-include.yaml"))
    assert [c.name for c in inc.connections] == ["main", "inc-a", "inc-b"]
    assert inc.connections[1].options.banner == "included a"
    (f1,) = load_file(str(fixture_dir / "good-file-subst.yaml")).connections
    assert f1.options.banner == "key=s3cret."


def test_stacks_fixture(fixture_dir: Path) -> None:
    t1, t2, t3, t4 = load_file(str(fixture_dir / "good-stacks.yaml")).connections
    assert t1.accepter.telnet and not t1.accepter.rfc2217
    assert t1.connector.keepopen is not None and t1.connector.keepopen.retry_time_ms == 500
    assert t1.connector.keepopen.discard_badwrites
    assert t2.accepter.rfc2217 and t2.accepter.family == "ipv4"
    assert t2.connector.device == NetworkDevice("127.0.0.1", 4103)
    assert t3.accepter.transport == "udp"
    assert t4.accepter.port == 4104
    assert isinstance(t4.connector.device, SerialDevice) and t4.connector.device.wronly


def conn(options: str = "", extra: str = "", name: str = "a") -> str:
    text = f"connection: &{name}\n  accepter: tcp,2000\n  connector: echo\n{extra}"
    if options:
        text += "  options:\n" + "".join(f"    {line}\n" for line in options.splitlines())
    return text


def errors(text: str, source: str = "t.yaml") -> List[str]:
    with pytest.raises(ConfigError) as info:
        parse_yaml(text, source)
    return str(info.value).splitlines()


@pytest.mark.parametrize(
    "word,value",
    [
        ("true", True),
        ("on", True),
        ("yes", True),
        ("1", True),
        ('""', True),
        ("false", False),
        ("off", False),
        ("no", False),
        ("0", False),
    ],
)
def test_booleans_as_ser2net_reads_them(word: str, value: bool) -> None:
    (c,) = parse_yaml(conn(f"kickolduser: {word}"), "t.yaml").connections
    assert c.options.kickolduser is value


@pytest.mark.parametrize("word", ["TRUE", "True", "maybe", "2", "~"])
def test_bad_booleans(word: str) -> None:
    assert "invalid boolean" in errors(conn(f"kickolduser: {word}"))[0]


def test_option_names_are_case_insensitive() -> None:
    (c,) = parse_yaml(conn("KickOldUser: true\nCHARDELAY-SCALE: 0x20"), "t").connections
    assert c.options.kickolduser and c.options.chardelay_scale == 32


def test_clamping_like_ser2net() -> None:
    (c,) = parse_yaml(
        conn("max-connections: 0\ndev-to-net-bufsize: 1\naccepter-retry-time: 0"), "t"
    ).connections
    assert c.options.max_connections == 1
    assert c.options.dev_to_net_bufsize == 2
    assert c.options.accepter_retry_time == 1


def test_option_ranges_are_only_checked_on_defaults() -> None:
    (c,) = parse_yaml(conn("chardelay-scale: 2000"), "t").connections
    assert c.options.chardelay_scale == 2000
    text = "default:\n  name: chardelay-min\n  value: 0\n" + conn()
    assert "out of range (expected 1 to 100000)" in errors(text)[0]


def test_timeout_is_read_like_strtoul() -> None:
    assert parse_yaml(conn(extra="  timeout: 010\n"), "t").connections[0].timeout == 8
    assert parse_yaml(conn(extra="  timeout: -1\n"), "t").connections[0].timeout == 2**32 - 1
    assert "invalid timeout" in errors(conn(extra="  timeout: 10s\n"))[0]


def test_enable_off_and_case() -> None:
    assert parse_yaml(conn(extra="  enable: Off\n"), "t").connections[0].enable is False
    assert "enable must be on or off" in errors(conn(extra="  enable: true\n"))[0]


def test_every_problem_is_reported() -> None:
    text = (
        conn("colour: red\nkickolduser: maybe", name="a")
        + conn(extra="  bogus: 1\n", name="b")
        + "frobnicate: 1\n"
    )
    lines = errors(text)
    assert len(lines) == 4
    assert lines[0].startswith("t.yaml:5:5: unknown option 'colour'")
    assert lines[1].startswith("t.yaml:6:5: invalid boolean")
    assert lines[2].startswith("t.yaml:10:3: invalid key 'bogus'")
    assert lines[3].startswith("t.yaml:11:1: unknown top-level key 'frobnicate'")


def test_serial_words_in_options_move_to_the_device() -> None:
    text = (
        "connection: &s\n  accepter: tcp,2000\n  connector: serialdev,/dev/x\n"
        "  options:\n    19200n81:\n    XONXOFF:\n"
    )
    (c,) = parse_yaml(text, "t").connections
    assert c.connector.device.serial == SerialSettings(speed=19200, xonxoff=True)


def test_redefined_anchor_and_aliases_to_connections() -> None:
    text = (
        "define: &x one\ndefine: &x two\n"
        + conn("banner: *x", name="c1")
        + "rotator: &r\n  accepter: tcp,3000\n  connections: [*c1]\n"
    )
    config = parse_yaml(text, "t")
    assert config.connections[0].options.banner == "two"
    assert config.rotators[0].connections == ("c1",)


def test_alias_to_a_later_define_is_an_error() -> None:
    text = conn("banner: *later") + "define: &later text\n"
    assert "unknown alias *later" in errors(text)[0]


def test_star_runs_and_trailing_star_as_ser2net_4_3() -> None:
    # A run of stars stays as it is, except that the last one may start a
    # define; a star at the very end is dropped.
    text = "define: &x X\n" + conn("banner: 'a ** b **(x) *'")
    (c,) = parse_yaml(text, "t").connections
    assert c.options.banner == "a ** b *X "


def test_rotator_needs_known_connections() -> None:
    text = conn(name="c1") + "rotator: &r\n  accepter: tcp,3000\n  connections: [c1, c9]\n"
    assert "unknown connection 'c9'" in errors(text)[0]


def test_admin_and_led() -> None:
    text = (
        "led: &l1\n  driver: sysfs\n  options:\n    device: 'a::b'\n    duration: 5\n"
        "admin:\n  accepter: tcp,127.0.0.1,3999\n" + conn("led-rx: *l1")
    )
    config = parse_yaml(text, "t")
    assert config.leds[0].duration_ms == 5 and config.leds[0].device == "a::b"
    assert config.admin is not None and config.admin.accepter.port == 3999
    assert config.connections[0].options.led_rx == "l1"
    assert "admin port already configured" in errors(text + "admin:\n  accepter: tcp,4000\n")[0]


def test_v2_defines_use_equals_and_names_are_keys() -> None:
    text = (
        "defines:\n  who: me\nconnections:\n  c:\n    accepter: tcp,2000\n"
        "    connector: echo\n    options:\n      banner: '=(who) *(who) =(= =='\n"
    )
    (c,) = parse_yaml(text, "t").connections
    assert c.name == "c" and c.options.banner == "me *(who) =( ="


def test_v1_rejects_a_second_document() -> None:
    assert "version 2" in errors(conn() + "---\n" + conn(name="b"))[0]


def test_include_loop_is_stopped(tmp_path: Path) -> None:
    loop = tmp_path / "loop.yaml"
    loop.write_text(f"include: {loop}\n")
    lines = errors(loop.read_text(), str(loop))
    assert any("too many nested includes" in line for line in lines)


def test_missing_include_and_file(tmp_path: Path) -> None:
    text = f"include: {tmp_path}/nothere.yaml\n" + conn("banner: '*{/nonexistent/x}'")
    lines = errors(text)
    assert "cannot open included file" in lines[0]
    assert "cannot read file '/nonexistent/x'" in lines[1]


def test_empty_file_is_refused_like_ser2net() -> None:
    # ser2net: "yaml file ended in invalid state" / "Unexpected scalar value".
    assert errors("", "t") == [
        "t:1:1: no configuration in this file (expected connection:, define:, ...)"
    ]
    assert errors("# nothing\n", "t")[0].startswith("t:2:1: no configuration")
    assert errors("%YAML 1.1\n---\n...\n", "t") == [
        "t:3:1: expected a mapping of top-level keys (connection:, define:, ...)"
    ]


def test_top_level_must_be_a_mapping() -> None:
    assert "expected a mapping" in errors("- a\n- b\n")[0]


def test_yaml_fragments_from_the_command_line() -> None:
    config = load_yaml_fragments(
        [
            "connection: &y#  accepter: tcp,2000#  connector: echo",
            "#  options:#    banner: 'a#b'",
        ]
    )
    assert config.connections[0].options.banner == "a#b"


def test_load_text_detects_yaml_by_directive() -> None:
    config = load_text("%YAML 1.1\n---\n" + conn(), "cfg")
    assert isinstance(config.connections[0].connector.device, EchoDevice)


def test_surrogate_bytes_do_not_crash(tmp_path: Path) -> None:
    path = tmp_path / "bin.yaml"
    path.write_bytes(b"connection: &a\n  accepter: tcp,2000\n  connector: echo\x00\xff\n")
    with pytest.raises(ConfigError) as info:
        load_file(str(path))
    assert re.match(r"^.+:\d+:\d+: ", str(info.value))


def test_summary_lists_only_changed_options(fixture_dir: Path) -> None:
    from pyser2net.config.summary import summarize

    text = summarize(load_file(str(fixture_dir / "good-twin.yaml")))
    assert "tw1:" in text and "4800N81 local" in text and "banner: on bench\n" in text
    assert "kickolduser" not in text
    assert "rotator twr" in text
    assert summarize(parse_yaml("define: &a b\n", "t")) == "no connections\n"


@pytest.mark.parametrize(
    "text,message",
    [
        (
            "defaults:\n  name: speed\n  value: 9600\n",
            "t.yaml:2:3: 'defaults:' holds name:, value: and class: as one version 1 default does: "
            "write 'default:'",
        ),
        (
            "connection: &c\n  accepter: tcp,2000\n  connector: echo\n  kickolduser: true\n",
            "t.yaml:4:3: 'kickolduser' is an option of connection c: indent it under options:",
        ),
        (
            "connection: &c\n  accepter: tcp,2000\n  connector: echo\n  trace-read: /tmp/x\n",
            "t.yaml:4:3: 'trace-read' is an option of connection c: indent it under options:",
        ),
        (
            "connection: &c\n  accepter: tcp,2000\n  options:\n    connector: echo\n",
            "t.yaml:1:13: connection c has no connector (the connector: at t.yaml:4:5 is indented "
            "under options:; outdent it to the level of options:)",
        ),
        (
            "connection: &c\n  accepter: tcp,2000\n  connector: echo\n  options:\n    timeout: 5\n",
            "t.yaml:5:5: 'timeout' belongs to the connection, not to its options: outdent it",
        ),
        (
            "kickolduser: true\n",
            "t.yaml:1:1: unknown top-level key 'kickolduser' (expected define, "
            "default, delete_default, connection, rotator, led, admin or include; "
            "it is a connection option: indent it under the options: of a connection",
        ),
        (
            "connection: &c\n  accepter: tcp,2000\nconnector: echo\n",
            "t.yaml:3:1: unknown top-level key 'connector' (expected define, default, "
            "delete_default, connection, rotator, led, admin or include; "
            "it belongs to a connection: indent it under connection: &name)",
        ),
        (
            "connection: &c\n  accepter: tcp,2000\n  connector: echo\n  options:\n\t  banner: x\n",
            "t.yaml:5:1: tab character: YAML indents with spaces only, replace the tab with spaces",
        ),
    ],
)
def test_messages_say_what_to_do(text: str, message: str) -> None:
    assert any(line.startswith(message) for line in errors(text)), errors(text)


@pytest.mark.parametrize(
    "text,line,what",
    [
        (
            "# ser2net\n\nconnection: &c\n  accepter: tcp,2000\n  connector: echo\n",
            3,
            "connection:",
        ),
        ("---\nconnection: &c\n", 1, "---"),
        ("define: &b hello\n", 1, "define:"),
    ],
)
def test_yaml_in_a_conf_file_is_named(text: str, line: int, what: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_text(text, "ser2net.conf")
    assert str(info.value) == (
        f"ser2net.conf:{line}:1: this looks like a YAML configuration ({what}), but it is read "
        "as the legacy ser2net.conf format: ser2net reads a file as YAML only when its name "
        "ends in .yaml or it starts with %YAML; rename the file to end in .yaml, or put the "
        "two lines '%YAML 1.1' and '---' at its top"
    )


def test_legacy_directives_are_not_taken_for_yaml() -> None:
    assert load_text("DEFAULT:speed:19200\n2000:raw:0:/dev/x:\n", "a.conf").connections
