"""mDNS announcements: what the options mean, and what is announced."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pyser2net.config import ConfigError, load_text, read_config
from pyser2net.config.model import Accepter, Mdns, SslSettings
from pyser2net.config.summary import summarize
from pyser2net.protocol.mdns import AnnouncementError, describe, gensio_stack, parse_txt
from pyser2net.runtime.usbdevices import sysattrs

from usbtree import UsbTree

CONN = """connection: &ttyUSB0
  accepter: {accepter}
  connector: serialdev,/dev/ttyUSB0,115200n81
  options:
{options}"""


def options(text: str, accepter: str = "telnet(rfc2217),tcp,3001") -> Mdns:
    indented = "".join(f"    {line.strip()}\n" for line in text.strip().splitlines())
    conn = load_text(CONN.format(accepter=accepter, options=indented), "m.yaml").connections[0]
    assert conn.options.mdns is not None
    return conn.options.mdns


def test_every_option_is_read() -> None:
    mdns = options(
        """
        mdns: true
        mdns-name: console 1
        mdns-type: _serial._tcp
        mdns-txt: rack=4
        mdns-txt: slot=2
        mdns-host: labhost
        mdns-domain: local
        mdns-interface: 3
        mdns-nettype: ipv6
        mdns-sysattrs: true
        mdns-port: 4000
        """
    )
    assert mdns == Mdns(
        name="console 1",
        type="_serial._tcp",
        txt=("rack=4", "slot=2"),
        host="labhost",
        domain="local",
        interface=3,
        nettype="ipv6",
        sysattrs=True,
        port=4000,
    )


def test_mdns_off_or_absent_announces_nothing() -> None:
    text = CONN.format(accepter="tcp,3001", options="    mdns-name: x\n")
    assert load_text(text, "m.yaml").connections[0].options.mdns is None


def test_defaults_apply_and_the_admin_port_must_ask() -> None:
    text = (
        "default:\n  name: mdns\n  value: true\n"
        "default:\n  name: mdns-type\n  value: _serial._tcp\n"
        "admin: &adm\n  accepter: tcp,127.0.0.1,3999\n"
        + CONN.format(accepter="tcp,3001", options="    kickolduser: true\n")
    )
    config = load_text(text, "m.yaml")
    assert config.connections[0].options.mdns == Mdns(type="_serial._tcp")
    # ser2net: the admin port's mdns boolean never comes from a default.
    assert config.admin is not None and config.admin.mdns is None
    assert config.admin.name == "adm"


@pytest.mark.parametrize("version", [1, 2])
def test_admin_is_named_by_its_anchor_or_key(version: int) -> None:
    if version == 1:
        text = "admin: &ctl\n  accepter: tcp,127.0.0.1,3999\n  options:\n    mdns: true\n"
    else:
        text = (
            "admins:\n  ctl:\n    accepter: tcp,127.0.0.1,3999\n"
            "    options:\n      mdns: true\n      mdns-txt: role=admin\n"
        )
    config = load_text(text, "a.yaml")
    assert config.admin is not None
    assert config.admin.name == "ctl"
    assert config.admin.mdns is not None


@pytest.mark.parametrize(
    "option,message",
    [
        ("mdns-nettype: ipv5", "invalid mdns-nettype 'ipv5' (expected unspec, ipv4 or ipv6)"),
        ("mdns-txt: novalue", "invalid mdns-txt 'novalue' (expected name=value)"),
        ("mdns-interface: eth0", "invalid value 'eth0' for mdns-interface"),
        ("mdns-port: -1", "invalid value '-1' for mdns-port"),
        ("mdns: maybe", "mdns"),
        ("mdns-colour: red", "unknown option 'mdns-colour'"),
    ],
)
def test_bad_values_name_the_line(option: str, message: str) -> None:
    text = CONN.format(accepter="tcp,3001", options=f"    mdns: true\n    {option}\n")
    with pytest.raises(ConfigError) as info:
        load_text(text, "m.yaml")
    assert "m.yaml:" in str(info.value)
    assert message in str(info.value)


def test_announcement_carries_ser2nets_keys_after_the_users() -> None:
    acc = Accepter(text="telnet(rfc2217),tcp,3001", port=3001, telnet=True, rfc2217=True)
    ann = describe("ttyUSB0", Mdns(txt=("rack=4",)), acc, 3001)
    assert ann.name == "ttyUSB0"
    assert ann.type == "_iostream._tcp.local."
    assert ann.full_name == "ttyUSB0._iostream._tcp.local."
    assert ann.port == 3001
    assert ann.txt == (
        "rack=4",
        "provider=ser2net",
        "gensiostack=telnet,tcp",
        "implementation=pyser2net",
    )
    assert ann.host is None
    assert parse_txt(ann.txt_record()) == ann.txt
    assert ann.txt_record()[:7] == b"\x06rack=4"


def test_the_users_keys_win() -> None:
    acc = Accepter(text="tcp,3001", port=3001)
    ann = describe("p", Mdns(txt=("provider=lab", "gensiostack=x")), acc, 3001)
    assert ann.txt == ("provider=lab", "gensiostack=x", "implementation=pyser2net")


def test_udp_ssl_and_names() -> None:
    udp = Accepter(text="udp,3001", transport="udp", port=3001)
    assert describe("p", Mdns(), udp, 3001).type == "_iostream._udp.local."
    tls = Accepter(text="telnet,ssl,tcp,3001", port=3001, telnet=True, ssl=SslSettings())
    assert gensio_stack(tls) == "telnet,ssl,tcp"
    named = describe("p", Mdns(name="Console", type="_serial._tcp", host="lab", port=9), udp, 1)
    assert (named.full_name, named.port, named.host) == (
        "Console._serial._tcp.local.",
        9,
        "lab.local.",
    )


@pytest.mark.parametrize(
    "mdns,port,why",
    [
        (Mdns(domain="example.com"), 3001, "mdns-domain 'example.com' is not served"),
        (Mdns(), 0, "no port to announce"),
        (Mdns(name="x" * 64), 3001, "must be 1 to 63 bytes long"),
    ],
)
def test_what_cannot_be_announced_says_why(mdns: Mdns, port: int, why: str) -> None:
    with pytest.raises(AnnouncementError) as info:
        describe("p", mdns, Accepter(text="tcp,1", port=port), port)
    assert why in str(info.value)


def test_local_domain_is_accepted() -> None:
    acc = Accepter(text="tcp,3001", port=3001)
    assert describe("p", Mdns(domain="local."), acc, 3001).type == "_iostream._tcp.local."


def test_usb_attributes_from_sysfs(tmp_path: Path) -> None:
    tree = UsbTree(tmp_path)
    tree.add("ttyUSB0", "/dev/null", location="1-1.2", interface=1, interfaces=2)
    expected = [
        "devicetype=serialusb",
        "bInterfaceNumber=01",
        "idProduct=6001",
        "idVendor=0403",
        "serial=A50285BI",
        "manufacturer=FTDI",
        "product=FT232R USB UART",
    ]
    assert sysattrs(str(tree.dev / "ttyUSB0"), str(tree.sys)) == expected
    by_id = next((tree.dev / "serial" / "by-id").iterdir())
    assert sysattrs(str(by_id), str(tree.sys)) == expected


def test_an_acm_port_a_plain_tty_and_an_unknown_one(tmp_path: Path) -> None:
    tree = UsbTree(tmp_path)
    tree.add("ttyACM0", "/dev/null", vid="2e8a", pid="000a", serial=None, acm=True)
    assert sysattrs(str(tree.dev / "ttyACM0"), str(tree.sys)) == [
        "devicetype=serialusb",
        "bInterfaceNumber=00",
        "idProduct=000a",
        "idVendor=2e8a",
        "manufacturer=FTDI",
        "product=FT232R USB UART",
    ]
    platform = tree.sys / "devices/platform/serial8250"
    (platform / "tty/ttyS0").mkdir(parents=True)
    os.symlink("../../../serial8250", platform / "tty/ttyS0/device")
    os.symlink("../../devices/platform/serial8250/tty/ttyS0", tree.sys / "class/tty/ttyS0")
    assert sysattrs("/dev/ttyS0", str(tree.sys)) == ["devicetype=serial"]
    assert sysattrs("/dev/ttyS9", str(tree.sys)) == []


def test_sysattrs_only_when_asked() -> None:
    acc = Accepter(text="tcp,3001", port=3001)
    attrs = ["devicetype=serialusb", "idVendor=0403"]
    assert "idVendor=0403" not in describe("p", Mdns(), acc, 3001, attrs).txt
    assert describe("p", Mdns(sysattrs=True), acc, 3001, attrs).txt[-2:] == tuple(attrs)


def test_check_shows_what_is_announced() -> None:
    text = (
        "admin: &ctl\n  accepter: tcp,127.0.0.1,3999\n  options:\n    mdns: true\n"
        + CONN.format(
            accepter="tcp,3001",
            options="    mdns: true\n    mdns-interface: 2\n    mdns-nettype: ipv4\n"
            "    mdns-txt: rack=4\n",
        )
        + "connection: &quiet\n  accepter: tcp,3002\n  connector: serialdev,/dev/ttyS1\n"
    )
    out = summarize(read_config(text, "m.yaml").config)
    assert "  mdns: announced as ttyUSB0 on interface 2, ipv4 only, TXT rack=4\n" in out
    assert "admin ctl: tcp 127.0.0.1:3999\n  mdns: announced as ctl\n" in out
    quiet = out[out.index("quiet:") :]
    assert "mdns" not in quiet.split("admin")[0]


def test_legacy_lines_take_the_same_words() -> None:
    text = (
        "3001:telnet:0:/dev/ttyS0:9600 mdns mdns-txt=rack=4 mdns-interface=2 mdns-name=con1\n"
        "3002:raw:0:/dev/ttyS1:9600 mdns=false mdns-name=quiet\n"
        "3003:raw:0:/dev/ttyS2:9600 mdns mdns-nettype=ipx\n"
    )
    result = read_config(text, "ser2net.conf")
    first, second = result.config.connections
    assert first.options.mdns == Mdns(name="con1", txt=("rack=4",), interface=2)
    assert second.options.mdns is None
    assert [str(i) for i in result.issues] == [
        "ser2net.conf:3:33: invalid mdns-nettype 'ipx' (expected unspec, ipv4 or ipv6)"
    ]


def test_convert_keeps_the_announcement() -> None:
    from pyser2net.config.convert import to_yaml

    legacy = load_text(
        "3001:telnet:0:/dev/ttyS0:9600 mdns mdns-txt=rack=4 mdns-nettype=ipv4 mdns-sysattrs\n",
        "ser2net.conf",
    )
    converted = load_text(to_yaml(legacy), "converted.yaml")
    assert converted.connections[0].options.mdns == legacy.connections[0].options.mdns
    assert converted.connections[0].options.mdns == Mdns(
        txt=("rack=4",), nettype="ipv4", sysattrs=True
    )
