"""Checks that need a whole connection, or all of them, rather than one value.

The parsers read each value where it is written; what can only be judged
from several values together (an accepter and an option, two connections
on one port) is checked here, once, for both configuration formats.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import List, Optional, Sequence

from pyser2net.config.errors import ConfigIssue
from pyser2net.config.model import Accepter, Admin, Connection, Position, Rotator


@dataclass(frozen=True)
class _Listener:
    """Something that listens: a connection, a rotator or the admin port."""

    what: str
    accepter: Accepter
    position: Optional[Position]


def config_issues(connections: Sequence[Connection], rotators: Sequence[Rotator] = (),
                  admin: Optional[Admin] = None) -> List[ConfigIssue]:
    """Every problem that only shows when the configuration is seen whole."""
    issues: List[ConfigIssue] = []
    for conn in connections:
        if conn.accepter.telnet and conn.connect_backs:
            # ser2net stacks the accepter's telnet layer on each connect-back;
            # pyser2net would dial out in raw mode.
            issues.append(ConfigIssue(
                conn.position, f"connection {conn.name}: connecting back (connback, or "
                "remaddr '!') through a telnet accepter is not supported yet in pyser2net "
                "(use a raw tcp or udp accepter for this connection)"))
    listeners = [_Listener(f"connection {c.name}", c.accepter, c.position)
                 for c in connections if c.enable]
    listeners += [_Listener(f"rotator {r.name}", r.accepter, r.position) for r in rotators]
    if admin is not None:
        listeners.append(_Listener("the admin port", admin.accepter, admin.position))
    issues.extend(_address_conflicts(listeners))
    return issues


def _address_conflicts(listeners: Sequence[_Listener]) -> List[ConfigIssue]:
    """Two accepters on one address and port: the second could never listen
    (ser2net reports it when starting and serves only the first)."""
    issues: List[ConfigIssue] = []
    for i, later in enumerate(listeners):
        for earlier in listeners[:i]:
            if _overlap(earlier.accepter, later.accepter):
                acc = later.accepter
                where = f" on {acc.host}" if acc.host else ""
                at = f" (at {earlier.position})" if earlier.position else ""
                issues.append(ConfigIssue(
                    later.position, f"{later.what}: {acc.transport} port {acc.port}{where} is "
                    f"already taken by {earlier.what}{at}; two accepters cannot listen on the "
                    "same address and port"))
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


def _normal(host: str) -> str:
    try:
        return str(ipaddress.ip_address(host.split("%", 1)[0]))
    except ValueError:
        return host.lower()
