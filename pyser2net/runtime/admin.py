"""The admin (control) port's sockets: a listener and one stream per client.

What is said on the admin port is ``protocol.admin``'s ``AdminSession``;
this module only moves its bytes.
"""

from __future__ import annotations

import logging
import socket
from typing import TYPE_CHECKING, Callable, Dict, Optional, Sequence, Set, Tuple

from pyser2net.config.model import Accepter
from pyser2net.protocol.admin import AdminBackend, AdminSession
from pyser2net.runtime.client import DRAIN_SECONDS
from pyser2net.runtime.reactor import Reactor
from pyser2net.runtime.service import Service, ServiceClient

if TYPE_CHECKING:  # the TLS modules load ssl: only ssl accepters need them
    from pyser2net.protocol.tls import TlsFilter

log = logging.getLogger(__name__)

#: Unsent output at which the admin client is no longer read (until a
#: quarter of it is left).
OUTPUT_LIMIT = 1 << 20


class AdminConnection(ServiceClient):
    """One admin client: its stream driving one ``AdminSession``."""

    def __init__(
        self, server: AdminServer, sock: socket.socket, addr: tuple, tls: Optional[TlsFilter] = None
    ) -> None:
        self.server = server
        self.addr = addr
        self.session = AdminSession(server.backend)
        self.session.on_output = self._answered
        super().__init__(server, sock, tls, OUTPUT_LIMIT)

    def start(self) -> None:
        self.stream.resume_reading()
        self.flush()

    def flush(self) -> None:
        """Send what the session produced; close after ``exit`` once sent."""
        if self.closed:
            return
        out = self.session.take_output()
        if out:
            self.stream.write(out)
        if self.session.closed and not self.closed:
            self.stream.close_after_flush(DRAIN_SECONDS)

    def monitor_data(self, data: bytes) -> None:
        self.session.monitor_data(data, backlog=self.stream.queued)
        self.flush()

    def _forget(self) -> None:
        super()._forget()
        self.server.backend.unmonitor(self.session)

    # -- the stream's news ---------------------------------------------------

    def data_received(self, data: bytes) -> None:
        self.session.feed(data)
        self.flush()
        self.server.activity()
        if self.session.waiting:
            # A command waits for its answer (reload): what follows it is
            # held by the session; read no more until it is answered.
            self.stream.pause_reading()

    def _answered(self) -> None:
        """The session's waiting command was answered: send, read again."""
        self.flush()
        self.server.activity()
        if not self.closed and not self.session.waiting:
            self.stream.resume_reading()

    def eof_received(self) -> None:
        self.close()


class AdminServer(Service):
    """Listens on the admin accepter and serves every admin client."""

    def __init__(
        self,
        reactor: Reactor,
        accepter: Accepter,
        backend: AdminBackend,
        authdir: Optional[str] = None,
    ) -> None:
        super().__init__(
            reactor, accepter, label="admin", binder_name="admin port", authdir=authdir
        )
        self.backend = backend
        self.connections: Set[AdminConnection] = set()
        self._seen: Dict[Tuple[str, str], None] = {}
        #: Told of every new admin client and of what each sends (the engine
        #: then reports changed connections to sessions in YAML mode).
        self.on_activity: Optional[Callable[[], None]] = None

    def _on_accept(self, sock: socket.socket, addr: tuple, tls: Optional[TlsFilter] = None) -> None:
        conn = AdminConnection(self, sock, addr, tls)
        self.connections.add(conn)
        conn.start()
        self.activity()

    def activity(self) -> None:
        if self.on_activity is not None:
            self.on_activity()

    def connection_for(self, session: AdminSession) -> Optional[AdminConnection]:
        for conn in self.connections:
            if conn.session is session:
                return conn
        return None

    def wants_connection_events(self) -> bool:
        return any(c.session.yaml_output for c in self.connections)

    def connection_events(self, current: Sequence[Tuple[str, str]]) -> None:
        """Report clients that came or went since the last call (YAML mode)."""
        now = dict.fromkeys(current)
        events = [("new connection", k) for k in now if k not in self._seen]
        events += [("disconnect", k) for k in self._seen if k not in now]
        self._seen = now
        if not events:
            return
        for conn in list(self.connections):
            for event, (name, remote) in events:
                conn.session.notify(event, name, remote)
            conn.flush()
