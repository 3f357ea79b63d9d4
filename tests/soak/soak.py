"""Soak: a large volume through one pty port, with client churn, kicks and
refusals, every byte checked.

``make soak`` runs the long form (``--megabytes``, 1024 by default, in each
direction); the test suite runs a short one (``test_soak.py``).  The port
has ``kickolduser`` and a ``remaddr`` that admits 127.0.0.1 only.  Data
moves in sessions: a client connects (kicking the one before, or after
that one left), then data flows both ways at once, client to device and
device to client, until the session's share has arrived; each direction
is a stream of its own (a random block of prime length, repeated, new for
every session), so a byte lost, duplicated or out of order shows at its
offset.  Between sessions clients from 127.0.0.2 are refused while a
client is connected, and clients come and go at once.  At the end the
daemon's peak RSS is read from ``/proc``.

Run ``python tests/soak/soak.py --help`` for the options.
"""

from __future__ import annotations

import argparse
import os
import random
import select
import socket
import subprocess
import sys
import tempfile
import time
import tty
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from helpers import free_port, stop_process, wait_for_port  # noqa: E402

#: Length of the repeated block of a stream: prime, so that a slip of any
#: length shorter than it shows.
BLOCK = 1_048_573
#: Bytes per read or write.
CHUNK = 65536
#: What a refused client is told.
REFUSED = b"Accessed denied due to your net address\r\n"
#: A session that moves nothing for this long has failed.
STALL_SECONDS = 30.0


class SoakError(Exception):
    """A byte was lost, duplicated, reordered, or a client was not treated
    as it should be."""


@dataclass
class Report:
    """What a soak did."""

    to_device: int = 0
    to_clients: int = 0
    sessions: int = 0
    kicks: int = 0
    refusals: int = 0
    churn: int = 0
    seconds: float = 0.0
    peak_rss_kib: int = 0
    errors: List[str] = field(default_factory=list)

    def text(self) -> str:
        mib = 1024 * 1024
        rate = (self.to_device + self.to_clients) / mib / max(self.seconds, 1e-9)
        return (
            f"bytes checked: {self.to_device:,} to the device, {self.to_clients:,} to clients "
            f"({(self.to_device + self.to_clients) / mib:,.0f} MiB in {self.seconds:.0f} s, "
            f"{rate:.1f} MiB/s); lost, duplicated or reordered: "
            f"{'none' if not self.errors else 'SEE ERRORS'}\n"
            f"sessions: {self.sessions}, kicks: {self.kicks}, refusals: {self.refusals}, "
            f"clients that came and went at once: {self.churn}\n"
            f"daemon peak RSS: {self.peak_rss_kib / 1024:.1f} MiB"
            + "".join(f"\nERROR: {e}" for e in self.errors)
        )


class Pattern:
    """A stream: a random block of BLOCK bytes, repeated."""

    def __init__(self, rng: random.Random) -> None:
        block = rng.randbytes(BLOCK) if hasattr(rng, "randbytes") else os.urandom(BLOCK)
        self._twice = memoryview(block + block)

    def at(self, offset: int, size: int) -> memoryview:
        """``size`` (at most BLOCK) bytes of the stream from ``offset``."""
        start = offset % BLOCK
        return self._twice[start : start + size]


def config(port: int, device: str) -> str:
    return (
        "connection: &soak\n"
        f"  accepter: tcp,127.0.0.1,{port}\n"
        "  timeout: 0\n"
        f"  connector: serialdev,{device},115200n81,local\n"
        "  options:\n"
        "    kickolduser: true\n"
        "    remaddr: 127.0.0.1,0\n"
        "    chardelay: false\n"
    )


def _connect(port: int, source: str = "127.0.0.1") -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))


def _until_closed(sock: socket.socket, timeout: float = 10.0) -> bytes:
    """What the daemon still sends before it closes ``sock``."""
    sock.setblocking(True)
    sock.settimeout(timeout)
    out = bytearray()
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return bytes(out)
            out += chunk
    except (socket.timeout, OSError):
        raise SoakError(f"not closed within {timeout} s (got {len(out)} bytes)") from None


def _session(
    sock: socket.socket, master: int, size: int, rng: random.Random, report: Report
) -> None:
    """Move ``size`` bytes each way through a freshly connected client, checking each byte."""
    up, down = Pattern(rng), Pattern(rng)
    sent_up = got_up = sent_down = got_down = 0
    sock.setblocking(False)
    # Device bytes start once the device has seen the client's first byte:
    # the daemon has then made this client the port's client.
    started = False
    last_progress = time.monotonic()
    while got_up < size or got_down < size:
        want_read = [sock, master]
        want_write = []
        if sent_up < size:
            want_write.append(sock)
        if started and sent_down < size:
            want_write.append(master)
        readable, writable, _ = select.select(want_read, want_write, [], 1.0)
        if not readable and not writable:
            if time.monotonic() - last_progress > STALL_SECONDS:
                raise SoakError(
                    f"stalled: to the device {got_up}/{size}, to the client {got_down}/{size}"
                )
            continue
        last_progress = time.monotonic()
        if sock in writable:
            n = min(CHUNK, size - sent_up)
            try:
                sent_up += sock.send(up.at(sent_up, n))
            except BlockingIOError:
                pass
        if master in writable:
            n = min(CHUNK, size - sent_down)
            try:
                sent_down += os.write(master, down.at(sent_down, n))
            except BlockingIOError:
                pass
        if master in readable:
            data = os.read(master, CHUNK)
            if got_up + len(data) > size or data != up.at(got_up, len(data)):
                raise SoakError(f"to the device: wrong bytes at offset {got_up} of the session")
            got_up += len(data)
            started = True
        if sock in readable:
            try:
                data = sock.recv(CHUNK)
            except BlockingIOError:
                data = None
            if data is not None:
                if not data:
                    raise SoakError(f"client closed by the daemon at {got_down}/{size}")
                if got_down + len(data) > size or data != down.at(got_down, len(data)):
                    raise SoakError(f"to the client: wrong bytes at offset {got_down}")
                got_down += len(data)
    report.to_device += got_up
    report.to_clients += got_down


def _refuse(port: int, report: Report) -> None:
    sock = _connect(port, "127.0.0.2")
    try:
        said = _until_closed(sock)
    finally:
        sock.close()
    if said != REFUSED:
        raise SoakError(f"a client from 127.0.0.2 was told {said[:80]!r}")
    report.refusals += 1


def _peak_rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def soak(
    megabytes: float, seconds: Optional[float] = None, session_mb: float = 16, seed: int = 1
) -> Report:
    """Run the soak: ``megabytes`` each way (or until ``seconds`` have passed,
    at a session's end), in sessions of ``session_mb``."""
    rng = random.Random(seed)
    report = Report()
    total = int(megabytes * 1024 * 1024)
    session_size = max(1, min(int(session_mb * 1024 * 1024), total))
    master, slave = os.openpty()
    tty.setraw(master)
    os.set_blocking(master, False)
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "soak.yaml"
        path.write_text(config(port, os.ttyname(slave)))
        log_path = Path(tmp) / "daemon.log"
        env = dict(os.environ, PYSER2NET_LOCKDIR=tmp)
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "pyser2net", "-n", "-d", "-c", str(path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=str(ROOT),
                env=env,
            )
        start = time.monotonic()
        current: Optional[socket.socket] = None
        try:
            wait_for_port(port, proc=proc)
            while report.to_device < total:
                if seconds is not None and time.monotonic() - start > seconds:
                    break
                kicked = current
                current = _connect(port)
                if kicked is not None:
                    # The new client kicked the old one, which had no data in flight.
                    if _until_closed(kicked):
                        raise SoakError("a kicked client got bytes after its session")
                    kicked.close()
                    report.kicks += 1
                size = min(session_size, total - report.to_device)
                _session(current, master, size, rng, report)
                report.sessions += 1
                _refuse(port, report)
                if report.sessions % 2 == 0:
                    # The client leaves; others come and go at once.
                    current.close()
                    current = None
                    for _ in range(3):
                        _connect(port).close()
                        report.churn += 1
                    time.sleep(0.05)
                    _drain(master)
            report.seconds = time.monotonic() - start
            report.peak_rss_kib = _peak_rss_kib(proc.pid)
            if proc.poll() is not None:
                raise SoakError(f"the daemon exited with {proc.returncode}")
        except SoakError as exc:
            report.errors.append(str(exc))
            report.seconds = time.monotonic() - start
        finally:
            if current is not None:
                current.close()
            stop_process(proc)
            os.close(master)
            os.close(slave)
        text = log_path.read_text(errors="replace")
        if "Traceback" in text or "internal error" in text:
            report.errors.append("the daemon's log has a traceback:\n" + text[-2000:])
    return report


def _drain(master: int) -> None:
    """Bytes a client that came and went may have left on the line: none expected."""
    try:
        left = os.read(master, 65536)
    except (BlockingIOError, OSError):
        return
    if left:
        raise SoakError(f"{len(left)} stray bytes reached the device between sessions")


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--megabytes", type=float, default=1024, help="MiB each way (1024)")
    parser.add_argument("--seconds", type=float, default=None, help="stop after this long")
    parser.add_argument("--session-mb", type=float, default=16, help="MiB per session (16)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    report = soak(args.megabytes, args.seconds, args.session_mb, args.seed)
    print(report.text())
    return 1 if report.errors else 0


if __name__ == "__main__":
    sys.exit(main())
