"""chardelay: holding device bytes briefly so that they leave in fewer packets.

A serial device hands over a few bytes at a time.  ser2net waits a couple
of character times after each read for more to come, and sends what it
gathered when the line goes quiet, when the buffer is full, or when the
first held byte has waited ``chardelay-max``; ``sendon`` sends at once up to
and including its string.

``CharDelayHold`` is that decision without a clock or a timer: the caller
passes the time and the hold for each chunk, and gets back the bytes to send
now and the moment to flush the rest.
"""

from __future__ import annotations

from typing import List, Optional, Tuple

from pyser2net.config.model import Connection, SerialDevice
from pyser2net.protocol.watch import StringWatch


def chardelay_seconds(conn: Connection, speed: Optional[int] = None) -> float:
    """The hold time for device bytes, as ser2net computes it.

    ``chardelay-scale`` tenths of a character time, bounded by
    ``chardelay-min`` and ``chardelay-max`` (microseconds).
    """
    opts = conn.options
    device = conn.connector.device
    if isinstance(device, SerialDevice):
        s = device.serial
        bits = 1 + s.databits + (0 if s.parity == "none" else 1) + s.stopbits
        baud = speed or s.speed
    else:
        bits, baud = 10, speed or 9600
    usec = bits * 1_000_000 * opts.chardelay_scale / (10 * baud)
    return max(opts.chardelay_min, min(opts.chardelay_max, usec)) / 1_000_000


class CharDelayHold:
    """Device bytes held until the line is quiet.

    ``limit`` is the buffer size (a full buffer goes at once), ``max_hold``
    the longest the first held byte may wait (seconds), ``sendon`` the
    watch of the string that sends at once.
    """

    __slots__ = ("limit", "max_hold", "sendon", "_held", "_size", "_since")

    def __init__(self, limit: int, max_hold: float, sendon: Optional[StringWatch] = None) -> None:
        self.limit = limit
        self.max_hold = max_hold
        self.sendon = sendon if sendon is not None and sendon.needle else None
        # The chunks as read: a console's line, held alone, leaves as the
        # very object read, without a copy into a buffer and out again.
        self._held: List[bytes] = []
        self._size = 0
        self._since = 0.0

    @property
    def held(self) -> int:
        return self._size

    def feed(self, data: bytes, now: float, hold: float) -> Tuple[bytes, Optional[float]]:
        """Take a chunk read at ``now``; ``hold`` is the current chardelay.

        Returns the bytes to send now (possibly empty) and the clock reading
        at which to ``flush()`` what is held, or None when nothing is held.
        """
        out = b""
        if self.sendon is not None:
            cut = self.sendon.feed(data)
            if cut:
                # Up to and including the string goes now; the rest is held.
                out = self.flush() + data[:cut]
                data = data[cut:]
                if not data:
                    return out, None
        at = self.add(data, now, hold)
        if at is None:
            return out + self.flush(), None
        return out, at

    def add(self, data: bytes, now: float, hold: float) -> Optional[float]:
        """``feed`` without ``sendon``: hold ``data``, read at ``now``.

        Returns the clock reading at which to ``flush()``, or None when the
        buffer is full and everything held must go now.  A console server
        calls this for every chunk a device hands over, so it returns one
        value instead of a pair.
        """
        size = self._size
        if not size:
            self._since = now
        self._held.append(data)
        size += len(data)
        self._size = size
        if size >= self.limit:
            return None
        at = now + hold
        cap = self._since + self.max_hold
        return at if at < cap else cap

    def flush(self) -> bytes:
        """Everything held, now (the timer fired, or the port is closing)."""
        held = self._held
        if not held:
            return b""
        data = held[0] if len(held) == 1 else b"".join(held)
        held.clear()
        self._size = 0
        return data

    def reset(self) -> None:
        self._held.clear()
        self._size = 0
        if self.sendon is not None:
            self.sendon.reset()
