"""Every setting the parsers can produce is either served or refused.

A field of the configuration model that the parsers fill in but the run-time
code never reads is a silent lie: ``--check`` shows it, the daemon ignores
it (TLS served in clear text was one).  So each field of the model, found by
walking the dataclasses from ``Config`` down, must be listed here as served
(with where the run-time code reads it) or as rejected by the parsers (with
a configuration that uses it and the error that names it).  A new field in
neither list fails ``test_every_field_is_classified``.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from pathlib import Path
from typing import Dict, Set, Tuple

import pytest

from pyser2net.config import ConfigError, load_text, model
from pyser2net.config import yaml as yaml_parser

ROOT = Path(__file__).resolve().parents[2] / "pyser2net"
RUNTIME_SOURCES = [
    *(ROOT / "runtime").glob("*.py"),
    *(ROOT / "protocol").glob("*.py"),
    ROOT / "daemon.py",
]

#: Fields the run-time code reads, and where.
SERVED: Dict[str, str] = {
    "Config.connections": "engine: one Port per connection",
    "Config.rotators": "engine, rotator: rotator listeners",
    "Config.leds": "engine, leds: sysfs LEDs",
    "Config.admin": "engine, admin: the control port",
    "Connection.name": "port, admin: showport, logs",
    "Connection.accepter": "port, listeners",
    "Connection.connector": "port: opens the device",
    "Connection.timeout": "port, client: idle timeout",
    "Connection.enable": "engine, port: off means nothing listens",
    "Connection.options": "port, client",
    "Accepter.text": "templates: \\p; admin: showport",
    "Accepter.transport": "listeners: tcp or udp socket",
    "Accepter.host": "listeners: bind address",
    "Accepter.port": "listeners: bind port",
    "Accepter.family": "listeners: ipv4/ipv6 only",
    "Accepter.telnet": "port: telnet codec per client",
    "Accepter.rfc2217": "port: RFC 2217 in the telnet codec",
    "Connector.text": "templates: \\d; admin: showport",
    "Connector.device": "devices.open_device",
    "Connector.keepopen": "port: reopen while clients stay",
    "Connector.alias": "templates: \\o",
    "SerialDevice.path": "devices: the tty opened",
    "SerialDevice.serial": "devices: termios settings",
    "SerialDevice.wronly": "devices: rawlp printer",
    "SerialDevice.usb": "devices: resolved by usbdevices at every open",
    "UsbSelector.vid": "usbdevices: matched",
    "UsbSelector.pid": "usbdevices: matched",
    "UsbSelector.serial": "usbdevices: matched",
    "UsbSelector.manufacturer": "usbdevices: matched",
    "UsbSelector.product": "usbdevices: matched",
    "UsbSelector.location": "usbdevices: matched",
    "UsbSelector.interface": "usbdevices: matched",
    "SerialSettings.speed": "devices",
    "SerialSettings.parity": "devices",
    "SerialSettings.databits": "devices",
    "SerialSettings.stopbits": "devices",
    "SerialSettings.xonxoff": "devices: IXON/IXOFF",
    "SerialSettings.rtscts": "devices: CRTSCTS",
    "SerialSettings.local": "devices: CLOCAL",
    "SerialSettings.hangup_when_done": "devices: HUPCL",
    "SerialSettings.nobreak": "devices: no TIOCCBRK on open",
    "SerialSettings.dtr": "devices: DTR at open",
    "SerialSettings.rts": "devices: RTS at open",
    "SerialSettings.rs485": "devices: TIOCSRS485",
    "NetworkDevice.host": "devices.NetworkPeer; port: connect-back",
    "NetworkDevice.port": "devices.NetworkPeer; port: connect-back",
    "NetworkDevice.transport": "devices.NetworkPeer; port: connect-back",
    "KeepOpen.retry_time_ms": "port: reopen timer",
    "KeepOpen.discard_badwrites": "port: drop input while the device is away",
    "ConnectionOptions.kickolduser": "port: admission",
    "ConnectionOptions.banner": "port: sent on connect",
    "ConnectionOptions.signature": "port: RFC 2217 signature",
    "ConnectionOptions.openstr": "port: sent to the device on open",
    "ConnectionOptions.closestr": "port: sent to the device on close",
    "ConnectionOptions.closeon": "port: string watch",
    "ConnectionOptions.sendon": "port: string watch",
    "ConnectionOptions.trace_read": "trace",
    "ConnectionOptions.trace_write": "trace",
    "ConnectionOptions.trace_both": "trace",
    "ConnectionOptions.telnet_brk_on_sync": "port: telnet codec",
    "ConnectionOptions.chardelay": "port: the hold",
    "ConnectionOptions.chardelay_scale": "port: the hold",
    "ConnectionOptions.chardelay_min": "port: the hold",
    "ConnectionOptions.chardelay_max": "port: the hold",
    "ConnectionOptions.dev_to_net_bufsize": "port: read size",
    "ConnectionOptions.net_to_dev_bufsize": "port, client: read size",
    "ConnectionOptions.max_connections": "port: admission",
    "ConnectionOptions.remaddr": "port, remaddr: admission and connect-back",
    "ConnectionOptions.connback": "port: connect-back",
    "ConnectionOptions.connback_timeout": "port: connect-back idle timeout",
    "ConnectionOptions.no_con_to_acc": "port",
    "ConnectionOptions.no_acc_to_con": "port",
    "ConnectionOptions.accepter_retry_time": "port: bind retry",
    "ConnectionOptions.connector_retry_time": "port: connect-back retry",
    "ConnectionOptions.timeout_on_os_queue": "port: idle timeout",
    "ConnectionOptions.led_tx": "port: LED flash",
    "ConnectionOptions.led_rx": "port: LED flash",
    "ConnectionOptions.led_conn": "port: LED on while connected",
    "ConnectionOptions.client_buffer_limit": "client, port",
    "ConnectionOptions.client_send_timeout": "client",
    "ConnectionOptions.keepalive_idle": "port: listeners.tune_client_socket",
    "ConnectionOptions.keepalive_interval": "port: listeners.tune_client_socket",
    "ConnectionOptions.keepalive_count": "port: listeners.tune_client_socket",
    "ConnectionOptions.tcp_user_timeout": "port: listeners.tune_client_socket",
    "ConnectionOptions.device_loss": "model: Connection.holds_device; port: devicewait",
    "TraceFile.path": "trace",
    "TraceFile.hexdump": "trace",
    "TraceFile.timestamp": "trace",
    "RemoteAddress.host": "remaddr",
    "RemoteAddress.port": "remaddr",
    "RemoteAddress.connect_back": "model.Connection.connect_backs, read by port",
    "Rotator.name": "engine, rotator",
    "Rotator.accepter": "engine, rotator",
    "Rotator.connections": "rotator",
    "Led.name": "leds: messages",
    "Led.device": "leds: the sysfs directory",
    "Led.duration_ms": "leds",
    "Led.state": "leds",
    "Admin.accepter": "engine, admin",
    "Admin.authdir": "engine, admin: client certificates",
    "Accepter.ssl": "port, rotator, admin: TLS",
    "NetworkDevice.ssl": "port, tlsdevice: TLS to the peer",
    "SslSettings.key": "tlsconfig",
    "SslSettings.cert": "tlsconfig",
    "SslSettings.ca": "tlsconfig",
    "SslSettings.clientauth": "tlsconfig",
    "ConnectionOptions.authdir": "port: client certificates",
    "ConnectionOptions.allowed_users": "port: client certificates",
    "Rotator.authdir": "rotator: client certificates",
    "Rotator.allowed_users": "rotator: client certificates",
    "Accepter.conacc": "port: a ConAccListener instead of a socket",
    "ConAcc.connector": "conacc: the link opened and handed over",
    "ConAcc.retry_time_ms": "conacc: the wait before opening again",
    "Connector.link": "linkdevice, links: the link layers above the device",
    "RelPktLayer.server": "links: waits for INIT or sends it",
    "RelPktLayer.max_pktsize": "links, relpkt: packet size offered",
    "RelPktLayer.max_packets": "links, relpkt: window offered",
    "RelPktLayer.timeout_ms": "links, relpkt: keepalive and retry period",
    "RelPktLayer.max_timeouts": "links, relpkt: when to give up",
    "MsgDelimLayer.readbuf": "links, msgdelim: longest message taken",
    "MsgDelimLayer.writebuf": "links, msgdelim: longest message sent",
    "MsgDelimLayer.crc": "links, msgdelim: CRC-16 on or off",
    "SerialTcpLayer.server": "links, serialtcp: which end",
    "SerialTcpLayer.timeout_ms": "links, serialtcp: connect timeout",
    "ConnectionOptions.mdns": "engine: announced while enabled",
    "Admin.name": "engine: the admin port's mDNS name",
    "Admin.mdns": "engine: the admin port's announcement",
    "Led.mode": "leds: transient trigger or on/off",
    "Mdns.name": "protocol.mdns: the instance name",
    "Mdns.type": "protocol.mdns: the service type",
    "Mdns.txt": "protocol.mdns: TXT strings",
    "Mdns.host": "protocol.mdns: the host announced",
    "Mdns.domain": "protocol.mdns: only local is served",
    "Mdns.interface": "announce: the interface published on",
    "Mdns.nettype": "announce: IPv4, IPv6 or both",
    "Mdns.sysattrs": "engine, usbdevices: USB attributes in TXT",
    "Mdns.port": "protocol.mdns: the port announced",
}

#: Served fields whose only accepted value is what the run-time code does,
#: so it never needs to read them; any other value is refused.
ONE_VALUE: Dict[str, Tuple[str, str]] = {
    "Led.driver": (
        "led: &l\n  driver: gpio\n  options:\n    device: x\n",
        "unknown led driver 'gpio'",
    ),
}

_CONN = "connection: &c\n  accepter: {accepter}\n  connector: {connector}\n"
_FILE = _CONN.format(accepter="tcp,2000", connector="file(infile=/a,outfile=/b)")
_FILE_ERROR = "connector layer 'file': file connectors are not supported yet"

#: Fields the parsers never fill in: a configuration asking for them is an
#: error that names the layer or option.  (text, file name, error).
REJECTED: Dict[str, Tuple[str, str]] = {
    "FileDevice.infile": (_FILE, _FILE_ERROR),
    "FileDevice.outfile": (_FILE, _FILE_ERROR),
    "NetworkDevice.telnet": (
        _CONN.format(accepter="tcp,2000", connector="telnet,tcp,127.0.0.1,2001"),
        "connector layer 'telnet': telnet connectors",
    ),
}

#: Where a value was written: for messages only, never a setting (and so
#: left out of comparisons, which the test below checks).
METADATA: Set[str] = {
    "Position.file",
    "Position.line",
    "Position.column",
    "Connection.position",
    "Rotator.position",
    "Admin.position",
}

#: YAML options that are read and then dropped, and why ser2net does not
#: act on them either for any configuration pyser2net accepts.
IGNORED_OPTIONS: Dict[str, str] = {}


def model_fields() -> Dict[str, dataclasses.Field]:
    """``Class.field`` for every field reachable from Config."""
    found: Dict[str, dataclasses.Field] = {}
    seen: Set[type] = set()

    def walk(cls: type) -> None:
        if cls in seen:
            return
        seen.add(cls)
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            found[f"{cls.__name__}.{f.name}"] = f
            stack = [hints[f.name]]
            while stack:
                hint = stack.pop()
                stack.extend(typing.get_args(hint))
                if isinstance(hint, type) and dataclasses.is_dataclass(hint):
                    walk(hint)

    walk(model.Config)
    return found


def test_every_field_is_classified() -> None:
    lists = [set(SERVED), set(ONE_VALUE), set(REJECTED), METADATA]
    for i, a in enumerate(lists):
        for b in lists[i + 1 :]:
            assert not a & b, f"listed twice: {sorted(a & b)}"
    listed = set().union(*lists)
    fields = set(model_fields())
    assert not fields - listed, (
        f"new model fields must be served or rejected by the parsers: {sorted(fields - listed)}"
    )
    assert not listed - fields, f"listed but not in the model: {sorted(listed - fields)}"


def _reads(name: str, sources: str) -> bool:
    return re.search(rf"\.{name}\b|[\"']{name}[\"']", sources) is not None


def test_served_fields_are_read_by_the_run_time_code() -> None:
    sources = "\n".join(p.read_text() for p in RUNTIME_SOURCES)
    sources += (ROOT / "config" / "model.py").read_text().split("def connect_backs", 1)[1]
    unread = [f for f in SERVED if not _reads(f.split(".")[1], sources)]
    assert not unread, f"listed as served but never read at run time: {unread}"


@pytest.mark.parametrize("field", sorted(REJECTED))
def test_rejected_fields_are_errors_that_name_them(field: str) -> None:
    text, message = REJECTED[field]
    with pytest.raises(ConfigError) as info:
        load_text(text, "fields.yaml")
    assert message in str(info.value)
    assert str(info.value).startswith("fields.yaml:")


@pytest.mark.parametrize("field", sorted(ONE_VALUE))
def test_other_values_of_one_value_fields_are_errors(field: str) -> None:
    text, message = ONE_VALUE[field]
    with pytest.raises(ConfigError) as info:
        load_text(text, "fields.yaml")
    assert message in str(info.value)


def test_metadata_is_never_compared() -> None:
    fields = model_fields()
    for name in METADATA:
        owner = name.split(".")[0]
        if owner != "Position":
            assert fields[name].compare is False, name


def test_ignored_yaml_options_are_the_listed_ones() -> None:
    assert set(yaml_parser._OPTION_IGNORED) == set(IGNORED_OPTIONS)


def test_mdns_off_is_accepted() -> None:
    text = _CONN.format(accepter="tcp,2000", connector="echo") + "  options:\n    mdns: false\n"
    assert load_text(text, "mdns.yaml").connections[0].options.mdns is None


@pytest.mark.parametrize(
    "text,name",
    [
        (
            _CONN.format(accepter="telnet,tcp,2000", connector="echo")
            + "  options:\n    remaddr: '!127.0.0.1,3000'\n",
            "c.yaml",
        ),
        (
            _CONN.format(accepter="telnet(rfc2217),tcp,2000", connector="echo")
            + "  options:\n    connback: tcp,127.0.0.1,3000\n",
            "c.yaml",
        ),
        ("2000:telnet:0:/dev/ttyS0:connback=tcp,127.0.0.1,3000\n", "c.conf"),
    ],
)
def test_connect_back_through_telnet_is_refused(text: str, name: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_text(text, name)
    assert "through a telnet accepter is not supported yet" in str(info.value)


def test_connect_back_addresses_are_dialled_over_the_accepter_transport() -> None:
    text = (
        _CONN.format(accepter="udp,2000", connector="echo")
        + "  options:\n    remaddr: '!127.0.0.1,3000;10.0.0.1,0'\n"
        "    connback: udp,127.0.0.1,3001\n"
    )
    conn = load_text(text, "c.yaml").connections[0]
    targets = [c.device for c in conn.connect_backs]
    assert targets == [
        model.NetworkDevice("127.0.0.1", 3001, "udp"),
        model.NetworkDevice("127.0.0.1", 3000, "udp"),
    ]
