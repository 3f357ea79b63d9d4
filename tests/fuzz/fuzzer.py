#!/usr/bin/env python3
"""A small mutation fuzzer for the parts that read hostile input.

``python tests/fuzz/fuzzer.py [--seconds N | --count N] [--seed S] [--jobs J] [TARGET...]``

Targets (``fuzz_targets.py``): the YAML and legacy configuration readers (what
``--check`` runs), the telnet codec (server and client side), the telnet
codec answering RFC 2217 requests through ``apply_request``, the admin
session and the link layers.  Inputs run in worker processes (``--jobs``,
one by default) with a memory limit; an input that raises what the target
does not allow is a *crash*, one that kills the worker (out of memory, say)
a crash too, one still running after ``--hang-seconds`` (2 s; time spent
waiting for a CPU that other work held is not counted, see RunQueue) a
*hang*.

A worker is handed a batch number, makes the batch's inputs itself from a
generator seeded with the seed, the target and the batch number, and runs
them, each under a timer of the hang time; it answers once per batch, so
the cost per input is the target's own.  When the timer fires the worker
reports the hang on that input and exits; should the timer not get to run
(stuck in C code), the parent, which sees which input a worker is on and
since when, kills it a second later and counts the hang itself.  After any
finding a new worker goes on with the rest of the batch.

Inputs start from the seeds in ``tests/fixtures/fuzz/TARGET/`` (plus the
target's own seeds), which are replayed first, and are mutated from the
seeded generator, so a run is reproducible for a given seed and count
whatever the number of workers.  With ``--save``, every finding is written
there as ``crash-<sha1>`` / ``hang-<sha1>``; a file kept there is replayed
by the test suite forever after.  The exit status is 1 when anything was
found.
"""

from __future__ import annotations

import argparse
import hashlib
import marshal
import mmap
import os
import random
import select
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CORPUS = ROOT / "tests" / "fixtures" / "fuzz"
for _path in (str(ROOT), str(HERE)):  # the targets, and pyser2net from this checkout
    if _path not in sys.path:
        sys.path.insert(0, _path)

from fuzz_targets import HARNESS_CHECKS, TARGETS, Target, prepare_sandbox  # noqa: E402

#: Address space a worker may use: beyond it allocations raise MemoryError.
WORKER_MEMORY = 1024 * 1024 * 1024
#: An input still running after this long is a hang.
HANG_SECONDS = 2.0


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


# -- inputs -------------------------------------------------------------------

#: Inputs per batch: a worker is handed a batch number and makes the batch's
#: inputs itself, from a generator seeded with the run's seed, the target and
#: the batch number, so no input crosses a pipe and any batch can be made
#: again (by the parent, to keep what a worker found).
BATCH = 200
#: For a byte-stream target, one input in this many is *large*: several
#: mutated seeds run together to a size between ``small_size`` and
#: ``max_size`` (log-uniform), the rest are cut to ``small_size``.  The
#: share is fixed, so a long stream is tried often without its cost
#: swamping the count, and large inputs are counted on their own.
LARGE_EVERY = 1000


def target_named(name: str) -> Target:
    """A target to fuzz, or one of the fuzzer's own checks."""
    return TARGETS[name] if name in TARGETS else HARNESS_CHECKS[name]


def load_seeds(target_name: str) -> List[bytes]:
    """The kept corpus, then the target's own seeds: replayed first, mutated after."""
    kept = [p.read_bytes() for p in corpus_files(target_name)]
    return kept + [s for s in target_named(target_name).seeds() if s not in kept]


def batch_inputs(target_name: str, seeds: Sequence[bytes], seed: int, batch: int) -> List[bytes]:
    """Batch ``batch`` of a run: ``BATCH`` inputs (batch -1: the seeds themselves)."""
    if batch < 0:
        return list(seeds)
    target = target_named(target_name)
    rng = random.Random(f"{seed}:{target_name}:{batch}")
    mutator = Mutator(rng, target.words, seeds)
    out = []
    for number in range(batch * BATCH, (batch + 1) * BATCH):
        if target.small_size is None:
            out.append(mutator.mutate(rng.choice(seeds), target.max_size))
        elif is_large(target_name, number):
            out.append(_large(rng, mutator, seeds, target.small_size, target.max_size))
        else:
            out.append(mutator.mutate(rng.choice(seeds), target.small_size))
    return out


def is_large(target_name: str, number: int) -> bool:
    """Whether mutated input ``number`` of a run is one of the large ones."""
    return (
        target_named(target_name).small_size is not None and number % LARGE_EVERY == LARGE_EVERY - 1
    )


def _large(
    rng: random.Random, mutator: Mutator, seeds: Sequence[bytes], small: int, most: int
) -> bytes:
    size = int(small * (most / small) ** rng.random())
    out = bytearray(mutator.mutate(rng.choice(seeds), most))
    while len(out) < size:
        out += mutator.mutate(rng.choice(seeds), most)
    return bytes(out[:size])


# -- worker -------------------------------------------------------------------

#: Where a worker says which input it is on: its number in the job, when it
#: started (CLOCK_MONOTONIC, the same in every process) and the worker's
#: wait for a CPU then (see RunQueue), or -1 between inputs.  The parent
#: reads it to name the input that killed a worker, or that ran past the
#: hang time without the worker's own timer firing.
_PROGRESS = struct.Struct("=qdd")


class RunQueue:
    """How long a process has waited for a CPU, in seconds (Linux's schedstat).

    The time an input takes is the time it held the worker less the time
    the worker waited for a CPU meanwhile: on a shared machine other work
    does not make an input slow (it would be as fast alone), while an
    input that blocks, on a FIFO say, is still counted in full.  Without
    schedstat the wait is 0 and the time is the wall-clock time.
    """

    def __init__(self, path: str) -> None:
        try:
            self.fd: Optional[int] = os.open(path, os.O_RDONLY)
        except OSError:
            self.fd = None

    def waited(self) -> float:
        if self.fd is None:
            return 0.0
        try:
            return int(os.pread(self.fd, 128, 0).split()[1]) / 1e9
        except (OSError, IndexError, ValueError):
            return 0.0

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _read_exact(fd: int, size: int) -> Optional[bytes]:
    chunks = []
    while size:
        chunk = os.read(fd, size)
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _send(fd: int, message: object) -> None:
    body = marshal.dumps(message)
    os.write(fd, struct.pack(">I", len(body)) + body)


def _receive(fd: int) -> Optional[object]:
    header = _read_exact(fd, 4)
    if header is None:
        return None
    body = _read_exact(fd, struct.unpack(">I", header)[0])
    return None if body is None else marshal.loads(body)


def worker(
    target_name: str, fd_in: int, fd_out: int, sandbox: str, seed: int, hang_seconds: float
) -> None:
    """Run jobs from ``fd_in``: each a batch number and a range of its inputs.

    Each input runs under a timer of ``hang_seconds``: when it fires and
    the input has taken that long (see RunQueue), the worker reports a hang
    on that input and exits.  A crash is reported
    the same way.  Either way the parent starts a new worker for the rest
    of the batch, so every input runs in a worker no earlier input broke.
    """
    import resource
    import traceback

    resource.setrlimit(resource.RLIMIT_AS, (WORKER_MEMORY, WORKER_MEMORY))
    os.chdir(sandbox)
    target = target_named(target_name)
    seeds = load_seeds(target_name)
    progress_fd = os.open(os.path.join(sandbox, "progress"), os.O_RDWR)
    progress = mmap.mmap(progress_fd, _PROGRESS.size)
    clock = time.monotonic
    waited = RunQueue("/proc/thread-self/schedstat").waited
    now: Dict[str, Any] = {"index": -1, "start": 0.0, "waited": 0.0, "ran": 0, "slow": []}
    now["slowest"] = now["slowest_large"] = 0.0

    def finish(finding: Optional[tuple]) -> None:
        _send(
            fd_out,
            {
                "ran": now["ran"],
                "slowest": now["slowest"],
                "slowest_large": now["slowest_large"],
                "slow": now["slow"],
                "finding": finding,
            },
        )

    def on_timer(_signum: int, _frame: object) -> None:
        took = clock() - now["start"] - (waited() - now["waited"])
        if took < hang_seconds:  # it waited for a CPU meanwhile: not yet
            signal.setitimer(signal.ITIMER_REAL, hang_seconds - took + 0.01)
            return
        now["ran"] += 1
        finish(("hang", now["index"], f"still running after {took:.2f} s", took))
        os._exit(0)

    signal.signal(signal.SIGALRM, on_timer)
    try:  # import everything the target uses before the clock runs for an input
        target.run(b"")
    except BaseException:
        pass
    while True:
        job = _receive(fd_in)
        if job is None:
            return
        batch, first, end = job  # type: ignore[misc]
        inputs = batch_inputs(target_name, seeds, seed, batch)
        large = {
            i for i in range(first, end) if batch >= 0 and is_large(target_name, batch * BATCH + i)
        }
        now.update(ran=0, slowest=0.0, slowest_large=0.0, slow=[])
        slow_after = hang_seconds / 4
        for index in range(first, end):
            data = inputs[index]
            start, before = clock(), waited()
            now["index"], now["start"], now["waited"] = index, start, before
            _PROGRESS.pack_into(progress, 0, index, start, before)
            signal.setitimer(signal.ITIMER_REAL, hang_seconds)
            try:
                target.run(data)
            except BaseException:  # a crash is anything the target lets out
                signal.setitimer(signal.ITIMER_REAL, 0)
                took = clock() - start - (waited() - before)
                now["ran"] += 1
                text = traceback.format_exc()[-4000:]
                finish(("crash", index, text, took))
                os._exit(0)
            took = clock() - start - (waited() - before)
            now["ran"] += 1
            if took > now["slowest"]:
                now["slowest"] = took
            if index in large and took > now["slowest_large"]:
                now["slowest_large"] = took
            if took > slow_after:
                now["slow"].append((index, took))
        signal.setitimer(signal.ITIMER_REAL, 0)
        _PROGRESS.pack_into(progress, 0, -1, 0.0, 0.0)
        finish(None)


class Worker:
    """The parent's handle on one worker process."""

    def __init__(self, target: str, sandbox: str, seed: int, hang_seconds: float) -> None:
        to_worker = os.pipe()
        from_worker = os.pipe()
        path = os.path.join(sandbox, "progress")
        with open(path, "wb") as f:
            f.write(_PROGRESS.pack(-1, 0.0, 0.0))
        with open(path, "r+b") as f:
            self.progress = mmap.mmap(f.fileno(), _PROGRESS.size)
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
                "--seed",
                str(seed),
                "--hang-seconds",
                repr(hang_seconds),
            ],
            pass_fds=(to_worker[0], from_worker[1]),
            stdin=subprocess.DEVNULL,
            cwd=sandbox,
        )
        os.close(to_worker[0])
        os.close(from_worker[1])
        self.sandbox = sandbox
        self.run_queue = RunQueue(f"/proc/{self.proc.pid}/schedstat")
        self.w = to_worker[1]
        self.r = from_worker[0]
        #: The job it runs: (batch, first, end), or None when idle.
        self.job: Optional[Tuple[int, int, int]] = None
        #: The input the backstop last found overdue (it acts on the second look).
        self.overdue: Optional[int] = None

    def start(self, job: Tuple[int, int, int]) -> bool:
        self.job = job
        try:
            _send(self.w, job)
        except BrokenPipeError:
            return False
        return True

    def current(self) -> Tuple[int, float]:
        """The input it is on (-1: none) and how long it has taken so far."""
        seen = _PROGRESS.unpack_from(self.progress, 0)
        while True:  # the worker may be writing it: two reads alike are one write
            again = _PROGRESS.unpack_from(self.progress, 0)
            if again == seen:
                break
            seen = again
        index, start, before = seen
        if index < 0 or not start:
            return -1, 0.0
        return index, time.monotonic() - start - (self.run_queue.waited() - before)

    def result(self) -> Optional[dict]:
        """The job's report, or None when the worker died without one."""
        try:
            message = _receive(self.r)
        except (OSError, ValueError, EOFError):
            return None
        return message if isinstance(message, dict) else None

    def stop(self) -> None:
        for fd in (self.w, self.r):
            try:
                os.close(fd)
            except OSError:
                pass
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.progress.close()
        self.run_queue.close()


# -- campaign -----------------------------------------------------------------

#: The parent's backstop: a worker whose input ran this much longer than the
#: hang time without its own timer reporting it (stuck in C code, say) is
#: killed, and the input counted as a hang.
BACKSTOP_GRACE = 1.0


@dataclass
class Report:
    target: str
    tried: int = 0
    crashes: List[Tuple[bytes, str]] = field(default_factory=list)
    hangs: List[Tuple[bytes, str]] = field(default_factory=list)
    slowest: float = 0.0
    #: Inputs that took more than a quarter of the hang time (not failures).
    slow: List[Tuple[bytes, float]] = field(default_factory=list)
    #: Of ``tried``, the large inputs of a byte-stream target, and the slowest of them.
    large: int = 0
    slowest_large: float = 0.0
    seconds: float = 0.0


def corpus_files(target: str) -> List[Path]:
    folder = CORPUS / target
    return sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []


class _Run:
    """One target's campaign: hands batches to the workers and collects what they find."""

    def __init__(
        self,
        target_name: str,
        seed: int,
        hang_seconds: float,
        sandboxes: List[str],
        keep: bool = False,
    ):
        self.target_name = target_name
        self.keep = keep
        self.seed = seed
        self.hang_seconds = hang_seconds
        self.seeds = load_seeds(target_name)
        self.report = Report(target_name)
        self.workers = [self._spawn(box) for box in sandboxes]
        self._made: Dict[int, List[bytes]] = {}

    def _spawn(self, sandbox: str) -> Worker:
        return Worker(self.target_name, sandbox, self.seed, self.hang_seconds)

    def _input(self, batch: int, index: int) -> bytes:
        if batch not in self._made:
            self._made = {batch: batch_inputs(self.target_name, self.seeds, self.seed, batch)}
        return self._made[batch][index]

    def _count(self, batch: int, first: int, end: int) -> None:
        self.report.tried += end - first
        if batch >= 0:
            base = batch * BATCH
            self.report.large += sum(
                is_large(self.target_name, base + i) for i in range(first, end)
            )

    def finished(self, worker: Worker, result: Optional[dict]) -> Optional[Tuple[int, int, int]]:
        """Account a job that ended; return what is left of it, if anything."""
        assert worker.job is not None
        batch, first, end = worker.job
        worker.job = None
        report = self.report
        if result is None:  # died: the input it was on killed it
            index, _took = worker.current()
            index = first if index < 0 else index
            code = worker.proc.wait()
            finding: Optional[tuple] = ("crash", index, f"worker died (exit status {code})", 0.0)
            ran = index - first + 1
        else:
            finding = result["finding"]
            ran = result["ran"]
            for index, took in result["slow"]:
                report.slow.append((self._input(batch, index), took))
            report.slowest = max(report.slowest, result["slowest"])
            if result["slowest_large"] > report.slowest_large:
                report.slowest_large = result["slowest_large"]
        self._count(batch, first, first + ran)
        if finding is None:
            return None
        kind, index, detail, took = finding
        report.slowest = max(report.slowest, took)
        data = self._input(batch, index)
        self._found(kind, data, detail)
        self._replace(worker)
        return (batch, index + 1, end) if index + 1 < end else None

    def overdue(self, worker: Worker) -> Optional[Tuple[int, int, int]]:
        """The backstop: kill a worker stuck on one input past the hang time."""
        index, took = worker.current()
        if worker.job is None or index < 0 or took < self.hang_seconds + BACKSTOP_GRACE:
            worker.overdue = None
            return None
        if worker.overdue != index:  # look again on the next round, to be sure
            worker.overdue = index
            return None
        batch, first, end = worker.job
        worker.job = None
        self._count(batch, first, index + 1)
        self.report.slowest = max(self.report.slowest, took)
        detail = f"no answer within {took:.2f} s (killed)"
        self._found("hang", self._input(batch, index), detail)
        self._replace(worker)
        return (batch, index + 1, end) if index + 1 < end else None

    def _found(self, kind: str, data: bytes, detail: str) -> None:
        (self.report.hangs if kind == "hang" else self.report.crashes).append((data, detail))
        if self.keep:  # at once: a long run may be stopped before it ends
            path = keep_finding(self.target_name, kind, data)
            print(f"kept {path.relative_to(ROOT)}", file=sys.stderr, flush=True)

    def _replace(self, worker: Worker) -> None:
        sandbox = worker.sandbox
        worker.stop()
        self.workers[self.workers.index(worker)] = self._spawn(sandbox)

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()


def campaign(
    target_name: str,
    *,
    seed: int,
    seconds: Optional[float],
    count: Optional[int],
    hang_seconds: float,
    replay_only: bool = False,
    verbose: bool = False,
    jobs: int = 1,
    keep: bool = False,
) -> Report:
    """The corpus and seeds, then mutated inputs until ``seconds`` or ``count`` is reached.

    ``count`` is of mutated inputs; ``report.tried`` counts the corpus too.
    With ``keep``, each finding is written to the corpus as it is found.
    SIGINT or SIGTERM (see ``main``) ends a run early: the batches under
    way are finished and reported.
    """
    started = time.monotonic()
    deadline = started + seconds if seconds is not None else None
    with tempfile.TemporaryDirectory(prefix="pyser2net-fuzz-") as root:
        sandboxes = []
        for number in range(max(1, jobs)):
            sandbox = os.path.join(root, str(number))
            os.mkdir(sandbox)
            prepare_sandbox(sandbox)
            sandboxes.append(sandbox)
        run = _Run(target_name, seed, hang_seconds, sandboxes, keep)
        todo: List[Tuple[int, int, int]] = [(-1, 0, len(run.seeds))]
        next_batch = 0
        next_note = started + 30

        def more() -> Optional[Tuple[int, int, int]]:
            nonlocal next_batch
            if todo:
                return todo.pop(0)
            if replay_only or STOP.is_set():
                return None
            if next_batch and deadline is not None and time.monotonic() >= deadline:
                return None  # (one batch at least, however slow the start)
            end = BATCH
            if count is not None:
                end = min(BATCH, count - next_batch * BATCH)
                if end <= 0:
                    return None
            next_batch += 1
            return (next_batch - 1, 0, end)

        try:
            while True:
                for worker in run.workers:
                    if worker.job is None:
                        job = more()
                        if job is not None and not worker.start(job):
                            todo.insert(0, run.finished(worker, None) or job)
                busy = {w.r: w for w in run.workers if w.job is not None}
                if not busy:
                    break
                ready, _, _ = select.select(list(busy), [], [], 0.25)
                for fd in ready:
                    worker = busy[fd]
                    left = run.finished(worker, worker.result())
                    if left is not None:
                        todo.insert(0, left)
                if verbose and time.monotonic() >= next_note:
                    next_note = time.monotonic() + 30
                    _note(run.report, started)
                for fd, worker in busy.items():
                    if fd not in ready:
                        left = run.overdue(worker)
                        if left is not None:
                            todo.insert(0, left)
        finally:
            run.stop()
    run.report.seconds = time.monotonic() - started
    return run.report


#: Set by SIGINT or SIGTERM: no new batches; the run reports what it did.
STOP = threading.Event()


def _stop(_signum: int, _frame: object) -> None:
    STOP.set()


def _note(report: Report, started: float) -> None:
    took = time.monotonic() - started
    print(
        f"{report.target}: {report.tried} inputs in {took:.0f} s ({report.tried / took:.0f}/s), "
        f"{len(report.crashes)} crashes, {len(report.hangs)} hangs, "
        f"slowest {report.slowest:.2f} s, load {os.getloadavg()[0]:.1f}",
        file=sys.stderr,
        flush=True,
    )


def keep_finding(target: str, kind: str, data: bytes) -> Path:
    """Write an input that found a problem to the corpus, where it stays."""
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{kind}-{hashlib.sha1(data).hexdigest()[:16]}"
    path.write_bytes(data)
    return path


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", help="default: all")
    parser.add_argument("--seconds", type=float, help="time per target")
    parser.add_argument("--count", type=int, help="mutated inputs per target")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--hang-seconds", type=float, default=HANG_SECONDS)
    parser.add_argument("--replay", action="store_true", help="only the corpus and seeds")
    parser.add_argument("--save", action="store_true", help="keep findings in the corpus")
    parser.add_argument("-v", "--verbose", action="store_true", help="progress on stderr")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--fds", help=argparse.SUPPRESS)
    parser.add_argument("--sandbox", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        fd_in, fd_out = (int(x) for x in args.fds.split(","))
        worker(args.worker, fd_in, fd_out, args.sandbox, args.seed, args.hang_seconds)
        return 0
    names = args.targets or list(TARGETS)
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        parser.error(f"unknown target(s) {', '.join(unknown)}; known: {', '.join(TARGETS)}")
    if args.seconds is None and args.count is None and not args.replay:
        args.seconds = 10.0
    found = False
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _stop)
    print(
        f"{'target':<14} {'inputs':>9} {'large':>6} {'crashes':>7} {'hangs':>5} "
        f"{'slowest':>8} {'large':>8} {'slow':>5} {'time':>7} {'load':>5}"
    )
    for name in names:
        if STOP.is_set():
            break
        report = campaign(
            name,
            seed=args.seed,
            seconds=args.seconds,
            count=args.count,
            hang_seconds=args.hang_seconds,
            replay_only=args.replay,
            verbose=args.verbose,
            jobs=args.jobs,
            keep=args.save,
        )
        print(
            f"{name:<14} {report.tried:>9} {report.large:>6} {len(report.crashes):>7} "
            f"{len(report.hangs):>5} {report.slowest:>7.2f}s {report.slowest_large:>7.2f}s "
            f"{len(report.slow):>5} {report.seconds:>6.0f}s {os.getloadavg()[0]:>5.1f}"
            + (" (stopped)" if STOP.is_set() else ""),
            flush=True,
        )
        if args.verbose:
            for data, took in report.slow[:5]:
                print(f"slow {took:.2f}s {len(data)} bytes: {data[:160]!r}", file=sys.stderr)
        if report.crashes or report.hangs:
            found = True
            for data, detail in (report.crashes + report.hangs)[:3]:
                print(f"--- {name}: {data[:120]!r}...\n{detail}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
