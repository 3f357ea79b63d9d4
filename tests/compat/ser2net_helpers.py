"""Running the real ser2net on a configuration file and asking what it made.

ser2net 4.3 does not exit on a bad configuration: it logs the problem
(``FILE:LINE(column COL): message``, 0-based) and carries on with whatever
it managed to set up.  So "rejected" here means "logged something", and the
connections it created are read back through its admin port's ``showport``.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

from helpers import free_port, stop_process

SER2NET: Optional[str] = shutil.which("ser2net") or (
    "/usr/sbin/ser2net" if os.path.exists("/usr/sbin/ser2net") else None
)

#: How each daemon under comparison is started (arguments follow).
IMPLEMENTATIONS = {
    "pyser2net": [sys.executable, "-m", "pyser2net"],
    "ser2net": [SER2NET or "ser2net"],
}

#: A connection that cannot listen: logged (to syslog only) when starting.
_STARTUP_FAILURE = re.compile(r"Unable to startup network port")

#: Lines ser2net prints that say nothing about the configuration.
_NOISE = (re.compile(r"Unable to start mdns"),)


@dataclass
class Ser2netCheck:
    errors: List[str]
    ports: List[str]
    showport: str


def _admin_command(port: int, command: bytes, deadline: float) -> bytes:
    while time.monotonic() < deadline:
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=1.0)
            break
        except OSError:
            time.sleep(0.05)
    else:
        return b""
    out = bytearray()
    with sock:
        sock.settimeout(0.1)
        try:
            sock.recv(4096)  # the prompt
        except OSError:
            pass
        sock.sendall(command + b"\r\n")
        end = time.monotonic() + 1.5
        while time.monotonic() < end:
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                if out.count(b"->") >= 1 and out.rstrip().endswith(b"->"):
                    break
                continue
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    return bytes(out)


def check_config(
    config: Path, timeout: float = 5.0, admin_port: Optional[int] = None
) -> Ser2netCheck:
    """Start ser2net on ``config`` with a loopback admin port; report and stop it.

    A file that configures its own admin port must name it in ``admin_port``:
    ser2net refuses a second one.
    """
    assert SER2NET is not None
    argv = [SER2NET, "-n", "-d", "-c", str(config), "-P", str(config.with_suffix(".pid"))]
    admin = admin_port
    if admin is None:
        admin = free_port()
        argv += ["-p", f"127.0.0.1,{admin}"]
    log_path = config.with_suffix(".ser2net.log")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        try:
            reply = _admin_command(admin, b"showport", time.monotonic() + timeout)
        finally:
            stop_process(proc, signal.SIGTERM, timeout=3.0)
    text = reply.decode(errors="replace").replace("\r", "")
    lines = log_path.read_text(errors="replace").splitlines()
    errors = [
        line
        for line in lines
        if line.strip()
        and (not line.startswith("ser2net[") or _STARTUP_FAILURE.search(line))
        and not any(p.search(line) for p in _NOISE)
    ]
    return Ser2netCheck(errors=errors, ports=re.findall(r"^port: (\S+)", text, re.M), showport=text)
