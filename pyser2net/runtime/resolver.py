"""Name lookups that never hold up the loop.

``getaddrinfo`` blocks until the resolver answers, and a slow or dead DNS
server makes it wait for the resolver's timeout: seconds, times its
attempts, times its servers.  Done in the loop, that would freeze every
port for as long.  So a host name is looked up in a short-lived child
process (a fresh interpreter, started as the reload's reader is, by
``childread.ChildRead``), while the loop goes on serving; the answer comes
back to the loop as an event, or the child is killed at a deadline and the
lookup fails.  There are no threads in the daemon.

An address written as digits (``127.0.0.1``, ``::1``) needs nobody's
answer: ``numeric`` converts it at once, in process, and the callers then
go on at once, as they did before any lookup was asynchronous.

``NameBook`` holds what one user (a port, a conacc accepter) looked up,
for use at each connect without looking up again; a connect to such an
address that fails has the name looked up again, in the background, for
the next attempt.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import math
import socket
import sys
import weakref
from dataclasses import dataclass
from typing import (
    TYPE_CHECKING,
    Callable,
    Dict,
    Iterable,
    List,
    Optional,
    Sequence,
    Set,
    Tuple,
    Union,
)

from pyser2net.runtime.reactor import Reactor

if TYPE_CHECKING:
    from pyser2net.runtime.childread import ChildRead

log = logging.getLogger(__name__)

#: How long a lookup may take before its child is killed and the lookup
#: fails: longer than the system resolver's own give-up time with its
#: default settings (5 s per try, 2 tries, per server).
LOOKUP_SECONDS = 30.0
#: The most a child may answer (a name has a few dozen addresses at most).
_OUTPUT_LIMIT = 1 << 20


@dataclass(frozen=True)
class Query:
    """One ``getaddrinfo(host, port, family, kind, 0, flags)`` call."""

    host: str
    port: int = 0
    family: int = 0
    kind: int = 0
    flags: int = 0


#: One address found: family, socket type, protocol and socket address.
Address = Tuple[int, int, int, tuple]
#: What a query gives: the addresses found, or why there are none.
Answer = Union[List[Address], str]
#: Told the answers of a lookup, in the order of its queries.
Done = Callable[[List[Answer]], None]

#: What the child runs: the queries (JSON) on its input, the answers (JSON)
#: on its output.  ``-I -S``: nothing but the standard library is loaded,
#: which keeps a lookup's start-up small.  Its one argument is when it ends
#: by itself (an alarm), in case its parent is gone before the deadline: a
#: lookup of a reload's reader, killed at its own deadline, or of a daemon
#: that was killed, is never left waiting on a name server.
_CHILD_CODE = """
import json, signal, socket, sys
signal.alarm(int(sys.argv[1]))
out = []
for host, port, family, kind, flags in json.load(sys.stdin):
    try:
        found = socket.getaddrinfo(host, port, family, kind, 0, flags)
        out.append([[i[0], i[1], i[2], list(i[4])] for i in found])
    except (OSError, UnicodeError) as exc:
        out.append(getattr(exc, "strerror", None) or str(exc) or type(exc).__name__)
json.dump(out, sys.stdout)
"""

#: The lookups under way, per loop (``pending``).
_PENDING: weakref.WeakKeyDictionary[Reactor, Set[Lookup]] = weakref.WeakKeyDictionary()


def numeric(query: Query) -> Optional[List[Address]]:
    """The addresses of a host written as digits, at once; None for a name.

    ``AI_NUMERICHOST`` makes ``getaddrinfo`` parse the text and ask no one.
    An address of another family than the query's has no address of it.
    The text of a host is parsed once per family, socket type and flags
    (``_parse_host``), whatever its port: a start binds each accepter's
    host for every family, and hundreds of ports usually share one host.
    """
    if "%" in query.host:
        # A scope names an interface, which may come or go: parsed each time.
        found = _parse_host.__wrapped__(query.host, query.family, query.kind, query.flags)
    else:
        found = _parse_host(query.host, query.family, query.kind, query.flags)
    if found is None:
        return None
    port = query.port
    return [(fam, kind, proto, addr[:1] + (port,) + addr[2:]) for fam, kind, proto, addr in found]


@functools.lru_cache(maxsize=256)
def _parse_host(host: str, family: int, kind: int, flags: int) -> Optional[Tuple[Address, ...]]:
    """What ``numeric`` finds for ``host`` with port 0.

    An ASCII host goes as the bytes the idna codec would make of it: the
    str would load that codec and unicodedata into the daemon, for nothing.
    """
    text = host.encode("ascii") if host.isascii() else host
    try:
        found = socket.getaddrinfo(
            text, 0, family, kind, 0, flags | socket.AI_NUMERICHOST | socket.AI_NUMERICSERV
        )
    except (OSError, UnicodeError, ValueError):
        try:
            ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return None  # a name
        return ()  # an address, of another family than the one asked for
    return tuple((i[0], i[1], i[2], i[4]) for i in found)


class Lookup:
    """Some queries being answered by a child; ``cancel`` forgets them."""

    def __init__(
        self, reactor: Reactor, queries: Sequence[Query], done: Done, deadline: float
    ) -> None:
        # Loaded by the first lookup: a configuration without host names
        # never starts a child.
        import json

        from pyser2net.runtime.childread import ChildRead

        self.reactor = reactor
        self.queries = tuple(queries)
        self._done: Optional[Done] = done
        _PENDING.setdefault(reactor, set()).add(self)
        request = json.dumps([[q.host, q.port, q.family, q.kind, q.flags] for q in queries])
        self._child: Optional[ChildRead] = ChildRead(
            reactor,
            [sys.executable, "-I", "-S", "-c", _CHILD_CODE, str(math.ceil(deadline) + 1)],
            request.encode(),
            self._finished,
            deadline=deadline,
            limit=_OUTPUT_LIMIT,
        )
        self.pid = self._child.pid

    @property
    def active(self) -> bool:
        return self._done is not None

    def _finished(self, output: Optional[bytes], why: str) -> None:
        self._child = None
        answers = _answers(output, len(self.queries)) if output is not None else None
        if answers is None:
            text = "no answer" if output is not None else why
            if why.startswith("it took longer"):
                text = f"no answer within {why[len('it took longer than ') :]}"
            answers = [text] * len(self.queries)
        done = self._forget()
        if done is not None:
            done(answers)

    def cancel(self) -> None:
        """Kill the child, if it still runs; ``done`` is not called."""
        self._forget()
        if self._child is not None:
            self._child.cancel()
            self._child = None

    def _forget(self) -> Optional[Done]:
        done, self._done = self._done, None
        pending = _PENDING.get(self.reactor)
        if pending is not None:
            pending.discard(self)
        return done


def lookup(
    reactor: Reactor, queries: Sequence[Query], done: Done, deadline: float = LOOKUP_SECONDS
) -> Lookup:
    """Answer ``queries`` in a child; ``done`` gets the answers, from the loop.

    A child that cannot be started, fails, or is still at work after
    ``deadline`` seconds (it is then killed) makes every answer a reason.
    """
    return Lookup(reactor, queries, done, deadline)


def lookup_now(queries: Sequence[Query], deadline: float = LOOKUP_SECONDS) -> List[Answer]:
    """The answers to ``queries``, from a child, waited for; before any loop serves.

    For a question that must be answered before anything is served (the
    configuration reader's "host or mistyped layer?" at first start): the
    child is the one ``lookup`` starts, on a loop of its own that does
    nothing else, so a name server that does not answer holds the caller
    up for ``deadline`` seconds at most, whatever the C library's own
    timeouts.
    """
    answers: List[List[Answer]] = []
    reactor = Reactor()
    try:
        lookup(reactor, queries, answers.append, deadline)
        while not answers:
            reactor.run_once()
    finally:
        reactor.close()
    return answers[0]


def pending(reactor: Reactor) -> Set[Lookup]:
    """The lookups under way on ``reactor`` (a copy)."""
    return set(_PENDING.get(reactor, ()))


def _answers(output: bytes, count: int) -> Optional[List[Answer]]:
    """The child's answers, checked; None when they are not what it writes."""
    import json

    try:
        raw = json.loads(output)
    except ValueError:
        return None
    if not isinstance(raw, list) or len(raw) != count:
        return None
    answers: List[Answer] = []
    for item in raw:
        if isinstance(item, str):
            answers.append(item)
            continue
        if not isinstance(item, list):
            return None
        try:
            answers.append([(int(f), int(t), int(p), tuple(addr)) for f, t, p, addr in item])
        except (TypeError, ValueError):
            return None
    return answers


def first_address(answer: Answer) -> Optional[Address]:
    """The address a connect uses: the first found, as ``getaddrinfo`` orders them."""
    return answer[0] if not isinstance(answer, str) and answer else None


class NameBook:
    """The answers to a fixed set of queries: looked up at start, kept for
    use at each connect, and looked up again on demand (``refresh``).

    A query whose host is written as digits is answered at once.  The
    rest are looked up together by ``look_up``; ``refresh`` looks one up
    again in the background (at most one lookup per query at a time) and
    keeps the addresses it had when the new lookup fails.
    """

    def __init__(self, reactor: Reactor, queries: Iterable[Query]) -> None:
        self.reactor = reactor
        self.answers: Dict[Query, Answer] = {}
        self._names: List[Query] = []
        for query in dict.fromkeys(queries):
            found = numeric(query)
            if found is None:
                self._names.append(query)
            else:
                self.answers[query] = found
        self._lookups: Dict[Optional[Query], Lookup] = {}

    @property
    def needs_lookup(self) -> bool:
        """Some host is a name that was not looked up yet."""
        return any(q not in self.answers for q in self._names)

    @property
    def starting(self) -> bool:
        """``look_up`` is under way."""
        return None in self._lookups

    def unanswered(self) -> List[Query]:
        """The names not looked up yet."""
        return [q for q in self._names if q not in self.answers]

    def look_up(self, done: Callable[[], None]) -> None:
        """Look up every name not answered yet, in one child; then ``done()``."""
        queries = self.unanswered()
        if not queries:
            done()
            return

        def found(answers: List[Answer]) -> None:
            self._lookups.pop(None, None)
            self.answers.update(zip(queries, answers))
            done()

        self._lookups[None] = lookup(self.reactor, queries, found)

    def get(self, query: Query) -> Answer:
        """The addresses of ``query``, or why there are none."""
        return self.answers.get(query, "not looked up yet")

    def refresh(self, query: Query) -> None:
        """Look ``query`` up again in the background (a name only, one at a time)."""
        if query not in self._names or query in self._lookups or None in self._lookups:
            return

        def found(answers: List[Answer]) -> None:
            self._lookups.pop(query, None)
            answer = answers[0]
            if isinstance(answer, str) and not isinstance(self.answers.get(query, ""), str):
                log.info(
                    "looking up %s again failed (%s): the addresses found before stay",
                    query.host,
                    answer,
                )
                return
            self.answers[query] = answer

        self._lookups[query] = lookup(self.reactor, [query], found)

    def cancel(self) -> None:
        for pending_lookup in self._lookups.values():
            pending_lookup.cancel()
        self._lookups = {}
