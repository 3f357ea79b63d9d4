"""A loop that looks names up, driven line by line from its standard input.

It runs in the namespace of ``slownames.SlowNames``, where a lookup waits
on the hosts file for as long as the test wants.  The loop runs on a fake
clock (``fakeloop``): the test moves it past a lookup's deadline with a
command, so the deadline comes when the test says, with no real time to
wait for.  Meanwhile the loop serves an echo socket on 127.0.0.1, which
the test uses to see that it serves while a lookup is under way.

The first line written is ``{"echo": PORT}``; each command is then
answered by one JSON line:

``start``
    an accepter ``tcp,slowhost,PORT`` (a ``Binder``) looks its host up:
    ``{"child": PID}``, the pid of the lookup's child.
``expire``
    the clock moves past the lookup's deadline; once the attempt failed:
    the log lines, the descriptors open before ``start`` and now, and
    whether the child was reaped.
``now SECONDS``
    ``lookup_now`` of ``slowhost``, with that deadline on the real clock:
    the answer, the descriptors before and after, and the children left.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from typing import Dict, List, Optional

from fakeloop import FakeLoop

from pyser2net.config.model import Accepter
from pyser2net.runtime import resolver
from pyser2net.runtime.binder import Binder
from pyser2net.runtime.listeners import TcpListener
from pyser2net.runtime.resolver import LOOKUP_SECONDS, Query, lookup_now


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: List[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def descriptors() -> List[int]:
    return sorted(int(fd) for fd in os.listdir("/proc/self/fd"))


def children() -> List[str]:
    """Each process whose parent is this one, with its state (Z: a zombie)."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid():
            found.append(f"{entry} {fields[0]}")
    return found


def reaped(pid: int) -> bool:
    """Whether child ``pid`` is gone and was waited for (not running, not a zombie)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


class Driver:
    def __init__(self) -> None:
        self.loop = FakeLoop()
        self.log = Lines()
        logging.getLogger().addHandler(self.log)
        logging.getLogger().setLevel(logging.DEBUG)
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(4)
        self.server.setblocking(False)
        self.clients: Dict[int, socket.socket] = {}
        self.loop.reactor.add_reader(self.server.fileno(), self.accept)
        self.loop.reactor.add_reader(0, self.command)
        self.binder: Optional[Binder] = None
        self.child = 0
        self.before: List[int] = []
        self.expiring = False
        self.done = False
        self.say({"echo": self.server.getsockname()[1]})

    def say(self, what: object) -> None:
        os.write(1, json.dumps(what).encode() + b"\n")

    def accept(self) -> None:
        sock, _ = self.server.accept()
        sock.setblocking(False)
        self.clients[sock.fileno()] = sock
        self.loop.reactor.add_reader(sock.fileno(), lambda: self.echo(sock))

    def echo(self, sock: socket.socket) -> None:
        data = sock.recv(4096)
        if not data:
            self.loop.reactor.forget(sock.fileno())
            del self.clients[sock.fileno()]
            sock.close()
            return
        looking_up = self.binder is not None and self.binder.looking_up
        sock.sendall(data + (b" (while looking up)" if looking_up else b""))

    def command(self) -> None:
        line = b""
        while not line.endswith(b"\n"):
            chunk = os.read(0, 1)
            if not chunk:
                self.done = True
                return
            line += chunk
        words = line.decode().split()
        if words[0] == "start":
            self.before = descriptors()
            accepter = Accepter(text="tcp,slowhost,2000", host="slowhost", port=2000)
            listener = TcpListener(self.loop.reactor, accepter, lambda sock, addr: sock.close())
            self.binder = Binder(self.loop.reactor, listener, "p", 10)
            self.binder.start()
            (under_way,) = resolver.pending(self.loop.reactor)
            self.child = under_way.pid or 0
            self.say({"child": self.child})
        elif words[0] == "expire":
            self.loop.clock.now += LOOKUP_SECONDS
            self.expiring = True
        elif words[0] == "now":
            before = descriptors()
            (answer,) = lookup_now([Query("slowhost", 0, 0, socket.SOCK_STREAM)], float(words[1]))
            self.say(
                {
                    "answer": answer,
                    "before": before,
                    "after": descriptors(),
                    "children": children(),
                }
            )

    def turned(self) -> None:
        """After each turn: the expired lookup's report, once the attempt failed."""
        if not self.expiring or self.binder is None or not self.binder.waiting:
            return
        self.expiring = False
        self.binder.stop()
        self.say(
            {
                "log": self.log.lines,
                "before": self.before,
                "after": descriptors(),
                "reaped": reaped(self.child),
                "children": children(),
            }
        )

    def run(self) -> None:
        while not self.done:
            self.loop.reactor.run_once(timeout=0.05)
            self.turned()


if __name__ == "__main__":
    Driver().run()
