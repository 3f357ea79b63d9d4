"""Applying RFC 2217 requests to a serial line and choosing the answer.

The telnet codec turns bytes into ``ComPortRequest`` events; this module
decides what each request does to the line and which value goes back.  The
answer is always the setting now in force, so a client asking for something
the port refused learns what it got instead.

The line is anything with the small ``SerialControl`` surface: the run
time's serial port, or ``VirtualLines`` for devices that have no line
(echo, tcp), which keep the settings in memory so that clients that insist
on negotiating still get consistent answers.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Protocol, Tuple

from pyser2net.config.model import SerialSettings
from pyser2net.protocol.telnet import ComPortCommand, ControlValue

_PARITY_CODES = {1: "none", 2: "odd", 3: "even", 4: "mark", 5: "space"}
_PARITY_NAMES = {name: code for code, name in _PARITY_CODES.items()}
_STOP_CODES = {1: 1, 2: 2}  # 3 (1.5 stop bits) is not available on Linux ttys


class ControlRefused(Exception):
    """The line did not take a setting; ser2net then sends no answer."""


class SerialControl(Protocol):
    """What RFC 2217 may do to a serial line."""

    #: True when no hardware is behind it: settings are only remembered.
    virtual: bool

    @property
    def settings(self) -> SerialSettings:
        """The settings in force (changed through ``reconfigure`` only)."""

    @property
    def lines(self) -> Dict[str, bool]:
        """DTR, RTS and break ("dtr", "rts", "break"): the state last set or asked for."""

    def reconfigure(self, settings: SerialSettings) -> None:
        """Apply new settings; raises ControlRefused."""

    def set_line(self, name: str, on: bool) -> None:
        """Raise or drop "dtr", "rts" or "break"."""

    def purge(self, which: int) -> None:
        """PURGE-DATA: 1 receive buffer, 2 transmit buffer, 3 both."""

    def modem_bits(self) -> Optional[int]:
        """CTS/DSR/RI/CD as the high nibble of a modemstate; None: unknown."""


class VirtualLines:
    """Settings and lines of a device that has none (echo, tcp)."""

    virtual = True

    def __init__(self, settings: SerialSettings) -> None:
        self.settings = settings
        self.lines = {"dtr": True, "rts": True, "break": False}

    def reconfigure(self, settings: SerialSettings) -> None:
        self.settings = settings

    def set_line(self, name: str, on: bool) -> None:
        self.lines[name] = on

    def purge(self, which: int) -> None:
        pass

    def modem_bits(self) -> Optional[int]:
        return None


def replaced(settings: SerialSettings, fields: Dict[str, Any]) -> SerialSettings:
    """``dataclasses.replace``, without its cost.

    A client may send settings requests in a loop; ``replace`` calls the
    generated ``__init__`` with every field (some 15 microseconds), where
    copying the instance's dictionary takes one.  SerialSettings has no
    ``__post_init__`` to skip.
    """
    new = object.__new__(SerialSettings)
    new.__dict__.update(settings.__dict__)
    new.__dict__.update(fields)
    return new


def request_fields(command: ComPortCommand, value: int) -> Optional[Dict[str, Any]]:
    """The settings a request asks for (``{}``: none, it is a query or acts
    on a line); None for a value no port takes, which gets no answer at all,
    as in ser2net."""
    if command == ComPortCommand.SET_BAUDRATE:
        return {"speed": value} if value else {}
    return _FIELDS.get((command, value))


#: Every valid (command, value) but SET-BAUDRATE's, and the settings it asks for.
_FIELDS: Dict[Tuple[int, int], Dict[str, Any]] = {
    **{(ComPortCommand.SET_DATASIZE, v): {"databits": v} for v in range(5, 9)},
    **{(ComPortCommand.SET_PARITY, v): {"parity": n} for v, n in _PARITY_CODES.items()},
    **{(ComPortCommand.SET_STOPSIZE, v): {"stopbits": n} for v, n in _STOP_CODES.items()},
    (ComPortCommand.SET_CONTROL, ControlValue.FLOW_NONE): {"xonxoff": False, "rtscts": False},
    (ComPortCommand.SET_CONTROL, ControlValue.FLOW_XONXOFF): {"xonxoff": True, "rtscts": False},
    (ComPortCommand.SET_CONTROL, ControlValue.FLOW_HARDWARE): {"xonxoff": False, "rtscts": True},
    **{(c, 0): {} for c in (ComPortCommand.SET_DATASIZE, ComPortCommand.SET_PARITY)},
    (ComPortCommand.SET_STOPSIZE, 0): {},
    **{(ComPortCommand.SET_CONTROL, v): {} for v in range(0, 17) if v > 3 or v == 0},
    **{(ComPortCommand.PURGE_DATA, v): {} for v in range(256)},
}

#: SET-CONTROL values that raise or drop a line, and which.
LINE_ACTIONS: Dict[int, Tuple[str, bool]] = {
    ControlValue.BREAK_ON: ("break", True),
    ControlValue.BREAK_OFF: ("break", False),
    ControlValue.DTR_ON: ("dtr", True),
    ControlValue.DTR_OFF: ("dtr", False),
    ControlValue.RTS_ON: ("rts", True),
    ControlValue.RTS_OFF: ("rts", False),
}


def act_on_lines(line: SerialControl, command: ComPortCommand, value: int) -> None:
    """What a valid request does besides settings: DTR, RTS, break, purge."""
    if command == ComPortCommand.SET_CONTROL:
        action = LINE_ACTIONS.get(value)
        if action is not None:
            line.set_line(*action)
    elif command == ComPortCommand.PURGE_DATA:
        line.purge(value)


def apply_request(line: SerialControl, command: ComPortCommand, value: int) -> Optional[int]:
    """Carry out one request; return the value to answer with, or None for no answer."""
    fields = request_fields(command, value)
    if fields is None:
        return None  # a value the port cannot take gets no answer at all, as in ser2net
    try:
        if fields:
            current = line.settings
            if any(getattr(current, name) != v for name, v in fields.items()):
                line.reconfigure(replaced(current, fields))
        else:
            act_on_lines(line, command, value)
    except ControlRefused:
        return None  # ser2net sends no answer when the device refuses
    return answer_for(command, value, line.settings, line.lines)


def answer_for(
    command: ComPortCommand, value: int, settings: SerialSettings, lines: Dict[str, bool]
) -> int:
    """The answer to a valid request: the setting it concerns as now in force.

    So a client asking for something the port refused learns what it got
    instead, and every answer to requests handled together (a burst, which
    reaches the line once) carries the value in force after all of them.
    """
    if command == ComPortCommand.SET_BAUDRATE:
        return settings.speed
    if command == ComPortCommand.SET_DATASIZE:
        return settings.databits
    if command == ComPortCommand.SET_PARITY:
        return _PARITY_NAMES[settings.parity]
    if command == ComPortCommand.SET_STOPSIZE:
        return settings.stopbits
    if command == ComPortCommand.PURGE_DATA:
        return value
    if value <= ControlValue.FLOW_HARDWARE:
        return (
            ControlValue.FLOW_HARDWARE
            if settings.rtscts
            else ControlValue.FLOW_XONXOFF
            if settings.xonxoff
            else ControlValue.FLOW_NONE
        )
    if value <= ControlValue.BREAK_OFF:
        return ControlValue.BREAK_ON if lines["break"] else ControlValue.BREAK_OFF
    if value <= ControlValue.DTR_OFF:
        return ControlValue.DTR_ON if lines["dtr"] else ControlValue.DTR_OFF
    if value <= ControlValue.RTS_OFF:
        return ControlValue.RTS_ON if lines["rts"] else ControlValue.RTS_OFF
    # Linux ties inbound to outbound flow control: report what is in force.
    return (
        ControlValue.INBOUND_FLOW_HARDWARE
        if settings.rtscts
        else ControlValue.INBOUND_FLOW_XONXOFF
        if settings.xonxoff
        else ControlValue.INBOUND_FLOW_NONE
    )


# -- in words, for the log ----------------------------------------------------


def settings_text(s: SerialSettings) -> str:
    """``115200N81,CLOCAL``: speed, parity, bits, then the flags that are on.

    The form showport uses, which ser2net users know.
    """
    flags = [
        ("XONXOFF", s.xonxoff),
        ("RTSCTS", s.rtscts),
        ("CLOCAL", s.local),
        ("HANGUP_WHEN_DONE", s.hangup_when_done),
    ]
    return ",".join([s.short] + [word for word, on in flags if on])


_CONTROL_WORDS: Dict[int, str] = {
    ControlValue.FLOW_NONE: "flow control none",
    ControlValue.FLOW_XONXOFF: "flow control XON/XOFF",
    ControlValue.FLOW_HARDWARE: "flow control RTS/CTS",
    ControlValue.BREAK_ON: "break on",
    ControlValue.BREAK_OFF: "break off",
    ControlValue.DTR_ON: "DTR on",
    ControlValue.DTR_OFF: "DTR off",
    ControlValue.RTS_ON: "RTS on",
    ControlValue.RTS_OFF: "RTS off",
    ControlValue.INBOUND_FLOW_NONE: "inbound flow control none",
    ControlValue.INBOUND_FLOW_XONXOFF: "inbound flow control XON/XOFF",
    ControlValue.INBOUND_FLOW_HARDWARE: "inbound flow control RTS/CTS",
    ControlValue.FLOW_DCD: "flow control DCD",
    ControlValue.INBOUND_FLOW_DTR: "inbound flow control DTR",
    ControlValue.FLOW_DSR: "flow control DSR",
}
_CONTROL_QUERIES: Dict[int, str] = {
    ControlValue.FLOW_REQUEST: "flow control",
    ControlValue.BREAK_REQUEST: "break",
    ControlValue.DTR_REQUEST: "DTR",
    ControlValue.RTS_REQUEST: "RTS",
    ControlValue.INBOUND_FLOW_REQUEST: "inbound flow control",
}
_PURGES: Dict[int, str] = {1: "receive buffer", 2: "transmit buffer", 3: "both buffers"}


def request_text(command: ComPortCommand, value: int) -> str:
    """What a client asked for: ``set baud rate 9600``, ``query DTR``..."""
    if command == ComPortCommand.PURGE_DATA:
        return f"purge {_PURGES.get(value, f'({value})')}"
    if command == ComPortCommand.SET_CONTROL:
        if value in _CONTROL_QUERIES:
            return f"query {_CONTROL_QUERIES[value]}"
        return f"set {_CONTROL_WORDS.get(value, f'control {value}')}"
    what = {
        ComPortCommand.SET_BAUDRATE: "baud rate",
        ComPortCommand.SET_DATASIZE: "data size",
        ComPortCommand.SET_PARITY: "parity",
        ComPortCommand.SET_STOPSIZE: "stop bits",
    }.get(command, command.name.lower())
    if not value:
        return f"query {what}"
    if command == ComPortCommand.SET_PARITY:
        return f"set parity {_PARITY_CODES.get(value, value)}"
    return f"set {what} {value}"


def state_text(
    command: ComPortCommand, value: int, settings: SerialSettings, lines: Dict[str, bool]
) -> Optional[str]:
    """The setting a request is about, as the line has it now (None: none)."""
    if command == ComPortCommand.SET_BAUDRATE:
        return str(settings.speed)
    if command == ComPortCommand.SET_DATASIZE:
        return str(settings.databits)
    if command == ComPortCommand.SET_PARITY:
        return settings.parity
    if command == ComPortCommand.SET_STOPSIZE:
        return str(settings.stopbits)
    if command != ComPortCommand.SET_CONTROL:
        return None
    for name, first in (
        ("break", ControlValue.BREAK_REQUEST),
        ("DTR", ControlValue.DTR_REQUEST),
        ("RTS", ControlValue.RTS_REQUEST),
    ):
        if first <= value <= first + 2:
            return "on" if lines[name.lower()] else "off"
    return "RTS/CTS" if settings.rtscts else "XON/XOFF" if settings.xonxoff else "none"
