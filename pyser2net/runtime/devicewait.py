"""A held device that went away (``device-loss: hold``), until it is back.

While it is away the port keeps its clients and this keeps the rest: when
it went (showport's ``waiting for device since``), the line as clients
last set it (an RFC 2217 client may go on changing it meanwhile), how
many bytes clients sent into the void, and when to try the device again.

Tries come after 1 s, then twice as long each time up to a cap
(``connector-retry-time``), and at once (after a short settling time, as
udev still sets the node's owner and mode) whenever a node appears in the
directory the device lives in, which inotify reports.  So a re-plugged
adapter is followed in a fraction of a second, and one that stays away
costs a look every few seconds.
"""

from __future__ import annotations

import time
from typing import Callable, Optional

from pyser2net.protocol.comport import SerialControl, VirtualLines
from pyser2net.runtime.inotify import NODE_APPEARS, Inotify
from pyser2net.runtime.reactor import Reactor
from pyser2net.runtime.timers import TimerSlot

FIRST_DELAY = 1.0
#: After a node appears, before opening it.
SETTLE_SECONDS = 0.1


class DeviceWait:
    """The waiting of one port; ``retry`` opens the device (or calls ``failed``)."""

    def __init__(
        self,
        reactor: Reactor,
        retry: Callable[[], None],
        cap_seconds: float,
        watch_dir: Optional[str],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._reactor = reactor
        self._slot = TimerSlot(reactor, retry)
        self._cap = max(cap_seconds, FIRST_DELAY)
        self._watch_dir = watch_dir
        self._clock = clock
        self._delay = FIRST_DELAY
        #: The pending try was brought forward by a node appearing.
        self._early = False
        self._inotify: Optional[Inotify] = None
        #: Wall-clock time the device went away; None while it is not away.
        self.since: Optional[float] = None
        #: The line as it was, and as clients set it while the device is away.
        self.line: Optional[VirtualLines] = None
        #: Bytes clients sent while the device was away.
        self.discarded = 0

    @property
    def away(self) -> bool:
        return self.since is not None

    @property
    def next_try(self) -> Optional[float]:
        """When (loop clock) the device is tried next, if it is waited for."""
        return self._slot.when

    def start(self, line: SerialControl) -> None:
        """The device went away with its line set as ``line``."""
        self.since = self._clock()
        self.line = VirtualLines(line.settings)
        self.line.lines.update(line.lines)
        self.line.lines["break"] = False
        self.discarded = 0
        self._delay = FIRST_DELAY
        self._early = False
        self._slot.arm(self._delay)
        if self._watch_dir is not None and self._inotify is None:
            self._inotify = Inotify.watch(self._watch_dir, NODE_APPEARS)
            if self._inotify is not None:
                self._reactor.add_reader(self._inotify.fd, self._node_event)

    def failed(self) -> None:
        """A try found nothing (or nothing that would open): try later.

        Only tries the clock made back off: a node that appeared and was
        not the device (another adapter) does not delay the next look.
        """
        if not self._early:
            self._delay = min(self._cap, self._delay * 2)
        self._early = False
        self._slot.arm(self._delay)

    def _node_event(self) -> None:
        assert self._inotify is not None
        if not self._inotify.drain() or not self.away:
            return
        # Soon, but never later than planned, however often nodes change.
        soon = self._reactor.now() + SETTLE_SECONDS
        when = self._slot.when
        if when is None or when > soon:
            self._early = True
            self._slot.arm(SETTLE_SECONDS)

    def stop(self) -> Optional[VirtualLines]:
        """Back (or no longer waited for): the line to restore, if it was away."""
        self._slot.cancel()
        if self._inotify is not None:
            self._reactor.forget(self._inotify.fd)
            self._inotify.close()
            self._inotify = None
        line, self.line = self.line, None
        self.since = None
        return line
