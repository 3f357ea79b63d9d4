"""Rotators: one accepter in front of several connections."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Dict, Optional

from pyser2net.config.model import ConnectionOptions, Rotator
from pyser2net.runtime.binder import Binder
from pyser2net.runtime.listeners import TcpListener
from pyser2net.runtime.port import Port
from pyser2net.runtime.reactor import Reactor

if TYPE_CHECKING:  # the TLS modules load ssl: only ssl accepters need them
    from pyser2net.protocol.tls import TlsFilter
    from pyser2net.runtime.tlsconfig import ServerTlsSource


class RotatorPort:
    """Hands each client the next free connection of a list, round robin.

    The search starts after the connection used last; disabled connections
    are skipped, as ser2net 4.3 does.
    """

    NO_FREE_PORT = b"No free port found\r\n"

    def __init__(self, reactor: Reactor, rotator: Rotator, ports: Dict[str, Port]) -> None:
        self.rotator = rotator
        self.ports = ports
        self.reactor = reactor
        self.listener = TcpListener(reactor, rotator.accepter, self._on_accept)
        self.binder = Binder(
            reactor,
            self.listener,
            f"rotator {rotator.name}",
            ConnectionOptions().accepter_retry_time,
        )
        self._next = 0
        #: The accepter's TLS context (ssl accepters only): the rotator's
        #: own authdir and allowed-users apply, not its connections'.
        self.tls: Optional[ServerTlsSource] = None

    def start(self) -> bool:
        """Listen, or keep trying to (see Binder); True when listening.
        A key or certificate that cannot be used raises TlsSetupError."""
        ssl = self.rotator.accepter.ssl
        if ssl is not None and self.tls is None:
            from pyser2net.runtime.tlsaccept import secured
            from pyser2net.runtime.tlsconfig import ServerTlsSource

            users = self.rotator.allowed_users
            self.tls = ServerTlsSource(
                ssl,
                label=self.rotator.name,
                authdir=self.rotator.authdir,
                allowed_users=None if users is None else frozenset(users),
            )
            self.listener.on_client = secured(
                self.reactor, self.tls, self._on_accept, label=self.rotator.name
            )
        return self.binder.start()

    def stop(self) -> None:
        self.binder.stop()

    def _on_accept(self, sock: socket.socket, addr: tuple, tls: Optional[TlsFilter] = None) -> None:
        names = self.rotator.connections
        for step in range(len(names)):
            index = (self._next + step) % len(names)
            port = self.ports.get(names[index])
            if port is not None and port.has_room:
                self._next = (index + 1) % len(names)
                port.accept(sock, addr, tls)
                return
        try:
            sock.send(
                self.NO_FREE_PORT if tls is None else tls.send(self.NO_FREE_PORT) + tls.close()
            )
        except OSError:
            pass
        sock.close()
