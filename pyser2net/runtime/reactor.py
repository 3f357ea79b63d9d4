"""The single-threaded event loop: one readiness poller and a timer heap.

Everything pyser2net does happens in callbacks run from here, so no state
is ever shared between threads and no lock is ever needed.  An idle daemon
sleeps in the poller until a socket, a device or the next timer needs it:
there is no polling interval.  The poller is epoll on Linux, asked
directly, and the best ``selectors`` selector elsewhere.
"""

from __future__ import annotations

import ctypes
import heapq
import itertools
import logging
import os
import select
import selectors
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

from pyser2net.runtime.timers import DeadlineQueue

log = logging.getLogger(__name__)

Callback = Callable[[], None]


class Timer:
    """A handle to a scheduled call; ``cancel()`` is cheap and idempotent."""

    __slots__ = ("when", "callback", "cancelled", "slack")

    def __init__(self, when: float, callback: Callback, slack: float = 0.0) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False
        #: How late the loop may wake up for it (it still runs in any turn
        #: from ``when`` on): room to serve several timers in one wake-up.
        self.slack = slack

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
    _fields_ = [
        ("interval_sec", ctypes.c_long),
        ("interval_nsec", ctypes.c_long),
        ("value_sec", ctypes.c_long),
        ("value_nsec", ctypes.c_long),
    ]


class _TimerFd:
    """A Linux timerfd armed at the next timer's deadline.

    epoll sleeps in whole milliseconds, rounded up, so a 1 ms chardelay
    hold became nearly 2 ms of scheduling; a timerfd wakes the selector at
    the exact (CLOCK_MONOTONIC, like time.monotonic) deadline instead.

    Even so the wake-up comes late: tens of microseconds on a VM, 5 % of a
    chardelay hold.  The fd keeps a smoothed measure of that delay (``lead``)
    and is set that much before the deadline, so that timers run on time on
    average instead of always late; the reactor treats timers due within
    ``lead`` as due.
    """

    #: A wake-up later than this is a busy machine, not the usual delay: it
    #: counts as this much, so that timers never run more than this early.
    MAX_LEAD = 200e-6

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
        self.armed: Optional[float] = None  # the deadline it is armed for
        self._set_for = 0.0  # the time it was set to expire at
        self.lead = 0.0
        #: It expired and was not set since, so it stays readable: the loop
        #: sets it again (or disarms it) before it sleeps.  Setting it
        #: clears the expiry, which saves the read that would clear it: a
        #: system call per timer wake-up.
        self.stale = False
        # One structure, filled in place: a ctypes object per call costs
        # more than the call itself.
        self._spec = _ITimerSpec(0, 0, 0, 0)
        self._spec_ref = ctypes.byref(self._spec)

    def arm(self, when: float) -> None:
        if when == self.armed:
            return
        at = when - self.lead
        sec = int(at)
        spec = self._spec
        spec.value_sec = sec
        spec.value_nsec = int((at - sec) * 1e9) or 1  # all zero would disarm it
        self._set(at)
        self.armed = when

    def disarm(self) -> None:
        spec = self._spec
        spec.value_sec = spec.value_nsec = 0
        self._set(0.0)
        self.armed = None

    def _set(self, at: float) -> None:
        if self._settime(self.fd, self.TFD_TIMER_ABSTIME, self._spec_ref, None) < 0:
            raise OSError(ctypes.get_errno(), "timerfd_settime failed")
        self._set_for = at
        self.stale = False

    def fired(self) -> None:
        if self.stale:
            return  # still readable from the expiry already seen
        self.armed = None
        self.stale = True
        late = min(max(time.monotonic() - self._set_for, 0.0), self.MAX_LEAD)
        self.lead += (late - self.lead) / 8


def _make_timerfd() -> Optional[_TimerFd]:
    try:
        return _TimerFd()
    except (OSError, AttributeError):
        return None  # not Linux: fall back to the selector's own timeout


class _EpollPoller:
    """Linux: epoll's own (fd, events) list, handed to the loop as it is.

    ``selectors.EpollSelector`` wraps every ready descriptor in a key and a
    new event mask; measured, that costs about 1.5 us per wake-up, which is
    2-3 % of a one-byte round trip through the daemon (two wake-ups).
    """

    READ, WRITE = select.EPOLLIN, select.EPOLLOUT
    # A hang-up or an error wakes both directions, as in ``selectors``.
    READY_READ, READY_WRITE = ~select.EPOLLOUT, ~select.EPOLLIN

    def __init__(self) -> None:
        self._epoll = select.epoll()
        self.register = self._epoll.register
        self.modify = self._epoll.modify
        #: ``poll(seconds)``, negative for no limit: the epoll call itself.
        self.poll = self._epoll.poll

    def unregister(self, fd: int) -> None:
        try:
            self._epoll.unregister(fd)
        except OSError:
            pass  # closed before it was forgotten: the kernel dropped it already

    def close(self) -> None:
        self._epoll.close()


class _SelectorPoller:
    """Elsewhere: the platform's best ``selectors`` selector."""

    READ = READY_READ = selectors.EVENT_READ
    WRITE = READY_WRITE = selectors.EVENT_WRITE

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self.register = self._selector.register
        self.modify = self._selector.modify
        self.unregister = self._selector.unregister
        self.close = self._selector.close

    def poll(self, timeout: float) -> List[Tuple[int, int]]:
        """Like epoll's: seconds, negative for no limit."""
        ready = self._selector.select(None if timeout < 0 else timeout)
        return [(key.fd, events) for key, events in ready]


Poller = Union[_EpollPoller, _SelectorPoller]


def default_poller() -> Poller:
    return _EpollPoller() if hasattr(select, "epoll") else _SelectorPoller()


class Reactor:
    """Dispatches readiness of file descriptors and expiry of timers."""

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, poller: Optional[Poller] = None
    ) -> None:
        _tighten_timer_slack()
        self._poller = poller or default_poller()
        self._masks: Dict[int, int] = {}  # what each descriptor is registered for
        self._readers: Dict[int, Callback] = {}
        self._writers: Dict[int, Callback] = {}
        self._timers: List[Tuple[float, int, Timer]] = []
        self._sequence = itertools.count()
        self._running = False
        #: The current time on the loop's clock (an attribute, not a method:
        #: it is read on every read and write of the data path).
        self.now: Callable[[], float] = clock
        self._timerfd = _make_timerfd() if clock is time.monotonic else None
        if self._timerfd is not None:
            self.add_reader(self._timerfd.fd, self._timerfd.fired)
        #: Called after every loop turn while present: for work that is not
        #: tied to one descriptor (a hook removes itself when it is done).
        self.after_select: List[Callback] = []
        #: Calls for the next turn (``call_soon``).
        self._soon: List[Callback] = []
        #: Deadlines set by the thousand (chardelay holds), behind one timer.
        self.deadlines = DeadlineQueue(self)

    # -- file descriptors -------------------------------------------------

    def _update(self, fd: int) -> None:
        poller = self._poller
        mask = (poller.READ if fd in self._readers else 0) | (
            poller.WRITE if fd in self._writers else 0
        )
        old = self._masks.get(fd, 0)
        if mask == old:
            return
        if not old:
            poller.register(fd, mask)
        elif not mask:
            poller.unregister(fd)
        else:
            poller.modify(fd, mask)
        if mask:
            self._masks[fd] = mask
        else:
            del self._masks[fd]

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
        return self.call_at(self.now() + max(0.0, delay), callback)

    def call_at(self, when: float, callback: Callback, slack: float = 0.0) -> Timer:
        """Call at clock reading ``when`` (at once if that is past).

        With ``slack`` the loop does not wake up for it before ``when +
        slack``; a turn that runs from ``when`` on for another reason runs it.
        """
        timer = Timer(when, callback, slack)
        heapq.heappush(self._timers, (when, next(self._sequence), timer))
        return timer

    def call_soon(self, callback: Callback) -> None:
        """Call once in the next loop turn, after that turn's ready descriptors.

        The next turn does not sleep.  A call made from such a callback
        goes to the turn after, so work split into pieces this way (a
        client's backlog of commands, settings applied at most once a
        turn) takes its turns with every descriptor that is ready.
        """
        self._soon.append(callback)

    def _next_timeout(self) -> Optional[float]:
        while self._timers and self._timers[0][2].cancelled:
            heapq.heappop(self._timers)
        if not self._timers:
            return None
        return max(0.0, self._timers[0][0] - self.now())

    def _wait(self, timeout: Optional[float]) -> Optional[float]:
        """How long the select may sleep, given the timers and ``timeout``."""
        wait = self._next_timeout()
        tfd = self._timerfd
        if tfd is not None:
            if timeout is None and wait is not None:
                if wait <= tfd.lead:
                    return 0.0  # due within the usual wake-up delay: run it now
                first = self._timers[0]
                tfd.arm(first[0] + first[2].slack)
                return None  # the timerfd wakes us, to the microsecond
            if tfd.stale:
                tfd.disarm()  # expired, and not waited for: not readable again
        if timeout is not None:
            wait = timeout if wait is None else min(wait, timeout)
        return wait

    def _run_timers(self) -> None:
        # A console server's chardelay holds expire by the thousand per
        # second: the guard is inline, as in the loop itself.
        timers, pop = self._timers, heapq.heappop
        due = self.now() + (self._timerfd.lead if self._timerfd is not None else 0.0)
        while timers and timers[0][0] <= due:
            timer = pop(timers)[2]
            if not timer.cancelled:
                timer.cancelled = True
                try:
                    timer.callback()
                except Exception:  # noqa: BLE001 - logged with traceback, loop goes on
                    log.exception("internal error in %r", timer.callback)

    # -- the loop -----------------------------------------------------------

    def _guard(self, callback: Callback) -> None:
        # One faulty callback must never stop the loop for everybody else.
        try:
            callback()
        except Exception:  # noqa: BLE001 - logged with traceback, loop goes on
            log.exception("internal error in %r", callback)

    def run_once(self, timeout: Optional[float] = None) -> None:
        """One turn: sleep until something is ready (at most ``timeout``), run it."""
        self._turns(timeout, forever=False)

    def run(self) -> None:
        """Turn until ``stop()``."""
        self._running = True
        self._turns(None, forever=True)

    def _turns(self, timeout: Optional[float], forever: bool) -> None:
        # A one-byte round trip through the daemon is two turns, so a turn
        # does nothing it does not need: the timer heap and the hooks are
        # only looked at when there are any, the exception guard is inline
        # and everything the loop touches is a local.
        readers, writers, poller = self._readers, self._writers, self._poller
        poll, ready_read, ready_write = poller.poll, poller.READY_READ, poller.READY_WRITE
        timers, hooks = self._timers, self.after_select
        tfd = self._timerfd
        while True:
            soon: Sequence[Callback] = self._soon
            if soon:
                self._soon = []  # what these calls ask for runs in the turn after
                wait: Optional[float] = 0.0
            elif timers or (tfd is not None and tfd.stale):
                soon = ()  # calls asked for in this turn run in the next
                wait = self._wait(timeout)
            else:
                soon = ()
                wait = timeout
            for fd, mask in poll(-1.0 if wait is None else wait):
                callback = None
                try:
                    if mask & ready_read:
                        callback = readers.get(fd)
                        if callback is not None:
                            callback()
                    if mask & ready_write:
                        callback = writers.get(fd)
                        if callback is not None:
                            callback()
                except Exception:  # noqa: BLE001 - logged with traceback, loop goes on
                    # Readiness is level-triggered: what was skipped comes back.
                    log.exception("internal error in %r", callback)
            if soon:
                for call in soon:
                    self._guard(call)
            if timers:
                self._run_timers()
            if hooks:
                for hook in list(hooks):
                    self._guard(hook)
            if not (forever and self._running):
                return

    def stop(self) -> None:
        self._running = False

    def close(self) -> None:
        self._poller.close()
        if self._timerfd is not None:
            os.close(self._timerfd.fd)
