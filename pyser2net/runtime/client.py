"""One network peer of a connection, and its bounded output queue."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Optional

from pyser2net.config.model import Connector
from pyser2net.protocol.telnet import TelnetServerCodec
from pyser2net.runtime.reactor import Timer
from pyser2net.runtime.readsize import ReadSize
from pyser2net.runtime.telnetlog import OptionWatch

if TYPE_CHECKING:
    from pyser2net.runtime.port import Port

#: How long a client being closed may take to receive its last bytes, and
#: how long a device may take to swallow what clients sent before it closes.
DRAIN_SECONDS = 5.0


class Client:
    """One network peer of a connection."""

    def __init__(self, port: Port, sock: socket.socket, addr: tuple) -> None:
        self.port = port
        self.sock = sock
        self.fd = sock.fileno()
        self.addr = addr
        self.outq = bytearray()
        self.reads = ReadSize(port.conn.options.net_to_dev_bufsize)
        self.closing = False
        self.closed = False
        self.last_activity = port.reactor.now()
        self.stalled_since: Optional[float] = None
        self._close_timer: Optional[Timer] = None
        self._send_timer: Optional[Timer] = None
        #: The telnet layer, for telnet accepters; None on raw ports.
        self.codec: Optional[TelnetServerCodec] = None
        #: -l: logs the telnet options when they change (None without -l).
        self.options: Optional[OptionWatch] = None
        #: RFC 2217 FLOWCONTROL-SUSPEND: queue, but do not send.
        self.suspended = False
        self.warned = False
        #: Turned away (port busy, access denied...): never a session.
        self.refused = False
        #: timeout-on-os-queue: bytes the kernel still held at the last tick,
        #: and when that queue last got smaller (or was empty).
        self.kernel_queued = 0
        self.kernel_progress = self.last_activity
        #: The connback target this client was dialled for, if any.
        self.connback: Optional[Connector] = None
        #: Seconds of silence before closing; connback clients have their own.
        self.idle_timeout = port.conn.timeout
        #: Payload counters for showport (telnet escapes not counted).
        self.bytes_received = 0
        self.bytes_sent = 0

    @property
    def name(self) -> str:
        host, port_no = self.addr[0], self.addr[1]
        return f"{self.port.conn.name} client {host},{port_no}"

    def send(self, data: bytes) -> None:
        """Queue bytes for the peer, writing at once when possible."""
        if self.closed or not data:
            return
        if not self.outq and not self.suspended:
            try:
                sent = self.sock.send(data)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError as exc:
                self.port.drop_client(self, f"write failed: {exc.strerror or exc}")
                return
            if sent == len(data):
                return
            data = data[sent:]
            self.port.reactor.add_writer(self.fd, self._writable)
            self.stalled_since = self.port.reactor.now()
            self._arm_send_timeout()
        self.outq += data
        limit = self.port.conn.options.client_buffer_limit
        if limit is not None and len(self.outq) > limit and not self.closing:
            self.port.drop_client(self, f"stopped reading: {len(self.outq)} bytes queued, "
                                        f"client-buffer-limit is {limit}")

    def _arm_send_timeout(self) -> None:
        timeout = self.port.conn.options.client_send_timeout
        if timeout is None or self._send_timer is not None or self.stalled_since is None:
            return

        def check() -> None:
            self._send_timer = None
            if self.closed or self.stalled_since is None:
                return
            if self.port.reactor.now() - self.stalled_since >= timeout:
                self.port.drop_client(self, f"no progress for {timeout:g}s (client-send-timeout)")
            else:
                self._arm_send_timeout()

        delay = self.stalled_since + timeout - self.port.reactor.now()
        self._send_timer = self.port.reactor.call_later(delay, check)

    def _writable(self) -> None:
        try:
            sent = self.sock.send(self.outq)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self.port.drop_client(self, f"write failed: {exc.strerror or exc}")
            return
        del self.outq[:sent]
        self.stalled_since = self.port.reactor.now()
        if not self.outq:
            self.stalled_since = None
            self.port.reactor.remove_writer(self.fd)
            if self.closing:
                self.port.drop_client(self, None)
                return
        self.port.client_drained(self)

    def flush_protocol(self) -> None:
        """Send what the telnet layer queued (answers go before later data)."""
        if self.codec is not None:
            self.send(self.codec.data_to_send())

    def suspend(self, on: bool) -> None:
        self.suspended = on
        if not on and self.outq and not self.closed:
            self.port.reactor.add_writer(self.fd, self._writable)
        elif on:
            self.port.reactor.remove_writer(self.fd)

    def close_after_flush(self) -> None:
        """Close once queued bytes are out (bounded by DRAIN_SECONDS)."""
        self.closing = True
        self.port.reactor.remove_reader(self.fd)
        if not self.outq:
            self.port.drop_client(self, None)
        else:
            self._close_timer = self.port.reactor.call_later(
                DRAIN_SECONDS, lambda: self.port.drop_client(self, "peer stopped reading")
            )

    def shutdown(self) -> None:
        if self.closed:
            return
        self.closed = True
        for timer in (self._close_timer, self._send_timer):
            if timer is not None:
                timer.cancel()
        self.port.reactor.forget(self.fd)
        try:
            self.sock.close()
        except OSError:
            pass


class UdpClient(Client):
    """A remote address that sent datagrams to a UDP accepter.

    It shares the listening socket, so it has no descriptor of its own and
    nothing to close; what it is sent leaves as datagrams.
    """

    def __init__(self, port: Port, sock: socket.socket, addr: tuple) -> None:
        super().__init__(port, sock, addr)
        # No descriptor of its own: the port checks for None where it
        # watches clients' descriptors, and the methods that use it are
        # replaced below.
        self.fd = None  # type: ignore[assignment]

    def send(self, data: bytes) -> None:
        if self.closed or not data:
            return
        try:
            self.sock.sendto(data, self.addr)
        except (BlockingIOError, InterruptedError):
            self.port.errors.log(f"dropped {len(data)} bytes to {addr_text(self.addr)}: "
                                 "socket buffer full")
        except OSError as exc:
            self.port.drop_client(self, f"send failed: {exc.strerror or exc}")

    def close_after_flush(self) -> None:
        self.closing = True
        self.port.drop_client(self, None)

    def shutdown(self) -> None:
        self.closed = True


def addr_text(addr: tuple) -> str:
    return f"{addr[0]},{addr[1]}"
