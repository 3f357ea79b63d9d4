"""The commands of attach's control socket, parsed."""

from __future__ import annotations

import pytest

from pyser2net.runtime.attach_control import CommandError, parse_command


@pytest.mark.parametrize(
    "line, parsed",
    [
        ("dtr on", ("dtr", True)),
        ("DTR OFF\r", ("dtr", False)),
        ("rts 1", ("rts", True)),
        ("rts 0", ("rts", False)),
        ("break", ("break", 0.25)),
        ("break 500", ("break", 0.5)),
        ("break on", ("break", True)),
        ("break off", ("break", False)),
        ("  status ", ("status", None)),
        ("help", ("help", None)),
        ("exit", ("quit", None)),
    ],
)
def test_commands(line, parsed):
    assert parse_command(line) == parsed


@pytest.mark.parametrize(
    "line, words",
    [
        ("", "empty command"),
        ("dtr", "usage: dtr on|off"),
        ("dtr maybe", "usage: dtr on|off"),
        ("break 0", "usage: break"),
        ("break 60001", "usage: break"),
        ("break -5", "usage: break"),
        ("status now", "takes no argument"),
        ("reboot", "unknown command 'reboot'"),
    ],
)
def test_errors_say_what_is_wrong(line, words):
    with pytest.raises(CommandError, match=words):
        parse_command(line)
