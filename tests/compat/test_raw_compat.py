"""The same raw-port scenario against ser2net and pyser2net: the bytes must match.

Skipped when ser2net is not installed (CI installs it).
"""

from __future__ import annotations

import os
import termios
from pathlib import Path
from typing import Dict, List

import pytest

from helpers import connect, daemon, free_port, new_pty, recv_exact, recv_until_closed, wait_until
from ser2net_helpers import IMPLEMENTATIONS, SER2NET

needs_ser2net = pytest.mark.skipif(SER2NET is None, reason="ser2net is not installed")


def observe(command: List[str], tmp_path: Path, suffix: str, template: str) -> Dict[str, object]:
    """Run the scenario once and return everything a user could observe."""
    dev = new_pty()
    port, missing = free_port(), free_port()
    config = template.format(port=port, missing=missing, dev=dev.path)
    seen: Dict[str, object] = {}
    payload_up = bytes(range(256)) * 64
    payload_down = os.urandom(16384)
    before = termios.tcgetattr(dev.slave)[:6]
    try:
        with daemon(config, tmp_path, [port, missing], suffix=suffix, command=command):
            with connect(port) as sock:
                wait_until(lambda: termios.tcgetattr(dev.slave)[:6] != before, timeout=5)
                seen["termios"] = termios.tcgetattr(dev.slave)[:6]
                sock.sendall(payload_up)
                seen["to_device"] = dev.read(len(payload_up), timeout=10) == payload_up
                dev.write(payload_down[:4096])
                got = recv_exact(sock, 4096, timeout=10)
                seen["to_net"] = got == payload_down[:4096]
                with connect(port) as second:
                    seen["second_client"] = recv_until_closed(second, timeout=3)
            with connect(missing) as sock:
                seen["missing_device"] = recv_until_closed(sock, timeout=3)
            wait_until(lambda: termios.tcgetattr(dev.slave)[:6] == before, timeout=5)
            seen["termios_after"] = termios.tcgetattr(dev.slave)[:6]
    finally:
        dev.close()
    return seen


YAML = (
    "connection: &raw\n"
    "  accepter: tcp,127.0.0.1,{port}\n"
    "  connector: serialdev,{dev},115200n81,local\n"
    "connection: &missing\n"
    "  accepter: tcp,127.0.0.1,{missing}\n"
    "  connector: serialdev,/dev/pyser2net-missing,9600n81\n"
)

LEGACY = (
    "127.0.0.1,{port}:raw:0:{dev}:38400 2STOPBITS\n"
    "127.0.0.1,{missing}:raw:0:/dev/pyser2net-missing:9600\n"
)


@needs_ser2net
@pytest.mark.parametrize(
    "suffix,template", [(".yaml", YAML), (".conf", LEGACY)], ids=["yaml", "legacy"]
)
def test_raw_port_matches_ser2net(tmp_path, suffix, template):
    ours = observe(IMPLEMENTATIONS["pyser2net"], tmp_path, suffix, template)
    theirs = observe(IMPLEMENTATIONS["ser2net"], tmp_path, suffix, template)
    assert theirs["to_device"] and theirs["to_net"], "scenario broken against ser2net"
    assert ours == theirs


@needs_ser2net
def test_demo_file_echoes_with_both_daemons(tmp_path):
    """examples/demo.yaml, on a free port instead of 7777, works with both."""
    demo = (Path(__file__).resolve().parents[2] / "examples" / "demo.yaml").read_text()
    assert "accepter: tcp,127.0.0.1,7777" in demo
    for command in IMPLEMENTATIONS.values():
        port = free_port()
        config = demo.replace("tcp,127.0.0.1,7777", f"tcp,127.0.0.1,{port}")
        with daemon(config, tmp_path, [port], command=command):
            with connect(port) as sock:
                sock.sendall(b"hello demo\r\n")
                assert recv_exact(sock, 12) == b"hello demo\r\n"
