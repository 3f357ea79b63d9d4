"""A configured connection at run time: one device stack joined to N client stacks.

The port owns the listener, the device (through its stream) and the
clients (each a stream plus its filters), and decides what only the join
of both sides can decide: who is admitted, where bytes go, and who waits
for whom.  Everything else is a part with its own tests: the chardelay
hold, the closeon watch, the idle watch, connback dialling and the RFC 2217
session.

Backpressure, decided here from the streams' water marks:

* device -> clients: a client whose queue reaches its high-water mark
  (``dev-to-net-bufsize``) stops the device being read until every client
  is back under its low-water mark (ser2net's behaviour: the slowest client
  sets the pace).  With ``client-buffer-limit`` or ``client-send-timeout``
  a client that falls behind is disconnected instead, and the others go on.
* clients -> device: while the device's queue is over ``net-to-dev-bufsize``
  no client is read.

Every queue is therefore bounded, whatever a client or a device does, and
data a peer handed over is written out before the far side is closed.

Host names (of ``remaddr``, of a tcp or udp connector, of connect-back
targets) are looked up when the port starts, in a child process
(``resolver.NameBook``), and the port listens once they are found; the
accepter's own name is looked up by its ``Binder``.  A connect uses the
addresses found then; one that fails has the name looked up again, in the
background, for the next attempt.  No lookup ever holds up the loop.
"""

from __future__ import annotations

import dataclasses
import logging
import socket
from typing import TYPE_CHECKING, Callable, List, Mapping, Optional, Sequence, Union

from pyser2net.config.model import (
    Connection,
    Connector,
    NetworkDevice,
    SerialDevice,
    SerialSettings,
)
from pyser2net.config.model import Led as LedSpec
from pyser2net.protocol import telnet
from pyser2net.protocol.chardelay import CharDelayHold, chardelay_seconds
from pyser2net.protocol.comport import ControlRefused, SerialControl, VirtualLines
from pyser2net.protocol.events import Event
from pyser2net.protocol.watch import StringWatch
from pyser2net.runtime import trace
from pyser2net.runtime.admission import DEVICE_IN_USE, admit, open_failure
from pyser2net.runtime.binder import Binder
from pyser2net.runtime.client import DRAIN_SECONDS, Client, ClientLimits, addr_text
from pyser2net.runtime.counters import (
    GONE_CLOSEON,
    GONE_DEVICE,
    GONE_SHUTDOWN,
    REFUSED_DEVICE_BUSY,
    REFUSED_DEVICE_OPEN,
    REFUSED_TLS,
    RETRY_FAILED,
    RETRY_OPENED,
    PortCounters,
    disconnect_reason,
)
from pyser2net.runtime.devices import (
    Device,
    DeviceError,
    SerialPort,
    closed_text,
    line_state,
    node_directory,
    opened_text,
    peer_query,
)
from pyser2net.runtime.idle import IdleWatch, Watched
from pyser2net.runtime.layers import client_stack
from pyser2net.runtime.linkdevice import open_connector
from pyser2net.runtime.listeners import TcpListener, UdpListener
from pyser2net.runtime.ratelimit import RateLimitedLog
from pyser2net.runtime.reactor import Reactor
from pyser2net.runtime.remaddr import Allowed, remaddr_query, resolve_remaddr
from pyser2net.runtime.resolver import NameBook, Query
from pyser2net.runtime.stream import DeviceStream, DrainTimeout, Stream, StreamError
from pyser2net.runtime.timers import TimerSlot

if TYPE_CHECKING:
    # Imported where a connection's options first need them: the TLS
    # modules load ssl, and a plain connection uses none of the others.
    from pyser2net.protocol.tls import TlsFilter
    from pyser2net.runtime.conacc import ConAccListener
    from pyser2net.runtime.connback import ConnBack
    from pyser2net.runtime.devicewait import DeviceWait
    from pyser2net.runtime.leds import Led
    from pyser2net.runtime.linkstream import LinkStream
    from pyser2net.runtime.rfc2217 import Rfc2217Session
    from pyser2net.runtime.tlsconfig import ClientTlsSource, ServerTlsSource

log = logging.getLogger(__name__)

#: Close reasons written to trace files, by the reason we log.
_TRACE_REASONS = {
    "closed by peer": trace.REASON_REMOTE_CLOSED,
    "timed out": trace.REASON_TIMEOUT,
    "kicked off by a new user": trace.REASON_KICKED,
}

__all__ = ["Port", "chardelay_seconds"]


class Port:
    """Serves one ``model.Connection``."""

    # What a device read and a chardelay flush touch lives in slots; the rest
    # stays in the instance dict.  Python 3.11 gives up its fast attribute and
    # method lookups on an object whose dict holds 30 names or more.
    __slots__ = (
        "reactor",
        "conn",
        "clients",
        "monitors",
        "device",
        "_dev",
        "_now",
        "_quick",
        "_plain",
        "_hold",
        "_flush",
        "_hold_for",
        "_hold_seconds",
        "_counting",
        "bytes_from_device",
        "trace",
        "led_rx",
        "led_tx",
        "_connback",
        "_closeon",
        "_wait",
        "__dict__",
    )

    #: RFC 2217 signature when the connection sets none (``-s`` changes it).
    signature = "ser2net"

    def __init__(
        self,
        reactor: Reactor,
        conn: Connection,
        leds: Sequence[LedSpec] = (),
        counters: Optional[PortCounters] = None,
    ) -> None:
        self.reactor = reactor
        self.conn = conn
        #: Totals for metrics (the engine hands a replacement the old port's).
        self.counters = counters if counters is not None else PortCounters()
        opts = conn.options
        self.trace: Optional[trace.TraceWriter] = None
        #: Observers of the data path (the admin ``monitor`` command):
        #: called with "tcp" for client-to-device data, "term" the other way.
        self.monitors: List[Callable[[str, bytes], None]] = []
        by_name = {led.name: led for led in leds}
        self.led_rx = _led(by_name, opts.led_rx)
        self.led_tx = _led(by_name, opts.led_tx)
        self.led_conn = _led(by_name, opts.led_conn)
        self.listener: Union[TcpListener, UdpListener, ConAccListener]
        if conn.accepter.transport == "udp":
            self.listener = UdpListener(
                reactor, conn.accepter, self._on_datagram, opts.net_to_dev_bufsize
            )
        elif conn.accepter.conacc is not None:
            from pyser2net.runtime.conacc import ConAccListener

            self.listener = ConAccListener(
                reactor,
                conn.accepter,
                self.accept_stream,
                errors=lambda text: self.errors.log(text),
                retry_after_failure=opts.accepter_retry_time,
                read_limit=opts.net_to_dev_bufsize,
                high_water=opts.dev_to_net_bufsize,
            )
        else:
            self.listener = TcpListener(reactor, conn.accepter, self.accept, opts)
        #: Binds the listener, retrying every accepter-retry-time seconds.
        self.binder = Binder(reactor, self.listener, conn.name, opts.accepter_retry_time)
        self.device: Optional[Device] = None
        #: The device's open is complete (a connect or a link can take a while).
        self._ready = False
        #: Whether another connection has this connection's device open;
        #: the engine that knows every port sets it.
        self.device_busy: Callable[[], bool] = lambda: False
        #: Called when a client is added, starts closing or is removed (the
        #: engine tells admin sessions in YAML mode).
        self.on_clients_changed: Callable[[], None] = lambda: None
        #: The accepter's TLS context, built at start (ssl accepters only).
        self.tls: Optional[ServerTlsSource] = None
        #: The connector's TLS context, built at start (ssl connectors only).
        self.device_tls: Optional[ClientTlsSource] = None
        self._dev: Optional[DeviceStream] = None
        self.clients: List[Client] = []
        #: No client is read: the device's queue is full, or it is away.
        self.clients_paused = False
        #: Device bytes of this session (ser2net starts again at each close).
        self.bytes_from_device = 0
        #: The host names this port uses, looked up when it starts.
        self.names = NameBook(reactor, self._queries())
        self._allowed = [] if self.names.needs_lookup else self._remaddr()
        self._kicked = False
        self.virtual = VirtualLines(
            conn.connector.device.serial
            if isinstance(conn.connector.device, SerialDevice)
            else SerialSettings()
        )
        self.errors = RateLimitedLog(f"{conn.name}: ", reactor.now)
        self._now = reactor.now
        #: Device bytes go to the clients (not with no-con-to-acc).
        self._counting = not opts.no_con_to_acc
        self._closeon = StringWatch(opts.closeon)
        self._hold = (
            CharDelayHold(
                opts.dev_to_net_bufsize, opts.chardelay_max / 1e6, StringWatch(opts.sendon)
            )
            if opts.chardelay
            else None
        )
        self._hold_for: Optional[int] = -1  # the speed _hold_seconds was computed for
        self._hold_seconds = 0.0
        # A client over client-buffer-limit is dropped before it could hold
        # the device back; otherwise the slowest client sets the pace.
        high = opts.dev_to_net_bufsize
        if opts.client_buffer_limit is not None:
            high = max(high, opts.client_buffer_limit + 1)
        self._limits = ClientLimits(
            high_water=high,
            read_limit=opts.net_to_dev_bufsize,
            buffer_limit=opts.client_buffer_limit,
            send_timeout=opts.client_send_timeout,
        )
        self._flush = reactor.deadlines.slot(self._hold_expired)
        self._reopen = TimerSlot(reactor, self._reopen_device)
        #: ``device-loss: hold``: what is kept while the device is away.
        self._wait: Optional[DeviceWait] = None
        if conn.holds_device:
            from pyser2net.runtime.devicewait import DeviceWait

            self._wait = DeviceWait(
                reactor,
                self._reopen_device,
                opts.connector_retry_time,
                node_directory(conn.connector.device),
            )
        self._connback_open = TimerSlot(reactor, self._hold_device_open)  # connback only
        self._idle = IdleWatch(reactor, self._watched, self._timed_out, opts.timeout_on_os_queue)
        targets = conn.connect_backs
        self._connback: Optional[ConnBack] = None
        if targets:
            from pyser2net.runtime.connback import ConnBack

            self._connback = ConnBack(
                targets, opts, reactor.now, self.errors.log, self._dialled, self.names
            )
        #: Only telnet clients can ask for breaks and line settings.
        self.rfc2217: Optional[Rfc2217Session] = None
        if conn.accepter.telnet:
            from pyser2net.runtime.rfc2217 import Rfc2217Session

            self.rfc2217 = Rfc2217Session(reactor, self._line, self._telnet_clients, conn.name)
        self._decide_reads()

    @property
    def devq(self) -> int:
        """Bytes clients sent that the device has not taken yet."""
        return self._dev.queued if self._dev is not None else 0

    @property
    def waiting_since(self) -> Optional[float]:
        """When (wall clock) a held device went away; None unless it is away."""
        return self._wait.since if self._wait is not None else None

    @property
    def discarded(self) -> int:
        """Bytes clients sent while a held device was away (this time)."""
        return self._wait.discarded if self._wait is not None else 0

    @property
    def device_open(self) -> bool:
        """The device is open and its open complete."""
        return self.device is not None and self._ready

    @property
    def waiting_for_device(self) -> bool:
        """Clients wait for the device: its open is under way, or a held
        device (keepopen) is away and tried again."""
        if self._reopen.pending or self.waiting_since is not None:
            return True
        return self.device is not None and not self._ready and bool(self.clients)

    @property
    def bytes_to_device(self) -> int:
        """Bytes the device took this session (ser2net starts again at each close)."""
        return self._dev.bytes_written if self._dev is not None else 0

    # -- lifecycle ------------------------------------------------------

    def start(self) -> bool:
        """Listen (and, with connback, open the device at once).

        Returns whether the listener is bound; one that is not (the address
        is missing or in use) has been logged and is retried every
        accepter-retry-time seconds.  A disabled port counts as started.
        """
        device = self.conn.connector.device
        if isinstance(device, NetworkDevice) and device.ssl is not None:
            if self.device_tls is None:
                from pyser2net.runtime.tlsconfig import ClientTlsSource

                # TlsSetupError names the file at fault
                self.device_tls = ClientTlsSource(device.ssl, label=self.conn.name)
        ssl = self.conn.accepter.ssl
        if self.conn.enable and ssl is not None and self.tls is None:
            from pyser2net.runtime.tlsaccept import secured
            from pyser2net.runtime.tlsconfig import ServerTlsSource

            assert isinstance(self.listener, TcpListener)  # the parser allows ssl over tcp only
            opts = self.conn.options
            self.tls = ServerTlsSource(  # TlsSetupError names the file at fault
                ssl,
                label=self.conn.name,
                authdir=opts.authdir,
                allowed_users=None if opts.allowed_users is None else frozenset(opts.allowed_users),
            )
            self.listener.on_client = secured(
                self.reactor,
                self.tls,
                self.accept,
                label=self.conn.name,
                errors=self.errors,
                on_refused=lambda: self.counters.refusal(REFUSED_TLS),
            )
        if self.names.needs_lookup:
            hosts = dict.fromkeys(q.host for q in self.names.unanswered())
            log.info("%s: looking up %s", self.conn.name, ", ".join(hosts))
            self.names.look_up(self._names_found)
            return False
        return self._serve()

    def _serve(self) -> bool:
        if self._connback is not None:
            self._hold_device_open()
        if not self.conn.enable:
            return True
        return self.binder.start()

    def _names_found(self) -> None:
        """The names looked up at start are found (or not): serve."""
        self._allowed = self._remaddr()
        for connector in (self.conn.connector, *self.conn.connect_backs):
            device = connector.device
            if isinstance(device, NetworkDevice):
                answer = self.names.get(peer_query(device))
                if isinstance(answer, str):
                    log.error(
                        "%s: %s cannot be looked up (%s): connects to it fail until it is found",
                        self.conn.name,
                        device.host,
                        answer,
                    )
        if self._serve():
            self.log_started()

    def log_started(self) -> None:
        """The line saying the port is served."""
        device = self.conn.connector.text
        if self.conn.enable:
            where = self.binder.listening_text()
            log.info("%s: listening on %s, device %s", self.conn.name, where, device)
        else:
            log.info("%s: not listening (enable: off), device %s", self.conn.name, device)

    def _queries(self) -> List[Query]:
        """Every name lookup the port needs, but its accepter's (the binder's)."""
        queries = [remaddr_query(e) for e in self.conn.options.remaddr]
        for connector in (self.conn.connector, *self.conn.connect_backs):
            if isinstance(connector.device, NetworkDevice):
                queries.append(peer_query(connector.device))
        return queries

    def _remaddr(self) -> Allowed:
        def failed(host: str, why: str) -> None:
            log.error(
                "%s: remaddr %s cannot be looked up (%s): it admits nobody",
                self.conn.name,
                host,
                why,
            )

        return resolve_remaddr(self.conn.options.remaddr, self.names.get, failed)

    def _look_up_peer_again(self) -> None:
        """A connect to the connector's peer failed: its name may have moved."""
        device = self.conn.connector.device
        if isinstance(device, NetworkDevice):
            self.names.refresh(peer_query(device))

    def stop_listening(self) -> None:
        """No new clients, and no more attempts to bind."""
        self.names.cancel()
        self.binder.stop()

    def stop(self) -> None:
        self._connback_open.cancel()
        self.names.cancel()
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
        self.names.cancel()
        self.binder.stop()
        self._flush_held()
        for client in list(self.clients):
            if not client.closing:
                client.close_after_flush(GONE_SHUTDOWN)
        self.on_clients_changed()

    # -- connect back ---------------------------------------------------

    def _hold_device_open(self) -> None:
        """connback ports keep the device open to hear it talk first."""
        if self.device is not None:
            return
        try:
            self._open_device()
        except DeviceError as exc:
            self.counters.open_failure(exc.code)
            self.errors.log(f"device open failure: {exc.detail}")
            self._connback_open.arm(self.conn.options.connector_retry_time)

    def _dialled(self, target: Connector, sock: socket.socket, addr: tuple) -> None:
        """A connback target is being connected to: it becomes a client."""
        client = self._new_client(
            sock, addr, datagram=sock.type == socket.SOCK_DGRAM, filters=False
        )
        client.connback = target
        if self.conn.options.connback_timeout:
            client.idle_timeout = self.conn.options.connback_timeout
        self.clients.append(client)
        self.on_clients_changed()
        log.info("%s: connected back to %s", self.conn.name, target.text)
        client.resume_reading()
        if isinstance(client.stream, Stream):
            client.stream.watch_connect(sock)  # a refused connect drops it
        self._idle.rearm()

    # -- clients --------------------------------------------------------

    @property
    def has_room(self) -> bool:
        """Whether a rotator may hand this connection a new client."""
        active = sum(1 for c in self.clients if not c.closing)
        return self.conn.enable and active < self.conn.options.max_connections

    def accept(self, sock: socket.socket, addr: tuple, tls: Optional[TlsFilter] = None) -> None:
        """Take a client accepted by our listener or handed over by a rotator
        (with its TLS session when the accepter has an ssl layer)."""
        self._on_accept(sock, addr, tls=tls)

    def accept_stream(self, stream: LinkStream, where: str) -> None:
        """Take a client whose stream is made (a conacc accepter's link, up)."""
        self._on_accept(None, ("conacc", where), stream=stream)

    def _new_client(
        self,
        sock: Optional[socket.socket],
        addr: tuple,
        *,
        udp: bool = False,
        datagram: bool = False,
        filters: bool = True,
        tls: Optional[TlsFilter] = None,
        stream: Optional[LinkStream] = None,
    ) -> Client:
        stack, codec = client_stack(self.conn, self.signature) if filters else (None, None)
        client = Client(
            self,
            self.reactor,
            sock,
            addr,
            label=self.conn.name,
            limits=self._limits,
            stack=stack,
            codec=codec,
            udp=udp,
            datagram=datagram,
            counted=not self.conn.options.no_acc_to_con,
            tls=tls,
            errors=self.errors.log,
            stream=stream,
        )
        client.idle_timeout = self.conn.timeout
        return client

    def _on_datagram(self, sock: socket.socket, data: bytes, addr: tuple) -> None:
        for client in self.clients:
            if client.addr == addr and not client.closing:
                break
        else:
            new = self._on_accept(sock, addr, udp=True)
            if new is None:
                return
            client = new
        client.last_activity = self.reactor.now()
        if not self.conn.options.no_acc_to_con:
            client.bytes_received += len(data)
        self.to_device(data)

    def _on_accept(
        self,
        sock: Optional[socket.socket],
        addr: tuple,
        udp: bool = False,
        tls: Optional[TlsFilter] = None,
        stream: Optional[LinkStream] = None,
    ) -> Optional[Client]:
        opts = self.conn.options
        client = self._new_client(sock, addr, udp=udp, tls=tls, stream=stream)
        if client.stack is not None:
            # The telnet layer speaks first, even to a client turned away.
            client.send_raw(client.stack.start())
            if client.closed:
                return None  # gone before it heard the greeting
            if opts.telnet_brk_on_sync and sock is not None and not udp:
                # The sync's data mark travels as TCP urgent data, which
                # Linux takes out of the stream unless told otherwise.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_OOBINLINE, 1)
        verdict = admit(
            addr,
            [c for c in self.clients if not c.closing],
            allowed=self._allowed,
            max_connections=opts.max_connections,
            kickolduser=opts.kickolduser,
        )
        if verdict.refuse is not None:
            self._refuse(client, verdict.refuse, verdict.reason, verdict.kind)
            return None
        if verdict.kick is not None:
            # The device stays open for the newcomer.
            self.drop_client(verdict.kick, "kicked off by a new user", keep_device=True)
            self._kicked = True
        elif self.device_busy():
            self._refuse(
                client,
                DEVICE_IN_USE,
                "its device is open for another connection",
                REFUSED_DEVICE_BUSY,
            )
            return None
        if self._dev is not None and self._dev.closing:
            self._dev.cancel_close()  # it was draining after the last client: keep it
        away = self._wait is not None and self._wait.away
        if self.device is None and not self._reopen.pending and not away:
            try:
                self._open_device()
            except DeviceError as exc:
                self.counters.open_failure(exc.code)
                if self.conn.connector.keepopen is None:
                    client.device_failed(exc.reason)
                    self._refuse(
                        client,
                        open_failure(exc.reason),
                        f"device open failure: {exc.detail}",
                        REFUSED_DEVICE_OPEN,
                        logging.ERROR,
                    )
                    return None
                self.errors.log(f"device open failure: {exc.detail}")
                self._schedule_reopen()
        self.clients.append(client)
        self.counters.accepted += 1
        self.on_clients_changed()
        if self._ready:
            client.device_ready()
        log.info("%s: connection from %s", self.conn.name, addr_text(addr))
        if self.trace is not None:
            self.trace.opened(trace.remote_text(addr))
        if opts.banner is not None:
            banner = self._render(opts.banner, addr)
            client.bytes_sent += len(banner)  # counted as ser2net does, before telnet escapes
            client.write(banner)
        if self._kicked:
            # ser2net ends the old session and starts a new one on the same
            # device: closestr, then openstr.
            self._kicked = False
            for text in (opts.closestr, opts.openstr):
                if text is not None:
                    self.to_device(self._render(text, addr), record=False)
        if self.led_conn is not None:
            self.led_conn.on()
        if not self.clients_paused:
            client.resume_reading()
        self._device_reading()
        self._idle.rearm()
        return client

    def _refuse(
        self, client: Client, message: bytes, reason: str, kind: str, level: int = logging.INFO
    ) -> None:
        """Send ``message`` and close; log why (a host retrying is logged once a
        minute); count it under ``kind``."""
        self.counters.refusal(kind)
        self.errors.log(
            f"refused {addr_text(client.addr)}: {reason}",
            key=f"refused {client.addr[0]}: {reason}",
            level=level,
        )
        client.refused = True
        self.clients.append(client)
        client.send_raw(message)
        client.close_after_flush()

    def drop_client(self, client: Client, reason: Optional[str], keep_device: bool = False) -> None:
        if client.closed:
            return
        if reason:
            log.info("%s: closing %s: %s", self.conn.name, addr_text(client.addr), reason)
        client.shutdown()
        if client in self.clients:
            self.clients.remove(client)
            if not client.refused:
                counters = self.counters
                counters.net_in += client.bytes_received
                counters.net_out += client.bytes_sent
                counters.disconnect(client.end or disconnect_reason(reason))
            if self.trace is not None and not client.refused:
                self.trace.closed(
                    trace.NETCON, _TRACE_REASONS.get(reason or "", trace.REASON_PORT_CLOSING)
                )
            self.on_clients_changed()
        if not keep_device and not any(not c.closing for c in self.clients):
            self._last_client_left()
        else:
            self._device_reading()

    def _set_clients_reading(self, on: bool) -> None:
        self.clients_paused = not on
        for c in self.clients:
            if not c.closing:
                if on:
                    c.resume_reading()
                else:
                    c.pause_reading()

    def set_timeout(self, seconds: int) -> None:
        """The admin ``setporttimeout``: applies to the clients connected now."""
        self.conn = dataclasses.replace(self.conn, timeout=seconds)
        for client in self.clients:
            if client.connback is None:
                client.idle_timeout = seconds
        self._idle.rearm()

    def _watched(self) -> List[Client]:
        return self.clients

    def _timed_out(self, client: Watched) -> None:
        assert isinstance(client, Client)
        self.drop_client(client, "timed out")

    # -- what clients tell the port (ClientOwner) ---------------------------

    def client_lost(self, client: Client, reason: Optional[str]) -> None:
        self.drop_client(client, reason)

    def client_blocked(self, client: Client) -> None:
        if self._dev is not None:
            self._dev.pause_reading()

    def client_unblocked(self, client: Client) -> None:
        self._device_reading()

    def client_event(self, client: Client, event: Event) -> None:
        if self.rfc2217 is None:
            return
        if isinstance(event, telnet.ComPortRequest):
            self.rfc2217.request(client, event)
        elif isinstance(event, telnet.ComPortRun):
            self.rfc2217.request_run(client, event)
        elif isinstance(event, telnet.Break):
            log.debug("%s: telnet break: a 250 ms break on the line", client.name)
            self.rfc2217.send_break()
        elif isinstance(event, telnet.ModemStateMaskChanged):
            self.rfc2217.watch_modem_lines(client)

    def _line(self) -> SerialControl:
        dev = self.device
        if isinstance(dev, SerialPort):
            return dev
        if self._wait is not None and self._wait.line is not None:
            return self._wait.line  # away: remembered for its return
        return self.virtual

    def _telnet_clients(self) -> List[Client]:
        return [c for c in self.clients if c.codec is not None and not c.closing]

    # -- device -> clients ------------------------------------------------

    def _open_device(self) -> None:
        opts = self.conn.options
        device = self.conn.connector.device
        answer = self.names.get(peer_query(device)) if isinstance(device, NetworkDevice) else None
        try:
            self.device = open_connector(self.conn.connector, self.device_tls, answer)
        except DeviceError:
            self._look_up_peer_again()
            raise
        self._dev = self.device.open_stream(
            self.reactor,
            self,
            read_limit=opts.dev_to_net_bufsize,
            high_water=opts.net_to_dev_bufsize,
            ready=self._device_ready,
        )
        self._ready = not self.device.opens_later
        self.trace = trace.TraceWriter.for_options(opts, self._render_file_name)
        if self.trace is not None:
            self.trace.open()
        self._decide_reads()
        self._kicked = False
        if opts.openstr is not None:
            self.to_device(self._render(opts.openstr), record=False)
        log.info("%s: opened %s", self.conn.name, opened_text(self.device))
        self._device_reading()

    def _device_ready(self) -> None:
        """A device whose open completes later (a connect, a link) is up."""
        self._ready = True
        for client in self.clients:
            if not client.closing:
                client.device_ready()

    def _device_reading(self) -> None:
        """Read the device unless a client holds it back (or it is closing)."""
        dev = self._dev
        if dev is None or dev.closing:
            return
        if any(c.blocking for c in self.clients if not c.closing):
            dev.pause_reading()
        else:
            dev.resume_reading()

    def _decide_reads(self) -> None:
        self._plain = self._plain_reads()
        #: The hold, when it is all that device bytes go through (no sendon).
        hold = self._hold
        self._quick = hold if self._plain and hold is not None and hold.sendon is None else None

    def _plain_reads(self) -> bool:
        """Whether device bytes need nothing but the hold and the clients.

        Decided when the device opens or closes (the trace file is the only
        part that comes and goes), so that a read of a console server's
        device, the most frequent event of the daemon, looks at one flag
        instead of five optional parts.
        """
        return (
            self.trace is None
            and self.led_rx is None
            and not self.conn.options.no_con_to_acc
            and self._connback is None
            and not self._closeon.needle
        )

    def data_received(self, data: bytes) -> None:
        """Bytes read from the device (the device stream's user)."""
        clock = self._now  # functions in slots are called through locals (see Stream)
        now = clock()
        quick = self._quick
        if quick is not None:
            # A console's chunk, the daemon's most frequent event: held by
            # chardelay, and nothing else looks at it.
            at = quick.add(data, now, self._hold_time())
            if at is None:
                self._flush.cancel()
                self._to_clients(quick.flush())
            else:
                self._flush.arm_at(at)
            self.bytes_from_device += len(data)
            for c in self.clients:
                c.last_activity = now
            return
        try:
            if not (self._plain or self._watch_device(data)):
                return
            hold = self._hold
            if hold is None:
                self._to_clients(data)
                return
            out, flush_at = hold.feed(data, now, self._hold_time())
            if out:
                self._to_clients(out)
            if flush_at is None:
                self._flush.cancel()
            else:
                self._flush.arm_at(flush_at)
        finally:
            # Bookkeeping after the bytes are on their way: off the latency path.
            if self._counting:
                self.bytes_from_device += len(data)
            for c in self.clients:
                c.last_activity = now

    def _watch_device(self, data: bytes) -> bool:
        """The optional parts that see device bytes first; False when the
        bytes go no further (no-con-to-acc, or closeon hung up)."""
        if self.trace is not None:
            self.trace.record(trace.READ, data)
        if self.led_rx is not None:
            self.led_rx.flash()
        if not self._counting:
            return False  # the device is read, and what it says is thrown away
        if self._connback is not None:
            self._connback.dial(
                {c.connback for c in self.clients if c.connback is not None and not c.closing}
            )
        if self._closeon.needle and self._closeon.feed(data):
            # ser2net delivers the chunk that held the string, then hangs up.
            self._to_clients(self._take_held() + data)
            for client in list(self.clients):
                client.close_after_flush(GONE_CLOSEON)
            self.on_clients_changed()
            return False
        return True

    def _hold_time(self) -> float:
        dev = self.device
        speed = dev.settings.speed if isinstance(dev, SerialPort) else None
        if speed != self._hold_for:
            self._hold_for = speed
            self._hold_seconds = chardelay_seconds(self.conn, speed)
        return self._hold_seconds

    def _take_held(self) -> bytes:
        self._flush.cancel()
        return self._hold.flush() if self._hold is not None else b""

    def _flush_held(self) -> None:
        data = self._take_held()
        if data:
            self._to_clients(data)

    def _hold_expired(self) -> None:
        """The chardelay timer: the slot is empty already, the hold is not."""
        assert self._hold is not None
        data = self._hold.flush()
        if data:
            self._to_clients(data)

    def _to_clients(self, data: bytes) -> None:
        if self.monitors:
            for monitor in self.monitors:
                monitor("term", data)
        size = len(data)
        clients = self.clients
        if len(clients) == 1:
            # A console's one user: no copy of the list to guard against a
            # client leaving while it is written to.
            client = clients[0]
            if not client.closing:
                client.bytes_sent += size
                write = client.write  # a local: see Stream._readable
                write(data)
            return
        for client in list(clients):
            if client.closing:
                continue
            client.bytes_sent += size
            client.write(data)

    # -- clients -> device ----------------------------------------------

    def to_device(self, data: bytes, record: bool = True) -> None:
        """Queue bytes for the device; ``record`` is off for openstr/closestr."""
        dev = self._dev
        if dev is None or dev.write_fd is None:
            if record and self._wait is not None and self._wait.away:
                self._wait.discarded += len(data)
            return
        if record:
            if self.conn.options.no_acc_to_con:
                return
            if self.trace is not None:
                self.trace.record(trace.WRITE, data)
            if self.led_tx is not None:
                self.led_tx.flash()
            for monitor in self.monitors:
                monitor("tcp", data)
        dev.write(data)

    # -- the device stream's other news (StreamUser) -----------------------

    def pause_writing(self) -> None:
        """The device's queue is full: stop reading clients."""
        self._set_clients_reading(False)

    def resume_writing(self) -> None:
        if self.device is not None:
            self._set_clients_reading(True)

    def eof_received(self) -> None:
        if self.device is not None:
            self._device_failed(self.device.error_for(None))

    def connection_lost(self, exc: Optional[StreamError]) -> None:
        if exc is None or isinstance(exc, DrainTimeout):
            self._close_device()  # drained (or gave up) after the last client left
            for client in list(self.clients):
                # Came while the device was closing, too late to keep it
                # (a link that had sent its CLOSE): it goes the same way.
                client.close_after_flush(GONE_DEVICE)
            self.on_clients_changed()
        elif self.device is not None:
            self._device_failed(self.device.error_for(exc))

    # -- device open, failure, close --------------------------------------

    def _device_failed(self, exc: DeviceError) -> None:
        if exc.opening:
            self.counters.open_failure(exc.code)
            self._look_up_peer_again()
        if self._wait is not None and not exc.opening and self._has_clients():
            self._hold_clients(exc)
            return
        self.errors.log(f"device {'open failure' if exc.opening else 'error'}: {exc.detail}")
        self._close_device()
        if self.conn.connector.keepopen is not None and self.clients:
            # keepopen: clients stay; the device is tried again until it is back.
            self._schedule_reopen()
            return
        for client in list(self.clients):
            if exc.opening and not client.closing:
                # The open failed after all (a connect refused, a link that
                # never came up): clients hear it as ser2net says it.
                client.device_failed(exc.reason)
                client.send_raw(open_failure(exc.reason))
            client.close_after_flush(GONE_DEVICE)
        self.on_clients_changed()

    def _has_clients(self) -> bool:
        return any(not c.closing for c in self.clients)

    def _hold_clients(self, exc: DeviceError) -> None:
        """``device-loss: hold``: the device went away; its clients stay.

        The device is closed (and unlocked), the line as clients set it is
        kept for its return, and it is looked for again until it is back
        or every client has left.  Clients are told once, in the log (and
        RFC 2217 clients by their modem lines dropping); what they send
        meanwhile is counted and dropped.
        """
        assert self._wait is not None
        count = sum(1 for c in self.clients if not c.closing)
        log.warning(
            "%s: device lost (%s); %d client%s stay%s connected while it is looked for "
            "again, and what they send meanwhile is discarded",
            self.conn.name,
            exc.detail,
            count,
            "" if count == 1 else "s",
            "s" if count == 1 else "",
        )
        line = self._line()
        self._close_device()
        self._wait.start(line)
        if self.rfc2217 is not None:
            self.rfc2217.device_lost()

    def _device_back(self) -> None:
        """A held device is open again: put its line back as clients had it."""
        assert self._wait is not None
        discarded = self._wait.discarded
        line = self._wait.stop()
        dev = self.device
        restored = ""
        if line is not None and isinstance(dev, SerialPort):
            try:
                dev.reconfigure(line.settings)
            except ControlRefused as exc:
                log.warning("%s: the settings clients chose do not apply: %s", self.conn.name, exc)
            for name in ("dtr", "rts"):
                dev.set_line(name, line.lines[name])
            restored = f", line restored: {line_state(dev)}"
        log.info(
            "%s: device back: %s%s; %d byte%s from clients discarded while it was away",
            self.conn.name,
            dev.display if dev is not None else "?",
            restored,
            discarded,
            "" if discarded == 1 else "s",
        )
        if self.rfc2217 is not None:
            self.rfc2217.device_back()

    def _schedule_reopen(self) -> None:
        keep = self.conn.connector.keepopen
        assert keep is not None
        if not keep.discard_badwrites:
            self._set_clients_reading(False)  # hold client data until the device is back
        self._reopen.ensure(keep.retry_time_ms / 1000)

    def _reopen_device(self) -> None:
        waiting = self._wait is not None and self._wait.away
        if self.device is not None or not self.clients:
            return
        try:
            self._open_device()
        except DeviceError as exc:
            if waiting:
                assert self._wait is not None
                self.counters.retry(RETRY_FAILED)
                log.debug("%s: device still away: %s", self.conn.name, exc.detail)
                self._wait.failed()
                return
            keep = self.conn.connector.keepopen
            assert keep is not None
            self.counters.open_failure(exc.code)
            self.errors.log(f"device reopen failed: {exc.detail}")
            self._reopen.arm(keep.retry_time_ms / 1000)
            return
        if waiting:
            self.counters.retry(RETRY_OPENED)
            self._device_back()
        self._set_clients_reading(True)

    def _last_client_left(self) -> None:
        self._idle.stop()
        if self._wait is not None and self._wait.away:
            self._wait.stop()
            log.info("%s: no client left: no longer waiting for the device", self.conn.name)
        if self.device is None or self._connback is not None:
            return  # connback ports keep listening to the device
        if self.conn.options.closestr is not None:
            self.to_device(self._render(self.conn.options.closestr), record=False)
        if self._dev is not None and self._dev.queued:
            # Data the clients already handed over still goes to the device.
            self._dev.close_after_flush(DRAIN_SECONDS)
            return
        self._close_device()

    def _close_device(self) -> None:
        self._flush_held()  # bytes held by chardelay still reach the clients
        self._reopen.cancel()
        if self.rfc2217 is not None:
            self.rfc2217.stop()
        dev, stream = self.device, self._dev
        self.device = self._dev = None
        self._ready = False
        if dev is None:
            return
        if stream is not None:
            stream.close()  # closes the device too
            self.counters.device_out += stream.bytes_written
        else:
            dev.close()
        self._closeon.reset()
        if self._hold is not None:
            self._hold.reset()
        if self.trace is not None:
            self.trace.closed(trace.PORT, trace.REASON_ALL_USERS)
            self.trace.close()
            self.trace = None
            self._decide_reads()
        if self.led_conn is not None:
            self.led_conn.off()
        if self.clients_paused:
            self._set_clients_reading(True)
        self.counters.device_in += self.bytes_from_device
        self.bytes_from_device = 0  # ser2net counts device bytes per session
        log.info("%s: closed %s", self.conn.name, closed_text(dev))

    # -- strings ----------------------------------------------------------

    def _render(self, template: str, addr: Optional[tuple] = None) -> bytes:
        # Loaded by the first string a connection sends (banner, openstr...).
        from pyser2net.protocol import templates

        remote = trace.remote_text(addr) if addr is not None else ""
        return templates.render(template, templates.context_for(self.conn, remote))

    def _render_file_name(self, template: str) -> str:
        from pyser2net.protocol import templates

        ctx = templates.context_for(self.conn)
        return templates.render(template, ctx, filename=True).decode("utf-8", "surrogateescape")


def _led(specs: Mapping[str, LedSpec], name: Optional[str]) -> Optional[Led]:
    if name is None or name not in specs:
        return None
    from pyser2net.runtime.leds import SOLID, TRANSIENT, make_led

    led = make_led(specs[name])
    led.configure(SOLID if specs[name].mode == "solid" else TRANSIENT)
    return led
