"""Hosts in a configuration: the IPv4 forms inet_aton(3) reads, worked out
without the C library, and reading a file with no lookups of its own."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path
from typing import Optional

import pytest

from pyser2net.cli import make_loader
from pyser2net.config import read_config
from pyser2net.config.hosts import host_problem, inet_aton


def aton(text: str) -> Optional[int]:
    """What the C library says, as an int (None when it refuses)."""
    try:
        return int.from_bytes(socket.inet_aton(text), "big")
    except OSError:
        return None


@pytest.mark.parametrize(
    "text,value",
    [
        # a.b.c.d, each part up to 255
        ("127.0.0.1", 0x7F000001),
        ("255.255.255.255", 0xFFFFFFFF),
        ("1.2.3.256", None),
        # a.b.c: c fills the last 16 bits
        ("10.1.258", 0x0A010102),
        ("255.255.65535", 0xFFFFFFFF),
        ("1.2.65536", None),
        ("1.256.1", None),
        # a.b: b fills the last 24 bits
        ("127.1", 0x7F000001),
        ("1.16777215", 0x01FFFFFF),
        ("1.16777216", None),
        # a: all 32 bits
        ("2130706433", 0x7F000001),
        ("4294967295", 0xFFFFFFFF),
        ("4294967296", None),
        # octal: a leading 0
        ("0177.0.0.01", 0x7F000001),
        ("037777777777", 0xFFFFFFFF),
        ("040000000000", None),
        ("1.2.3.0377", 0x010203FF),
        ("1.2.3.0400", None),
        ("08", None),
        ("0", 0),
        ("00", 0),
        # hex: 0x or 0X
        ("0x7f.1", 0x7F000001),
        ("0X7F.0x0.0x0.0x1", 0x7F000001),
        ("0xffffffff", 0xFFFFFFFF),
        ("0x100000000", None),
        ("0x0000000001", 1),
        ("0x", None),
        ("00x1", None),
        ("0x100.1", None),
        # not an address
        ("1.2.3.4.5", None),
        ("", None),
        ("1..2", None),
        ("1.2.", None),
        ("-1", None),
        ("+1", None),
        ("1_0", None),
        (" 1", None),
        ("0x1g", None),
    ],
)
def test_inet_aton_reads_what_the_c_library_reads(text: str, value: Optional[int]) -> None:
    assert inet_aton(text) == value
    assert aton(text) == value  # the table is the C library's own answer


def test_inet_aton_agrees_with_the_c_library_on_many_forms() -> None:
    parts = ["0", "1", "07", "08", "010", "0x", "0x1f", "0XFF", "255", "256", "65535", "65536"]
    parts += ["16777215", "16777216", "4294967295", "4294967296", "0377", "0400", "0x100"]
    tried = 0
    for a in parts:
        for b in parts:
            for text in (a, f"{a}.{b}", f"{a}.1.{b}", f"1.{a}.2.{b}"):
                assert inet_aton(text) == aton(text), text
                tried += 1
    assert tried == 4 * len(parts) ** 2


def test_a_short_ipv4_form_is_a_valid_host() -> None:
    assert host_problem("127.1") is None
    assert host_problem("0x7f.1") is None
    assert host_problem("1.2.3.256") == "not a valid IPv4 address"
    assert host_problem("08.1") == "not a valid IPv4 address"


def test_reading_a_configuration_imports_no_sockets() -> None:
    code = (
        "import sys, pyser2net.config as c;"
        "c.read_config('connection: &a\\n  accepter: tcp,127.1,3001\\n  connector: echo\\n',"
        " 'a.yaml').strict();"
        "print('socket' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    )
    assert out.stdout.strip() == "False"


YAML = "connection: &a\n  accepter: localhost,3001\n  connector: echo\n"


def test_the_daemon_s_loader_looks_hosts_up(tmp_path: Path) -> None:
    """The daemon, --check and the reload child read through make_loader,
    which hands the readers the real lookup: localhost is a host."""
    path = tmp_path / "a.yaml"
    path.write_text(YAML)
    loader, _ = make_loader(str(path), [], [])
    result = loader()
    assert not result.issues
    assert result.config.connections[0].accepter.host == "localhost"
    loader, _ = make_loader(None, ["3001:raw:0:localhost,3002:"], [])
    connector = loader().config.connections[0].connector
    assert connector.text.startswith("localhost,3002")
    # Without a lookup the same word is a mistyped layer.
    issues = read_config(YAML, "a.yaml").issues
    assert "unknown accepter layer 'localhost'" in issues[0].message
