"""Legacy -> YAML conversion: reading the output back gives the same model."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from pyser2net.config.convert import quote, to_yaml, yaml_anchor
from pyser2net.config.legacy import parse_legacy
from pyser2net.config.model import Config
from pyser2net.config.yaml import parse_yaml

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
        rotators=tuple(replace(r, name=yaml_anchor(r.name),
                               connections=tuple(yaml_anchor(m) for m in r.connections))
                       for r in config.rotators),
    )


@pytest.mark.parametrize("name", GOOD)
def test_round_trip(name: str) -> None:
    config = parse_legacy(materialize((FIXTURES / name).read_text()), name)
    text = to_yaml(config)
    assert text.startswith("%YAML 1.1\n---\n")
    assert parse_yaml(text, "converted.yaml") == renamed(config)


def test_forms_ser2net_43_accepts() -> None:
    config = parse_legacy("2000:telnet:0:/dev/a:remctl\n2001:telnet:0:/dev/b:\n"
                          "2002:rawlp:0:/dev/lp0:\n2003:off:7:/dev/c:EVEN\n", "t.conf")
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
