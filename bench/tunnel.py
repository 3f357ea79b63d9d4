"""TCP over a serial cable: effective throughput against the line rate.

Two daemons and a cable, as in ``tests/tunnel.py``: the near daemon serves
``accepter: tcp`` through a link (``relpkt,msgdelim`` or ``serialtcp``) on
one end of a cable, the far daemon ``accepter: conacc,...`` on the other
end, connected on to a TCP echo service.  The cable is two ptys and a
relay paced to the line rate (a pty has none: 115200 baud, 8N1, is 11520
bytes a second each way), clean or damaging one byte in ten thousand.

A TCP client sends SIZE random bytes into the near port and reads them
back from the echo service while it sends, so both directions of the line
are busy at once.  The time is from the first byte written to the last
byte read; the throughput is SIZE over that time, each way, and the table
shows it against the line rate.  Bytes are compared: a run whose echo
differs is reported as failed.

    .venv/bin/python bench/tunnel.py                 # every pair, 256 KiB
    .venv/bin/python bench/tunnel.py --size 1048576  # 1 MiB, about 100 s a run
    .venv/bin/python bench/tunnel.py --only py-py-relpkt-noisy

ser2net pairs run when ser2net is installed; its msgdelim does not
recover from a damaged byte, so noisy runs are pyser2net at both ends.
"""

from __future__ import annotations

import argparse
import random
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from daemons import DaemonError, Target, pyser2net_target, ser2net_target  # noqa: E402

from linkcable import Cable  # noqa: E402

BAUD = 115200
LINE_RATE = BAUD / 10  # bytes a second, 8N1

#: name -> (near, far, link, errors per byte)
PAIRS: Dict[str, Tuple[str, str, str, float]] = {
    "py-py-relpkt-clean": ("pyser2net", "pyser2net", "relpkt", 0.0),
    "py-py-relpkt-noisy": ("pyser2net", "pyser2net", "relpkt", 1e-4),
    "py-py-relpkt64-clean": ("pyser2net", "pyser2net", "relpkt64", 0.0),
    "py-py-serialtcp-clean": ("pyser2net", "pyser2net", "serialtcp", 0.0),
    "ser2net-py-relpkt-clean": ("ser2net", "pyser2net", "relpkt", 0.0),
    "py-ser2net-relpkt-clean": ("pyser2net", "ser2net", "relpkt", 0.0),
    "ser2net-ser2net-relpkt-clean": ("ser2net", "ser2net", "relpkt", 0.0),
}

#: link -> (near layers, far layers under conacc)
LINKS = {
    "relpkt": ("relpkt,msgdelim", "relpkt(mode=server),msgdelim"),
    # A window of 64 packets (both ends must offer it; the smaller wins).
    "relpkt64": ("relpkt(max_packets=64),msgdelim", "relpkt(mode=server,max_packets=64),msgdelim"),
    "serialtcp": ("serialtcp(server)", "serialtcp(client)"),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Echo:
    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    @staticmethod
    def _echo(conn: socket.socket) -> None:
        with conn:
            while True:
                try:
                    data = conn.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                conn.sendall(data)

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


def round_trip(port: int, data: bytes, timeout: float) -> Tuple[float, bool]:
    """Seconds from the first byte sent to the last byte back, and whether
    every byte came back as sent."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    got = bytearray()
    deadline = time.monotonic() + timeout

    def reader() -> None:
        while len(got) < len(data) and time.monotonic() < deadline:
            sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                chunk = sock.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            got.extend(chunk)

    thread = threading.Thread(target=reader)
    start = time.perf_counter()
    thread.start()
    try:
        sock.settimeout(timeout)
        sock.sendall(data)
    except OSError:
        pass
    thread.join(timeout + 5)
    elapsed = time.perf_counter() - start
    sock.close()
    return elapsed, bytes(got) == data


def run_pair(name: str, targets: Dict[str, Target], size: int) -> Dict[str, object]:
    near_name, far_name, link, errors = PAIRS[name]
    near_layers, far_layers = LINKS[link]
    cable = Cable(rate=LINE_RATE, errors_per_byte=errors, seed=5)
    echo = Echo()
    port, admin = free_port(), free_port()
    near_cfg = (
        f"connection: &near\n  accepter: tcp,127.0.0.1,{port}\n"
        f"  connector: {near_layers},serialdev,{cable.a},{BAUD}n81,local\n"
    )
    far_cfg = (
        f"connection: &far\n  accepter: conacc,{far_layers},serialdev,{cable.b},"
        f"{BAUD}n81,local\n  connector: tcp,127.0.0.1,{echo.port}\n"
        f"admin:\n  accepter: tcp,127.0.0.1,{admin}\n"
    )
    data = random.Random(1).randbytes(size)
    try:
        with targets[far_name].run(far_cfg, [admin]), targets[near_name].run(near_cfg, [port]):
            time.sleep(0.5)
            elapsed, exact = round_trip(port, data, timeout=30 + 4 * size / LINE_RATE)
    finally:
        echo.close()
        cable.close()
    damaged = sum(d.flipped + d.dropped + d.doubled for d in cable.dirs.values())
    wire = cable.a_to_b.carried
    return {
        "elapsed": elapsed,
        "exact": exact,
        "rate": size / elapsed,
        "damaged": damaged,
        "wire": wire,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=256 * 1024, help="bytes each way")
    parser.add_argument("--only", help="comma-separated pair names")
    args = parser.parse_args()
    targets = {"pyser2net": pyser2net_target()}
    ser2net: Optional[Target] = ser2net_target()
    if ser2net is not None:
        targets["ser2net"] = ser2net
    names = args.only.split(",") if args.only else list(PAIRS)
    rows: List[str] = []
    failed = False
    print(
        f"line: {BAUD} baud 8N1 = {LINE_RATE:.0f} B/s each way; {args.size} bytes each way "
        "(an echo: both directions at once)"
    )
    print(
        f"{'pair (near-far-link)':34} {'time':>8} {'B/s each way':>13} {'of line':>8} "
        f"{'wire/payload':>13} {'damaged':>8}  result"
    )
    for name in names:
        near, far, _, _ = PAIRS[name]
        if near not in targets or far not in targets:
            print(f"{name:34} skipped: ser2net is not installed")
            continue
        try:
            r = run_pair(name, targets, args.size)
        except DaemonError as exc:
            print(f"{name:34} failed: {exc}")
            failed = True
            continue
        ok = "exact" if r["exact"] else "DIFFERS"
        failed |= not r["exact"]
        line = (
            f"{name:34} {r['elapsed']:7.1f}s {r['rate']:13.0f} "
            f"{100 * r['rate'] / LINE_RATE:7.1f}% {r['wire'] / args.size:13.2f} "  # type: ignore[operator]
            f"{r['damaged']:8}  {ok}"
        )
        print(line, flush=True)
        rows.append(line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
