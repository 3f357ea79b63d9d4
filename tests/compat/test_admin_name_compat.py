"""``admin: &name`` (ser2net 4.3.13 gives the admin accepter a name, which
its mDNS announcement uses): ser2net 4.3.11 already reads the anchor and
serves the admin port, and so does pyser2net, with the same answers."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import connect, daemon, free_port, read_for
from ser2net_helpers import SER2NET

CONFIG = """admin: &ctl
  accepter: tcp,127.0.0.1,{admin}
connection: &e
  accepter: tcp,127.0.0.1,{echo}
  connector: echo
"""


def session(command, tmp_path: Path) -> bytes:
    tmp_path.mkdir()
    admin, echo = free_port(), free_port()
    config = CONFIG.format(admin=admin, echo=echo)
    with daemon(config, tmp_path, [admin, echo], command=command):
        with connect(admin) as adm:
            out = read_for(adm, 5, until=b"-> ")
            adm.sendall(b"showshortport e\r")
            out += read_for(adm, 5, until=b"-> ")
    return out.replace(str(echo).encode(), b"ECHO")


def test_named_admin_port_answers_as_ser2nets(tmp_path: Path) -> None:
    if SER2NET is None:
        pytest.skip("ser2net is not installed")
    ours = session(None, tmp_path / "ours")
    theirs = session([str(SER2NET)], tmp_path / "theirs")
    assert ours.startswith(b"-> showshortport e\r\n")
    assert ours == theirs
