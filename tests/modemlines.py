"""Run pyser2net with ptys whose modem inputs read as a UART's would.

A pty has no modem lines: reading them (TIOCMGET) fails, so a daemon
serving one never reports CTS, DSR, RI or CD.  Tests of those reports run
the daemon through this file instead of ``-m pyser2net``: in that process
TIOCMGET on a pty answers the lines named in ``PYSER2NET_TEST_MODEM_LINES``
(TIOCM bits, as ``0x160``), as a UART with a cable plugged in would.
Everything else (the daemon, its sockets, the ptys' bytes and hang-ups)
is real.

    python tests/modemlines.py -n -d -c FILE
"""

from __future__ import annotations

import fcntl
import os
import runpy
import stat
import struct
import sys
import termios
from pathlib import Path
from typing import Any

#: Unix98 pty slaves (/dev/pts/N) have these major numbers.
_PTY_MAJORS = range(136, 144)

_real_ioctl = fcntl.ioctl


def _is_pty(fd: Any) -> bool:
    try:
        st = os.fstat(fd if isinstance(fd, int) else fd.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return stat.S_ISCHR(st.st_mode) and os.major(st.st_rdev) in _PTY_MAJORS


def _ioctl(fd: Any, request: int, arg: Any = 0, mutate: bool = True) -> Any:
    if request == termios.TIOCMGET and _is_pty(fd):
        bits = int(os.environ.get("PYSER2NET_TEST_MODEM_LINES", "0"), 0)
        if isinstance(arg, int):
            return bits
        return struct.pack("I", bits)
    return _real_ioctl(fd, request, arg, mutate)


if __name__ == "__main__":
    # This checkout's pyser2net, as ``-m pyser2net`` run from the root gets
    # it, whatever copy the interpreter has installed.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    fcntl.ioctl = _ioctl  # type: ignore[assignment]
    runpy.run_module("pyser2net", run_name="__main__", alter_sys=True)
