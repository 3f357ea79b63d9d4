"""A configured connection at run time: its listener, its device, its clients.

Data path and backpressure:

* device -> clients: bytes read from the device are queued on every
  client.  While any client's queue is at or over ``dev-to-net-bufsize``
  the device is not read (ser2net's behaviour: the slowest client sets the
  pace).  With ``client-buffer-limit`` or ``client-send-timeout`` a client
  that falls behind is disconnected instead, and the others go on.
* clients -> device: while the device queue is at or over
  ``net-to-dev-bufsize`` no client is read.

Every queue is therefore bounded, whatever a client or a device does, and
data a peer handed us is written out before the far side is closed.
"""

from __future__ import annotations

import logging
import socket
from typing import List, Optional

from pyser2net.accepter import TcpListener
from pyser2net.devices import Device, DeviceError, SerialPort, open_device
from pyser2net.model import Connection, SerialDevice
from pyser2net.reactor import Reactor, Timer

log = logging.getLogger(__name__)

#: How long a client being closed may take to receive its last bytes, and
#: how long a device may take to swallow what clients sent before it closes.
DRAIN_SECONDS = 5.0


def chardelay_seconds(conn: Connection, speed: Optional[int] = None) -> float:
    """The hold time for device bytes, as ser2net computes it.

    ``chardelay-scale`` tenths of a character time, bounded by
    ``chardelay-min`` and ``chardelay-max`` (microseconds).
    """
    opts = conn.options
    device = conn.connector.device
    if isinstance(device, SerialDevice):
        s = device.serial
        bits = 1 + s.databits + (0 if s.parity == "none" else 1) + s.stopbits
        baud = speed or s.speed
    else:
        bits, baud = 10, speed or 9600
    usec = bits * 1_000_000 * opts.chardelay_scale / (10 * baud)
    return max(opts.chardelay_min, min(opts.chardelay_max, usec)) / 1_000_000


class Client:
    """One network peer of a connection."""

    def __init__(self, port: Port, sock: socket.socket, addr: tuple) -> None:
        self.port = port
        self.sock = sock
        self.fd = sock.fileno()
        self.addr = addr
        self.outq = bytearray()
        self.closing = False
        self.closed = False
        self.last_activity = port.reactor.now()
        self.stalled_since: Optional[float] = None
        self._close_timer: Optional[Timer] = None

    @property
    def name(self) -> str:
        host, port_no = self.addr[0], self.addr[1]
        return f"{self.port.conn.name} client {host},{port_no}"

    def send(self, data: bytes) -> None:
        """Queue bytes for the peer, writing at once when possible."""
        if self.closed or not data:
            return
        if not self.outq:
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
        self.outq += data

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
        if self._close_timer is not None:
            self._close_timer.cancel()
        self.port.reactor.forget(self.fd)
        try:
            self.sock.close()
        except OSError:
            pass


class Port:
    """Serves one ``model.Connection``."""

    def __init__(self, reactor: Reactor, conn: Connection) -> None:
        self.reactor = reactor
        self.conn = conn
        self.listener = TcpListener(reactor, conn.accepter, self._on_accept)
        self.device: Optional[Device] = None
        self.clients: List[Client] = []
        self.devq = bytearray()
        self.device_paused = False
        self.clients_paused = False
        self._pending = bytearray()  # device bytes held by chardelay
        self._flush_timer: Optional[Timer] = None
        self._hold_started = 0.0
        self._drain_timer: Optional[Timer] = None
        self._idle_timer: Optional[Timer] = None
        self.bytes_from_device = 0
        self.bytes_to_device = 0

    # -- lifecycle ------------------------------------------------------

    def start(self) -> None:
        if self.conn.enable:
            self.listener.start()

    def stop(self) -> None:
        self.listener.stop()
        for client in list(self.clients):
            self.drop_client(client, None)
        self._close_device()

    # -- clients --------------------------------------------------------

    def _on_accept(self, sock: socket.socket, addr: tuple) -> None:
        client = Client(self, sock, addr)
        opts = self.conn.options
        active = [c for c in self.clients if not c.closing]
        if len(active) >= opts.max_connections:
            if opts.kickolduser:
                self.drop_client(active[0], "kicked off by a new user")
            else:
                self._refuse(client, b"Port already in use\r\n")
                return
        if self.device is None:
            try:
                self._open_device()
            except DeviceError as exc:
                log.error("%s: device open failure: %s", self.conn.name, exc.detail)
                self._refuse(client, b"Device open failure: " + exc.reason.encode() + b"\r\n")
                return
        self.clients.append(client)
        log.info("%s: connection from %s", self.conn.name, _addr_text(addr))
        self.reactor.add_reader(client.fd, lambda: self._client_readable(client))
        if self.clients_paused:
            self.reactor.remove_reader(client.fd)
        self._arm_idle_timer()

    def _refuse(self, client: Client, message: bytes) -> None:
        self.clients.append(client)
        client.send(message)
        client.close_after_flush()

    def drop_client(self, client: Client, reason: Optional[str]) -> None:
        if client.closed:
            return
        if reason:
            log.info("%s: closing %s: %s", self.conn.name, _addr_text(client.addr), reason)
        client.shutdown()
        if client in self.clients:
            self.clients.remove(client)
        if not any(not c.closing for c in self.clients):
            self._last_client_left()
        else:
            self.client_drained(client)

    def _client_readable(self, client: Client) -> None:
        try:
            data = client.sock.recv(self.conn.options.net_to_dev_bufsize)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self.drop_client(client, f"read failed: {exc.strerror or exc}")
            return
        if not data:
            self.drop_client(client, "closed by peer")
            return
        client.last_activity = self.reactor.now()
        self.to_device(data)

    def client_drained(self, client: Client) -> None:
        if self.device_paused and self._clients_have_room():
            self.device_paused = False
            self._watch_device_reads()

    def _clients_have_room(self) -> bool:
        limit = self.conn.options.dev_to_net_bufsize
        return all(len(c.outq) < limit for c in self.clients if not c.closing)

    def _arm_idle_timer(self) -> None:
        timeout = self.conn.timeout
        if timeout <= 0 or self._idle_timer is not None:
            return

        def check() -> None:
            self._idle_timer = None
            now = self.reactor.now()
            for c in list(self.clients):
                if not c.closing and now - c.last_activity >= timeout:
                    self.drop_client(c, "timed out")
            if self.clients:
                self._arm_idle_timer_at(min(c.last_activity for c in self.clients) + timeout)

        self._idle_check = check
        self._arm_idle_timer_at(self.reactor.now() + timeout)

    def _arm_idle_timer_at(self, when: float) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        self._idle_timer = self.reactor.call_later(when - self.reactor.now(), self._idle_check)

    # -- device ---------------------------------------------------------

    def _open_device(self) -> None:
        self.device = open_device(self.conn.connector.device, self.conn.connector.text)
        self.device_paused = False
        self.devq.clear()
        log.info("%s: opened %s", self.conn.name, self.device.display)
        self._watch_device_reads()

    def _watch_device_reads(self) -> None:
        dev = self.device
        if dev is not None and dev.read_fd is not None and not self.device_paused:
            self.reactor.add_reader(dev.read_fd, self._device_readable)

    def _device_readable(self) -> None:
        dev = self.device
        if dev is None:
            return
        try:
            data = dev.read(self.conn.options.dev_to_net_bufsize)
        except DeviceError as exc:
            self._device_failed(exc)
            return
        if not data:
            return
        self.bytes_from_device += len(data)
        now = self.reactor.now()
        for c in self.clients:
            c.last_activity = now
        if not self.conn.options.chardelay:
            self._to_clients(bytes(data))
            return
        if not self._pending:
            self._hold_started = now
        self._pending += data
        if len(self._pending) >= self.conn.options.dev_to_net_bufsize:
            self._flush_pending()
            return
        delay = chardelay_seconds(self.conn, self._speed())
        deadline = min(now + delay, self._hold_started + self.conn.options.chardelay_max / 1e6)
        if self._flush_timer is not None:
            self._flush_timer.cancel()
        self._flush_timer = self.reactor.call_later(deadline - now, self._flush_pending)

    def _speed(self) -> Optional[int]:
        return self.device.settings.speed if isinstance(self.device, SerialPort) else None

    def _flush_pending(self) -> None:
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        if self._pending:
            data = bytes(self._pending)
            self._pending.clear()
            self._to_clients(data)

    def _to_clients(self, data: bytes) -> None:
        for client in list(self.clients):
            if not client.closing:
                client.send(data)
        if not self._clients_have_room() and self.device is not None:
            self.device_paused = True
            if self.device.read_fd is not None:
                self.reactor.remove_reader(self.device.read_fd)

    def to_device(self, data: bytes) -> None:
        dev = self.device
        if dev is None or dev.write_fd is None:
            return
        if not self.devq:
            try:
                written = dev.write(data)
            except DeviceError as exc:
                self._device_failed(exc)
                return
            self.bytes_to_device += written
            if written == len(data):
                return
            data = data[written:]
            self.reactor.add_writer(dev.write_fd, self._device_writable)
        self.devq += data
        if len(self.devq) >= self.conn.options.net_to_dev_bufsize:
            self._pause_clients(True)

    def _device_writable(self) -> None:
        dev = self.device
        if dev is None or dev.write_fd is None:
            return
        try:
            written = dev.write(self.devq)
        except DeviceError as exc:
            self._device_failed(exc)
            return
        del self.devq[:written]
        self.bytes_to_device += written
        if not self.devq:
            self.reactor.remove_writer(dev.write_fd)
            if self._drain_timer is not None:
                self._close_device()
                return
        if self.clients_paused and len(self.devq) < self.conn.options.net_to_dev_bufsize:
            self._pause_clients(False)

    def _pause_clients(self, pause: bool) -> None:
        self.clients_paused = pause
        for c in self.clients:
            if c.closing:
                continue
            if pause:
                self.reactor.remove_reader(c.fd)
            else:
                self.reactor.add_reader(c.fd, lambda c=c: self._client_readable(c))

    def _device_failed(self, exc: DeviceError) -> None:
        log.error("%s: device error: %s", self.conn.name, exc.detail)
        self.devq.clear()
        self._close_device()
        for client in list(self.clients):
            self.drop_client(client, "device failed")

    def _last_client_left(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        if self.device is None:
            return
        if self.devq:
            # Data the clients already handed over still goes to the device.
            self._drain_timer = self.reactor.call_later(DRAIN_SECONDS, self._close_device)
            if self.device.read_fd is not None:
                self.reactor.remove_reader(self.device.read_fd)
            return
        self._close_device()

    def _close_device(self) -> None:
        if self._drain_timer is not None:
            self._drain_timer.cancel()
            self._drain_timer = None
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        self._pending.clear()
        dev, self.device = self.device, None
        if dev is None:
            return
        for fd in {dev.read_fd, dev.write_fd}:
            if fd is not None:
                self.reactor.forget(fd)
        dev.close()
        self.devq.clear()
        self.clients_paused = False
        log.info("%s: closed %s", self.conn.name, dev.display)


def _addr_text(addr: tuple) -> str:
    return f"{addr[0]},{addr[1]}"
