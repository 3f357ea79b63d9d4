"""``timeout``: closing clients that went quiet, or whose data stopped moving.

One timer per port, due when the first client could have timed out (and,
with ``timeout-on-os-queue``, once a second, since the kernel's send queue
is only seen by looking).  Traffic either way is activity; with
timeout-on-os-queue, data a client has not taken for ``timeout`` seconds
closes it even while the device keeps talking.
"""

from __future__ import annotations

from typing import Callable, Iterable, Optional, Protocol

from pyser2net.runtime.timers import Scheduler, TimerSlot

#: How often the kernel's queue is looked at with timeout-on-os-queue.
QUEUE_LOOK_SECONDS = 1.0


class Watched(Protocol):
    """A client, as the idle watch sees it."""

    closing: bool
    #: Seconds of silence before closing; 0 or less: never.
    idle_timeout: float
    last_activity: float

    def stuck_for(self, now: float) -> float:
        """How long bytes sent to it have not moved (ours or the kernel's)."""


class IdleWatch:
    """Calls ``expired(client)`` for each client past its timeout."""

    def __init__(
        self,
        scheduler: Scheduler,
        clients: Callable[[], Iterable[Watched]],
        expired: Callable[[Watched], None],
        on_queue: bool,
    ) -> None:
        self._now = scheduler.now
        self._clients = clients
        self._expired = expired
        self.on_queue = on_queue
        self._slot = TimerSlot(scheduler, self._check)

    def rearm(self) -> None:
        """Call after clients came, went, talked, or changed their timeout."""
        due: Optional[float] = None
        for c in self._clients():
            if c.closing or c.idle_timeout <= 0:
                continue
            when = c.last_activity + c.idle_timeout
            if self.on_queue:
                when = min(when, self._now() + QUEUE_LOOK_SECONDS)
            due = when if due is None else min(due, when)
        if due is None:
            self._slot.cancel()
        else:
            self._slot.arm_at(due)

    def stop(self) -> None:
        self._slot.cancel()

    def _check(self) -> None:
        now = self._now()
        for c in list(self._clients()):
            timeout = c.idle_timeout
            if c.closing or timeout <= 0:
                continue
            stuck = self.on_queue and c.stuck_for(now) >= timeout
            if stuck or now - c.last_activity >= timeout:
                self._expired(c)
        self.rearm()


class QueueProgress:
    """When the kernel's send queue of a socket last got smaller (or was empty).

    The kernel takes megabytes before a send comes back short, so a client
    that reads nothing from a slow device is only seen through the socket's
    unsent-byte count; our own queue counts too (``stalled_since``).
    """

    __slots__ = ("queued", "progress")

    def __init__(self, now: float) -> None:
        self.queued = 0
        self.progress = now

    def stuck_for(self, kernel_queued: int, stalled_since: Optional[float], now: float) -> float:
        if kernel_queued == 0 or kernel_queued < self.queued:
            self.progress = now
        self.queued = kernel_queued
        stuck = now - self.progress
        if stalled_since is not None:
            stuck = max(stuck, now - stalled_since)
        return stuck
