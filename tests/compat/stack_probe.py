"""Where a daemon listens, and what it connects to, for one-line stacks.

Run as a script inside a private network namespace (``unshare -rn``, with
only the loopback interface up), so that a stack without a host, which
binds every address, is still reachable from the loopback addresses only.
Reads a JSON job on standard input and prints one JSON result per line:

    {"command": [...], "accepters": [...], "connectors": [...]}

For an accepter: whether a tcp client (or a udp datagram) gets through on
127.0.0.1 and on ::1.  For a connector: whether the daemon connected to a
tcp listener of ours, or opened our pty, when a client came.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import termios
import time
from typing import Dict, List

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from helpers import free_port, listening, new_pty  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def start(command: List[str], config: str, workdir: str) -> subprocess.Popen:
    path = os.path.join(workdir, f"c{time.monotonic_ns()}.yaml")
    with open(path, "w") as f:
        f.write(config)
    env = dict(os.environ, PYSER2NET_LOCKDIR=workdir)
    return subprocess.Popen(
        command + ["-n", "-d", "-c", path],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=3)


def wait_listening(port: int, proc: subprocess.Popen, timeout: float = 20.0) -> bool:
    """Generous: a daemon that starts slowly on a busy machine is not a different answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if listening(port):
            time.sleep(0.1)
            return True
        time.sleep(0.02)
    return False


def tcp_reaches(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=1.0).close()
        return True
    except OSError:
        return False


def udp_reaches(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(1.0)
        try:
            sock.sendto(b"ping", (host, port))
            return bool(sock.recv(100))
        except OSError:
            return False


def probe_accepter(command: List[str], form: str, workdir: str) -> Dict[str, object]:
    port = free_port()
    accepter = form.replace("PORT", str(port))
    proc = start(command, f"connection: &c\n  accepter: {accepter}\n  connector: echo\n", workdir)
    try:
        if not wait_listening(port, proc):
            return {"listens": False}
        reaches = udp_reaches if "udp" in form else tcp_reaches
        return {
            "listens": True,
            "127.0.0.1": reaches("127.0.0.1", port),
            "::1": reaches("::1", port),
        }
    finally:
        stop(proc)


def probe_connector(command: List[str], form: str, workdir: str) -> Dict[str, object]:
    port = free_port()
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(5.0)
    dev = new_pty()
    before = termios.tcgetattr(dev.slave)
    connector = form.replace("TARGET", str(server.getsockname()[1])).replace("PTY", dev.path)
    proc = start(
        command,
        f"connection: &c\n  accepter: tcp,127.0.0.1,{port}\n  connector: {connector}\n",
        workdir,
    )
    seen: Dict[str, object] = {"listens": False}
    try:
        if not wait_listening(port, proc):
            return seen
        seen["listens"] = True
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            try:
                peer, _ = server.accept()
                peer.close()
                seen["connected_to_target"] = True
            except socket.timeout:
                seen["connected_to_target"] = False
            deadline = time.monotonic() + 5.0
            while time.monotonic() < deadline and termios.tcgetattr(dev.slave) == before:
                time.sleep(0.05)
            seen["opened_pty"] = termios.tcgetattr(dev.slave) != before
        return seen
    finally:
        stop(proc)
        server.close()
        dev.close()


def main() -> None:
    job = json.load(sys.stdin)
    command: List[str] = job["command"]
    with tempfile.TemporaryDirectory() as workdir:
        for form in job.get("accepters", []):
            print(
                json.dumps({"accepter": form, "seen": probe_accepter(command, form, workdir)}),
                flush=True,
            )
        for form in job.get("connectors", []):
            print(
                json.dumps({"connector": form, "seen": probe_connector(command, form, workdir)}),
                flush=True,
            )


if __name__ == "__main__":
    main()
