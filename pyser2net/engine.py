"""Builds the running service from a ``model.Config`` and runs it."""

from __future__ import annotations

import logging
import os
import signal
from typing import Dict, List, Optional

from pyser2net.accepter import BindError
from pyser2net.connection import Port
from pyser2net.model import Config
from pyser2net.reactor import Reactor

log = logging.getLogger(__name__)


class EngineError(Exception):
    """The service could not be started."""


class Engine:
    def __init__(self, config: Config, reactor: Optional[Reactor] = None) -> None:
        self.config = config
        self.reactor = reactor or Reactor()
        self.ports: Dict[str, Port] = {}
        self._signals: List[int] = []
        self.reactor.after_select.append(self._handle_signals)

    def start(self) -> None:
        """Bind every enabled connection; a port that fails is logged, others go on."""
        failures = []
        for conn in self.config.connections:
            port = Port(self.reactor, conn)
            try:
                port.start()
            except (BindError, OSError) as exc:
                failures.append(conn.name)
                log.error("%s: cannot listen on %s: %s", conn.name, conn.accepter.text, exc)
            self.ports[conn.name] = port
        if failures and len(failures) == len(self.config.connections):
            raise EngineError("no connection could be started: " + ", ".join(failures))

    def listening_fds(self) -> List[int]:
        return [fd for p in self.ports.values() for fd in p.listener.fds()]

    def install_signal_handlers(self) -> None:
        # Python retries select() after running a handler (PEP 475), so the
        # handler alone would not wake the loop: the wakeup fd does.
        rfd, wfd = os.pipe()
        os.set_blocking(rfd, False)
        os.set_blocking(wfd, False)
        signal.set_wakeup_fd(wfd, warn_on_full_buffer=False)
        self.reactor.add_reader(rfd, lambda: _drain(rfd))
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, lambda signum, _frame: self._signals.append(signum))

    def _handle_signals(self) -> None:
        while self._signals:
            signum = self._signals.pop(0)
            if signum in (signal.SIGTERM, signal.SIGINT):
                log.info("shutting down on signal %d", signum)
                self.shutdown()

    def shutdown(self) -> None:
        for port in self.ports.values():
            port.stop()
        self.reactor.stop()

    def run(self) -> None:
        self.reactor.run()


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 512):
            pass
    except BlockingIOError:
        pass
