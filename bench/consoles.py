"""A console farm inside one process: ``python bench/consoles.py [--against REV]``.

The ``farm`` scenario of ``run.py`` measures the daemon's CPU while a
benchmark process writes to 128 ptys; on a busy machine the daemon then
finds several chunks waiting in a device and reads them at once, so its CPU
depends on how late it runs as much as on its code.  This script takes the
scheduling out: it builds the ports itself (ptys as devices, chardelay on
as by default, one socketpair client each), writes one 64-byte chunk to
every device, lets the loop read them all, moves a fake clock past the
chardelay hold, lets the loop send them, and adds up the process CPU time
spent in the loop only.  Every chunk is a read and a send, as on an idle
machine.  The result is CPU microseconds per chunk.

``--against REV`` runs the package of git revision REV the same way, in
turns with the current one (each run in a fresh process), and prints both
and their ratio.  Runs are repeated (``--runs``); the median and the best
are shown, the best being the least disturbed by other work.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import tty
from pathlib import Path
from typing import Any, Dict, List, Tuple

ROOT = Path(__file__).resolve().parent.parent
CHUNK = bytes(range(64))


def consoles(ports: int) -> Tuple[List[float], Any, List[Tuple[Any, int, int, socket.socket]]]:
    """``ports`` ports on ptys at 115200 baud, each with one client on a
    socketpair, opened; returns the loop's fake clock, the loop, and each
    port with its pty master, slave and the client's far end."""
    from pyser2net.config import load_text
    from pyser2net.runtime.port import Port
    from pyser2net.runtime.reactor import Reactor

    clock = [1000.0]
    reactor = Reactor(clock=lambda: clock[0])
    made = []
    for i in range(ports):
        master, slave = os.openpty()
        tty.setraw(master)
        os.set_blocking(master, False)
        text = (
            f"connection: &c{i}\n  accepter: tcp,127.0.0.1,{20000 + i}\n"
            f"  connector: serialdev,{os.ttyname(slave)},115200n81,local\n"
        )
        port = Port(reactor, load_text(text, "consoles.yaml").connections[0])
        ours, peer = socket.socketpair()
        ours.setblocking(False)
        peer.setblocking(False)
        port.accept(ours, ("127.0.0.1", 40000 + i))
        made.append((port, master, slave, peer))
    for _ in range(20):
        reactor.run_once(0)
    return clock, reactor, made


def worker(ports: int, rounds: int) -> float:
    """CPU microseconds the loop spends per chunk (run in its own process)."""
    clock, reactor, made = consoles(ports)
    masters = [master for _, master, _, _ in made]
    peers = [peer for *_, peer in made]
    expected = ports * rounds * len(CHUNK)
    got = 0
    cpu = 0.0
    for _ in range(rounds):
        for master in masters:
            os.write(master, CHUNK)
        time.sleep(0.0005)  # the chunks are in the ptys before the loop looks
        start = time.process_time()
        reactor.run_once(0)
        reactor.run_once(0)
        clock[0] += 0.0011  # past the 1 ms hold at 115200 baud
        reactor.run_once(0)
        cpu += time.process_time() - start
        for peer in peers:
            try:
                got += len(peer.recv(65536))
            except BlockingIOError:
                pass
    for _ in range(100):  # stragglers, not counted
        if got >= expected:
            break
        clock[0] += 0.01
        reactor.run_once(0.01)
        for peer in peers:
            try:
                got += len(peer.recv(65536))
            except BlockingIOError:
                pass
    if got != expected:
        raise SystemExit(f"delivered {got} of {expected} bytes")
    return cpu * 1e6 / (ports * rounds)


def python_only(ports: int, rounds: int) -> float:
    """CPU microseconds of Python per chunk: the same ports, with the device
    read and the client send replaced by functions that only return, so
    that what is left is the daemon's own work (read, hold, flush, send)."""
    clock, reactor, made = consoles(ports)
    streams = []
    for port, *_ in made:
        device = port._dev
        if device is None:
            raise SystemExit(f"{port.conn.name}: the device did not open")
        device._recv = lambda size: CHUNK  # type: ignore[attr-defined]
        for client in port.clients:
            client.stream._send = len  # type: ignore[union-attr]
        streams.append(device)
    best = float("inf")
    for _ in range(5):
        start = time.process_time()
        for _ in range(rounds):
            for stream in streams:
                stream._readable()  # type: ignore[attr-defined]
            clock[0] += 0.0011  # past the 1 ms hold at 115200 baud
            reactor._run_timers()
        best = min(best, time.process_time() - start)
    return best * 1e6 / (ports * rounds)


def export(rev: str, into: str) -> str:
    """The package of revision ``rev``, unpacked below ``into``."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev, "pyser2net"], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", into], input=archive, check=True)
    return into


def one_run(path: str, ports: int, rounds: int, python: bool = False) -> float:
    env = dict(os.environ, PYTHONPATH=path)
    mode = ["--python-only"] if python else []
    out = subprocess.run(
        [sys.executable, "-P", __file__, "--worker", f"--ports={ports}", f"--rounds={rounds}"]
        + mode,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return float(out.stdout.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", metavar="REV", help="also run this git revision's package")
    parser.add_argument("--ports", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=150, help="chunks per device")
    parser.add_argument("--runs", type=int, default=6, help="runs of each, in turns")
    parser.add_argument(
        "--python-only",
        action="store_true",
        help="reads and sends replaced by functions that only return: Python's share alone",
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        # UUCP lock files in a private directory: a lock another program
        # holds on a pty number must not refuse one of these devices.
        with tempfile.TemporaryDirectory(prefix="consoles-locks-") as locks:
            os.environ["PYSER2NET_LOCKDIR"] = locks
            measure = python_only if args.python_only else worker
            print(f"{measure(args.ports, args.rounds):.3f}")
        return
    with tempfile.TemporaryDirectory(prefix="consoles-") as tmp:
        paths: Dict[str, str] = {"current": str(ROOT)}
        if args.against:
            paths[args.against] = export(args.against, tmp)
        results: Dict[str, List[float]] = {name: [] for name in paths}
        for _ in range(args.runs):
            for name, path in paths.items():
                results[name].append(one_run(path, args.ports, args.rounds, args.python_only))
    what = (
        "Python's CPU us per chunk (no system calls)"
        if args.python_only
        else "CPU us per chunk in the loop"
    )
    print(
        f"{args.ports} consoles, {args.rounds} chunks of {len(CHUNK)} bytes each, "
        f"{args.runs} runs each in turns; {what}"
    )
    rows = {name: (statistics.median(v), min(v)) for name, v in results.items()}
    now = rows["current"]
    for name, (median, best) in rows.items():
        line = f"{name:>12}: median {median:6.2f}  best {best:6.2f}"
        if name != "current":
            line += f"  current/{name}: {now[0] / median:.2f}x median, {now[1] / best:.2f}x best"
        print(line)


if __name__ == "__main__":
    main()
