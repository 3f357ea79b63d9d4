"""The byte counters of ``showport`` and ``showshortport``, against ser2net 4.3.

The same session runs on both daemons: a client connects (and gets a
banner), sends payload mixed with telnet commands, the device answers with
bytes that telnet must escape, the client leaves.  What each admin port
counts during and after the session must be the same.  Skipped when ser2net
is not installed.
"""

from __future__ import annotations

import re
import socket
import time
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

from helpers import connect, daemon, free_port, new_pty, read_exact, read_for
from ser2net_helpers import IMPLEMENTATIONS, SER2NET

pytestmark = pytest.mark.skipif(SER2NET is None, reason="ser2net is not installed")

IAC = b"\xff"

#: The accepter of each connection; each also has a banner, an openstr and a
#: closestr.  Telnet clients send payload, telnet commands and an RFC 2217
#: baud rate query; the device gets the payload alone.
ACCEPTERS = {
    "raw": "tcp",
    "tel": "telnet,tcp",
    "rfc": "telnet(rfc2217),tcp",
    "udp": "udp",
}
TELNET_INPUT = b"hello" + IAC + IAC + IAC + b"\xfb\x2c" + b"x" + b"\xff\xfa\x2c\x01\0\0\0\0\xff\xf0"
RAW_INPUT = b"hello\xffx"
DEVICE_OUTPUT = b"world\xff" * 3
#: In single quotes so that ser2net's escapes, not YAML's, apply: \N is the
#: connection name, \xff a byte that telnet escapes.
BANNER = r"Welcome to \N\xff\r\n"

COUNTERS = re.compile(rb"(bytes (?:read|written) (?:from|to) (?:TCP|device)): (\d+)")


def config(ports: Dict[str, int], devices: Dict[str, str]) -> str:
    return "".join(
        f"connection: &{name}\n"
        f"  accepter: {accepter},127.0.0.1,{ports[name]}\n"
        f"  connector: serialdev,{devices[name]},9600n81,local\n"
        f"  options:\n"
        f"    banner: '{BANNER}'\n"
        f"    openstr: 'go\\r'\n"
        f"    closestr: 'bye\\r'\n"
        for name, accepter in ACCEPTERS.items()
    )


def ask(adm: socket.socket, line: bytes) -> bytes:
    adm.sendall(line + b"\r")
    return read_for(adm, 5, until=b"\r\n-> ")


def closed(showport: bytes) -> bool:
    return b"connected to" not in showport and b"tcp to device state: waiting input" in showport


def short_counters(answer: bytes) -> List[bytes]:
    """The four byte counters of a showshortport line."""
    line = answer.split(b"\r\n")[2] + b" "
    return re.findall(rb"(?<= )(\d+)(?= )", line)[-4:]


def observe(command: List[str], tmp_path: Path) -> Dict[str, List[Tuple[bytes, ...]]]:
    ptys = {name: new_pty() for name in ACCEPTERS}
    ports = {name: free_port() for name in ACCEPTERS}
    admin = free_port()
    seen: Dict[str, List[Tuple[bytes, ...]]] = {}
    try:
        text = config(ports, {name: p.path for name, p in ptys.items()})
        with daemon(
            text,
            tmp_path,
            [*ports.values(), admin],
            command=command,
            extra_args=["-u", "-p", f"127.0.0.1,{admin}"],
        ):
            with connect(admin) as adm:
                read_for(adm, 5, until=b"-> ")
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
                    # A UDP peer never leaves (only a timeout ends it): no "after".
                    peer.settimeout(5)
                    peer.sendto(RAW_INPUT, ("127.0.0.1", ports["udp"]))
                    expected = b"go\r" + RAW_INPUT
                    assert read_exact(ptys["udp"].master, len(expected)) == expected
                    assert peer.recv(100).startswith(b"Welcome")
                    ptys["udp"].write(DEVICE_OUTPUT)
                    assert peer.recv(100) == DEVICE_OUTPUT
                    seen["udp during"] = COUNTERS.findall(ask(adm, b"showport udp"))
                for name in ("raw", "tel", "rfc"):
                    dev = ptys[name]
                    raw = name == "raw"
                    with connect(ports[name]) as client:
                        read_for(client, 1, until=b"\r\n")  # negotiation and banner
                        client.sendall(RAW_INPUT if raw else TELNET_INPUT)
                        expected = b"go\r" + RAW_INPUT
                        assert read_exact(dev.master, len(expected)) == expected
                        dev.write(DEVICE_OUTPUT)
                        tail = DEVICE_OUTPUT[-6:] if raw else b"world\xff\xff"
                        read_for(client, 5, until=tail)
                        time.sleep(0.2)  # answers to the baud query, if any
                        during = ask(adm, b"showport " + name.encode())
                        seen[f"{name} during"] = COUNTERS.findall(during)
                        short = ask(adm, b"showshortport " + name.encode())
                        seen[f"{name} short"] = [tuple(short_counters(short))]
                    # The port has shut down once the client is gone and
                    # the states are back to waiting for input.
                    deadline = time.monotonic() + 5
                    after = ask(adm, b"showport " + name.encode())
                    while not closed(after) and time.monotonic() < deadline:
                        time.sleep(0.05)
                        after = ask(adm, b"showport " + name.encode())
                    seen[f"{name} after"] = COUNTERS.findall(after)
    finally:
        for dev in ptys.values():
            dev.close()
    return seen


def test_counters_match_ser2net(tmp_path: Path) -> None:
    (tmp_path / "ours").mkdir()
    (tmp_path / "theirs").mkdir()
    theirs = observe(IMPLEMENTATIONS["ser2net"], tmp_path / "theirs")
    ours = observe(IMPLEMENTATIONS["pyser2net"], tmp_path / "ours")
    # What ser2net counts, as recorded: the banner and the payload before
    # telnet escaping go to TCP; what the client sent, after telnet
    # decoding, comes from TCP; the device counters start again at 0.
    banner = len("Welcome to raw\xff\r\n")
    assert theirs["raw during"][:2] == [
        (b"bytes read from TCP", str(len(RAW_INPUT)).encode()),
        (b"bytes written to TCP", str(banner + len(DEVICE_OUTPUT)).encode()),
    ]
    assert theirs["rfc after"] == [
        (b"bytes read from device", b"0"),
        (b"bytes written to device", b"0"),
    ]
    assert ours == theirs
