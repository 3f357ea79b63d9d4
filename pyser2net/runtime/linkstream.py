"""A stream that carries a link (relpkt over msgdelim, msgdelim, serialtcp).

The link layers of a connector (``relpkt,msgdelim,serialdev,...``) sit
between the device's stream and whoever uses it: the port, for a device;
a client, for the link under a ``conacc`` accepter.  ``LinkStream`` has a
``Stream``'s surface, so its user never knows a link is there: payload in
and out, water marks, pause and resume, close after flush.  Underneath, it
runs the link's sans-IO state machine on the device stream, gives it a
timer slot, and turns its events into the stream user's calls:

* payload goes to ``data_received``;
* the link coming up calls ``on_up`` (the conacc accepter hands the stream
  to its port then); payload written before that waits here, counted
  against the water marks;
* the link ending closes the device stream once its last bytes (a CLOSE
  answer) are written, and reports ``connection_lost(LinkError)``, which
  says why and whether the link had come up at all.

Holding back delivery (``pause_reading``) keeps reading the device when
the link can hold payload itself (relpkt withholds its acknowledgements,
so the far end waits, while keepalives still flow); otherwise it stops
reading the device.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, List, Optional

from pyser2net.protocol.events import Data, Event, LinkDown, LinkUp
from pyser2net.protocol.filters import FilterTimer
from pyser2net.protocol.links import AnyLink
from pyser2net.protocol.relpkt import GENSIO_ERROR_NUMBERS
from pyser2net.runtime.reactor import Reactor
from pyser2net.runtime.stream import DrainTimeout, Stream, StreamError, StreamUser
from pyser2net.runtime.timers import TimerSlot

log = logging.getLogger(__name__)

#: How long the last bytes of an ended link may take to leave (seconds).
_LAST_BYTES = 1.0


class LinkError(StreamError):
    """The link ended on its own; ``str()`` says why.

    ``opened``: whether it had come up (if not, it is an open failure);
    ``failed``: False when the far end closed it as asked.
    """

    def __init__(self, reason: str, *, opened: bool, failed: bool = True) -> None:
        Exception.__init__(self, reason)
        self.action = "link"
        self.cause = OSError(0, reason)
        self.reason = reason
        self.opened = opened
        self.failed = failed


class LinkStream:
    """A ``Stream`` surface over a device stream and a link."""

    def __init__(
        self,
        reactor: Reactor,
        user: StreamUser,
        make_link: Callable[[FilterTimer], AnyLink],
        open_inner: Callable[[StreamUser], Stream],
        *,
        high_water: int,
        low_water: Optional[int] = None,
        on_up: Optional[Callable[[], None]] = None,
        on_closed: Optional[Callable[[], None]] = None,
        label: str = "link",
    ) -> None:
        self.user = user
        #: Names the link in the log (the device).
        self.label = label
        self.on_up = on_up
        #: Called once the device is closed, whichever way the link ended.
        self.on_closed = on_closed
        self._reactor = reactor
        self.high_water = high_water
        self.low_water = high_water // 4 if low_water is None else min(low_water, high_water)
        self.timer = TimerSlot(reactor, self._timer_expired)
        self.link = link = make_link(self.timer)
        self.inner = open_inner(self)
        #: Payload written before the link came up.
        self._early = bytearray()
        self.up = False
        self.closed = False
        self.closing = False
        self.writing_paused = False
        self._held = False  # the user paused reading
        self._reading = False
        self._close_timeout = 0.0
        self._failure = 0  # the gensio error number a close carries
        self._summarized = False  # what the link repaired was logged
        #: Why the connection behind an accepted link would not open, if it did not.
        self.far_failure: Optional[str] = None
        self._drain = TimerSlot(reactor, self._drain_expired)
        #: Payload the user wrote and the link took (counters, showport).
        self.bytes_written = 0
        self._send_out(link.start())
        if link.is_open:
            self._link_up()

    # -- state --------------------------------------------------------------

    @property
    def queued(self) -> int:
        """Payload and wire bytes not yet delivered to the far end."""
        return len(self._early) + self.link.buffered + self.inner.queued

    @property
    def reading(self) -> bool:
        return self._reading

    @property
    def read_fd(self) -> Optional[int]:
        return self.inner.read_fd

    @property
    def write_fd(self) -> Optional[int]:
        return self.inner.write_fd

    def __getattr__(self, name: str) -> Any:
        # Everything else (descriptors, stall times, output hold) is the
        # device stream's.
        return getattr(self.inner, name)

    def set_user(self, user: StreamUser) -> None:
        """A new user from now on (the conacc accepter hands the stream over)."""
        self.user = user

    # -- what the user calls --------------------------------------------------

    def write(self, data: bytes) -> None:
        if self.closed or self.closing or not data:
            return
        if not self.up:
            self._early += data
        else:
            self.bytes_written += len(data)
            self._send_out(self.link.send(data))
        self._check_marks()

    def resume_reading(self) -> None:
        if self.closed or self._reading:
            return
        self._reading = True
        if self._held:
            self._held = False
            self._events(self.link.release())
        self.inner.resume_reading()

    def pause_reading(self) -> None:
        if self.closed or not self._reading:
            return
        self._reading = False
        if self.link.hold():
            self._held = True  # the device is still read: acks and keepalives flow
        else:
            self.inner.pause_reading()

    def far_end_ready(self) -> None:
        """The connection behind an accepted link is up (serialtcp says so)."""
        self._send_out(self.link.far_end_ready())

    def far_end_failed(self, reason: str) -> None:
        """The connection behind an accepted link would not open: ``reason``
        in ser2net's words ("Connection refused") goes with the close, for
        links that carry one (relpkt's CLOSE, which gensio ignores)."""
        self._failure = GENSIO_ERROR_NUMBERS.get(reason, 9)
        self.far_failure = reason

    def close_after_flush(self, timeout: float, error: int = 0) -> None:
        """Close the link as its protocol does (relpkt: once acknowledged,
        with an answered CLOSE), then the device; give up after ``timeout``.
        ``connection_lost`` follows: None once done, ``DrainTimeout`` if not."""
        if self.closing or self.closed:
            return
        self.closing = True
        self._close_timeout = timeout
        self._send_out(self.link.close(error or self._failure))
        if not self.link.ended:
            self._drain.arm(timeout)
            return  # LinkDown, or the deadline, finishes the close
        self._finish_inner()

    def cancel_close(self) -> None:
        """Take back ``close_after_flush`` if the link has not begun closing
        (relpkt still waiting for acknowledgements): keep the stream."""
        if self.closing and not self.closed and self.link.reopen():
            self.closing = False
            self._drain.cancel()

    def close(self, error: int = 0) -> None:
        """Close now (relpkt: one CLOSE, unanswered); no callback."""
        if self.closed:
            return
        out = self.link.abort(error or self._failure)
        self._shut(out)

    # -- what the device stream tells us (StreamUser) ---------------------------

    def data_received(self, data: bytes) -> None:
        self._events(self.link.receive(data))

    def eof_received(self) -> None:
        self._lost(LinkError("the device reached end of file", opened=self.up))

    def connection_lost(self, exc: Optional[StreamError]) -> None:
        if self.closed:
            return
        self._lost(exc if exc is not None else LinkError("the device closed", opened=self.up))

    def pause_writing(self) -> None:
        self._check_marks()

    def resume_writing(self) -> None:
        self._check_marks()

    # -- inside -----------------------------------------------------------------

    def _timer_expired(self) -> None:
        if not self.closed:
            self._events(self.link.timer_expired())

    def _events(self, events: List[Event]) -> None:
        deliver = self.user.data_received
        for event in events:
            if type(event) is Data:
                if not self.closing:
                    deliver(event.data)
            elif isinstance(event, LinkUp):
                self._send_out(self.link.data_to_send())
                self._link_up()
            elif isinstance(event, LinkDown):
                self._link_down(event)
                return
            if self.closed:
                return
        self._send_out(self.link.data_to_send())
        self._check_marks()

    def _link_up(self) -> None:
        self.up = True
        if self._early:
            early, self._early = bytes(self._early), bytearray()
            self.bytes_written += len(early)
            self._send_out(self.link.send(early))
        if self.on_up is not None:
            self.on_up()

    def _link_down(self, event: LinkDown) -> None:
        out = self.link.data_to_send()
        if self.closing:
            # The close we asked for is done (or the far end closed first).
            self._send_out(out)
            self._finish_inner()
            return
        self._shut(out)
        self.user.connection_lost(LinkError(event.reason, opened=self.up, failed=event.error))

    def _finish_inner(self) -> None:
        """After a close the user asked for: the device goes once its bytes
        are out, and then the user hears of it."""
        self.closed = True
        self.timer.cancel()
        self._drain.cancel()
        inner = self.inner
        report = self.user.connection_lost

        def done(exc: Optional[StreamError]) -> None:
            self._inner_closed()
            report(exc)

        inner.user = _Silent(done)
        inner.close_after_flush(max(_LAST_BYTES, self._close_timeout))

    def _drain_expired(self) -> None:
        if self.closed:
            return
        queued = self.queued
        self._shut(self.link.abort())
        self.user.connection_lost(DrainTimeout(queued))

    def _shut(self, last: bytes) -> None:
        """Close for good: the last bytes go out, then the device; no callback."""
        self.closed = self.closing = True
        self.timer.cancel()
        self._drain.cancel()
        self._early.clear()
        inner = self.inner
        if last and not inner.closed:
            inner.write(last)
        if inner.queued and not inner.closed:
            inner.user = _Silent(lambda _exc: self._inner_closed())
            inner.close_after_flush(_LAST_BYTES)
        else:
            inner.close()
            self._inner_closed()

    def _lost(self, exc: StreamError) -> None:
        """The device went away under the link."""
        self.closed = self.closing = True
        self.timer.cancel()
        self._drain.cancel()
        self.inner.close()
        self._inner_closed()
        self.user.connection_lost(exc)

    def _inner_closed(self) -> None:
        if self.up and not self._summarized:
            self._summarized = True
            summary = self.link.summary()
            if summary:
                log.info("%s: link ended: %s", self.label, summary)
        on_closed, self.on_closed = self.on_closed, None
        if on_closed is not None:
            on_closed()

    def _send_out(self, data: bytes) -> None:
        if data and not self.inner.closed:
            self.inner.write(data)

    def _check_marks(self) -> None:
        if self.closed:
            return
        backlog = len(self._early) + self.link.buffered
        if not self.writing_paused:
            if self.inner.writing_paused or backlog >= self.high_water:
                self.writing_paused = True
                self.user.pause_writing()
        elif not self.inner.writing_paused and backlog <= self.low_water:
            self.writing_paused = False
            self.user.resume_writing()


class _Silent:
    """The device stream's user once the link is done: only its end matters."""

    def __init__(self, done: Callable[[Optional[StreamError]], None]) -> None:
        self._done = done

    def data_received(self, data: bytes) -> None:
        pass

    def eof_received(self) -> None:
        pass

    def connection_lost(self, exc: Optional[StreamError]) -> None:
        self._done(exc)

    def pause_writing(self) -> None:
        pass

    def resume_writing(self) -> None:
        pass
