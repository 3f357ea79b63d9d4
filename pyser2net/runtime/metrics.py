"""The ``--metrics`` responder: ``GET /metrics`` and ``GET /status`` on the event loop.

It runs on the daemon's own loop like any other listener, so a scrape
reads the engine's state between two loop turns and never concurrently
with it.  What a client can cost is bounded: ``MAX_CLIENTS`` connections
at once (more are closed at once), a request head of at most
``protocol.http.MAX_HEAD`` bytes, ``IDLE_SECONDS`` of silence, and its
input is not read while an answer waits to be sent.

What is said is ``protocol.http``; what is answered comes from the
``render`` callbacks the engine gives (Prometheus text, the JSON status).
"""

from __future__ import annotations

import logging
import socket
from typing import TYPE_CHECKING, Callable, Dict, Optional, Set, Tuple

from pyser2net.config.model import Accepter
from pyser2net.protocol.http import (
    BadRequest,
    Request,
    RequestReader,
    error_response,
    method_allowed,
    response,
)
from pyser2net.runtime.client import DRAIN_SECONDS
from pyser2net.runtime.reactor import Reactor
from pyser2net.runtime.service import Service, ServiceClient
from pyser2net.runtime.timers import TimerSlot

if TYPE_CHECKING:  # the TLS modules load ssl: only ssl accepters need them
    from pyser2net.protocol.tls import TlsFilter

log = logging.getLogger(__name__)

#: Connections served at once; a scraper needs one, a person with curl another.
MAX_CLIENTS = 8
#: A connection with no request for this long is closed.
IDLE_SECONDS = 30.0
#: Unsent output at which a connection is no longer read.
OUTPUT_LIMIT = 1 << 20

#: A page: the body and its content type, made at request time.
Page = Callable[[], Tuple[bytes, str]]


class HttpConnection(ServiceClient):
    """One client of the responder."""

    def __init__(
        self,
        server: MetricsServer,
        sock: socket.socket,
        tls: Optional[TlsFilter] = None,
    ) -> None:
        self.server = server
        self.reader = RequestReader()
        self._idle = TimerSlot(server.reactor, self._idle_expired)
        super().__init__(server, sock, tls, OUTPUT_LIMIT)

    def start(self) -> None:
        self.stream.resume_reading()
        self._idle.arm(IDLE_SECONDS)

    def _forget(self) -> None:
        super()._forget()
        self._idle.cancel()

    def _idle_expired(self) -> None:
        self.close()

    def _finish(self, data: bytes) -> None:
        """Send the last answer, then close."""
        self._idle.cancel()
        self.stream.write(data)
        self.stream.close_after_flush(DRAIN_SECONDS)

    # -- the stream's news ---------------------------------------------------

    def data_received(self, data: bytes) -> None:
        for item in self.reader.feed(data):
            if self.closed or self.stream.closing:
                return
            if isinstance(item, BadRequest):
                self._finish(error_response(item.status, item.message))
                return
            self._serve(item)
        if not self.closed and not self.stream.closing:
            self._idle.arm(IDLE_SECONDS)

    def _serve(self, request: Request) -> None:
        keep = request.keep_alive
        refused = method_allowed(request)
        page = self.server.pages.get(request.path)
        if refused is not None:
            out = error_response(refused.status, refused.message, keep_alive=keep)
        elif page is None:
            out = error_response(404, f"no page {request.path}", keep_alive=keep)
        else:
            try:
                body, content_type = page()
            except Exception:  # noqa: BLE001 - one bad page must not stop the daemon
                log.exception("metrics: %s failed", request.path)
                out = error_response(500, "internal error, see logs", keep_alive=keep)
            else:
                out = response(
                    200, body, content_type, keep_alive=keep, head_only=request.method == "HEAD"
                )
        if keep:
            self.stream.write(out)
        else:
            self._finish(out)

    def eof_received(self) -> None:
        # The client has said all it will: answer what was asked, then close.
        self.stream.close_after_flush(DRAIN_SECONDS)


class MetricsServer(Service):
    """Listens on the ``--metrics`` accepter and serves ``pages`` by path."""

    def __init__(self, reactor: Reactor, accepter: Accepter, pages: Dict[str, Page]) -> None:
        super().__init__(reactor, accepter, label="metrics", binder_name="metrics")
        self.pages = pages
        self.connections: Set[HttpConnection] = set()
        self._turned_away = 0

    def _on_accept(self, sock: socket.socket, addr: tuple, tls: Optional[TlsFilter] = None) -> None:
        if len(self.connections) >= MAX_CLIENTS:
            self._turned_away += 1
            if self._turned_away == 1 or self._turned_away % 100 == 0:
                log.warning(
                    "metrics: %d connections already open, closing another (%d turned away so far)",
                    MAX_CLIENTS,
                    self._turned_away,
                )
            sock.close()
            return
        conn = HttpConnection(self, sock, tls)
        self.connections.add(conn)
        conn.start()
