"""A reload that adds a port with a slow host name: ser2net and pyser2net.

Both daemons run where every name lookup waits until the test lets it go
(``tests/slownames.py``), and fails then.  Both go on serving a session
and a new client while the reload's lookup waits (ser2net reads the file
beside its serving threads; pyser2net looks the name up in a child
process).  They differ once the lookup failed: ser2net refuses the new
connection as a configuration error and never tries it again, pyser2net
logs it by the port's name and the host's and tries again every
``accepter-retry-time``.  (In this scenario ser2net 4.3.11 also aborted,
an assertion in ``shutdown_port``, when the session of the unchanged port
ended afterwards; the test does not depend on that.)

A udp accepter named by host, with a hosts file that knows the name, is
bound to the name's address by both, and carries datagrams both ways.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
from pathlib import Path
from typing import Iterator, List

import pytest
from slownames import SlowNames, unshare_works

from helpers import connect, daemon, free_port, listening, recv_exact, wait_until
from ser2net_helpers import IMPLEMENTATIONS, SER2NET

WAIT = 30.0

#: What each daemon logs when the new connection's name cannot be found.
FAILED = {
    "pyser2net": r"slow: cannot listen on tcp,slowhost,\d+: cannot look up host ",
    "ser2net": r"Invalid accepter port name/number 'tcp,slowhost,\d+': "
    r"Unable to find a valid name on the name server",
}

pytestmark = pytest.mark.skipif(
    not unshare_works(),
    reason="needs unshare -r -m (an unprivileged user and mount namespace) to make lookups slow",
)


def command_of(impl: str, names: SlowNames) -> List[str]:
    """How ``impl`` is started in the namespace of ``names``."""
    if impl == "ser2net" and SER2NET is None:
        pytest.skip("ser2net is not installed")
    return names.command(IMPLEMENTATIONS[impl])


@pytest.fixture
def slow(tmp_path: Path) -> Iterator[SlowNames]:
    names = SlowNames(tmp_path / "names")
    yield names
    names.release_all()


def log_of(proc: subprocess.Popen) -> str:
    return Path(proc.log_path).read_text(errors="replace")  # type: ignore[attr-defined]


@pytest.mark.parametrize("impl", ["ser2net", "pyser2net"])
def test_both_serve_while_a_reload_waits_for_a_name(
    impl: str, tmp_path: Path, slow: SlowNames, pty_pair
) -> None:
    serving, other, added = free_port(), free_port(), free_port()
    base = (
        f"connection: &serving\n  accepter: tcp,127.0.0.1,{serving}\n"
        f"  connector: serialdev,{pty_pair.path},9600n81,local\n"
        f"connection: &other\n  accepter: tcp,127.0.0.1,{other}\n  connector: echo\n"
    )
    with daemon(base, tmp_path, [serving, other], command=command_of(impl, slow)) as proc:
        with connect(serving) as session:

            def both_ways(data: bytes) -> None:
                session.sendall(data)
                assert pty_pair.read(len(data)) == data
                pty_pair.write(data)
                assert recv_exact(session, len(data)) == data

            both_ways(b"before the reload")
            (path,) = sorted(tmp_path.glob("config*.yaml"))
            path.write_text(
                base + f"connection: &slow\n  accepter: tcp,slowhost,{added}\n  connector: echo\n"
            )
            os.kill(proc.pid, signal.SIGHUP)
            assert wait_until(lambda: slow.waiting(proc.pid), WAIT), log_of(proc)
            both_ways(b"while slowhost is looked up")
            with connect(other) as newcomer:
                newcomer.sendall(b"a new client")
                assert recv_exact(newcomer, 12) == b"a new client"
            assert slow.waiting(proc.pid) and not listening(added)

            failed = re.compile(FAILED[impl])
            assert slow.release_until(lambda: failed.search(log_of(proc)) is not None, WAIT), (
                log_of(proc)
            )
            both_ways(b"after the lookup failed")
            assert not listening(added) and proc.poll() is None


def udp_bound(port: int) -> List[str]:
    """The addresses UDP sockets are bound to on ``port`` (IPv4, from /proc)."""
    found = []
    with open("/proc/net/udp") as f:
        next(f)
        for line in f:
            address, hex_port = line.split()[1].split(":")
            if int(hex_port, 16) == port:
                found.append(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
    return found


@pytest.mark.parametrize("impl", ["ser2net", "pyser2net"])
def test_both_serve_a_udp_accepter_named_by_host(impl: str, tmp_path: Path, pty_pair) -> None:
    """``udp,udphost,PORT`` where the hosts file says udphost is 127.0.0.1:
    both bind that address, a datagram reaches the device and the
    device's answer comes back to its sender."""
    names = SlowNames(tmp_path / "names", hosts="127.0.0.1 udphost\n")
    port = free_port()
    config = (
        f"connection: &u\n  accepter: udp,udphost,{port}\n"
        f"  connector: serialdev,{pty_pair.path},9600n81,local\n"
    )
    with daemon(config, tmp_path, [port], command=command_of(impl, names)) as proc:
        assert udp_bound(port) == ["127.0.0.1"]  # the name's address, not the wildcard
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.settimeout(5)
            client.sendto(b"to the device", ("127.0.0.1", port))
            assert pty_pair.read(13) == b"to the device"
            pty_pair.write(b"and back")
            assert client.recvfrom(100) == (b"and back", ("127.0.0.1", port))
        assert proc.poll() is None
    assert "Traceback" not in log_of(proc)
