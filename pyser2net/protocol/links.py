"""Link stacks: the layers of a connector between its device and the data.

A connector may carry link layers above its device:
``relpkt,msgdelim,serialdev,...``, ``msgdelim,serialdev,...`` or
``serialtcp(server),serialdev,...``; a ``conacc`` accepter has the same
below it.  Each such stack becomes one ``Link`` (the run time's table of
them is ``LINKS`` in ``runtime/layers.py``): bytes for and from the device
below, payload above, and the events ``LinkUp`` (data may flow) and
``LinkDown`` (the link ended, and why).

relpkt needs the message boundaries msgdelim finds, which bytes passed
between filters do not carry, so the msgdelim below a relpkt is handed to
it rather than stacked under it.  msgdelim alone is up from the start and
never ends on its own.

Links never read a clock or touch a descriptor; those that need time get a
``FilterTimer``.
"""

from __future__ import annotations

from typing import List, Optional, Protocol, Union

from pyser2net.config.model import SerialSettings
from pyser2net.protocol.events import Data, Event
from pyser2net.protocol.msgdelim import MsgDelim
from pyser2net.protocol.relpkt import RelPkt
from pyser2net.protocol.relpkt import State as RelPktState
from pyser2net.protocol.serialtcp import SerialTcp
from pyser2net.protocol.serialtcp import State as SerialTcpState


class Link(Protocol):
    """What the run time asks of a link stack."""

    @property
    def is_open(self) -> bool: ...

    @property
    def buffered(self) -> int:
        """Payload taken and not yet delivered (acknowledged) to the far end."""

    @property
    def ended(self) -> bool:
        """Closed, or never started: nothing more will happen."""

    def start(self) -> bytes: ...

    def receive(self, data: bytes) -> List[Event]: ...

    def send(self, data: bytes) -> bytes: ...

    def data_to_send(self) -> bytes: ...

    def timer_expired(self) -> List[Event]: ...

    def close(self, error: int = 0) -> bytes:
        """End gracefully: ``LinkDown`` follows (at once, or once answered)."""

    def abort(self, error: int = 0) -> bytes:
        """End now; nothing follows."""

    def reopen(self) -> bool:
        """Take back ``close`` if nothing of it went out yet; whether it could."""

    def hold(self) -> bool:
        """Stop delivering payload, if the link can (True); else the caller
        stops reading."""

    def release(self) -> List[Event]:
        """Deliver again: payload held meanwhile."""

    def far_end_ready(self) -> bytes:
        """The connection on, behind an accepted link, is up."""

    def summary(self) -> str:
        """What the link had to repair, for the log when it ends ("": nothing
        is counted)."""


class PlainLink:
    """No link layer (a bare device under conacc): bytes as they are, up at once."""

    is_open = True
    ended = False
    buffered = 0

    def start(self) -> bytes:
        return b""

    def receive(self, data: bytes) -> List[Event]:
        return [Data(data)]

    def send(self, data: bytes) -> bytes:
        return data

    def data_to_send(self) -> bytes:
        return b""

    def timer_expired(self) -> List[Event]:
        return []

    def close(self, error: int = 0) -> bytes:
        self.ended = True
        self.is_open = False
        return b""

    def abort(self, error: int = 0) -> bytes:
        return self.close()

    def reopen(self) -> bool:
        self.ended = False
        self.is_open = True
        return True

    def hold(self) -> bool:
        return False

    def release(self) -> List[Event]:
        return []

    def far_end_ready(self) -> bytes:
        return b""

    def summary(self) -> str:
        return ""


class DelimLink(PlainLink):
    """``msgdelim`` alone: a byte stream cut into messages of ``writebuf``."""

    def __init__(self, delim: MsgDelim) -> None:
        self.delim = delim
        self.receive = delim.receive  # type: ignore[method-assign]
        self.send = delim.send  # type: ignore[method-assign]

    def receive(self, data: bytes) -> List[Event]:  # replaced per instance
        return self.delim.receive(data)

    def send(self, data: bytes) -> bytes:  # replaced per instance
        return self.delim.send(data)

    def summary(self) -> str:
        return _delim_summary(self.delim)


class RelPktLink(RelPkt):
    """relpkt over its msgdelim, as a ``Link``: it holds delivery itself."""

    @property
    def ended(self) -> bool:
        return self.state is RelPktState.CLOSED

    def hold(self) -> bool:
        self.pause()
        return True

    def release(self) -> List[Event]:
        return self.resume()

    def far_end_ready(self) -> bytes:
        return b""

    def summary(self) -> str:
        c = self.counters
        text = (
            f"relpkt sent {c.packets_sent} packets ({c.packets_resent} again), "
            f"received {c.packets_received} ({c.duplicates} twice)"
        )
        if isinstance(self.framing, MsgDelim):
            text += f"; {_delim_summary(self.framing)}"
        return text


class SerialTcpLink(SerialTcp):
    """serialtcp as a ``Link``: the caller stops reading to hold it."""

    buffered = 0

    @property
    def ended(self) -> bool:
        return self.state is SerialTcpState.CLOSED

    def close(self, error: int = 0) -> bytes:
        return super().close()

    def abort(self, error: int = 0) -> bytes:
        return super().close()

    def reopen(self) -> bool:
        return self.state is SerialTcpState.OPEN

    def hold(self) -> bool:
        return False

    def release(self) -> List[Event]:
        return []

    def summary(self) -> str:
        return ""  # serialtcp neither checks nor repairs anything


def _delim_summary(delim: MsgDelim) -> str:
    c = delim.counters
    return (
        f"msgdelim received {c.received} messages, dropped {c.bad_crc} damaged "
        f"and {c.malformed} malformed"
    )


AnyLink = Union[PlainLink, DelimLink, RelPktLink, SerialTcpLink]


def line_rate(serial: Optional[SerialSettings]) -> Optional[float]:
    """Bytes per second on a serial line (None: not a serial line)."""
    if serial is None:
        return None
    bits = 1 + serial.databits + (0 if serial.parity == "none" else 1) + serial.stopbits
    return serial.speed / bits
