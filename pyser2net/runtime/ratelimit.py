"""Error logging that cannot flood the disk."""

from __future__ import annotations

import logging
from typing import Callable, Dict, Optional

log = logging.getLogger("pyser2net.runtime.port")


class RateLimitedLog:
    """Logs an error, but the same error only once a minute.

    A device that keeps failing, or a client that keeps reconnecting into
    the same failure, must not fill the disk with identical lines.
    """

    INTERVAL = 60.0

    def __init__(self, prefix: str, clock: Callable[[], float]) -> None:
        self.prefix = prefix
        self.clock = clock
        self._last: Dict[str, float] = {}
        self._suppressed: Dict[str, int] = {}

    def log(self, message: str, *, key: Optional[str] = None, level: int = logging.ERROR) -> None:
        """Log ``message`` unless the same ``key`` (the message itself by
        default) was logged less than INTERVAL ago.

        A key lets messages that differ in a detail count as one: a refused
        client's port number changes with every attempt, its host does not.
        """
        key = message if key is None else key
        now = self.clock()
        last = self._last.get(key)
        if last is not None and now - last < self.INTERVAL:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return
        count = self._suppressed.pop(key, 0)
        suffix = f" (repeated {count} more times)" if count else ""
        log.log(level, "%s%s%s", self.prefix, message, suffix)
        self._last[key] = now
        if len(self._last) > 64:  # bound the memory of distinct messages
            oldest = min(self._last, key=self._last.__getitem__)
            del self._last[oldest]
            self._suppressed.pop(oldest, None)
