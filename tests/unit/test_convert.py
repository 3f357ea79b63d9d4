"""Legacy -> YAML conversion: reading the output back gives the same model."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest

from pyser2net.cli import convert_config
from pyser2net.config.convert import quote, to_yaml, yaml_anchor
from pyser2net.config.legacy import parse_legacy
from pyser2net.config.model import Config
from pyser2net.config.yaml import parse_yaml
from pyser2net.protocol.templates import context_for, render

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "legacy"
GOOD = sorted(p.name for p in FIXTURES.glob("g*.conf"))


def materialize(text: str) -> str:
    text = re.sub(r"@PORT(\d)@", lambda m: str(3000 + int(m.group(1))), text)
    return re.sub(r"@PTY(\d)@", lambda m: f"/dev/ttyS{m.group(1)}", text)


def renamed(config: Config) -> Config:
    """Names as YAML anchors can hold them, the one thing conversion changes."""
    return replace(
        config,
        connections=tuple(replace(c, name=yaml_anchor(c.name)) for c in config.connections),
        rotators=tuple(
            replace(
                r,
                name=yaml_anchor(r.name),
                connections=tuple(yaml_anchor(m) for m in r.connections),
            )
            for r in config.rotators
        ),
    )


@pytest.mark.parametrize("name", GOOD)
def test_round_trip(name: str) -> None:
    config = parse_legacy(materialize((FIXTURES / name).read_text()), name)
    text = to_yaml(config)
    assert text.startswith("%YAML 1.1\n---\n")
    assert parse_yaml(text, "converted.yaml") == renamed(config)


def test_forms_ser2net_43_accepts() -> None:
    config = parse_legacy(
        "2000:telnet:0:/dev/a:remctl\n2001:telnet:0:/dev/b:\n"
        "2002:rawlp:0:/dev/lp0:\n2003:off:7:/dev/c:EVEN\n",
        "t.conf",
    )
    text = to_yaml(config)
    assert "accepter: telnet(rfc2217),tcp,2000" in text
    assert "accepter: telnet,tcp,2001" in text
    assert "connector: serialdev,/dev/lp0,9600n81,wronly" in text
    assert "  timeout: 7\n  enable: off\n  connector: serialdev,/dev/c,9600e81" in text


def test_names_that_are_not_anchors() -> None:
    config = parse_legacy("ipv4,127.0.0.1,2000:raw:0:/dev/a:\n", "t.conf")
    assert "connection: &ipv4_127_0_0_1_2000" in to_yaml(config)


def test_quote_keeps_ser2net_escapes() -> None:
    assert quote("it's \\r\\n") == "'it''s \\r\\n'"
    assert quote("a\r\x01b") == "'a\\r\\x01b'"
    assert quote("*(x) *{y}") == "'*(*x) *{*y}'"


NOW = datetime(2026, 11, 21, 12, 32, 29)
STRINGS = (
    "BANNER:b1:[\\p|\\N|\\o|\\B]\\r\\n\n"
    "OPENSTR:o1:hello \\d\n"
    "TRACEFILE:t1:/var/log/\\p-\\N-\\Y.log\n"
    "3001:telnet:0:/dev/ttyS0:9600 b1 o1 tr=t1\n"
)


def test_convert_keeps_what_substitutions_print(capsys: pytest.CaptureFixture) -> None:
    legacy = parse_legacy(STRINGS, "s.conf")
    text = convert_config(legacy)
    # \p printed the port as written, "3001"; in ser2net 4 it prints the
    # accepter string, and \N (the connection's name, 3001) the old text.
    assert "    banner: '[\\N|\\N|\\o|\\B]\\r\\n'\n" in text
    assert "    trace-read: '/var/log/\\N-\\N-\\Y.log'\n" in text
    old, new = legacy.connections[0], parse_yaml(text, "s.yaml").connections[0]
    for option in ("banner", "openstr"):
        before = render(getattr(old.options, option), context_for(old), now=NOW)
        after = render(getattr(new.options, option), context_for(new), now=NOW)
        if option == "banner":
            assert after == before == b"[3001|3001|3001|,9600N81]\r\n"
        else:  # \d has no equivalent: it prints the new device string
            assert (before, after) == (
                b"hello /dev/ttyS0,9600",
                b"hello serialdev,/dev/ttyS0,9600n81",
            )
    trace_old, trace_new = old.options.trace_read, new.options.trace_read
    assert trace_old is not None and trace_new is not None
    assert render(trace_new.path, context_for(new), filename=True, now=NOW) == render(
        trace_old.path, context_for(old), filename=True, now=NOW
    )
    assert capsys.readouterr().err == (
        'pyser2net: warning: s.conf:4:1: openstr: \\d printed "/dev/ttyS0,9600" and prints '
        '"serialdev,/dev/ttyS0,9600n81" in ser2net 4 YAML, which has no substitution for the '
        "old text\n"
    )


def test_to_yaml_alone_writes_strings_unchanged() -> None:
    text = to_yaml(parse_legacy(STRINGS, "s.conf"))
    assert "    banner: '[\\p|\\N|\\o|\\B]\\r\\n'\n" in text
