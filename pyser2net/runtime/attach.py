"""``pyser2net attach``: a remote serial port served as a local one.

The daemon's parts, turned around: a pty stream (``ptyport``) where an
application opens the port, a telnet / RFC 2217 *client* filter
(``telnet_client``), and a TCP stream to the server.  Between them:

* **Data** flows both ways in large chunks.  Each direction stops reading
  its source while its sink is full (water marks of the two streams), so
  memory stays bounded whatever the application or the server does; the
  TCP stream also stops reading when protocol answers owed to a server
  that does not read pile up past :data:`ANSWER_LIMIT`.
* **Settings** the application makes become RFC 2217 requests (only the
  changes), and so do its flushes.  ``--format`` (data bits, parity and
  the initial stop bits, which a pty cannot carry) is requested on every
  connection, and the application's last settings are requested again
  after a reconnection.
* **Open and close** become DTR and RTS on, and (when HUPCL is set, as it
  is by default) off, as a UART's driver does: boards that reset on DTR
  reset when the port is opened.  So does a speed of 0 (B0, a hang-up)
  and the next speed set after it.
* **Connection.**  ``--connect on-open`` dials when an application opens
  the port and stays connected after it closes; ``always`` dials at start.
  A lost connection is dialled again with a growing delay (up to
  :data:`MAX_BACKOFF`), at once if it is lost while the port is open, or at
  the next open otherwise (``on-open``).  Meanwhile the application's
  writes wait in the pty and its reads simply see nothing: no error.
* Data from the server while no application has the port open is dropped,
  or, with ``--buffer N``, the last N bytes of it are kept for the next
  application.

Nothing here blocks except the name lookup of the server, which happens
once per connection attempt.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
from dataclasses import dataclass
from typing import Callable, List, Optional, Union

from pyser2net.config.attach import AttachTarget, Frame
from pyser2net.protocol import telnet_client as tc
from pyser2net.protocol.events import Data, Event
from pyser2net.protocol.filters import FilterStack
from pyser2net.protocol.linesettings import LineSettings, frame_requests, requests_between
from pyser2net.protocol.telnet import ComPortCommand, ControlValue
from pyser2net.runtime.ptyport import VirtualPort
from pyser2net.runtime.ratelimit import RateLimitedLog
from pyser2net.runtime.reactor import Reactor
from pyser2net.runtime.resolver import Answer, Lookup, Query, first_address, lookup, numeric
from pyser2net.runtime.stream import Stream, StreamError
from pyser2net.runtime.timers import TimerSlot
from pyser2net.runtime.tlsconfig import ClientTls
from pyser2net.runtime.tlsstream import TlsStream

log = logging.getLogger("pyser2net.attach")

#: Seconds between connection attempts: doubled after each failure.
MIN_BACKOFF = 0.5
MAX_BACKOFF = 30.0
#: A connection that lived this long resets the delay to MIN_BACKOFF.
STABLE_SECONDS = 10.0
CONNECT_TIMEOUT = 10.0
#: How long a TLS handshake may take (gensio's default is a minute).
TLS_TIMEOUT = 30.0
#: How long the server may take to agree to RFC 2217 before we say so.
AGREE_TIMEOUT = 5.0
#: Queued output to the server beyond which its input is not read either.
ANSWER_LIMIT = 4 * 65536
#: The break a ``break`` command without a length sends.
BREAK_SECONDS = 0.25


@dataclass(frozen=True)
class AttachOptions:
    target: AttachTarget
    link: str
    mode: int = 0o660
    group: Optional[str] = "dialout"
    frame: Frame = Frame()
    connect: str = "on-open"  # or "always"
    buffer: int = 0
    high_water: int = 65536
    #: The TLS client context, when the target has an ssl layer.
    tls: Optional[ClientTls] = None


@dataclass
class Counters:
    to_server: int = 0
    from_server: int = 0
    dropped: int = 0
    connections: int = 0


class Attachment:
    """One remote port made local."""

    def __init__(self, reactor: Reactor, options: AttachOptions) -> None:
        self.reactor = reactor
        self.options = options
        self.target = options.target
        self.port = VirtualPort(
            reactor,
            self,
            options.link,
            mode=options.mode,
            group=options.group,
            stopbits=options.frame.stopbits,
            high_water=options.high_water,
        )
        #: The connection: a socket stream, or a TLS stream around one.
        self.stream: Optional[Union[Stream, TlsStream]] = None
        self._tls_told = False
        #: The filters of the connection (the telnet client), None for raw TCP.
        self.stack: Optional[FilterStack] = None
        #: The telnet client in the stack, when there is one.
        self.client: Optional[tc.TelnetClient] = None
        self.counters = Counters()
        #: CD, RI, DSR, CTS as the server last reported them (RFC 2217 bits).
        self.modemstate: Optional[int] = None
        self._sock: Optional[socket.socket] = None
        self._connecting = False
        #: The server's host name being looked up, to connect when it is found.
        self._lookup: Optional[Lookup] = None
        self._connected_at = 0.0
        self._backoff = MIN_BACKOFF
        self._sent: Optional[LineSettings] = None
        self._held: bytearray = bytearray()
        self._suspended = False  # the server asked us to stop sending
        self._stopped = False
        self._redial = TimerSlot(reactor, self._dial)
        self._connect_deadline = TimerSlot(reactor, self._connect_timed_out)
        self._agree = TimerSlot(reactor, self._no_agreement)
        self._handshake = TimerSlot(reactor, self._handshake_timed_out)
        self._unbreak = TimerSlot(reactor, self._end_break)
        self._warn = RateLimitedLog(f"{options.link}: ", reactor.now)
        self._parity_warned: Optional[str] = None

    # -- start and stop ------------------------------------------------------

    def start(self) -> None:
        """Make the port (raises VirtualPortError), and dial if asked to."""
        if self.target.kind == "raw":
            log.warning(
                "%s: %s is a raw TCP port: only bytes are forwarded (no baud rate, "
                "flow control, DTR, RTS or purges)",
                self.options.link,
                self.target.text,
            )
        elif self.target.kind == "telnet":
            log.warning(
                "%s: %s is telnet without RFC 2217: only bytes are forwarded",
                self.options.link,
                self.target.text,
            )
        self.port.create()
        log.info(
            "%s -> %s: ready (%s, format %s, connect %s)",
            self.options.link,
            self.port.slave_path,
            self.target.text,
            self.options.frame.short,
            self.options.connect,
        )
        self.port.pause_reading()  # until there is somewhere to send to
        if self.options.connect == "always":
            self._dial()

    def stop(self) -> None:
        """Close everything; the link goes away."""
        self._stopped = True
        for slot in (
            self._redial,
            self._connect_deadline,
            self._agree,
            self._handshake,
            self._unbreak,
        ):
            slot.cancel()
        self._drop_connection()
        self.port.close()

    # -- connecting -----------------------------------------------------------

    def _dial(self) -> None:
        if self._stopped or self._connecting or self.stream is not None:
            return
        family = {"ipv4": socket.AF_INET, "ipv6": socket.AF_INET6}.get(
            self.target.family or "", socket.AF_UNSPEC
        )
        query = Query(self.target.host, self.target.port, family, socket.SOCK_STREAM)
        answer = numeric(query)
        if answer is None:
            # A host name: looked up in a child process, so that the pty and
            # the control socket are served while the name server answers.
            self._connecting = True
            self._lookup = lookup(self.reactor, [query], self._found)
            return
        self._connect(answer)

    def _found(self, answers: List[Answer]) -> None:
        self._lookup = None
        self._connecting = False
        self._connect(answers[0])

    def _connect(self, answer: Answer) -> None:
        found = first_address(answer)
        try:
            if found is None:
                raise OSError(answer if isinstance(answer, str) else "no address")
            fam, kind, proto, addr = found
            sock = socket.socket(fam, kind, proto)
        except OSError as exc:
            self._failed(f"cannot reach {self.target.host}: {exc.strerror or exc}")
            return
        sock.setblocking(False)
        err = sock.connect_ex(addr)
        if err not in (0, errno.EINPROGRESS):
            sock.close()
            self._failed(f"cannot connect to {self._where()}: {os.strerror(err)}")
            return
        self._sock = sock
        self._connecting = True
        self.reactor.add_writer(sock.fileno(), self._connect_done)
        self._connect_deadline.arm(CONNECT_TIMEOUT)

    def _where(self) -> str:
        host = self.target.host
        return f"[{host}]:{self.target.port}" if ":" in host else f"{host}:{self.target.port}"

    def _connect_done(self) -> None:
        sock = self._sock
        assert sock is not None
        self.reactor.remove_writer(sock.fileno())
        self._connect_deadline.cancel()
        self._connecting = False
        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            self._sock = None
            self.reactor.forget(sock.fileno())
            sock.close()
            self._failed(f"cannot connect to {self._where()}: {os.strerror(err)}")
            return
        self._connected(sock)

    def _connect_timed_out(self) -> None:
        sock, self._sock = self._sock, None
        self._connecting = False
        if sock is not None:
            self.reactor.forget(sock.fileno())
            sock.close()
        self._failed(f"cannot connect to {self._where()}: no answer in {CONNECT_TIMEOUT:.0f} s")

    def _failed(self, why: str) -> None:
        delay = self._backoff
        self._backoff = min(self._backoff * 2, MAX_BACKOFF)
        self._warn.log(f"{why}; trying again in {delay:g} s", key=why, level=logging.WARNING)
        self._schedule(delay)

    def _schedule(self, delay: float) -> None:
        if self._stopped:
            return
        if self.options.connect == "always" or self.port.is_open:
            self._redial.arm(delay)
        else:
            log.info("%s: connecting again when an application opens the port", self.options.link)

    def _connected(self, sock: socket.socket) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        _keepalive(sock)
        self._sock = None
        self.counters.connections += 1
        self._connected_at = self.reactor.now()
        user = _NetSide(self)
        self._tls_told = False
        if self.options.tls is not None:
            # TLS wraps the socket's stream, as for the daemon's clients:
            # everything above it, telnet included, is plaintext.
            self.stream = TlsStream(
                self.reactor,
                user,
                sock,
                self.options.tls.new_filter(self.target.host),
                high_water=self.options.high_water,
            )
            self._handshake.arm(TLS_TIMEOUT)
        else:
            self.stream = Stream.for_socket(
                self.reactor, user, sock, high_water=self.options.high_water
            )
        self.client = None
        if self.target.telnet:
            self.client = tc.TelnetClient(rfc2217=self.target.rfc2217)
        self.stack = FilterStack([self.client]) if self.client is not None else None
        self._suspended = False
        self._sent = None
        log.info(
            "%s: connected to %s (%s%s)",
            self.options.link,
            self._where(),
            self.target.kind,
            " over TLS" if self.options.tls is not None else "",
        )
        if self.stack is not None:
            self._send_raw(self.stack.start())
            if self.target.rfc2217:
                self._request_all()
                self._agree.arm(AGREE_TIMEOUT + (TLS_TIMEOUT if self.options.tls else 0))
        self.stream.resume_reading()
        self._update_pty_reading()

    def _request_all(self) -> None:
        """What a new connection must be told: the frame, the application's
        settings, and the lines as an open or closed port has them."""
        for command, value in frame_requests(self.options.frame):
            self._request(command, value)
        hung_up = False
        if self.port.app_set and self.port.settings is not None:
            self._send_settings(self.port.settings)
            hung_up = self.port.settings.baud == 0
        if self.port.is_open and not hung_up:
            self._lines(True)
        elif self.port.settings is None or self.port.settings.hupcl:
            self._lines(False)
        self._flush_protocol()

    def _handshake_timed_out(self) -> None:
        if isinstance(self.stream, TlsStream) and not self.stream.session.established:
            self._lost(f"no TLS session after {TLS_TIMEOUT:.0f} s")

    def _tls_up(self, stream: TlsStream) -> None:
        """The first plaintext: the session is up; say with what."""
        self._tls_told = True
        self._handshake.cancel()
        obj = stream.session.obj
        cipher = obj.cipher()
        log.info(
            "%s: TLS session with %s (%s, %s)",
            self.options.link,
            self._where(),
            obj.version() or "?",
            cipher[0] if cipher else "?",
        )

    def _no_agreement(self) -> None:
        if self.client is not None and self.client.com_port == "asked":
            log.warning(
                "%s: %s has not agreed to RFC 2217 after %.0f s; settings wait until it does",
                self.options.link,
                self._where(),
                AGREE_TIMEOUT,
            )

    def _lost(self, why: str) -> None:
        lived = self.reactor.now() - self._connected_at
        self._drop_connection()
        if lived >= STABLE_SECONDS:
            self._backoff = MIN_BACKOFF
        delay = self._backoff
        self._backoff = min(self._backoff * 2, MAX_BACKOFF)
        if self.options.connect == "always" or self.port.is_open:
            log.warning(
                "%s: connection to %s lost (%s); connecting again in %g s",
                self.options.link,
                self._where(),
                why,
                delay,
            )
        else:
            log.warning("%s: connection to %s lost (%s)", self.options.link, self._where(), why)
        self._schedule(delay)

    def _drop_connection(self) -> None:
        self._agree.cancel()
        self._handshake.cancel()
        if self._lookup is not None:
            self._lookup.cancel()
            self._lookup = None
            self._connecting = False
        if self._sock is not None:
            self.reactor.forget(self._sock.fileno())
            self._sock.close()
            self._sock = None
            self._connecting = False
        if self.stream is not None:
            stream, self.stream = self.stream, None
            stream.close()
        self.client = None
        self.stack = None
        self._update_pty_reading()

    # -- to the server -------------------------------------------------------

    def _send_raw(self, data: bytes) -> None:
        if self.stream is not None and data:
            self.stream.write(data)
            if self.stream is not None and self.stream.queued > ANSWER_LIMIT:
                self.stream.pause_reading()

    def _request(self, command: ComPortCommand, value: int) -> None:
        if self.client is not None:
            self.client.request(command, value)

    def _flush_protocol(self) -> None:
        if self.stack is not None:
            self._send_raw(self.stack.data_to_send())

    def _send_settings(self, settings: LineSettings) -> None:
        for command, value in requests_between(self._sent, settings):
            self._request(command, value)
        self._sent = settings

    def _lines(self, on: bool) -> None:
        self._request(
            ComPortCommand.SET_CONTROL, ControlValue.DTR_ON if on else ControlValue.DTR_OFF
        )
        self._request(
            ComPortCommand.SET_CONTROL, ControlValue.RTS_ON if on else ControlValue.RTS_OFF
        )

    def set_control(self, line: str, on: bool) -> bool:
        """DTR, RTS or break from the control interface; False when not possible now."""
        if self.client is None or not self.target.rfc2217 or self.client.com_port == "refused":
            return False
        values = {
            "dtr": (ControlValue.DTR_ON, ControlValue.DTR_OFF),
            "rts": (ControlValue.RTS_ON, ControlValue.RTS_OFF),
            "break": (ControlValue.BREAK_ON, ControlValue.BREAK_OFF),
        }[line]
        self._request(ComPortCommand.SET_CONTROL, values[0] if on else values[1])
        self._flush_protocol()
        return True

    def _end_break(self) -> None:
        self.set_control("break", False)

    def send_break(self, seconds: float = BREAK_SECONDS) -> bool:
        if not self.set_control("break", True):
            return False
        self._unbreak.arm(seconds)
        return True

    # -- the pty's user ------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        """The application wrote: on to the server."""
        if self.stream is None:
            return  # not reading while unconnected; the last writes of a close
        self.counters.to_server += len(data)
        self._send_raw(self.stack.send(data) if self.stack is not None else data)

    def eof_received(self) -> None:
        pass

    def connection_lost(self, exc: Optional[StreamError]) -> None:
        pass

    def pause_writing(self) -> None:
        """The application does not read: stop reading the server."""
        if self.stream is not None:
            self.stream.pause_reading()

    def resume_writing(self) -> None:
        if self.stream is not None and self.stream.queued <= ANSWER_LIMIT:
            self.stream.resume_reading()

    def app_opened(self) -> None:
        log.info("%s: opened by an application", self.options.link)
        if self._held:
            held, self._held = bytes(self._held), bytearray()
            self.port.write(held)
        if self.stream is None:
            self._redial.cancel()
            self._dial()
            return
        if self.target.rfc2217:
            self._lines(True)
            self._flush_protocol()
        self._update_pty_reading()

    def app_closed(self, settings: LineSettings) -> None:
        log.info("%s: closed by the application", self.options.link)
        if self.stream is not None and self.target.rfc2217 and settings.hupcl:
            self._lines(False)
            self._flush_protocol()
        self.resume_writing()  # nobody to wait for now: data is dropped or kept

    def settings_changed(self, settings: LineSettings) -> None:
        log.debug("%s: the application set %s", self.options.link, settings.short)
        self._parity_hint(settings)
        if self.stream is None or not self.target.rfc2217:
            return
        # Speed 0 (B0) is a hang-up: a UART's driver drops DTR and RTS, and
        # raises them again when a speed is set.
        was_hung_up = self._sent is not None and self._sent.baud == 0
        self._send_settings(settings)
        if settings.baud == 0 and not was_hung_up:
            self._lines(False)
        elif was_hung_up and settings.baud and self.port.is_open:
            self._lines(True)
        self._flush_protocol()

    def _parity_hint(self, settings: LineSettings) -> None:
        hint = settings.parity_hint
        if hint != self._parity_warned and hint and hint != self.options.frame.parity:
            log.warning(
                "%s: the application asked for %s parity, which a pseudo-terminal "
                "cannot carry; the remote port uses --format %s",
                self.options.link,
                hint,
                self.options.frame.short,
            )
        self._parity_warned = hint

    def purge_requested(self, which: int) -> None:
        if self.stream is not None and self.target.rfc2217:
            self._request(ComPortCommand.PURGE_DATA, which)
            self._flush_protocol()

    def _update_pty_reading(self) -> None:
        """Read the application's writes only when they can go somewhere."""
        want = self.stream is not None and not self._suspended and not self.stream.writing_paused
        if want:
            self.port.resume_reading()
        else:
            self.port.pause_reading()

    # -- from the server ----------------------------------------------------

    def _from_server(self, data: bytes) -> None:
        if not self._tls_told and isinstance(self.stream, TlsStream):
            self._tls_up(self.stream)
        self.counters.from_server += len(data)
        events: List[Event] = self.stack.receive(data) if self.stack is not None else [Data(data)]
        for event in events:
            if type(event) is Data:
                self._to_app(event.data)
            else:
                self._event(event)
                if self.stream is None:
                    return  # the event ended the connection
        self._flush_protocol()

    def _to_app(self, data: bytes) -> None:
        if self.port.is_open:
            self.port.write(data)
            return
        limit = self.options.buffer
        if limit:
            self._held += data
            if len(self._held) > limit:
                self.counters.dropped += len(self._held) - limit
                del self._held[: len(self._held) - limit]
        else:
            self.counters.dropped += len(data)

    def _event(self, event: Event) -> None:
        link = self.options.link
        if isinstance(event, tc.ComPortAnswer):
            if event.differs:
                log.warning(
                    "%s: %s asked for %d, the server set %d",
                    link,
                    event.command.name,
                    event.requested,
                    event.value,
                )
            else:
                log.debug("%s: %s %d", link, event.command.name, event.value)
        elif isinstance(event, tc.ModemStateReport):
            self.modemstate = event.state
        elif isinstance(event, tc.FlowSuspend):
            self._suspended = True
            self._update_pty_reading()
        elif isinstance(event, tc.FlowResume):
            self._suspended = False
            self._update_pty_reading()
        elif isinstance(event, tc.ComPortAccepted):
            self._agree.cancel()
            log.info("%s: RFC 2217 agreed by %s", link, self._where())
        elif isinstance(event, tc.ComPortRefused):
            self._agree.cancel()
            log.warning("%s: %s refuses RFC 2217: only bytes are forwarded", link, self._where())
        elif isinstance(event, tc.ServerSignature):
            log.info("%s: server signature %r", link, event.text)
        elif isinstance(event, tc.ProtocolWarning):
            self._warn.log(
                f"telnet from {self._where()}: {event.message}", key="telnet", level=logging.WARNING
            )

    # -- what the control interface shows ------------------------------------

    def status(self) -> List[str]:
        s = self.port.settings
        state = (
            "connected"
            if self.stream is not None
            else ("connecting" if self._connecting else "not connected")
        )
        lines = [
            f"link: {self.options.link} -> {self.port.slave_path}",
            f"server: {self.target.text} ({state})",
            f"rfc2217: {self.client.com_port if self.client is not None else 'n/a'}",
            f"application: {'open' if self.port.is_open else 'closed'}",
            f"settings: {s.short if s is not None and self.port.app_set else 'not set'}; "
            f"format {self.options.frame.short}",
        ]
        if self.modemstate is not None:
            names = [
                n
                for bit, n in ((0x80, "CD"), (0x40, "RI"), (0x20, "DSR"), (0x10, "CTS"))
                if self.modemstate & bit
            ]
            lines.append(f"modem lines: {' '.join(names) or 'none'}")
        c = self.counters
        lines.append(
            f"bytes: {c.to_server} to the server, {c.from_server} from it, "
            f"{c.dropped} dropped while closed"
        )
        return lines


class _NetSide:
    """The TCP stream's user: the server's side of the attachment."""

    def __init__(self, attachment: Attachment) -> None:
        self.data_received: Callable[[bytes], None] = attachment._from_server
        self._a = attachment

    def eof_received(self) -> None:
        self._a._lost("closed by the server")

    def connection_lost(self, exc: Optional[StreamError]) -> None:
        self._a.stream = None
        self._a._lost(str(exc) if exc is not None else "closed")

    def pause_writing(self) -> None:
        self._a._update_pty_reading()

    def resume_writing(self) -> None:
        a = self._a
        a._update_pty_reading()
        if a.stream is not None and not a.port.writing_paused:
            a.stream.resume_reading()


def _keepalive(sock: socket.socket) -> None:
    """Notice a server that vanished without closing (power loss, cable)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in (("TCP_KEEPIDLE", 10), ("TCP_KEEPINTVL", 5), ("TCP_KEEPCNT", 3)):
        option = getattr(socket, name, None)
        if option is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, option, value)
            except OSError:
                pass
