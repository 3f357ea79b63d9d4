"""Who may connect: ``remaddr``, ``max-connections`` and ``kickolduser``.

The decision is separate from the sockets so that it can be tested as a
table: given the address of a newcomer and the clients connected now, it
says "refuse with these bytes", "admit", or "admit after dropping this
one".  The order is ser2net's: the address is checked first, so a refused
address never kicks anybody off.
"""

from __future__ import annotations

from typing import Generic, Optional, Sequence, TypeVar

from pyser2net.runtime.counters import REFUSED_MAX_CONNECTIONS, REFUSED_REMADDR
from pyser2net.runtime.remaddr import Allowed, remote_allowed

#: What ser2net tells a client it turns away (same bytes, typo included).
PORT_IN_USE = b"Port already in use\r\n"
ACCESS_DENIED = b"Accessed denied due to your net address\r\n"
OPEN_FAILURE = b"Device open failure: "
#: Another connection has the same device open (ser2net compares the
#: connector strings as written, and checks this after max-connections).
DEVICE_IN_USE = b"Port's device already in use\r\n"

C = TypeVar("C")


class Verdict(Generic[C]):
    """``refuse``: the bytes to send before closing (None: admitted).

    ``kick``: a client to drop before the newcomer is admitted; ``reason``
    says why a newcomer was refused, for the log, and ``kind`` the same for
    metrics (a fixed word, ``runtime.counters``).  (A plain class: start-up
    time counts, and a dataclass costs a compilation at import.)
    """

    __slots__ = ("refuse", "kick", "reason", "kind")

    def __init__(
        self,
        refuse: Optional[bytes] = None,
        kick: Optional[C] = None,
        reason: str = "",
        kind: str = "",
    ) -> None:
        self.refuse = refuse
        self.kick = kick
        self.reason = reason
        self.kind = kind

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Verdict) and (self.refuse, self.kick, self.reason, self.kind) == (
            other.refuse,
            other.kick,
            other.reason,
            other.kind,
        )

    def __repr__(self) -> str:
        return (
            f"Verdict(refuse={self.refuse!r}, kick={self.kick!r}, reason={self.reason!r}, "
            f"kind={self.kind!r})"
        )


def admit(
    addr: tuple, active: Sequence[C], *, allowed: Allowed, max_connections: int, kickolduser: bool
) -> Verdict[C]:
    """Decide on a newcomer at ``addr``; ``active`` oldest first, none closing."""
    if allowed and not remote_allowed(allowed, addr):
        return Verdict(refuse=ACCESS_DENIED, reason="not in remaddr", kind=REFUSED_REMADDR)
    if len(active) >= max_connections:
        if kickolduser and active:
            return Verdict(kick=active[0])
        return Verdict(
            refuse=PORT_IN_USE,
            reason=f"port in use (max-connections {max_connections})",
            kind=REFUSED_MAX_CONNECTIONS,
        )
    return Verdict()


def open_failure(reason: str) -> bytes:
    """What a client hears when the device cannot be opened for it."""
    return OPEN_FAILURE + reason.encode() + b"\r\n"
