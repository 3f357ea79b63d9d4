"""A device that goes away, with configurations written for ser2net: the
clients see the same bytes and the same closes from both daemons.

A plain device path closes its clients when the device vanishes, and serves
the next client once it is back; ``keepopen(retry-time=...)`` keeps the
client and carries on once the device is back.  (``device-loss: hold``
and ``usb(...)`` are pyser2net's own and never apply to these files.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List

import pytest

from helpers import connect, daemon, free_port, new_pty, read_for, recv_until_closed
from ser2net_helpers import IMPLEMENTATIONS, SER2NET

needs_ser2net = pytest.mark.skipif(SER2NET is None, reason="ser2net is not installed")


def _conn(port: int, link: Path, prefix: str = "") -> str:
    return (
        "connection: &dev\n"
        f"  accepter: tcp,127.0.0.1,{port}\n"
        f"  connector: {prefix}serialdev,{link},9600n81,local\n"
        "  options:\n"
        "    chardelay: false\n"
    )


def observe_plain(command: List[str], tmp_path: Path) -> Dict[str, object]:
    seen: Dict[str, object] = {}
    link = tmp_path / "ttyBOARD"
    first, second = new_pty(), new_pty()
    link.symlink_to(first.path)
    port = free_port()
    try:
        with daemon(_conn(port, link), tmp_path, [port], command=command):
            with connect(port) as sock:
                sock.sendall(b"hello")
                seen["to_device"] = first.read(5)
                first.write(b"last words")
                seen["from_device"] = read_for(sock, 5, until=b"last words")
                link.unlink()
                first.close()
                first.master = first.slave = -1
                seen["after_loss"] = recv_until_closed(sock, timeout=5)
            with connect(port) as sock:
                seen["while_away"] = recv_until_closed(sock, timeout=5)
            link.symlink_to(second.path)
            with connect(port) as sock:
                second.write(b"back")
                seen["back"] = read_for(sock, 5, until=b"back")
                sock.sendall(b"again")
                seen["to_new_device"] = second.read(5)
    finally:
        for pty in (first, second):
            if pty.master >= 0:
                pty.close()
    return seen


def observe_keepopen(command: List[str], tmp_path: Path) -> Dict[str, object]:
    seen: Dict[str, object] = {}
    link = tmp_path / "ttyBOARD"
    first, second = new_pty(), new_pty()
    link.symlink_to(first.path)
    port = free_port()
    try:
        with daemon(
            _conn(port, link, "keepopen(retry-time=200),"), tmp_path, [port], command=command
        ):
            with connect(port) as sock:
                first.write(b"one")
                seen["before"] = read_for(sock, 5, until=b"one")
                link.unlink()
                first.close()
                first.master = first.slave = -1
                seen["while_away"] = read_for(sock, 1)  # nothing, and not closed
                link.symlink_to(second.path)
                second.write(b"back")
                seen["back"] = read_for(sock, 5, until=b"back")
                sock.sendall(b"two")
                seen["to_new_device"] = second.read(3)
    finally:
        for pty in (first, second):
            if pty.master >= 0:
                pty.close()
    return seen


@needs_ser2net
def test_a_vanishing_device_closes_its_clients_as_in_ser2net(tmp_path: Path) -> None:
    (tmp_path / "theirs").mkdir()
    (tmp_path / "ours").mkdir()
    theirs = observe_plain(IMPLEMENTATIONS["ser2net"], tmp_path / "theirs")
    ours = observe_plain(IMPLEMENTATIONS["pyser2net"], tmp_path / "ours")
    assert theirs["after_loss"] == b"" and theirs["back"] == b"back", theirs
    assert ours == theirs


@needs_ser2net
def test_keepopen_keeps_its_client_as_in_ser2net(tmp_path: Path) -> None:
    (tmp_path / "theirs").mkdir()
    (tmp_path / "ours").mkdir()
    theirs = observe_keepopen(IMPLEMENTATIONS["ser2net"], tmp_path / "theirs")
    ours = observe_keepopen(IMPLEMENTATIONS["pyser2net"], tmp_path / "ours")
    assert theirs["while_away"] == b"" and theirs["back"] == b"back", theirs
    assert ours == theirs
