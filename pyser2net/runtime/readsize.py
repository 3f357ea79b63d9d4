"""How many bytes to ask for in the next read of a socket or device.

Python allocates the whole buffer a read asks for before the kernel fills
it, and gives the rest back afterwards.  Asking for 64 KiB to receive the
single byte of a keystroke made that allocation a measurable part of the
latency (about 4 % of a one-way trip on an idle machine), so reads start
small, grow while the data keeps filling them, and only go back to small
after a read as short as typed input: a device that hands over 4 KiB at a
time keeps getting large reads, and a large read may return more.
"""

from __future__ import annotations

#: The first read size, and the size returned to after a short read.
START = 4096
#: A read of at most this many bytes is interactive traffic.
SHORT = 512


class ReadSize:
    """Doubles while reads come back full, up to ``limit`` (the bufsize)."""

    __slots__ = ("size", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = min(START, limit)

    def update(self, got: int) -> None:
        """Call with what the last read of ``size`` bytes returned."""
        if got >= self.size:
            self.size = min(self.size * 2, self.limit)
        elif got <= SHORT and self.size > START:
            self.size = START
