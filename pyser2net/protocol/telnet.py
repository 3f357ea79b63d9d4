"""Sans-IO telnet (RFC 854/855) and RFC 2217 COM-PORT-OPTION server codec.

The parser and the option negotiation (``TelnetParser``) serve both sides;
the server's policy is ``TelnetServerCodec`` here, the client's is in
``telnet_client``.

The codec owns no socket, serial port, clock or thread: the engine feeds it
the bytes read from the network (:meth:`TelnetServerCodec.receive_data`),
acts on the returned events, and writes out :meth:`~TelnetServerCodec.data_to_send`
followed by device bytes passed through :meth:`~TelnetServerCodec.encode`.
Keeping it free of I/O makes every byte it produces testable in isolation
and lets the same object serve asyncio, selectors or threads.  It does not
log either: what it saw is in its events and its state, which the run time
logs under the connection's name.

Why the wire behaviour is what it is
------------------------------------
pyser2net must be a drop-in replacement, so what clients see is modelled on
ser2net 4.3 (whose telnet layer lives in gensio 2.x), as observed on the
wire, rather than on a reading of the RFCs alone:

* On accept ser2net sends ``WILL SGA, DO SGA, WILL ECHO, DONT ECHO,
  DO BINARY, WILL BINARY`` and, only with ``rfc2217`` enabled, ``DO
  COM-PORT-OPTION``.  Offering ECHO while the device does the echoing puts
  ordinary telnet clients into character-at-a-time mode, which is what a
  serial console needs.  The server never offers WILL COM-PORT-OPTION and
  refuses a client's DO for it: RFC 2217 only needs the client side.

* Option negotiation keeps, per option and direction, whether the server
  has already said something (the initial burst counts) and whether the
  peer has the option enabled.  A request for an option the server wants
  is answered only if the server has never spoken about it; a request for
  an option it refuses is refused every time; a disable is answered only
  when the option was enabled (or never discussed).  This is RFC 1143's
  "never answer an answer" for every sequence a conforming client can
  produce, it cannot loop because the server never initiates after the
  initial burst, and an option storm yields at most one 3-byte answer per
  3-byte request.  Unknown options are refused on every request because
  RFC 1143 requires a refusal for each request made in state NO; answering
  "once" would leave a re-asking client waiting forever.  Two ser2net
  quirks are kept on purpose because they are harmless to RFC 1143 clients
  and keep the bytes identical: in rfc2217 mode ``WILL SGA`` is answered
  with a second ``DO SGA``, and an option that was disabled and is
  re-enabled gets no new acknowledgement.

* No newline translation happens in either direction, whatever the BINARY
  state: ser2net passes ``CR NUL`` and ``CR LF`` to the device untouched
  and sends device bytes with only IAC doubled.  Stripping would corrupt
  binary protocols spoken by clients that never negotiate BINARY.

* Subnegotiation parsing follows the observed tolerance: the byte after
  ``IAC SB`` is always the option (even 255), ``IAC IAC`` inside is a 255,
  ``IAC`` followed by anything but SE or IAC is dropped together with that
  byte and the subnegotiation continues, so an unterminated subnegotiation
  swallows following data until an ``IAC SE`` appears.  An over-long
  payload is truncated to :data:`MAX_SB_PAYLOAD` bytes (memory stays
  bounded) and still processed, because ser2net still answers, e.g., a
  signature request carrying a long client signature.

* RFC 2217 requests are honoured whenever the accepter has rfc2217
  enabled, even before the client said WILL COM-PORT-OPTION, and ignored
  entirely otherwise.  The server's own signature answers every SIGNATURE
  subnegotiation, including one that carries the client's signature.
  SET-LINESTATE-MASK / SET-MODEMSTATE-MASK are acknowledged as RFC 2217
  asks, with the server code (110 / 111) echoing the mask; then, as
  ser2net does, NOTIFY-LINESTATE / NOTIFY-MODEMSTATE reports the current
  state under the new mask (gensio clients set a mask to ask for the
  state).  ser2net 4.3 sends only the notification, which leaves a client
  waiting for the acknowledgement to time out.  The first WILL
  COM-PORT-OPTION of a connection sets the modemstate mask to 255 and sends
  the current modemstate, without an acknowledgement (nothing was asked).

* Answers the codec can give itself (option replies, signature, mask
  notifications, and PURGE-DATA, which ser2net echoes without asking the
  device) are queued while parsing; answers depending on the device are
  queued when the engine calls :meth:`~TelnetServerCodec.reply`.  An
  engine that handles all events of a chunk before draining reproduces
  ser2net's order exactly: ser2net's device operations complete after the
  rest of the chunk has been parsed, so its automatic answers come first.

* A SET-BAUDRATE carrying fewer than four value bytes is the Cisco IOS
  form (one-byte rate index).  From then on the connection answers
  SET-BAUDRATE in that form, as ser2net does, because such clients cannot
  parse the four-byte form.  An unknown index reads as 0, i.e. a query.

* Modemstate notifications follow ser2net's rule: a device report is sent
  only when one of the *delta* bits (low nibble) that the client's mask
  selects is set; the value sent is the report under the mask.  Linestate
  reports are sent when any masked bit is set.

* ``IAC BRK`` is a break.  ``IAC DM`` only means "sync" together with TCP
  urgent data, which a byte stream codec cannot see; so ``DM`` is simply
  dropped, or, with ``brk_on_sync``, treated as the sync that ser2net turns
  into a break.  NOP, GA, AYT and the other one-byte commands are ignored,
  as ser2net does (it does not answer AYT).

* Hostile input costs bytes operations, not Python per byte: payload full
  of doubled 0xFF, commands without effect between payload bytes, long
  subnegotiation bodies and repeated negotiations (``DO x, DONT x, ...``)
  are handled with searches and replaces over whole runs, with exactly the
  events and answers byte-by-byte parsing gives.  Only commands with an
  effect cost a step each, and ``limit`` caps those per call, so one call
  queues a bounded amount of answers, whatever the peer sends, and the
  caller can stop reading from a peer that does not read its answers.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from pyser2net.protocol.events import Data, Event

__all__ = [
    "Break",
    "ComPortCommand",
    "ComPortRequest",
    "ComPortRun",
    "ControlValue",
    "CISCO_BAUD_RATES",
    "Data",
    "Event",
    "FlowResume",
    "FlowSuspend",
    "LineState",
    "LineStateMaskChanged",
    "MAX_ANSWER",
    "MAX_RUN",
    "MAX_SB_PAYLOAD",
    "MAX_WARNINGS",
    "ModemState",
    "ModemStateMaskChanged",
    "ProtocolWarning",
    "SERVER_OFFSET",
    "SignatureReceived",
    "TelnetCommand",
    "TelnetOption",
    "TelnetParser",
    "TelnetServerCodec",
    "com_port_answer",
    "initial_negotiation",
    "modemstate_with_deltas",
    "run_requests",
]


class TelnetCommand(enum.IntEnum):
    """Telnet command bytes (RFC 854) that follow an IAC."""

    SE = 240
    NOP = 241
    DM = 242
    BRK = 243
    IP = 244
    AO = 245
    AYT = 246
    EC = 247
    EL = 248
    GA = 249
    SB = 250
    WILL = 251
    WONT = 252
    DO = 253
    DONT = 254
    IAC = 255


class TelnetOption(enum.IntEnum):
    """Telnet options the server has an opinion about (all others are refused)."""

    BINARY = 0
    ECHO = 1
    SUPPRESS_GO_AHEAD = 3
    COM_PORT_OPTION = 44


class ComPortCommand(enum.IntEnum):
    """RFC 2217 client-to-server command codes; the server answers with code + 100."""

    SIGNATURE = 0
    SET_BAUDRATE = 1
    SET_DATASIZE = 2
    SET_PARITY = 3
    SET_STOPSIZE = 4
    SET_CONTROL = 5
    NOTIFY_LINESTATE = 6
    NOTIFY_MODEMSTATE = 7
    FLOWCONTROL_SUSPEND = 8
    FLOWCONTROL_RESUME = 9
    SET_LINESTATE_MASK = 10
    SET_MODEMSTATE_MASK = 11
    PURGE_DATA = 12

    @property
    def server_code(self) -> int:
        """The code the server uses when answering or notifying."""
        return int(self) + SERVER_OFFSET


SERVER_OFFSET = 100
# Answer codes looked up once: an enum member's property costs a call per use.
_PURGE_ANSWER = ComPortCommand.PURGE_DATA + SERVER_OFFSET
_BAUD_ANSWER = ComPortCommand.SET_BAUDRATE + SERVER_OFFSET


class ControlValue(enum.IntEnum):
    """SET-CONTROL values (RFC 2217); the *_REQUEST ones are queries."""

    FLOW_REQUEST = 0
    FLOW_NONE = 1
    FLOW_XONXOFF = 2
    FLOW_HARDWARE = 3
    BREAK_REQUEST = 4
    BREAK_ON = 5
    BREAK_OFF = 6
    DTR_REQUEST = 7
    DTR_ON = 8
    DTR_OFF = 9
    RTS_REQUEST = 10
    RTS_ON = 11
    RTS_OFF = 12
    INBOUND_FLOW_REQUEST = 13
    INBOUND_FLOW_NONE = 14
    INBOUND_FLOW_XONXOFF = 15
    INBOUND_FLOW_HARDWARE = 16
    FLOW_DCD = 17
    INBOUND_FLOW_DTR = 18
    FLOW_DSR = 19


class ModemState(enum.IntFlag):
    """NOTIFY-MODEMSTATE bits; the low nibble flags lines that changed."""

    CTS_DELTA = 0x01
    DSR_DELTA = 0x02
    RI_TRAILING_EDGE = 0x04
    CD_DELTA = 0x08
    CTS = 0x10
    DSR = 0x20
    RI = 0x40
    CD = 0x80


class LineState(enum.IntFlag):
    """NOTIFY-LINESTATE bits."""

    DATA_READY = 0x01
    OVERRUN_ERROR = 0x02
    PARITY_ERROR = 0x04
    FRAMING_ERROR = 0x08
    BREAK_DETECT = 0x10
    TRANSFER_HOLDING_EMPTY = 0x20
    TRANSFER_SHIFT_EMPTY = 0x40
    TIMEOUT_ERROR = 0x80


#: Cisco IOS one-byte SET-BAUDRATE index -> bits per second.
CISCO_BAUD_RATES: Dict[int, int] = {
    3: 300,
    4: 600,
    5: 1200,
    6: 2400,
    7: 4800,
    8: 9600,
    10: 19200,
    12: 38400,
    13: 57600,
    14: 115200,
    15: 230400,
}
_BAUD_TO_CISCO: Dict[int, int] = {rate: index for index, rate in CISCO_BAUD_RATES.items()}

#: Subnegotiation payload bytes kept; the rest of a longer one is discarded.
MAX_SB_PAYLOAD = 256

#: ProtocolWarning events emitted per connection before staying quiet, so a
#: hostile peer cannot turn garbage into an unbounded stream of events.
MAX_WARNINGS = 16

# The signature answer is cut like ser2net cuts it (its buffer is 256 bytes
# including the two header bytes).
_MAX_SIGNATURE = 254

_IAC = 255
_IAC_B = b"\xff"
_IAC_IAC = b"\xff\xff"
_SE = 240
_DM = 242
_BRK = 243
_SB = 250
_WILL = 251
_WONT = 252
_DO = 253
_DONT = 254
_COM_PORT = 44


# --------------------------------------------------------------------------
# Events


# ``Event`` and ``Data`` (payload for the device, telnet escaping removed)
# are shared by every filter: see ``events``.


@dataclass(frozen=True)
class Break(Event):
    """The client asked for a break on the serial line (IAC BRK, or sync)."""


@dataclass(frozen=True)
class ComPortRequest(Event):
    """An RFC 2217 request the engine applies to the device, then answers.

    ``value`` 0 means "report the current setting" for every command except
    SET-CONTROL, whose query values are 0, 4, 7, 10 and 13, and PURGE-DATA.
    Values are not range checked: ser2net passes them on and sends no answer
    when the device rejects them.  For SET-BAUDRATE the value is in bits per
    second even when the client used the Cisco index form.  Answer with
    :meth:`TelnetServerCodec.reply`.

    PURGE-DATA is the exception: ser2net answers it at once, echoing any
    value, without waiting for the device, so the codec has already queued
    that answer and the engine only flushes.  A ``reply(PURGE_DATA, ...)``
    for it is swallowed, so engines may answer every request alike.
    """

    command: ComPortCommand
    value: int


@dataclass(frozen=True)
class ComPortRun(Event):
    """RFC 2217 settings requests in a row, parsed in one step.

    Only with ``com_port_runs``: 2 to :data:`MAX_RUN` requests one right
    after the other, each SET-BAUDRATE (four bytes), SET-DATASIZE,
    SET-PARITY, SET-STOPSIZE or a flow control SET-CONTROL (0-3, 13-16),
    none with a doubled IAC.  ``items`` are their command byte and value
    bytes, in order (``run_requests`` decodes them).  A client flooding
    settings costs a few C-level searches per run, not a pass per request;
    the answers, with :meth:`TelnetServerCodec.reply_encoded`, must be
    those :meth:`TelnetServerCodec.reply` would queue, in order.
    """

    items: Tuple[bytes, ...]


@dataclass(frozen=True)
class SignatureReceived(Event):
    """A SIGNATURE subnegotiation; ``text`` is the client's signature, often empty.

    The codec has already queued the server's signature as the answer.
    """

    text: str


@dataclass(frozen=True)
class FlowSuspend(Event):
    """FLOWCONTROL-SUSPEND: the client asks the server to stop sending data.

    This is the RFC 2217 meaning.  ser2net 4.3 instead turns SUSPEND into
    "SET-CONTROL 1" (flow control off, applied to the device) and RESUME
    into a flow control query, answering both with SET-CONTROL; the codec
    reports what the client asked and leaves the choice to the engine.
    """


@dataclass(frozen=True)
class FlowResume(Event):
    """FLOWCONTROL-RESUME: the client may receive data again."""


@dataclass(frozen=True)
class ModemStateMaskChanged(Event):
    """The client's modemstate mask changed (by request or by WILL COM-PORT).

    The notification ser2net sends at this moment has already been queued
    from the codec's cached modemstate; the event tells the engine the client
    now cares about these lines (e.g. to start polling them).
    """

    mask: int


@dataclass(frozen=True)
class LineStateMaskChanged(Event):
    """The client's linestate mask changed; the notification is already queued."""

    mask: int


@dataclass(frozen=True)
class ProtocolWarning(Event):
    """Malformed input was tolerated; meant for logging, not for closing."""

    message: str


# --------------------------------------------------------------------------
# Option negotiation state


class _Option:
    """Negotiation memory for one option, both directions.

    ``local_*`` is about this side doing the option (peer sends DO/DONT,
    this side answers WILL/WONT), ``remote_*`` about the peer doing it (peer
    sends WILL/WONT, this side answers DO/DONT).  ``*_said`` records that
    this side has already spoken about that direction, ``*_enabled`` that
    the option is on, ``*_wanted`` whether this side accepts it.
    ``watched`` options are also reported to the side's policy
    (:meth:`TelnetParser._watched`) before they are answered.
    """

    __slots__ = (
        "local_wanted",
        "local_said",
        "local_enabled",
        "remote_wanted",
        "remote_said",
        "remote_enabled",
        "watched",
    )

    def __init__(
        self,
        local_wanted: bool,
        local_said: bool,
        remote_wanted: bool,
        remote_said: bool,
        watched: bool = False,
    ) -> None:
        self.local_wanted = local_wanted
        self.local_said = local_said
        self.local_enabled = False
        self.remote_wanted = remote_wanted
        self.remote_said = remote_said
        self.remote_enabled = False
        self.watched = watched


# (local_wanted, local_said, remote_wanted, remote_said) right after start().
# "said" mirrors the initial burst, except where ser2net's table differs from
# what it actually sends (SGA's DO in rfc2217 mode), which is kept so the
# answers stay byte-identical.
def _initial_options(rfc2217: bool) -> Dict[int, _Option]:
    return {
        TelnetOption.SUPPRESS_GO_AHEAD: _Option(True, True, True, not rfc2217),
        TelnetOption.ECHO: _Option(True, True, False, True),
        TelnetOption.BINARY: _Option(True, True, True, True),
        TelnetOption.COM_PORT_OPTION: _Option(False, False, rfc2217, rfc2217, watched=True),
    }


def initial_negotiation(rfc2217: bool) -> bytes:
    """The bytes ser2net 4.3 sends right after accepting a telnet connection."""
    seq = bytes(
        [
            _IAC, _WILL, TelnetOption.SUPPRESS_GO_AHEAD,
            _IAC, _DO, TelnetOption.SUPPRESS_GO_AHEAD,
            _IAC, _WILL, TelnetOption.ECHO,
            _IAC, _DONT, TelnetOption.ECHO,
            _IAC, _DO, TelnetOption.BINARY,
            _IAC, _WILL, TelnetOption.BINARY,
        ]
    )  # fmt: skip
    if rfc2217:
        seq += bytes([_IAC, _DO, TelnetOption.COM_PORT_OPTION])
    return seq


def modemstate_with_deltas(previous: int, current: int) -> int:
    """Combine two line samples into an RFC 2217 modemstate byte.

    The engine samples CTS/DSR/RI/CD (high nibble); this adds the "changed"
    bits the notification rule depends on, the way ser2net's serial layer
    does (a plain XOR, so RI reports both edges).
    """
    current &= 0xF0
    return current | (((previous & 0xF0) ^ current) >> 4)


def _com_port_sb(code: int, payload: bytes) -> bytes:
    return (
        bytes((_IAC, _SB, _COM_PORT, code)) + payload.replace(_IAC_B, _IAC_IAC) + bytes((_IAC, _SE))
    )


# Parser states.
_S_DATA = 0
_S_IAC = 1
_S_OPT = 2  # after IAC WILL/WONT/DO/DONT, waiting for the option byte
_S_SB_OPT = 3  # after IAC SB, waiting for the option byte
_S_SB = 4  # inside a subnegotiation payload
_S_SB_IAC = 5  # IAC seen inside a subnegotiation payload

_ONE_BYTE_COMMANDS = frozenset(range(241, 250))  # NOP .. GA; SE handled apart

#: The most bytes one command from the peer makes the codec queue (a
#: signature answer with every byte doubled); see ``limit`` in
#: :meth:`TelnetParser.receive_data`.
MAX_ANSWER = 6 + 2 * _MAX_SIGNATURE

#: The most requests a ComPortRun holds: their answers (14 bytes at most
#: each) stay within MAX_ANSWER, so a run counts as one command.
MAX_RUN = 16
_COM_PORT_RUN = re.compile(
    rb"(?:\xff\xfa\x2c(?:\x01[^\xff]{4}|[\x02-\x04][^\xff]|\x05[\x00-\x03\x0d-\x10])\xff\xf0)"
    rb"{2,%d}" % MAX_RUN
)
_RUN_SEPARATOR = b"\xff\xf0\xff\xfa\x2c"


def run_requests(items: Tuple[bytes, ...]) -> List[Tuple[ComPortCommand, int]]:
    """The (command, value) of each request of a :class:`ComPortRun`."""
    return [
        (ComPortCommand(item[0]), int.from_bytes(item[1:], "big") if item[0] == 1 else item[1])
        for item in items
    ]


def com_port_answer(command: ComPortCommand, value: int) -> bytes:
    """The answer :meth:`TelnetServerCodec.reply` queues for a request of a
    :class:`ComPortRun` (four-byte speeds, as the run asked)."""
    width = 4 if command == ComPortCommand.SET_BAUDRATE else 1
    return _com_port_sb(command + SERVER_OFFSET, value.to_bytes(width, "big"))


_IAC_SE = bytes((_IAC, _SE))
_IAC_RUN = re.compile(rb"\xff+")


def _iac_run_end(data: bytes, pos: int) -> int:
    """Where the run of IAC bytes that starts at ``pos`` ends."""
    run = _IAC_RUN.match(data, pos)
    return run.end() if run is not None else pos


def _significant_search(brk_on_sync: bool, warnings_capped: bool) -> re.Pattern[bytes]:
    # An IAC (undoubled, see _parse) not followed by a command that is
    # simply dropped: NOP, IP, AO, AYT, EC, EL, GA, DM unless it means a
    # break, and malformed ones once they no longer produce warnings.
    dropped = rb"\xf1\xf4-\xf9" + (b"" if brk_on_sync else rb"\xf2")
    if warnings_capped:
        dropped += rb"\x00-\xf0"
    return re.compile(rb"\xff(?![" + dropped + rb"])")


#: [brk_on_sync][warnings capped] -> search for the next command with an effect.
_SIGNIFICANT = [[_significant_search(b, w) for w in (False, True)] for b in (False, True)]
#: IAC then a byte that makes it a malformed command (counted as warnings).
_MALFORMED_COMMAND = re.compile(rb"\xff[\x00-\xf0]")
#: After _unescape's first step: an undoubled IAC and the byte it takes along.
_IAC_AND_NEXT = re.compile(rb"\xff(?:\xfe.|[^\xfe])", re.DOTALL)


def _unescape(chunk: bytes, undoubled: bool) -> bytes:
    """The payload in ``chunk``: doubled IACs become one 255, and an undoubled
    IAC is dropped together with the byte after it.

    The caller knows whether ``chunk`` holds undoubled IACs (``undoubled``);
    without them a single replace does it.  With them, 0xFE is escaped as
    ``FE 01`` and each doubled IAC written ``FE 02`` so that every IAC
    left is an undoubled one, which a regular expression with a literal
    replacement removes along with its byte, all in C; then the escapes are
    undone.  Pairs are taken left to right by ``replace``, as the protocol
    takes them.
    """
    if not undoubled:
        return chunk.replace(_IAC_IAC, _IAC_B)
    escaped = chunk.replace(b"\xfe", b"\xfe\x01").replace(_IAC_IAC, b"\xfe\x02")
    escaped = _IAC_AND_NEXT.sub(b"", escaped)
    return escaped.replace(b"\xfe\x02", _IAC_B).replace(b"\xfe\x01", b"\xfe")


class TelnetParser:
    """One side of a telnet connection: the parser and option negotiation.

    The byte-level work is the same for a server and a client: payload and
    IAC escaping, negotiation storms, bounded subnegotiations, warnings and
    the ``limit`` on one call.  A side differs only in its policy: the
    options it wants (the ``options`` table), what a negotiation or a
    subnegotiation means to it (:meth:`_negotiate`,
    :meth:`_on_subnegotiation`) and what it queues for the peer.  So both
    sides survive hostile input the same way, from one parser.
    """

    def __init__(self, options: Dict[int, _Option], *, brk_on_sync: bool = False) -> None:
        self._brk_on_sync = brk_on_sync
        self._options = options
        self._out: List[bytes] = []
        self._state = _S_DATA
        # Input a limited receive_data() left for later: the data, its mask
        # (see _parse) and where to go on, so that going on costs no copy.
        self._held: Optional[Tuple[bytes, bytes, int]] = None
        self._verb = 0
        self._sb_option = 0
        self._sb_buf = bytearray()
        self._sb_overflow = False
        self._warnings = 0
        #: Whether runs of settings requests are parsed as ComPortRun.
        self._runs = False

    # ---------------------------------------------------------------- state

    @property
    def protocol_warnings(self) -> int:
        """How many malformed constructs were seen, including unreported ones."""
        return self._warnings

    def local_enabled(self, option: int) -> bool:
        """Whether the peer accepted this side doing ``option`` (it sent DO)."""
        opt = self._options.get(option)
        return bool(opt and opt.local_enabled)

    def remote_enabled(self, option: int) -> bool:
        """Whether the peer does ``option`` (it sent WILL and this side agreed)."""
        opt = self._options.get(option)
        return bool(opt and opt.remote_enabled)

    # ------------------------------------------------------------- outbound

    def data_to_send(self) -> bytes:
        """Drain the protocol bytes queued for the peer.

        Send them before any device data encoded afterwards, like ser2net,
        which always flushes pending telnet commands first.
        """
        if not self._out:
            return b""
        out = b"".join(self._out)
        self._out.clear()
        return out

    def encode(self, data: bytes) -> bytes:
        """Escape device bytes for the network: only IAC is doubled."""
        if _IAC_B in data:
            return bytes(data).replace(_IAC_B, _IAC_IAC)
        return bytes(data)

    # -------------------------------------------------------------- inbound

    @property
    def input_pending(self) -> bool:
        """True when a limited :meth:`receive_data` call left input unparsed."""
        return self._held is not None

    def receive_data(self, data: bytes = b"", *, limit: Optional[int] = None) -> List[Event]:
        """Parse bytes from the network; return the events in order.

        Payload is delivered as :class:`Data`, one event per run of payload
        not interrupted by another event.  Never raises on bad input.

        ``limit`` bounds the work of one call: at most that many telnet
        commands with an effect (option negotiations, subnegotiations,
        BRK, malformed commands; a :class:`ComPortRun` is one) are
        handled; commands without one (NOP, GA, ...) and payload cost
        nothing against it.  Each handled command
        queues at most :data:`MAX_ANSWER` bytes for the peer, so one call
        queues at most ``limit * MAX_ANSWER`` bytes, whatever a client
        sends.  Input after the last handled command is kept, and
        :attr:`input_pending` is true, until a later call, usually
        ``receive_data(limit=...)`` once the answers have drained; data
        passed to that call is parsed after the kept input.  Without a
        limit everything is parsed, as gensio does it per read.
        """
        budget = -1 if limit is None else max(limit, 1)
        if self._held is not None:
            held, mask, start = self._held
            self._held = None
            if not data:  # go on where the last call stopped
                return self._parse(held, budget, start, mask)
            data = held[start:] + bytes(data)
        elif not data:
            return []
        elif type(data) is not bytes:
            data = bytes(data)
        payload = b""
        if self._state == _S_IAC and data[0] == _IAC:
            # The second half of a doubled IAC that the last read cut in two.
            payload = _IAC_B
            self._state = _S_DATA
            data = data[1:]
        if self._state == _S_DATA:
            if _IAC not in data:
                return [Data(payload + data)] if payload or data else []
            # Payload full of 0xFF, all of it doubled (pairs taken left to right,
            # as the parser takes them), or all but a final IAC that the read cut
            # off its command: one replace and a count, no parsing.
            unescaped = data.replace(_IAC_IAC, _IAC_B)
            lone = data.count(_IAC) - 2 * (len(data) - len(unescaped))
            if not lone:
                return [Data(payload + unescaped)]
            if lone == 1 and data[-1] == _IAC and (len(data) - len(data.rstrip(_IAC_B))) & 1:
                self._state = _S_IAC
                unescaped = payload + unescaped[:-1]
                return [Data(unescaped)] if unescaped else []
        events = self._parse(data, budget)
        if payload:
            if events and isinstance(events[0], Data):
                events[0] = Data(payload + events[0].data)
            else:
                events.insert(0, Data(payload))
        return events

    def _parse(
        self, data: bytes, budget: int, pos: int = 0, mask: Optional[bytes] = None
    ) -> List[Event]:
        """The parser proper; ``budget`` counts handled commands down (-1: no limit).

        Parsing starts at ``pos``; a call that runs out of budget keeps
        ``data``, ``mask`` and where it stopped, and the next goes on from
        there, exactly as if it had not stopped: a backlog is worked off
        in pieces without copying what is left each time.

        No loop runs per byte.  ``mask`` is ``data`` with every doubled IAC
        (paired left to right, as the protocol pairs them) blanked, so the
        IACs left in it are exactly those that start a command: payload
        runs between commands, and whole subnegotiation bodies, are found
        and unescaped with a few C-level searches and replaces each.  The
        pairing of ``mask`` is the parser's as long as the parser starts a
        run of IACs where ``mask`` does; it only differs for a run right
        after a consumed IAC byte (an option byte 255, say), which is
        measured on its own.
        """
        events: List[Event] = []
        pending: List[bytes] = []
        if mask is None:
            mask = data.replace(_IAC_IAC, b"\x00\x00") if _IAC in data else data
        end = len(data)
        next_storm_probe = 0
        while pos < end:
            state = self._state
            if state == _S_DATA:
                if pos and data[pos] == _IAC and data[pos - 1] == _IAC:
                    # A run of IACs after a consumed 255: pair it from here.
                    run_end = _iac_run_end(data, pos)
                    if run_end - pos >= 2:
                        pending.append(_IAC_B * ((run_end - pos) // 2))
                    if (run_end - pos) & 1:
                        self._state = _S_IAC
                    pos = run_end
                    continue
                if mask[pos] == _IAC and pos + 1 < end and data[pos + 1] >= _SB:
                    cmd = pos  # a command right here, e.g. in a negotiation storm
                    if self._runs and data[pos + 1] == _SB:
                        run = _COM_PORT_RUN.match(data, pos)
                        if run is not None:
                            self._flush(pending, events)
                            pos = run.end()
                            items = data[cmd + 3 : pos - 2].split(_RUN_SEPARATOR)
                            events.append(ComPortRun(tuple(items)))
                            budget -= 1
                            if not budget:
                                if pos < end:
                                    self._held = (data, mask, pos)
                                break
                            continue
                    if pos >= next_storm_probe and data[pos + 1] >= _WILL:
                        after, budget = self._storm(data, pos, budget, pending, events)
                        if after == pos:
                            next_storm_probe = pos + 48  # not one: look again later
                        elif not budget:
                            if after < end:
                                self._held = (data, mask, after)
                            break
                        else:
                            pos = after
                            continue
                else:
                    found = self._significant().search(mask, pos)
                    cmd = end if found is None else found.start()
                    if cmd > pos:
                        self._payload(data, mask, pos, cmd, pending)
                    if cmd == end:
                        break
                pos = cmd + 1
                self._state = _S_IAC
            elif state == _S_IAC:
                b = data[pos]
                pos += 1
                self._state = _S_DATA
                if b == _IAC:
                    pending.append(_IAC_B)
                    continue
                if b >= _WILL:
                    if pos == end:
                        self._verb = b
                        self._state = _S_OPT
                        break
                    event = self._negotiate(b, data[pos])
                    pos += 1
                elif b == _SB:
                    self._state = _S_SB_OPT
                    if pos < end:
                        self._sb_option = data[pos]
                        pos += 1
                        self._sb_buf.clear()
                        self._sb_overflow = False
                        self._state = _S_SB
                    continue
                else:
                    event = self._one_byte_command(b)
                if event is not None:
                    self._flush(pending, events)
                    events.append(event)
                budget -= 1
                if not budget:
                    if pos < end:
                        self._held = (data, mask, pos)
                    break
            elif state == _S_OPT:
                self._state = _S_DATA
                event = self._negotiate(self._verb, data[pos])
                pos += 1
                if event is not None:
                    self._flush(pending, events)
                    events.append(event)
                budget -= 1
                if not budget:
                    if pos < end:
                        self._held = (data, mask, pos)
                    break
            elif state == _S_SB_OPT:
                self._sb_option = data[pos]
                pos += 1
                self._sb_buf.clear()
                self._sb_overflow = False
                self._state = _S_SB
            elif state == _S_SB:
                if pos and data[pos] == _IAC and data[pos - 1] == _IAC:
                    run_end = _iac_run_end(data, pos)
                    self._sb_append(_IAC_B * ((run_end - pos) // 2))
                    if (run_end - pos) & 1:
                        self._state = _S_SB_IAC
                    pos = run_end
                    continue
                se = mask.find(_IAC_SE, pos)
                stop = end if se < 0 else se
                if se < 0 and mask[end - 1] == _IAC:
                    stop = end - 1  # IAC as the last byte: wait for the next one
                if stop > pos:
                    if data.find(_IAC_B, pos, stop) < 0:
                        self._sb_append(data[pos:stop])
                    else:
                        self._sb_body(data, mask, pos, stop, pending, events)
                if se < 0:
                    if stop < end:
                        self._state = _S_SB_IAC
                    break
                pos = se + 2
                self._sb_end(pending, events)
                budget -= 1
                if not budget:
                    if pos < end:
                        self._held = (data, mask, pos)
                    break
            else:  # _S_SB_IAC
                b = data[pos]
                pos += 1
                self._state = _S_SB
                if b == _SE:
                    self._sb_end(pending, events)
                    budget -= 1
                    if not budget:
                        if pos < end:
                            self._held = (data, mask, pos)
                        break
                elif b == _IAC:
                    self._sb_append(_IAC_B)
                else:
                    event = self._warning(
                        "IAC %d inside subnegotiation of option %d ignored", b, self._sb_option
                    )
                    if event is not None:
                        self._flush(pending, events)
                        events.append(event)
        self._flush(pending, events)
        return events

    def _storm(
        self, data: bytes, pos: int, budget: int, pending: List[bytes], events: List[Event]
    ) -> Tuple[int, int]:
        """Go through a repeated run of negotiations at ``pos`` in one step.

        A storm (``DO x, DONT x, DO x, ...``, or one command over and over)
        is a unit of one to four negotiations repeated.  The first units
        are handled one command at a time until the option states repeat:
        if the third unit leaves every state as it found it and produces
        no event, every further repetition gives exactly its answers, so
        they are queued in one piece.  Returns the position after what was
        handled (``pos`` itself when this is no storm) and the budget left.
        """
        for count in (1, 2, 3, 4):
            size = 3 * count
            unit = data[pos : pos + size]
            if (
                len(unit) < size
                or unit[0::3] != _IAC_B * count
                or min(unit[1::3]) < _WILL
                or max(unit[1::3]) > _DONT  # IAC IAC: a payload 255, not a verb
            ):
                return pos, budget
            if data.startswith(unit, pos + size):
                break
        else:
            return pos, budget
        reps, step = 2, 1
        while step:
            if data.startswith(unit * step, pos + size * reps):
                reps += step
                step *= 2
            else:
                step //= 2
        if reps < 4:
            return pos, budget
        mark: Tuple[int, int, Tuple[object, ...]] = (0, 0, ())
        for _ in range(3):
            mark = (len(self._out), len(events), self._negotiation_state())
            for at in range(pos, pos + size, 3):
                event = self._negotiate(data[at + 1], data[at + 2])
                if event is not None:
                    self._flush(pending, events)
                    events.append(event)
                budget -= 1
                if not budget:
                    return at + 3, budget
            pos += size
            reps -= 1
        if len(events) != mark[1] or self._negotiation_state() != mark[2]:
            return pos, budget
        answers = b"".join(self._out[mark[0] :])
        if budget < 0 or not answers:
            more = reps
        else:
            # The budget bounds the answers queued (MAX_ANSWER bytes a
            # command), not the repetitions: a storm of short answers
            # goes on in pieces of some thousand commands.
            more = min(reps, budget * MAX_ANSWER // len(answers))
        if more:
            self._out.append(answers * more)
            pos += size * more
            if budget > 0:
                budget = max(0, budget - -(-len(answers) * more // MAX_ANSWER))
        return pos, budget

    def _negotiation_state(self) -> Tuple[object, ...]:
        return (
            self._negotiation_extra(),
            *(
                (o.local_said, o.local_enabled, o.remote_said, o.remote_enabled)
                for o in self._options.values()
            ),
        )

    def _negotiation_extra(self) -> object:
        """Subclass state a negotiation may change (the storm check compares it)."""
        return None

    def _significant(self) -> re.Pattern[bytes]:
        """The search for the next IAC that starts a command with an effect."""
        return _SIGNIFICANT[self._brk_on_sync][self._warnings >= MAX_WARNINGS]

    def _payload(
        self, data: bytes, mask: bytes, start: int, stop: int, pending: List[bytes]
    ) -> None:
        """Queue the payload of ``data[start:stop]``, which holds no command with an effect."""
        chunk = data[start:stop]
        if _IAC in chunk:
            lone = mask.find(_IAC_B, start, stop) >= 0
            if lone and self._warnings >= MAX_WARNINGS:
                self._warnings += len(_MALFORMED_COMMAND.findall(mask, start, stop))
            chunk = _unescape(chunk, lone)
            if not chunk:
                return
        pending.append(chunk)

    def _sb_body(
        self,
        data: bytes,
        mask: bytes,
        start: int,
        stop: int,
        pending: List[bytes],
        events: List[Event],
    ) -> None:
        """Take in ``data[start:stop]``, part of a subnegotiation without its IAC SE."""
        lone = mask.count(_IAC_B, start, stop)  # each an "IAC x" to drop, with a warning
        if lone:
            report = min(lone, max(MAX_WARNINGS - self._warnings, 0))
            at = start
            for _ in range(report):
                at = mask.find(_IAC_B, at, stop)
                event = self._warning(
                    "IAC %d inside subnegotiation of option %d ignored",
                    data[at + 1],
                    self._sb_option,
                )
                at += 2
                if event is not None:
                    self._flush(pending, events)
                    events.append(event)
            self._warnings += lone - report
        if len(self._sb_buf) < MAX_SB_PAYLOAD:
            self._sb_append(_unescape(data[start:stop], bool(lone)))
        elif not self._sb_overflow:
            doubled = (data.count(_IAC_B, start, stop) - lone) // 2
            if stop - start - doubled - 2 * lone > 0:
                self._sb_overflow = True

    def _sb_end(self, pending: List[bytes], events: List[Event]) -> None:
        """IAC SE: the subnegotiation is complete."""
        self._state = _S_DATA
        new = self._subnegotiation()
        if new:
            self._flush(pending, events)
            events.extend(new)

    @staticmethod
    def _flush(pending: List[bytes], events: List[Event]) -> None:
        if pending:
            events.append(Data(b"".join(pending)))
            pending.clear()

    def _sb_append(self, chunk: bytes) -> None:
        room = MAX_SB_PAYLOAD - len(self._sb_buf)
        if len(chunk) > room:
            chunk = chunk[:room]
            self._sb_overflow = True
        if chunk:
            self._sb_buf += chunk

    def _one_byte_command(self, b: int) -> Optional[Event]:
        if b == _BRK:
            return Break()
        if b == _DM:
            return Break() if self._brk_on_sync else None
        if b in _ONE_BYTE_COMMANDS:
            return None
        if b == _SE:
            return self._warning("stray IAC SE ignored")
        return self._warning("IAC followed by non-command byte %d ignored", b)

    def _warning(self, message: str, *args: object) -> Optional[Event]:
        """Count a malformed construct; an event for the first MAX_WARNINGS only.

        ``message`` is %-formatted with ``args`` only when it is reported,
        so a flood of garbage costs no formatting.
        """
        self._warnings += 1
        if self._warnings > MAX_WARNINGS:
            return None
        text = message % args if args else message
        return ProtocolWarning(text)

    def _send_option(self, verb: int, option: int) -> None:
        self._out.append(bytes((_IAC, verb, option)))

    def _negotiate(self, verb: int, option: int) -> Optional[Event]:
        """Answer by the option table, only when the state changes."""
        opt = self._options.get(option)
        if opt is None:
            # Unknown option: refuse requests, ignore refusals.
            if verb == _WILL:
                self._send_option(_DONT, option)
            elif verb == _DO:
                self._send_option(_WONT, option)
            return None
        event = self._watched(verb, option, opt) if opt.watched else None
        if verb == _WILL:
            if not opt.remote_wanted:
                self._send_option(_DONT, option)
            elif not opt.remote_said:
                self._send_option(_DO, option)
            opt.remote_said = True
            opt.remote_enabled = opt.remote_wanted
        elif verb == _WONT:
            if opt.remote_enabled or not opt.remote_said:
                self._send_option(_DONT, option)
            opt.remote_said = True
            opt.remote_enabled = False
        elif verb == _DO:
            if not opt.local_wanted:
                self._send_option(_WONT, option)
            elif not opt.local_said:
                self._send_option(_WILL, option)
            opt.local_said = True
            opt.local_enabled = opt.local_wanted
        else:  # DONT
            if opt.local_enabled or not opt.local_said:
                self._send_option(_WONT, option)
            opt.local_said = True
            opt.local_enabled = False
        return event

    def _watched(self, verb: int, option: int, opt: _Option) -> Optional[Event]:
        """A negotiation of a watched option, before it is answered (``opt``
        still holds the state it changes): what it means to this side."""
        return None

    def _subnegotiation(self) -> List[Event]:
        events: List[Event] = []
        payload = bytes(self._sb_buf)
        self._sb_buf.clear()
        option = self._sb_option
        if self._sb_overflow:
            self._sb_overflow = False
            w = self._warning(
                f"subnegotiation of option {option} longer than {MAX_SB_PAYLOAD} bytes truncated"
            )
            if w is not None:
                events.append(w)
        events.extend(self._on_subnegotiation(option, payload))
        return events

    def _on_subnegotiation(self, option: int, payload: bytes) -> List[Event]:
        """A complete subnegotiation (payload unescaped, at most MAX_SB_PAYLOAD bytes)."""
        return []

    @staticmethod
    def _as_list(event: Optional[Event]) -> List[Event]:
        return [] if event is None else [event]


class TelnetServerCodec(TelnetParser):
    """Server side of a telnet / RFC 2217 connection, bytes in, events out.

    One instance per accepted connection.  ``rfc2217`` mirrors the
    ``telnet(rfc2217)`` accepter option, ``signature`` is the text answered
    to SIGNATURE requests and ``brk_on_sync`` makes ``IAC DM`` a break.
    ``com_port_runs`` parses settings requests in a row as one
    :class:`ComPortRun` (for a daemon; requests come one by one without it).
    ``modemstate`` / ``linestate`` seed the cached device state (what the
    port last reported) so that mask changes on a fresh connection report
    the right value; keep them current with :meth:`notify_modemstate` and
    :meth:`notify_linestate`.
    """

    def __init__(
        self,
        *,
        rfc2217: bool = False,
        signature: str = "ser2net",
        brk_on_sync: bool = False,
        modemstate: int = 0,
        linestate: int = 0,
        com_port_runs: bool = False,
    ) -> None:
        super().__init__(_initial_options(rfc2217), brk_on_sync=brk_on_sync)
        self._rfc2217 = rfc2217
        self._runs = rfc2217 and com_port_runs
        self._signature_answer = _com_port_sb(
            ComPortCommand.SIGNATURE.server_code, signature.encode("utf-8")[:_MAX_SIGNATURE]
        )
        self._modemstate = modemstate & 0xFF
        self._linestate = linestate & 0xFF
        self._modemstate_mask = 0
        self._linestate_mask = 0
        self._modemstate_reported = False
        self._cisco_baud = False
        self._flow_suspended = False
        # PURGE-DATA requests the codec answered whose engine reply is still
        # to be swallowed.
        self._purges_answered = 0

    # ---------------------------------------------------------------- state

    @property
    def rfc2217_active(self) -> bool:
        """True while the client has COM-PORT-OPTION enabled (said WILL)."""
        return self._options[TelnetOption.COM_PORT_OPTION].remote_enabled

    @property
    def flow_suspended(self) -> bool:
        """True between FLOWCONTROL-SUSPEND and FLOWCONTROL-RESUME."""
        return self._flow_suspended

    @property
    def modemstate(self) -> int:
        """The device modemstate last given to :meth:`notify_modemstate`
        (what a mask change reports), with its delta bits."""
        return self._modemstate

    @property
    def modemstate_mask(self) -> int:
        return self._modemstate_mask

    @property
    def linestate_mask(self) -> int:
        return self._linestate_mask

    @property
    def cisco_baud(self) -> bool:
        """True once the client used the Cisco one-byte SET-BAUDRATE form."""
        return self._cisco_baud

    # ------------------------------------------------------------- outbound

    def start(self) -> bytes:
        """Negotiation bytes to send as soon as the connection is accepted."""
        return initial_negotiation(self._rfc2217)

    def reply(self, command: ComPortCommand, value: int) -> None:
        """Queue the answer to a :class:`ComPortRequest` after applying it.

        ``value`` is what the device now uses (bits per second for
        SET-BAUDRATE, the RFC 2217 byte otherwise).  Also fine for answering
        a request made on another connection of the same port, which is what
        ser2net does when a setting changes.  A no-op without rfc2217.
        """
        if not self._rfc2217:
            return
        code = int(command)
        if code < SERVER_OFFSET:
            code += SERVER_OFFSET
        if code == _PURGE_ANSWER and self._purges_answered:
            self._purges_answered -= 1
            return
        if code == _BAUD_ANSWER:
            if self._cisco_baud:
                payload = bytes((_BAUD_TO_CISCO.get(value, 0),))
            else:
                if not 0 <= value <= 0xFFFFFFFF:
                    raise ValueError(f"baud rate out of range: {value!r}")
                payload = value.to_bytes(4, "big")
        else:
            if not 0 <= value <= 0xFF:
                raise ValueError(f"RFC 2217 value out of range for {command!r}: {value!r}")
            payload = bytes((value,))
        self._out.append(_com_port_sb(code, payload))

    def reply_encoded(self, answers: bytes) -> None:
        """Queue the answers to a :class:`ComPortRun` (``com_port_answer``)."""
        if answers:
            self._out.append(answers)

    def notify_modemstate(self, state: int, *, force: bool = False) -> None:
        """Report a device modemstate byte (lines in the high nibble, deltas low).

        The value is cached for later mask changes.  Following ser2net it is
        sent, masked, only if a delta bit selected by the client's mask is
        set; ``force`` sends it regardless (still masked).
        """
        self._modemstate = state & 0xFF
        if not self._rfc2217:
            return
        masked = self._modemstate & self._modemstate_mask
        if force or masked & 0x0F:
            self._send_com_port(ComPortCommand.NOTIFY_MODEMSTATE, masked)

    def notify_linestate(self, state: int, *, force: bool = False) -> None:
        """Report a device linestate byte; sent when any masked bit is set."""
        self._linestate = state & 0xFF
        if not self._rfc2217:
            return
        masked = self._linestate & self._linestate_mask
        if force or masked:
            self._send_com_port(ComPortCommand.NOTIFY_LINESTATE, masked)

    def _send_com_port(self, command: ComPortCommand, value: int) -> None:
        self._out.append(_com_port_sb(command.server_code, bytes((value,))))

    # -------------------------------------------------------------- inbound

    def _watched(self, verb: int, option: int, opt: _Option) -> Optional[Event]:
        if verb == _WILL and opt.remote_wanted:  # COM-PORT-OPTION, the only one watched
            return self._com_port_enabled()
        return None

    def _negotiation_extra(self) -> object:
        return self._modemstate_reported

    def _com_port_enabled(self) -> Optional[Event]:
        # ser2net reports the modemstate once per connection, on the first
        # WILL, by setting the mask to "everything".
        if self._modemstate_reported:
            return None
        self._modemstate_reported = True
        return self._set_modemstate_mask(0xFF)

    def _set_modemstate_mask(self, mask: int) -> Event:
        self._modemstate_mask = mask
        self._send_com_port(ComPortCommand.NOTIFY_MODEMSTATE, self._modemstate & mask)
        return ModemStateMaskChanged(mask)

    def _on_subnegotiation(self, option: int, payload: bytes) -> List[Event]:
        if option != _COM_PORT:
            return super()._on_subnegotiation(option, payload)
        if not self._rfc2217:
            return self._as_list(
                self._warning("COM-PORT-OPTION subnegotiation ignored: rfc2217 not enabled")
            )
        return self._com_port_command(payload)

    def _com_port_command(self, payload: bytes) -> List[Event]:
        if not payload:
            return self._as_list(self._warning("empty COM-PORT-OPTION subnegotiation ignored"))
        code = payload[0]
        value = payload[1:]
        if code == ComPortCommand.SIGNATURE:
            self._out.append(self._signature_answer)
            return [SignatureReceived(value.decode("utf-8", "replace"))]
        if code in (ComPortCommand.FLOWCONTROL_SUSPEND, ComPortCommand.FLOWCONTROL_RESUME):
            self._flow_suspended = code == ComPortCommand.FLOWCONTROL_SUSPEND
            return [FlowSuspend() if self._flow_suspended else FlowResume()]
        if code in (ComPortCommand.NOTIFY_LINESTATE, ComPortCommand.NOTIFY_MODEMSTATE):
            # Only meaningful from a server; ser2net ignores them silently.
            return []
        if code >= 13:
            return self._as_list(self._warning("unknown COM-PORT-OPTION command %d ignored", code))
        if not value:
            return self._as_list(
                self._warning("COM-PORT-OPTION command %d without value ignored", code)
            )
        if code == ComPortCommand.SET_BAUDRATE:
            if len(value) < 4:
                self._cisco_baud = True
                self._runs = False  # answers in the Cisco form: one at a time
                baud = CISCO_BAUD_RATES.get(value[0], 0)
            else:
                baud = int.from_bytes(value[:4], "big")
            return [ComPortRequest(ComPortCommand.SET_BAUDRATE, baud)]
        if code == ComPortCommand.SET_LINESTATE_MASK:
            self._linestate_mask = value[0]
            self._send_com_port(ComPortCommand.SET_LINESTATE_MASK, value[0])
            self._send_com_port(ComPortCommand.NOTIFY_LINESTATE, self._linestate & value[0])
            return [LineStateMaskChanged(value[0])]
        if code == ComPortCommand.SET_MODEMSTATE_MASK:
            self._send_com_port(ComPortCommand.SET_MODEMSTATE_MASK, value[0])
            return [self._set_modemstate_mask(value[0])]
        if code == ComPortCommand.SET_CONTROL and value[0] > ControlValue.FLOW_DSR:
            return self._as_list(self._warning("unknown SET-CONTROL value %d ignored", value[0]))
        if code == ComPortCommand.PURGE_DATA:
            self._send_com_port(ComPortCommand.PURGE_DATA, value[0])
            self._purges_answered += 1
        return [ComPortRequest(ComPortCommand(code), value[0])]
