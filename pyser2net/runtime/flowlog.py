"""``-l -l``: how much data each port moves, a line a second while it moves.

The data path already counts what every port writes to and reads from its
device (``showport`` prints the totals).  This samples those counters once
a second, so the summary adds nothing to the data path, and without
``-l -l`` nothing runs at all.  Only amounts are logged, never the data.
The counters start again when the device closes, so the bytes of a second
in which that happens are counted from the close on.
"""

from __future__ import annotations

import logging
from typing import Callable, Dict, Iterable, Optional, Protocol, Tuple

from pyser2net.runtime.logsinks import TRAFFIC
from pyser2net.runtime.reactor import Reactor, Timer

log = logging.getLogger(__name__)


class Counted(Protocol):
    """What the summary reads of a port."""

    @property
    def bytes_to_device(self) -> int: ...

    @property
    def bytes_from_device(self) -> int: ...


class FlowLog:
    """Logs, every INTERVAL seconds, the bytes each busy port moved."""

    INTERVAL = 1.0

    def __init__(
        self, reactor: Reactor, ports: Callable[[], Iterable[Tuple[str, Counted]]]
    ) -> None:
        self._reactor = reactor
        self._ports = ports
        # Keyed by the port object: a port replaced by a reload starts afresh.
        self._seen: Dict[Counted, Tuple[int, int]] = {}
        self._since = 0.0
        self._timer: Optional[Timer] = None

    @staticmethod
    def wanted() -> bool:
        return logging.getLogger("pyser2net").isEnabledFor(TRAFFIC)

    def start(self) -> None:
        self._since = self._reactor.now()
        self._seen = {port: _counts(port) for _, port in self._ports()}
        self._timer = self._reactor.call_later(self.INTERVAL, self._tick)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _tick(self) -> None:
        now = self._reactor.now()
        elapsed = now - self._since
        seen: Dict[Counted, Tuple[int, int]] = {}
        for name, port in self._ports():
            counts = _counts(port)
            before = self._seen.get(port, (0, 0))
            seen[port] = counts
            # The counters start again at 0 when the device closes (they are
            # per session, as showport shows them): then count from there.
            to_device, from_device = (
                cur - prev if cur >= prev else cur for cur, prev in zip(counts, before)
            )
            if to_device or from_device:
                log.log(
                    TRAFFIC,
                    "%s: data flow: %d bytes to the device, %d bytes from the device in %.2f s",
                    name,
                    to_device,
                    from_device,
                    elapsed,
                )
        self._seen = seen
        self._since = now
        self._timer = self._reactor.call_later(self.INTERVAL, self._tick)


def _counts(port: Counted) -> Tuple[int, int]:
    return port.bytes_to_device, port.bytes_from_device
