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

import functools
import ipaddress
import re
from typing import Optional

#: RFC 1035: a name is at most 253 characters (without the final dot).
MAX_NAME = 253

_SPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f]")
_NUMERIC = re.compile(r"(?:0[xX][0-9a-fA-F]*|[0-9]+)\Z")
#: One part of an inet_aton(3) address: hex, octal (a leading 0) or decimal.
_ATON_PART = re.compile(r"0[xX](?P<hex>[0-9a-fA-F]+)|0(?P<oct>[0-7]*)|(?P<dec>[1-9][0-9]*)")


@functools.lru_cache(maxsize=1024)
def host_problem(host: str) -> Optional[str]:
    """Why ``host`` cannot be looked up, or None if it may be.

    Kept per host: the accepters of a file usually share a few hosts.
    """
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
        return None if inet_aton(name) is not None else "not a valid IPv4 address"
    try:
        host.encode("idna")
    except UnicodeError as exc:
        if "too long" in str(exc):
            return "a part of a host name is at most 63 characters"
        return "not a valid host name (it cannot be encoded for a lookup)"
    return None


def inet_aton(text: str) -> Optional[int]:
    """The IPv4 address ``text`` spells as inet_aton(3) reads it, or None.

    The resolver takes these forms, so a configuration may use them:
    ``a.b.c.d``, ``a.b.c`` (c fills 16 bits), ``a.b`` (b fills 24 bits)
    and ``a`` (32 bits), each part decimal, octal (``0`` first) or hex
    (``0x`` first): ``127.1`` and ``0x7f.1`` are 127.0.0.1.  Worked out
    here rather than asked of the C library, as reading a file does no I/O
    and needs no sockets.
    """
    parts = text.split(".")
    if len(parts) > 4 or len(text) > MAX_NAME:
        return None
    values = []
    for part in parts:
        match = _ATON_PART.fullmatch(part)
        if match is None:
            return None
        if match["hex"] is not None:
            values.append(int(match["hex"], 16))
        elif match["dec"] is not None:
            values.append(int(match["dec"]))
        else:
            values.append(int(match["oct"] or "0", 8))
    *leading, last = values
    if any(v > 0xFF for v in leading) or last >= 1 << (8 * (5 - len(values))):
        return None
    address = last
    for i, value in enumerate(leading):
        address |= value << (24 - 8 * i)
    return address


def check_host(host: Optional[str]) -> None:
    """Raise ValueError with the reason when ``host`` cannot be looked up."""
    if host is None:
        return
    problem = host_problem(host)
    if problem is not None:
        raise ValueError(f"invalid host {host!r}: {problem}")
