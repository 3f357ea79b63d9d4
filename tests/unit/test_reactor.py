"""The event loop: timers in order, cancellation, descriptors, faulty callbacks."""

from __future__ import annotations

import os
import select
import time

import pytest

from pyser2net.runtime.reactor import Reactor, _EpollPoller, _SelectorPoller

#: Linux uses epoll directly; the portable ``selectors`` poller must behave alike.
POLLERS = [pytest.param(_EpollPoller, id="epoll"), pytest.param(_SelectorPoller, id="selectors")]


def run_until(reactor: Reactor, done, turns: int = 200) -> None:
    for _ in range(turns):
        if done():
            return
        reactor.run_once(timeout=0.05)
    raise AssertionError("condition never met")


def test_timers_fire_in_deadline_order_and_cancelled_ones_never():
    reactor = Reactor()
    fired = []
    reactor.call_later(0.03, lambda: fired.append("late"))
    early = reactor.call_later(0.01, lambda: fired.append("early"))
    reactor.call_later(0.02, lambda: fired.append("middle"))
    cancelled = reactor.call_later(0.015, lambda: fired.append("cancelled"))
    cancelled.cancel()
    run_until(reactor, lambda: len(fired) == 3)
    assert fired == ["early", "middle", "late"]
    early.cancel()  # cancelling a timer that already ran is harmless
    reactor.close()


def test_an_expired_timerfd_is_set_again_or_disarmed_instead_of_read():
    reactor = Reactor()
    tfd = reactor._timerfd
    if tfd is None:
        pytest.skip("no timerfd here (not Linux)")
    fired = []

    def readable() -> bool:
        return bool(select.select([tfd.fd], [], [], 0)[0])

    reactor.call_later(0.002, lambda: fired.append("first"))
    reactor.call_later(0.004, lambda: fired.append("second"))
    for _ in range(100):  # each turn sleeps until the next timer
        if len(fired) == 2:
            break
        reactor.run_once()
    assert fired == ["first", "second"]
    # It expired and nothing is left to wait for: the next turn disarms it
    # rather than finding it readable turn after turn.
    assert readable()
    reactor.run_once(timeout=0)
    assert not readable() and not tfd.stale
    # Armed again, it wakes the loop at the new deadline: one turn.
    reactor.call_later(0.002, lambda: fired.append("third"))
    reactor.run_once()
    assert fired[2:] == ["third"]
    reactor.close()


@pytest.mark.parametrize("poller", POLLERS)
def test_readers_and_writers_are_dispatched(poller):
    reactor = Reactor(poller=poller())
    rfd, wfd = os.pipe()
    got = []
    reactor.add_reader(rfd, lambda: got.append(os.read(rfd, 100)))
    reactor.add_writer(wfd, lambda: (os.write(wfd, b"ping"), reactor.remove_writer(wfd)))
    run_until(reactor, lambda: got == [b"ping"])
    reactor.forget(rfd)
    assert rfd not in reactor.watched()
    os.close(rfd)
    os.close(wfd)
    reactor.close()


@pytest.mark.parametrize("poller", POLLERS)
def test_a_hang_up_wakes_the_reader_and_interest_can_change(poller):
    reactor = Reactor(poller=poller())
    rfd, wfd = os.pipe()
    seen = []
    reactor.add_reader(rfd, lambda: seen.append(os.read(rfd, 100)))
    reactor.add_writer(rfd, lambda: None)  # a read end is never writable
    reactor.remove_writer(rfd)
    os.close(wfd)  # the reader sees end of file
    run_until(reactor, lambda: seen == [b""])
    reactor.remove_reader(rfd)
    assert rfd not in reactor.watched()
    reactor.run_once(timeout=0)
    assert seen == [b""]  # forgotten: no more calls
    os.close(rfd)
    reactor.close()


@pytest.mark.parametrize("poller", POLLERS)
def test_a_failing_callback_does_not_stop_the_loop(poller, caplog):
    reactor = Reactor(poller=poller())
    fired = []

    def broken() -> None:
        raise RuntimeError("boom")

    reactor.call_later(0.0, broken)
    reactor.call_later(0.01, lambda: fired.append(True))
    run_until(reactor, lambda: fired)
    assert "internal error" in caplog.text
    reactor.close()


def test_injected_clock_drives_timers_without_sleeping():
    now = [100.0]
    reactor = Reactor(clock=lambda: now[0])
    fired = []
    reactor.call_later(5.0, lambda: fired.append(now[0]))
    reactor.run_once(timeout=0)
    assert fired == []
    now[0] = 105.0
    reactor.run_once(timeout=0)
    assert fired == [105.0]
    reactor.close()


def test_timers_due_within_the_usual_wake_up_delay_run_now():
    reactor = Reactor()
    assert reactor._timerfd is not None, "Linux has timerfd"
    reactor._timerfd.lead = 0.05
    fired = []
    reactor.call_later(0.03, lambda: fired.append("soon"))
    reactor.call_later(0.5, lambda: fired.append("later"))
    reactor.run_once(timeout=0)
    assert fired == ["soon"]
    reactor.close()


def test_the_timerfd_learns_its_wake_up_delay_within_a_cap():
    reactor = Reactor()
    tfd = reactor._timerfd
    assert tfd is not None and tfd.lead == 0.0
    # A deadline long gone: one very late wake-up counts as MAX_LEAD only.
    tfd.arm(time.monotonic() - 1.0)
    reactor.run_once()
    assert tfd.lead == tfd.MAX_LEAD / 8
    fired = []
    for n in range(1, 11):
        reactor.call_later(0.001, lambda: fired.append(True))
        while len(fired) < n:
            reactor.run_once()  # no timeout: the timerfd wakes the loop
    assert 0.0 < tfd.lead <= tfd.MAX_LEAD
    reactor.close()
