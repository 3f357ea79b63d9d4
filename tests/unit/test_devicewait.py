"""device-loss: hold: when a device that went away is tried again, what is
kept meanwhile, and what the configuration says about it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator, List

import pytest
from fakeloop import FakeLoop

from pyser2net.config import ConfigError, load_text
from pyser2net.config.convert import to_yaml
from pyser2net.config.model import SerialSettings
from pyser2net.protocol.comport import VirtualLines
from pyser2net.runtime.devicewait import DeviceWait


@pytest.fixture
def loop() -> Iterator[FakeLoop]:
    fake = FakeLoop()
    yield fake
    fake.close()


def _run(loop: FakeLoop, seconds: int) -> None:
    for _ in range(seconds * 10):
        loop.advance(0.1)


def test_tries_back_off_to_the_cap_and_a_new_node_is_tried_at_once(
    loop: FakeLoop, tmp_path: Path
) -> None:
    start = loop.clock.now
    tried: List[float] = []

    def retry() -> None:
        tried.append(round(loop.clock.now - start, 1))
        wait.failed()

    wait = DeviceWait(loop.reactor, retry, 5, str(tmp_path), clock=lambda: 12345.0)
    line = VirtualLines(SerialSettings(speed=57600))
    line.set_line("dtr", False)
    line.set_line("break", True)
    wait.start(line)
    assert wait.away and wait.since == 12345.0
    assert wait.line is not None and wait.line.settings.speed == 57600
    assert wait.line.lines == {"dtr": False, "rts": True, "break": False}
    _run(loop, 20)
    assert tried == [1.0, 3.0, 7.0, 12.0, 17.0]
    # A node appears in the device's directory: tried after settling, not in 5 s.
    assert wait.next_try == pytest.approx(start + 22.0)
    (tmp_path / "ttyUSB1").write_text("")
    loop.until(lambda: wait.next_try == pytest.approx(start + 20.1))
    loop.advance(0.1)
    assert tried[-1] == 20.1
    # That try failed (not our device): the backoff did not grow for it,
    # and a stream of node events does not put the next try off.
    assert wait.next_try == pytest.approx(start + 25.1)
    (tmp_path / "other0").write_text("")
    loop.until(lambda: wait.next_try == pytest.approx(start + 20.2))
    for n in range(1, 4):
        loop.clock.now += 0.03
        (tmp_path / f"other{n}").write_text("")
        for _ in range(3):
            loop.reactor.run_once(timeout=0.05)  # the event is read
        assert wait.next_try == pytest.approx(start + 20.2)
    loop.advance(0.02)
    assert len(tried) == 7
    remembered = wait.stop()
    assert remembered is not None and remembered.settings.speed == 57600
    assert not wait.away and wait.line is None
    for name in os.listdir(tmp_path):
        os.unlink(tmp_path / name)
    _run(loop, 10)
    assert len(tried) == 7  # stopped: no more tries, no more inotify


def conn_yaml(connector: str, options: str = "") -> str:
    text = f"connection: &c\n  accepter: tcp,3001\n  connector: {connector}\n"
    if options:
        text += "  options:\n" + "".join(f"    {o}\n" for o in options.splitlines())
    return text


@pytest.mark.parametrize(
    "connector, options, holds",
    [
        ("serialdev,usb(serial=A1),9600", "", True),
        ("serialdev,usb(serial=A1),9600", "device-loss: close", False),
        ("keepopen,serialdev,usb(serial=A1),9600", "", False),
        ("serialdev,/dev/ttyS0,9600", "", False),
        ("serialdev,/dev/ttyS0,9600", "device-loss: hold", True),
        ("serialdev,/dev/ttyS0,9600", "device-loss: close", False),
        ("tcp,localhost,2000", "", False),
    ],
)
def test_who_holds_clients_when_the_device_goes(connector: str, options: str, holds: bool) -> None:
    conn = load_text(conn_yaml(connector, options), "c.yaml").connections[0]
    assert conn.holds_device is holds


@pytest.mark.parametrize(
    "connector, options, message",
    [
        (
            "serialdev,/dev/ttyS0",
            "device-loss: wait",
            "c.yaml:5:5: invalid device-loss 'wait' (expected hold",
        ),
        (
            "keepopen,serialdev,/dev/ttyS0",
            "chardelay: false\ndevice-loss: hold",
            "c.yaml:6:5: connection c: device-loss: hold and keepopen(...) both say",
        ),
        (
            "tcp,localhost,2000",
            "device-loss: hold",
            "c.yaml:5:5: connection c: device-loss: hold applies to serial devices only",
        ),
    ],
)
def test_device_loss_mistakes_are_errors_at_their_place(
    connector: str, options: str, message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_text(conn_yaml(connector, options), "c.yaml")
    assert str(info.value).startswith(message)


@pytest.mark.parametrize(
    "line, holds",
    [
        ("2000:raw:0:usb(serial=A1):9600", True),
        ("2000:raw:0:usb(serial=A1):9600 device-loss=close", False),
        ("2000:raw:0:/dev/ttyS0:9600", False),
        ("2000:raw:0:/dev/ttyS0:9600 device-loss=hold", True),
        ("2000:telnet:0:/dev/ttyS0:9600 remctl DEVICE-LOSS=hold", True),
        ("2000:raw:0:/dev/ttyS0:9600 device-loss=close", False),
    ],
)
def test_legacy_lines_say_who_holds_clients_as_yaml_does(line: str, holds: bool) -> None:
    conn = load_text(line + "\n", "c.conf").connections[0]
    assert conn.holds_device is holds


@pytest.mark.parametrize(
    "line, message",
    [
        (
            "2000:raw:0:/dev/ttyS0:9600 device-loss=wait",
            "c.conf:1:28: invalid device-loss 'wait' (expected hold",
        ),
        (
            "2000:raw:0:/dev/ttyS0:9600 device-loss=",
            "c.conf:1:28: invalid device-loss '' (expected hold",
        ),
        (
            "2000:raw:0:keepopen(retry-time=100),/dev/ttyS0:9600 NONE device-loss=hold",
            "c.conf:1:58: connection 2000: device-loss: hold and keepopen(...) both say",
        ),
        (
            "2000:raw:0:tcp,localhost,2001:device-loss=hold",
            "c.conf:1:31: connection 2000: device-loss: hold applies to serial devices only",
        ),
        (
            "2000:raw:0:/dev/ttyS0:9600 device-loss",
            "c.conf:1:28: unknown option 'device-loss'",
        ),
    ],
)
def test_legacy_device_loss_mistakes_are_errors_at_their_place(line: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_text(line + "\n", "c.conf")
    (first,) = str(info.value).splitlines()
    assert first.startswith(message)


@pytest.mark.parametrize("value", ["hold", "close"])
def test_convert_carries_a_legacy_device_loss_into_yaml(value: str) -> None:
    line = f"2000:raw:0:usb(serial=A1):9600 device-loss={value}\n"
    legacy = load_text(line, "c.conf")
    text = to_yaml(legacy)
    assert f"    device-loss: {value}\n" in text
    (conn,) = load_text(text, "c.yaml").connections
    assert conn.options.device_loss == value
    assert conn.holds_device is legacy.connections[0].holds_device is (value == "hold")


def test_convert_writes_no_device_loss_that_was_not_written() -> None:
    text = to_yaml(load_text("2000:raw:0:usb(serial=A1):9600\n", "c.conf"))
    assert "device-loss" not in text
    assert load_text(text, "c.yaml").connections[0].holds_device is True
