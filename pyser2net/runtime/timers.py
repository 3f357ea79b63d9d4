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

from typing import Callable, Optional, Protocol

Callback = Callable[[], None]


class Handle(Protocol):
    when: float

    def cancel(self) -> None: ...


class Scheduler(Protocol):
    """What a slot needs of the event loop (``Reactor`` is one)."""

    now: Callable[[], float]

    def call_later(self, delay: float, callback: Callback) -> Handle: ...

    def call_at(self, when: float, callback: Callback) -> Handle: ...


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

    def arm_at(self, when: float) -> None:
        """Call at clock reading ``when``, replacing any pending call.

        No clock reading here: the chardelay hold re-arms on every read.
        """
        if self._handle is not None:
            self._handle.cancel()
        self._handle = self._scheduler.call_at(when, self._fire)

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
        self._callback()


def cancel_all(*slots: TimerSlot) -> None:
    for slot in slots:
        slot.cancel()
