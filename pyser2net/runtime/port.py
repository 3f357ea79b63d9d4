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

import dataclasses
import errno
import fcntl
import functools
import logging
import os
import socket
import struct
import termios
from typing import Callable, List, Mapping, Optional, Sequence, Type, Union

from pyser2net.config.model import (
    Connection,
    NetworkDevice,
    SerialDevice,
    SerialSettings,
)
from pyser2net.config.model import Led as LedSpec
from pyser2net.protocol import telnet, templates
from pyser2net.protocol.telnet import TelnetServerCodec
from pyser2net.runtime import trace
from pyser2net.runtime.binder import Binder
from pyser2net.runtime.client import DRAIN_SECONDS, Client, UdpClient, addr_text
from pyser2net.runtime.comport import VirtualLines, apply_request
from pyser2net.runtime.devices import (
    Device,
    DeviceError,
    SerialPort,
    closed_text,
    open_device,
    opened_text,
)
from pyser2net.runtime.leds import Led, make_led
from pyser2net.runtime.listeners import TcpListener, UdpListener
from pyser2net.runtime.ratelimit import RateLimitedLog
from pyser2net.runtime.reactor import Reactor, Timer
from pyser2net.runtime.readsize import ReadSize
from pyser2net.runtime.remaddr import remote_allowed, resolve_remaddr
from pyser2net.runtime.telnetlog import OptionWatch

log = logging.getLogger(__name__)

#: Close reasons written to trace files, by the reason we log.
_TRACE_REASONS = {
    "closed by peer": trace.REASON_REMOTE_CLOSED,
    "timed out": trace.REASON_TIMEOUT,
    "kicked off by a new user": trace.REASON_KICKED,
}

#: What ser2net tells a client it turns away (same bytes, typo included).
PORT_IN_USE = b"Port already in use\r\n"
ACCESS_DENIED = b"Accessed denied due to your net address\r\n"
OPEN_FAILURE = b"Device open failure: "
#: Another connection has the same device open (ser2net compares the
#: connector strings as written, and checks this after max-connections).
DEVICE_IN_USE = b"Port's device already in use\r\n"


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


class StringWatch:
    """Finds a string in a byte stream, across chunk boundaries."""

    def __init__(self, text: Optional[str]) -> None:
        self.needle = render_simple(text) if text else b""
        self._tail = b""

    def feed(self, data: bytes) -> int:
        """How many bytes of ``data`` end with the string (0: not seen).

        Counting from the start of ``data``, so a caller can split the
        chunk right after the string.
        """
        if not self.needle:
            return 0
        keep = len(self.needle) - 1
        window = self._tail + data
        at = window.find(self.needle)
        if at < 0:
            self._tail = window[-keep:] if keep else b""
            return 0
        self._tail = b""
        return at + len(self.needle) - len(window) + len(data)

    def reset(self) -> None:
        self._tail = b""


def render_simple(text: str) -> bytes:
    """A string option with its C escapes applied and no substitutions."""
    return templates.render(text, templates.StringContext())


class Port:
    """Serves one ``model.Connection``."""

    #: RFC 2217 signature when the connection sets none (``-s`` changes it).
    signature = "ser2net"

    def __init__(self, reactor: Reactor, conn: Connection,
                 leds: Sequence[LedSpec] = ()) -> None:
        self.reactor = reactor
        self.conn = conn
        self.trace: Optional[trace.TraceWriter] = None
        #: Observers of the data path (the admin ``monitor`` command):
        #: called with "tcp" for client-to-device data, "term" the other way.
        self.monitors: List[Callable[[str, bytes], None]] = []
        by_name = {led.name: led for led in leds}
        opts = conn.options
        self.led_rx = _led(by_name, opts.led_rx)
        self.led_tx = _led(by_name, opts.led_tx)
        self.led_conn = _led(by_name, opts.led_conn)
        self.listener: Union[TcpListener, UdpListener]
        if conn.accepter.transport == "udp":
            self.listener = UdpListener(reactor, conn.accepter, self._on_datagram,
                                        conn.options.net_to_dev_bufsize)
        else:
            self.listener = TcpListener(reactor, conn.accepter, self.accept)
        #: Binds the listener, retrying every accepter-retry-time seconds.
        self.binder = Binder(reactor, self.listener, conn.name,
                             conn.options.accepter_retry_time)
        self.device: Optional[Device] = None
        #: Whether another connection has this connection's device open;
        #: the engine that knows every port sets it.
        self.device_busy: Callable[[], bool] = lambda: False
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
        self._allowed = resolve_remaddr(conn.options.remaddr)
        self._kicked = False
        self._reopen_timer: Optional[Timer] = None
        self._connect_backs = conn.connect_backs
        self._connback_timer: Optional[Timer] = None
        self._connback_not_before = 0.0
        self._modem_timer: Optional[Timer] = None
        self._modem_last = 0
        self.virtual = VirtualLines(
            conn.connector.device.serial if isinstance(conn.connector.device, SerialDevice)
            else SerialSettings()
        )
        self.errors = RateLimitedLog(f"{conn.name}: ", reactor.now)
        self._closeon = StringWatch(conn.options.closeon)
        self._sendon = StringWatch(conn.options.sendon)
        self._device_reads = ReadSize(conn.options.dev_to_net_bufsize)

    # -- lifecycle ------------------------------------------------------

    def start(self) -> bool:
        """Listen (and, with connback, open the device at once).

        Returns whether the listener is bound; one that is not (the address
        is missing or in use) has been logged and is retried every
        accepter-retry-time seconds.  A disabled port counts as started.
        """
        if self._connect_backs:
            self._hold_device_open()
        if not self.conn.enable:
            return True
        return self.binder.start()

    def stop_listening(self) -> None:
        """No new clients, and no more attempts to bind."""
        self.binder.stop()

    def stop(self) -> None:
        if self._connback_timer is not None:
            self._connback_timer.cancel()
        self._connback_timer = None
        self.binder.stop()
        for client in list(self.clients):
            self.drop_client(client, None)
        self._close_device()
        for led in (self.led_rx, self.led_tx, self.led_conn):
            if led is not None:
                led.deconfigure()  # ser2net hands the LED back to the kernel

    def close_gracefully(self) -> None:
        """Stop accepting; clients get what is held or queued for them first.

        The device then gets closestr and what clients sent, as on any last
        close; the caller bounds how long all this may take.
        """
        self.binder.stop()
        self._flush_pending()
        for client in list(self.clients):
            if not client.closing:
                client.close_after_flush()

    # -- connect back ---------------------------------------------------

    def _hold_device_open(self) -> None:
        """connback ports keep the device open to hear it talk first."""
        self._connback_timer = None
        if self.device is not None:
            return
        try:
            self._open_device()
        except DeviceError as exc:
            self.errors.log(f"device open failure: {exc.detail}")
            self._connback_timer = self.reactor.call_later(
                self.conn.options.connector_retry_time, self._hold_device_open)

    def _dial_back(self) -> None:
        """The device talked: connect out to every connback not connected yet."""
        now = self.reactor.now()
        if now < self._connback_not_before:
            return
        live = {c.connback for c in self.clients if c.connback is not None and not c.closing}
        for target in self._connect_backs:
            if target in live:
                continue
            peer = target.device
            assert isinstance(peer, NetworkDevice)
            kind = socket.SOCK_STREAM if peer.transport == "tcp" else socket.SOCK_DGRAM
            try:
                family, _, proto, _, addr = socket.getaddrinfo(peer.host, peer.port, 0, kind)[0]
                sock = socket.socket(family, kind, proto)
                sock.setblocking(False)
                err = sock.connect_ex(addr)
            except OSError as exc:
                self.errors.log(f"connback to {target.text} failed: {exc}")
                self._connback_not_before = now + self.conn.options.connector_retry_time
                continue
            if err not in (0, errno.EINPROGRESS):
                sock.close()
                self.errors.log(f"connback to {target.text} failed: {os.strerror(err)}")
                self._connback_not_before = now + self.conn.options.connector_retry_time
                continue
            client = Client(self, sock, addr)
            client.connback = target
            if self.conn.options.connback_timeout:
                client.idle_timeout = self.conn.options.connback_timeout
            self.clients.append(client)
            log.info("%s: connected back to %s", self.conn.name, target.text)
            self._watch_client_reads(client)
            # Written once the connect completes: an error then drops it.
            self.reactor.add_writer(client.fd, client._writable)
            self._arm_idle_timer()

    # -- clients --------------------------------------------------------

    @property
    def has_room(self) -> bool:
        """Whether a rotator may hand this connection a new client."""
        active = sum(1 for c in self.clients if not c.closing)
        return self.conn.enable and active < self.conn.options.max_connections

    def accept(self, sock: socket.socket, addr: tuple) -> None:
        """Take a client accepted by our listener or handed over by a rotator."""
        self._on_accept(sock, addr)

    def _on_datagram(self, sock: socket.socket, data: bytes, addr: tuple) -> None:
        client = next((c for c in self.clients if c.addr == addr and not c.closing), None)
        if client is None:
            client = self._on_accept(sock, addr, UdpClient)
            if client is None:
                return
        client.last_activity = self.reactor.now()
        if not self.conn.options.no_acc_to_con:
            client.bytes_received += len(data)
        self.to_device(data)

    def _on_accept(self, sock: socket.socket, addr: tuple,
                   kind: Type[Client] = Client) -> Optional[Client]:
        client = kind(self, sock, addr)
        opts = self.conn.options
        if self.conn.accepter.telnet:
            # The telnet layer speaks first, even to a client turned away.
            client.codec = TelnetServerCodec(
                rfc2217=self.conn.accepter.rfc2217,
                signature=opts.signature if opts.signature is not None else self.signature,
                brk_on_sync=opts.telnet_brk_on_sync,
            )
            client.send(client.codec.start())
            if OptionWatch.wanted():
                client.options = OptionWatch()
            if opts.telnet_brk_on_sync and kind is Client:
                # The sync's data mark travels as TCP urgent data, which
                # Linux takes out of the stream unless told otherwise.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_OOBINLINE, 1)
        if self._allowed and not remote_allowed(self._allowed, addr):
            self._refuse(client, ACCESS_DENIED, "not in remaddr")
            return None
        active = [c for c in self.clients if not c.closing]
        if len(active) >= opts.max_connections:
            if opts.kickolduser:
                # The device stays open for the newcomer.
                self.drop_client(active[0], "kicked off by a new user", keep_device=True)
                self._kicked = True
            else:
                self._refuse(client, PORT_IN_USE,
                             f"port in use (max-connections {opts.max_connections})")
                return None
        elif self.device_busy():
            self._refuse(client, DEVICE_IN_USE, "its device is open for another connection")
            return None
        if self.device is None and self._reopen_timer is None:
            try:
                self._open_device()
            except DeviceError as exc:
                if self.conn.connector.keepopen is None:
                    self._refuse(client, OPEN_FAILURE + exc.reason.encode() + b"\r\n",
                                 f"device open failure: {exc.detail}", logging.ERROR)
                    return None
                self.errors.log(f"device open failure: {exc.detail}")
                self._schedule_reopen()
        self.clients.append(client)
        log.info("%s: connection from %s", self.conn.name, addr_text(addr))
        if self.trace is not None:
            self.trace.opened(trace.remote_text(addr))
        if opts.banner is not None:
            banner = self._render(opts.banner, addr)
            client.bytes_sent += len(banner)  # counted as ser2net does, before telnet escapes
            client.send(client.codec.encode(banner) if client.codec is not None else banner)
        if self._kicked:
            # ser2net ends the old session and starts a new one on the same
            # device: closestr, then openstr.
            self._kicked = False
            for text in (opts.closestr, opts.openstr):
                if text is not None:
                    self.to_device(self._render(text, addr), record=False)
        if self.led_conn is not None:
            self.led_conn.on()
        if client.fd is not None and not self.clients_paused:
            self._watch_client_reads(client)
        self._arm_idle_timer()
        return client

    def _refuse(self, client: Client, message: bytes, reason: str,
                level: int = logging.INFO) -> None:
        """Send ``message`` and close; log why (a host retrying is logged once a minute)."""
        self.errors.log(f"refused {addr_text(client.addr)}: {reason}",
                        key=f"refused {client.addr[0]}: {reason}", level=level)
        client.refused = True
        self.clients.append(client)
        client.send(message)
        client.close_after_flush()

    def drop_client(self, client: Client, reason: Optional[str], keep_device: bool = False) -> None:
        if client.closed:
            return
        if reason:
            log.info("%s: closing %s: %s", self.conn.name, addr_text(client.addr), reason)
        client.shutdown()
        if client in self.clients:
            self.clients.remove(client)
            if self.trace is not None and not client.refused:
                self.trace.closed(trace.NETCON,
                                  _TRACE_REASONS.get(reason or "", trace.REASON_PORT_CLOSING))
        if not keep_device and not any(not c.closing for c in self.clients):
            self._last_client_left()
        else:
            self.client_drained(client)

    def _watch_client_reads(self, client: Client) -> None:
        # partial() rather than a lambda: one Python frame less per read.
        self.reactor.add_reader(client.fd, functools.partial(self._client_readable, client))

    def _client_readable(self, client: Client) -> None:
        try:
            data = client.sock.recv(client.reads.size)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self.drop_client(client, f"read failed: {exc.strerror or exc}")
            return
        if not data:
            self.drop_client(client, "closed by peer")
            return
        if client.codec is None:
            self.to_device(data)
            # Bookkeeping after the bytes are on their way: off the latency path.
            if not self.conn.options.no_acc_to_con:
                client.bytes_received += len(data)
        else:
            self._telnet_input(client, data)
        client.reads.update(len(data))
        client.last_activity = self.reactor.now()

    def _telnet_input(self, client: Client, data: bytes) -> None:
        assert client.codec is not None
        counted = not self.conn.options.no_acc_to_con
        for event in client.codec.receive_data(data):
            if isinstance(event, telnet.Data):
                self.to_device(event.data)
                if counted:  # payload only, as ser2net counts: no telnet commands
                    client.bytes_received += len(event.data)
            else:
                self._telnet_event(client, event)
            if client.closed:
                return
        client.flush_protocol()
        if client.options is not None:
            client.options.check(client.name, client.codec)

    def _telnet_event(self, client: Client, event: telnet.Event) -> None:
        codec = client.codec
        assert codec is not None
        if isinstance(event, telnet.ComPortRequest):
            answer = apply_request(self.device, self.virtual, event.command, event.value,
                                   client.name)
            if answer is None:
                return
            codec.reply(event.command, answer)
            if event.command != telnet.ComPortCommand.PURGE_DATA:
                # Settings are shared: every RFC 2217 client hears the change.
                for other in self.clients:
                    if other is not client and other.codec is not None and not other.closing:
                        other.codec.reply(event.command, answer)
                        other.flush_protocol()
        elif isinstance(event, telnet.Break):
            log.debug("%s: telnet break: a 250 ms break on the line", client.name)
            self._send_break()
        elif isinstance(event, telnet.SignatureReceived):
            log.debug("%s: RFC 2217 signature %s", client.name,
                      f"{event.text!r} sent" if event.text else "asked for")
        elif isinstance(event, telnet.FlowSuspend):
            client.suspend(True)
        elif isinstance(event, telnet.FlowResume):
            client.suspend(False)
        elif isinstance(event, telnet.ModemStateMaskChanged):
            self._start_modem_polling()
        elif isinstance(event, telnet.ProtocolWarning):
            # A warning once per connection: a broken client must not flood
            # the log.  With -l the rest (a few, the codec stops) show too.
            log.log(logging.DEBUG if client.warned else logging.WARNING, "%s: %s: %s",
                    self.conn.name, addr_text(client.addr), event.message)
            client.warned = True

    def _send_break(self) -> None:
        """A 250 ms break, timed by the reactor instead of a blocking sleep."""
        dev = self.device
        if not isinstance(dev, SerialPort) or dev.lines["break"]:
            return
        dev.set_line("break", True)
        self.reactor.call_later(0.25, lambda: dev.set_line("break", False)
                                if dev.port is not None else None)

    def _start_modem_polling(self) -> None:
        """Poll the modem lines while some client wants them reported.

        There is no descriptor event for modem lines, so a 1 s timer reads
        them, as ser2net does; it stops when nobody listens or the lines
        cannot be read (ptys).
        """
        if self._modem_timer is not None:
            return

        def poll() -> None:
            self._modem_timer = None
            dev = self.device
            listeners = [c.codec for c in self.clients
                         if c.codec is not None and c.codec.modemstate_mask and not c.closing]
            bits = dev.modem_bits() if isinstance(dev, SerialPort) else None
            if bits is None or not listeners:
                return
            state = telnet.modemstate_with_deltas(self._modem_last, bits)
            self._modem_last = bits
            if state & 0x0F:
                for client in self.clients:
                    if client.codec is not None and not client.closing:
                        client.codec.notify_modemstate(state)
                        client.flush_protocol()
            self._modem_timer = self.reactor.call_later(1.0, poll)

        dev = self.device
        bits = dev.modem_bits() if isinstance(dev, SerialPort) else None
        if bits is not None:
            self._modem_last = bits
            self._modem_timer = self.reactor.call_later(1.0, poll)

    def client_drained(self, client: Client) -> None:
        if self.device_paused and self._clients_have_room():
            self.device_paused = False
            self._watch_device_reads()

    @property
    def _room_limit(self) -> int:
        # With client-buffer-limit a slow client is dropped before it could
        # hold the device back; otherwise the slowest client sets the pace.
        opts = self.conn.options
        if opts.client_buffer_limit is not None:
            return max(opts.dev_to_net_bufsize, opts.client_buffer_limit + 1)
        return opts.dev_to_net_bufsize

    def _clients_have_room(self) -> bool:
        limit = self._room_limit
        return all(len(c.outq) < limit for c in self.clients if not c.closing)

    def set_timeout(self, seconds: int) -> None:
        """The admin ``setporttimeout``: applies to the clients connected now."""
        self.conn = dataclasses.replace(self.conn, timeout=seconds)
        for client in self.clients:
            if client.connback is None:
                client.idle_timeout = seconds
        self._arm_idle_timer()

    def _arm_idle_timer(self) -> None:
        """Check idle clients when the first of them could have timed out."""
        on_queue = self.conn.options.timeout_on_os_queue
        due = []
        for c in self.clients:
            if c.closing or c.idle_timeout <= 0:
                continue
            due.append(c.last_activity + c.idle_timeout)
            if on_queue:
                # The kernel's queue is only seen by looking: once a second.
                due.append(self.reactor.now() + 1.0)
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        if due:
            self._idle_timer = self.reactor.call_later(min(due) - self.reactor.now(),
                                                       self._idle_check)

    def _idle_check(self) -> None:
        """Close clients idle for ``timeout`` seconds.

        Traffic either way is activity; with timeout-on-os-queue, data a
        client has not taken for ``timeout`` seconds closes it even while
        the device keeps talking.
        """
        self._idle_timer = None
        now = self.reactor.now()
        on_queue = self.conn.options.timeout_on_os_queue
        for c in list(self.clients):
            timeout = c.idle_timeout
            if c.closing or timeout <= 0:
                continue
            stuck = on_queue and _queue_stuck(c, now) >= timeout
            if stuck or now - c.last_activity >= timeout:
                self.drop_client(c, "timed out")
        self._arm_idle_timer()

    # -- device ---------------------------------------------------------

    def _open_device(self) -> None:
        self.device = open_device(self.conn.connector.device, self.conn.connector.text)
        self.trace = trace.TraceWriter.for_options(self.conn.options, self._render_file_name)
        if self.trace is not None:
            self.trace.open()
        self.device_paused = False
        self.devq.clear()
        self._kicked = False
        if self.conn.options.openstr is not None:
            self.to_device(self._render(self.conn.options.openstr), record=False)
        log.info("%s: opened %s", self.conn.name, opened_text(self.device))
        self._watch_device_reads()

    def _watch_device_reads(self) -> None:
        dev = self.device
        if dev is not None and dev.read_fd is not None and not self.device_paused:
            self.reactor.add_reader(dev.read_fd, self._device_readable)

    def _device_readable(self) -> None:
        dev = self.device
        if dev is None:
            return
        reads = self._device_reads
        try:
            data = dev.read(reads.size)
        except DeviceError as exc:
            self._device_failed(exc)
            return
        if not data:
            return
        try:
            self._from_device(data)
        finally:
            # Bookkeeping after the bytes are on their way: off the latency path.
            reads.update(len(data))
            if not self.conn.options.no_con_to_acc:
                self.bytes_from_device += len(data)
            now = self.reactor.now()
            for c in self.clients:
                c.last_activity = now

    def _from_device(self, data: bytes) -> None:
        opts = self.conn.options
        if self.trace is not None:
            self.trace.record(trace.READ, data)
        if self.led_rx is not None:
            self.led_rx.flash()
        if opts.no_con_to_acc:
            return  # the device is read, and what it says is thrown away
        if self._connect_backs:
            self._dial_back()
        if self._closeon.needle and self._closeon.feed(data):
            # ser2net delivers the chunk that held the string, then hangs up.
            self._pending += data
            self._flush_pending()
            for client in list(self.clients):
                client.close_after_flush()
            return
        if not opts.chardelay:
            self._to_clients(data)
            return
        cut = self._sendon.feed(data)
        if cut:
            # Up to and including the string goes now; the rest is held.
            self._pending += data[:cut]
            self._flush_pending()
            data = data[cut:]
            if not data:
                return
        now = self.reactor.now()
        if not self._pending:
            self._hold_started = now
        self._pending += data
        if len(self._pending) >= opts.dev_to_net_bufsize:
            self._flush_pending()
            return
        delay = chardelay_seconds(self.conn, self._speed())
        deadline = min(now + delay, self._hold_started + opts.chardelay_max / 1e6)
        if self._flush_timer is not None:
            self._flush_timer.cancel()
        self._flush_timer = self.reactor.call_later(deadline - now, self._flush_pending)

    def _render(self, template: str, addr: Optional[tuple] = None) -> bytes:
        remote = trace.remote_text(addr) if addr is not None else ""
        return templates.render(template, templates.context_for(self.conn, remote))

    def _render_file_name(self, template: str) -> str:
        ctx = templates.context_for(self.conn)
        return templates.render(template, ctx, filename=True).decode("utf-8", "surrogateescape")

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
        for monitor in self.monitors:
            monitor("term", data)
        escaped: Optional[bytes] = None
        full = False
        for client in list(self.clients):
            if client.closing:
                continue
            client.bytes_sent += len(data)
            if client.codec is None:
                client.send(data)
            else:
                if escaped is None:
                    escaped = client.codec.encode(data)
                client.send(escaped)
            if client.outq and len(client.outq) >= self._room_limit and not (
                    client.closing or client.closed):
                full = True
        if full and self.device is not None:
            self.device_paused = True
            if self.device.read_fd is not None:
                self.reactor.remove_reader(self.device.read_fd)

    def to_device(self, data: bytes, record: bool = True) -> None:
        """Queue bytes for the device; ``record`` is off for openstr/closestr."""
        dev = self.device
        if dev is None or dev.write_fd is None:
            return
        if record and self.conn.options.no_acc_to_con:
            return
        if record:
            if self.trace is not None:
                self.trace.record(trace.WRITE, data)
            if self.led_tx is not None:
                self.led_tx.flash()
            for monitor in self.monitors:
                monitor("tcp", data)
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
            if c.closing or c.fd is None:
                continue
            if pause:
                self.reactor.remove_reader(c.fd)
            else:
                self._watch_client_reads(c)

    def _device_failed(self, exc: DeviceError) -> None:
        self.errors.log(f"device error: {exc.detail}")
        self.devq.clear()
        self._close_device()
        if self.conn.connector.keepopen is not None and self.clients:
            # keepopen: clients stay; the device is tried again until it is back.
            self._schedule_reopen()
            return
        for client in list(self.clients):
            client.close_after_flush()

    def _schedule_reopen(self) -> None:
        keep = self.conn.connector.keepopen
        assert keep is not None
        if not keep.discard_badwrites:
            self._pause_clients(True)  # hold client data until the device is back

        def retry() -> None:
            self._reopen_timer = None
            if self.device is not None or not self.clients:
                return
            try:
                self._open_device()
            except DeviceError as exc:
                self.errors.log(f"device reopen failed: {exc.detail}")
                self._reopen_timer = self.reactor.call_later(keep.retry_time_ms / 1000, retry)
                return
            self._pause_clients(False)

        if self._reopen_timer is None:
            self._reopen_timer = self.reactor.call_later(keep.retry_time_ms / 1000, retry)

    def _last_client_left(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        if self.device is None or self._connect_backs:
            return  # connback ports keep listening to the device
        if self.conn.options.closestr is not None:
            self.to_device(self._render(self.conn.options.closestr), record=False)
        if self.devq:
            # Data the clients already handed over still goes to the device.
            self._drain_timer = self.reactor.call_later(DRAIN_SECONDS, self._close_device)
            if self.device.read_fd is not None:
                self.reactor.remove_reader(self.device.read_fd)
            return
        self._close_device()

    def _close_device(self) -> None:
        self._flush_pending()  # bytes held by chardelay still reach the clients
        for timer in (self._drain_timer, self._reopen_timer, self._modem_timer):
            if timer is not None:
                timer.cancel()
        self._drain_timer = self._reopen_timer = self._modem_timer = None
        dev, self.device = self.device, None
        if dev is None:
            return
        for fd in {dev.read_fd, dev.write_fd}:
            if fd is not None:
                self.reactor.forget(fd)
        dev.close()
        self._closeon.reset()
        self._sendon.reset()
        if self.trace is not None:
            self.trace.closed(trace.PORT, trace.REASON_ALL_USERS)
            self.trace.close()
            self.trace = None
        if self.led_conn is not None:
            self.led_conn.off()
        self.devq.clear()
        self.clients_paused = False
        # ser2net counts device bytes per session: the next one starts at 0.
        self.bytes_from_device = self.bytes_to_device = 0
        log.info("%s: closed %s", self.conn.name, closed_text(dev))


def _queue_stuck(client: Client, now: float) -> float:
    """How long data has sat undelivered to ``client``, ours or the kernel's.

    The kernel takes megabytes before a send comes back short, so a client
    that reads nothing from a slow device is only seen through the socket's
    unsent-byte count (SIOCOUTQ).
    """
    queued = 0
    if client.fd is not None:  # UDP clients share the listener: no queue of their own
        try:
            queued = struct.unpack("i", fcntl.ioctl(client.fd, termios.TIOCOUTQ, b"\0" * 4))[0]
        except OSError:
            pass
    if queued == 0 or queued < client.kernel_queued:
        client.kernel_progress = now
    client.kernel_queued = queued
    stuck = now - client.kernel_progress
    if client.stalled_since is not None:
        stuck = max(stuck, now - client.stalled_since)
    return stuck


def _led(specs: Mapping[str, LedSpec], name: Optional[str]) -> Optional[Led]:
    if name is None or name not in specs:
        return None
    led = make_led(specs[name])
    led.configure()
    return led


