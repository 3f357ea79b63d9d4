"""Rotators: one accepter in front of several connections."""

from __future__ import annotations

import socket
from typing import Dict

from pyser2net.config.model import ConnectionOptions, Rotator
from pyser2net.runtime.binder import Binder
from pyser2net.runtime.listeners import TcpListener
from pyser2net.runtime.port import Port
from pyser2net.runtime.reactor import Reactor


class RotatorPort:
    """Hands each client the next free connection of a list, round robin.

    The search starts after the connection used last; disabled connections
    are skipped, as ser2net 4.3 does.
    """

    NO_FREE_PORT = b"No free port found\r\n"

    def __init__(self, reactor: Reactor, rotator: Rotator, ports: Dict[str, Port]) -> None:
        self.rotator = rotator
        self.ports = ports
        self.listener = TcpListener(reactor, rotator.accepter, self._on_accept)
        self.binder = Binder(reactor, self.listener, f"rotator {rotator.name}",
                             ConnectionOptions().accepter_retry_time)
        self._next = 0

    def start(self) -> bool:
        """Listen, or keep trying to (see Binder); True when listening."""
        return self.binder.start()

    def stop(self) -> None:
        self.binder.stop()

    def _on_accept(self, sock: socket.socket, addr: tuple) -> None:
        names = self.rotator.connections
        for step in range(len(names)):
            index = (self._next + step) % len(names)
            port = self.ports.get(names[index])
            if port is not None and port.has_room:
                self._next = (index + 1) % len(names)
                port.accept(sock, addr)
                return
        try:
            sock.send(self.NO_FREE_PORT)
        except OSError:
            pass
        sock.close()
