"""``nobreak``: whether the break condition is cleared when the device opens.

ser2net (through gensio) clears a break left on the line each time it opens
a serial port, unless the connection says ``nobreak``.  A pty ignores the
request, so the request itself is observed: both daemons run under strace
and the TIOCCBRK ioctl is looked for.  Skipped without ser2net or strace.
"""

from __future__ import annotations

import os
import shutil
import signal
import termios
from pathlib import Path
from typing import List

import pytest

from helpers import connect, daemon, free_port, new_pty, wait_until
from ser2net_helpers import IMPLEMENTATIONS, SER2NET

STRACE = shutil.which("strace")

pytestmark = [
    pytest.mark.skipif(SER2NET is None, reason="ser2net is not installed"),
    pytest.mark.skipif(STRACE is None, reason="strace is not installed"),
]


def clears_break(command: List[str], tmp_path: Path, nobreak: bool) -> bool:
    dev = new_pty()
    port = free_port()
    trace = tmp_path / f"ioctl-{len(list(tmp_path.iterdir()))}.txt"
    pidfile = tmp_path / f"daemon-{len(list(tmp_path.iterdir()))}.pid"
    words = "9600n81,local" + (",nobreak" if nobreak else "")
    config = (
        f"connection: &c\n  accepter: tcp,127.0.0.1,{port}\n"
        f"  connector: serialdev,{dev.path},{words}\n"
    )
    traced = [str(STRACE), "-f", "-qq", "-e", "trace=ioctl", "-o", str(trace)] + command
    before = termios.tcgetattr(dev.slave)
    try:
        with daemon(config, tmp_path, [port], command=traced, extra_args=["-P", str(pidfile)]):
            with connect(port):
                assert wait_until(lambda: termios.tcgetattr(dev.slave) != before, timeout=5)
            assert wait_until(pidfile.exists, timeout=5)
            os.kill(int(pidfile.read_text().split()[0]), signal.SIGTERM)
    finally:
        dev.close()
    return "TIOCCBRK" in trace.read_text()


@pytest.mark.parametrize("nobreak", [False, True], ids=["default", "nobreak"])
def test_break_is_cleared_on_open_unless_nobreak(tmp_path: Path, nobreak: bool) -> None:
    theirs = clears_break(IMPLEMENTATIONS["ser2net"], tmp_path, nobreak)
    ours = clears_break(IMPLEMENTATIONS["pyser2net"], tmp_path, nobreak)
    assert theirs == (not nobreak), "the scenario does not show ser2net's behaviour"
    assert ours == theirs
