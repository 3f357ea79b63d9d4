"""pyser2net.runtime.leds against a fake sysfs tree of plain files."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Dict

import pytest

from pyser2net.config.model import Led as LedSpec
from pyser2net.runtime import leds

DEVICE = "beaglebone:green:usr0"
TRIGGERS = "[none] timer oneshot heartbeat transient default-on\n"


def fake_led(
    root: Path, device: str = DEVICE, triggers: str = TRIGGERS, max_brightness: str = "255\n"
) -> Path:
    """The attribute files sysfs shows once the transient trigger is loaded."""
    directory = root / "class" / "leds" / device
    directory.mkdir(parents=True)
    files = {
        "trigger": triggers,
        "brightness": "0\n",
        "max_brightness": max_brightness,
        "activate": "0\n",
        "duration": "0\n",
        "state": "0\n",
    }
    for name, content in files.items():
        (directory / name).write_text(content)
    return directory


def contents(directory: Path) -> Dict[str, str]:
    return {p.name: p.read_text() for p in directory.iterdir()}


def test_flash_configures_the_transient_trigger_then_activates(tmp_path):
    directory = fake_led(tmp_path)
    led = leds.Led(LedSpec("led1", DEVICE, duration_ms=25, state=1), str(tmp_path))
    led.flash()
    seen = contents(directory)
    assert seen["trigger"] == "transient"
    assert seen["duration"] == "25"
    assert seen["state"] == "1"
    assert seen["activate"] == "1"
    (directory / "activate").write_text("0")
    (directory / "trigger").write_text("sentinel")
    led.flash()
    assert (directory / "activate").read_text() == "1"
    assert (directory / "trigger").read_text() == "sentinel"  # configured only once


def test_configure_at_startup_writes_defaults(tmp_path):
    directory = fake_led(tmp_path)
    led = leds.Led(LedSpec("led1", DEVICE), str(tmp_path))
    assert led.configure()
    seen = contents(directory)
    assert (seen["trigger"], seen["duration"], seen["state"]) == ("transient", "10", "1")
    assert seen["activate"] == "0\n"


def test_state_zero_and_invalid_values(tmp_path, caplog):
    directory = fake_led(tmp_path)
    leds.Led(LedSpec("inverted", DEVICE, state=0, duration_ms=0), str(tmp_path)).configure()
    assert (directory / "state").read_text() == "0"
    assert (directory / "duration").read_text() == "10"
    with caplog.at_level(logging.ERROR, logger="pyser2net.runtime.leds"):
        led = leds.Led(LedSpec("bright", DEVICE, state=255), str(tmp_path))
    assert led.state == 1 and "invalid state" in caplog.text
    led.configure()
    assert (directory / "state").read_text() == "1"


def test_deconfigure_leaves_the_led_dark(tmp_path):
    directory = fake_led(tmp_path)
    led = leds.Led(LedSpec("led1", DEVICE), str(tmp_path))
    led.deconfigure()  # never configured: nothing to undo
    assert (directory / "trigger").read_text() == TRIGGERS
    led.flash()
    led.deconfigure()
    assert (directory / "trigger").read_text() == "none"
    assert (directory / "brightness").read_text() == "0"


def test_on_off_use_a_steady_light(tmp_path):
    directory = fake_led(tmp_path)
    led = leds.Led(LedSpec("conn", DEVICE), str(tmp_path))
    led.on()
    assert (directory / "trigger").read_text() == "none"
    assert (directory / "brightness").read_text() == "255"
    led.off()
    assert (directory / "brightness").read_text() == "0"
    led.on()
    assert (directory / "brightness").read_text() == "255"


def test_on_falls_back_to_state_without_max_brightness(tmp_path):
    directory = fake_led(tmp_path)
    (directory / "max_brightness").unlink()
    led = leds.Led(LedSpec("conn", DEVICE), str(tmp_path))
    led.on()
    assert (directory / "brightness").read_text() == "1"


def test_missing_transient_trigger_is_logged_once_and_leaves_the_led(tmp_path, caplog):
    directory = fake_led(tmp_path, triggers="[none] timer heartbeat\n")
    led = leds.Led(LedSpec("led1", DEVICE), str(tmp_path))
    with caplog.at_level(logging.ERROR, logger="pyser2net.runtime.leds"):
        for _ in range(5):
            led.flash()
    assert len(caplog.records) == 1
    assert "modprobe ledtrig-transient" in caplog.text
    assert (directory / "trigger").read_text() == "[none] timer heartbeat\n"
    assert (directory / "activate").read_text() == "0\n"


def test_missing_led_never_raises(tmp_path, caplog):
    led = leds.Led(LedSpec("ghost", "no:such:led"), str(tmp_path))
    with caplog.at_level(logging.ERROR, logger="pyser2net.runtime.leds"):
        assert not led.configure()
        led.flash()
        led.on()
        led.off()
        led.deconfigure()
    assert len(caplog.records) == 1
    assert "no:such:led" in caplog.text


def test_failing_activate_is_logged_once(tmp_path, caplog):
    directory = fake_led(tmp_path)
    led = leds.Led(LedSpec("led1", DEVICE), str(tmp_path))
    led.configure()
    (directory / "activate").unlink()  # e.g. the trigger was changed behind our back
    with caplog.at_level(logging.ERROR, logger="pyser2net.runtime.leds"):
        for _ in range(3):
            led.flash()
    assert len(caplog.records) == 1


def test_factory_reads_the_sysfs_root_from_the_environment(tmp_path, monkeypatch):
    spec = LedSpec("led1", DEVICE)
    assert leds.sysfs_root({}) == "/sys"
    assert leds.make_led(spec, {leds.SYSFS_ROOT_ENV: str(tmp_path)}).directory == str(
        tmp_path / "class" / "leds" / DEVICE
    )
    monkeypatch.setenv(leds.SYSFS_ROOT_ENV, str(tmp_path))
    directory = fake_led(tmp_path)
    leds.make_led(spec).flash()
    assert (directory / "activate").read_text() == "1"


@pytest.mark.parametrize("device", ["input3::capslock", "led with space"])
def test_device_names_are_used_verbatim(tmp_path, device):
    directory = fake_led(tmp_path, device=device)
    leds.Led(LedSpec("x", device), str(tmp_path)).flash()
    assert (directory / "activate").read_text() == "1"
