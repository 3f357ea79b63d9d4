#!/usr/bin/env python3
"""Telnet codec alone, no sockets: ``python bench/codec.py [--mib N] [--against REV]``.

Prints MB/s (10^6 input bytes per second) for client-to-device decoding
and device-to-client encoding of payloads that stress the escaping, and
for protocol-dense input (command storms, long subnegotiations).  Input is
fed in chunks of an odd size (default 65521 bytes) so that doubled IACs
and commands are split across calls, as they are when they arrive in
separate reads.  ``--against REV`` also loads the codec of git revision
REV and runs both in turns, case by case, so that the ratio holds even on a
machine whose load changes; compare separate runs on the same machine only.
"""

from __future__ import annotations

import argparse
import functools
import random
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Callable, List, Optional, Tuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pyser2net.protocol import telnet  # noqa: E402

CODEC_PATH = "pyser2net/protocol/telnet.py"

IAC, SB, SE, NOP = 255, 250, 240, 241
WILL, WONT, DO, DONT = 251, 252, 253, 254


def payload(size: int, ff_share: float, seed: int = 1) -> bytes:
    """Random bytes of which about ``ff_share`` are 0xFF."""
    rng = random.Random(seed)
    data = bytearray(rng.randbytes(size))
    ff = int(size * ff_share)
    for i in rng.sample(range(size), ff):
        data[i] = IAC
    return bytes(data)


def escaped(data: bytes) -> bytes:
    return data.replace(b"\xff", b"\xff\xff")


def repeat_to(unit: bytes, size: int) -> bytes:
    return unit * (size // len(unit) + 1)


def random_negotiations(size: int, seed: int = 2) -> bytes:
    """Negotiations in no repeating order: the codec's slowest input."""
    rng = random.Random(seed)
    verbs = rng.choices((WILL, WONT, DO, DONT), k=size // 3)
    options = rng.choices((0, 1, 3, 44, 200), k=size // 3)
    return b"".join(bytes((IAC, v, o)) for v, o in zip(verbs, options))


def decode_cases(size: int) -> List[Tuple[str, bytes, dict]]:
    return [
        ("plain data", escaped(payload(size, 0.0)), {}),
        ("50% 0xFF", escaped(payload(size, 0.5)), {}),
        ("100% 0xFF", escaped(b"\xff" * size), {}),
        ("DO/DONT storm", repeat_to(bytes((IAC, DO, 1, IAC, DONT, 1)), size), {}),
        (
            "WILL/WONT storm (rfc2217)",
            repeat_to(bytes((IAC, WILL, 44, IAC, WONT, 44)), size),
            {"rfc2217": True},
        ),
        ("unknown option storm", repeat_to(bytes((IAC, DO, 200)), size), {}),
        ("random negotiations", random_negotiations(size), {"rfc2217": True}),
        ("IAC NOP between bytes", repeat_to(bytes((IAC, NOP, 65)), size), {}),
        ("IAC IAC x IAC NOP", repeat_to(bytes((IAC, IAC, 65, IAC, NOP)), size), {}),
        (
            "long SB, 0xFF body",
            bytes((IAC, SB, 44, 0)) + escaped(b"\xff" * size) + bytes((IAC, SE)),
            {"rfc2217": True},
        ),
        (
            "long SB, garbage IACs",
            bytes((IAC, SB, 44, 0)) + repeat_to(bytes((IAC, 1)), size) + bytes((IAC, SE)),
            {"rfc2217": True},
        ),
        (
            "signature requests",
            repeat_to(bytes((IAC, SB, 44, 0, IAC, SE)), size),
            {"rfc2217": True},
        ),
    ]


def encode_cases(size: int) -> List[Tuple[str, bytes, dict]]:
    return [
        ("encode plain", payload(size, 0.0), {}),
        ("encode 50% 0xFF", payload(size, 0.5), {}),
        ("encode 100% 0xFF", b"\xff" * size, {}),
    ]


def run(fn: Callable[[bytes], object], data: bytes, chunk: int) -> float:
    parts = [data[i : i + chunk] for i in range(0, len(data), chunk)]
    start = time.perf_counter()
    for part in parts:
        fn(part)
    return time.perf_counter() - start


def encoder(module: types.ModuleType, kwargs: dict) -> Callable[[bytes], object]:
    return module.TelnetServerCodec(**kwargs).encode


def load_revision(rev: str) -> types.ModuleType:
    """The codec module as it is in git revision ``rev``."""
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{rev}:{CODEC_PATH}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    module = types.ModuleType(f"telnet_at_{rev}")
    module.__dict__["__name__"] = module.__name__
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(source, f"{rev}:{CODEC_PATH}", "exec"), module.__dict__)
    return module


def decode(module: types.ModuleType, kwargs: dict) -> Callable[[bytes], object]:
    codec = module.TelnetServerCodec(**kwargs)

    def step(part: bytes) -> None:
        codec.receive_data(part)
        codec.data_to_send()

    return step


def in_turns(
    steps: List[Callable[[], Callable[[bytes], object]]], data: bytes, chunk: int, rounds: int
) -> List[float]:
    """Best time of each step maker over ``rounds``, taking them in turns."""
    times = [float("inf")] * len(steps)
    for _ in range(rounds):
        for i, make in enumerate(steps):
            times[i] = min(times[i], run(make(), data, chunk))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=float, default=4.0, help="input size per case")
    parser.add_argument("--chunk", type=int, default=65521, help="bytes per call")
    parser.add_argument("--rounds", type=int, default=3, help="best of N")
    parser.add_argument("--against", metavar="REV", help="also run the codec of this revision")
    args = parser.parse_args()
    size = int(args.mib * 1024 * 1024)
    other: Optional[types.ModuleType] = load_revision(args.against) if args.against else None
    print(
        f"telnet codec, {args.mib:g} MiB per case, {args.chunk}-byte calls, "
        f"best of {args.rounds}, Python {sys.version.split()[0]}"
    )
    header = f"  {'case':<35} {'MB/s':>9}"
    if other is not None:
        header += f" {args.against + ' MB/s':>14} {'ratio':>7}"
    print(header)

    def row(name: str, nbytes: int, times: List[float]) -> None:
        line = f"  {name:<35} {nbytes / times[0] / 1e6:9.1f}"
        if len(times) > 1:
            line += f" {nbytes / times[1] / 1e6:14.1f} {times[1] / times[0]:6.1f}x"
        print(line, flush=True)

    modules = [telnet] + ([other] if other is not None else [])
    for name, data, kwargs in decode_cases(size):
        makers = [functools.partial(decode, m, kwargs) for m in modules]
        row("decode " + name, len(data), in_turns(makers, data, args.chunk, args.rounds))
    for name, data, kwargs in encode_cases(size):
        makers = [functools.partial(encoder, m, kwargs) for m in modules]
        row(name, len(data), in_turns(makers, data, args.chunk, args.rounds))


if __name__ == "__main__":
    main()
