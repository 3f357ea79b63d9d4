"""USB serial adapters found in a fake sysfs, and selectors resolved to them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator, List

import pytest

from pyser2net.config.model import SerialDevice, UsbSelector
from pyser2net.config.usb import matches, selector_text
from pyser2net.runtime import usbdevices
from pyser2net.runtime.devices import DeviceError, SerialPort, open_device
from pyser2net.runtime.usbdevices import UsbResolveError, enumerate_usb, resolve

from helpers import Pty, new_pty, read_exact
from usbtree import UsbTree


@pytest.fixture
def ptys() -> Iterator[List[Pty]]:
    made = [new_pty() for _ in range(8)]
    yield made
    for pty in made:
        pty.close()


def machine(tmp_path: Path, ptys: List[Pty]) -> UsbTree:
    tree = UsbTree(tmp_path)
    tree.add_machine([p.path for p in ptys])
    return tree


def test_every_usb_tty_is_found_with_its_attributes(tmp_path: Path, ptys: List[Pty]) -> None:
    tree = machine(tmp_path, ptys)
    found = {d.name: d for d in enumerate_usb(str(tree.sys), str(tree.dev))}
    assert sorted(found) == ["ttyACM0"] + [f"ttyUSB{n}" for n in range(7)]
    ftdi = found["ttyUSB0"]
    assert ftdi.attributes() == {
        "vid": "0403",
        "pid": "6001",
        "serial": "A50285BI",
        "manufacturer": "FTDI",
        "product": "FT232R USB UART",
        "location": "1-1.2",
        "interface": "0",
    }
    assert ftdi.node == str(tree.dev / "ttyUSB0")
    assert ftdi.by_id == (
        str(tree.dev / "serial/by-id/usb-FTDI_FT232R_USB_UART_A50285BI-if00-port0"),
    )
    assert ftdi.by_path == (str(tree.dev / "serial/by-path/pci-0000:00:14.0-usb-0:1.2:1.0-port0"),)
    acm = found["ttyACM0"]
    assert (acm.vid, acm.pid, acm.serial, acm.location, acm.interface) == (
        "2e8a",
        "000a",
        "E6614C311B4A7B2D",
        "1-1.3",
        "0",
    )
    assert [found[n].interface for n in ("ttyUSB1", "ttyUSB2")] == ["0", "1"]
    assert found["ttyUSB5"].serial == ""


def test_a_selector_resolves_to_its_one_adapter(tmp_path: Path, ptys: List[Pty]) -> None:
    tree = machine(tmp_path, ptys)
    sysfs, dev = str(tree.sys), str(tree.dev)
    assert resolve(UsbSelector(serial="a50285bi"), sysfs, dev).name == "ttyUSB0"
    assert resolve(UsbSelector(vid="2e8a"), sysfs, dev).name == "ttyACM0"
    assert resolve(UsbSelector(serial="ft2232x", interface="1"), sysfs, dev).name == "ttyUSB2"
    assert resolve(UsbSelector(vid="1a86", location="1-3"), sysfs, dev).name == "ttyUSB6"
    assert resolve(UsbSelector(product="cp2102*", serial="*2"), sysfs, dev).name == "ttyUSB4"


def test_no_match_says_so_for_the_client(tmp_path: Path, ptys: List[Pty]) -> None:
    tree = machine(tmp_path, ptys)
    with pytest.raises(UsbResolveError) as info:
        resolve(UsbSelector(serial="nothere"), str(tree.sys), str(tree.dev))
    assert info.value.reason == "no USB serial device matches usb(serial=nothere)"


def test_several_matches_name_the_candidates_and_what_tells_them_apart(
    tmp_path: Path, ptys: List[Pty]
) -> None:
    tree = machine(tmp_path, ptys)
    with pytest.raises(UsbResolveError) as info:
        resolve(UsbSelector(vid="10c4"), str(tree.sys), str(tree.dev))
    assert info.value.reason == "more than one USB serial device matches usb(vid=10c4)"
    assert info.value.detail == (
        f"usb(vid=10c4) matches 2 devices, so none is opened: "
        f"{tree.dev}/ttyUSB3 (serial=0001, location=1-1.5); "
        f"{tree.dev}/ttyUSB4 (serial=0002, location=1-1.6); "
        "add serial= or location= to the selector to pick one"
    )
    with pytest.raises(UsbResolveError) as info:
        resolve(UsbSelector(vid="1a86"), str(tree.sys), str(tree.dev))
    assert info.value.detail.endswith(
        f"{tree.dev}/ttyUSB5 (location=1-2); {tree.dev}/ttyUSB6 (location=1-3); "
        "add location= to the selector to pick one"
    )
    with pytest.raises(UsbResolveError) as info:
        resolve(UsbSelector(serial="FT2232X"), str(tree.sys), str(tree.dev))
    assert "add interface= to the selector" in info.value.detail


def test_each_shortest_selector_picks_exactly_its_adapter(tmp_path: Path, ptys: List[Pty]) -> None:
    tree = machine(tmp_path, ptys)
    devices = enumerate_usb(str(tree.sys), str(tree.dev))
    texts = {}
    for device in devices:
        selector, unique = usbdevices.shortest_selector(device, devices)
        assert unique
        assert [d.name for d in devices if matches(selector, d.attributes())] == [device.name]
        texts[device.name] = selector_text(selector)
    assert texts["ttyUSB0"] == "usb(serial=A50285BI)"
    assert texts["ttyUSB2"] == "usb(serial=FT2232X,interface=1)"
    assert texts["ttyUSB6"] == "usb(vid=1a86,pid=7523,location=1-3)"


def test_a_device_opens_through_its_selector(
    tmp_path: Path, ptys: List[Pty], monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = machine(tmp_path, ptys)
    for key, value in tree.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PYSER2NET_LOCKDIR", str(tmp_path))
    target = SerialDevice(path="usb(serial=0002)", usb=UsbSelector(serial="0002"))
    dev = open_device(target, "serialdev,usb(serial=0002),9600n81")
    try:
        assert isinstance(dev, SerialPort)
        assert dev.spec.path == str(tree.dev / "ttyUSB4")
        assert dev.display == f"serialdev,usb(serial=0002),9600n81 -> {tree.dev}/ttyUSB4"
        assert dev.write_fd is not None
        os.write(dev.write_fd, b"hello")
        assert read_exact(ptys[5].master, 5) == b"hello"
    finally:
        dev.close()
    with pytest.raises(DeviceError) as info:
        open_device(SerialDevice(path="usb(vid=10c4)", usb=UsbSelector(vid="10c4")), "x")
    assert info.value.reason == "more than one USB serial device matches usb(vid=10c4)"
