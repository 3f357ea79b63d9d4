"""Rotators: one accepter in front of several connections."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Dict, Optional

from pyser2net.config.model import Rotator
from pyser2net.runtime.counters import REFUSED_TLS, ROTATOR_NO_FREE_PORT
from pyser2net.runtime.port import Port
from pyser2net.runtime.reactor import Reactor
from pyser2net.runtime.service import Service

if TYPE_CHECKING:  # the TLS modules load ssl: only ssl accepters need them
    from pyser2net.protocol.tls import TlsFilter


class RotatorPort(Service):
    """Hands each client the next free connection of a list, round robin.

    The search starts after the connection used last; disabled connections
    are skipped, as ser2net 4.3 does.
    """

    NO_FREE_PORT = b"No free port found\r\n"

    def __init__(
        self,
        reactor: Reactor,
        rotator: Rotator,
        ports: Dict[str, Port],
        refused: Optional[Dict[str, int]] = None,
    ) -> None:
        # An ssl accepter's TLS uses the rotator's own authdir and
        # allowed-users, not its connections'.
        users = rotator.allowed_users
        super().__init__(
            reactor,
            rotator.accepter,
            label=rotator.name,
            binder_name=f"rotator {rotator.name}",
            authdir=rotator.authdir,
            allowed_users=None if users is None else frozenset(users),
        )
        self.rotator = rotator
        self.ports = ports
        #: Clients turned away, by reason; the engine keeps it across reloads.
        self.refused: Dict[str, int] = {} if refused is None else refused
        self._next = 0

    def _on_accept(self, sock: socket.socket, addr: tuple, tls: Optional[TlsFilter] = None) -> None:
        names = self.rotator.connections
        for step in range(len(names)):
            index = (self._next + step) % len(names)
            port = self.ports.get(names[index])
            if port is not None and port.has_room:
                self._next = (index + 1) % len(names)
                port.accept(sock, addr, tls)
                return
        self._refused(ROTATOR_NO_FREE_PORT)
        try:
            sock.send(
                self.NO_FREE_PORT if tls is None else tls.send(self.NO_FREE_PORT) + tls.close()
            )
        except OSError:
            pass
        sock.close()

    def _tls_refused(self) -> None:
        self._refused(REFUSED_TLS)

    def _refused(self, reason: str) -> None:
        self.refused[reason] = self.refused.get(reason, 0) + 1
