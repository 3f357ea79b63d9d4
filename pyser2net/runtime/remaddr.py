"""``remaddr``: which remote addresses may connect."""

from __future__ import annotations

import ipaddress
import socket
from typing import List, Tuple

from pyser2net.config.model import RemoteAddress

Allowed = List[Tuple[List[str], int]]


def resolve_remaddr(entries: Tuple[RemoteAddress, ...]) -> Allowed:
    """Resolve ``remaddr`` once, at start, so accepting never waits on DNS.

    Connect-back entries (``!addr``) are allowed addresses too, as in ser2net.
    """
    return [(_resolve(e.host), e.port) for e in entries]


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


def _resolve(host: str) -> List[str]:
    try:
        return [_normal_ip(host)] if ipaddress.ip_address(host) else []
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror:
        return []
    return [_normal_ip(info[4][0]) for info in infos if isinstance(info[4][0], str)]
