"""``remaddr: !addr``: a connect-back address that is also an allowed address.

ser2net keeps a ``!`` entry of remaddr in the list of allowed remote
addresses and also dials it when the device talks while nobody listens,
exactly as a ``connback`` entry.  Both daemons run the same scenario.
Skipped without ser2net.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Dict, List

import pytest

from helpers import connect, daemon, free_port, new_pty, recv_exact, recv_until_closed
from ser2net_helpers import IMPLEMENTATIONS, SER2NET

pytestmark = pytest.mark.skipif(SER2NET is None, reason="ser2net is not installed")


def scenario(command: List[str], tmp_path: Path) -> Dict[str, object]:
    dev = new_pty()
    port = free_port()
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    target = server.getsockname()[1]
    config = (
        f"connection: &c\n  accepter: tcp,127.0.0.1,{port}\n"
        f"  connector: serialdev,{dev.path},9600n81,local\n"
        f"  options:\n    remaddr: '!127.0.0.1,{target}'\n"
        f"    max-connections: 2\n    chardelay: false\n"
    )
    seen: Dict[str, object] = {}
    try:
        with server, daemon(config, tmp_path, [port], command=command):
            time.sleep(0.3)  # the device is opened at start for a connect-back
            dev.write(b"alarm!")
            server.settimeout(5)
            try:
                peer, _ = server.accept()
            except socket.timeout:
                seen["connected_back"] = False
            else:
                with peer:
                    seen["connected_back"] = True
                    seen["to_peer"] = recv_exact(peer, 6)
                    peer.sendall(b"ack")
                    seen["to_device"] = dev.read(3)
            # A client from another port is not the one allowed address.
            with connect(port) as other:
                seen["other_client"] = recv_until_closed(other, timeout=3)
    finally:
        dev.close()
    return seen


def test_connect_back_address_matches_ser2net(tmp_path: Path) -> None:
    theirs = scenario(IMPLEMENTATIONS["ser2net"], tmp_path)
    ours = scenario(IMPLEMENTATIONS["pyser2net"], tmp_path)
    assert theirs["connected_back"], "the scenario does not show ser2net's behaviour"
    assert ours == theirs
