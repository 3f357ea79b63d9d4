#!/usr/bin/env python3
"""``pyser2net attach`` over loopback: ``python bench/attach.py [--mib N] [--changes N]``.

A server (pyser2net, or ser2net with ``--server ser2net``) serves two pty
"devices" whose masters this script holds: one through
``telnet(rfc2217)``, one as a raw TCP port.  In front of it, in turn:

* ``attach rfc2217`` — ``pyser2net attach rfc2217://...``;
* ``attach socket`` — ``pyser2net attach socket://...`` on the raw port;
* ``socat`` — ``socat pty,link=...,raw tcp:...`` on the raw port, the usual
  way of doing this (bytes only), as the reference (skipped without socat).

**Throughput**: the script opens the link like an application (raw mode),
writes ``--mib`` MiB of random bytes and reads them on the device's pty
master (app->device), then the other way (device->app).  MB/s (10^6 bytes)
from the first byte written to the last byte read, bytes compared; and the
front end's CPU (utime + stime from /proc) per 100 MB.  Median of
``--rounds`` rounds.

**Baud change latency**: the application's ``tcsetattr`` (a standard rate
or a non-standard one, in turns) until the device pty's termios has the
new speed.  The device side is watched with the same kernel mechanism
attach itself uses (packet mode with EXTPROC on the device pty's master:
the kernel tells the master when the server's tcsetattr lands), backed by
a 2 ms poll for a notice the server's own EXTPROC clearing can swallow.
For reference, the same through pyserial's own RFC 2217 client
(``serial_for_url("rfc2217://...")``, whose ``baudrate =`` returns once the
server acknowledged).  Median, 90th percentile and maximum over
``--changes`` changes, after 10 not counted (``--latency-only`` skips the
throughput).

A pty is not a UART: nothing here is limited by a baud rate, so the
throughput is that of the processes and the kernel's pty layer.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import random
import select
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import tty
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Tuple

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from daemons import (  # noqa: E402
    CLOCK_TICKS,
    DaemonError,
    Target,
    cpu_ticks,
    pyser2net_target,
    ser2net_target,
    stop,
)

from pyser2net.protocol.linesettings import EXTPROC  # noqa: E402
from pyser2net.runtime.ptyport import (  # noqa: E402
    BOTHER,
    CBAUD,
    TIOCPKT,
    TIOCPKT_IOCTL,
    Termios2,
    get_termios2,
    set_termios2,
)

CONFIG = """connection: &rfc
  accepter: telnet(rfc2217),tcp,127.0.0.1,{rfc}
  connector: serialdev,{dev},115200n81,local
connection: &raw
  accepter: tcp,127.0.0.1,{raw}
  connector: serialdev,{dev2},115200n81,local
"""
#: The rates the latency run goes through in turns; 12345 and 250000 are
#: not standard rates (BOTHER).
RATES = [9600, 12345, 57600, 250000, 115200, 38400]
DEADLINE = 30.0


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Pty:
    def __init__(self) -> None:
        self.master, slave = os.openpty()
        tty.setraw(self.master)
        self.path = os.ttyname(slave)
        self._slave = slave

    def close(self) -> None:
        os.close(self.master)
        os.close(self._slave)


@contextlib.contextmanager
def front_end(argv: List[str], link: Path, log: Path) -> Iterator[subprocess.Popen]:
    """A front end (attach or socat) running until the block ends; waits for the link."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, cwd=str(ROOT), start_new_session=True
        )
        try:
            deadline = time.monotonic() + DEADLINE
            while not os.path.exists(link):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise DaemonError(f"{argv[0]} made no link: {log.read_text()[-500:]}")
                time.sleep(0.01)
            yield proc
        finally:
            stop(proc)


def open_app(link: Path) -> int:
    fd = os.open(link, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    tty.setraw(fd)
    return fd


def transfer(src: int, dst: int, data: bytes) -> float:
    """Write ``data`` to ``src``, read it from ``dst``; seconds; raises if it differs."""
    got = bytearray()
    sent = 0
    os.set_blocking(dst, False)
    start = time.perf_counter()
    deadline = time.monotonic() + 120
    while len(got) < len(data):
        if time.monotonic() > deadline:
            raise DaemonError(f"only {len(got)} of {len(data)} bytes arrived")
        r, w, _ = select.select([dst], [src] if sent < len(data) else [], [], 1.0)
        if w:
            try:
                sent += os.write(src, data[sent : sent + 65536])
            except BlockingIOError:
                pass
        if r:
            try:
                got += os.read(dst, 1 << 20)
            except BlockingIOError:
                pass
    elapsed = time.perf_counter() - start
    if bytes(got) != data:
        raise DaemonError("the bytes that arrived differ from those sent")
    return elapsed


def throughput(
    name: str, argv: List[str], link: Path, dev: Pty, data: bytes, rounds: int, tmp: Path
) -> Dict[str, Tuple[float, float]]:
    """{direction: (MB/s, CPU s per 100 MB)}, medians over the rounds."""
    results: Dict[str, List[Tuple[float, float]]] = {"app->device": [], "device->app": []}
    for _ in range(rounds):
        with front_end(argv, link, tmp / f"{name}.log") as proc:
            app = open_app(link)
            try:
                transfer(app, dev.master, b"warm up")  # connects (on-open) and warms
                for direction, (src, dst) in (
                    ("app->device", (app, dev.master)),
                    ("device->app", (dev.master, app)),
                ):
                    ticks = cpu_ticks(proc.pid)
                    seconds = transfer(src, dst, data)
                    cpu = (cpu_ticks(proc.pid) - ticks) / CLOCK_TICKS
                    results[direction].append((len(data) / seconds / 1e6, cpu * 100e6 / len(data)))
            finally:
                os.close(app)
    return {
        d: (statistics.median(r[0] for r in v), statistics.median(r[1] for r in v))
        for d, v in results.items()
    }


class SpeedWatch:
    """Told by the kernel when the device pty's settings change (packet mode + EXTPROC)."""

    def __init__(self, dev: Pty) -> None:
        self.fd = dev.master
        fcntl.ioctl(self.fd, TIOCPKT, struct.pack("i", 1))
        os.set_blocking(self.fd, False)

    def arm(self) -> None:
        t = get_termios2(self.fd)
        if not t.lflag & EXTPROC:
            set_termios2(
                self.fd,
                Termios2(
                    t.iflag, t.oflag, t.cflag, t.lflag | EXTPROC, t.line, t.cc, t.ispeed, t.ospeed
                ),
            )
        self._drain()

    def _drain(self) -> None:
        while select.select([self.fd], [], [], 0)[0]:
            try:
                os.read(self.fd, 65536)
            except OSError:
                return

    def wait_for(self, speed: int) -> float:
        """perf_counter() when the device has ``speed``."""
        deadline = time.monotonic() + DEADLINE
        while True:
            if get_termios2(self.fd).ospeed == speed:
                return time.perf_counter()
            left = deadline - time.monotonic()
            if left <= 0:
                raise DaemonError(f"the device never got {speed} baud")
            # A notice can be missed: the server may clear EXTPROC in the same
            # tcsetattr that changes the speed after an earlier one that did
            # not; a short timeout then bounds what the watch adds.
            if select.select([self.fd], [], [], min(left, 0.002))[0]:
                try:
                    status = os.read(self.fd, 65536)
                except OSError:
                    continue
                if status and status[0] & TIOCPKT_IOCTL:
                    now = time.perf_counter()
                    t = get_termios2(self.fd)
                    if t.ospeed == speed:
                        return now
                    if not t.lflag & EXTPROC:  # the server cleared it: set it again
                        self.arm()

    def close(self) -> None:
        fcntl.ioctl(self.fd, TIOCPKT, struct.pack("i", 0))


def set_speed_termios2(fd: int, speed: int) -> None:
    t = get_termios2(fd)
    set_termios2(
        fd,
        Termios2(
            t.iflag, t.oflag, (t.cflag & ~CBAUD) | BOTHER, t.lflag, t.line, t.cc, speed, speed
        ),
    )


def latencies(change: Callable[[int], None], watch: SpeedWatch, changes: int) -> List[float]:
    out: List[float] = []
    for i in range(changes + 10):
        speed = RATES[i % len(RATES)]
        watch.arm()
        start = time.perf_counter()
        change(speed)
        end = watch.wait_for(speed)
        if i >= 10:
            out.append((end - start) * 1000)
    return out


def summary(samples: List[float]) -> str:
    s = sorted(samples)
    return (
        f"median {statistics.median(s):6.2f} ms   p90 {s[int(0.9 * (len(s) - 1))]:6.2f} ms"
        f"   max {s[-1]:6.2f} ms   ({len(s)} changes)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=float, default=16.0, help="MiB per direction and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--changes", type=int, default=200, help="baud changes measured")
    parser.add_argument("--server", choices=["pyser2net", "ser2net"], default="pyser2net")
    parser.add_argument("--latency-only", action="store_true", help="skip the throughput")
    args = parser.parse_args()

    pycache = tempfile.mkdtemp(prefix="bench-pycache-")
    target: Optional[Target] = (
        pyser2net_target(pycache=pycache) if args.server == "pyser2net" else ser2net_target()
    )
    if target is None:
        print("ser2net is not installed", file=sys.stderr)
        return 1
    attach_cmd = pyser2net_target(pycache=pycache).command + ["attach"]
    rng = random.Random(1)
    data = (
        rng.randbytes(int(args.mib * (1 << 20)))
        if hasattr(rng, "randbytes")
        else bytes(rng.getrandbits(8) for _ in range(int(args.mib * (1 << 20))))
    )
    dev, dev2 = Pty(), Pty()
    rfc, raw = free_port(), free_port()
    config = CONFIG.format(rfc=rfc, raw=raw, dev=dev.path, dev2=dev2.path)
    print(
        f"pyser2net attach over loopback; server {target.name}; "
        f"{os.cpu_count()} cores; load {os.getloadavg()[0]:.2f}"
    )
    with (
        tempfile.TemporaryDirectory(prefix="bench-attach-") as tmpdir,
        target.run(config, [rfc, raw]),
    ):
        tmp = Path(tmpdir)
        link = tmp / "ttyBENCH"
        fronts = [
            (
                "attach rfc2217",
                attach_cmd
                + [f"rfc2217://127.0.0.1:{rfc}", "--link", str(link), "-d", "--group", ""],
                dev,
            ),
            (
                "attach socket",
                attach_cmd
                + [f"socket://127.0.0.1:{raw}", "--link", str(link), "-d", "--group", ""],
                dev2,
            ),
        ]
        if shutil.which("socat"):
            fronts.append(
                (
                    "socat (bytes only)",
                    ["socat", f"pty,link={link},raw,echo=0", f"tcp:127.0.0.1:{raw}"],
                    dev2,
                )
            )
        if not args.latency_only:
            print(f"\nthroughput, {args.mib:g} MiB each way, median of {args.rounds}:")
            print(
                f"  {'front end':<20} {'app->device':>12} {'CPU s/100MB':>12} "
                f"{'device->app':>12} {'CPU s/100MB':>12}"
            )
        for name, argv, device in [] if args.latency_only else fronts:
            r = throughput(
                name.split()[0] + name.split()[1][:3], argv, link, device, data, args.rounds, tmp
            )
            a, b = r["app->device"], r["device->app"]
            print(f"  {name:<20} {a[0]:>8.1f} MB/s {a[1]:>12.2f} {b[0]:>8.1f} MB/s {b[1]:>12.2f}")

        print(f"\nbaud change, application tcsetattr -> device termios (rates {RATES}):")
        with front_end(fronts[0][1], link, tmp / "latency.log"):
            app = open_app(link)
            try:
                transfer(app, dev.master, b"connect")
                watch = SpeedWatch(dev)
                samples = latencies(lambda s: set_speed_termios2(app, s), watch, args.changes)
                watch.close()
                print(f"  {'attach rfc2217':<20} {summary(samples)}")
            finally:
                os.close(app)
        import serial

        watch = SpeedWatch(dev)
        try:
            # Against ser2net on a pty this fails: ser2net leaves DTR unanswered
            # there and pyserial's client waits for every answer.
            with contextlib.closing(
                serial.serial_for_url(f"rfc2217://127.0.0.1:{rfc}", baudrate=9600)
            ) as port:
                samples = latencies(lambda s: setattr(port, "baudrate", s), watch, args.changes)
            print(f"  {'pyserial rfc2217://':<20} {summary(samples)}")
        except serial.SerialException as exc:
            print(f"  {'pyserial rfc2217://':<20} failed: {exc}")
        finally:
            watch.close()
    dev.close()
    dev2.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
