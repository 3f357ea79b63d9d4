"""What ser2net 4.4 to 4.6 added that configurations and command lines now use:
LED modes, and the 4.5 command line (``-C DIR``, ``-a``, ``-A``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyser2net.cli import base_defaults, is_confdir, make_loader
from pyser2net.config import ConfigError, load_text
from pyser2net.config.summary import summarize

LED = 'led: &l\n  driver: sysfs\n  options:\n    device: "a:b"\n{mode}'


@pytest.mark.parametrize(
    "mode,expected",
    [("", "transient"), ("    mode: solid\n", "solid"), ("    mode: Transient\n", "transient")],
)
def test_led_modes(mode: str, expected: str) -> None:
    config = load_text(LED.format(mode=mode), "l.yaml")
    assert config.leds[0].mode == expected
    assert f"led l: sysfs a:b ({expected}, 10 ms, state 1)" in summarize(config)


def test_an_unknown_led_mode_is_an_error() -> None:
    with pytest.raises(ConfigError) as info:
        load_text(LED.format(mode="    mode: blink\n"), "l.yaml")
    assert str(info.value) == (
        "l.yaml:5:5: invalid mode 'blink' for led l (expected transient or solid)"
    )


@pytest.mark.parametrize(
    "arg,directory",
    [
        ("/etc/ser2net", True),
        ("conf", True),
        ("3001:raw:0:/dev/ttyS0:9600", False),
        ("BANNER:b1:hello", False),
        ("127.0.0.1,3001:telnet:600:/dev/ttyUSB0:115200 8DATABITS", False),
    ],
)
def test_a_legacy_line_always_has_a_colon(arg: str, directory: bool) -> None:
    assert is_confdir(arg) is directory


def test_C_dir_sets_the_file_and_the_defaults_a_and_A_override(tmp_path: Path) -> None:
    (tmp_path / "ser2net.yaml").write_text(
        "admin: &ctl\n  accepter: tcp,127.0.0.1,3999\n"
        "connection: &t\n  accepter: ssl,tcp,3001\n  connector: echo\n"
        "connection: &own\n  accepter: ssl(key=/k,cert=/c),tcp,3002\n  connector: echo\n"
        "  options:\n    authdir: /mine\n"
    )
    loader, source = make_loader(
        None, (), (), confdir=str(tmp_path), defaults=base_defaults(str(tmp_path), None, None)
    )
    assert source == f"{tmp_path}/ser2net.yaml"
    config = loader().strict()
    tls, own = config.connections
    assert tls.accepter.ssl is not None
    assert (tls.accepter.ssl.key, tls.accepter.ssl.cert) == (
        f"{tmp_path}/ser2net.key",
        f"{tmp_path}/ser2net.crt",
    )
    assert tls.options.authdir == "/usr/share/ser2net/auth"
    assert config.admin is not None and config.admin.authdir == f"{tmp_path}/auth"
    assert own.accepter.ssl is not None and own.accepter.ssl.key == "/k"
    assert own.options.authdir == "/mine"
    loader, _source = make_loader(
        None, (), (), confdir=str(tmp_path), defaults=base_defaults(str(tmp_path), "/a", "/A")
    )
    config = loader().strict()
    assert config.connections[0].options.authdir == "/a"
    assert config.connections[1].options.authdir == "/mine"
    assert config.admin is not None and config.admin.authdir == "/A"


def test_without_the_flags_nothing_changes() -> None:
    assert base_defaults(None, None, None) == {}
