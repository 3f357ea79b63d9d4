"""A small inotify watch (Linux), for noticing that a device node was opened
or that one appeared.

A pty master cannot be told "the slave was opened" by the poller while it
is hung up: it reports POLLHUP, level-triggered, until someone opens the
slave, so it cannot stay in the poller.  inotify reports every open and
close of the slave's node as an event on a descriptor of its own, which
the loop can wait on; without inotify (not Linux, or no more watches) the
caller polls instead.

Python's standard library has no inotify binding, hence ctypes.
"""

from __future__ import annotations

import ctypes
import os
from typing import Optional

IN_ACCESS = 0x001
IN_ATTRIB = 0x004
IN_CLOSE_WRITE = 0x008
IN_CLOSE_NOWRITE = 0x010
IN_OPEN = 0x020
IN_MOVED_TO = 0x080
IN_CREATE = 0x100

#: What a device node's users do that matters to its other end.
OPEN_AND_CLOSE = IN_OPEN | IN_CLOSE_WRITE | IN_CLOSE_NOWRITE
#: What happens in a directory when a device node (or a link to one) appears,
#: or udev gives it its owner and mode.
NODE_APPEARS = IN_CREATE | IN_MOVED_TO | IN_ATTRIB


class Inotify:
    """One inotify descriptor watching one path; read it when it is readable."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    @classmethod
    def watch(cls, path: str, mask: int = OPEN_AND_CLOSE) -> Optional[Inotify]:
        """A watch on ``path``, or None where inotify is not available."""
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            init, add = libc.inotify_init1, libc.inotify_add_watch
        except (OSError, AttributeError):
            return None
        fd = init(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            return None
        if add(fd, os.fsencode(path), ctypes.c_uint32(mask)) < 0:
            os.close(fd)
            return None
        return cls(fd)

    def drain(self) -> bool:
        """Read (and forget) the queued events; True when there were any."""
        seen = False
        while True:
            try:
                if not os.read(self.fd, 4096):
                    return seen
            except BlockingIOError:
                return seen
            except OSError:
                return seen
            seen = True

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
