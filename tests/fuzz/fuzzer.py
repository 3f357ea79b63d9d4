#!/usr/bin/env python3
"""A small mutation fuzzer for the parts that read hostile input.

``python tests/fuzz/fuzzer.py [--seconds N | --count N] [--seed S] [TARGET...]``

Targets (``fuzz_targets.py``): the YAML and legacy configuration readers (what
``--check`` runs), the telnet codec, the telnet codec answering RFC 2217
requests through ``apply_request``, and the admin session.  Each input runs
in a worker process with a memory limit; an input that raises what the
target does not allow is a *crash*, one that takes longer than
``--hang-seconds`` (2 s) a *hang* (the worker is killed by its pid and
replaced), one that kills the worker (out of memory, say) a crash too.

Inputs start from the seeds in ``tests/fixtures/fuzz/TARGET/`` (plus the
target's own seeds) and are mutated from a seeded random generator, so a
run is reproducible for a given seed and count.  With ``--save``, every
finding is written there as ``crash-<sha1>`` / ``hang-<sha1>``; a file kept
there is replayed by the test suite forever after.  The exit status is 1
when anything was found.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import select
import signal
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CORPUS = ROOT / "tests" / "fixtures" / "fuzz"
for _path in (str(ROOT), str(HERE)):  # the targets, and pyser2net from this checkout
    if _path not in sys.path:
        sys.path.insert(0, _path)

from fuzz_targets import SMALL_ONE_IN, TARGETS, prepare_sandbox  # noqa: E402

#: Address space a worker may use: beyond it allocations raise MemoryError.
WORKER_MEMORY = 1024 * 1024 * 1024
#: An input still running after this long is a hang.
HANG_SECONDS = 2.0

_OK, _CRASH = b"o", b"c"


# -- mutation -----------------------------------------------------------------


class Mutator:
    """Byte-level mutations, plus splicing and the target's dictionary words."""

    def __init__(self, rng: random.Random, words: Sequence[bytes], seeds: Sequence[bytes]):
        self.rng = rng
        self.words = list(words) or [b"\xff"]
        self.seeds = list(seeds) or [b""]

    def mutate(self, data: bytes, max_size: int) -> bytes:
        out = bytearray(data)
        for _ in range(self.rng.choice((1, 1, 2, 3, 5, 8))):
            self._one(out)
        return bytes(out[:max_size])

    def _one(self, out: bytearray) -> None:
        rng = self.rng
        n = len(out)
        at = rng.randint(0, n)
        kind = rng.randrange(12)
        if kind == 0 and n:  # flip a bit
            i = rng.randrange(n)
            out[i] ^= 1 << rng.randrange(8)
        elif kind == 1 and n:  # a random byte
            out[rng.randrange(n)] = rng.randrange(256)
        elif kind == 2 and n:  # delete a range
            out[at : at + rng.randint(1, 16)] = b""
        elif kind in (3, 4):  # insert a dictionary word
            out[at:at] = rng.choice(self.words)
        elif kind == 5 and n:  # duplicate a range
            start = rng.randrange(n)
            out[at:at] = out[start : start + rng.randint(1, 64)]
        elif kind == 6 and n:  # repeat a range many times (blow-ups)
            start = rng.randrange(n)
            piece = out[start : start + rng.randint(1, 32)]
            out[at:at] = piece * rng.choice((10, 100, 1000))
        elif kind == 7:  # splice another seed in
            other = rng.choice(self.seeds)
            if other:
                a = rng.randrange(len(other))
                out[at:at] = other[a : a + rng.randint(1, 200)]
        elif kind == 8 and n:  # a long number where a digit was
            digits = [i for i in range(max(0, at - 64), min(n, at + 64)) if 48 <= out[i] <= 57]
            if digits:
                i = rng.choice(digits)
                out[i : i + 1] = b"9" * rng.choice((20, 400, 5000))
        elif kind == 9:  # interesting bytes
            out[at:at] = bytes([rng.choice((0, 0xFF, 0x80, 0x0A, 0x0D, 0x22, 0x27, 0x7F))])
        elif kind == 10 and n:  # a new value after a key (keeps YAML and legacy lines valid)
            line_start = bytes(out).rfind(b"\n", 0, at) + 1
            line_end = bytes(out).find(b"\n", at)
            line_end = n if line_end < 0 else line_end
            colon = bytes(out).rfind(b":", line_start, line_end)
            if colon >= 0:
                word = rng.choice(self.words).strip()
                out[colon + 1 : line_end] = b" " + word if rng.randrange(2) else word
        elif n:  # swap two lines
            lines = bytes(out).split(b"\n")
            if len(lines) > 1:
                i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
                lines[i], lines[j] = lines[j], lines[i]
                out[:] = b"\n".join(lines)


# -- worker -------------------------------------------------------------------


def _read_exact(fd: int, size: int) -> Optional[bytes]:
    chunks = []
    while size:
        chunk = os.read(fd, size)
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def worker(target_name: str, fd_in: int, fd_out: int, sandbox: str) -> None:
    """Run inputs from ``fd_in`` one by one; report each on ``fd_out``."""
    import resource
    import traceback

    resource.setrlimit(resource.RLIMIT_AS, (WORKER_MEMORY, WORKER_MEMORY))
    os.chdir(sandbox)
    target = TARGETS[target_name]
    try:  # import everything the target uses before the clock runs for an input
        target.run(b"")
    except BaseException:
        pass
    while True:
        header = _read_exact(fd_in, 4)
        if header is None:
            return
        data = _read_exact(fd_in, struct.unpack(">I", header)[0]) or b""
        try:
            target.run(data)
            status, text = _OK, b""
        except BaseException:  # a crash is anything the target lets out
            status = _CRASH
            text = traceback.format_exc().encode("utf-8", "replace")[-4000:]
        os.write(fd_out, status + struct.pack(">I", len(text)) + text)


class Worker:
    """The parent's handle on one worker process."""

    def __init__(self, target: str, sandbox: str) -> None:
        to_worker = os.pipe()
        from_worker = os.pipe()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__)),
                "--worker",
                target,
                "--fds",
                f"{to_worker[0]},{from_worker[1]}",
                "--sandbox",
                sandbox,
            ],
            pass_fds=(to_worker[0], from_worker[1]),
            stdin=subprocess.DEVNULL,
            cwd=sandbox,
        )
        os.close(to_worker[0])
        os.close(from_worker[1])
        self.w = to_worker[1]
        self.r = from_worker[0]

    def run(self, data: bytes, timeout: float) -> Tuple[str, str, float]:
        """("ok" | "crash" | "hang", detail, seconds)."""
        start = time.monotonic()
        try:
            os.write(self.w, struct.pack(">I", len(data)) + data)
        except BrokenPipeError:
            return "crash", "worker died before the input", 0.0
        ready, _, _ = select.select([self.r], [], [], timeout)
        took = time.monotonic() - start
        if not ready:
            return "hang", f"no answer within {timeout:g} s", took
        header = _read_exact(self.r, 5)
        if header is None:
            code = self.proc.wait()
            return "crash", f"worker died (exit status {code})", took
        text = _read_exact(self.r, struct.unpack(">I", header[1:])[0]) or b""
        if header[:1] == _OK:
            return "ok", "", took
        return "crash", text.decode("utf-8", "replace"), took

    def stop(self) -> None:
        for fd in (self.w, self.r):
            try:
                os.close(fd)
            except OSError:
                pass
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


# -- campaign -----------------------------------------------------------------


@dataclass
class Report:
    target: str
    tried: int = 0
    crashes: List[Tuple[bytes, str]] = field(default_factory=list)
    hangs: List[Tuple[bytes, str]] = field(default_factory=list)
    slowest: float = 0.0
    #: Inputs that took more than a quarter of the hang time (not failures).
    slow: List[Tuple[bytes, float]] = field(default_factory=list)


def corpus_files(target: str) -> List[Path]:
    folder = CORPUS / target
    return sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []


def campaign(
    target_name: str,
    *,
    seed: int,
    seconds: Optional[float],
    count: Optional[int],
    hang_seconds: float,
    replay_only: bool = False,
    verbose: bool = False,
) -> Report:
    target = TARGETS[target_name]
    rng = random.Random(f"{seed}:{target_name}")
    kept = [p.read_bytes() for p in corpus_files(target_name)]
    seeds = kept + [s for s in target.seeds() if s not in kept]
    mutator = Mutator(rng, target.words, seeds)
    report = Report(target_name)
    with tempfile.TemporaryDirectory(prefix="pyser2net-fuzz-") as sandbox:
        prepare_sandbox(sandbox)
        worker_ = Worker(target_name, sandbox)
        deadline = time.monotonic() + seconds if seconds is not None else None
        queue: List[bytes] = list(seeds)
        try:
            while True:
                if queue:
                    data = queue.pop(0)
                elif replay_only:
                    break
                else:
                    if deadline is not None and time.monotonic() >= deadline:
                        break
                    if count is not None and report.tried >= count:
                        break
                    size = target.max_size
                    if target.small_size is not None and rng.randrange(SMALL_ONE_IN):
                        size = target.small_size
                    data = mutator.mutate(rng.choice(seeds), size)
                verdict, detail, took = worker_.run(data, hang_seconds)
                report.tried += 1
                report.slowest = max(report.slowest, took)
                if took > hang_seconds / 4 and verdict != "hang":
                    report.slow.append((data, took))
                if verdict == "ok":
                    continue
                if verbose:
                    print(f"{target_name}: {verdict}: {detail.splitlines()[-1:]}", file=sys.stderr)
                (report.hangs if verdict == "hang" else report.crashes).append((data, detail))
                worker_.stop()
                worker_ = Worker(target_name, sandbox)
        finally:
            worker_.stop()
    return report


def save(report: Report) -> List[Path]:
    folder = CORPUS / report.target
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for kind, found in (("crash", report.crashes), ("hang", report.hangs)):
        for data, _detail in found:
            path = folder / f"{kind}-{hashlib.sha1(data).hexdigest()[:16]}"
            path.write_bytes(data)
            written.append(path)
    return written


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", help="default: all")
    parser.add_argument("--seconds", type=float, help="time per target")
    parser.add_argument("--count", type=int, help="mutated inputs per target")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--hang-seconds", type=float, default=HANG_SECONDS)
    parser.add_argument("--replay", action="store_true", help="only the corpus and seeds")
    parser.add_argument("--save", action="store_true", help="keep findings in the corpus")
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--fds", help=argparse.SUPPRESS)
    parser.add_argument("--sandbox", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        fd_in, fd_out = (int(x) for x in args.fds.split(","))
        worker(args.worker, fd_in, fd_out, args.sandbox)
        return 0
    names = args.targets or list(TARGETS)
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        parser.error(f"unknown target(s) {', '.join(unknown)}; known: {', '.join(TARGETS)}")
    if args.seconds is None and args.count is None and not args.replay:
        args.seconds = 10.0
    found = False
    print(f"{'target':<16} {'inputs':>8} {'crashes':>8} {'hangs':>6} {'slowest':>8} {'slow':>5}")
    results: Dict[str, Report] = {}
    for name in names:
        report = campaign(
            name,
            seed=args.seed,
            seconds=args.seconds,
            count=args.count,
            hang_seconds=args.hang_seconds,
            replay_only=args.replay,
            verbose=args.verbose,
        )
        results[name] = report
        print(
            f"{name:<16} {report.tried:>8} {len(report.crashes):>8} {len(report.hangs):>6} "
            f"{report.slowest:>7.2f}s {len(report.slow):>5}",
            flush=True,
        )
        if args.verbose:
            for data, took in report.slow[:5]:
                print(f"slow {took:.2f}s {len(data)} bytes: {data[:160]!r}", file=sys.stderr)
        if report.crashes or report.hangs:
            found = True
            for data, detail in (report.crashes + report.hangs)[:3]:
                print(f"--- {name}: {data[:120]!r}...\n{detail}", file=sys.stderr)
            if args.save:
                for path in save(report):
                    print(f"kept {path.relative_to(ROOT)}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
