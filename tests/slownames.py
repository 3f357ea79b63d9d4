"""Name lookups that take as long as a test wants, without a network.

A daemon (pyser2net or ser2net) runs in a user and mount namespace of its
own (``unshare -r -m``; the network is the machine's, so tests reach it on
127.0.0.1) where ``/etc/nsswitch.conf`` says ``hosts: files`` and
``/etc/hosts`` is a FIFO.  A lookup of any name opens that file, and the
open blocks until the test opens the FIFO for writing: the lookup is
pending for exactly as long as the test wants, with no clock involved.
The test sees that a lookup waits without ending the wait (the kernel
shows the task asleep in ``wait_for_partner``, the FIFO open).  When the
test opens the FIFO, the C library finds it cannot rewind it and the
lookup fails, which is what a dead name server gives in the end.

Given the text of a hosts file instead, the file is a regular one, which
the test may rewrite (in place: the namespace sees the same file) to
make a name known or unknown while the daemon runs.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import subprocess
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Set

from helpers import wait_until

#: Run by ``sh -c`` in the namespace: the FIFO over /etc/hosts, a
#: nsswitch.conf that asks nothing but the hosts file, then the daemon.
_WRAPPER = (
    'mount --bind "$1" /etc/hosts && mount --bind "$2" /etc/nsswitch.conf && shift 2 && exec "$@"'
)


def unshare_works() -> bool:
    """Whether this machine lets us make a user and mount namespace."""
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


class SlowNames:
    """The FIFO every name lookup of a daemon waits on (or, given ``hosts``,
    a hosts file of that text)."""

    def __init__(self, directory: Path, hosts: Optional[str] = None) -> None:
        directory.mkdir()
        self.hosts = directory / "hosts"
        if hosts is None:
            os.mkfifo(self.hosts)
        else:
            self.write_hosts(hosts)
        self.nsswitch = directory / "nsswitch.conf"
        self.nsswitch.write_text("hosts: files\n")

    def command(self, daemon: Sequence[str]) -> List[str]:
        """``daemon`` (a command line) run in the namespace."""
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
            *daemon,
        ]

    def write_hosts(self, text: str) -> None:
        """Rewrite the hosts file in place (the namespace's /etc/hosts is it)."""
        with open(self.hosts, "w") as f:
            f.write(text)

    @staticmethod
    def waiting(pid: int) -> bool:
        """Whether a lookup of process ``pid`` (a thread of it, or a process
        it started) waits on the hosts file; the wait goes on."""
        return bool(SlowNames.waiting_tasks(pid))

    @staticmethod
    def waiting_tasks(pid: int) -> Set[int]:
        """The processes of ``pid``'s family with a task waiting on the hosts file."""
        found = set()
        for proc in _family(pid):
            for task in _tasks(proc):
                try:
                    with open(f"/proc/{proc}/task/{task}/wchan") as f:
                        if f.read().strip() == "wait_for_partner":
                            found.add(proc)
                except OSError:
                    continue
        return found

    def release(self) -> bool:
        """End the wait of one lookup, if one waits (it then fails)."""
        if not stat.S_ISFIFO(os.stat(self.hosts).st_mode):
            return False
        try:
            fd = os.open(self.hosts, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno == errno.ENXIO:
                return False  # no reader: no lookup waits
            raise
        os.close(fd)
        return True

    def release_until(self, done: Callable[[], bool], timeout: float) -> bool:
        """Let lookups go (one per address family, each opens the file) until
        ``done`` holds; whether it did within ``timeout`` seconds."""

        def released_and_done() -> bool:
            self.release()
            return done()

        return wait_until(released_and_done, timeout)

    def release_all(self) -> None:
        """End every wait left (a daemon that died may leave a lookup behind)."""
        for _ in range(50):
            if not self.release():
                time.sleep(0.02)
                if not self.release():
                    return


def _tasks(pid: int) -> List[str]:
    try:
        return os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []


def _family(pid: int) -> Set[int]:
    """``pid`` and every process below it."""
    children: Dict[int, List[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry))
    found, todo = set(), [pid]
    while todo:
        current = todo.pop()
        if current not in found:
            found.add(current)
            todo.extend(children.get(current, []))
    return found
