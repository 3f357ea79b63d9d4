"""A TCP service in front of the daemon: the admin port, ``--metrics`` and
the rotators.

Each listens on one accepter (retried while the address is taken), may put
TLS in front of its clients, and closes every client it holds when it
stops; only what it does with a client differs.  The TLS modules are imported when an
ssl accepter starts, so that a daemon without one never loads ``ssl``.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any, FrozenSet, Optional, Set, Union

from pyser2net.config.model import Accepter, ConnectionOptions
from pyser2net.runtime.binder import Binder
from pyser2net.runtime.listeners import TcpListener
from pyser2net.runtime.reactor import Reactor
from pyser2net.runtime.stream import Stream, StreamError, StreamUser

if TYPE_CHECKING:
    from pyser2net.protocol.tls import TlsFilter
    from pyser2net.runtime.tlsconfig import ServerTlsSource
    from pyser2net.runtime.tlsstream import TlsStream


class Service:
    """Listens on ``accepter`` and hands each client to ``_on_accept``.

    ``label`` names the service in TLS log lines, ``binder_name`` in the
    lines about binding; ``authdir`` and ``allowed_users`` are what its
    TLS clients are checked against.  ``connections`` holds the clients
    that are open; each removes itself when it ends, and ``stop`` closes
    the rest.
    """

    def __init__(
        self,
        reactor: Reactor,
        accepter: Accepter,
        *,
        label: str,
        binder_name: str,
        authdir: Optional[str] = None,
        allowed_users: Optional[FrozenSet[str]] = None,
    ) -> None:
        self.reactor = reactor
        self.accepter = accepter
        self.label = label
        self.authdir = authdir
        self.allowed_users = allowed_users
        #: The accepter's TLS context (ssl accepters only).
        self.tls: Optional[ServerTlsSource] = None
        self.listener = TcpListener(reactor, accepter, self._on_accept)
        self.binder = Binder(
            reactor, self.listener, binder_name, ConnectionOptions().accepter_retry_time
        )
        self.connections: Set[Any] = set()

    def start(self) -> bool:
        """Listen, or keep trying to (see Binder); True when listening.
        A key or certificate that cannot be used raises TlsSetupError."""
        if self.accepter.ssl is not None and self.tls is None:
            from pyser2net.runtime.tlsaccept import secured
            from pyser2net.runtime.tlsconfig import ServerTlsSource

            self.tls = ServerTlsSource(
                self.accepter.ssl,
                label=self.label,
                authdir=self.authdir,
                allowed_users=self.allowed_users,
            )
            self.listener.on_client = secured(
                self.reactor,
                self.tls,
                self._on_accept,
                label=self.label,
                on_refused=self._tls_refused,
            )
        return self.binder.start()

    def stop(self) -> None:
        self.binder.stop()
        for conn in list(self.connections):
            conn.close()

    def _on_accept(self, sock: socket.socket, addr: tuple, tls: Optional[TlsFilter] = None) -> None:
        raise NotImplementedError

    def _tls_refused(self) -> None:
        """A client failed its TLS handshake (and was logged); a service
        that counts its refusals counts it here."""

    def client_stream(
        self, user: StreamUser, sock: socket.socket, tls: Optional[TlsFilter], high_water: int
    ) -> Union[Stream, TlsStream]:
        """The stream of an accepted client, under TLS when ``tls`` is its session."""
        if tls is None:
            return Stream.for_socket(
                self.reactor, user, sock, read_limit=4096, high_water=high_water
            )
        from pyser2net.runtime.tlsstream import TlsStream

        return TlsStream(self.reactor, user, sock, tls, read_limit=4096, high_water=high_water)


class ServiceClient:
    """One client of a ``Service``: its stream, and its place in the
    service's ``connections`` until it ends.

    The stream's water marks are the client's flow control: while it does
    not read what it asked for, its input is not read either.  A subclass
    says what the client's bytes mean (``data_received``, ``eof_received``)
    and extends ``_forget`` with what else it holds.
    """

    def __init__(
        self,
        service: Service,
        sock: socket.socket,
        tls: Optional[TlsFilter],
        output_limit: int,
    ) -> None:
        self.service = service
        self.stream: Union[Stream, TlsStream]
        self.stream = service.client_stream(self, sock, tls, output_limit)
        self.closed = False

    def close(self) -> None:
        if not self.closed:
            self.stream.close()
            self._forget()

    def _forget(self) -> None:
        self.closed = True
        self.service.connections.discard(self)

    def data_received(self, data: bytes) -> None:
        raise NotImplementedError

    def eof_received(self) -> None:
        raise NotImplementedError

    def connection_lost(self, exc: Optional[StreamError]) -> None:
        if not self.closed:
            self._forget()

    def pause_writing(self) -> None:
        self.stream.pause_reading()

    def resume_writing(self) -> None:
        self.stream.resume_reading()
