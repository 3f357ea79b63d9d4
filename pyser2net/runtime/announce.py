"""Publishing ports over mDNS/DNS-SD with python-zeroconf, without waiting for it.

zeroconf runs its own thread with an asyncio loop; probing a name takes
about two seconds.  The daemon's loop never waits for it: a request
(announce, withdraw) is handed to zeroconf's loop as a coroutine and the
answer, when it comes, is posted back through a pipe the reactor reads
(``_Mailbox``), so nothing of the daemon is touched from zeroconf's thread.
zeroconf's own log lines take the same way, since the daemon's log sinks
belong to its loop.

zeroconf is optional: without it the first announcement says, once, how
to install it, and the ports are served unannounced.  It is started only
when the first announcement is published, which the daemon does after
detaching (a thread does not survive a fork).  One zeroconf instance is
made per interface choice (``mdns-interface``, ``mdns-nettype``).
"""

from __future__ import annotations

import collections
import concurrent.futures
import logging
import os
import socket
from typing import TYPE_CHECKING, Any, Callable, Deque, Dict, List, Optional, Tuple

from pyser2net.protocol.mdns import Announcement

if TYPE_CHECKING:
    from pyser2net.runtime.reactor import Reactor

log = logging.getLogger(__name__)

INSTALL_HINT = (
    "mdns: announcing ports needs the zeroconf package "
    "(pip install zeroconf, or apt install python3-zeroconf); "
    "the ports are served without announcements"
)

#: How long closing may take at exit: the goodbye packets, then the thread.
CLOSE_SECONDS = 3.0

_Key = Tuple[int, str]


class _Mailbox:
    """Calls posted from another thread, run on the reactor's thread."""

    def __init__(self, reactor: Reactor) -> None:
        self.reactor = reactor
        self._calls: Deque[Callable[[], None]] = collections.deque()
        self._rfd, self._wfd = os.pipe()
        os.set_blocking(self._rfd, False)
        os.set_blocking(self._wfd, False)
        reactor.add_reader(self._rfd, self._run)

    def post(self, call: Callable[[], None]) -> None:
        """From any thread: run ``call`` on the reactor's thread soon."""
        self._calls.append(call)  # deque.append is atomic
        try:
            os.write(self._wfd, b"\0")
        except (BlockingIOError, OSError):
            pass  # already woken (full pipe) or closing

    def _run(self) -> None:
        try:
            while os.read(self._rfd, 512):
                pass
        except (BlockingIOError, OSError):
            pass
        while self._calls:
            self._calls.popleft()()

    def close(self) -> None:
        self._run()
        self.reactor.remove_reader(self._rfd)
        os.close(self._rfd)
        os.close(self._wfd)


class _ToMailbox(logging.Handler):
    """zeroconf's log records, re-logged on the reactor's thread."""

    def __init__(self, mailbox: _Mailbox) -> None:
        super().__init__(logging.WARNING)  # its debugging is not ours
        self.mailbox = mailbox

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage().splitlines()[0] if record.getMessage() else ""
        level = record.levelno
        self.mailbox.post(lambda: log.log(level, "mdns: zeroconf: %s", text))


class Announcer:
    """The announcements of the running ports, by owner (a port name, or admin)."""

    def __init__(self, reactor: Reactor) -> None:
        self.reactor = reactor
        #: What should be announced, by owner.
        self.wanted: Dict[str, Announcement] = {}
        #: What was handed to zeroconf: the announcement and zeroconf's ServiceInfo.
        self._published: Dict[str, Tuple[Announcement, Any]] = {}
        #: The last request handed over for an owner, which the next one waits for.
        self._last: Dict[str, concurrent.futures.Future] = {}
        #: The name each announcement got after probing (it may have been changed).
        self.names: Dict[str, str] = {}
        self._zeroconfs: Dict[_Key, Any] = {}
        self._mailbox: Optional[_Mailbox] = None
        self._module: Any = None
        self._missing = False
        self.running = False

    # -- the daemon's side ----------------------------------------------------

    def start(self) -> None:
        """Publish from now on (after detaching): what is wanted goes out now."""
        self.running = True
        for owner in list(self.wanted):
            self._publish(owner)

    def announce(self, owner: str, announcement: Announcement) -> None:
        """Announce ``owner`` (again, if it changed)."""
        if self.wanted.get(owner) == announcement and owner in self._published:
            return
        self.withdraw(owner)
        self.wanted[owner] = announcement
        if self.running:
            self._publish(owner)

    def withdraw(self, owner: str) -> None:
        """Stop announcing ``owner``; the network is told goodbye."""
        self.wanted.pop(owner, None)
        self.names.pop(owner, None)
        published = self._published.pop(owner, None)
        if published is None:
            return
        announcement, info = published
        zc = self._zeroconfs.get(_key(announcement))
        if zc is None:
            return

        async def unregister() -> None:
            task = await zc.async_unregister_service(info)
            await task

        self._submit(owner, zc, unregister(), lambda _r: log.info("%s: mdns: withdrawn", owner))

    def close(self) -> None:
        """Withdraw everything and stop zeroconf (at exit; bounded)."""
        self.running = False
        self.wanted.clear()
        self._published.clear()
        for zc in self._zeroconfs.values():
            try:
                zc.close()  # sends the goodbyes, then stops its thread
            except Exception as exc:  # noqa: BLE001 - exit must go on
                log.error("mdns: closing: %s", exc)
        self._zeroconfs.clear()
        logging.getLogger("zeroconf").handlers[:] = []
        if self._mailbox is not None:
            self._mailbox.close()
            self._mailbox = None

    # -- publishing -------------------------------------------------------------

    def _publish(self, owner: str) -> None:
        announcement = self.wanted[owner]
        module = self._zeroconf_module()
        if module is None:
            return
        zc = self._zeroconf_for(announcement)
        if zc is None:
            return
        try:
            info = module.ServiceInfo(
                announcement.type,
                announcement.full_name,
                port=announcement.port,
                properties=announcement.txt_record(),
                server=announcement.host or _own_host(),
                addresses=_addresses(announcement.interface, announcement.nettype),
            )
        except (OSError, ValueError, module.Error) as exc:
            log.error("%s: mdns: cannot announce %s: %s", owner, announcement.full_name, exc)
            return
        self._published[owner] = (announcement, info)

        async def register() -> str:
            task = await zc.async_register_service(info, allow_name_change=True)
            await task
            return str(info.name)

        def registered(name: str) -> None:
            if self._published.get(owner, (None, None))[1] is not info:
                return  # withdrawn meanwhile
            self.names[owner] = name
            if name != announcement.full_name:
                log.warning(
                    "%s: mdns: %s is taken on the network, announced as %s",
                    owner,
                    announcement.full_name,
                    name,
                )
            else:
                log.info("%s: mdns: announced as %s", owner, name)

        self._submit(owner, zc, register(), registered)

    def _submit(self, owner: str, zc: Any, coro: Any, done: Callable[[Any], None]) -> None:
        """Run ``coro`` on zeroconf's loop after the owner's previous request."""
        import asyncio  # loads ssl: only a daemon that announces needs it

        previous = self._last.get(owner)

        async def in_turn() -> Any:
            if previous is not None:
                try:
                    await asyncio.wrap_future(previous)
                except Exception:  # noqa: BLE001 - reported by its own callback
                    pass
            return await coro

        future = asyncio.run_coroutine_threadsafe(in_turn(), zc.loop)
        self._last[owner] = future
        mailbox = self._mailbox
        assert mailbox is not None

        def finished(f: concurrent.futures.Future) -> None:
            # On zeroconf's thread: only hand the outcome over.
            def report() -> None:
                if self._last.get(owner) is f:
                    del self._last[owner]
                exc = f.exception() if not f.cancelled() else None
                if exc is not None:
                    log.error("%s: mdns: %s", owner, str(exc) or type(exc).__name__)
                elif not f.cancelled():
                    done(f.result())

            mailbox.post(report)

        future.add_done_callback(finished)

    def _zeroconf_module(self) -> Any:
        if self._module is None and not self._missing:
            try:
                import zeroconf
            except ImportError:
                self._missing = True
                log.error("%s", INSTALL_HINT)
                return None
            self._module = zeroconf
            self._mailbox = _Mailbox(self.reactor)
            zlog = logging.getLogger("zeroconf")
            zlog.propagate = False
            zlog.handlers[:] = [_ToMailbox(self._mailbox)]
        return self._module

    def _zeroconf_for(self, announcement: Announcement) -> Any:
        key = _key(announcement)
        zc = self._zeroconfs.get(key)
        if zc is not None:
            return zc
        module = self._module
        versions = {"ipv4": "V4Only", "ipv6": "V6Only", "unspec": "All"}
        ip_version = getattr(module.IPVersion, versions[announcement.nettype])
        try:
            if announcement.interface < 0:
                interfaces: Any = module.InterfaceChoice.All
            else:
                interfaces = _interface_choice(announcement.interface, announcement.nettype)
            zc = module.Zeroconf(interfaces=interfaces, ip_version=ip_version)
        except (OSError, RuntimeError, ValueError) as exc:
            where = (
                "every interface"
                if announcement.interface < 0
                else f"interface {announcement.interface}"
            )
            log.error("mdns: cannot start on %s: %s", where, exc)
            return None
        self._zeroconfs[key] = zc
        return zc


def _key(announcement: Announcement) -> _Key:
    return (announcement.interface, announcement.nettype)


def _own_host() -> str:
    return socket.gethostname().split(".")[0] + ".local."


def _interface_addresses(index: int) -> List[Tuple[int, str]]:
    """(family, address) of the interface with this index; every interface's
    except loopback when ``index`` is -1 (loopback's when nothing else has one)."""
    import ifaddr  # a dependency of zeroconf

    name = socket.if_indextoname(index) if index >= 0 else None
    found: List[Tuple[int, str, bool]] = []
    for adapter in ifaddr.get_adapters():
        if name is not None and adapter.name != name:
            continue
        for ip in adapter.ips:
            if isinstance(ip.ip, tuple):
                found.append((socket.AF_INET6, ip.ip[0], ip.ip[0] == "::1"))
            else:
                found.append((socket.AF_INET, ip.ip, ip.ip.startswith("127.")))
    if name is None and any(not loop for _f, _a, loop in found):
        found = [entry for entry in found if not entry[2]]
    return [(family, address) for family, address, _loop in found]


def _wanted(family: int, nettype: str) -> bool:
    return nettype == "unspec" or (family == socket.AF_INET) == (nettype == "ipv4")


def _addresses(index: int, nettype: str) -> List[bytes]:
    """The addresses an announcement gives for its host, packed."""
    return [
        socket.inet_pton(family, address.split("%")[0])
        for family, address in _interface_addresses(index)
        if _wanted(family, nettype)
    ]


def _interface_choice(index: int, nettype: str) -> List[Any]:
    """zeroconf's interface list for one interface: its IPv4 addresses, and
    its index for IPv6."""
    socket.if_indextoname(index)  # OSError when there is no such interface
    choice: List[Any] = []
    has_v6 = False
    for family, address in _interface_addresses(index):
        if family == socket.AF_INET and _wanted(family, nettype):
            choice.append(address)
        elif family == socket.AF_INET6:
            has_v6 = True
    if has_v6 and nettype != "ipv4":
        choice.append(index)
    if not choice:
        raise ValueError(f"no {nettype if nettype != 'unspec' else 'IP'} address")
    return choice
