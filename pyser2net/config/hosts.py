"""Whether a host written in a configuration can ever be looked up.

A typo such as ``127..0.0.1`` used to pass ``--check`` and then stop the
daemon at start: Python encodes a host name with the IDNA codec before
asking the resolver, and that codec refuses empty or over-long labels
with an exception instead of a lookup failure.  Checking here, without any
lookup (no DNS while reading a file), turns those into configuration
errors with their position.  Names that are well formed but do not resolve
are still found at start, as in ser2net.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from typing import Optional

#: RFC 1035: a name is at most 253 characters (without the final dot).
MAX_NAME = 253

_SPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f]")
_NUMERIC = re.compile(r"(?:0[xX][0-9a-fA-F]*|[0-9]+)\Z")


def host_problem(host: str) -> Optional[str]:
    """Why ``host`` cannot be looked up, or None if it may be."""
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    name = host[:-1] if host.endswith(".") else host
    if len(name) > MAX_NAME:
        return f"a host name is at most {MAX_NAME} characters"
    if _SPACE_OR_CONTROL.search(host):
        return "a host name holds no spaces or control characters"
    labels = name.split(".")
    if any(not label for label in labels):
        return "a host name has no empty part (two dots in a row, or a dot at the start)"
    if ":" in name:
        return "not a valid IPv6 address"
    if all(_NUMERIC.match(label) for label in labels):
        try:
            socket.inet_aton(name)  # also the short forms: 127.1, 0x7f.1
        except OSError:
            return "not a valid IPv4 address"
        return None
    try:
        host.encode("idna")
    except UnicodeError as exc:
        if "too long" in str(exc):
            return "a part of a host name is at most 63 characters"
        return "not a valid host name (it cannot be encoded for a lookup)"
    return None


def check_host(host: Optional[str]) -> None:
    """Raise ValueError with the reason when ``host`` cannot be looked up."""
    if host is None:
        return
    problem = host_problem(host)
    if problem is not None:
        raise ValueError(f"invalid host {host!r}: {problem}")
