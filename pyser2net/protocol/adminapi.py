"""What the admin port reads back from the daemon: the status of each port
and its clients, and what a reload did.

The engine fills these records, and the admin session, ``/status`` and the
metrics print them.  They are apart from the session (``admin``) so that a
daemon without an admin port does not load the session to fill them.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

#: The words of ``setportcontrol``.
CONTROLS = ("DTRHI", "DTRLO", "RTSHI", "RTSLO")


@dataclass
class ClientStatus:
    """One connected client as showport and showclients list it."""

    remote: str
    bytes_in: int = 0
    bytes_out: int = 0
    #: Bytes sent to the client and not yet on the wire: pyser2net's queue
    #: and the kernel's (ser2net 4.6's ``bytes in queue to TCP``).
    queued: int = 0
    #: When it connected (seconds since the epoch).
    since: float = 0.0


@dataclass
class PortStatus:
    """Everything showport and showshortport print about a connection."""

    name: str
    accepter: str
    enabled: bool
    timeout: int
    device: str
    clients: List[ClientStatus] = field(default_factory=list)
    #: ``115200N81,CLOCAL`` for serial devices, None for others.
    device_config: Optional[str] = None
    #: ``RTSHI DTRHI`` (or ``?``) for an open serial device, else None.
    device_controls: Optional[str] = None
    tcp_to_device_state: str = "waiting input"
    device_to_tcp_state: str = "waiting input"
    bytes_from_device: int = 0
    bytes_to_device: int = 0
    #: Last column of showshortport: the device's own state string.
    device_state: str = ""
    #: ``usb(...) -> /dev/ttyUSB3`` while a selector's device is open
    #: (``-> none`` while it is not); None for a device path.
    device_node: Optional[str] = None
    #: ``waiting for device since <time>`` while a held device is away.
    device_waiting: Optional[str] = None
    #: What a reload does to the port once its clients are gone (YAML mode):
    #: ``retained``, ``reconfigured`` or ``deleted``, as ser2net says.
    close_state: str = "retained"
    #: The device is open (and its open complete).
    device_open: bool = False
    #: Clients are connected and the device is not open yet, or is being
    #: opened again (keepopen).
    waiting_for_device: bool = False
    #: The line speed now, for serial devices.
    baud: Optional[int] = None
    #: Totals since the daemon started (showport's own counts start again
    #: with each device session and each client).
    device_bytes_in: int = 0
    device_bytes_out: int = 0
    network_bytes_in: int = 0
    network_bytes_out: int = 0
    connections_accepted: int = 0
    #: By reason (``runtime.counters`` names them).
    connections_refused: Dict[str, int] = field(default_factory=dict)
    disconnects: Dict[str, int] = field(default_factory=dict)
    #: By errno name (``ENOENT``), ``other`` without one.
    device_open_failures: Dict[str, int] = field(default_factory=dict)
    #: Tries to open a held device again (``device-loss: hold``), by result.
    device_retries: Dict[str, int] = field(default_factory=dict)

    @property
    def client_queue_bytes(self) -> int:
        return sum(c.queued for c in self.clients)


@dataclass
class ReloadOutcome:
    """What a reload found and did."""

    #: Every problem of the configuration read, one line each.
    problems: List[str] = field(default_factory=list)
    #: False when nothing was changed: the running configuration stays.
    applied: bool = True


def utc_text(seconds: float) -> str:
    """``2026-11-28T12:00:00Z``: a time anyone can compare, in any zone."""
    moment = datetime.datetime.fromtimestamp(int(seconds), datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def remote_text(addr: Tuple[Any, ...]) -> str:
    """ser2net's ``ipv4,127.0.0.1,35192`` form of a peer address."""
    family = "ipv6" if len(addr) >= 4 or ":" in str(addr[0]) else "ipv4"
    return f"{family},{addr[0]},{addr[1]}"
