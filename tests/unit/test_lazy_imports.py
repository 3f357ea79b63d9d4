"""A configuration that does not use a feature does not load its code.

Link layers, USB selectors, mDNS, metrics, TLS, the admin port, rotators,
LEDs, reloads in a child and the other dialect's reader are each imported
where a configuration first needs them.  Every module loaded at start
costs start-up time and resident memory for the daemon's whole life, so
a daemon serving plain ports must not load them.

Each test reads a configuration and builds its engine and ports the way
the daemon's start does (``cli``'s loader, ``Engine``, one ``Port`` per
connection), in a fresh interpreter, without listening on anything or
opening any device, and looks at ``sys.modules``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import List, Set

ROOT = Path(__file__).resolve().parents[2]

#: Builds what ``pyser2net -c FILE`` builds before it listens; prints the
#: names of the modules loaded then.
PROBE = r"""
import sys

from pyser2net import cli, daemon
from pyser2net.reread import ChildConfigSource, ConfigSpec
from pyser2net.runtime.engine import Engine
from pyser2net.runtime.port import Port
from pyser2net.runtime.reactor import Reactor

load, _source = cli.make_loader(sys.argv[1], (), ())
result = load()
if result.issues:
    sys.exit("\n".join(str(issue) for issue in result.issues))
reactor = Reactor()
spec = ConfigSpec(sys.argv[1], (), (), None, None, ())
engine = Engine(result.config, reactor, loader=ChildConfigSource(reactor, spec))
ports = [Port(reactor, conn, result.config.leds) for conn in result.config.connections]
assert len(ports) == int(sys.argv[2]), len(ports)
print("\n".join(sorted(sys.modules)))
"""

#: Used by no connection of the configurations below.
UNUSED = {
    # the other readers and --check / --convert / reload
    "pyser2net.config.convert",
    "pyser2net.config.reload",
    "pyser2net.config.summary",
    "pyser2net.config.attach",
    # link layers (relpkt, msgdelim, serialtcp) and conacc accepters
    "pyser2net.protocol.links",
    "pyser2net.protocol.msgdelim",
    "pyser2net.protocol.relpkt",
    "pyser2net.protocol.serialtcp",
    "pyser2net.runtime.linkstream",
    "pyser2net.runtime.conacc",
    # usb(...) selectors, device-loss: hold, connect-back, LEDs, rotators
    "pyser2net.runtime.usbdevices",
    "pyser2net.runtime.devicewait",
    "pyser2net.runtime.inotify",
    "pyser2net.runtime.connback",
    "pyser2net.runtime.leds",
    "pyser2net.runtime.rotator",
    # admin port, --metrics, mDNS
    "pyser2net.protocol.admin",
    "pyser2net.runtime.admin",
    "pyser2net.runtime.service",
    "pyser2net.runtime.metrics",
    "pyser2net.runtime.exposition",
    "pyser2net.protocol.http",
    "pyser2net.protocol.status",
    "pyser2net.protocol.mdns",
    "pyser2net.runtime.announce",
    # TLS
    "pyser2net.protocol.tls",
    "pyser2net.runtime.tlsaccept",
    "pyser2net.runtime.tlsconfig",
    "pyser2net.runtime.tlsdevice",
    "pyser2net.runtime.tlsstream",
    # the attach client
    "pyser2net.attach_cli",
    "pyser2net.runtime.attach",
    "pyser2net.runtime.attach_control",
    "pyser2net.protocol.telnet_client",
    # a reload's child process
    "pyser2net.runtime.childread",
    # strings sent to clients or devices (banner, openstr, closeon...), and
    # who holds an address a port cannot listen on
    "pyser2net.protocol.templates",
    "pyser2net.runtime.sockowner",
    # what those bring from outside
    "ssl",
    "asyncio",
    "subprocess",
    "tempfile",
    "pickle",
    "json",
    "concurrent.futures",
    "zeroconf",
    "prometheus_client",
}


def loaded(config: Path, ports: int) -> Set[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(config), str(ports)],
        capture_output=True,
        text=True,
        cwd=str(ROOT),
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split())


def yaml_ports(count: int) -> str:
    """Half raw tcp, half telnet; devices that nothing opens here."""
    entries: List[str] = []
    for i in range(count):
        telnet = "telnet," if i % 2 else ""
        entries.append(
            f"connection: &port{i}\n"
            f"  accepter: {telnet}tcp,127.0.0.1,{20000 + i}\n"
            f"  connector: serialdev,/dev/ttyS{i},115200n81,local\n"
            "  options:\n"
            "    kickolduser: true\n"
        )
    return "".join(entries)


def test_plain_yaml_ports_load_no_unused_feature(tmp_path):
    config = tmp_path / "ser2net.yaml"
    config.write_text(yaml_ports(200))
    modules = loaded(config, 200)
    assert not UNUSED & modules, sorted(UNUSED & modules)
    assert "pyser2net.config.legacy" not in modules
    # What the configuration does use is there: the probe saw the ports.
    assert {"yaml", "pyser2net.config.yaml", "pyser2net.runtime.rfc2217"} <= modules


def test_raw_ports_do_not_load_the_rfc2217_session(tmp_path):
    config = tmp_path / "ser2net.yaml"
    config.write_text(
        "connection: &raw\n"
        "  accepter: tcp,127.0.0.1,20000\n"
        "  connector: serialdev,/dev/ttyS0,9600n81,local\n"
    )
    modules = loaded(config, 1)
    assert "pyser2net.runtime.rfc2217" not in modules
    assert "pyser2net.runtime.port" in modules


def test_legacy_file_loads_neither_yaml_reader_nor_pyyaml(tmp_path):
    config = tmp_path / "ser2net.conf"
    config.write_text(
        "".join(
            f"{20000 + i}:{'telnet' if i % 2 else 'raw'}:600:/dev/ttyS{i}:115200 8DATABITS\n"
            for i in range(200)
        )
    )
    modules = loaded(config, 200)
    assert not UNUSED & modules, sorted(UNUSED & modules)
    assert "yaml" not in modules
    assert "pyser2net.config.yaml" not in modules
    assert "pyser2net.config.legacy" in modules


def test_addresses_written_as_digits_do_not_load_the_idna_codec():
    code = (
        "import sys\n"
        "from pyser2net.runtime.resolver import Query, numeric\n"
        "v4 = numeric(Query('127.0.0.1', 3001))\n"
        "v6 = numeric(Query('::1', 3001))\n"
        "name = numeric(Query('localhost', 3001))\n"
        "print(bool(v4), bool(v6), name, 'encodings.idna' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=str(ROOT), timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True", "None", "False"]
