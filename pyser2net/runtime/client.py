"""One network peer of a port: its stream, its filters, its own limits.

A client is the user of its stream and the top of its filter stack: bytes
read go up through the filters, and payload goes on to its owner (the
port) through the small ``ClientOwner`` interface; payload from the device
comes down through the filters to the stream.  What concerns this client
alone stays here: RFC 2217 flow suspension, protocol warnings (logged once),
``client-buffer-limit``, ``client-send-timeout``, and the kernel-queue watch
of ``timeout-on-os-queue``.

A client gets a bounded share of the loop: its telnet layer handles at
most ``COMMANDS_PER_TURN`` commands with an effect at a time, and the rest
of what it sent (not read further meanwhile) waits its turn in the
``Backlogs`` line, which works off a few such pieces every
``BACKLOG_PAUSE`` seconds, whoever they come from: clients sending commands
in a pipeline, however many, cannot keep the daemon busy.  Answers
count against its output bound: a chunk that leaves answers queued past
the high-water mark stops reading from the client until it has read
them, as a client that does not read device data holds the device back.
"""

from __future__ import annotations

import collections
import functools
import logging
import socket
import time
import weakref
from typing import TYPE_CHECKING, Callable, Deque, List, Optional, Protocol, Union

from pyser2net.config.model import Connector
from pyser2net.protocol import telnet
from pyser2net.protocol.events import Data, Event
from pyser2net.protocol.filters import FilterStack
from pyser2net.protocol.telnet import TelnetServerCodec
from pyser2net.runtime.idle import QueueProgress
from pyser2net.runtime.reactor import Reactor
from pyser2net.runtime.stream import DatagramPeer, Stream, StreamError
from pyser2net.runtime.telnetlog import OptionWatch
from pyser2net.runtime.timers import TimerSlot

if TYPE_CHECKING:  # the TLS and link modules: only accepters with those layers need them
    from pyser2net.protocol.tls import TlsFilter
    from pyser2net.runtime.linkstream import LinkStream
    from pyser2net.runtime.tlsstream import TlsStream

log = logging.getLogger(__name__)

#: How long a client being closed may take to receive its last bytes, and
#: how long a device may take to swallow what clients sent before it closes.
DRAIN_SECONDS = 5.0

#: Telnet commands with an effect (negotiations, RFC 2217 requests...)
#: a client's telnet layer handles at a time (a piece of its backlog);
#: payload and commands without an effect are not counted.  Each queues at
#: most ``telnet.MAX_ANSWER`` bytes of answers.
COMMANDS_PER_TURN = 8
#: How often the line of backlogs moves, and how many pieces it works off
#: then.  A daemon that never sleeps waits for the CPU behind everything
#: else on a busy machine: this keeps all clients flooding commands together
#: to some 30,000 commands a second, and the daemon's other ports answering
#: at once.
BACKLOG_PAUSE = 0.0005
PIECES_PER_TURN = 2
#: The largest read of a client with a telnet layer.  Payload dense in
#: 0xFF costs the telnet layer a search and a copy per doubled IAC: on a
#: 2-core VM, 64 KiB of it took a millisecond of one loop turn, where 64 KiB
#: without IACs take a few microseconds.  16 KiB keeps such a read a
#: quarter of that, and costs plain payload one read call more per 16 KiB.
TELNET_READ_LIMIT = 16384


class Backlogs:
    """The clients whose telnet layer holds a backlog, taking turns.

    Every ``BACKLOG_PAUSE`` the first ``PIECES_PER_TURN`` of them each
    handle one piece and go to the back of the line if they have more.
    One line per loop (``of``).
    """

    _lines: weakref.WeakKeyDictionary[Reactor, Backlogs] = weakref.WeakKeyDictionary()

    @classmethod
    def of(cls, reactor: Reactor) -> Backlogs:
        line = cls._lines.get(reactor)
        if line is None:
            line = cls._lines[reactor] = cls(reactor)
        return line

    def __init__(self, reactor: Reactor) -> None:
        self._waiting: Deque[Client] = collections.deque()
        self._timer = TimerSlot(reactor, self._move)

    def join(self, client: Client) -> None:
        self._waiting.append(client)
        if not self._timer.pending:
            self._timer.arm(BACKLOG_PAUSE)

    def _move(self) -> None:
        waiting = self._waiting
        for _ in range(min(PIECES_PER_TURN, len(waiting))):
            waiting.popleft().work_backlog()
        if waiting:
            self._timer.arm(BACKLOG_PAUSE)


class ClientOwner(Protocol):
    """What a client tells the port it belongs to."""

    def to_device(self, data: bytes, record: bool = True) -> None:
        """Payload from the client."""

    def client_event(self, client: Client, event: Event) -> None:
        """A filter event that concerns the device (RFC 2217 requests, break...)."""

    def client_lost(self, client: Client, reason: Optional[str]) -> None:
        """The client is gone (``reason`` for the log; None: closed as asked)."""

    def client_blocked(self, client: Client) -> None:
        """The client's queue is full: stop feeding it."""

    def client_unblocked(self, client: Client) -> None:
        """The client's queue drained."""


class ClientLimits:
    """How much a client may fall behind (from the connection's options).

    ``high_water``: queue size at which the client holds the device back;
    ``read_limit``: the largest read (net-to-dev-bufsize); ``buffer_limit``
    (client-buffer-limit): drop the client instead of holding the device;
    ``send_timeout`` (client-send-timeout): drop a client whose queue makes
    no progress for that long.
    """

    __slots__ = ("high_water", "read_limit", "buffer_limit", "send_timeout")

    def __init__(
        self,
        high_water: int,
        read_limit: int,
        buffer_limit: Optional[int] = None,
        send_timeout: Optional[float] = None,
    ) -> None:
        self.high_water = high_water
        self.read_limit = read_limit
        self.buffer_limit = buffer_limit
        self.send_timeout = send_timeout


class Client:
    """One network peer of a port."""

    # The attributes of the data path live in slots, the rest in the instance
    # dict (see ``Port``: a dict of 30 names or more is slow to look up).
    __slots__ = (
        "owner",
        "stream",
        "write",
        "_down",
        "closing",
        "closed",
        "bytes_sent",
        "bytes_received",
        "last_activity",
        "_now",
        "_to_device",
        "_parse",
        "stack",
        "codec",
        "_counted",
        "__dict__",
    )

    def __init__(
        self,
        owner: ClientOwner,
        reactor: Reactor,
        sock: Optional[socket.socket],
        addr: tuple,
        *,
        label: str,
        limits: ClientLimits,
        stack: Optional[FilterStack] = None,
        codec: Optional[TelnetServerCodec] = None,
        udp: bool = False,
        datagram: bool = False,
        counted: bool = True,
        tls: Optional[TlsFilter] = None,
        errors: Callable[[str], None] = log.error,
        stream: Optional[LinkStream] = None,
    ) -> None:
        self.owner = owner
        self.addr = addr
        self.label = label
        self._now = reactor.now
        #: The filters between the stream and the port; None on raw ports.
        self.stack = stack
        #: The telnet layer, for the RFC 2217 session; None without one.
        self.codec = codec
        #: -l: logs the telnet options when they change (None without -l).
        self.options: Optional[OptionWatch] = (
            OptionWatch() if codec is not None and OptionWatch.wanted() else None
        )
        #: Whether input counts for showport (not with no-acc-to-con, as in ser2net).
        self._counted = counted
        self._to_device = owner.to_device
        if stack is not None:  # before the stream takes our data_received
            self.data_received = self._receive_filtered  # type: ignore[method-assign]
        self._parse: Callable[[bytes], List[Event]] = (
            stack.receive if stack is not None else lambda data: [Data(data)]
        )
        if stack is not None and codec is not None and len(stack.filters) == 1:
            # The telnet layer alone: its own bound on the work of one call.
            self._parse = functools.partial(codec.receive_data, limit=COMMANDS_PER_TURN)
        self._backlogs = Backlogs.of(reactor)
        self._in_line = False  # waiting in the line of backlogs
        #: Whether the owner wants this client read (resume_reading/pause_reading).
        self._reading_wanted = False
        #: Answers are queued past the high-water mark: read no more until they drain.
        self._owing = False
        read_limit = limits.read_limit
        if codec is not None:
            read_limit = min(read_limit, TELNET_READ_LIMIT)
        self.stream: Union[Stream, DatagramPeer, TlsStream, LinkStream]
        if stream is not None:
            # A stream made elsewhere (a conacc accepter's link): we use it from now on.
            self.stream = stream
            stream.set_user(self)
        elif tls is not None:
            from pyser2net.runtime.tlsstream import TlsStream

            assert sock is not None
            self.stream = TlsStream(
                reactor, self, sock, tls, read_limit=read_limit, high_water=limits.high_water
            )
        elif udp:
            assert sock is not None
            self.stream = DatagramPeer(
                sock,
                addr,
                self,
                lambda n: errors(f"dropped {n} bytes to {addr_text(addr)}: socket buffer full"),
            )
        else:
            assert sock is not None
            self.stream = Stream.for_socket(
                reactor,
                self,
                sock,
                read_limit=read_limit,
                high_water=limits.high_water,
                datagram=datagram,
            )
        self.sock = sock
        self._limits = limits
        self.closing = False
        self.closed = False
        self.last_activity = reactor.now()
        self._progress = QueueProgress(self.last_activity)
        self._send_watch = TimerSlot(reactor, self._check_progress)
        self.warned = False
        #: Turned away (port busy, access denied...): never a session.
        self.refused = False
        #: Why the port closes this client, once it does (a disconnect reason
        #: of ``runtime.counters``); empty while it is not being closed.
        self.end = ""
        #: When the client came (wall clock, for showclients and /status).
        self.connected_at = time.time()
        #: The connback target this client was dialled for, if any.
        self.connback: Optional[Connector] = None
        #: Seconds of silence before closing; connback clients have their own.
        self.idle_timeout: float = 0
        #: Payload counters for showport (telnet escapes not counted).
        self.bytes_received = 0
        self.bytes_sent = 0
        # The cheapest way down for this client's configuration.
        checked = limits.buffer_limit is not None or limits.send_timeout is not None
        self._down: Callable[[bytes], None] = self._send_checked if checked else self.stream.write
        #: Payload for the peer (device data, banners): through the filters.
        self.write: Callable[[bytes], None] = self._down if stack is None else self._write_filtered

    @property
    def name(self) -> str:
        return f"{self.label} client {addr_text(self.addr)}"

    @property
    def output_full(self) -> bool:
        """Whether the output queue is past the high-water mark."""
        return self.stream.writing_paused

    @property
    def blocking(self) -> bool:
        """Whether this client holds the device back now."""
        return self.stream.writing_paused and self._limits.buffer_limit is None

    # -- towards the peer ---------------------------------------------------

    def send_raw(self, data: bytes) -> None:
        """Bytes that bypass the filters (a filter's greeting, a refusal)."""
        self._down(data)

    def _write_filtered(self, data: bytes) -> None:
        assert self.stack is not None
        self._down(self.stack.send(data))

    def flush_protocol(self) -> None:
        """Send what the filters queued (answers go before later data).

        Answers sent outside a read (RFC 2217 answers come in the next
        turn) count against the output bound as those of a read do.
        """
        if self._flush_answers() and self.stream.writing_paused and not self._owing:
            self._owing = True
            self._update_reading()

    def _flush_answers(self) -> bool:
        """``flush_protocol``, saying whether there was anything to send."""
        if self.stack is not None:
            out = self.stack.data_to_send()
            if out:
                self._down(out)
                return True
        return False

    def _send_checked(self, data: bytes) -> None:
        stream = self.stream
        stream.write(data)
        if not stream.queued or self.closed:
            return
        limits = self._limits
        if (
            limits.buffer_limit is not None
            and stream.queued > limits.buffer_limit
            and (not self.closing)
        ):
            self.owner.client_lost(
                self,
                f"stopped reading: {stream.queued} bytes queued, "
                f"client-buffer-limit is {limits.buffer_limit}",
            )
            return
        if (
            limits.send_timeout is not None
            and not self._send_watch.pending
            and (stream.stalled_since is not None)
        ):
            self._send_watch.arm_at(stream.stalled_since + limits.send_timeout)

    def _check_progress(self) -> None:
        timeout = self._limits.send_timeout
        stalled = self.stream.stalled_since
        if self.closed or stalled is None or timeout is None:
            return
        if self._now() - stalled >= timeout:
            self.owner.client_lost(self, f"no progress for {timeout:g}s (client-send-timeout)")
        else:
            self._send_watch.arm_at(stalled + timeout)

    def hold_output(self, hold: bool) -> None:
        """RFC 2217 FLOWCONTROL-SUSPEND / RESUME: queue, but do not send."""
        if not self.closed:
            self.stream.hold_output(hold)

    def stuck_for(self, now: float) -> float:
        """How long bytes sent to this client have not moved (idle watch)."""
        return self._progress.stuck_for(
            self.stream.unsent_in_kernel(), self.stream.stalled_since, now
        )

    # -- from the peer (StreamUser) ------------------------------------------

    def data_received(self, data: bytes) -> None:
        self._to_device(data)
        # Bookkeeping after the bytes are on their way: off the latency path.
        self.last_activity = self._now()
        if self._counted:
            self.bytes_received += len(data)

    def _receive_filtered(self, data: bytes) -> None:
        counted = self._counted
        for event in self._parse(data):
            if type(event) is Data:
                self._to_device(event.data)
                if counted:  # payload only, as ser2net counts: no telnet commands
                    self.bytes_received += len(event.data)
            else:
                self._event(event)
            if self.closed:
                return
        answered = self._flush_answers()
        codec = self.codec
        if codec is not None:
            if self.options is not None:
                self.options.check(self.name, codec)
            if answered and self.stream.writing_paused:
                self._owing = True
                self._update_reading()
            elif codec.input_pending:
                self._update_reading()
        self.last_activity = self._now()

    def _update_reading(self) -> None:
        """Read the socket when the owner wants it, no answers are owed and
        the telnet layer holds no backlog; with a backlog, wait in the line."""
        if self.closing:
            return
        go = self._reading_wanted and not self._owing
        backlog = self.codec is not None and self.codec.input_pending
        if go and not backlog:
            self.stream.resume_reading()
            return
        self.stream.pause_reading()
        if go and not self._in_line:
            self._in_line = True
            self._backlogs.join(self)

    def work_backlog(self) -> None:
        """Our turn in the line of backlogs: handle one piece."""
        self._in_line = False
        if self.closing or not self._reading_wanted or self._owing:
            return  # whoever lifts the hold calls _update_reading
        self._receive_filtered(b"")
        self._update_reading()

    def _event(self, event: Event) -> None:
        if isinstance(event, telnet.FlowSuspend):
            self.hold_output(True)
        elif isinstance(event, telnet.FlowResume):
            self.hold_output(False)
        elif isinstance(event, telnet.ProtocolWarning):
            # A warning once per connection: a broken client must not flood
            # the log.  With -l the rest (a few, the codec stops) show too.
            log.log(
                logging.DEBUG if self.warned else logging.WARNING,
                "%s: %s: %s",
                self.label,
                addr_text(self.addr),
                event.message,
            )
            self.warned = True
        elif isinstance(event, telnet.SignatureReceived):
            log.debug(
                "%s: RFC 2217 signature %s",
                self.name,
                f"{event.text!r} sent" if event.text else "asked for",
            )
        else:
            self.owner.client_event(self, event)

    def eof_received(self) -> None:
        self.owner.client_lost(self, "closed by peer")

    def connection_lost(self, exc: Optional[StreamError]) -> None:
        self.closing = True
        self.owner.client_lost(self, None if exc is None else str(exc))

    def pause_writing(self) -> None:
        if self._limits.buffer_limit is None:
            self.owner.client_blocked(self)

    def resume_writing(self) -> None:
        if self._owing:
            self._owing = False
            self._update_reading()
        self.owner.client_unblocked(self)

    # -- the device behind the port -------------------------------------------

    def device_ready(self) -> None:
        """The port's device is open: a stream that waits for that (a
        serialtcp link under conacc) says so."""
        ready = getattr(self.stream, "far_end_ready", None)
        if ready is not None and not self.closing:
            ready()

    def device_failed(self, reason: str) -> None:
        """The port's device would not open: a stream that can say why (a
        relpkt link under conacc) will, as it closes."""
        failed = getattr(self.stream, "far_end_failed", None)
        if failed is not None:
            failed(reason)

    # -- reading and closing ---------------------------------------------------

    def resume_reading(self) -> None:
        self._reading_wanted = True
        if self.stack is not None:
            self._update_reading()
        else:
            self.stream.resume_reading()

    def pause_reading(self) -> None:
        self._reading_wanted = False
        self.stream.pause_reading()

    def close_after_flush(self, end: str = "") -> None:
        """Close once queued bytes are out (bounded by DRAIN_SECONDS);
        ``end`` says why, for metrics."""
        if end and not self.end:
            self.end = end
        self.closing = True
        self.stream.close_after_flush(DRAIN_SECONDS)

    def shutdown(self) -> None:
        """Close now; the owner has taken the client off its list."""
        if self.closed:
            return
        self.closed = self.closing = True
        self._send_watch.cancel()
        self.stream.close()


def addr_text(addr: tuple) -> str:
    return f"{addr[0]},{addr[1]}"
