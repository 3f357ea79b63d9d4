"""The demo behind ``make demo``: one port, named the same everywhere, and
free on a machine where Debian's ser2net runs with its default configuration.

Installing Debian's ``ser2net`` package (as the quick start suggests, for the
comparison tests) starts its service, which listens on the ports of its
default ``/etc/ser2net.yaml``; a demo on one of those fails with "Address
already in use".
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from pathlib import Path
from typing import Dict, Set

import pytest

from pyser2net.config import load_file

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "examples" / "demo.yaml"
SER2NET_CONFFILE = "/etc/ser2net.yaml"


def _demo_port() -> int:
    (conn,) = load_file(str(DEMO)).connections
    assert conn.accepter.host == "127.0.0.1"
    assert isinstance(conn.accepter.port, int)
    return conn.accepter.port


def test_demo_port_is_the_one_documented() -> None:
    """Every "telnet/nc 127.0.0.1 PORT" a user is told to type names the demo's port."""
    port = _demo_port()
    mentions: Dict[str, Set[int]] = {}
    for path in (ROOT / "README.md", ROOT / "Makefile", DEMO):
        found = re.findall(r"\b(?:telnet|nc) 127\.0\.0\.1 (\w+)", path.read_text())
        mentions[path.name] = {int(p) if p.isdigit() else -1 for p in found}
    assert mentions["README.md"] == {port}, mentions
    assert mentions["demo.yaml"] == {port}, mentions
    assert mentions["Makefile"] <= {port}, mentions


def _shipped_md5(package: str, conffile: str) -> str:
    out = subprocess.run(
        ["dpkg-query", "-W", "-f=${Conffiles}", package],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        timeout=60,
    ).stdout
    for line in out.splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0] == conffile:
            return fields[1]
    return ""


def test_demo_port_is_free_in_debian_default_ser2net_config() -> None:
    if shutil.which("dpkg-query") is None:
        pytest.skip("dpkg-query is not installed (not a Debian system)")
    shipped = _shipped_md5("ser2net", SER2NET_CONFFILE)
    if not shipped:
        pytest.skip("Debian's ser2net package is not installed")
    path = Path(SER2NET_CONFFILE)
    if not path.is_file() or hashlib.md5(path.read_bytes()).hexdigest() != shipped:
        pytest.skip(f"{SER2NET_CONFFILE} is not the one Debian's ser2net ships (edited or gone)")
    config = load_file(SER2NET_CONFFILE)
    taken = {conn.accepter.port for conn in config.connections}
    assert taken, f"no ports read from {SER2NET_CONFFILE}"
    assert _demo_port() not in taken, f"ser2net's default configuration takes {sorted(taken)}"
