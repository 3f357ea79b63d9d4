"""RFC 2217 requests applied to whatever device a port has open."""

from __future__ import annotations

from typing import Optional

from pyser2net.protocol.comport import VirtualLines
from pyser2net.protocol.comport import apply_request as apply_to_line
from pyser2net.protocol.telnet import ComPortCommand
from pyser2net.runtime.devices import Device, SerialPort

__all__ = ["VirtualLines", "apply_request"]


def apply_request(device: Optional[Device], state: VirtualLines, command: ComPortCommand,
                  value: int) -> Optional[int]:
    """The serial port when one is open, else the remembered settings."""
    line = device if isinstance(device, SerialPort) else state
    return apply_to_line(line, command, value)
