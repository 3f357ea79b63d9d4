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


# -- many deadlines behind one loop timer ------------------------------------------


def test_queued_slots_fire_in_deadline_order(loop):
    fired = []
    queue = loop.reactor.deadlines
    slots = [queue.slot(lambda n=n: fired.append((n, loop.clock.now))) for n in range(3)]
    slots[0].arm_at(1003.0)
    slots[1].arm_at(1001.0)
    slots[2].arm_at(1002.0)
    assert [s.when for s in slots] == [1003.0, 1001.0, 1002.0]
    loop.advance(0.5)
    assert fired == []
    loop.advance(0.5)
    assert fired == [(1, 1001.0)]
    loop.advance(2.0)
    assert fired == [(1, 1001.0), (2, 1003.0), (0, 1003.0)]
    assert not any(s.pending for s in slots)


def test_a_queued_slot_moved_later_fires_only_at_the_later_deadline(loop):
    fired = []
    slot = loop.reactor.deadlines.slot(lambda: fired.append(loop.clock.now))
    slot.arm_at(1001.0)
    slot.arm_at(1002.5)
    loop.advance(1.0)  # the first deadline passes: nothing yet
    assert fired == [] and slot.pending and slot.when == 1002.5
    loop.advance(1.4)
    assert fired == []
    loop.advance(0.1)
    assert fired == [1002.5]
    loop.advance(5.0)
    assert fired == [1002.5]


def test_a_queued_slot_moved_earlier_fires_once_at_the_earlier_deadline(loop):
    fired = []
    slot = loop.reactor.deadlines.slot(lambda: fired.append(loop.clock.now))
    slot.arm_at(1005.0)
    slot.arm_at(1001.0)
    loop.advance(1.0)
    assert fired == [1001.0]
    loop.advance(10.0)
    assert fired == [1001.0]


def test_a_cancelled_queued_slot_never_fires_and_can_be_armed_again(loop):
    fired = []
    slot = loop.reactor.deadlines.slot(lambda: fired.append(loop.clock.now))
    slot.arm_at(1001.0)
    slot.cancel()
    assert not slot.pending and slot.when is None
    loop.advance(2.0)
    assert fired == []
    slot.arm_at(1003.0)
    loop.advance(1.0)
    assert fired == [1003.0]


def test_a_failing_queued_callback_does_not_stop_the_others(loop, caplog):
    fired = []
    queue = loop.reactor.deadlines

    def boom() -> None:
        raise RuntimeError("boom")

    bad = queue.slot(boom)
    good = queue.slot(lambda: fired.append(loop.clock.now))
    bad.arm_at(1001.0)
    good.arm_at(1001.0)
    later = queue.slot(lambda: fired.append(loop.clock.now))
    later.arm_at(1002.0)
    loop.advance(1.0)
    assert fired == [1001.0]
    assert "boom" in caplog.text
    loop.advance(1.0)
    assert fired == [1001.0, 1002.0]


def test_pending_deadlines_let_the_loop_wake_a_little_later_for_several():
    from pyser2net.runtime.reactor import Reactor
    from pyser2net.runtime.timers import COALESCE

    def armed_for(deadlines):
        reactor = Reactor()  # the real clock: the loop sleeps on a timerfd
        tfd = reactor._timerfd
        try:
            if tfd is None:
                pytest.skip("no timerfd here (not Linux)")
            start = reactor.now() + 60.0
            for offset in deadlines:
                reactor.deadlines.slot(lambda: None).arm_at(start + offset)
            reactor._wait(None)
            return tfd.armed - start
        finally:
            reactor.close()

    # One hold alone (one busy port) wakes the loop on time; set while
    # others are pending, the wake-up may come up to COALESCE late, to
    # serve several.
    assert armed_for([0.0]) == 0.0
    assert armed_for([COALESCE / 2, 0.0]) == pytest.approx(COALESCE)


def test_a_turn_after_a_deadline_runs_it_whatever_the_room_to_wake_later(loop):
    fired = []
    queue = loop.reactor.deadlines
    slots = [queue.slot(lambda n=n: fired.append(n)) for n in range(2)]
    slots[0].arm_at(1001.0)
    slots[1].arm_at(1002.0)
    loop.clock.now = 1001.0
    loop.turn(1)
    assert fired == [0]
    loop.clock.now = 1002.0
    loop.turn(1)
    assert fired == [0, 1]


def test_queued_deadlines_set_out_of_order_fire_in_the_order_they_fall_due(loop):
    # Deadlines set in order wait in a line, the others in a heap: the two
    # are taken together, earliest first, one turn after another and in one.
    fired = []
    queue = loop.reactor.deadlines
    order = [1003.0, 1001.0, 1004.0, 1002.0, 1004.0, 1001.5, 1006.0]
    for n, when in enumerate(order):
        queue.slot(lambda n=n: fired.append((order[n], loop.clock.now))).arm_at(when)
    loop.advance(1.0)
    assert fired == [(1001.0, 1001.0)]
    loop.advance(0.5)
    assert fired[1:] == [(1001.5, 1001.5)]
    loop.clock.now = 1004.0
    loop.turn(1)
    assert [when for when, _ in fired] == [1001.0, 1001.5, 1002.0, 1003.0, 1004.0, 1004.0]
    loop.advance(2.0)
    assert [when for when, _ in fired] == sorted(order)
