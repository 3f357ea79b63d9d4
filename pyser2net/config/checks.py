"""Checks that need a whole connection, or all of them, rather than one value.

The parsers read each value where it is written; what can only be judged
from several values together (an accepter and an option, two connections
on one port) is checked here, once, for both configuration formats.
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass, field, replace
from typing import Collection, Dict, List, Optional, Sequence, Tuple, Union

from pyser2net.config.errors import ConfigIssue
from pyser2net.config.model import (
    Accepter,
    Admin,
    Config,
    Connection,
    ConnectionOptions,
    Connector,
    Led,
    Position,
    Rotator,
    SerialDevice,
)
from pyser2net.config.result import LoadResult, Rejected

#: What a problem found here belongs to.
Entry = Union[Connection, Rotator, Admin]


@dataclass(frozen=True)
class _Listener:
    """Something that listens: a connection, a rotator or the admin port."""

    what: str
    accepter: Accepter
    position: Optional[Position]
    entry: Entry = field(compare=False)


def device_loss_problem(connector: Connector, options: ConnectionOptions) -> Optional[str]:
    """Why ``device-loss: hold`` cannot apply to this connector, or None."""
    if options.device_loss != "hold":
        return None
    if not isinstance(connector.device, SerialDevice):
        return "device-loss: hold applies to serial devices only"
    if connector.keepopen is not None:
        return (
            "device-loss: hold and keepopen(...) both say what happens while the device "
            "is away; keep one of them"
        )
    if connector.link:
        return "device-loss: hold is not supported under link layers (relpkt, msgdelim, serialtcp)"
    return None


def config_issues(
    connections: Sequence[Connection],
    rotators: Sequence[Rotator] = (),
    admin: Optional[Admin] = None,
) -> List[ConfigIssue]:
    """Every problem that only shows when the configuration is seen whole."""
    return [issue for _, issue in _problems(connections, rotators, admin)]


@dataclass
class SortedOut:
    """A configuration without the entries that ``config_issues`` finds fault with."""

    connections: List[Connection]
    rotators: List[Rotator]
    admin: Optional[Admin]
    issues: List[ConfigIssue]
    rejected: List[Rejected]


def sort_out(
    connections: Sequence[Connection],
    rotators: Sequence[Rotator] = (),
    admin: Optional[Admin] = None,
) -> SortedOut:
    """Each problem costs the entry it is about: the second of two accepters on
    one port, say, as ser2net serves only the first."""
    problems = _problems(connections, rotators, admin)
    bad = {id(entry) for entry, _ in problems}
    rejected = [Rejected("connection", c.name, c.position) for c in connections if id(c) in bad]
    rejected += [Rejected("rotator", r.name, r.position) for r in rotators if id(r) in bad]
    return SortedOut(
        connections=[c for c in connections if id(c) not in bad],
        rotators=[r for r in rotators if id(r) not in bad],
        admin=admin if admin is None or id(admin) not in bad else None,
        issues=[issue for _, issue in problems],
        rejected=rejected,
    )


#: A rotator as read, with its members' names and where each is written.
ReadRotator = Tuple[Rotator, Sequence[Tuple[str, Position]]]


@dataclass
class Members:
    """The rotators to serve, each with only the connections that are served.

    ``missing`` says, for each member left out, where it is written and
    why; ``empty`` lists the rotators left with no member, which are not
    served.
    """

    rotators: List[Rotator] = field(default_factory=list)
    missing: List[Tuple[Position, str]] = field(default_factory=list)
    empty: List[Rotator] = field(default_factory=list)


def rotator_members(
    read: Sequence[ReadRotator],
    kept: Sequence[Rotator],
    served: Collection[str],
    declared: Collection[str],
    not_served: str,
    unknown: str,
) -> Members:
    """Keep, of the rotators ``sort_out`` kept, the members in ``served``.

    ``declared`` holds the names of connections that exist but are not
    served.  A member left out is reported with ``not_served`` when it is
    declared, else with ``unknown``: each reader words them in its own
    dialect, with ``{rotator}`` and ``{member}`` (already quoted) in them.
    """
    keep = {id(r) for r in kept}
    out = Members()
    for rotator, members in read:
        if id(rotator) not in keep:
            continue
        known = []
        for member, pos in members:
            if member in served:
                known.append(member)
            else:
                text = not_served if member in declared else unknown
                out.missing.append((pos, text.format(rotator=rotator.name, member=repr(member))))
        if known:
            out.rotators.append(replace(rotator, connections=tuple(known)))
        else:
            out.empty.append(rotator)
    return out


@dataclass
class Reading:
    """What a reader collected from a whole file, before the checks
    between entries; ``finish`` makes the ``LoadResult`` of it."""

    connections: Sequence[Connection]
    rotators: Sequence[ReadRotator]
    admin: Optional[Admin]
    leds: Sequence[Led]
    issues: Sequence[ConfigIssue]
    rejected: Sequence[Rejected]
    #: Names of the connections read but not served (errors in them).
    declared: Collection[str]
    #: False when part of the text could not be read (see ``LoadResult``).
    complete: bool = True

    def finish(self, not_served: str, unknown: str) -> LoadResult:
        """Each problem between entries costs its entry (``sort_out``);
        rotators keep the members that are served (reported with
        ``not_served`` or ``unknown``, see ``rotator_members``), and one
        left with none is not served."""
        out = sort_out(self.connections, [r for r, _ in self.rotators], self.admin)
        lost = {g.name for g in out.rejected if g.kind == "connection" and g.name is not None}
        members = rotator_members(
            self.rotators,
            out.rotators,
            {c.name for c in out.connections},
            {*self.declared, *lost},
            not_served,
            unknown,
        )
        empty = "none of its connections is served"
        return LoadResult(
            config=Config(
                connections=tuple(out.connections),
                rotators=tuple(members.rotators),
                leds=tuple(self.leds),
                admin=out.admin,
            ),
            issues=(
                *self.issues,
                *out.issues,
                *(ConfigIssue(pos, text) for pos, text in members.missing),
            ),
            rejected=(
                *self.rejected,
                *out.rejected,
                *(Rejected("rotator", r.name, r.position, empty) for r in members.empty),
            ),
            complete=self.complete,
        )


def _problems(
    connections: Sequence[Connection], rotators: Sequence[Rotator], admin: Optional[Admin]
) -> List[Tuple[Entry, ConfigIssue]]:
    problems: List[Tuple[Entry, ConfigIssue]] = []
    for conn in connections:
        if conn.accepter.telnet and conn.connect_backs:
            # ser2net stacks the accepter's telnet layer on each connect-back;
            # pyser2net would dial out in raw mode.
            problems.append(
                (
                    conn,
                    ConfigIssue(
                        conn.position,
                        f"connection {conn.name}: connecting back (connback, or "
                        "remaddr '!') through a telnet accepter is not supported yet in pyser2net "
                        "(use a raw tcp or udp accepter for this connection)",
                    ),
                )
            )
    listeners = [
        _Listener(f"connection {c.name}", c.accepter, c.position, c)
        for c in connections
        if c.enable
    ]
    listeners += [_Listener(f"rotator {r.name}", r.accepter, r.position, r) for r in rotators]
    if admin is not None:
        listeners.append(_Listener("the admin port", admin.accepter, admin.position, admin))
    problems.extend(_address_conflicts(listeners))
    return problems


def _address_conflicts(listeners: Sequence[_Listener]) -> List[Tuple[Entry, ConfigIssue]]:
    """Two accepters on one address and port: the second could never listen
    (ser2net reports it when starting and serves only the first)."""
    issues: List[Tuple[Entry, ConfigIssue]] = []
    # Only accepters of one transport and port can clash, and among those
    # only a wildcard or the same host: looking only there keeps a file of
    # thousands of connections linear.  Each list is in file order.
    by_port: Dict[Tuple[str, int], List[Tuple[int, _Listener]]] = {}
    by_host: Dict[Tuple[str, int, Optional[str]], List[Tuple[int, _Listener]]] = {}
    for index, later in enumerate(listeners):
        acc = later.accepter
        host = None if acc.host is None else _normal(acc.host)
        if host is None:
            candidates = list(by_port.get((acc.transport, acc.port), ()))
        else:
            candidates = sorted(
                by_host.get((acc.transport, acc.port, None), [])
                + by_host.get((acc.transport, acc.port, host), []),
                key=lambda item: item[0],
            )
        by_port.setdefault((acc.transport, acc.port), []).append((index, later))
        by_host.setdefault((acc.transport, acc.port, host), []).append((index, later))
        for _index, earlier in candidates:
            if _overlap(earlier.accepter, later.accepter):
                acc = later.accepter
                where = f" on {acc.host}" if acc.host else ""
                at = f" (at {earlier.position})" if earlier.position else ""
                issues.append(
                    (
                        later.entry,
                        ConfigIssue(
                            later.position,
                            f"{later.what}: {acc.transport} port {acc.port}{where} is "
                            f"already taken by {earlier.what}{at}; "
                            "two accepters cannot listen on the same address and port",
                        ),
                    )
                )
                break
    return issues


def _family(acc: Accepter) -> Optional[str]:
    """ipv4, ipv6, or None for both (a dual-stack wildcard, or a host name)."""
    if acc.family is not None or acc.host is None:
        return acc.family
    try:
        return f"ipv{ipaddress.ip_address(acc.host.split('%', 1)[0]).version}"
    except ValueError:
        return None


def _overlap(a: Accepter, b: Accepter) -> bool:
    if a.transport != b.transport or a.port != b.port or a.port == 0:
        return False
    fa, fb = _family(a), _family(b)
    if fa is not None and fb is not None and fa != fb:
        return False
    if a.host is None or b.host is None:
        return True  # a wildcard takes the port on every address of its family
    return _normal(a.host) == _normal(b.host)


@functools.lru_cache(maxsize=1024)
def _normal(host: str) -> str:
    """The host as one text per address (``::0001`` is ``::1``); a name in
    lower case.  Kept per host: the ports of a file share a few hosts."""
    try:
        return str(ipaddress.ip_address(host.split("%", 1)[0]))
    except ValueError:
        return host.lower()
