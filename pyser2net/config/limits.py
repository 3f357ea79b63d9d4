"""Bounds on the work a configuration file can make the readers do.

A configuration is trusted to be what the administrator meant, not to be
small or sane: a typo, a file that includes itself, ``include: /dev/zero``
or a define that doubles itself ten times must end in an error message,
never in a reader that hangs, fills memory or dies with a traceback.
ser2net has fixed buffers that do the same job; these limits are far above
anything a real configuration needs (the largest known ones are a few
hundred kilobytes with a few dozen files).

Everything a configuration reads or expands is charged to one ``Budget``:
the files it opens (the file itself, includes, ``*{file}`` inserts), the
bytes they hold, and the characters ``*(name)`` and ``*{file}``
substitutions produce.  Only regular files are read: a FIFO, a device or a
directory is refused before a byte is read, so ``include:`` of a FIFO
cannot block and ``/dev/zero`` cannot be read forever.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import BinaryIO, Optional

#: One file (the configuration, an include, a ``*{file}`` insert).
MAX_FILE_BYTES = 4 * 1024 * 1024
#: Files one configuration reads in all, includes and inserts counted.
MAX_FILES = 1000
#: Bytes of all those files together.
MAX_TOTAL_BYTES = 32 * 1024 * 1024
#: One value after substitution of ``*(name)`` and ``*{file}``.
MAX_VALUE_CHARS = 1024 * 1024
#: All substitutions of one configuration together.
MAX_EXPANDED_CHARS = 64 * 1024 * 1024
#: A number in a configuration (more is a typo: ser2net's fields are 32 or
#: 64 bits, and Python refuses to convert numbers of 4300 digits and more).
MAX_NUMBER_DIGITS = 40


class LimitExceeded(Exception):
    """What a file asked for is beyond a bound; ``str()`` says which, in a line."""


class BudgetExhausted(LimitExceeded):
    """The configuration as a whole has read or expanded too much."""


def _mib(n: int) -> str:
    return f"{n // (1024 * 1024)} MiB"


class Budget:
    """What one configuration has read and expanded so far."""

    def __init__(self) -> None:
        self.files = 0
        self.bytes = 0
        self.expanded = 0

    def charge_file(self, size: int) -> None:
        self.files += 1
        self.bytes += size
        if self.files > MAX_FILES:
            raise BudgetExhausted(
                f"more than {MAX_FILES} files read for one configuration "
                "(does a file include itself?)"
            )
        if self.bytes > MAX_TOTAL_BYTES:
            raise BudgetExhausted(
                f"more than {_mib(MAX_TOTAL_BYTES)} read for one "
                "configuration (does a file include itself?)"
            )

    @staticmethod
    def check_value(chars: int) -> None:
        if chars > MAX_VALUE_CHARS:
            raise LimitExceeded(
                f"the value grows beyond {_mib(MAX_VALUE_CHARS)} once "
                "its defines and files are substituted"
            )

    def charge_expansion(self, chars: int) -> None:
        self.check_value(chars)
        self.expanded += chars
        if self.expanded > MAX_EXPANDED_CHARS:
            raise BudgetExhausted(
                f"substitutions produce more than "
                f"{_mib(MAX_EXPANDED_CHARS)} in all (does a define repeat "
                "another many times?)"
            )


def read_file_text(path: str, budget: Optional[Budget] = None, *, regular_only: bool = True) -> str:
    """The text of a file of at most MAX_FILE_BYTES, charged to ``budget``.

    With ``regular_only`` (files a configuration names) the file is opened
    without blocking and checked with ``fstat`` before anything is read, so
    a FIFO or a device is refused at once.  Without it (the file given on
    the command line, which may well be a pipe) only directories are
    refused, and reading still stops after MAX_FILE_BYTES.  Bytes that are
    not UTF-8 are kept as surrogates, for the readers to point at.  Raises
    OSError (cannot open) or LimitExceeded.
    """
    flags = os.O_RDONLY | os.O_NOCTTY | os.O_CLOEXEC
    fd = os.open(path, flags | os.O_NONBLOCK if regular_only else flags)
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
        if regular_only and not stat.S_ISREG(info.st_mode):
            raise LimitExceeded("not a regular file (a FIFO, socket or device is never read)")
        if info.st_size > MAX_FILE_BYTES:
            raise LimitExceeded(f"larger than {_mib(MAX_FILE_BYTES)}")
        f = os.fdopen(fd, "rb")
        fd = -1
        with f:
            return read_stream(f, budget)
    finally:
        if fd >= 0:
            os.close(fd)


def read_stream(stream: BinaryIO, budget: Optional[Budget] = None) -> str:
    """At most MAX_FILE_BYTES of ``stream`` (standard input, say), as text."""
    data = _read_at_most(stream, MAX_FILE_BYTES)
    if len(data) > MAX_FILE_BYTES:
        raise LimitExceeded(f"larger than {_mib(MAX_FILE_BYTES)}")
    if budget is not None:
        budget.charge_file(len(data))
    return data.decode("utf-8", "surrogateescape")


def _read_at_most(f: BinaryIO, limit: int) -> bytes:
    """Up to ``limit + 1`` bytes, enough to tell that a file is too big."""
    chunks = []
    left = limit + 1
    while left > 0:
        chunk = f.read(min(left, 1024 * 1024))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def decimal(text: str) -> Optional[int]:
    """``text`` as a plain decimal number (ASCII digits only), None if it is not one
    or has more than MAX_NUMBER_DIGITS digits."""
    if not (text.isascii() and text.isdigit()) or len(text) > MAX_NUMBER_DIGITS:
        return None
    return int(text)


def one_line(exc: BaseException) -> str:
    """An unexpected exception as one short line for an error message."""
    text = " ".join(str(exc).split())
    if len(text) > 200:
        text = text[:200] + "..."
    name = type(exc).__name__
    return f"{name}: {text}" if text else name
