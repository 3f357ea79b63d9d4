"""Filters: the sans-IO layers between a stream and the port.

ser2net writes an endpoint as a stack of layers, outermost first:
``telnet(rfc2217),tcp,3001``.  Everything above the transport is a
*filter*: bytes from below go in and come out as events for above (payload
as ``Data``, anything else as the filter's own events); bytes from above go
in and come out as bytes for below.  A filter never touches a descriptor,
a timer or the clock, so each one is tested by feeding it bytes.

A new layer (ssl, telnet client, msgdelim, relpkt...) is one class with the
four methods of ``Filter`` and one entry in the run time's layer table; the
port never changes for it.
"""

from __future__ import annotations

from typing import Callable, List, Protocol, Sequence

from pyser2net.protocol.events import Data, Event


class Filter(Protocol):
    """One layer of a stack."""

    def start(self) -> bytes:
        """Bytes for below as the connection starts (a greeting, a handshake)."""

    def receive(self, data: bytes) -> List[Event]:
        """Bytes from below, as events for above (payload as ``Data``)."""

    def send(self, data: bytes) -> bytes:
        """Bytes from above, as bytes for below.

        Anything the filter queued on its own (``data_to_send``) comes out
        first, so an answer never overtakes the data it answers.
        """

    def data_to_send(self) -> bytes:
        """Bytes the filter produced on its own (answers), for below."""


class FilterTimer(Protocol):
    """How a filter that needs time asks for it, without a clock.

    The run time hands such a filter one of these (a timer slot); the
    filter arms it with a delay and the run time calls the filter's
    ``timer_expired()`` when it is due, then sends what the filter queued.
    Tests hand it a fake and call ``timer_expired()`` themselves.
    """

    def arm(self, delay: float) -> None:
        """Call back in ``delay`` seconds, replacing any pending call."""

    def cancel(self) -> None:
        """No call back."""


class FilterStack:
    """Filters on top of each other, outermost (nearest the port) first.

    Bytes from the stream pass through the innermost filter first; bytes
    from the port through the outermost first.  With a single filter (the
    usual telnet case) every call goes straight to it.
    """

    def __init__(self, filters: Sequence[Filter]) -> None:
        if not filters:
            raise ValueError("a filter stack needs at least one filter")
        self.filters = list(filters)
        self._top_down = self.filters
        self._bottom_up = self.filters[::-1]
        if len(self.filters) == 1:
            only = self.filters[0]
            self.receive = only.receive  # type: ignore[method-assign]
            self.send = only.send  # type: ignore[method-assign]
            self.data_to_send = only.data_to_send  # type: ignore[method-assign]

    def start(self) -> bytes:
        """What every layer sends first; an outer layer's greeting travels
        through the layers below it, after their own."""
        return self._down_from_each(lambda f: f.start())

    def receive(self, data: bytes) -> List[Event]:
        events: List[Event] = [Data(data)]
        for f in self._bottom_up:
            passed: List[Event] = []
            for event in events:
                if type(event) is Data:
                    passed.extend(f.receive(event.data))
                else:
                    passed.append(event)
            events = passed
        return events

    def send(self, data: bytes) -> bytes:
        for f in self._top_down:
            data = f.send(data)
        return data

    def data_to_send(self) -> bytes:
        return self._down_from_each(lambda f: f.data_to_send())

    def _down_from_each(self, produce: Callable[[Filter], bytes]) -> bytes:
        """Each layer's own output, carried through the layers below it."""
        carried = b""
        for f in self._top_down:
            own = produce(f)
            carried = own + f.send(carried) if carried else own
        return carried
