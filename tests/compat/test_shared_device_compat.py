"""Two connections on one device: the second is turned away while it is open.

ser2net lets several connections name the same device (one at 9600 baud,
another at 115200, say) and refuses a client of one while another has the
device open, with its own words, before trying to open it.  Both daemons
run the same scenario, with and without max-connections.  Skipped without
ser2net.
"""

from __future__ import annotations

import termios
from pathlib import Path
from typing import Dict, List

import pytest

from helpers import connect, daemon, free_port, new_pty, read_for, recv_until_closed, wait_until
from ser2net_helpers import IMPLEMENTATIONS, SER2NET

pytestmark = pytest.mark.skipif(SER2NET is None, reason="ser2net is not installed")


def scenario(command: List[str], tmp_path: Path, max_connections: int) -> Dict[str, object]:
    dev = new_pty()
    first, second = free_port(), free_port()
    options = f"  options:\n    max-connections: {max_connections}\n"
    config = "".join(
        f"connection: &c{port}\n  accepter: tcp,127.0.0.1,{port}\n"
        f"  connector: serialdev,{dev.path},9600n81,local\n{options}"
        for port in (first, second)
    )
    before = termios.tcgetattr(dev.slave)
    seen: Dict[str, object] = {}
    try:
        with daemon(config, tmp_path, [first, second], command=command):
            with connect(first):
                assert wait_until(lambda: termios.tcgetattr(dev.slave) != before, timeout=5)
                with connect(second) as other:
                    seen["while_open"] = recv_until_closed(other, timeout=3)
            assert wait_until(lambda: termios.tcgetattr(dev.slave) == before, timeout=5)
            with connect(second) as other:
                seen["after_close"] = read_for(other, 1.0)
                dev.write(b"hello")
                seen["after_close_data"] = read_for(other, 2.0, until=b"hello")
    finally:
        dev.close()
    return seen


@pytest.mark.parametrize("max_connections", [1, 3])
def test_shared_device_matches_ser2net(tmp_path: Path, max_connections: int) -> None:
    theirs = scenario(IMPLEMENTATIONS["ser2net"], tmp_path, max_connections)
    ours = scenario(IMPLEMENTATIONS["pyser2net"], tmp_path, max_connections)
    assert theirs["while_open"] == b"Port's device already in use\r\n"
    assert ours == theirs
