"""The client side of telnet and RFC 2217, as a filter: bytes in, events out.

``pyser2net attach`` is an RFC 2217 *client*: it asks a server (ser2net,
pyser2net, a terminal server) to set the baud rate, the frame, flow control
and the modem lines of a remote port, while payload passes both ways.  The
parser and the option table are the server's (``telnet.TelnetParser``), so
hostile input costs the client what it costs the server; only the policy
differs:

* The client opens with ``WILL COM-PORT-OPTION`` only, as gensio's client
  does, and answers the server's offers by the table: it accepts BINARY and
  SGA in both directions, refuses ECHO (the device, not the server, would
  echo) and never does COM-PORT-OPTION as a server.  Answers follow the
  same "never answer an answer" rule as the server's, so no offer loops.

* RFC 2217 requests made before the server said ``DO COM-PORT-OPTION`` are
  kept, one per setting (the latest wins; a purge is dropped, there is
  nothing to purge yet), and go out, in the order they were last made, the
  moment the server agrees.  ser2net offers the option in its first burst,
  so this costs at most the connection's first round trip.  A server that
  refuses (``DONT``) gets no requests at all: the connection carries bytes
  only, and ``ComPortRefused`` says so.

* Nothing waits for an answer.  A server may answer late, answer with
  another value (what it really set), or not answer at all (ser2net does
  not answer a DTR change on a port whose lines cannot be set); each
  answer is reported as ``ComPortAnswer`` with the value that was asked
  for, so the caller can log a difference, and the data path never stalls.
  Answers are matched to requests of the same setting in order, so two
  purges in a row (1, then 2) are not taken for one refused.

* Notifications from the server (modem and line state) are reported as
  events; FLOWCONTROL-SUSPEND / RESUME from the server ask the client to
  stop and resume sending and are reported as ``FlowSuspend`` and
  ``FlowResume``.  An empty SIGNATURE from the server asks for the client's
  signature, which is answered once per connection (answering every one
  would let a server make the client send more than it receives); a
  non-empty one is the server's.

* One-byte commands from the server (BRK, DM, NOP, AYT...) are dropped: a
  server has no break to send to its client.

The filter owns no descriptor, timer or clock (see ``filters``).
"""

from __future__ import annotations

import collections
from dataclasses import dataclass
from typing import Deque, Dict, List, Optional, Tuple

from pyser2net.protocol.events import Data, Event
from pyser2net.protocol.telnet import (
    CISCO_BAUD_RATES,
    SERVER_OFFSET,
    ComPortCommand,
    ControlValue,
    FlowResume,
    FlowSuspend,
    ProtocolWarning,
    TelnetOption,
    TelnetParser,
    _com_port_sb,
    _Option,
)

__all__ = [
    "ComPortAccepted",
    "ComPortAnswer",
    "ComPortRefused",
    "Data",
    "FlowResume",
    "FlowSuspend",
    "LineStateReport",
    "ModemStateReport",
    "ProtocolWarning",
    "ServerSignature",
    "TelnetClient",
    "control_group",
]

_IAC = 255
_WILL = 251
_WONT = 252
_DO = 253
_DONT = 254
_COM_PORT = int(TelnetOption.COM_PORT_OPTION)
_MAX_SIGNATURE = 254
#: Requests per setting remembered until answered (a server may never answer
#: some, as ser2net does not answer DTR on a pty).
_MAX_UNANSWERED = 8


@dataclass(frozen=True)
class ComPortAccepted(Event):
    """The server agreed to COM-PORT-OPTION: requests go out from now on."""


@dataclass(frozen=True)
class ComPortRefused(Event):
    """The server refused COM-PORT-OPTION: only payload can be exchanged."""


@dataclass(frozen=True)
class ComPortAnswer(Event):
    """The server's answer to a request: what it set (or reports as set).

    ``value`` is in bits per second for SET-BAUDRATE and the RFC 2217 byte
    otherwise; ``requested`` is the value last asked for on this setting
    (None when nothing was asked: an answer to another client, or to a
    query).
    """

    command: ComPortCommand
    value: int
    requested: Optional[int] = None

    @property
    def differs(self) -> bool:
        """The server set something other than what was asked for."""
        return (
            self.requested is not None
            and not _is_query(self.command, self.requested)
            and self.requested != self.value
        )


@dataclass(frozen=True)
class ModemStateReport(Event):
    """NOTIFY-MODEMSTATE: CD, RI, DSR, CTS in the high nibble, changes low."""

    state: int


@dataclass(frozen=True)
class LineStateReport(Event):
    """NOTIFY-LINESTATE: the server's line errors and buffer states."""

    state: int


@dataclass(frozen=True)
class ServerSignature(Event):
    """The server's SIGNATURE text."""

    text: str


def control_group(value: int) -> int:
    """The SET-CONTROL setting a value belongs to (its query value).

    Values come in groups (0-3 outbound flow control, 4-6 break, 7-9 DTR,
    10-12 RTS, 13-16 inbound flow control); 17-19 are each their own.
    """
    if value <= ControlValue.FLOW_HARDWARE:
        return ControlValue.FLOW_REQUEST
    if value <= ControlValue.BREAK_OFF:
        return ControlValue.BREAK_REQUEST
    if value <= ControlValue.DTR_OFF:
        return ControlValue.DTR_REQUEST
    if value <= ControlValue.RTS_OFF:
        return ControlValue.RTS_REQUEST
    if value <= ControlValue.INBOUND_FLOW_HARDWARE:
        return ControlValue.INBOUND_FLOW_REQUEST
    return value


def _is_query(command: ComPortCommand, value: int) -> bool:
    if command == ComPortCommand.SET_CONTROL:
        return value == control_group(value) and value <= ControlValue.INBOUND_FLOW_REQUEST
    return value == 0 and command != ComPortCommand.PURGE_DATA


def _key(command: ComPortCommand, value: int) -> Tuple[int, int]:
    """Which setting a request or answer is about (for "latest wins")."""
    if command == ComPortCommand.SET_CONTROL:
        return int(command), control_group(value)
    return int(command), 0


def _client_options(rfc2217: bool) -> Dict[int, _Option]:
    # (local_wanted, local_said, remote_wanted, remote_said): "said" is
    # true only for what start() sends.
    return {
        TelnetOption.BINARY: _Option(True, False, True, False),
        TelnetOption.SUPPRESS_GO_AHEAD: _Option(True, False, True, False),
        TelnetOption.ECHO: _Option(False, False, False, False),
        TelnetOption.COM_PORT_OPTION: _Option(rfc2217, rfc2217, False, False, watched=True),
    }


class TelnetClient(TelnetParser):
    """A telnet client connection, with RFC 2217 when ``rfc2217`` is true.

    A filter (``start``, ``receive``, ``send``, ``data_to_send``): payload
    from the server comes out of ``receive`` as ``Data``; payload for the
    server goes through ``send``, after any protocol bytes queued by
    ``request`` or by answers.
    """

    def __init__(self, *, rfc2217: bool = True, signature: str = "pyser2net") -> None:
        super().__init__(_client_options(rfc2217))
        self._rfc2217 = rfc2217
        self._signature = signature.encode("utf-8")[:_MAX_SIGNATURE]
        #: "asked" until the server answers WILL COM-PORT-OPTION, then "on"
        #: or "refused"; "off" without rfc2217.
        self._com_port = "asked" if rfc2217 else "off"
        self._queued: Dict[Tuple[int, int], Tuple[ComPortCommand, int]] = {}
        #: Values asked for and not answered yet, oldest first, per setting.
        self._asked: Dict[Tuple[int, int], Deque[int]] = {}
        self._flow_suspended = False
        self._signature_sent = False

    # ---------------------------------------------------------------- state

    @property
    def com_port(self) -> str:
        """ "asked", "on", "refused" or "off" (a plain telnet client)."""
        return self._com_port

    @property
    def flow_suspended(self) -> bool:
        """The server asked us to stop sending (FLOWCONTROL-SUSPEND)."""
        return self._flow_suspended

    @property
    def queued_requests(self) -> int:
        """Requests kept until the server agrees to COM-PORT-OPTION."""
        return len(self._queued)

    # ------------------------------------------------------------ as filter

    def start(self) -> bytes:
        """The opening: ``WILL COM-PORT-OPTION`` (nothing for plain telnet)."""
        return bytes((_IAC, _WILL, _COM_PORT)) if self._rfc2217 else b""

    def receive(self, data: bytes) -> List[Event]:
        return self.receive_data(data)

    def send(self, data: bytes) -> bytes:
        """Payload for the server, IAC doubled, after any queued protocol bytes."""
        pending = self.data_to_send()
        return pending + self.encode(data) if pending else self.encode(data)

    # ------------------------------------------------------------- requests

    def request(self, command: ComPortCommand, value: int) -> bool:
        """Ask the server for a setting; False when it cannot be asked.

        ``value`` is in bits per second for SET-BAUDRATE and the RFC 2217
        byte otherwise (0 asks for the current value).  Before the server
        agreed to COM-PORT-OPTION the request is kept (the latest one per
        setting); after a refusal, or on a plain telnet connection, it is
        dropped.
        """
        command = ComPortCommand(command)
        if command == ComPortCommand.SET_BAUDRATE:
            if not 0 <= value <= 0xFFFFFFFF:
                raise ValueError(f"baud rate out of range: {value!r}")
        elif not 0 <= value <= 0xFF:
            raise ValueError(f"RFC 2217 value out of range for {command.name}: {value!r}")
        key = _key(command, value)
        if self._com_port == "on":
            self._send_request(key, command, value)
            return True
        if self._com_port != "asked":
            return False
        if command == ComPortCommand.PURGE_DATA:
            return False  # nothing was sent yet that could be purged
        self._queued.pop(key, None)  # the latest request goes last
        self._queued[key] = (command, value)
        return True

    def request_signature(self) -> bool:
        """Ask for the server's signature (answered as ``ServerSignature``)."""
        if self._com_port != "on":
            return False
        self._out.append(_com_port_sb(ComPortCommand.SIGNATURE, b""))
        return True

    def _send_request(self, key: Tuple[int, int], command: ComPortCommand, value: int) -> None:
        if command == ComPortCommand.SET_BAUDRATE:
            payload = value.to_bytes(4, "big")
        else:
            payload = bytes((value,))
        self._asked.setdefault(key, collections.deque(maxlen=_MAX_UNANSWERED)).append(value)
        self._out.append(_com_port_sb(int(command), payload))

    # -------------------------------------------------------------- inbound

    def _watched(self, verb: int, option: int, opt: _Option) -> Optional[Event]:
        # COM-PORT-OPTION, this side doing it: the server's DO or DONT.
        if verb == _DO and opt.local_wanted and not opt.local_enabled:
            self._com_port = "on"
            queued, self._queued = self._queued, {}
            for key, (command, value) in queued.items():
                self._send_request(key, command, value)
            return ComPortAccepted()
        if verb == _DONT and self._com_port in ("asked", "on"):
            self._com_port = "refused"
            self._queued.clear()
            return ComPortRefused()
        return None

    def _negotiation_extra(self) -> object:
        return self._com_port

    def _one_byte_command(self, b: int) -> Optional[Event]:
        if 241 <= b <= 249:  # NOP .. GA, BRK and DM included: nothing for a client
            return None
        return super()._one_byte_command(b)

    def _on_subnegotiation(self, option: int, payload: bytes) -> List[Event]:
        if option != _COM_PORT:
            return super()._on_subnegotiation(option, payload)
        if self._com_port == "off":
            return self._as_list(
                self._warning("COM-PORT-OPTION subnegotiation ignored: rfc2217 not asked for")
            )
        if not payload:
            return self._as_list(self._warning("empty COM-PORT-OPTION subnegotiation ignored"))
        code, value = payload[0], payload[1:]
        if code == ComPortCommand.SIGNATURE.server_code:
            if value:
                return [ServerSignature(value.decode("utf-8", "replace"))]
            if not self._signature_sent:
                # Once: a server asking again and again would make us send
                # more than it sends.
                self._signature_sent = True
                self._out.append(_com_port_sb(ComPortCommand.SIGNATURE, self._signature))
            return []
        if code < SERVER_OFFSET or code > ComPortCommand.PURGE_DATA.server_code:
            return self._as_list(
                self._warning("COM-PORT-OPTION code %d is not a server's, ignored", code)
            )
        command = ComPortCommand(code - SERVER_OFFSET)
        if command == ComPortCommand.FLOWCONTROL_SUSPEND:
            self._flow_suspended = True
            return [FlowSuspend()]
        if command == ComPortCommand.FLOWCONTROL_RESUME:
            self._flow_suspended = False
            return [FlowResume()]
        if not value:
            return self._as_list(
                self._warning("COM-PORT-OPTION answer %d without value ignored", code)
            )
        if command == ComPortCommand.NOTIFY_MODEMSTATE:
            return [ModemStateReport(value[0])]
        if command == ComPortCommand.NOTIFY_LINESTATE:
            return [LineStateReport(value[0])]
        if command == ComPortCommand.SET_BAUDRATE:
            # The one-byte form is Cisco's rate index (never asked for here).
            number = (
                int.from_bytes(value[:4], "big")
                if len(value) >= 4
                else CISCO_BAUD_RATES.get(value[0], 0)
            )
        else:
            number = value[0]
        return [ComPortAnswer(command, number, self._answered(_key(command, number), number))]

    def _answered(self, key: Tuple[int, int], value: int) -> Optional[int]:
        """The request an answer goes with: the oldest one asking for this
        value (and those before it, which the server passed over), or else
        the oldest one, which the server did not grant."""
        asked = self._asked.get(key)
        if not asked:
            return None
        if value in asked:
            while asked[0] != value:
                asked.popleft()
        return asked.popleft()
