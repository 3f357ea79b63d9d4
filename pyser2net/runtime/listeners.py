"""Listening sockets for an accepter.

A bare port binds the IPv6 wildcard with IPV6_V6ONLY off, which serves
IPv4 and IPv6 alike, and falls back to 0.0.0.0 on a host without IPv6.  No
name lookup happens for a bare port, so binding works before the network
is up.  A host name binds every address it resolves to (``localhost`` gives
both 127.0.0.1 and ::1), as ser2net does; the name is looked up by the
``Binder`` first, without holding up the loop (``resolver.py``).
"""

from __future__ import annotations

import errno
import logging
import socket
from functools import partial
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from pyser2net.config.model import Accepter, ConnectionOptions
from pyser2net.runtime.ratelimit import RateLimitedLog
from pyser2net.runtime.reactor import Reactor, Timer
from pyser2net.runtime.resolver import Answer, Query, numeric

#: accept() failures that mean the daemon (or the machine) has no descriptor
#: or buffer left for a new socket.  The client stays in the listen queue and
#: the socket stays readable, so the listener rests instead of spinning.
NO_RESOURCES = frozenset((errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM))
#: How long a listener rests after such a failure, doubled on each failure in
#: a row up to ACCEPT_PAUSE_MAX: clients wait in the listen queue meanwhile.
ACCEPT_PAUSE_MIN = 0.05
ACCEPT_PAUSE_MAX = 1.0

#: One line a minute per cause for the whole daemon, however many listeners
#: run out: the lack of descriptors is one fault, not one per port.
_resource_log: Optional[RateLimitedLog] = None


def _log_no_resources(where: str, exc: OSError, clock: Callable[[], float]) -> None:
    global _resource_log
    if _resource_log is None:
        _resource_log = RateLimitedLog("", clock)
    _resource_log.log(
        f"{where}: cannot accept a client: {exc.strerror or exc}; "
        "clients wait in the listen queue until descriptors are free",
        key=f"accept {exc.errno}",
        level=logging.ERROR,
    )


def tune_client_socket(sock: socket.socket, options: ConnectionOptions) -> None:
    """Make an accepted client's socket non-blocking and set its TCP options.

    Nagle is off (a terminal's keystrokes go at once).  Keepalive probes
    find a client that vanished without a word (a cable pulled, a laptop
    closed, a half-open connect) after ``keepalive-idle`` +
    ``keepalive-interval`` x ``keepalive-count`` seconds of silence, instead
    of the kernel's two hours, so that it no longer holds the port and its
    device.  ``tcp-user-timeout`` bounds how long sent data may stay
    unacknowledged; it is off by default because the kernel then also
    drops a client that is alive but has stopped reading (a suspended
    terminal), which ser2net never does.  Raises OSError when the socket
    is already dead.
    """
    sock.setblocking(False)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in (
        ("TCP_KEEPIDLE", options.keepalive_idle),
        ("TCP_KEEPINTVL", options.keepalive_interval),
        ("TCP_KEEPCNT", options.keepalive_count),
    ):
        option = getattr(socket, name, None)
        if option is not None:  # Linux; elsewhere the system's timers apply
            sock.setsockopt(socket.IPPROTO_TCP, option, value)
    user_timeout = getattr(socket, "TCP_USER_TIMEOUT", None)
    if options.tcp_user_timeout and user_timeout is not None:
        sock.setsockopt(socket.IPPROTO_TCP, user_timeout, options.tcp_user_timeout * 1000)


class BindError(Exception):
    """No socket of an accepter could be bound.

    ``failures`` holds each address tried, as ``host:port``, with its error.
    """

    def __init__(self, message: str, failures: Sequence[Tuple[str, OSError]] = ()) -> None:
        super().__init__(message)
        self.failures = tuple(failures)

    def in_use(self) -> bool:
        return any(exc.errno == errno.EADDRINUSE for _, exc in self.failures)


def address_text(addr: tuple) -> str:
    """``127.0.0.1:2000`` or ``[::1]:2000``."""
    host = addr[0]
    return f"[{host}]:{addr[1]}" if ":" in host else f"{host}:{addr[1]}"


def _families(acc: Accepter) -> List[int]:
    families: Dict[str, List[int]] = {"ipv4": [socket.AF_INET], "ipv6": [socket.AF_INET6]}
    return families.get(acc.family or "", [socket.AF_INET6, socket.AF_INET])


def accepter_queries(acc: Accepter) -> List[Query]:
    """The lookups binding ``acc`` takes: one per family, none without a host."""
    if acc.host is None:
        return []
    kind = socket.SOCK_STREAM if acc.transport == "tcp" else socket.SOCK_DGRAM
    return [Query(acc.host, acc.port, fam, kind, socket.AI_PASSIVE) for fam in _families(acc)]


def needs_lookup(acc: Accepter) -> bool:
    """Whether ``acc`` names a host (rather than an address written as digits)."""
    return any(numeric(q) is None for q in accepter_queries(acc))


def _addresses(acc: Accepter, answers: Optional[Sequence[Answer]]) -> List[Tuple[int, tuple]]:
    """Where to bind: the wildcards, or what the host was found to be
    (``answers``, one per query of ``accepter_queries``; None when the host
    is written as digits, which is converted here)."""
    if acc.host is None:
        wild: Dict[int, tuple] = {
            socket.AF_INET6: ("::", acc.port, 0, 0),
            socket.AF_INET: ("0.0.0.0", acc.port),
        }
        return [(fam, wild[fam]) for fam in _families(acc)]
    queries = accepter_queries(acc)
    if answers is None:
        answers = [numeric(q) or "not looked up" for q in queries]
    found: List[Tuple[int, tuple]] = []
    reasons: List[str] = []
    for answer in answers:
        if isinstance(answer, str):
            reasons.append(answer)
            continue
        for family, _kind, _proto, addr in answer:
            if (family, addr) not in found:
                found.append((family, addr))
    if not found:
        why = f": {reasons[0]}" if reasons else ""
        raise BindError(f"cannot look up host {acc.host!r}{why}")
    return found


def bind_sockets(
    acc: Accepter,
    errors: Optional[List[Tuple[str, OSError]]] = None,
    answers: Optional[Sequence[Answer]] = None,
) -> List[socket.socket]:
    """Bind (and listen on) every socket the accepter asks for.

    A host name must have been looked up (``answers``, see
    ``accepter_queries``): binding never waits for a name server.
    Addresses that fail while others bind are added to ``errors``.
    """
    kind = socket.SOCK_STREAM if acc.transport == "tcp" else socket.SOCK_DGRAM
    sockets: List[socket.socket] = []
    failures: List[Tuple[str, OSError]] = []
    wildcard = acc.host is None
    for family, addr in _addresses(acc, answers):
        if wildcard and sockets:
            break  # the dual-stack socket already covers IPv4
        try:
            sock = socket.socket(family, kind)
        except OSError as exc:
            if exc.errno in (errno.EAFNOSUPPORT, errno.EPROTONOSUPPORT):
                continue
            raise
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                # ``ipv6,PORT`` is IPv6 only, as in ser2net; a bare port serves both.
                dual = wildcard and acc.family is None
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0 if dual else 1)
            sock.bind(addr)
            if kind == socket.SOCK_STREAM:
                sock.listen(64)
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            failures.append((address_text(addr), exc))
            continue
        sockets.append(sock)
    if not sockets:
        text = "; ".join(f"{where}: {exc.strerror or exc}" for where, exc in failures)
        raise BindError(text or "no usable address", failures)
    if errors is not None:
        errors.extend(failures)
    return sockets


class _Listener:
    """The bound sockets of an accepter, watched by the reactor."""

    def __init__(self, reactor: Reactor, accepter: Accepter) -> None:
        self.reactor = reactor
        self.accepter = accepter
        self.sockets: List[socket.socket] = []
        #: Addresses of the accepter that failed while others were bound.
        self.partial: List[Tuple[str, OSError]] = []

    def start(self, answers: Optional[Sequence[Answer]] = None) -> None:
        """Bind; ``answers``: what the accepter's host name was found to be."""
        self.partial = []
        self.sockets = bind_sockets(self.accepter, self.partial, answers)
        for sock in self.sockets:
            self.reactor.add_reader(sock.fileno(), partial(self._readable, sock))

    def _readable(self, sock: socket.socket) -> None:
        """A bound socket has a client or a datagram waiting."""
        raise NotImplementedError

    def stop(self) -> None:
        for sock in self.sockets:
            self.reactor.forget(sock.fileno())
            sock.close()
        self.sockets = []

    def addresses(self) -> List[str]:
        """Where it listens, as ``host:port``."""
        out = []
        for sock in self.sockets:
            try:
                out.append(address_text(sock.getsockname()))
            except OSError:
                continue
        return out


class TcpListener(_Listener):
    """Accepts TCP clients and hands each new socket to ``on_client``."""

    def __init__(
        self,
        reactor: Reactor,
        accepter: Accepter,
        on_client: Callable[[socket.socket, tuple], None],
        options: Optional[ConnectionOptions] = None,
    ) -> None:
        super().__init__(reactor, accepter)
        self.on_client = on_client
        #: The TCP options of client sockets (keepalive timers...): a
        #: connection's, or the defaults (rotators, the admin port).
        self.options = options if options is not None else ConnectionOptions()
        #: Sockets resting after accept() found no descriptor: when they are
        #: watched again, and the pause that follows the next failure.
        self._resting: Dict[int, Timer] = {}
        self._pause = ACCEPT_PAUSE_MIN

    def _readable(self, listener: socket.socket) -> None:
        for _ in range(16):  # a burst of clients, but never starve the others
            try:
                sock, addr = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in NO_RESOURCES:
                    self._rest(listener, exc)
                return  # e.g. ECONNABORTED: the listener stays up
            self._pause = ACCEPT_PAUSE_MIN
            try:
                tune_client_socket(sock, self.options)
            except OSError:
                sock.close()  # reset before we could look at it
                continue
            self.on_client(sock, addr)

    def _rest(self, listener: socket.socket, exc: OSError) -> None:
        """Stop watching ``listener`` for a short while: it stays readable as
        long as a client waits, and accept() fails until a descriptor is free."""
        fd = listener.fileno()
        _log_no_resources(self.accepter.text, exc, self.reactor.now)
        self.reactor.remove_reader(fd)
        self._resting[fd] = self.reactor.call_later(self._pause, partial(self._wake, listener, fd))
        self._pause = min(self._pause * 2, ACCEPT_PAUSE_MAX)

    def _wake(self, listener: socket.socket, fd: int) -> None:
        self._resting.pop(fd, None)
        if listener in self.sockets:
            self.reactor.add_reader(fd, partial(self._readable, listener))

    def stop(self) -> None:
        for timer in self._resting.values():
            timer.cancel()
        self._resting.clear()
        super().stop()
        # A TLS accept path holds connections still shaking hands: drop them.
        close = getattr(self.on_client, "close", None)
        if close is not None:
            close()


class UdpListener(_Listener):
    """ser2net's UDP accepter: each new remote address is a new "client".

    Datagrams are handed to ``on_datagram`` with the socket they came in on,
    so that replies leave from the address the remote talked to.
    """

    def __init__(
        self,
        reactor: Reactor,
        accepter: Accepter,
        on_datagram: Callable[[socket.socket, bytes, tuple], None],
        bufsize: int = 65536,
    ) -> None:
        super().__init__(reactor, accepter)
        self.on_datagram = on_datagram
        self.bufsize = bufsize

    def _readable(self, sock: socket.socket) -> None:
        for _ in range(64):
            try:
                data, addr = sock.recvfrom(self.bufsize)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return  # e.g. ICMP port unreachable reported on the socket
            self.on_datagram(sock, data, addr)
