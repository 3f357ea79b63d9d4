"""The admin port of pyser2net and of ser2net 4.3 answer with the same structure.

Values differ (addresses, the version), so each answer is reduced to its
shape: the keys of showport, the columns of showshortport, the exact error
texts.  Skipped when ser2net is not installed.
"""

from __future__ import annotations

import re
import socket
import time
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

from helpers import ADMIN_CONFIG, Pty, connect, daemon, free_port, new_pty, read_for
from ser2net_helpers import IMPLEMENTATIONS, SER2NET

pytestmark = pytest.mark.skipif(SER2NET is None, reason="ser2net is not installed")


ERROR_COMMANDS = [
    b"bogus",
    b"showport nope",
    b"disconnect",
    b"disconnect nope",
    b"disconnect echo1",
    b"setporttimeout",
    b"setporttimeout nope 3",
    b"setporttimeout echo1",
    b"setporttimeout echo1 -5",
    b"setportcontrol",
    b"setportcontrol nope DTRHI",
    b"setportcontrol tty1 DTRHI",
    b"setportenable",
    b"setportenable nope off",
    b"setportenable echo1",
    b"setportenable echo1 bogus",
    b"setportenable echo1 on",
    b"monitor tcp",
    b"monitor tcp nope",
]


def ask(sock: socket.socket, line: bytes) -> bytes:
    sock.sendall(line + b"\r")
    return read_for(sock, 5, until=b"\r\n-> ")


def keys(showport: bytes) -> List[str]:
    """The labels of a showport answer, with indentation (the layout)."""
    return [line.split(":", 1)[0] for line in showport.decode().split("\r\n")[1:-1]]


def columns(line: str) -> List[int]:
    return [m.start() for m in re.finditer(r"(?<= )\S|^\S", line)]


def observe(command: List[str], tmp_path: Path, dev: Pty) -> Dict[str, object]:
    echo, tty_port, admin = free_port(), free_port(), free_port()
    seen: Dict[str, object] = {}
    config = ADMIN_CONFIG.format(echo=echo, tty=tty_port, dev=dev.path)
    try:
        with daemon(
            config,
            tmp_path,
            [echo, tty_port, admin],
            command=command,
            extra_args=["-p", f"127.0.0.1,{admin}"],
        ):
            with connect(admin) as adm:
                seen["greeting"] = read_for(adm, 5, until=b"-> ")
                version = ask(adm, b"version")
                seen["version"] = re.sub(rb"version: .*\r\n", b"version: X\r\n", version)
                seen["help"] = ask(adm, b"help")
                seen["showport"] = keys(ask(adm, b"showport"))
                short = ask(adm, b"showshortport").decode().split("\r\n")
                seen["short_header"] = short[1]
                seen["short_columns"] = [columns(line)[:12] for line in short[2:-1]]
                seen["errors"] = {c: ask(adm, c) for c in ERROR_COMMANDS}
                with connect(echo) as client:
                    client.sendall(b"abc")
                    read_for(client, 2, until=b"abc")
                    time.sleep(0.2)
                    seen["showport_connected"] = keys(ask(adm, b"showport echo1"))
                    seen["monitor"] = ask(adm, b"monitor tcp echo1")
                    client.sendall(b"xyz")
                    seen["monitored"] = read_for(adm, 5, until=b"xyz")
                    seen["monitor_stop"] = ask(adm, b"monitor stop")
                    seen["disconnect"] = ask(adm, b"disconnect echo1")
                seen["enable_off"] = ask(adm, b"setportenable echo1 off")
                seen["showport_off"] = keys(ask(adm, b"showport echo1"))
                seen["enable_on"] = ask(adm, b"setportenable echo1 on")
                adm.sendall(b"exit\r")
                seen["exit"] = read_for(adm, 5)
    finally:
        dev.close()
    return seen


def two_ptys() -> Tuple[Pty, Pty]:
    """Two ptys whose paths have the same length (``/dev/pts/9`` and
    ``/dev/pts/10`` would move every later showshortport column by one)."""
    first, second = new_pty(), new_pty()
    spare = []
    while len(second.path) != len(first.path) and len(spare) < 100:
        spare.append(first)
        first, second = second, new_pty()
    for pty in spare:
        pty.close()
    return first, second


#: What pyser2net adds on purpose: ser2net 4.6.5's ``bytes in queue to TCP``
#: (per client, after ``bytes written to TCP``) and the ``showclients``
#: command in ``help``.  Everything else is compared as it is.
ADDED_KEY = "    bytes in queue to TCP"
ADDED_HELP = (
    b"showclients [<tcp port>] - Show who is connected to a port, since when,\r\n"
    b"       and the bytes each way.  If no port is given, all ports are shown.\r\n"
)


def test_admin_port_matches_ser2net(tmp_path):
    dev_ours, dev_theirs = two_ptys()
    ours = observe(IMPLEMENTATIONS["pyser2net"], tmp_path / "ours", dev_ours)
    theirs = observe(IMPLEMENTATIONS["ser2net"], tmp_path / "theirs", dev_theirs)
    assert ours["showport_connected"].count(ADDED_KEY) == 1
    ours["showport_connected"].remove(ADDED_KEY)
    assert isinstance(ours["help"], bytes) and ours["help"].count(ADDED_HELP) == 1
    ours["help"] = ours["help"].replace(ADDED_HELP, b"")
    for key in theirs:
        assert ours[key] == theirs[key], key


@pytest.fixture(autouse=True)
def _dirs(tmp_path):
    (tmp_path / "ours").mkdir()
    (tmp_path / "theirs").mkdir()
