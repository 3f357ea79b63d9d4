"""conacc: a connector that is an accepter.

``accepter: conacc,relpkt(mode=server),msgdelim,serialdev,/dev/ttyS1,...``
opens the connector below ``conacc`` when the port starts, and each time
its link comes up (relpkt: the far end's INIT arrived; serialtcp: the far
end asked for a connection; msgdelim or a bare device: at once) hands it
to the port as a new client.  When that client is gone, the connector is
opened again, ``retry-time`` later (at once by default), ready for the
next.  So there is one client at a time, as gensio's conacc does.

If the device cannot be opened, gensio's conacc gives up for good unless
``retry-time`` is set; this one logs why and tries again after
``retry-time``, or after the connection's ``accepter-retry-time`` when
that is not set.  The same wait follows a session whose connection on
failed when the connector is a bare device: nothing at the far end paces
it, and opening again at once would retry a refused connection in a
tight loop.  (A link's far end asks again at its own pace.)
"""

from __future__ import annotations

import logging
from typing import Callable, List, Optional, Tuple

from pyser2net.config.model import Accepter, ConAcc, NetworkDevice, SerialDevice
from pyser2net.runtime.devices import DeviceError, open_device, peer_query
from pyser2net.runtime.linkdevice import LinkedDevice
from pyser2net.runtime.linkstream import LinkStream
from pyser2net.runtime.reactor import Reactor
from pyser2net.runtime.resolver import NameBook
from pyser2net.runtime.stream import StreamError
from pyser2net.runtime.timers import TimerSlot

log = logging.getLogger(__name__)

#: What the listener hands over: the stream (its link is up) and where it
#: comes from, for the log (the device path).
Handed = Callable[[LinkStream, str], None]


class ConAccListener:
    """Keeps one connector open and hands each session over as a client.

    ``handed`` is called with the stream when its link is up; the receiver
    becomes the stream's user (``set_user``).  ``errors`` logs failures
    (rate-limited by the caller).
    """

    def __init__(
        self,
        reactor: Reactor,
        accepter: Accepter,
        handed: Handed,
        *,
        errors: Callable[[str], None],
        retry_after_failure: float,
        read_limit: int = 65536,
        high_water: int = 65536,
    ) -> None:
        assert accepter.conacc is not None
        self.reactor = reactor
        self.accepter = accepter
        self.conacc: ConAcc = accepter.conacc
        #: Addresses that could not be bound (a listener's; never any here).
        self.partial: List[Tuple[str, OSError]] = []
        self.handed = handed
        self.errors = errors
        self.retry_after_failure = retry_after_failure
        self.read_limit = read_limit
        self.high_water = high_water
        self.device: Optional[LinkedDevice] = None
        self.stream: Optional[LinkStream] = None
        #: The stream was handed over: its session belongs to the port.
        self.in_session = False
        self.running = False
        self._reopen = TimerSlot(reactor, self._open)
        connector = self.conacc.connector
        #: A tcp peer's host name, looked up without holding up the loop.
        self.names = NameBook(
            reactor,
            [peer_query(connector.device)] if isinstance(connector.device, NetworkDevice) else [],
        )
        #: Where clients come from, for the log: the device path.
        self.label = (
            connector.device.path if isinstance(connector.device, SerialDevice) else connector.text
        )

    # -- the listener surface -------------------------------------------------

    def start(self, answers: object = None) -> None:
        """Open the connector now; a failure is logged and retried later.
        (``answers``: a listener's looked-up addresses; a conacc has none.)"""
        self.running = True
        self._open()

    def stop(self) -> None:
        """Close the connector unless a session holds it (the port closes that)."""
        self.running = False
        self._reopen.cancel()
        self.names.cancel()
        if self.stream is not None and not self.in_session:
            self.stream.on_closed = None
            self.stream.close()
            self._forget()

    def addresses(self) -> List[str]:
        """Where clients come from, for the log ("listening on ...")."""
        return [self.label]

    # -- inside ---------------------------------------------------------------

    def _open(self) -> None:
        if not self.running or self.stream is not None:
            return
        if self.names.needs_lookup:
            if not self.names.starting:  # a tcp peer's name: opened once it is found
                self.names.look_up(self._open)
            return
        connector = self.conacc.connector
        peer = connector.device
        answer = self.names.get(peer_query(peer)) if isinstance(peer, NetworkDevice) else None
        try:
            device = LinkedDevice(open_device(peer, connector.text, answer), connector)
        except DeviceError as exc:
            self.errors(f"cannot open {connector.text}: {exc.detail}")
            if isinstance(peer, NetworkDevice):
                self.names.refresh(peer_query(peer))
            self._reopen.arm(self._retry(failed=True))
            return
        self.device = device
        self.in_session = False
        stream = device.open_stream(
            self.reactor,
            _Waiting(self),
            read_limit=self.read_limit,
            high_water=self.high_water,
            ready=self._up,
        )
        stream.on_closed = self._closed
        self.stream = stream
        if stream.up:
            self._up()  # no link layer: up at once
        elif not stream.closed:
            stream.resume_reading()

    def _up(self) -> None:
        stream = self.stream
        if stream is None or self.in_session:
            return
        self.in_session = True
        log.debug("%s: link up", self.label)
        self.handed(stream, self.label)

    def _closed(self) -> None:
        """The connector closed (session over, or it failed): open it again."""
        stream = self.stream
        failed = not self.in_session or (
            stream is not None and stream.far_failure is not None and not self.conacc.connector.link
        )
        self._forget()
        if self.running:
            self._reopen.arm(self._retry(failed))

    def _forget(self) -> None:
        self.stream = None
        self.device = None
        self.in_session = False

    def _retry(self, failed: bool) -> float:
        delay = self.conacc.retry_time_ms / 1000
        if failed and not delay:
            delay = self.retry_after_failure
        return delay


class _Waiting:
    """The stream's user until its link is up: only failures matter."""

    def __init__(self, owner: ConAccListener) -> None:
        self.owner = owner

    def data_received(self, data: bytes) -> None:
        pass  # nothing comes before the link is up

    def eof_received(self) -> None:
        pass

    def connection_lost(self, exc: Optional[StreamError]) -> None:
        if exc is not None:
            self.owner.errors(f"{self.owner.conacc.connector.text}: {exc}")

    def pause_writing(self) -> None:
        pass

    def resume_writing(self) -> None:
        pass
