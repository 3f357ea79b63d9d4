"""A serial port pushed to a remote TLS service (``ssl(CA=...),tcp,host,port``
connectors), the same configuration under ser2net and pyser2net: the same
bytes reach the client and the service, and a service whose certificate
comes from another CA is refused with the same words.

The connector carries ``key=,cert=``: ser2net otherwise shows its default
client certificate (``/etc/ser2net/ser2net.key``), and refuses to connect
when that file does not exist.  Skipped when ser2net is not installed.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

from helpers import daemon, free_port, recv_exact, recv_until_closed
from ser2net_helpers import IMPLEMENTATIONS, SER2NET
from tlsfiles import TlsFiles, TlsService

needs_ser2net = pytest.mark.skipif(SER2NET is None, reason="ser2net is not installed")

ALL = bytes(range(256))
GREETING = b"\xff\xfb\x01service\xff\x00\r\n"
REFUSED = b"Device open failure: Certificate is not valid\r\n"


def pushed(
    command: List[str], tmp_path: Path, files: TlsFiles, ca: Path
) -> Tuple[bytes, bytes, bytes]:
    """(what a client got, what the service got, the daemon's log)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    port = free_port()
    with TlsService(files.server, GREETING) as service:
        config = (
            "connection: &push\n"
            f"  accepter: tcp,127.0.0.1,{port}\n"
            f"  connector: ssl(CA={ca},key=,cert=),tcp,127.0.0.1,{service.port}\n"
        )
        with daemon(config, tmp_path, [port], command=command) as proc:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
                if ca == files.ca_pem:
                    got = recv_exact(client, len(GREETING), timeout=10)
                    client.sendall(b"\xff" + ALL)
                    got += recv_exact(client, 257, timeout=10)
                else:
                    got = recv_until_closed(client, timeout=10)
        log = Path(proc.log_path).read_bytes()  # type: ignore[attr-defined]
        sent = b"".join(bytes(r) for r in service.received)
    return got, sent, log


@needs_ser2net
@pytest.mark.parametrize("name", sorted(IMPLEMENTATIONS))
def test_every_byte_reaches_the_service_and_back(tmp_path: Path, name: str) -> None:
    files = TlsFiles(tmp_path / "tls")
    got, sent, _ = pushed(IMPLEMENTATIONS[name], tmp_path / name, files, files.ca_pem)
    assert got == GREETING + b"\xff" + ALL
    assert sent == b"\xff" + ALL


@needs_ser2net
def test_a_service_from_another_ca_is_refused_alike(tmp_path: Path) -> None:
    files = TlsFiles(tmp_path / "tls")
    files.other_ca("stranger")
    seen: Dict[str, Tuple[bytes, bytes]] = {}
    logs: Dict[str, bytes] = {}
    for name, command in sorted(IMPLEMENTATIONS.items()):
        got, sent, log = pushed(command, tmp_path / name, files, files.root / "stranger.pem")
        seen[name] = (got, sent)
        logs[name] = log
    assert seen["pyser2net"] == seen["ser2net"] == (REFUSED, b"")
    assert b"unable to get local issuer certificate" in logs["ser2net"]
    assert (
        b"device open failure: ssl(CA=" in logs["pyser2net"]
        and b"server certificate did not verify: unable to get local issuer certificate"
        in logs["pyser2net"]
    )
