"""Keeping a listener bound: at once, or as soon as the address lets us.

At boot the address of an accepter may not be configured yet, or the port
may still be held (by ser2net, say, or by our own previous instance).
ser2net retries such an accepter every ``accepter-retry-time`` seconds and
serves the port as soon as the bind works; so does a ``Binder``.  The first
failure is logged at once, with the process that holds the port when that
can be found; the following ones only when the reason changes, and
otherwise once a minute, so that a port that never comes does not fill the
log.

An accepter that names a host (``tcp,myhost,2000``) is looked up before
each attempt, in a child process (``resolver.py``): the loop goes on
serving the other ports while the name server takes its time, and the
socket is bound when the answer comes.  A name that cannot be looked up
fails the attempt like an address that cannot be bound, and is retried;
but each lookup is a process started, so while the name stays unknown
the retries come less and less often: after ``accepter-retry-time``,
then twice that, and so on up to once a minute.  A lookup that finds the
name brings the interval back to ``accepter-retry-time``.
"""

from __future__ import annotations

import logging
from typing import Callable, List, Optional, Protocol, Sequence, Tuple

from pyser2net.config.model import Accepter
from pyser2net.runtime.listeners import BindError, accepter_queries, needs_lookup
from pyser2net.runtime.reactor import Reactor, Timer
from pyser2net.runtime.resolver import Answer, Lookup, lookup

log = logging.getLogger(__name__)


class Listener(Protocol):
    accepter: Accepter
    partial: List[Tuple[str, OSError]]

    def start(self, answers: Optional[Sequence[Answer]] = None) -> None: ...

    def stop(self) -> None: ...

    def addresses(self) -> List[str]: ...


class Binder:
    """Binds ``listener`` now, or retries every ``interval`` seconds until it works."""

    #: A failure that repeats with the same reason is logged this often.
    REPEAT_SECONDS = 60.0
    #: The longest wait between two lookups of a name that cannot be found
    #: (unless ``interval`` is longer).
    LOOKUP_BACKOFF_SECONDS = 60.0

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
        #: The host name being looked up for the next attempt.
        self._lookup: Optional[Lookup] = None
        #: What the host name was last found to be.
        self._answers: Optional[List[Answer]] = None
        #: Lookups of the host name in a row that found nothing.
        self.lookup_failures = 0

    @property
    def waiting(self) -> bool:
        """Not bound, and trying again."""
        return self._timer is not None

    @property
    def looking_up(self) -> bool:
        """The accepter's host name is being looked up, to bind when it is found."""
        return self._lookup is not None

    def start(self) -> bool:
        """Try to bind; on failure log why and keep trying.  True when bound.

        False too while the host name is looked up: the socket is bound
        (and ``on_bound`` called) when the answer comes, or the failure
        logged and retried.
        """
        self._cancel()
        self.failures = 0
        self.lookup_failures = 0
        self._logged = None
        return self._attempt()

    def try_once(self) -> Optional[str]:
        """Bind now without retrying (the admin ``setportenable``); the error, if any.

        A host name is not looked up again: the addresses it was found to
        be are bound.  If it never was, it is looked up and bound as by
        ``start``, and the log tells how that went.
        """
        self._cancel()
        if needs_lookup(self.listener.accepter) and self._answers is None:
            self.start()
            return None
        try:
            self.listener.start(self._answers)
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
        acc = self.listener.accepter
        if needs_lookup(acc):
            log.log(
                logging.DEBUG if self.failures else logging.INFO,
                "%s: looking up %s before listening",
                self.name,
                acc.host,
            )
            self._lookup = lookup(self.reactor, accepter_queries(acc), self._found)
            return False
        return self._bind(None)

    def _found(self, answers: List[Answer]) -> None:
        """The host name's lookup is done: bind what was found."""
        self._lookup = None
        if any(not isinstance(a, str) for a in answers):
            self._answers = answers
            self.lookup_failures = 0
        else:
            self.lookup_failures += 1
        self._bound_later(self._bind(answers))

    def _bind(self, answers: Optional[Sequence[Answer]]) -> bool:
        try:
            self.listener.start(answers)
        except (BindError, OSError) as exc:
            self.failures += 1
            self._report(exc)
            self._timer = self.reactor.call_later(self.retry_delay(), self._retry)
            return False
        self.bound = True
        return True

    def retry_delay(self) -> float:
        """How long until the next attempt: ``interval``, doubled for each
        lookup in a row beyond the first that found nothing, up to
        ``LOOKUP_BACKOFF_SECONDS``."""
        if self.lookup_failures <= 1:
            return self.interval
        cap = max(self.interval, self.LOOKUP_BACKOFF_SECONDS)
        return min(self.interval * 2.0 ** min(self.lookup_failures - 1, 32), cap)

    def _retry(self) -> None:
        self._bound_later(self._attempt())

    def _bound_later(self, bound: bool) -> None:
        """Say so when an attempt that did not bind at once (a retry, a
        lookup) did."""
        if not bound:
            return
        failures = self.failures
        after = f", after {failures} failed attempt{'' if failures == 1 else 's'}"
        log.info(
            "%s: listening on %s%s", self.name, self.listening_text(), after if failures else ""
        )
        if self.on_bound is not None:
            self.on_bound()

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._lookup is not None:
            self._lookup.cancel()
            self._lookup = None

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
                # Only a port that cannot listen asks who holds its address.
                from pyser2net.runtime.sockowner import describe_holders

                holders = describe_holders(acc.port, acc.transport, acc.host)
                if holders:
                    why += f", {holders}"
        attempts = f" ({self.failures} attempts)" if self.failures > 1 else ""
        if self.lookup_failures:
            when = f"retrying in {self.retry_delay():g} s, less often while the name is unknown"
        else:
            when = f"retrying every {self.interval:g} s"
        log.error("%s: cannot listen on %s: %s%s; %s", self.name, where, why, attempts, when)


__all__ = ["Binder"]
