"""The idle watch: quiet clients and stuck queues, on a fake clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional

import pytest
from fakeloop import FakeLoop

from pyser2net.runtime.idle import IdleWatch, QueueProgress


@dataclass(eq=False)
class Client:
    last_activity: float
    idle_timeout: float = 10
    closing: bool = False
    kernel_queued: int = 0
    stalled_since: Optional[float] = None
    progress: QueueProgress = field(default_factory=lambda: QueueProgress(1000.0))

    def stuck_for(self, now: float) -> float:
        return self.progress.stuck_for(self.kernel_queued, self.stalled_since, now)


@pytest.fixture
def loop():
    loop = FakeLoop()
    yield loop
    loop.close()


def watch_over(loop, clients: List[Client], on_queue=False):
    expired: List[Client] = []

    def drop(c) -> None:
        expired.append(c)
        c.closing = True

    watch = IdleWatch(loop.reactor, lambda: clients, drop, on_queue)
    return watch, expired


def test_a_quiet_client_is_closed_after_its_timeout(loop):
    quiet, busy = Client(1000.0), Client(1000.0)
    watch, expired = watch_over(loop, [quiet, busy])
    watch.rearm()
    loop.advance(5)
    busy.last_activity = loop.clock.now
    loop.advance(5)
    assert expired == [quiet]
    loop.advance(4.9)
    assert expired == [quiet]
    loop.advance(0.1)
    assert expired == [quiet, busy]
    assert loop.reactor._timers == [] or all(t[2].cancelled for t in loop.reactor._timers)


def test_no_timeout_no_timer(loop):
    watch, expired = watch_over(loop, [Client(1000.0, idle_timeout=0)])
    watch.rearm()
    assert loop.reactor._timers == []
    loop.advance(1e6)
    assert expired == []


def test_a_changed_timeout_applies_at_the_next_rearm(loop):
    c = Client(1000.0, idle_timeout=100)
    watch, expired = watch_over(loop, [c])
    watch.rearm()
    c.idle_timeout = 2
    watch.rearm()
    loop.advance(2)
    assert expired == [c]


def test_a_stuck_kernel_queue_closes_a_client_the_device_keeps_busy(loop):
    c = Client(1000.0, idle_timeout=3)
    watch, expired = watch_over(loop, [c], on_queue=True)
    watch.rearm()
    c.kernel_queued = 5000
    for _ in range(2):
        loop.advance(1)
        c.last_activity = loop.clock.now  # device data counts as activity
    assert expired == []
    c.kernel_queued = 4000  # the client took some: progress
    loop.advance(1)
    c.last_activity = loop.clock.now
    assert expired == []
    for _ in range(3):
        loop.advance(1)
        c.last_activity = loop.clock.now
    assert expired == [c]


def test_queue_progress_counts_our_own_queue_too():
    p = QueueProgress(0.0)
    assert p.stuck_for(0, None, 5.0) == 0.0
    assert p.stuck_for(100, None, 6.0) == 1.0
    assert p.stuck_for(100, 2.0, 7.0) == 5.0
    assert p.stuck_for(50, None, 8.0) == 0.0
