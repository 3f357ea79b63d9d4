"""Timer slots: at most one pending call, replaced by arming again."""

from __future__ import annotations

import pytest
from fakeloop import FakeLoop

from pyser2net.runtime.timers import TimerSlot


@pytest.fixture
def loop():
    loop = FakeLoop()
    yield loop
    loop.close()


def test_a_slot_fires_once_at_its_deadline(loop):
    fired = []
    slot = TimerSlot(loop.reactor, lambda: fired.append(loop.clock.now))
    assert not slot.pending and slot.when is None
    slot.arm(2.0)
    assert slot.pending and slot.when == loop.clock.now + 2.0
    loop.advance(1.999)
    assert fired == []
    loop.advance(0.001)
    assert fired == [1002.0]
    assert not slot.pending
    loop.advance(10)
    assert fired == [1002.0]


def test_arming_again_replaces_the_pending_call(loop):
    fired = []
    slot = TimerSlot(loop.reactor, lambda: fired.append(loop.clock.now))
    slot.arm(1.0)
    slot.arm(3.0)
    loop.advance(2.0)
    assert fired == []
    loop.advance(1.0)
    assert fired == [1003.0]


def test_ensure_keeps_a_pending_call(loop):
    fired = []
    slot = TimerSlot(loop.reactor, lambda: fired.append(loop.clock.now))
    slot.ensure(1.0)
    slot.ensure(5.0)
    loop.advance(1.0)
    assert fired == [1001.0]
    slot.ensure(5.0)  # idle again: arms
    loop.advance(5.0)
    assert fired == [1001.0, 1006.0]


def test_arm_at_and_cancel(loop):
    fired = []
    slot = TimerSlot(loop.reactor, lambda: fired.append(loop.clock.now))
    slot.arm_at(1004.0)
    assert slot.when == 1004.0
    slot.cancel()
    slot.cancel()  # harmless twice
    loop.advance(10)
    assert fired == [] and not slot.pending


def test_the_callback_may_arm_its_own_slot(loop):
    fired = []

    def tick() -> None:
        fired.append(loop.clock.now)
        if len(fired) < 3:
            slot.arm(1.0)

    slot = TimerSlot(loop.reactor, tick)
    slot.arm(1.0)
    for _ in range(5):
        loop.advance(1.0)
    assert fired == [1001.0, 1002.0, 1003.0]
