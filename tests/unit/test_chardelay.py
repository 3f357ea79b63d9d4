"""The chardelay hold, computed from the serial speed as ser2net documents."""

from __future__ import annotations

import dataclasses

import pytest

from pyser2net.config import load_text
from pyser2net.runtime.port import chardelay_seconds

BASE = "connection: &c\n  accepter: tcp,2000\n  connector: serialdev,/dev/ttyS0,{spec}\n"


def conn(spec: str, **options):
    config = load_text(BASE.format(spec=spec), "test.yaml")
    c = config.connections[0]
    return dataclasses.replace(c, options=dataclasses.replace(c.options, **options))


@pytest.mark.parametrize("spec,expected_us", [
    ("115200n81", 1000),   # 2 characters = 174 us: the 1 ms minimum applies
    ("9600n81", 2083),     # 2 x 10 bits at 9600 baud
    ("9600e72", 2292),     # 11 bits a character
    ("300n81", 20000),     # 66.7 ms, capped by chardelay-max
])
def test_default_hold(spec, expected_us):
    assert chardelay_seconds(conn(spec)) * 1e6 == pytest.approx(expected_us, abs=1)


def test_scale_min_and_max_are_honoured():
    c = conn("9600n81", chardelay_scale=50, chardelay_min=10, chardelay_max=100000)
    assert chardelay_seconds(c) * 1e6 == pytest.approx(5208, abs=1)
    assert chardelay_seconds(c, speed=115200) * 1e6 == pytest.approx(434, abs=1)
