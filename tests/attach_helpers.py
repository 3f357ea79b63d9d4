"""Running ``pyser2net attach`` in tests, and moving data through it."""

from __future__ import annotations

import contextlib
import os
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator, Tuple

from helpers import ROOT, read_exact, stop_process, wait_until


@contextlib.contextmanager
def attach(url: str, link: Path, tmp_path: Path, *extra: str) -> Iterator[subprocess.Popen]:
    """``pyser2net attach`` in the foreground; yields once the link exists.

    On the way out it is stopped with SIGTERM, and the link must be gone.
    """
    log_path = tmp_path / f"attach-{len(list(tmp_path.iterdir()))}.log"
    log = open(log_path, "wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pyser2net",
            "attach",
            url,
            "--link",
            str(link),
            "-d",
            "-l",
            "--group",
            "",
            *extra,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=str(ROOT),
    )
    proc.log_path = log_path  # type: ignore[attr-defined]
    try:
        if not wait_until(lambda: os.path.islink(link) or proc.poll() is not None, 10):
            raise RuntimeError("attach made no link")
        if proc.poll() is not None:
            raise RuntimeError(f"attach exited: {log_path.read_text()}")
        yield proc
    finally:
        stop_process(proc)
        log.close()
    assert not os.path.lexists(link), "the link outlived attach"


def log_of(proc: subprocess.Popen) -> str:
    return proc.log_path.read_text(errors="replace")  # type: ignore[attr-defined]


def settle(app_fd: int, dev_fd: int, timeout: float = 10.0) -> bool:
    """Wait until the server has carried out everything the application did so far.

    pyserial flushes its input when it opens a port, and attach forwards a
    flush as PURGE-DATA, which makes the server discard what the device
    sent and the server has not read yet.  The purge is sent before any
    byte the application writes after it (a pty reports the flush to its
    master ahead of the data that follows it), and the server applies it
    before passing on those bytes: so once a byte written now reaches the
    device, no earlier purge can still discard what the device sends.  A
    test that has the device send right after an open must wait for this.
    """
    marker = b"\x00settled\xff"
    os.write(app_fd, marker)
    return read_exact(dev_fd, len(marker), timeout) == marker


def pump_both_ways(
    app_fd: int, dev_fd: int, to_dev: bytes, to_app: bytes, timeout: float = 120.0
) -> Tuple[bytes, bytes]:
    """Write both streams and read both at once, non-blocking; bounded by ``timeout``."""
    for fd in (app_fd, dev_fd):
        os.set_blocking(fd, False)
    got_dev, got_app = bytearray(), bytearray()
    sent_dev = sent_app = 0
    deadline = time.monotonic() + timeout
    while (
        len(got_dev) < len(to_dev) or len(got_app) < len(to_app)
    ) and time.monotonic() < deadline:
        want_w = []
        if sent_dev < len(to_dev):
            want_w.append(app_fd)
        if sent_app < len(to_app):
            want_w.append(dev_fd)
        r, w, _ = select.select([app_fd, dev_fd], want_w, [], 1.0)
        if app_fd in w:
            sent_dev += os.write(app_fd, to_dev[sent_dev : sent_dev + 16384])
        if dev_fd in w:
            sent_app += os.write(dev_fd, to_app[sent_app : sent_app + 16384])
        if dev_fd in r:
            got_dev += os.read(dev_fd, 65536)
        if app_fd in r:
            got_app += os.read(app_fd, 65536)
    return bytes(got_dev), bytes(got_app)
