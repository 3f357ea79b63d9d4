"""relpkt: a reliable, ordered link over msgdelim messages, as gensio speaks it.

msgdelim delivers whole messages or nothing.  relpkt, above it, numbers
them, acknowledges them and sends again what was lost, so that the bytes
given to one end come out of the other exactly once and in order.  The wire
format is gensio's (ser2net 4.x with gensio 2.x), one relpkt packet per
msgdelim message, the packet type in the high nibble of the first byte:

=========  =====================================================  =========
type       bytes                                                  meaning
=========  =====================================================  =========
INIT  1    ``1R 00 window size_hi size_lo`` (R: 1 if a response)  open
DATA  2    ``2E ack seq payload...`` (E: end of message; no        data, ack
           payload: an ack alone, seq unused)
RESEND 3   ``30 first last [first last]...``                      send again
CLOSE 4    ``40 00 00``                                            close
=========  =====================================================  =========

* Sequence numbers are one byte and wrap.  ``ack`` is the sequence number
  the sender of the packet will deliver next, so it acknowledges
  everything before it, and only what was *delivered*: a receiver that is
  not read holds back its acks, and the far sender stops when its window
  (``max_packets``, the smaller of both ends') is full.
* The client sends INIT (response bit clear) once a ``timeout`` (1 s), up
  to ``max_timeouts`` + 1 times; the server answers with INIT (response bit
  set).  Each end takes the smaller window and packet size of the two.
* While open, each end sends something at least once a ``timeout`` (an ack
  if nothing else), and gives the link up after ``max_timeouts`` + 1
  timeouts without a valid packet from the other.
* A receiver that sees a sequence number beyond the next one expected
  asks for the gap with RESEND.  A sender with unacknowledged packets and
  no progress for a while sends them all again.
* Either end closes with CLOSE; the other answers CLOSE.

Beyond gensio, and still interoperable with it:

* A sender whose acknowledgements stop moving for ``resend_time`` sends
  its oldest packet again, and then, if still nothing moves, all of them,
  waiting twice as long each time.  The run time derives ``resend_time``
  from the line speed: long enough for a full window each way to cross
  the line (about 0.8 s at 115200 baud), where gensio waits two to three
  seconds whatever the speed; resending sooner than a loaded line can
  answer only fills it with copies.  Bytes from above are packed into full
  packets while the window is full, rather than one packet per write.
* On a line busy both ways, each end's acknowledgements wait behind the
  data it has queued on the line.  An end that keeps more bytes in flight
  than the other delays the other's acknowledgements by that much, and the
  other end, whose window holds fewer bytes, stalls: gensio fills its
  window with packets of what ser2net read at once (64 bytes by default),
  about half the line time of a window of full packets.  So while the
  far end sends a good share of what this end does, this end keeps no
  more bytes unacknowledged than the far end's window of its packets
  holds (``send_window`` times the largest packet it sent lately, at
  least a quarter of a window of full packets).  Alone on the line, or
  with a far end that only answers, the whole window is used.
* A server that hears data from a connection it does not know (the far
  end kept a session this end lost when it restarted) answers CLOSE, so the
  far end gives that session up at once instead of after its timeouts.  An
  INIT on an open link whose far end has already sent data means the far
  end restarted: the link ends, and the next INIT opens a new one.
* Two clients opening at the same time connect (gensio's manual says so;
  its code ignores the other's INIT).
* A client opens with CLOSE, then INIT (see ``start``).

The filter never reads a clock: it asks for a tick through the timer it
is given and counts time in ticks.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Protocol, Tuple

from pyser2net.protocol.events import Data, Event, LinkDown, LinkUp
from pyser2net.protocol.filters import FilterTimer

INIT, DATA, RESEND, CLOSE = 1, 2, 3, 4
HEADER = 3
#: gensio's defaults.
DEFAULT_MAX_PKTSIZE = 123
DEFAULT_MAX_PACKETS = 16
DEFAULT_TIMEOUT = 1.0
DEFAULT_MAX_TIMEOUTS = 5
#: A RESEND packet holds at most this many ranges (gensio's buffer size).
MAX_RESEND_RANGES = 25
#: Sequence numbers are one byte: a window must stay under half of them.
MAX_WINDOW = 127
_MIN_RESEND = 0.05
_CLOSE_PACKET = bytes((CLOSE << 4, 0, 0))
#: The far end's traffic is weighed over this many windows of our packets.
_BLOCK_WINDOWS = 2

#: gensio error numbers a CLOSE may carry (gensio itself always sends 0 and
#: ignores the field), with gensio's words for them: a pyser2net end that
#: could not connect on says why, and the other end logs it.
GE_TIMEDOUT = 14
GE_REMCLOSE = 26
GE_HOSTDOWN = 27
GE_CONNREFUSE = 28
GENSIO_ERRORS = {
    1: "Out of memory",
    2: "Operation not supported",
    3: "Invalid data to parameter",
    4: "Value or file not found",
    9: "OS error, see logs",
    10: "Object was already in use",
    GE_TIMEDOUT: "Operation timed out",
    25: "Internal I/O error",
    GE_REMCLOSE: "Remote end closed connection",
    GE_HOSTDOWN: "Host could not be reached",
    GE_CONNREFUSE: "Connection refused",
    36: "Permission denied",
}
GENSIO_ERROR_NUMBERS = {text: number for number, text in GENSIO_ERRORS.items()}


def close_packet(error: int = 0) -> bytes:
    return bytes((CLOSE << 4, (error >> 8) & 0xFF, error & 0xFF))


class PacketFraming(Protocol):
    """The layer below relpkt: whole messages in, whole messages out."""

    def frame(self, payload: bytes) -> bytes: ...

    def messages(self, data: bytes) -> List[bytes]: ...


class State(enum.Enum):
    LISTENING = "listening"  # server: waiting for INIT
    CONNECTING = "connecting"  # client: INIT sent
    OPEN = "open"
    DRAINING = "draining"  # close asked: waiting for our data to be acked
    CLOSING = "closing"  # CLOSE sent: waiting for the answer
    CLOSED = "closed"


@dataclass
class RelPktCounters:
    """What happened on the link, for the log and the bench."""

    packets_sent: int = 0
    packets_resent: int = 0
    packets_received: int = 0
    duplicates: int = 0
    resend_requests_sent: int = 0
    resend_requests_received: int = 0
    #: Packets that passed msgdelim's CRC but make no sense here.
    bad_packets: int = 0


def resend_time_for(
    line_rate: Optional[float], max_packets: int, max_pktsize: int, timeout: float
) -> float:
    """How long a sender waits for progress before sending again.

    On a line busy both ways, a packet waits behind our full window and its
    acknowledgement behind the far end's: twice that, for slack, plus a
    little.  gensio's ``timeout`` when the line speed is unknown; never more
    than three timeouts, so that a resend comes well before the far end
    gives up.
    """
    if not line_rate:
        return timeout
    window_bytes = max_packets * (max_pktsize + HEADER + 6)
    return max(_MIN_RESEND, min(3 * timeout, 4 * window_bytes / line_rate + 2 * _MIN_RESEND))


def _inside(seq: int, first: int, end: int) -> bool:
    """``first <= seq < end`` in one-byte sequence space."""
    return (seq - first) & 0xFF < (end - first) & 0xFF


class RelPkt:
    """One end of a relpkt link (a filter: bytes below, payload above).

    ``server``: wait for the far end's INIT (``mode=server``); otherwise
    send INIT on ``start()``.  ``line_rate`` (bytes per second) sets how
    soon a stalled sender sends again; ``resend_time`` overrides it.
    """

    def __init__(
        self,
        framing: PacketFraming,
        timer: FilterTimer,
        *,
        server: bool,
        max_pktsize: int = DEFAULT_MAX_PKTSIZE,
        max_packets: int = DEFAULT_MAX_PACKETS,
        timeout: float = DEFAULT_TIMEOUT,
        max_timeouts: int = DEFAULT_MAX_TIMEOUTS,
        line_rate: Optional[float] = None,
        resend_time: Optional[float] = None,
    ) -> None:
        if not 1 <= max_packets <= MAX_WINDOW:
            raise ValueError(f"max_packets must be 1 to {MAX_WINDOW}")
        if not 1 <= max_pktsize <= 0xFFFF:
            raise ValueError("max_pktsize must be 1 to 65535")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.framing = framing
        self.timer = timer
        self.server = server
        self.max_pktsize = max_pktsize
        self.max_packets = max_packets
        self.timeout = timeout
        self.max_timeouts = max_timeouts
        if resend_time is None:
            resend_time = resend_time_for(line_rate, max_packets, max_pktsize, timeout)
        self.resend_time = max(_MIN_RESEND, resend_time)
        #: The timer period; every duration below is counted in these.
        self.tick = min(timeout, self.resend_time) / 2
        self.state = State.CLOSED
        self.counters = RelPktCounters()
        #: Negotiated with the far end at INIT.
        self.send_window = max_packets
        self.send_pktsize = max_pktsize
        self._out = bytearray()
        # sending
        self._pending = bytearray()
        self._unacked: Dict[int, bytes] = {}
        self._unacked_bytes = 0
        #: The most payload bytes in flight while the far end sends a good
        #: share of what we do (None: the whole window); see ``_weigh``.
        self.byte_limit: Optional[int] = None
        self._block_packets = 0  # our new packets in the block being weighed
        self._block_sent = 0  # their payload bytes
        self._block_got = 0  # payload bytes the far end sent meanwhile
        self._block_peer_size = 0  # the largest of its packets
        self._to_send: List[int] = []  # sequence numbers waiting to go (again)
        self._next_acked = 0
        self._next_send = 0
        # receiving
        self._held: Dict[int, bytes] = {}
        self._next_deliver = 0
        self._next_expected = 0
        self._resend_ranges: List[Tuple[int, int]] = []
        self._ack_due = False
        self._paused = False
        self._peer_spoke = False
        # time, in seconds counted by ticks
        self._since_heard = 0.0
        self._since_sent = 0.0
        self._since_progress = 0.0
        self._stall_limit = self.resend_time
        self._stalls = 0  # resends since the acknowledgements last moved
        self._attempts = 0
        self._close_error = 0

    # -- state --------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self.state is State.OPEN

    @property
    def buffered(self) -> int:
        """Bytes taken from above and not yet acknowledged by the far end."""
        return len(self._pending) + self._unacked_bytes

    @property
    def unacked(self) -> int:
        return len(self._unacked)

    # -- the filter interface ------------------------------------------------

    def start(self) -> bytes:
        """Begin: a client sends INIT; a server waits for one.

        A client sends CLOSE first.  A far end still holding a session this
        end lost (it restarted, or its last CLOSE was damaged) drops it
        then, and takes the next INIT, a second later; gensio would answer
        the INIT at once with the old session's packets and only give up
        after its timeouts.  A far end waiting for INIT ignores the CLOSE.
        """
        if self.server:
            self.state = State.LISTENING
        else:
            self.state = State.CONNECTING
            self._attempts = 1
            self._since_sent = 0.0
            self._emit(_CLOSE_PACKET)
            self._emit(self._init(response=False))
            self.timer.arm(self.tick)
        return self.data_to_send()

    def receive(self, data: bytes) -> List[Event]:
        events: List[Event] = []
        for packet in self.framing.messages(data):
            if self.state is State.CLOSED:
                break
            self._packet(packet, events)
            self._deliver(events)
        self._pump()
        return events

    def send(self, data: bytes) -> bytes:
        """Queue bytes from above; what the window allows goes out now."""
        if data and self.state in (State.CONNECTING, State.LISTENING, State.OPEN):
            self._pending += data
            self._pump()
        return self.data_to_send()

    def data_to_send(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    # -- flow control and closing ------------------------------------------

    def pause(self) -> None:
        """Stop delivering (and so acknowledging): the far sender will wait."""
        self._paused = True

    def resume(self) -> List[Event]:
        """Deliver again; returns what was held, and queues the ack."""
        self._paused = False
        events: List[Event] = []
        self._deliver(events)
        self._pump()
        return events

    def close(self, error: int = 0) -> bytes:
        """Close once what was sent is acknowledged; ``LinkDown`` follows.

        ``error`` (a gensio error number, such as ``GE_CONNREFUSE``) goes in
        the CLOSE packet: a pyser2net far end logs it, gensio ignores it.
        """
        self._close_error = error
        if self.state is State.OPEN:
            if self._pending or self._unacked:
                self.state = State.DRAINING
            else:
                self._send_close()
        elif self.state in (State.LISTENING, State.CONNECTING):
            if self.state is State.CONNECTING:
                self._emit(close_packet(error))
            self._finish()
        return self.data_to_send()

    def reopen(self) -> bool:
        """Take back a ``close`` that has sent nothing yet (still draining)."""
        if self.state is State.DRAINING:
            self.state = State.OPEN
            self._close_error = 0
            return True
        return self.state is State.OPEN

    def abort(self, error: int = 0) -> bytes:
        """Close now; the CLOSE packet is sent once, unanswered."""
        if self.state in (State.OPEN, State.DRAINING, State.CLOSING, State.CONNECTING):
            self._emit(close_packet(error))
        self._finish()
        return self.data_to_send()

    # -- time ---------------------------------------------------------------

    def timer_expired(self) -> List[Event]:
        events: List[Event] = []
        state = self.state
        tick = self.tick
        if state is State.CONNECTING:
            self._since_sent += tick
            if self._since_sent + 1e-9 >= self.timeout:
                if self._attempts > self.max_timeouts:
                    self._finish()
                    events.append(LinkDown("the far end did not answer (relpkt open timed out)"))
                    return events
                self._attempts += 1
                self._emit(self._init(response=False))
        elif state in (State.OPEN, State.DRAINING):
            self._since_heard += tick
            self._since_sent += tick
            if self._since_heard + 1e-9 >= self.timeout * (self.max_timeouts + 1):
                self._finish()
                events.append(LinkDown("the far end stopped answering (relpkt timed out)"))
                return events
            if self._unacked:
                self._since_progress += tick
                if self._since_progress + 1e-9 >= self._stall_limit:
                    if self._stalls:
                        self._go_back()
                    else:
                        self._to_send = self._in_order(set(self._to_send) | {self._next_acked})
                    self._stalls += 1
                    self._since_progress = 0.0
                    self._stall_limit = min(
                        self._stall_limit * 2, max(self.resend_time, 3 * self.timeout)
                    )
            if self._since_sent + 1e-9 >= self.timeout:
                self._ack_due = True
            self._pump()
        elif state is State.CLOSING:
            self._since_sent += tick
            if self._since_sent + 1e-9 >= self.timeout:
                if self._attempts > self.max_timeouts:
                    self._finish()
                    events.append(LinkDown("the far end did not answer the close", error=False))
                    return events
                self._attempts += 1
                self._emit(close_packet(self._close_error))
        else:
            return events
        self.timer.arm(tick)
        return events

    # -- packets in ---------------------------------------------------------

    def _packet(self, packet: bytes, events: List[Event]) -> None:
        if len(packet) < HEADER:
            self.counters.bad_packets += 1
            return
        kind = packet[0] >> 4
        if kind == DATA:
            self._on_data(packet)
        elif kind == INIT:
            self._on_init(packet, events)
        elif kind == RESEND:
            self._on_resend(packet)
        elif kind == CLOSE:
            self._on_close(packet, events)
        else:
            self.counters.bad_packets += 1

    def _on_init(self, packet: bytes, events: List[Event]) -> None:
        if len(packet) < 5 or packet[2] == 0:
            self.counters.bad_packets += 1
            return
        response = bool(packet[0] & 1)
        state = self.state
        # A server takes an INIT; a client its answer, or (both ends
        # opening at once) the other client's INIT, which it answers.
        if (state is State.LISTENING and not response) or state is State.CONNECTING:
            self.send_window = min(packet[2], self.max_packets)
            self.send_pktsize = max(1, min(packet[3] << 8 | packet[4], self.max_pktsize))
            if not response:
                self._emit(self._init(response=True))
            self._open(events)
        elif state in (State.OPEN, State.DRAINING) and not response:
            if self._peer_spoke:
                self._finish()
                events.append(LinkDown("the far end started a new connection"))
                return
            # Our answer was lost: answer again, and send again what it missed.
            self._emit(self._init(response=True))
            self._go_back()
        elif state is State.CLOSING:
            self._emit(_CLOSE_PACKET)

    def _open(self, events: List[Event]) -> None:
        self.state = State.OPEN
        self._since_heard = self._since_sent = self._since_progress = 0.0
        self._attempts = 0
        events.append(LinkUp())
        self.timer.arm(self.tick)

    def _on_data(self, packet: bytes) -> None:
        state = self.state
        if state is State.LISTENING:
            # Data for a session we do not have: tell the far end it is over.
            self._emit(_CLOSE_PACKET)
            return
        if state not in (State.OPEN, State.DRAINING):
            return
        if len(packet) > self.max_pktsize + HEADER:
            self.counters.bad_packets += 1
            return
        if not self._ack(packet[1]):
            self.counters.bad_packets += 1
            return
        self._peer_spoke = True
        self._since_heard = 0.0
        if len(packet) == HEADER or state is not State.OPEN:
            return
        self.counters.packets_received += 1
        seq = packet[2]
        if (seq - self._next_deliver) & 0xFF >= self.max_packets:
            self.counters.duplicates += 1
            self._ack_due = True  # our ack was lost: say it again
            return
        if seq == self._next_expected:
            self._next_expected = (seq + 1) & 0xFF
        elif not _inside(seq, self._next_deliver, self._next_expected):
            self._request_resend(self._next_expected, (seq - 1) & 0xFF)
            self._next_expected = (seq + 1) & 0xFF
        if seq in self._held:
            self.counters.duplicates += 1
        else:
            self._held[seq] = packet[HEADER:]
            size = len(packet) - HEADER
            self._block_got += size
            if size > self._block_peer_size:
                self._block_peer_size = size

    def _ack(self, ack: int) -> bool:
        """Take an acknowledgement; False if it acknowledges what was never sent."""
        first = self._next_acked
        if not _inside(ack, first, (self._next_send + 1) & 0xFF):
            return False
        if ack != first:
            unacked = self._unacked
            seq = first
            while seq != ack:
                done = unacked.pop(seq, None)
                if done is not None:
                    self._unacked_bytes -= len(done)
                seq = (seq + 1) & 0xFF
            self._next_acked = ack
            if self._to_send:
                self._to_send = [s for s in self._to_send if s in unacked]
            self._since_progress = 0.0
            self._stall_limit = self.resend_time
            self._stalls = 0
        return True

    def _on_resend(self, packet: bytes) -> None:
        if self.state not in (State.OPEN, State.DRAINING, State.CLOSING):
            return
        body = packet[1:]
        if len(body) % 2:
            self.counters.bad_packets += 1
            return
        self.counters.resend_requests_received += 1
        wanted = set(self._to_send)
        for i in range(0, len(body), 2):
            first, last = body[i], body[i + 1]
            if not (
                _inside(first, self._next_acked, self._next_send)
                and _inside(last, self._next_acked, self._next_send)
            ):
                continue
            seq = first
            while True:
                wanted.add(seq)
                if seq == last:
                    break
                seq = (seq + 1) & 0xFF
        self._to_send = self._in_order(wanted)

    def _on_close(self, packet: bytes, events: List[Event]) -> None:
        state = self.state
        if state in (State.OPEN, State.DRAINING):
            self._emit(_CLOSE_PACKET)
            self._finish()
            error = packet[1] << 8 | packet[2]
            if error:
                why = GENSIO_ERRORS.get(error, f"gensio error {error}")
                events.append(LinkDown(f"closed by the far end: {why}"))
            else:
                events.append(LinkDown("closed by the far end", error=False))
        elif state is State.CLOSING:
            self._finish()
            events.append(LinkDown("closed", error=False))
        # LISTENING, CONNECTING: an answer to an old session; ignored.

    def _deliver(self, events: List[Event]) -> None:
        if self._paused or self.state is not State.OPEN:
            return
        held = self._held
        seq = self._next_deliver
        while seq in held:
            events.append(Data(held.pop(seq)))
            seq = (seq + 1) & 0xFF
            self._ack_due = True
        self._next_deliver = seq

    # -- packets out --------------------------------------------------------

    def _init(self, response: bool) -> bytes:
        size = self.max_pktsize
        return bytes((INIT << 4 | int(response), 0, self.max_packets, size >> 8, size & 0xFF))

    def _emit(self, packet: bytes) -> None:
        self._out += self.framing.frame(packet)
        self._since_sent = 0.0

    def _request_resend(self, first: int, last: int) -> None:
        if len(self._resend_ranges) < MAX_RESEND_RANGES:
            self._resend_ranges.append((first, last))

    def _go_back(self) -> None:
        """Send every unacknowledged packet again, oldest first."""
        self._to_send = self._in_order(self._unacked)

    def _in_order(self, seqs: Iterable[int]) -> List[int]:
        first = self._next_acked
        return sorted((s for s in seqs if s in self._unacked), key=lambda s: (s - first) & 0xFF)

    def _send_close(self) -> None:
        self.state = State.CLOSING
        self._attempts = 1
        self._emit(close_packet(self._close_error))
        self.timer.arm(self.tick)

    def _pump(self) -> None:
        """Send what is due: resend requests, packets again, new packets, an ack."""
        if self.state not in (State.OPEN, State.DRAINING):
            return
        if self._resend_ranges:
            ranges = self._resend_ranges
            self._resend_ranges = []
            self.counters.resend_requests_sent += 1
            self._emit(bytes([RESEND << 4]) + bytes(b for pair in ranges for b in pair))
        sent_data = False
        ack = self._next_deliver
        if self._to_send:
            for seq in self._to_send:
                self._emit(bytes((DATA << 4, ack, seq)) + self._unacked[seq])
                self.counters.packets_resent += 1
            self._to_send = []
            sent_data = True
        pending = self._pending
        if pending:
            size = self.send_pktsize
            limit = self.byte_limit
            taken = 0
            while taken < len(pending) and len(self._unacked) < self.send_window:
                chunk = bytes(pending[taken : taken + size])
                if limit is not None and self._unacked and self._unacked_bytes + len(chunk) > limit:
                    break
                taken += len(chunk)
                seq = self._next_send
                if not self._unacked:
                    self._since_progress = 0.0
                self._unacked[seq] = chunk
                self._unacked_bytes += len(chunk)
                self._next_send = (seq + 1) & 0xFF
                self._emit(bytes((DATA << 4, ack, seq)) + chunk)
                self.counters.packets_sent += 1
                sent_data = True
                self._block_packets += 1
                self._block_sent += len(chunk)
                if self._block_packets >= _BLOCK_WINDOWS * self.send_window:
                    self._weigh()
            del pending[:taken]
        if sent_data:
            self._ack_due = False
        elif self._ack_due:
            self._ack_due = False
            self._emit(bytes((DATA << 4, ack, 0)))
        if self.state is State.DRAINING and not pending and not self._unacked:
            self._send_close()

    def _weigh(self) -> None:
        """At the end of a block of our packets: how many bytes may be in flight.

        While the far end sent at least a quarter as many bytes as we did, at
        most what its window of its largest packets holds (but a quarter
        of our whole window at least); otherwise the whole window.
        """
        full = self.send_window * self.send_pktsize
        if self._block_peer_size and 4 * self._block_got >= self._block_sent:
            limit = max(self.send_window * self._block_peer_size, full // 4)
            self.byte_limit = limit if limit < full else None
        else:
            self.byte_limit = None
        self._block_packets = self._block_sent = self._block_got = self._block_peer_size = 0

    def _finish(self) -> None:
        self.state = State.CLOSED
        self.timer.cancel()
        self._pending.clear()
        self._unacked.clear()
        self._unacked_bytes = 0
        self.byte_limit = None
        self._block_packets = self._block_sent = self._block_got = self._block_peer_size = 0
        self._to_send = []
        self._held.clear()
