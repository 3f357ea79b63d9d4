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
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path
from typing import Iterator

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

pytestmark = [
    pytest.mark.skipif(SER2NET is None, reason="ser2net is not installed"),
    pytest.mark.skipif(
        not unshare_works(),
        reason="needs unshare -r -m (an unprivileged user and mount namespace) "
        "to make lookups slow",
    ),
]


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
    command = slow.command(IMPLEMENTATIONS[impl])
    with daemon(base, tmp_path, [serving, other], command=command) as proc:
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
