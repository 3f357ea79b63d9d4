"""``closeon`` and ``sendon``: finding a string in a byte stream."""

from __future__ import annotations

from typing import Optional


def render_simple(text: str) -> bytes:
    """A string option with its C escapes applied and no substitutions."""
    # Loaded by the first connection with closeon or sendon set.
    from pyser2net.protocol import templates

    return templates.render(text, templates.StringContext())


class StringWatch:
    """Finds a string in a byte stream, across chunk boundaries.

    Only the last ``len(string) - 1`` bytes are kept between chunks, so
    memory stays bounded whatever the stream.
    """

    __slots__ = ("needle", "_tail")

    def __init__(self, text: Optional[str]) -> None:
        self.needle = render_simple(text) if text else b""
        self._tail = b""

    def feed(self, data: bytes) -> int:
        """How many bytes of ``data`` end with the string (0: not seen).

        Counting from the start of ``data``, so a caller can split the
        chunk right after the string.
        """
        if not self.needle:
            return 0
        keep = len(self.needle) - 1
        window = self._tail + data
        at = window.find(self.needle)
        if at < 0:
            self._tail = window[-keep:] if keep else b""
            return 0
        self._tail = b""
        return at + len(self.needle) - len(window) + len(data)

    def reset(self) -> None:
        self._tail = b""
