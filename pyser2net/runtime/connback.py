"""``connback``: dialling out to the configured peers when the device talks.

A connback port keeps its device open with nobody connected.  When the
device says something, every connback target that has no connection yet
is dialled; a target that cannot be dialled is tried again on the next
device data after ``connector-retry-time`` seconds, so a device that keeps
talking to an absent peer does not turn into a connect storm.  A tcp
target's socket gets the TCP options of an accepted client (keepalive
timers, ``tcp-user-timeout``, no Nagle), so that a peer that vanished is
found as soon.

A target's host name is not looked up when dialling: the port looked it
up when it started (``names``); a dial that fails has it looked up again,
in the background, for the next one.
"""

from __future__ import annotations

import errno
import os
import socket
from typing import Callable, Collection, Sequence

from pyser2net.config.model import ConnectionOptions, Connector, NetworkDevice
from pyser2net.runtime.devices import peer_query
from pyser2net.runtime.listeners import tune_client_socket
from pyser2net.runtime.resolver import NameBook, first_address

#: Told of each connection started: the target, the socket (connecting,
#: non-blocking) and the address dialled.
Dialled = Callable[[Connector, socket.socket, tuple], None]


class ConnBack:
    """Dials the targets that are not connected; limits retries."""

    def __init__(
        self,
        targets: Sequence[Connector],
        options: ConnectionOptions,
        now: Callable[[], float],
        failed: Callable[[str], None],
        dialled: Dialled,
        names: NameBook,
    ) -> None:
        self.targets = targets
        self.names = names
        self.options = options
        self.retry_time = options.connector_retry_time
        self._now = now
        self._failed = failed
        self._dialled = dialled
        self._not_before = 0.0

    def dial(self, connected: Collection[Connector]) -> None:
        """The device talked; ``connected``: targets with a live client."""
        now = self._now()
        if now < self._not_before:
            return
        for target in self.targets:
            if target in connected:
                continue
            peer = target.device
            assert isinstance(peer, NetworkDevice)
            answer = self.names.get(peer_query(peer))
            found = first_address(answer)
            if found is None:
                why = answer if isinstance(answer, str) else "no address"
                self._give_up(target, f"cannot look up {peer.host}: {why}", now)
                continue
            family, kind, proto, addr = found
            try:
                sock = socket.socket(family, kind, proto)
            except OSError as exc:
                self._give_up(target, str(exc), now)
                continue
            try:
                if kind == socket.SOCK_STREAM:
                    tune_client_socket(sock, self.options)
                else:
                    sock.setblocking(False)
                err = sock.connect_ex(addr)
            except OSError as exc:
                sock.close()
                self._give_up(target, str(exc), now)
                continue
            if err not in (0, errno.EINPROGRESS):
                sock.close()
                self._give_up(target, os.strerror(err), now)
                continue
            self._dialled(target, sock, addr)

    def _give_up(self, target: Connector, reason: str, now: float) -> None:
        """Log why ``target`` could not be dialled; wait before the next try."""
        self._failed(f"connback to {target.text} failed: {reason}")
        self._not_before = now + self.retry_time
        peer = target.device
        assert isinstance(peer, NetworkDevice)
        self.names.refresh(peer_query(peer))  # the name may have moved
