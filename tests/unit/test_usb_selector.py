"""The ``usb(...)`` selector: read from both configuration formats, matched
case-insensitively with globs, and every mistake a FILE:LINE:COL error."""

from __future__ import annotations

import pytest

from pyser2net.config import ConfigError, load_text, read_config
from pyser2net.config.model import SerialDevice, UsbSelector
from pyser2net.config.usb import matches, selector_of, selector_text

FTDI = {
    "vid": "0403",
    "pid": "6001",
    "serial": "A50285BI",
    "manufacturer": "FTDI",
    "product": "FT232R USB UART",
    "location": "1-1.2",
    "interface": "0",
}


def yaml_device(selector: str) -> SerialDevice:
    text = f"connection: &c\n  accepter: tcp,3001\n  connector: serialdev,{selector},115200n81\n"
    device = load_text(text, "usb.yaml").connections[0].connector.device
    assert isinstance(device, SerialDevice)
    return device


def yaml_error(selector: str) -> str:
    text = f"connection: &c\n  accepter: tcp,3001\n  connector: serialdev,{selector},115200n81\n"
    with pytest.raises(ConfigError) as info:
        load_text(text, "usb.yaml")
    return str(info.value)


@pytest.mark.parametrize(
    "written, field, value",
    [
        ("usb(vid=0403)", "vid", "0403"),
        ("usb(vid=0x0403)", "vid", "0403"),
        ("usb(vid=0X403)", "vid", "0403"),
        ("usb(pid=6001)", "pid", "6001"),
        ("usb(pid=EA60)", "pid", "ea60"),
        ("usb(serial=A50285BI)", "serial", "A50285BI"),
        ("usb(manufacturer=FTDI)", "manufacturer", "FTDI"),
        ("usb(product=FT232R*)", "product", "ft232r*"),
        ("usb(location=1-1.2)", "location", "1-1.2"),
        ("usb(interface=1)", "interface", "1"),
        ("usb(interface=01)", "interface", "1"),
        ("usb(vid=04?3)", "vid", "04?3"),
        ("usb(SERIAL=abc)", "serial", "abc"),
        ('usb(product="FT232R USB UART")', "product", "FT232R USB UART"),
    ],
)
def test_every_key_is_read(written: str, field: str, value: str) -> None:
    device = yaml_device(written)
    assert device.path == written
    assert device.usb is not None
    assert getattr(device.usb, field) == value
    assert device.serial.speed == 115200


def test_several_keys_and_a_bare_selector_without_serialdev() -> None:
    text = "connection: &c\n  accepter: tcp,3001\n  connector: usb(vid=0403,serial=A5*),9600\n"
    device = load_text(text, "usb.yaml").connections[0].connector.device
    assert isinstance(device, SerialDevice)
    assert device.usb == UsbSelector(vid="0403", serial="a5*")
    assert device.serial.speed == 9600


def test_a_legacy_line_takes_the_selector_as_its_device() -> None:
    text = "3001:raw:0:usb(vid=0403,pid=6001,serial=A50285BI):115200 8DATABITS NONE 1STOPBIT\n"
    conn = load_text(text, "ser2net.conf").connections[0]
    assert isinstance(conn.connector.device, SerialDevice)
    assert conn.connector.device.usb == UsbSelector(vid="0403", pid="6001", serial="A50285BI")
    assert conn.connector.device.serial.speed == 115200


@pytest.mark.parametrize(
    "written, message",
    [
        ("usb(vid=04g3)", "invalid vid '04g3' in usb(vid=04g3) (expected up to four hex digits"),
        ("usb(pid=123456)", "invalid pid '123456'"),
        ("usb(vid=0x)", "invalid vid '0x'"),
        ("usb(interface=one)", "invalid interface 'one'"),
        ("usb(vendor=0403)", "unknown key 'vendor' in usb(vendor=0403) (expected one of: vid, pid"),
        ("usb(serial)", "serial needs a value in usb(serial)"),
        ("usb(serial=)", "serial needs a value"),
        ("usb(serial=a,serial=b)", "serial is given twice"),
        ("usb()", "usb() selects nothing"),
    ],
)
def test_a_bad_selector_is_an_error_at_its_place_in_yaml(written: str, message: str) -> None:
    assert yaml_error(written).startswith(f"usb.yaml:3:14: {message}")


def test_a_bad_selector_is_an_error_at_its_place_in_a_legacy_line() -> None:
    text = "# comment\n3001:raw:0:usb(vid=zz):115200\n"
    result = read_config(text, "ser2net.conf")
    assert [str(i) for i in result.issues] == [
        "ser2net.conf:2:12: invalid vid 'zz' in usb(vid=zz) "
        "(expected up to four hex digits, 0x optional, e.g. 0403)"
    ]


def test_matching_ignores_case_and_takes_globs() -> None:
    assert matches(UsbSelector(serial="a50285bi"), FTDI)
    assert matches(UsbSelector(product="ft232r*", manufacturer="f?di"), FTDI)
    assert matches(UsbSelector(vid="0403", pid="6001", interface="0", location="1-1.*"), FTDI)
    assert not matches(UsbSelector(serial="A50285B"), FTDI)
    assert not matches(UsbSelector(interface="1"), FTDI)
    assert not matches(UsbSelector(serial="x*"), {**FTDI, "serial": ""})
    assert matches(UsbSelector(serial="*"), {**FTDI, "serial": ""})


def test_a_selector_written_out_reads_back_the_same() -> None:
    values = {"serial": "A[1]*?", "product": "Dual RS232-HS", "interface": "1"}
    selector = selector_of(values)
    assert matches(selector, values)
    assert not matches(selector, {**values, "serial": "A1xx"})
    text = selector_text(selector)
    assert text == 'usb(serial=A[[]1][*][?],product="Dual RS232-HS",interface=1)'
    assert yaml_device(text).usb == UsbSelector(
        serial="a[[]1][*][?]", product="Dual RS232-HS", interface="1"
    )
