"""What a port counts for metrics, ``/status`` and showport's YAML mode.

The data path pays nothing for these: bytes are already counted per device
session and per client (showport's counters), and those counts are added
here when the session or the client ends.  A total is therefore what is
kept here plus what the live device and clients hold, summed when someone
asks (a scrape, a ``showport``).  Events (a refusal, a disconnect, a failed
open) are rare and cost one dictionary update each.

The engine keeps one ``PortCounters`` per connection name, so a port that
a reload replaces goes on counting where the old one stopped.

Labels are a fixed vocabulary (reasons, errno names): never an address.
"""

from __future__ import annotations

import errno
from typing import Dict, Optional

#: Why a client was turned away (the ``reason`` label).
REFUSED_REMADDR = "remaddr"
REFUSED_MAX_CONNECTIONS = "max-connections"
REFUSED_DEVICE_BUSY = "device-busy"
REFUSED_DEVICE_OPEN = "device-open-failure"
#: The TLS handshake failed (no or a wrong client certificate, a client that
#: does not speak TLS, too slow, too many handshakes at once).
REFUSED_TLS = "tls"

#: Why a client left (the ``reason`` label).
GONE_PEER = "peer"
GONE_TIMEOUT = "timeout"
GONE_KICKED = "kicked"
GONE_ADMIN = "admin"
GONE_CLOSEON = "closeon"
GONE_STALLED = "stalled"
GONE_DEVICE = "device"
GONE_SHUTDOWN = "shutdown"
GONE_ERROR = "error"

REFUSED_REASONS = (
    REFUSED_REMADDR,
    REFUSED_MAX_CONNECTIONS,
    REFUSED_DEVICE_BUSY,
    REFUSED_DEVICE_OPEN,
    REFUSED_TLS,
)
DISCONNECT_REASONS = (
    GONE_PEER,
    GONE_TIMEOUT,
    GONE_KICKED,
    GONE_ADMIN,
    GONE_CLOSEON,
    GONE_STALLED,
    GONE_DEVICE,
    GONE_SHUTDOWN,
    GONE_ERROR,
)

#: Why a rotator turned a client away (the ``reason`` label of its own
#: counter): every connection it hands clients to was busy or disabled, or
#: (``REFUSED_TLS``, as for a port) the TLS handshake on its accepter failed.
ROTATOR_NO_FREE_PORT = "no-free-port"
ROTATOR_REFUSED_REASONS = (ROTATOR_NO_FREE_PORT, REFUSED_TLS)

#: How a try to open a held device again ended (the ``result`` label).
RETRY_OPENED = "opened"
RETRY_FAILED = "failed"
RETRY_RESULTS = (RETRY_OPENED, RETRY_FAILED)

#: The port's close reasons (as logged) and the label each is counted under.
_BY_TEXT = {
    "closed by peer": GONE_PEER,
    "timed out": GONE_TIMEOUT,
    "kicked off by a new user": GONE_KICKED,
    "disconnected by the admin port": GONE_ADMIN,
    "connection disabled": GONE_SHUTDOWN,
}


def disconnect_reason(logged: Optional[str]) -> str:
    """The label of a close reason as the port logs it.

    ``None`` is a close the port asked for itself (stopping, a reload);
    the two client limits (``client-buffer-limit``, ``client-send-timeout``)
    are a stalled client; any other text is a socket error.
    """
    if logged is None:
        return GONE_SHUTDOWN
    known = _BY_TEXT.get(logged)
    if known is not None:
        return known
    if logged.startswith(("stopped reading:", "no progress for")):
        return GONE_STALLED
    return GONE_ERROR


def errno_label(code: Optional[int]) -> str:
    """``ENOENT`` for an OS error number; ``other`` when there is none."""
    if not code:
        return "other"
    return errno.errorcode.get(code, "other")


class PortCounters:
    """Totals of one connection name, kept across device sessions and reloads."""

    __slots__ = (
        "accepted",
        "refused",
        "disconnects",
        "open_failures",
        "retries",
        "device_in",
        "device_out",
        "net_in",
        "net_out",
    )

    def __init__(self) -> None:
        #: Clients admitted.
        self.accepted = 0
        #: Clients turned away, by reason.
        self.refused: Dict[str, int] = {}
        #: Clients gone, by reason.
        self.disconnects: Dict[str, int] = {}
        #: Device opens that failed, by errno name.
        self.open_failures: Dict[str, int] = {}
        #: Tries to open a held device (``device-loss: hold``) again, by result.
        self.retries: Dict[str, int] = {}
        #: Bytes of device sessions and clients that have ended.
        self.device_in = 0
        self.device_out = 0
        self.net_in = 0
        self.net_out = 0

    def refusal(self, reason: str) -> None:
        self.refused[reason] = self.refused.get(reason, 0) + 1

    def disconnect(self, reason: str) -> None:
        self.disconnects[reason] = self.disconnects.get(reason, 0) + 1

    def retry(self, result: str) -> None:
        self.retries[result] = self.retries.get(result, 0) + 1

    def open_failure(self, code: Optional[int]) -> None:
        label = errno_label(code)
        self.open_failures[label] = self.open_failures.get(label, 0) + 1
