"""Which process holds a TCP or UDP port, for "address already in use" messages.

The usual reason a port cannot be bound when pyser2net replaces ser2net is
ser2net itself, still running.  Saying so (``held by pid 812 (ser2net)``)
saves a round of ``ss -ltnp``.  Linux only: ``/proc/net/tcp`` and friends
list every socket with its inode, and ``/proc/PID/fd`` names each open
socket ``socket:[INODE]``.  Processes of other users cannot be looked into
without privileges; the answer then says that much.  Anything unexpected
gives no answer rather than an error: this only improves a message.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Set, Union

#: /proc/net tables by transport, and the state of a socket that holds a
#: port there (TCP_LISTEN for TCP; an unconnected UDP socket is TCP_CLOSE).
_TABLES = {
    "tcp": (("/proc/net/tcp", 4), ("/proc/net/tcp6", 6)),
    "udp": (("/proc/net/udp", 4), ("/proc/net/udp6", 6)),
}
_HOLDING_STATE = {"tcp": "0A", "udp": "07"}

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]


@dataclass(frozen=True)
class Holder:
    pid: int
    command: str

    def __str__(self) -> str:
        return f"pid {self.pid} ({self.command})"


def _address(hex_addr: str, version: int) -> Optional[IPAddress]:
    """The address of a /proc/net entry: 32-bit words in host (little-endian) order."""
    try:
        raw = bytes.fromhex(hex_addr)
        words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
        addr = ipaddress.ip_address(words)
    except ValueError:
        return None
    if addr.version != version:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def _overlaps(theirs: IPAddress, ours: Optional[str]) -> bool:
    """Whether a socket bound to ``theirs`` keeps ``ours`` (None: any) from binding."""
    if ours is None or theirs.is_unspecified:
        return True
    try:
        mine: IPAddress = ipaddress.ip_address(ours.split("%", 1)[0])
    except ValueError:
        return True
    if isinstance(mine, ipaddress.IPv6Address) and mine.ipv4_mapped is not None:
        mine = mine.ipv4_mapped
    return mine.is_unspecified or mine == theirs


def socket_inodes(
    port: int, transport: str = "tcp", host: Optional[str] = None, proc: str = "/proc"
) -> Set[int]:
    """Inodes of the sockets that hold ``port`` in a way that clashes with ``host``."""
    inodes: Set[int] = set()
    state = _HOLDING_STATE.get(transport, "0A")
    for table, version in _TABLES.get(transport, _TABLES["tcp"]):
        path = proc + table[len("/proc") :]
        try:
            with open(path) as f:
                next(f, None)
                rows = [line.split() for line in f]
        except OSError:
            continue
        for fields in rows:
            if len(fields) < 10 or fields[3] != state:
                continue
            hex_addr, _, hex_port = fields[1].partition(":")
            try:
                if int(hex_port, 16) != port:
                    continue
                inode = int(fields[9])
            except ValueError:
                continue
            addr = _address(hex_addr, version)
            if inode and addr is not None and _overlaps(addr, host):
                inodes.add(inode)
    return inodes


def owners(inodes: Iterable[int], proc: str = "/proc") -> List[Holder]:
    """The processes that have one of these sockets open, by pid."""
    wanted = {f"socket:[{inode}]" for inode in inodes}
    found: Dict[int, Holder] = {}
    if not wanted:
        return []
    try:
        pids = sorted(int(name) for name in os.listdir(proc) if name.isdigit())
    except OSError:
        return []
    for pid in pids:
        fd_dir = f"{proc}/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue  # gone, or not ours to look into
        for fd in fds:
            try:
                target = os.readlink(f"{fd_dir}/{fd}")
            except OSError:
                continue
            if target in wanted:
                found[pid] = Holder(pid, _command(pid, proc))
                break
    return list(found.values())


def _command(pid: int, proc: str) -> str:
    try:
        with open(f"{proc}/{pid}/comm") as f:
            return f.read().strip() or "?"
    except OSError:
        return "?"


def describe_holders(port: int, transport: str = "tcp", host: Optional[str] = None) -> str:
    """``held by pid 812 (ser2net)``, or what can be said, or ``""``."""
    inodes = socket_inodes(port, transport, host)
    if not inodes:
        return ""
    holders = owners(inodes)
    if not holders:
        return "held by a process this user cannot inspect"
    return "held by " + ", ".join(str(h) for h in holders)


__all__ = ["Holder", "describe_holders", "owners", "socket_inodes"]
