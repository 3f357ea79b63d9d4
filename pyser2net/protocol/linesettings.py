"""An application's termios settings, as the RFC 2217 requests that carry them.

``pyser2net attach`` gives an application a pseudo-terminal and forwards
what the application sets on it to the remote port.  What survives on a
pty decides what can be forwarded: the speed (any rate, through the
``termios2`` speed fields), ``CSTOPB``, ``CRTSCTS``, ``IXON``/``IXOFF`` and
``HUPCL`` are kept as the application set them; the kernel forces eight
data bits and clears ``PARENB``, so data bits and parity cannot be seen
and come from the ``--format`` option instead.  ``PARODD`` and ``CMSPAR``
do survive, which tells that the application asked for odd, mark or
space parity (even parity leaves no trace): worth a warning, since that
parity is not what the remote port uses unless ``--format`` says so.

Everything here is pure: the run time reads the flags and speed from the
pty (``TCGETS2``) and sends what :func:`requests_between` returns.
"""

from __future__ import annotations

import termios
from dataclasses import dataclass
from typing import List, Optional, Tuple

from pyser2net.config.attach import Frame
from pyser2net.protocol.telnet import ComPortCommand, ControlValue

#: Not in Python's termios module (Linux values).
CMSPAR = 0o10000000000
EXTPROC = 0o200000

_PARITY_CODES = {"none": 1, "odd": 2, "even": 3, "mark": 4, "space": 5}

Request = Tuple[ComPortCommand, int]


@dataclass(frozen=True)
class LineSettings:
    """What of an application's termios settings reaches the remote port."""

    baud: int
    stopbits: int = 1
    #: "none", "xonxoff" or "rtscts".
    flow: str = "none"
    #: Drop DTR and RTS when the last application closes the port.
    hupcl: bool = True
    #: The application asked for a parity a pty cannot keep: "odd", "mark",
    #: "space" (PARODD / CMSPAR survived), or None.
    parity_hint: Optional[str] = None

    @classmethod
    def from_flags(cls, iflag: int, cflag: int, speed: int) -> LineSettings:
        """From the termios flags and the output speed in bits per second."""
        if cflag & termios.CRTSCTS:
            flow = "rtscts"
        elif iflag & (termios.IXON | termios.IXOFF):
            flow = "xonxoff"
        else:
            flow = "none"
        hint = None
        if cflag & CMSPAR:
            hint = "mark" if cflag & termios.PARODD else "space"
        elif cflag & termios.PARODD:
            hint = "odd"
        return cls(
            baud=speed,
            stopbits=2 if cflag & termios.CSTOPB else 1,
            flow=flow,
            hupcl=bool(cflag & termios.HUPCL),
            parity_hint=hint,
        )

    @property
    def short(self) -> str:
        flow = {"none": "", "xonxoff": ", xonxoff", "rtscts": ", rtscts"}[self.flow]
        return f"{self.baud} baud, {self.stopbits} stop bit{'s' * (self.stopbits > 1)}{flow}"


_FLOW = {
    "none": ControlValue.FLOW_NONE,
    "xonxoff": ControlValue.FLOW_XONXOFF,
    "rtscts": ControlValue.FLOW_HARDWARE,
}


def requests_between(old: Optional[LineSettings], new: LineSettings) -> List[Request]:
    """The requests that take the remote port from ``old`` to ``new``.

    ``old`` None (a new connection) asks for everything.  A speed of 0 is
    the application hanging up (B0), not a rate: it is not forwarded.
    """
    out: List[Request] = []
    if new.baud and (old is None or old.baud != new.baud):
        out.append((ComPortCommand.SET_BAUDRATE, new.baud))
    if old is None or old.stopbits != new.stopbits:
        out.append((ComPortCommand.SET_STOPSIZE, new.stopbits))
    if old is None or old.flow != new.flow:
        out.append((ComPortCommand.SET_CONTROL, _FLOW[new.flow]))
    return out


def frame_requests(frame: Frame) -> List[Request]:
    """Data bits and parity from ``--format``: sent on every connection."""
    return [
        (ComPortCommand.SET_DATASIZE, frame.databits),
        (ComPortCommand.SET_PARITY, _PARITY_CODES[frame.parity]),
    ]


#: What a flush of the application's queues becomes (PURGE-DATA values):
#: its input flushed is the server's receive buffer (1), its output the
#: server's transmit buffer (2).  Packet mode reports them as FLUSHREAD
#: (1) and FLUSHWRITE (2), the same numbers.
def purge_value(status: int) -> int:
    """PURGE-DATA value for a packet-mode status byte's flush bits, 0 for none."""
    return status & 3
