"""Child processes read by the event loop: output, failures, deadline, cancel."""

from __future__ import annotations

import os
import sys
import time
from typing import Iterator, List, Optional, Tuple

import pytest

from pyser2net.runtime.childread import ChildRead
from pyser2net.runtime.reactor import Reactor


@pytest.fixture
def loop() -> Iterator[Reactor]:
    reactor = Reactor()
    yield reactor
    reactor.close()


def run(
    loop: Reactor, code: str, data: bytes = b"", deadline: float = 30.0, limit: int = 1 << 20
) -> Tuple[Optional[bytes], str, ChildRead]:
    results: List[Tuple[Optional[bytes], str]] = []
    child = ChildRead(
        loop,
        [sys.executable, "-c", code],
        data,
        lambda out, why: results.append((out, why)),
        deadline=deadline,
        limit=limit,
    )
    end = time.monotonic() + 60
    while not results and time.monotonic() < end:
        loop.run_once(0.1)
    assert len(results) == 1
    return results[0][0], results[0][1], child


def gone(pid: Optional[int]) -> bool:
    assert pid is not None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_the_output_of_a_child_that_exits_cleanly(loop):
    code = "import sys; sys.stdout.write(sys.stdin.read().upper() * 100000)"
    out, why, child = run(loop, code, b"abc")
    assert (out, why) == (b"ABC" * 100000, "")
    assert gone(child.pid)


def test_a_child_that_fails_gives_no_output(loop):
    out, why, _ = run(loop, "import sys; print('partial'); sys.exit(3)")
    assert out is None and why == "the reader failed (exit status 3)"


def test_a_child_past_its_deadline_is_killed(loop):
    out, why, child = run(loop, "import time; time.sleep(60)", deadline=0.5)
    assert out is None and why == "it took longer than 0.5 s"
    assert gone(child.pid)


def test_a_child_that_writes_too_much_is_killed(loop):
    out, why, child = run(
        loop,
        "import sys, time; sys.stdout.write('x' * 5000); sys.stdout.flush(); time.sleep(60)",
        limit=1000,
    )
    assert out is None and why == "its output is larger than 1000 bytes"
    assert gone(child.pid)


def test_a_cancelled_child_is_killed_and_says_nothing(loop):
    results: List[object] = []
    watched = loop.watched()
    child = ChildRead(
        loop,
        [sys.executable, "-c", "import time; time.sleep(60)"],
        b"",
        lambda out, why: results.append(why),
        deadline=30,
        limit=100,
    )
    loop.run_once(0.05)
    child.cancel()
    assert gone(child.pid)
    for _ in range(5):
        loop.run_once(0.01)
    assert results == [] and loop.watched() == watched
