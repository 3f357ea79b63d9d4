"""What scraping ``--metrics`` costs a transfer.

One connection on a pty; the benchmark writes SIZE bytes (100 MB by
default) to the pty master and one client reads them all.  Each round
runs three ways, interleaved so that a change in the machine's load hits
all alike:

* ``plain``: pyser2net without ``--metrics``;
* ``listening``: with ``--metrics``, never scraped;
* ``scraped``: with ``--metrics``, ``GET /metrics`` every 100 ms (and one
  ``GET /status`` a second) from another thread of the benchmark for the
  whole transfer.

The table shows the median throughput (MB/s, 10^6 bytes, from the first
byte written to the last byte read) of each and the ratio to ``plain``;
the daemon's CPU time (utime + stime, all threads) per 100 MB and its
ratio to ``plain``, which a busy machine disturbs much less than the
throughput; the number of scrapes answered and their median time.  After each scraped
transfer the scrape must count exactly SIZE device bytes, or the run
fails.

    .venv/bin/python bench/metrics.py               # 100 MB, 3 rounds
    .venv/bin/python bench/metrics.py --size 20000000 --rounds 1
"""

from __future__ import annotations

import argparse
import http.client
import os
import socket
import statistics
import sys
import threading
import time
import tty
from pathlib import Path
from typing import Dict, List, Optional, Tuple

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from daemons import Target, pyser2net_target  # noqa: E402

from pyser2net import __version__  # noqa: E402

CHUNK = 1 << 16
TIMEOUT = 300.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Scraper(threading.Thread):
    """GET /metrics every ``interval`` seconds until stopped."""

    def __init__(self, port: int, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.interval = interval
        self.times: List[float] = []
        self.errors: List[str] = []
        self._halt = threading.Event()

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        n = 0
        while not self._halt.wait(self.interval):
            path = "/status" if n % 10 == 9 else "/metrics"
            n += 1
            t0 = time.perf_counter()
            try:
                conn.request("GET", path)
                resp = conn.getresponse()
                resp.read()
                if resp.status != 200:
                    self.errors.append(f"{path}: {resp.status}")
            except (OSError, http.client.HTTPException) as exc:
                self.errors.append(f"{path}: {exc}")
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                continue
            self.times.append(time.perf_counter() - t0)
        conn.close()

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=15)


def device_bytes(port: int) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
    finally:
        conn.close()
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "ser2net_device_bytes_total" and s.labels["direction"] == "in":
                return s.value
    raise RuntimeError("no ser2net_device_bytes_total in the scrape")


def transfer(target: Target, size: int, mode: str) -> Tuple[float, float, Optional[Scraper]]:
    """MB/s of one SIZE-byte device -> client transfer, and the daemon's CPU
    seconds per 100 MB during it."""
    master, slave = os.openpty()
    tty.setraw(master)
    path = os.ttyname(slave)
    port, mport = free_port(), free_port()
    config = (
        f"connection: &b\n  accepter: tcp,127.0.0.1,{port}\n"
        f"  connector: serialdev,{path},115200n81,local\n"
    )
    extra = [] if mode == "plain" else ["--metrics", str(mport)]
    runner = Target(target.name, target.command + extra, target.version, target.env)
    payload = os.urandom(CHUNK)
    scraper: Optional[Scraper] = None
    try:
        listen = [port] if mode == "plain" else [port, mport]
        with runner.run(config, listen) as running:
            client = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
            time.sleep(0.3)  # the device is open

            def write() -> None:
                left = size
                while left > 0:
                    left -= os.write(master, payload[: min(CHUNK, left)])

            if mode == "scraped":
                scraper = Scraper(mport)
                scraper.start()
            writer = threading.Thread(target=write, daemon=True)
            cpu_start = running.cpu_seconds()
            start = time.perf_counter()
            writer.start()
            got = 0
            while got < size:
                chunk = client.recv(1 << 18)
                if not chunk:
                    raise RuntimeError(f"closed after {got} bytes")
                got += len(chunk)
            elapsed = time.perf_counter() - start
            cpu = running.cpu_seconds() - cpu_start
            if scraper is not None:
                scraper.stop()
            writer.join(timeout=10)
            if mode != "plain":
                counted = device_bytes(mport)
                if counted != size:
                    raise RuntimeError(f"the scrape counts {counted:.0f} bytes, not {size}")
            client.close()
    finally:
        os.close(master)
        os.close(slave)
    return size / elapsed / 1e6, cpu * 1e8 / size, scraper


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    target = pyser2net_target()
    target.warm_up()
    modes = ("plain", "listening", "scraped")
    speeds: Dict[str, List[float]] = {m: [] for m in modes}
    cpus: Dict[str, List[float]] = {m: [] for m in modes}
    scrape_times: List[float] = []
    scrapes: List[int] = []
    load_before = os.getloadavg()[0]
    for _ in range(args.rounds):
        for mode in modes:
            speed, cpu, scraper = transfer(target, args.size, mode)
            speeds[mode].append(speed)
            cpus[mode].append(cpu)
            if scraper is not None:
                if scraper.errors:
                    print(f"scrape errors: {scraper.errors[:3]}", file=sys.stderr)
                    return 1
                scrapes.append(len(scraper.times))
                scrape_times += scraper.times
    load_after = os.getloadavg()[0]
    plain = statistics.median(speeds["plain"])
    plain_cpu = statistics.median(cpus["plain"])
    print(
        f"pyser2net {__version__}, {args.size / 1e6:.0f} MB device -> client, "
        f"{args.rounds} rounds, {os.cpu_count()} cores, load {load_before:.2f} -> {load_after:.2f}"
    )
    print(
        f"{'mode':<10} {'MB/s (median)':>14} {'vs plain':>9} "
        f"{'CPU s/100MB':>12} {'vs plain':>9}  MB/s of each run"
    )
    for mode in modes:
        median = statistics.median(speeds[mode])
        cpu = statistics.median(cpus[mode])
        runs = " ".join(f"{s:.0f}" for s in speeds[mode])
        print(
            f"{mode:<10} {median:>14.1f} {median / plain:>8.3f}x "
            f"{cpu:>12.2f} {cpu / plain_cpu:>8.3f}x  {runs}"
        )
    print(
        f"scrapes per transfer: {', '.join(map(str, scrapes))}; "
        f"median scrape {statistics.median(scrape_times) * 1000:.1f} ms, "
        f"slowest {max(scrape_times) * 1000:.1f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
