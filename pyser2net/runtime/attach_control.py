"""``--control SOCKET``: DTR, RTS and break for a script, on a Unix socket.

A pty cannot carry the modem-control ioctls or a break from the
application, so a script that must reset a board, or send a break to a
console, says it here instead::

    printf 'dtr off\\nbreak 500\\ndtr on\\n' | socat - UNIX-CONNECT:/run/ttyNET0.ctl

One command a line; every command is answered with lines ending in ``ok``
or a single ``error: ...`` line:

* ``dtr on|off``, ``rts on|off``: SET-CONTROL, sent at once;
* ``break [MS]``: a break of MS milliseconds (250 by default),
  ``break on|off`` to hold it;
* ``status``: the connection, the application, the settings, the server's
  modem lines and byte counts;
* ``help``, ``quit``.

Lines are bounded (a longer one is an error and closes the connection), so
a client cannot grow memory.
"""

from __future__ import annotations

import grp
import logging
import os
import socket
import stat
from typing import List, Optional, Protocol, Tuple

from pyser2net.runtime.reactor import Reactor
from pyser2net.runtime.stream import Stream, StreamError

log = logging.getLogger("pyser2net.attach")

MAX_LINE = 256
HELP = [
    "dtr on|off      set DTR on the remote port",
    "rts on|off      set RTS on the remote port",
    "break [MS]      send a break of MS milliseconds (default 250)",
    "break on|off    hold or end a break",
    "status          show the connection, the application and the settings",
    "quit            close this connection",
]


class CommandError(Exception):
    """A command line that cannot be run; the text is the answer."""


def parse_command(line: str) -> Tuple[str, Optional[object]]:
    """``(name, argument)``: dtr/rts with a bool, break with a bool or
    seconds, status/help/quit with None; raises CommandError."""
    words = line.strip().lower().split()
    if not words:
        raise CommandError("empty command (try help)")
    name, args = words[0], words[1:]
    if name in ("status", "help", "quit", "exit"):
        if args:
            raise CommandError(f"{name} takes no argument")
        return ("quit" if name == "exit" else name), None
    if name in ("dtr", "rts"):
        if len(args) != 1 or args[0] not in ("on", "off", "1", "0"):
            raise CommandError(f"usage: {name} on|off")
        return name, args[0] in ("on", "1")
    if name == "break":
        if not args:
            return name, 0.25
        if len(args) == 1 and args[0] in ("on", "off"):
            return name, args[0] == "on"
        if len(args) == 1 and args[0].isdigit() and 0 < int(args[0]) <= 60000:
            return name, int(args[0]) / 1000
        raise CommandError("usage: break [MS] (1 to 60000) or break on|off")
    raise CommandError(f"unknown command {name!r} (try help)")


class Controlled(Protocol):
    """What the commands act on: the attachment."""

    def status(self) -> List[str]:
        """Lines that describe the attachment, for ``status``."""

    def send_break(self, seconds: float) -> bool:
        """Whether the server agreed to send a break of that length."""

    def set_control(self, line: str, on: bool) -> bool:
        """Whether the server agreed to raise or drop the line."""


class ControlServer:
    """The listening socket and its connections."""

    def __init__(
        self,
        reactor: Reactor,
        path: str,
        attachment: Controlled,
        *,
        mode: int = 0o660,
        group: Optional[str] = None,
    ) -> None:
        self.reactor = reactor
        self.path = path
        self.attachment = attachment
        self._mode = mode
        self._group = group
        self._sock: Optional[socket.socket] = None
        self.connections: List[_ControlConnection] = []

    def start(self) -> None:
        """Bind and listen; raises OSError with the reason."""
        try:
            if stat.S_ISSOCK(os.lstat(self.path).st_mode):
                os.unlink(self.path)  # left by a previous run
        except FileNotFoundError:
            pass
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(self.path)
            sock.listen(8)
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        self._sock = sock
        try:
            os.chmod(self.path, self._mode)
            if self._group:
                os.chown(self.path, -1, grp.getgrnam(self._group).gr_gid)
        except (OSError, KeyError) as exc:
            log.warning("%s: cannot set its mode or group: %s", self.path, exc)
        reactor = self.reactor
        reactor.add_reader(sock.fileno(), self._accept)

    def _accept(self) -> None:
        assert self._sock is not None
        try:
            conn, _ = self._sock.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            log.warning("%s: accept failed: %s", self.path, exc)
            return
        conn.setblocking(False)
        self.connections.append(_ControlConnection(self, conn))

    def stop(self) -> None:
        for c in list(self.connections):
            c.stream.close()
        self.connections.clear()
        if self._sock is not None:
            self.reactor.forget(self._sock.fileno())
            self._sock.close()
            self._sock = None
            try:
                os.unlink(self.path)
            except OSError:
                pass


class _ControlConnection:
    def __init__(self, server: ControlServer, sock: socket.socket) -> None:
        self.server = server
        self.buf = bytearray()
        self.stream = Stream.for_socket(server.reactor, self, sock, high_water=16384)
        self.stream.resume_reading()

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\n")
            if end < 0:
                break
            line = bytes(self.buf[:end]).decode("utf-8", "replace").strip("\r")
            del self.buf[: end + 1]
            if not self._run(line):
                return
        if len(self.buf) > MAX_LINE:
            self._answer(["error: line too long"])
            self._close()

    def _run(self, line: str) -> bool:
        if not line.strip():
            return True
        a = self.server.attachment
        try:
            name, arg = parse_command(line)
        except CommandError as exc:
            self._answer([f"error: {exc}"])
            return True
        if name == "quit":
            self._answer(["ok"])
            self._close()
            return False
        if name == "help":
            self._answer(HELP + ["ok"])
        elif name == "status":
            self._answer(a.status() + ["ok"])
        else:
            if name == "break" and isinstance(arg, float):
                done = a.send_break(arg)
            else:
                done = a.set_control(name, bool(arg))
            self._answer(
                ["ok"] if done else ["error: not connected to an RFC 2217 server that agreed to it"]
            )
        return True

    def _answer(self, lines: List[str]) -> None:
        if self.stream.queued > 4 * MAX_LINE * 64:
            return  # a client that does not read gets no more answers
        self.stream.write("".join(f"{line}\n" for line in lines).encode())

    def _close(self) -> None:
        self.stream.close_after_flush(1.0)

    def eof_received(self) -> None:
        self._close()

    def connection_lost(self, exc: Optional[StreamError]) -> None:
        if self in self.server.connections:
            self.server.connections.remove(self)

    def pause_writing(self) -> None:
        self.stream.pause_reading()

    def resume_writing(self) -> None:
        self.stream.resume_reading()
