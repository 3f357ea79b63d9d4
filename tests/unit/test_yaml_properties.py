"""Whatever the input, the YAML reader returns a Config or raises ConfigError.

Generated files and mutations of the fixtures must never escape as another
exception, and every reported problem must say where it is.
"""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyser2net.config import ConfigError
from pyser2net.config.yaml import parse_yaml

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "yaml"
SEEDS = [
    p.read_text().replace("@PTY@", "/dev/ttyS0").replace("@DIR@", "/nonexistent")
    for p in sorted(FIXTURES.glob("*.yaml"))
]

KEYS = [
    "connection",
    "define",
    "default",
    "delete_default",
    "rotator",
    "led",
    "admin",
    "include",
    "connections",
    "defines",
    "defaults",
    "accepter",
    "connector",
    "options",
    "timeout",
    "enable",
    "name",
    "value",
    "class",
    "banner",
    "kickolduser",
    "remaddr",
    "led-tx",
    "trace-read",
    "chardelay-scale",
    "max-connections",
    "driver",
    "device",
]
VALUES = [
    "tcp,2000",
    "telnet(rfc2217),tcp,127.0.0.1,2001",
    "serialdev,/dev/x,9600n81",
    "echo",
    "on",
    "off",
    "true",
    "0x10",
    "-1",
    "*(x)",
    "*{/nonexistent}",
    "=(x)",
    "'quoted *( text'",
    "[a, b]",
    "{a: b}",
    "*x",
    "&x v",
    "~",
    "",
    "EVEN",
    "sctp,1",
]

POSITION = re.compile(r"^.+:\d+:\d+: \S")


def check(text: str) -> None:
    try:
        parse_yaml(text, "prop.yaml")
    except ConfigError as exc:
        assert exc.issues
        for issue in exc.issues:
            assert issue.position is not None, str(issue)
            assert POSITION.match(str(issue)), str(issue)


line = st.builds(
    lambda indent, key, value: f"{' ' * indent}{key}: {value}",
    st.sampled_from([0, 0, 2, 4, 6]),
    st.sampled_from(KEYS),
    st.sampled_from(VALUES),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(line, max_size=14))
def test_generated_files(lines: list) -> None:
    check("\n".join(lines) + "\n")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SEEDS), st.data())
def test_mutated_fixtures(seed: str, data: st.DataObject) -> None:
    text = seed
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(text)))
        action = data.draw(st.sampled_from(["delete", "insert", "replace"]))
        piece = data.draw(
            st.sampled_from(
                [
                    ":",
                    " ",
                    "\n",
                    "&",
                    "*",
                    "(",
                    ")",
                    "{",
                    "}",
                    "[",
                    "'",
                    '"',
                    "-",
                    ",",
                    "#",
                    "\t",
                    "%",
                    "=",
                    "!",
                    "|",
                    ">",
                    "\\",
                    "\x00",
                    "\udcff",
                    "  ",
                    "connection: &z\n",
                ]
            )
        )
        if action == "delete":
            text = text[:at] + text[at + 1 :]
        elif action == "insert":
            text = text[:at] + piece + text[at:]
        else:
            text = text[:at] + piece + text[at + len(piece) :]
    check(text)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text(text: str) -> None:
    check(text)
