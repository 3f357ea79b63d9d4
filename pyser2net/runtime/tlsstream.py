"""A stream that carries TLS: its user reads and writes plaintext.

TLS sits right above the socket in ser2net's stacks
(``telnet(rfc2217),ssl,tcp,3001``), below every other layer and below what
the port sends "raw" (a refusal, a greeting): all of it is encrypted.  So
the TLS session wraps the socket's ``Stream`` rather than sitting in the
client's filter stack: the client (or admin session, or device) is the
user of a ``TlsStream`` exactly as of a plain ``Stream``, and never knows.

Each read is decrypted whole (``TlsFilter`` drains OpenSSL after every
record it is fed), so no byte waits inside the library for a read event.
The output queue, water marks and drain deadline are the inner stream's,
counted in bytes on the wire.  ``close_after_flush`` sends close_notify
before the queue drains.
"""

from __future__ import annotations

import socket
from typing import Any, Callable, Optional

from pyser2net.protocol.events import Data
from pyser2net.protocol.tls import TlsClosed, TlsEstablished, TlsFailed, TlsFilter
from pyser2net.runtime.reactor import Reactor
from pyser2net.runtime.stream import Stream, StreamError, StreamUser


class TlsError(StreamError):
    """The TLS session failed; ``str()`` says why."""

    def __init__(self, reason: str) -> None:
        Exception.__init__(self, reason)
        self.action = "tls"
        self.cause = OSError(0, reason)


class TlsStream:
    """A ``Stream`` surface over a socket stream and a TLS session."""

    def __init__(
        self,
        reactor: Reactor,
        user: StreamUser,
        sock: socket.socket,
        session: TlsFilter,
        **stream_args: Any,
    ) -> None:
        self._setup(reactor, user, session, None)
        self.inner = Stream.for_socket(reactor, self, sock, **stream_args)
        self._start()

    @classmethod
    def over(
        cls,
        reactor: Reactor,
        user: StreamUser,
        session: TlsFilter,
        make_inner: Callable[[StreamUser], Stream],
        on_established: Optional[Callable[[], None]] = None,
    ) -> TlsStream:
        """TLS over a stream someone else makes (a connector's socket, whose
        connect is still under way): ``make_inner`` gets the user that the
        socket stream must report to.  ``on_established`` is called once the
        handshake is done and the peer verified."""
        self = cls.__new__(cls)
        self._setup(reactor, user, session, on_established)
        self.inner = make_inner(self)
        self._start()
        return self

    def _setup(
        self,
        reactor: Reactor,
        user: StreamUser,
        session: TlsFilter,
        on_established: Optional[Callable[[], None]],
    ) -> None:
        self.user = user
        self.session = session
        self._reactor = reactor
        self._deliver = user.data_received
        self._on_established = on_established
        self._failed = False

    def _start(self) -> None:
        out = self.session.start()  # a client's hello; nothing for an established server
        if out:
            self.inner.write(out)

    # -- what the user calls -------------------------------------------------

    def write(self, data: bytes) -> None:
        if data and not self.inner.closed:
            out = self.session.send(data)
            if out:
                self.inner.write(out)

    def resume_reading(self) -> None:
        self.inner.resume_reading()
        if self.session.holds_input and self.inner.reading:
            # Data that came right behind the handshake: deliver it as if
            # it were read now, once the caller has finished setting up.
            self._reactor.call_later(0, self._deliver_held)

    def close_after_flush(self, timeout: float) -> None:
        if not self.inner.closing and not self.inner.closed:
            bye = self.session.close()
            if bye:
                self.inner.write(bye)
        self.inner.close_after_flush(timeout)

    def close(self) -> None:
        self.inner.close()

    def fail(self, reason: str) -> None:
        """End the session for a reason of the owner's (a handshake that
        took too long): the user hears it as a ``TlsError``."""
        if not self.inner.closed:
            self._fail(reason)

    def __getattr__(self, name: str) -> Any:
        # Everything else (queue, water marks, pause, hold, counters) is the
        # socket stream's.
        return getattr(self.inner, name)

    # -- what the socket stream tells us (StreamUser) -------------------------

    def data_received(self, data: bytes) -> None:
        self._events(self.session.receive(data))

    def _deliver_held(self) -> None:
        if self.session.holds_input and not self.inner.closed:
            self._events(self.session.receive(b""))

    def _events(self, events: list) -> None:
        for event in events:
            if type(event) is Data:
                self._deliver(event.data)
            elif isinstance(event, TlsClosed):
                self._flush()
                self.inner.pause_reading()
                self.user.eof_received()
                return
            elif isinstance(event, TlsFailed):
                self._fail(event.reason)
                return
            elif isinstance(event, TlsEstablished) and self._on_established is not None:
                self._flush()  # the last handshake bytes before anything the user sends
                self._on_established()
            if self.inner.closed:
                return
        self._flush()

    def _flush(self) -> None:
        out = self.session.data_to_send()
        if out:
            self.inner.write(out)

    def _fail(self, reason: str) -> None:
        if self._failed:
            return
        self._failed = True
        self._flush()
        self.inner.close()
        self.user.connection_lost(TlsError(reason))

    def eof_received(self) -> None:
        self.user.eof_received()

    def connection_lost(self, exc: Optional[StreamError]) -> None:
        self.user.connection_lost(exc)

    def pause_writing(self) -> None:
        self.user.pause_writing()

    def resume_writing(self) -> None:
        self.user.resume_writing()
