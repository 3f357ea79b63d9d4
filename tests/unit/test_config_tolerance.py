"""A problem costs the entry it is in: the rest of the configuration is served.

ser2net 4.3 serves every connection it could read and logs the others; the
readers return the valid part of a file with the list of problems, each
with its position, and what the problems cost (``rejected``).
"""

from __future__ import annotations

from pathlib import Path
from typing import List

import pytest

from pyser2net.config import (
    ConfigError,
    LoadResult,
    load_text,
    read_config,
    read_config_file,
    read_legacy_lines,
)

GOOD = "connection: &{name}\n  accepter: tcp,127.0.0.1,{port}\n  connector: echo\n"


def served(result: LoadResult) -> List[str]:
    return [c.name for c in result.config.connections]


def rejected(result: LoadResult) -> List[str]:
    return [str(r) for r in result.rejected]


def issues(result: LoadResult) -> List[str]:
    return [str(i) for i in result.issues]


# -- YAML --------------------------------------------------------------------


def test_misspelled_option_costs_its_connection_only() -> None:
    text = (
        GOOD.format(name="good", port=3001)
        + GOOD.format(name="bad", port=3002)
        + "  options:\n    kickoldusr: true\n"
        + GOOD.format(name="after", port=3003)
    )
    result = read_config(text, "s.yaml")
    assert served(result) == ["good", "after"]
    assert issues(result) == [
        "s.yaml:8:5: unknown option 'kickoldusr' (see ser2net.yaml(5) "
        "for the options of a connection)"
    ]
    assert rejected(result) == ["bad at s.yaml:4:13"]
    assert result.complete


@pytest.mark.parametrize(
    "extra, message",
    [
        ("  timeout: soon\n", "7:12: invalid timeout 'soon'"),
        ("  enable: maybe\n", "7:11: enable must be on or off"),
        ("  colour: blue\n", "7:3: invalid key 'colour' in connection b"),
        ("  options:\n    banner: *nowhere\n", "8:13: unknown alias *nowhere"),
        (
            "  options:\n    max-connections: many\n",
            "8:5: invalid value 'many' for max-connections",
        ),
    ],
)
def test_errors_ser2net_stops_reading_at_cost_one_connection(extra: str, message: str) -> None:
    """ser2net 4.3 stops reading the file at these; every other connection is served here."""
    text = (
        GOOD.format(name="a", port=3001)
        + GOOD.format(name="b", port=3002)
        + extra
        + GOOD.format(name="c", port=3003)
    )
    result = read_config(text, "s.yaml")
    assert served(result) == ["a", "c"]
    assert len(result.issues) == 1 and str(result.issues[0]).startswith(f"s.yaml:{message}")
    assert rejected(result) == ["b at s.yaml:4:13"]


def test_unknown_define_costs_the_connection_that_uses_it() -> None:
    text = (
        GOOD.format(name="a", port=3001)
        + "connection: &b\n  accepter: tcp,127.0.0.1,3002\n  connector: echo *(nodef)\n"
        + GOOD.format(name="c", port=3003)
    )
    result = read_config(text, "s.yaml")
    assert served(result) == ["a", "c"]
    # One problem, not a second one saying the connector is missing.
    assert issues(result) == [
        "s.yaml:6:14: unknown define 'nodef' in *(nodef) (defines must come before their use)"
    ]


def test_duplicate_name_keeps_the_first_definition() -> None:
    text = GOOD.format(name="a", port=3001) + GOOD.format(name="a", port=3002)
    result = read_config(text, "s.yaml")
    assert [c.accepter.port for c in result.config.connections] == [3001]
    assert issues(result) == ["s.yaml:4:13: duplicate connection name 'a'"]
    assert rejected(result) == ["a at s.yaml:4:13"]


def test_a_broken_first_definition_still_takes_the_name() -> None:
    """As in ser2net: the second ``&b`` is a duplicate even though the first failed."""
    text = "connection: &b\n  accepter: tcp,127.0.0.1,3001\n  connector: nosuch,x\n" + GOOD.format(
        name="b", port=3002
    )
    result = read_config(text, "s.yaml")
    assert served(result) == []
    assert rejected(result) == ["b at s.yaml:1:13", "b at s.yaml:4:13"]


def test_connections_after_a_broken_default_are_not_served() -> None:
    """What they should have had is unknown (a remaddr, say); ser2net stops there too."""
    text = (
        GOOD.format(name="a", port=3001)
        + "default:\n  name: kickolduser\n  value: maybe\n"
        + GOOD.format(name="b", port=3002)
    )
    result = read_config(text, "s.yaml")
    assert served(result) == ["a"]
    assert len(result.issues) == 1 and str(result.issues[0]).startswith("s.yaml:5:3: invalid")
    assert rejected(result) == [
        "b at s.yaml:7:13 (it follows the default at s.yaml:5:3, which could not be set)"
    ]


def test_unknown_top_level_key_and_define_without_anchor_cost_nothing_else() -> None:
    text = (
        GOOD.format(name="a", port=3001)
        + "foo: bar\ndefine: text\n"
        + GOOD.format(name="b", port=3002)
    )
    result = read_config(text, "s.yaml")
    assert served(result) == ["a", "b"]
    assert [i.position.line for i in result.issues if i.position] == [4, 5]
    assert result.rejected == ()


def test_syntax_error_serves_the_entries_before_it() -> None:
    text = (
        GOOD.format(name="a", port=3001)
        + "connection: &b\n  accepter: tcp,127.0.0.1,3002\n  connector: [echo\n"
        + GOOD.format(name="c", port=3003)
    )
    result = read_config(text, "s.yaml")
    assert served(result) == ["a"]
    assert not result.complete
    (issue,) = result.issues
    assert str(issue).startswith("s.yaml:7:11: YAML syntax error: ")
    assert str(issue).endswith("; nothing from line 4 on is read")


def test_syntax_error_on_the_first_entry_reads_nothing() -> None:
    result = read_config("connection: &a\n  accepter: [[[\n", "s.yaml")
    assert served(result) == [] and not result.complete
    assert str(result.issues[0]).endswith("; nothing in this file is read")


def test_missing_include_makes_the_reading_incomplete(tmp_path: Path) -> None:
    path = tmp_path / "main.yaml"
    path.write_text(GOOD.format(name="a", port=3001) + "include: nothere.yaml\n")
    result = read_config_file(str(path))
    assert served(result) == ["a"]
    assert not result.complete
    assert "cannot open included file" in issues(result)[0]


def test_led_with_an_error_is_not_made_and_costs_its_users() -> None:
    text = (
        "led: &l\n  driver: sysfs\n  options:\n    device: x\n    colour: red\n"
        + GOOD.format(name="a", port=3001)
        + "  options:\n    led-tx: l\n"
        + GOOD.format(name="b", port=3002)
    )
    result = read_config(text, "s.yaml")
    assert result.config.leds == ()
    assert served(result) == ["b"]
    assert rejected(result) == ["a at s.yaml:6:13"]


def test_rotator_keeps_the_connections_that_are_served() -> None:
    text = (
        GOOD.format(name="a", port=3001)
        + GOOD.format(name="b", port=3002)
        + "  options:\n    colour: red\n"
        + "rotator: &r\n  accepter: tcp,127.0.0.1,3005\n  connections: [ a, b, c ]\n"
        + "rotator: &s\n  accepter: tcp,127.0.0.1,3006\n  connections: [ b ]\n"
    )
    result = read_config(text, "s.yaml")
    assert [(r.name, r.connections) for r in result.config.rotators] == [("r", ("a",))]
    assert rejected(result) == [
        "b at s.yaml:4:13",
        "rotator s at s.yaml:12:10 (none of its connections is served)",
    ]
    assert issues(result)[1:] == [
        "s.yaml:11:21: rotator r refers to connection 'b', which is not served because of errors",
        "s.yaml:11:24: rotator r refers to unknown connection 'c'",
        "s.yaml:14:18: rotator s refers to connection 'b', which is not served because of errors",
    ]


def test_admin_with_an_error_is_left_out() -> None:
    text = (
        GOOD.format(name="a", port=3001)
        + "admin:\n  accepter: tcp,127.0.0.1,3009\n  options:\n    colour: red\n"
    )
    result = read_config(text, "s.yaml")
    assert result.config.admin is None and served(result) == ["a"]


def test_strict_reading_lists_every_problem() -> None:
    text = (
        GOOD.format(name="a", port=3001)
        + "  timeout: soon\n"
        + GOOD.format(name="b", port=3002)
        + "  enable: maybe\n"
    )
    with pytest.raises(ConfigError) as info:
        load_text(text, "s.yaml")
    assert [i.position.line for i in info.value.issues if i.position] == [4, 8]


# -- legacy ------------------------------------------------------------------


def test_legacy_duplicate_keeps_the_first_and_serves_the_rest() -> None:
    """ser2net: "Duplicate connection name: 3003 on line 2", first one kept."""
    result = read_config(
        "3003:raw:0:/dev/ttyS0:9600\n3003:telnet:0:/dev/ttyS1:9600\n3004:raw:0:/dev/ttyS2:9600\n",
        "s.conf",
    )
    assert served(result) == ["3003", "3004"]
    assert result.config.connections[0].connector.text.startswith("/dev/ttyS0")
    assert issues(result) == ["s.conf:2:1: duplicate connection name '3003'"]
    assert rejected(result) == ["3003 at s.conf:2:1"]


def test_legacy_a_broken_first_line_leaves_its_name_free() -> None:
    """ser2net serves the second line when the first one had errors."""
    result = read_config("3003:raw:0:/dev/ttyS0:kickoldusr\n3003:raw:0:/dev/ttyS1:\n", "s.conf")
    assert served(result) == ["3003"]
    assert result.config.connections[0].connector.text == "/dev/ttyS1"


@pytest.mark.parametrize(
    "lines, bad_line",
    [
        (["3001:raw:0:/dev/ttyS0:kickoldusr"], 1),
        (["3001:raww:0:/dev/ttyS0:"], 1),
        (["3001:raw:abc:/dev/ttyS0:"], 1),
        (["3001:raw:0:sol.lan,10.0.0.1:"], 1),
        (["LED:l1:blinky:device=x", "3001:raw:0:/dev/ttyS0:led-tx=l1"], 2),
        (["garbage"], 1),
    ],
)
def test_legacy_a_bad_line_costs_that_line(lines: List[str], bad_line: int) -> None:
    text = (
        "3000:raw:0:/dev/ttyS9:\n"
        + "".join(f"{line}\n" for line in lines)
        + "3009:raw:0:/dev/ttyS8:\n"
    )
    result = read_config(text, "s.conf")
    assert served(result) == ["3000", "3009"]
    assert bad_line + 1 in {i.position.line for i in result.issues if i.position}
    assert len(result.rejected) == 1
    assert result.rejected[0].position.line == len(lines) + 1


def test_legacy_invalid_remaddr_default_refuses_the_ports_that_get_it() -> None:
    """ser2net refuses each later port ("Error adding remote address"): never open to all."""
    result = read_config(
        "3000:raw:0:/dev/ttyS0:\nDEFAULT:remaddr:bad,,x\n"
        "3001:raw:0:/dev/ttyS1:\n3002:raw:0:/dev/ttyS2:remaddr=127.0.0.1,0\n",
        "s.conf",
    )
    assert served(result) == ["3000", "3002"]
    assert [i.position.line for i in result.issues if i.position] == [3]
    assert "remaddr default" in issues(result)[0]


def test_legacy_rotator_keeps_the_connections_that_are_served() -> None:
    result = read_legacy_lines(
        ["3000:raw:0:/dev/ttyS0:", "ROTATOR:3005:3000 3001", "ROTATOR:3006:3001"]
    )
    assert [(r.name, r.connections) for r in result.config.rotators] == [("3005", ("3000",))]
    assert rejected(result) == ["rotator 3006 at <-C>:3:1 (none of its connections is served)"]


def test_merged_readings_keep_every_problem() -> None:
    first = read_config("3000:raw:0:/dev/ttyS0:bogus\n", "a.conf")
    second = read_config("connection: &x\n  accepter: [\n", "b.yaml")
    both = first.merged(second)
    assert len(both.issues) == 2 and not both.complete
    assert rejected(both) == ["3000 at a.conf:1:1"]


def test_second_accepter_on_a_taken_port_is_left_out() -> None:
    """ser2net serves the first of two accepters on one address and port."""
    text = (
        GOOD.format(name="a", port=3001)
        + GOOD.format(name="b", port=3001)
        + GOOD.format(name="c", port=3002)
        + "rotator: &r\n  accepter: tcp,127.0.0.1,3002\n  connections: [ a ]\n"
    )
    result = read_config(text, "s.yaml")
    assert served(result) == ["a", "c"] and result.config.rotators == ()
    assert rejected(result) == ["b at s.yaml:4:13", "rotator r at s.yaml:10:10"]
    assert len(result.issues) == 2
