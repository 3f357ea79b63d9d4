"""One optional pending call, as a field that is never ``Optional``.

A port needs several timers that are each either pending or not: the
chardelay flush, the device reopen, the bind retry, the idle check...  Kept
as ``Optional[Timer]`` fields, every use repeats "cancel if set, set to
None, schedule, store", and forgetting the ``None`` in a callback leaves a
dead handle that blocks the next schedule.  A ``TimerSlot`` holds that
pattern once: at most one call is pending, arming again replaces it, and
the slot is empty again before its callback runs (so the callback may arm
it anew).

The slot only needs ``now()`` and ``call_later()``: the reactor provides
them, and so does a reactor built on a fake clock in tests.
"""

from __future__ import annotations

import collections
import heapq
import itertools
import logging
from typing import Callable, Deque, List, Optional, Protocol, Tuple

Callback = Callable[[], None]

log = logging.getLogger(__name__)


class Handle(Protocol):
    when: float

    def cancel(self) -> None: ...


class Scheduler(Protocol):
    """What a slot needs of the event loop (``Reactor`` is one)."""

    now: Callable[[], float]

    def call_later(self, delay: float, callback: Callback) -> Handle: ...

    def call_at(self, when: float, callback: Callback, slack: float = 0.0) -> Handle: ...


class TimerSlot:
    """At most one pending call of ``callback``."""

    __slots__ = ("_scheduler", "_callback", "_handle")

    def __init__(self, scheduler: Scheduler, callback: Callback) -> None:
        self._scheduler = scheduler
        self._callback = callback
        self._handle: Optional[Handle] = None

    @property
    def pending(self) -> bool:
        return self._handle is not None

    @property
    def when(self) -> Optional[float]:
        """The clock reading the call is due at, or None when idle."""
        return self._handle.when if self._handle is not None else None

    def arm(self, delay: float) -> None:
        """Call in ``delay`` seconds, replacing any pending call."""
        if self._handle is not None:
            self._handle.cancel()
        self._handle = self._scheduler.call_later(delay, self._fire)

    def arm_at(self, when: float, slack: float = 0.0) -> None:
        """Call at clock reading ``when``, replacing any pending call
        (``slack``: see ``Reactor.call_at``).

        No clock reading here: the chardelay hold re-arms on every read.
        """
        if self._handle is not None:
            self._handle.cancel()
        self._handle = self._scheduler.call_at(when, self._fire, slack)

    def ensure(self, delay: float) -> None:
        """Call in ``delay`` seconds unless a call is already pending."""
        if self._handle is None:
            self.arm(delay)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _fire(self) -> None:
        self._handle = None
        callback = self._callback  # a local: 3.11 cannot specialise a slot's call
        callback()


#: How late the loop may wake up for a deadline while others are pending.
#: A console server with a hundred busy ports has a chardelay flush due
#: every few tens of microseconds; waking up for each would double the
#: wake-ups of its device reads.  With this much room, a flush is done by
#: the turn that reads the next device, or one wake-up does several: a
#: 1 ms hold ends at most 5 % late.  A lone hold (one busy port, the
#: chardelay benchmark) wakes the loop on time, as before.
COALESCE = 50e-6


class DeadlineQueue:
    """Many slots' deadlines behind one timer of the event loop.

    Each read of a console's device starts a chardelay hold, so a console
    server with a hundred devices sets thousands of deadlines a second.  As
    timers of the loop each would be an object to allocate, push and pop
    and a callback of its own.  Here the deadlines are plain tuples; the
    loop's one timer is set for the earliest, and when it fires every
    deadline due by then runs in the same turn.

    The holds of ports at one speed all last the same, so their deadlines
    are set in the order they fall due: such a deadline joins the end of a
    line, taken from the front, with no comparisons (a heap of a few dozen
    holds cost six tuple comparisons to take each).  A deadline earlier
    than the line's last (a port at another speed, ``chardelay-max``
    cutting a hold short) goes to a heap instead; the two are taken in
    the order of their deadlines.
    """

    def __init__(self, scheduler: Scheduler) -> None:
        self._scheduler = scheduler
        self._line: Deque[Tuple[float, QueuedSlot]] = collections.deque()
        self._heap: List[Tuple[float, int, QueuedSlot]] = []
        self._sequence = itertools.count()
        self._timer = TimerSlot(scheduler, self._expired)
        #: The deadline the loop's timer is set for, None when it is not.
        self._armed_for: Optional[float] = None

    def slot(self, callback: Callback) -> QueuedSlot:
        """A slot with ``TimerSlot``'s ``arm_at``, ``cancel``, ``pending``, ``when``."""
        return QueuedSlot(self, callback)

    def _push(self, when: float, slot: QueuedSlot) -> None:
        line = self._line
        if not line or when >= line[-1][0]:
            line.append((when, slot))
        else:
            heapq.heappush(self._heap, (when, next(self._sequence), slot))
        armed = self._armed_for
        if armed is None or when < armed:
            self._arm(when)

    def _arm(self, when: float) -> None:
        self._armed_for = when
        several = len(self._line) + len(self._heap) > 1
        self._timer.arm_at(when, COALESCE if several else 0.0)

    def _expired(self) -> None:
        # The loop runs a timer as soon as it is due within its wake-up
        # delay: everything up to the deadline it was set for is due too.
        line, heap, pop, take = self._line, self._heap, heapq.heappop, self._line.popleft
        assert self._armed_for is not None
        limit = max(self._armed_for, self._scheduler.now())
        self._armed_for = None
        while True:
            if heap and (not line or heap[0][0] < line[0][0]):
                if heap[0][0] > limit:
                    break
                entry, _, slot = pop(heap)
            elif line and line[0][0] <= limit:
                entry, slot = take()
            else:
                break
            # QueuedSlot's side of it, inline: one call less per deadline.
            if entry != slot._entry:
                continue  # replaced by an earlier deadline, or cancelled
            slot._entry = None
            when = slot._when
            if when is None:
                continue
            if when > entry:
                slot._entry = when  # moved later: queued again for then
                self._push(when, slot)
                continue
            slot._when = None
            callback = slot._callback  # a local: 3.11 cannot specialise a slot's call
            try:
                callback()
            except Exception:  # noqa: BLE001 - logged with traceback, the others still run
                log.exception("internal error in %r", slot._callback)
        if self._armed_for is None and (line or heap):
            if not heap:
                self._arm(line[0][0])
            elif not line:
                self._arm(heap[0][0])
            else:
                self._arm(min(line[0][0], heap[0][0]))


class QueuedSlot:
    """At most one pending call, its deadline kept in a ``DeadlineQueue``.

    Moving the deadline later (the common case: more bytes extend a hold)
    costs no queue entry: the entry already queued comes due first and is
    put back for the new deadline.
    """

    __slots__ = ("_queue", "_callback", "_when", "_entry")

    def __init__(self, queue: DeadlineQueue, callback: Callback) -> None:
        self._queue = queue
        self._callback = callback
        self._when: Optional[float] = None  # the deadline
        self._entry: Optional[float] = None  # the deadline of the live queue entry

    @property
    def pending(self) -> bool:
        return self._when is not None

    @property
    def when(self) -> Optional[float]:
        return self._when

    def arm_at(self, when: float) -> None:
        """Call at clock reading ``when``, replacing any pending call."""
        self._when = when
        entry = self._entry
        if entry is None or when < entry:
            self._entry = when
            self._queue._push(when, self)

    def cancel(self) -> None:
        self._when = self._entry = None


def cancel_all(*slots: TimerSlot) -> None:
    for slot in slots:
        slot.cancel()
