"""A slow name lookup never stalls the ports that are serving.

The daemon runs in a user and mount namespace of its own (``unshare -r
-m``; the network is the machine's, so the test reaches it on 127.0.0.1)
where ``/etc/nsswitch.conf`` says ``hosts: files`` and ``/etc/hosts`` is a
FIFO.  A lookup of any name opens that file, and the open blocks until
the test opens the FIFO for writing: the lookup is pending for exactly as
long as the test wants, with no network and no clock.  When the test
opens it (which it can only do while a reader waits: a non-blocking open
for writing fails with ENXIO otherwise, so the open also proves that a
lookup was waiting), the C library finds it cannot rewind a FIFO and the
lookup fails, which is what a dead name server gives in the end.

Nothing is timed: the tests assert the order of events (an echo port
answers while the lookup cannot have finished; the failure is logged
after the test let it finish), with bounded waits.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator, List

import pytest

from helpers import connect, daemon, free_port, listening, recv_exact, recv_until_closed, wait_until

#: Reading the configuration again happens in a child process, and a
#: lookup in another: on a busy machine their start alone takes seconds.
WAIT = 30.0

#: Run by ``sh -c`` in the namespace: the FIFO over /etc/hosts, a
#: nsswitch.conf that asks nothing but the hosts file, then the daemon.
_WRAPPER = (
    'mount --bind "$1" /etc/hosts && mount --bind "$2" /etc/nsswitch.conf && shift 2 && exec "$@"'
)


class SlowNames:
    """The FIFO every name lookup of the daemon waits on."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir()
        self.hosts = directory / "hosts"
        os.mkfifo(self.hosts)
        self.nsswitch = directory / "nsswitch.conf"
        self.nsswitch.write_text("hosts: files\n")

    def command(self) -> List[str]:
        """The daemon's command line, up to its own options."""
        return [
            "unshare",
            "-r",
            "-m",
            "sh",
            "-c",
            _WRAPPER,
            "sh",
            str(self.hosts),
            str(self.nsswitch),
            sys.executable,
            "-m",
            "pyser2net",
        ]

    def waiting(self) -> bool:
        """Whether a lookup waits on the hosts file; if so, it is let go
        (and fails: the file cannot be rewound)."""
        try:
            fd = os.open(self.hosts, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno == errno.ENXIO:
                return False  # no reader: no lookup waits
            raise
        os.close(fd)
        return True

    def release_all(self) -> None:
        """Let go of every lookup still waiting (a daemon that died left it)."""
        for _ in range(50):
            if not self.waiting():
                time.sleep(0.02)
                if not self.waiting():
                    return


def _unshare_works() -> bool:
    if shutil.which("unshare") is None:
        return False
    try:
        done = subprocess.run(
            ["unshare", "-r", "-m", "sh", "-c", "mount --bind /dev/null /dev/null"],
            capture_output=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


pytestmark = pytest.mark.skipif(
    not _unshare_works(),
    reason="needs unshare -r -m (an unprivileged user and mount namespace) to make lookups slow",
)


@pytest.fixture
def slow(tmp_path: Path) -> Iterator[SlowNames]:
    names = SlowNames(tmp_path / "names")
    yield names
    names.release_all()


def echo(name: str, port: int) -> str:
    return (
        f"connection: &{name}\n  accepter: tcp,127.0.0.1,{port}\n  connector: echo\n"
        "  options:\n    max-connections: 4\n"
    )


def log_of(proc: subprocess.Popen) -> str:
    return Path(proc.log_path).read_text(errors="replace")  # type: ignore[attr-defined]


def logged(proc: subprocess.Popen, pattern: str) -> bool:
    return re.search(pattern, log_of(proc)) is not None


def round_trip(sock, data: bytes) -> None:
    sock.sendall(data)
    assert recv_exact(sock, len(data)) == data


def released_until(slow: SlowNames, proc: subprocess.Popen, pattern: str) -> bool:
    """Let lookups go (one per family, each opens the file) until ``pattern`` is logged."""

    def done() -> bool:
        slow.waiting()
        return logged(proc, pattern)

    return wait_until(done, WAIT)


def test_a_reload_adding_a_port_with_a_slow_name_keeps_the_others_serving(
    tmp_path: Path, slow: SlowNames, pty_pair
) -> None:
    serving, other, added = free_port(), free_port(), free_port()
    base = (
        f"connection: &serving\n  accepter: tcp,127.0.0.1,{serving}\n"
        f"  connector: serialdev,{pty_pair.path},9600n81,local\n" + echo("other", other)
    )
    with daemon(base, tmp_path, [serving, other], command=slow.command()) as proc:
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
            assert wait_until(lambda: logged(proc, "slow: looking up slowhost"), WAIT), log_of(proc)
            # The lookup cannot finish before the hosts file is opened for
            # writing below; meanwhile the loop serves, old session and new.
            both_ways(b"while slowhost is looked up")
            with connect(other) as newcomer:
                round_trip(newcomer, b"a new client")
            assert not listening(added)
            assert "cannot look up" not in log_of(proc)
            # Now a lookup is shown to wait, and is let go: it fails, the
            # port says so by its name and the host's, and retries later.
            assert wait_until(slow.waiting, WAIT), log_of(proc)
            pattern = rf"slow: cannot listen on tcp,slowhost,{added}: cannot look up host "
            assert released_until(slow, proc, pattern), log_of(proc)
            both_ways(b"after the lookup failed")
            assert not listening(added)
        assert proc.poll() is None
    assert "Traceback" not in log_of(proc)


def test_a_connector_with_a_slow_name_fails_its_clients_at_once(
    tmp_path: Path, slow: SlowNames
) -> None:
    """A tcp connector's name is looked up when its port starts; a client
    that comes while it cannot be found is refused at once, and the name
    is looked up again in the background: the loop never waits for it."""
    serving, port, peer = free_port(), free_port(), free_port()
    config = (
        echo("serving", serving)
        + f"connection: &out\n  accepter: tcp,127.0.0.1,{port}\n"
        + f"  connector: tcp,peerhost,{peer}\n"
    )
    refused = b"Device open failure: Value or file not found\r\n"
    with daemon(config, tmp_path, [serving], command=slow.command(), start_timeout=WAIT) as proc:
        # At start the daemon waits for the lookup (bounded), and the port
        # does not listen before the test lets the lookup go.
        assert not listening(port)
        assert wait_until(slow.waiting, WAIT), log_of(proc)
        assert released_until(slow, proc, "out: peerhost cannot be looked up"), log_of(proc)
        assert wait_until(lambda: listening(port), WAIT), log_of(proc)
        with connect(port) as first:
            assert recv_until_closed(first) == refused
        assert wait_until(lambda: logged(proc, r"out: .*cannot look up peerhost"), WAIT)
        # That failure started a lookup again, which waits on the file:
        # meanwhile the next client is answered all the same, and so is
        # the echo port.
        with connect(port) as second:
            assert recv_until_closed(second) == refused
        with connect(serving) as sock:
            round_trip(sock, b"still serving")
        assert wait_until(slow.waiting, WAIT), log_of(proc)
        assert proc.poll() is None
    assert "Traceback" not in log_of(proc)
