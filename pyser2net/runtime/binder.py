"""Keeping a listener bound: at once, or as soon as the address lets us.

At boot the address of an accepter may not be configured yet, or the port
may still be held (by ser2net, say, or by our own previous instance).
ser2net retries such an accepter every ``accepter-retry-time`` seconds and
serves the port as soon as the bind works; so does a ``Binder``.  The first
failure is logged at once, with the process that holds the port when that
can be found; the following ones only when the reason changes, and
otherwise once a minute, so that a port that never comes does not fill the
log.
"""

from __future__ import annotations

import logging
from typing import Callable, List, Optional, Protocol, Tuple

from pyser2net.config.model import Accepter
from pyser2net.runtime.listeners import BindError
from pyser2net.runtime.reactor import Reactor, Timer
from pyser2net.runtime.sockowner import describe_holders

log = logging.getLogger(__name__)


class Listener(Protocol):
    accepter: Accepter
    partial: List[Tuple[str, OSError]]

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def addresses(self) -> List[str]: ...


class Binder:
    """Binds ``listener`` now, or retries every ``interval`` seconds until it works."""

    #: A failure that repeats with the same reason is logged this often.
    REPEAT_SECONDS = 60.0

    def __init__(
        self,
        reactor: Reactor,
        listener: Listener,
        name: str,
        interval: float,
        on_bound: Optional[Callable[[], None]] = None,
    ) -> None:
        self.reactor = reactor
        self.listener = listener
        #: How log lines start: a connection name, ``rotator NAME``, ``admin port``.
        self.name = name
        self.interval = max(float(interval), 1.0)
        self.on_bound = on_bound
        self.bound = False
        #: Failed attempts since the last successful bind.
        self.failures = 0
        self._timer: Optional[Timer] = None
        self._logged: Optional[Tuple[str, float]] = None

    @property
    def waiting(self) -> bool:
        """Not bound, and trying again."""
        return self._timer is not None

    def start(self) -> bool:
        """Try to bind; on failure log why and keep trying.  True when bound."""
        self._cancel()
        self.failures = 0
        self._logged = None
        return self._attempt()

    def try_once(self) -> Optional[str]:
        """Bind now without retrying (the admin ``setportenable``); the error, if any."""
        self._cancel()
        try:
            self.listener.start()
        except (BindError, OSError) as exc:
            return str(exc)
        self.bound = True
        return None

    def stop(self) -> None:
        self._cancel()
        self.listener.stop()
        self.bound = False

    def listening_text(self) -> str:
        """``127.0.0.1:2000 (telnet,tcp,127.0.0.1,2000)``, naming addresses that failed."""
        acc = self.listener.accepter
        text = f"{', '.join(self.listener.addresses())} ({acc.text})"
        for where, exc in self.listener.partial:
            text += f", not on {where}: {exc.strerror or exc}"
        return text

    def _attempt(self) -> bool:
        self._timer = None
        try:
            self.listener.start()
        except (BindError, OSError) as exc:
            self.failures += 1
            self._report(exc)
            self._timer = self.reactor.call_later(self.interval, self._retry)
            return False
        self.bound = True
        return True

    def _retry(self) -> None:
        failures = self.failures
        if self._attempt():
            log.info(
                "%s: listening on %s, after %d failed attempt%s",
                self.name,
                self.listening_text(),
                failures,
                "" if failures == 1 else "s",
            )
            if self.on_bound is not None:
                self.on_bound()

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _report(self, exc: Exception) -> None:
        reason = str(exc) or type(exc).__name__
        now = self.reactor.now()
        if self._logged is not None:
            last_reason, last_time = self._logged
            if reason == last_reason and now - last_time < self.REPEAT_SECONDS:
                return
        self._logged = (reason, now)
        acc = self.listener.accepter
        where, why = acc.text, reason
        if isinstance(exc, BindError) and exc.failures:
            texts = {e.strerror or str(e) for _, e in exc.failures}
            if len(texts) == 1:
                where = f"{', '.join(a for a, _ in exc.failures)} ({acc.text})"
                why = texts.pop()
            if exc.in_use():
                holders = describe_holders(acc.port, acc.transport, acc.host)
                if holders:
                    why += f", {holders}"
        attempts = f" ({self.failures} attempts)" if self.failures > 1 else ""
        log.error(
            "%s: cannot listen on %s: %s%s; retrying every %g s",
            self.name,
            where,
            why,
            attempts,
            self.interval,
        )


__all__ = ["Binder"]
