"""Applying RFC 2217 requests to a device and choosing the answer.

The telnet codec turns bytes into ``ComPortRequest`` events; this module
decides what each request does to the serial port and which value goes back.
The answer is always the setting now in force, so a client asking for
something the port refused learns what it got instead.  Devices that are
not serial ports (echo, tcp) keep the settings in memory, so clients that
insist on negotiating still get consistent answers.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

from pyser2net.config.model import SerialSettings
from pyser2net.protocol.telnet import ComPortCommand, ControlValue
from pyser2net.runtime.devices import Device, DeviceError, SerialPort

_PARITY_CODES = {1: "none", 2: "odd", 3: "even", 4: "mark", 5: "space"}
_PARITY_NAMES = {name: code for code, name in _PARITY_CODES.items()}
_STOP_CODES = {1: 1, 2: 2}  # 3 (1.5 stop bits) is not available on Linux ttys


class VirtualLines:
    """Settings and lines of a device that has none (echo, tcp)."""

    def __init__(self, settings: SerialSettings) -> None:
        self.settings = settings
        self.lines = {"dtr": True, "rts": True, "break": False}


def apply_request(device: Optional[Device], state: VirtualLines, command: ComPortCommand,
                  value: int) -> Optional[int]:
    """Carry out one request; return the value to answer with, or None for no answer."""
    port = device if isinstance(device, SerialPort) else None
    target = port if port is not None else state
    settings = target.settings

    def change(**fields: object) -> None:
        new = dataclasses.replace(settings, **fields)  # type: ignore[arg-type]
        if port is not None:
            port.reconfigure(new)
        else:
            state.settings = new

    try:
        if command == ComPortCommand.SET_BAUDRATE:
            if value:
                change(speed=value)
            return target.settings.speed
        # A value the port cannot take gets no answer at all, as in ser2net.
        if command == ComPortCommand.SET_DATASIZE:
            if value and not 5 <= value <= 8:
                return None
            if value:
                change(databits=value)
            return target.settings.databits
        if command == ComPortCommand.SET_PARITY:
            if value and value not in _PARITY_CODES:
                return None
            if value:
                change(parity=_PARITY_CODES[value])
            return _PARITY_NAMES[target.settings.parity]
        if command == ComPortCommand.SET_STOPSIZE:
            if value and value not in _STOP_CODES:
                return None
            if value:
                change(stopbits=_STOP_CODES[value])
            return target.settings.stopbits
        if command == ComPortCommand.SET_CONTROL:
            return _control(port, target, change, value)
        if command == ComPortCommand.PURGE_DATA:
            if port is not None:
                port.purge(value)
            return value
    except DeviceError:
        return None  # ser2net sends no answer when the device refuses
    return None


def _control(port: Optional[SerialPort], target, change, value: int) -> Optional[int]:
    s = target.settings
    lines = target.lines

    def set_line(name: str, on: bool) -> None:
        if port is not None:
            port.set_line(name, on)
        else:
            lines[name] = on

    if value == ControlValue.FLOW_REQUEST:
        pass
    elif value == ControlValue.FLOW_NONE:
        change(xonxoff=False, rtscts=False)
    elif value == ControlValue.FLOW_XONXOFF:
        change(xonxoff=True, rtscts=False)
    elif value == ControlValue.FLOW_HARDWARE:
        change(xonxoff=False, rtscts=True)
    elif value in (ControlValue.BREAK_ON, ControlValue.BREAK_OFF):
        set_line("break", value == ControlValue.BREAK_ON)
    elif value in (ControlValue.DTR_ON, ControlValue.DTR_OFF):
        set_line("dtr", value == ControlValue.DTR_ON)
    elif value in (ControlValue.RTS_ON, ControlValue.RTS_OFF):
        set_line("rts", value == ControlValue.RTS_ON)
    elif value in (ControlValue.INBOUND_FLOW_REQUEST, ControlValue.INBOUND_FLOW_NONE,
                   ControlValue.INBOUND_FLOW_XONXOFF, ControlValue.INBOUND_FLOW_HARDWARE):
        # Linux ties inbound to outbound flow control: report what is in force.
        s = target.settings
        return (ControlValue.INBOUND_FLOW_HARDWARE if s.rtscts else
                ControlValue.INBOUND_FLOW_XONXOFF if s.xonxoff else ControlValue.INBOUND_FLOW_NONE)
    elif value not in (ControlValue.BREAK_REQUEST, ControlValue.DTR_REQUEST,
                       ControlValue.RTS_REQUEST):
        return None
    s = target.settings
    if value <= ControlValue.FLOW_HARDWARE:
        return (ControlValue.FLOW_HARDWARE if s.rtscts else
                ControlValue.FLOW_XONXOFF if s.xonxoff else ControlValue.FLOW_NONE)
    if value <= ControlValue.BREAK_OFF:
        return ControlValue.BREAK_ON if lines["break"] else ControlValue.BREAK_OFF
    if value <= ControlValue.DTR_OFF:
        return ControlValue.DTR_ON if lines["dtr"] else ControlValue.DTR_OFF
    return ControlValue.RTS_ON if lines["rts"] else ControlValue.RTS_OFF
