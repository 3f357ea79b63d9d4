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
    .venv/bin/python bench/tunnel.py --only py-ser2net-relpkt-clean --trace

With ``--trace`` the cable records every byte, and each pair's line is
followed by what crossed it each way, as relpkt packets
(``bench/cabletrace.py``): packet sizes, acknowledgements sent alone,
resend requests, packets sent again, packets in flight when each was
written, how long each waited for its acknowledgement, and how busy the
line was.  Recording costs the relay a little time; measure without it.

ser2net pairs run when ser2net is installed.  Its msgdelim does not
recover from a damaged byte: the noisy pairs with ser2net are expected to
fail, and are shown to say so (a run that gets nothing back for STALL
seconds ends there).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Dict, Optional, Tuple

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from cabletrace import packets, summary  # noqa: E402
from daemons import DaemonError, Target, pyser2net_target, ser2net_target  # noqa: E402

from helpers import free_port  # noqa: E402
from linkcable import Cable  # noqa: E402
from tunnel import (  # noqa: E402  (tests/tunnel.py: the same tunnel as the tests)
    LINE_RATE,
    LINKS,
    EchoService,
    far_config,
    near_config,
    random_bytes,
    round_trip,
)

BAUD = 115200

#: A run that got nothing back for this long has failed (seconds): longer
#: than relpkt's longest wait for a lost packet (gensio's five timeouts).
STALL = 20.0

#: name -> (near, far, link, errors per byte)
PAIRS: Dict[str, Tuple[str, str, str, float]] = {
    "py-py-relpkt-clean": ("pyser2net", "pyser2net", "relpkt", 0.0),
    "py-py-relpkt-noisy": ("pyser2net", "pyser2net", "relpkt", 1e-4),
    "py-py-relpkt64-clean": ("pyser2net", "pyser2net", "relpkt64", 0.0),
    "py-py-serialtcp-clean": ("pyser2net", "pyser2net", "serialtcp", 0.0),
    "ser2net-py-relpkt-clean": ("ser2net", "pyser2net", "relpkt", 0.0),
    "py-ser2net-relpkt-clean": ("pyser2net", "ser2net", "relpkt", 0.0),
    "ser2net-ser2net-relpkt-clean": ("ser2net", "ser2net", "relpkt", 0.0),
    "ser2net-py-relpkt-noisy": ("ser2net", "pyser2net", "relpkt", 1e-4),
    "py-ser2net-relpkt-noisy": ("pyser2net", "ser2net", "relpkt", 1e-4),
    "ser2net-ser2net-relpkt-noisy": ("ser2net", "ser2net", "relpkt", 1e-4),
}

#: Pairs that fail, and why: their result is shown, not counted as a failure.
KNOWN_TO_FAIL = {
    "ser2net-py-relpkt-noisy": "ser2net's msgdelim does not recover from a damaged byte",
    "py-ser2net-relpkt-noisy": "ser2net's msgdelim does not recover from a damaged byte",
    "ser2net-ser2net-relpkt-noisy": "ser2net's msgdelim does not recover from a damaged byte",
}


def run_pair(
    name: str, targets: Dict[str, Target], size: int, trace: bool = False
) -> Dict[str, object]:
    near_name, far_name, link, errors = PAIRS[name]
    near_layers, far_layers = LINKS[link]
    cable = Cable(rate=LINE_RATE, errors_per_byte=errors, seed=5, record=trace)
    echo = EchoService()
    port, admin = free_port(), free_port()
    near_cfg = near_config(port, near_layers, cable.a)
    far_cfg = far_config(admin, far_layers, cable.b, echo.port)
    data = random_bytes(size, 1)
    try:
        with targets[far_name].run(far_cfg, [admin]), targets[near_name].run(near_cfg, [port]):
            time.sleep(0.5)
            start = time.perf_counter()  # from connecting to the last byte back
            got = round_trip(port, data, timeout=30 + 4 * size / LINE_RATE, stall=STALL)
            elapsed = time.perf_counter() - start
    finally:
        echo.close()
        cable.close()
    damaged = sum(d.flipped + d.dropped + d.doubled for d in cable.dirs.values())
    wire = cable.a_to_b.carried
    traced = []
    if trace:
        there, back = packets(cable.a_to_b), packets(cable.b_to_a)
        traced = [
            summary("near->far", there, back, LINE_RATE),
            summary("far->near", back, there, LINE_RATE),
        ]
    return {
        "trace": traced,
        "elapsed": elapsed,
        "exact": got == data,
        "received": len(got),
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
    parser.add_argument(
        "--trace", action="store_true", help="record the cable and show its packets each way"
    )
    args = parser.parse_args()
    targets = {"pyser2net": pyser2net_target()}
    ser2net: Optional[Target] = ser2net_target()
    if ser2net is not None:
        targets["ser2net"] = ser2net
    names = args.only.split(",") if args.only else list(PAIRS)
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
            r = run_pair(name, targets, args.size, args.trace)
        except DaemonError as exc:
            print(f"{name:34} failed: {exc}")
            failed = True
            continue
        if r["exact"]:
            rate = f"{r['rate']:13.0f} {100 * r['rate'] / LINE_RATE:7.1f}%"  # type: ignore[operator]
            result = "exact"
        else:
            rate = f"{'-':>13} {'-':>8}"
            result = f"DIFFERS ({r['received']} of {args.size} bytes back)"
            if name in KNOWN_TO_FAIL:
                result += f", as expected: {KNOWN_TO_FAIL[name]}"
            else:
                failed = True
        print(
            f"{name:34} {r['elapsed']:7.1f}s {rate} {r['wire'] / args.size:13.2f} "  # type: ignore[operator]
            f"{r['damaged']:8}  {result}",
            flush=True,
        )
        for line in r["trace"]:  # type: ignore[attr-defined]
            print(line, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
