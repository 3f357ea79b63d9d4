"""``remaddr``: which remote addresses may connect."""

from __future__ import annotations

import ipaddress
from typing import Callable, List, Tuple

from pyser2net.config.model import RemoteAddress
from pyser2net.runtime.resolver import Answer, Query

Allowed = List[Tuple[List[str], int]]


def remaddr_query(entry: RemoteAddress) -> Query:
    """The lookup of an entry's host: every address, of any family."""
    return Query(entry.host)


def resolve_remaddr(
    entries: Tuple[RemoteAddress, ...],
    answer: Callable[[Query], Answer],
    failed: Callable[[str, str], None],
) -> Allowed:
    """The allowed addresses, from what the hosts were found to be
    (``answer``): looked up once, when the port starts, so that accepting
    never waits on a name server.  An entry whose host cannot be looked up
    allows nobody; ``failed(host, why)`` is told.

    Connect-back entries (``!addr``) are allowed addresses too, as in ser2net.
    """
    allowed: Allowed = []
    for entry in entries:
        found = answer(remaddr_query(entry))
        if isinstance(found, str):
            failed(entry.host, found)
            found = []
        hosts = [_normal_ip(info[3][0]) for info in found if isinstance(info[3][0], str)]
        allowed.append((list(dict.fromkeys(hosts)), entry.port))
    return allowed


def remote_allowed(allowed: Allowed, addr: tuple) -> bool:
    """Whether a client address passes ``remaddr`` (port 0 matches any port)."""
    host, port = _normal_ip(addr[0]), addr[1]
    return any(host in hosts and want in (0, port) for hosts, want in allowed)


def _normal_ip(text: str) -> str:
    try:
        packed = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return text
    if isinstance(packed, ipaddress.IPv6Address) and packed.ipv4_mapped is not None:
        return str(packed.ipv4_mapped)
    return str(packed)
