"""``pyser2net --browse``: the serial ports announced over mDNS on the network.

The other end of ``mdns: true``: it listens for DNS-SD services of the
``_iostream`` types (what ser2net and pyser2net announce) for a while,
then prints one line per port found: name, type, host and port, the
addresses, and the TXT strings, separated by tabs so that scripts can cut
them.  It waits a bounded time and never longer.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

from pyser2net.protocol.mdns import parse_txt

DEFAULT_TYPES = ("_iostream._tcp.local.", "_iostream._udp.local.")

#: How long resolving the details of the ports found may take, at most.
RESOLVE_SECONDS = 2.0


class BrowseError(Exception):
    """Browsing cannot start; the text says why."""


@dataclass(frozen=True)
class Found:
    name: str
    type: str
    host: str
    port: int
    addresses: Tuple[str, ...]
    txt: Tuple[str, ...]

    def line(self) -> str:
        short = (
            self.name[: -len(self.type) - 1] if self.name.endswith("." + self.type) else self.name
        )
        kind = self.type[: -len(".local.")] if self.type.endswith(".local.") else self.type
        return "\t".join(
            (short, kind, f"{self.host}:{self.port}", ",".join(self.addresses), " ".join(self.txt))
        )


def _interfaces(zeroconf: Any, where: Optional[str]) -> Tuple[Any, Any]:
    """zeroconf's interface choice and IP version for ``--browse-interface``:
    an interface name or index, an address, or None for every interface."""
    if where is None:
        return zeroconf.InterfaceChoice.All, zeroconf.IPVersion.All
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, where)
        except OSError:
            continue
        if family == socket.AF_INET:
            return [where], zeroconf.IPVersion.V4Only
        return [where], zeroconf.IPVersion.V6Only
    try:
        name = socket.if_indextoname(int(where)) if where.isdigit() else where
        socket.if_nametoindex(name)
    except (OSError, ValueError):
        raise BrowseError(f"no network interface {where!r}") from None
    import ifaddr  # a dependency of zeroconf

    addresses = [
        ip.ip
        for a in ifaddr.get_adapters()
        if a.name == name
        for ip in a.ips
        if isinstance(ip.ip, str)
    ]
    if not addresses:
        raise BrowseError(f"interface {name} has no IPv4 address")
    return addresses, zeroconf.IPVersion.V4Only


def browse(
    seconds: float, interface: Optional[str] = None, types: Sequence[str] = DEFAULT_TYPES
) -> List[Found]:
    """The ports announced within ``seconds``, sorted by name."""
    try:
        import zeroconf
    except ImportError:
        raise BrowseError(
            "--browse needs the zeroconf package "
            "(pip install zeroconf, or apt install python3-zeroconf)"
        ) from None
    choice, version = _interfaces(zeroconf, interface)
    lock = threading.Lock()
    present: Dict[str, str] = {}

    class Listener(zeroconf.ServiceListener):
        def add_service(self, _zc: Any, type_: str, name: str) -> None:
            with lock:
                present[name] = type_

        def update_service(self, _zc: Any, type_: str, name: str) -> None:
            self.add_service(_zc, type_, name)

        def remove_service(self, _zc: Any, _type: str, name: str) -> None:
            with lock:
                present.pop(name, None)

    try:
        zc = zeroconf.Zeroconf(interfaces=choice, ip_version=version)
    except (OSError, RuntimeError, ValueError) as exc:
        raise BrowseError(f"cannot listen for mDNS: {exc}") from None
    try:
        zeroconf.ServiceBrowser(zc, list(types), Listener())
        time.sleep(max(0.0, seconds))
        with lock:
            names = sorted(present.items())
        deadline = time.monotonic() + RESOLVE_SECONDS
        found = []
        for name, type_ in names:
            left = int(max(0.0, deadline - time.monotonic()) * 1000)
            info = zc.get_service_info(type_, name, timeout=max(left, 1))
            if info is None:
                continue
            found.append(
                Found(
                    name=name,
                    type=type_,
                    host=str(info.server or ""),
                    port=int(info.port or 0),
                    addresses=tuple(info.parsed_addresses()),
                    txt=parse_txt(info.text or b""),
                )
            )
        return found
    finally:
        zc.close()
