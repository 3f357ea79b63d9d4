"""The single-threaded event loop: one ``selectors`` selector and a timer heap.

Everything pyser2net does happens in callbacks run from here, so no state
is ever shared between threads and no lock is ever needed.  An idle daemon
sleeps in ``select()`` until a socket, a device or the next timer needs it:
there is no polling interval.
"""

from __future__ import annotations

import ctypes
import heapq
import itertools
import logging
import os
import selectors
import time
from typing import Callable, Dict, List, Optional, Tuple

log = logging.getLogger(__name__)

Callback = Callable[[], None]


class Timer:
    """A handle to a scheduled call; ``cancel()`` is cheap and idempotent."""

    __slots__ = ("when", "callback", "cancelled")

    def __init__(self, when: float, callback: Callback) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


def _tighten_timer_slack() -> None:
    """Ask Linux to wake us on time (1 ns slack instead of 50 us).

    chardelay holds device bytes for about a millisecond; the default slack
    adds a twentieth to every such wait.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(29, 1, 0, 0, 0)  # PR_SET_TIMERSLACK
    except (OSError, AttributeError):
        pass


class _ITimerSpec(ctypes.Structure):
    _fields_ = [("interval_sec", ctypes.c_long), ("interval_nsec", ctypes.c_long),
                ("value_sec", ctypes.c_long), ("value_nsec", ctypes.c_long)]


class _TimerFd:
    """A Linux timerfd armed at the next timer's deadline.

    epoll sleeps in whole milliseconds, rounded up, so a 1 ms chardelay
    hold became nearly 2 ms of scheduling; a timerfd wakes the selector at
    the exact (CLOCK_MONOTONIC, like time.monotonic) deadline instead.
    """

    CLOCK_MONOTONIC = 1
    TFD_TIMER_ABSTIME = 1
    TFD_NONBLOCK = os.O_NONBLOCK
    TFD_CLOEXEC = os.O_CLOEXEC

    def __init__(self) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        self._settime = libc.timerfd_settime
        self.fd = libc.timerfd_create(self.CLOCK_MONOTONIC, self.TFD_NONBLOCK | self.TFD_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "timerfd_create failed")
        self.armed: Optional[float] = None

    def arm(self, when: float) -> None:
        if when == self.armed:
            return
        sec = int(when)
        spec = _ITimerSpec(0, 0, sec, int((when - sec) * 1e9))
        if self._settime(self.fd, self.TFD_TIMER_ABSTIME, ctypes.byref(spec), None) < 0:
            raise OSError(ctypes.get_errno(), "timerfd_settime failed")
        self.armed = when

    def fired(self) -> None:
        self.armed = None
        try:
            os.read(self.fd, 8)
        except BlockingIOError:
            pass


def _make_timerfd() -> Optional[_TimerFd]:
    try:
        return _TimerFd()
    except (OSError, AttributeError):
        return None  # not Linux: fall back to the selector's own timeout


class Reactor:
    """Dispatches readiness of file descriptors and expiry of timers."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        _tighten_timer_slack()
        self._selector = selectors.DefaultSelector()
        self._readers: Dict[int, Callback] = {}
        self._writers: Dict[int, Callback] = {}
        self._timers: List[Tuple[float, int, Timer]] = []
        self._sequence = itertools.count()
        self._running = False
        self.clock = clock
        self._timerfd = _make_timerfd() if clock is time.monotonic else None
        if self._timerfd is not None:
            self.add_reader(self._timerfd.fd, self._timerfd.fired)
        #: Called once per loop turn, after the select; signal handlers only
        #: set flags, and this is where the flags are acted on.
        self.after_select: List[Callback] = []

    def now(self) -> float:
        return self.clock()

    # -- file descriptors -------------------------------------------------

    def _update(self, fd: int) -> None:
        mask = (selectors.EVENT_READ if fd in self._readers else 0) | (
            selectors.EVENT_WRITE if fd in self._writers else 0
        )
        try:
            key = self._selector.get_key(fd)
        except KeyError:
            key = None
        if key is None:
            if mask:
                self._selector.register(fd, mask)
        elif not mask:
            self._selector.unregister(fd)
        elif key.events != mask:
            self._selector.modify(fd, mask)

    def add_reader(self, fd: int, callback: Callback) -> None:
        self._readers[fd] = callback
        self._update(fd)

    def remove_reader(self, fd: int) -> None:
        if self._readers.pop(fd, None) is not None:
            self._update(fd)

    def add_writer(self, fd: int, callback: Callback) -> None:
        self._writers[fd] = callback
        self._update(fd)

    def remove_writer(self, fd: int) -> None:
        if self._writers.pop(fd, None) is not None:
            self._update(fd)

    def forget(self, fd: int) -> None:
        """Drop every interest in ``fd``; call before closing it."""
        self._readers.pop(fd, None)
        self._writers.pop(fd, None)
        self._update(fd)

    def watched(self) -> List[int]:
        return sorted(set(self._readers) | set(self._writers))

    # -- timers -------------------------------------------------------------

    def call_later(self, delay: float, callback: Callback) -> Timer:
        timer = Timer(self.now() + max(0.0, delay), callback)
        heapq.heappush(self._timers, (timer.when, next(self._sequence), timer))
        return timer

    def _next_timeout(self) -> Optional[float]:
        while self._timers and self._timers[0][2].cancelled:
            heapq.heappop(self._timers)
        if not self._timers:
            return None
        return max(0.0, self._timers[0][0] - self.now())

    def _run_timers(self) -> None:
        now = self.now()
        while self._timers and self._timers[0][0] <= now:
            _, _, timer = heapq.heappop(self._timers)
            if not timer.cancelled:
                timer.cancelled = True
                self._guard(timer.callback)

    # -- the loop -----------------------------------------------------------

    def _guard(self, callback: Callback) -> None:
        # One faulty callback must never stop the loop for everybody else.
        try:
            callback()
        except Exception:  # noqa: BLE001 - logged with traceback, loop goes on
            log.exception("internal error in %r", callback)

    def run_once(self, timeout: Optional[float] = None) -> None:
        wait = self._next_timeout()
        if self._timerfd is not None and timeout is None and wait:
            self._timerfd.arm(self._timers[0][0])
            wait = None  # the timerfd wakes us, to the microsecond
        if timeout is not None:
            wait = timeout if wait is None else min(wait, timeout)
        events = self._selector.select(wait) if self._selector.get_map() else _sleep(wait)
        readers, writers, guard = self._readers, self._writers, self._guard
        for key, mask in events:
            fd = key.fd
            if mask & selectors.EVENT_READ:
                callback = readers.get(fd)
                if callback is not None:
                    guard(callback)
            if mask & selectors.EVENT_WRITE:
                callback = writers.get(fd)
                if callback is not None:
                    guard(callback)
        if self._timers:
            self._run_timers()
        for hook in self.after_select:
            guard(hook)

    def run(self) -> None:
        self._running = True
        while self._running:
            self.run_once()

    def stop(self) -> None:
        self._running = False

    def close(self) -> None:
        self._selector.close()
        if self._timerfd is not None:
            os.close(self._timerfd.fd)


def _sleep(wait: Optional[float]) -> list:
    time.sleep(1.0 if wait is None else wait)
    return []
