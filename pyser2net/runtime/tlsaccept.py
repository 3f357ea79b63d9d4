"""The TLS handshake of an accepted connection, before it becomes a client.

As in gensio, a client of an ssl accepter exists for ser2net only once its
handshake is done: max-connections, kickolduser, the banner and the device
open all wait for it.  ``TlsGate`` sits between the listener and the port
(or the admin server, or a rotator): it takes each accepted socket, runs
the handshake on the event loop without ever blocking it, and hands the
socket and its established ``TlsFilter`` on.  A client that connects and
says nothing costs one descriptor and a timer until the deadline; it never
delays anything else.

Refusals (plain text on the TLS port, a client certificate that does not
verify, a user not allowed) are logged with the address and the reason,
each host and reason once a minute.
"""

from __future__ import annotations

import logging
import socket
from typing import TYPE_CHECKING, Callable, Dict, Optional

from pyser2net.protocol.events import Data
from pyser2net.protocol.tls import TlsEstablished, TlsFailed, TlsFilter
from pyser2net.runtime.ratelimit import RateLimitedLog
from pyser2net.runtime.reactor import Reactor
from pyser2net.runtime.timers import TimerSlot

if TYPE_CHECKING:
    from pyser2net.runtime.tlsconfig import ServerTlsSource

log = logging.getLogger(__name__)

#: How long a client may take to finish its handshake (seconds).
HANDSHAKE_TIMEOUT = 60.0
#: Handshakes under way at once on one accepter; more are turned away, so a
#: flood of silent connections cannot take every descriptor.
MAX_PENDING = 256
#: Bytes read per call while shaking hands (a handshake flight is a few KiB).
_READ = 16384

#: Where an established connection goes: the socket, its address, and its
#: TLS session (holding any data the client sent right behind its handshake).
Ready = Callable[[socket.socket, tuple, TlsFilter], None]


class _Handshake:
    """One socket on its way through the handshake."""

    def __init__(self, gate: TlsGate, sock: socket.socket, addr: tuple, session: TlsFilter) -> None:
        self.gate = gate
        self.sock = sock
        self.fd = sock.fileno()
        self.addr = addr
        self.session = session
        self.unsent = bytearray()
        self.done = False
        self.deadline = TimerSlot(gate.reactor, self._expired)

    def start(self) -> None:
        self.deadline.arm(self.gate.timeout)
        self.gate.reactor.add_reader(self.fd, self._readable)

    def _readable(self) -> None:
        try:
            data = self.sock.recv(_READ)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._fail(f"read failed during the TLS handshake: {exc.strerror or exc}")
            return
        if not data:
            self._fail("closed before finishing the TLS handshake", level=logging.INFO)
            return
        established = False
        for event in self.session.receive(data):
            if isinstance(event, TlsFailed):
                self._send(self.session.data_to_send())  # the alert, if it fits
                self._fail(event.reason)
                return
            if isinstance(event, TlsEstablished):
                established = True
            elif isinstance(event, Data):
                self.session.hold_input(event.data)
        self._send(self.session.data_to_send())
        if self.done:
            return
        if established:
            self.gate.reactor.remove_reader(self.fd)
            if self.unsent:
                return  # handed on once the last flight is out (_writable)
            self._hand_on()

    def _send(self, data: bytes) -> None:
        if not data or self.done:
            return
        if self.unsent:
            self.unsent += data
            return
        try:
            sent = self.sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as exc:
            self._fail(f"write failed during the TLS handshake: {exc.strerror or exc}")
            return
        if sent < len(data):
            self.unsent += data[sent:]
            self.gate.reactor.add_writer(self.fd, self._writable)

    def _writable(self) -> None:
        try:
            sent = self.sock.send(self.unsent)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._fail(f"write failed during the TLS handshake: {exc.strerror or exc}")
            return
        del self.unsent[:sent]
        if self.unsent:
            return
        self.gate.reactor.remove_writer(self.fd)
        if self.session.established:
            self._hand_on()

    def _expired(self) -> None:
        self._fail(f"no TLS handshake within {self.gate.timeout:g}s")

    def _hand_on(self) -> None:
        self._finish()
        self.gate.ready(self.sock, self.addr, self.session)

    def _fail(self, reason: str, level: int = logging.WARNING) -> None:
        if self.done:
            return
        self._finish()
        self.sock.close()
        self.gate.refused(self.addr, reason, level)

    def _finish(self) -> None:
        self.done = True
        self.deadline.cancel()
        self.gate.reactor.forget(self.fd)
        self.gate.pending.pop(self.fd, None)

    def abort(self) -> None:
        """The accepter goes away: drop the connection without a word."""
        if not self.done:
            self._finish()
            self.sock.close()


def secured(
    reactor: Reactor,
    source: Optional[ServerTlsSource],
    ready: Callable[..., None],
    *,
    label: str,
    errors: Optional[RateLimitedLog] = None,
    on_refused: Optional[Callable[[], None]] = None,
) -> Callable[..., None]:
    """The accept callback of a listener: ``ready(sock, addr)`` for a plain
    accepter, or a gate that calls ``ready(sock, addr, session)`` once the
    handshake is done (and ``on_refused()`` for each client it turns away)."""
    if source is None:
        return ready
    return TlsGate(
        reactor, source.new_filter, ready, label=label, errors=errors, on_refused=on_refused
    )


class TlsGate:
    """Handshakes for one ssl accepter; call it with each accepted socket."""

    def __init__(
        self,
        reactor: Reactor,
        sessions: Callable[[], TlsFilter],
        ready: Ready,
        *,
        label: str,
        timeout: float = HANDSHAKE_TIMEOUT,
        errors: Optional[RateLimitedLog] = None,
        on_refused: Optional[Callable[[], None]] = None,
    ) -> None:
        self.reactor = reactor
        #: A new server-side session, from the accepter's current context
        #: (the context changes on SIGHUP; sessions already up keep theirs).
        self.sessions = sessions
        self.ready = ready
        self.label = label
        self.timeout = timeout
        self.errors = errors or RateLimitedLog(f"{label}: ", reactor.now)
        #: Told of each client turned away (the port counts them for metrics).
        self.on_refused = on_refused
        self.pending: Dict[int, _Handshake] = {}

    def __call__(self, sock: socket.socket, addr: tuple) -> None:
        if len(self.pending) >= MAX_PENDING:
            sock.close()
            self.refused(addr, f"{MAX_PENDING} TLS handshakes already under way", logging.WARNING)
            return
        try:
            session = self.sessions()
        except Exception as exc:  # a context that cannot make sessions: refuse, keep serving
            sock.close()
            self.refused(addr, f"cannot start TLS: {exc}", logging.ERROR)
            return
        handshake = _Handshake(self, sock, addr, session)
        self.pending[handshake.fd] = handshake
        handshake.start()

    def refused(self, addr: tuple, reason: str, level: int) -> None:
        if self.on_refused is not None:
            self.on_refused()
        self.errors.log(
            f"refused {addr[0]},{addr[1]}: {reason}",
            key=f"refused {addr[0]}: {reason}",
            level=level,
        )

    def close(self) -> None:
        """Drop every handshake under way (the accepter stops)."""
        for handshake in list(self.pending.values()):
            handshake.abort()
