"""Listening sockets for an accepter.

A bare port binds the IPv6 wildcard with IPV6_V6ONLY off, which serves
IPv4 and IPv6 alike, and falls back to 0.0.0.0 on a host without IPv6.  No
name lookup happens for a bare port, so binding works before the network
is up.  A host name binds every address it resolves to (``localhost`` gives
both 127.0.0.1 and ::1), as ser2net does.
"""

from __future__ import annotations

import errno
import socket
from functools import partial
from typing import Callable, List, Optional, Sequence, Tuple

from pyser2net.config.model import Accepter
from pyser2net.runtime.reactor import Reactor


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


def _addresses(acc: Accepter) -> List[Tuple[int, tuple]]:
    kind = socket.SOCK_STREAM if acc.transport == "tcp" else socket.SOCK_DGRAM
    families = {"ipv4": [socket.AF_INET], "ipv6": [socket.AF_INET6]}.get(
        acc.family or "", [socket.AF_INET6, socket.AF_INET]
    )
    if acc.host is None:
        wild = {socket.AF_INET6: ("::", acc.port, 0, 0), socket.AF_INET: ("0.0.0.0", acc.port)}
        return [(fam, wild[fam]) for fam in families]
    found: List[Tuple[int, tuple]] = []
    for fam in families:
        try:
            infos = socket.getaddrinfo(acc.host, acc.port, fam, kind, 0, socket.AI_PASSIVE)
        except socket.gaierror:
            continue
        for info in infos:
            if (info[0], info[4]) not in found:
                found.append((info[0], info[4]))
    if not found:
        raise BindError(f"cannot resolve host {acc.host!r}")
    return found


def bind_sockets(
    acc: Accepter, errors: Optional[List[Tuple[str, OSError]]] = None
) -> List[socket.socket]:
    """Bind (and listen on) every socket the accepter asks for.

    Addresses that fail while others bind are added to ``errors``.
    """
    kind = socket.SOCK_STREAM if acc.transport == "tcp" else socket.SOCK_DGRAM
    sockets: List[socket.socket] = []
    failures: List[Tuple[str, OSError]] = []
    wildcard = acc.host is None
    for family, addr in _addresses(acc):
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

    def start(self) -> None:
        self.partial = []
        self.sockets = bind_sockets(self.accepter, self.partial)
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
    ) -> None:
        super().__init__(reactor, accepter)
        self.on_client = on_client

    def _readable(self, listener: socket.socket) -> None:
        for _ in range(16):  # a burst of clients, but never starve the others
            try:
                sock, addr = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return  # e.g. ECONNABORTED, EMFILE: the listener stays up
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            self.on_client(sock, addr)

    def stop(self) -> None:
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
