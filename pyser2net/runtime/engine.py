"""Builds the running service from a ``model.Config`` and runs it.

The engine owns the set of running connections (one ``connection.Port``
each), the admin port, signal handling, configuration reloads and the
orderly shutdown.  Signal handlers only queue the signal number; the queue
is worked off in the loop (an ``after_select`` hook), so a signal arriving
while a reload is in progress waits its turn instead of being lost or
interrupting the reload halfway.  That hook is only installed while there is
such work (signals, retired ports waiting for their clients, a shutdown,
admin clients): an ordinary loop turn runs no engine code at all.
"""

from __future__ import annotations

import collections
import logging
import os
import signal
import time
from typing import (
    TYPE_CHECKING,
    Callable,
    Deque,
    Dict,
    List,
    Optional,
    Protocol,
    Sequence,
    Tuple,
    Union,
)

from pyser2net import SER2NET_VERSION, __version__
from pyser2net.config import ConfigError, LoadResult, Rejected
from pyser2net.config.model import (
    Accepter,
    Admin,
    Config,
    Connection,
    Mdns,
    Position,
    SerialDevice,
)
from pyser2net.protocol.adminapi import (
    CONTROLS,
    ClientStatus,
    PortStatus,
    ReloadOutcome,
    remote_text,
)
from pyser2net.protocol.comport import settings_text
from pyser2net.runtime import locks
from pyser2net.runtime.counters import PortCounters
from pyser2net.runtime.devices import SerialPort, opened_path
from pyser2net.runtime.flowlog import FlowLog
from pyser2net.runtime.port import Port
from pyser2net.runtime.reactor import Reactor, Timer
from pyser2net.runtime.resolver import LOOKUP_SECONDS
from pyser2net.runtime.tlserror import TlsSetupError

if TYPE_CHECKING:
    # Imported where first needed, so that a configuration without an admin
    # port, rotators, mDNS, metrics or reloads does not load them at start.
    from pyser2net.config.reload import ReloadPlan
    from pyser2net.protocol.admin import AdminSession
    from pyser2net.protocol.status import ProcessStatus
    from pyser2net.runtime.admin import AdminServer
    from pyser2net.runtime.announce import Announcer
    from pyser2net.runtime.metrics import MetricsServer
    from pyser2net.runtime.rotator import RotatorPort
    from pyser2net.runtime.service import Service

log = logging.getLogger(__name__)

#: How long a shutdown waits for queued data to reach clients and devices.
SHUTDOWN_DRAIN_SECONDS = 2.0

#: The announcement owner of the admin port (connections use their names).
ADMIN_OWNER = "admin port"


class EngineError(Exception):
    """The service could not be started."""


#: What reading the configuration gives: the result, or why nothing could be read.
ReadOutcome = Union[LoadResult, ConfigError]
#: Answers one reload request.
ReloadDone = Callable[[ReloadOutcome], None]


class ConfigSource(Protocol):
    """Reads the configuration again, from where it came from, without
    holding up the loop (``reread.ChildConfigSource`` reads in a child)."""

    def read(
        self,
        done: Callable[[ReadOutcome], None],
        each: Optional[Callable[[Connection], None]] = None,
    ) -> None:
        """Start reading; ``done`` is called from the loop when it is read,
        and ``each`` (if given) with every connection before that."""

    def cancel(self) -> None:
        """Give up the read under way, if any; ``done`` is not called."""


class Engine:
    """The daemon: connections, admin port, signals, reload and shutdown.

    It is the admin port's ``AdminBackend``.
    """

    def __init__(
        self,
        config: Config,
        reactor: Optional[Reactor] = None,
        *,
        loader: Optional[ConfigSource] = None,
        admin: Optional[Admin] = None,
        uucp_locks: bool = True,
        default_signature: Optional[str] = None,
        strict: bool = False,
        metrics: Optional[Accepter] = None,
    ) -> None:
        self.config = config
        #: ``--metrics``: where to serve /metrics and /status (None: nowhere).
        self.metrics_accepter = metrics
        self.metrics_server: Optional[MetricsServer] = None
        #: ``--strict``: a reload that finds any error changes nothing.
        self.strict = strict
        self.reactor = reactor or Reactor()
        #: Re-reads the configuration from where it came from (SIGHUP, reload).
        self.loader = loader
        #: A read is under way, and who waits for its outcome.
        self._reading = False
        self._waiting: List[ReloadDone] = []
        #: What the read connections were found to be, as they came in:
        #: id(new) -> (the running connection, whether it is the same).
        self._compared: Dict[int, Tuple[Connection, bool]] = {}
        self._old_by_name: Dict[str, Connection] = {}
        #: Reloads asked for during that read (None: none): the file may
        #: have changed after the read began, so it is read once more after
        #: it, for all of them together.
        self._again: Optional[List[ReloadDone]] = None
        #: ``-p`` wins over the configuration's ``admin:`` and survives reloads.
        self.admin_override = admin
        self.uucp_locks = uucp_locks
        locks.set_enabled(uucp_locks)
        #: ``-s``: the RFC 2217 signature of connections that set none; None
        #: keeps the telnet layer's own default.
        self.default_signature = default_signature
        #: The admin port's ``version``: the ser2net release first, so that
        #: scripts matching ``version: \d+\.\d+`` read the behaviour they get.
        self.version = f"{SER2NET_VERSION} (pyser2net {__version__})"
        self.ports: Dict[str, Port] = {}
        self.rotators: List[RotatorPort] = []
        #: Each rotator's refusals by reason, kept across reloads by name.
        self.rotator_refusals: Dict[str, Dict[str, int]] = {}
        #: Connections waiting for their clients to leave: the new description,
        #: or None when the connection was removed from the configuration.
        self.pending: Dict[str, Optional[Connection]] = {}
        #: Enable state changed by the admin port (setportenable).
        self.enabled: Dict[str, bool] = {}
        self.admin_server: Optional[AdminServer] = None
        #: A client came or went, or an admin client spoke: admin sessions in
        #: YAML mode hear of the connections that changed, after this turn.
        self._report_due = False
        self._monitors: Dict[str, Tuple[str, AdminSession]] = {}
        self._signals: Deque[int] = collections.deque()
        self._stopping = False
        self._stop_timer: Optional[Timer] = None
        self.exit_code = 0
        #: -l -l: the data-flow summary (None without).
        self._flow: Optional[FlowLog] = None
        #: mDNS announcements; made when something asks for one, published
        #: once ``start_announcements`` is called (after detaching).
        self.announcer: Optional[Announcer] = None
        #: Totals per connection name; a port a reload replaces keeps them.
        self.counters: Dict[str, PortCounters] = {}
        #: When the daemon started (seconds since the epoch).
        self.started_at = time.time()
        #: Reloads by result: ``ok``, ``partial`` (entries with errors not
        #: served) and ``failed`` (nothing changed).
        self.reloads: Dict[str, int] = {"ok": 0, "partial": 0, "failed": 0}

    # -- start -------------------------------------------------------------

    def start(self, rejected: Sequence[Rejected] = ()) -> None:
        """Listen on every enabled connection, rotator and the admin port.

        One line is logged per port: where it listens, or why it cannot
        (it is then retried every accepter-retry-time seconds, as ser2net
        does).  The last line says what is not served: the ``rejected``
        entries of the configuration and the ports still waiting to bind.
        """
        for conn in self.config.connections:
            self._start_port(conn)
        self._start_rotators()
        self._start_admin()
        self._start_metrics()
        self._await_first_lookups()
        if FlowLog.wanted():
            self._flow = FlowLog(self.reactor, lambda: self.ports.items())
            self._flow.start()
        summary = self._summary(rejected)
        if rejected or any(p.binder.waiting for p in self.ports.values()):
            log.warning("%s", summary)
        else:
            log.info("%s", summary)

    def _await_first_lookups(self) -> None:
        """At start, wait for the host names being looked up, so that the
        summary, and the pid file that tells an init system the service
        is ready, come once the ports they name listen.

        Nothing is served yet, so waiting is no harm; the loop turns
        meanwhile (a port already listening serves its clients), and the
        wait is bounded: each lookup gives up after LOOKUP_SECONDS, and a
        port may look up twice (its names, then its accepter's).  A name
        not found by then is tried again like an address that cannot be
        bound.
        """
        binders = [p.binder for p in self.ports.values()] + [r.binder for r in self.rotators]
        for server in (self.admin_server, self.metrics_server):
            if server is not None:
                binders.append(server.binder)

        def settling() -> bool:
            return any(p.names.starting for p in self.ports.values()) or any(
                b.looking_up and not b.failures for b in binders
            )

        deadline = self.reactor.now() + 2 * LOOKUP_SECONDS
        while settling() and self.reactor.now() < deadline:
            self.reactor.run_once(timeout=deadline - self.reactor.now())

    def _summary(self, rejected: Sequence[Rejected]) -> str:
        """``3 connections listening; 1 not started because of ...: b at F:4:13``."""
        ports = list(self.ports.values())
        listening = sum(1 for p in ports if p.conn.enable and p.binder.bound)
        disabled = sum(1 for p in ports if not p.conn.enable)
        waiting = [p.conn.name for p in ports if p.conn.enable and p.binder.waiting]
        parts = [_count(listening, "connection") + " listening"]
        if disabled:
            parts[0] += f", {disabled} disabled"
        if waiting:
            parts.append(f"{len(waiting)} waiting to listen (retrying): {', '.join(waiting)}")
        if rejected:
            conns = sum(1 for r in rejected if r.kind == "connection")
            rots = len(rejected) - conns
            what = " and ".join(
                x
                for x in (
                    _count(conns, "connection") if conns else "",
                    _count(rots, "rotator") if rots else "",
                )
                if x
            )
            parts.append(
                f"{what} not started because of configuration errors: "
                + ", ".join(str(r) for r in rejected)
            )
        return "; ".join(parts)

    def _start_rotators(self) -> None:
        names = {r.name for r in self.config.rotators}
        for gone in set(self.rotator_refusals) - names:
            del self.rotator_refusals[gone]
        if not self.config.rotators:
            return
        from pyser2net.runtime.rotator import RotatorPort

        for rotator in self.config.rotators:
            refused = self.rotator_refusals.setdefault(rotator.name, {})
            rot = RotatorPort(self.reactor, rotator, self.ports, refused)
            try:
                started = rot.start()
            except TlsSetupError as exc:
                log.error("%s%s: %s", _where(rotator.position), rotator.name, exc)
                continue
            if started:
                log.info(
                    "rotator %s: listening on %s, connections %s",
                    rotator.name,
                    rot.binder.listening_text(),
                    ", ".join(rotator.connections),
                )
            self.rotators.append(rot)

    def _stop_rotators(self) -> None:
        for rot in self.rotators:
            rot.stop()
        self.rotators = []

    def _start_port(self, conn: Connection) -> bool:
        counters = self.counters.setdefault(conn.name, PortCounters())
        port = Port(self.reactor, conn, self.config.leds, counters)
        port.device_busy = lambda: self._device_busy(port)
        port.on_clients_changed = self._clients_changed
        if self.default_signature is not None:
            port.signature = self.default_signature
        self.ports[conn.name] = port
        self.enabled[conn.name] = conn.enable
        if conn.name in self._monitors:
            self._tap(conn.name, True)  # a replaced port keeps its monitor
        try:
            started = port.start()
        except TlsSetupError as exc:
            # Not served at all rather than served without TLS.
            log.error("%s%s: %s", _where(conn.position), conn.name, exc)
            port.stop()
            return not conn.enable
        if conn.enable:
            self._announce_port(conn)
        if not started:
            # Logged by its binder, which keeps trying, or by the port
            # once the names it looks up are found.
            return False
        port.log_started()
        return True

    def _device_busy(self, port: Port) -> bool:
        """Whether another port has ``port``'s device open, as ser2net sees it:
        the same connector string, written the same way."""
        text = port.conn.connector.text
        return any(
            other is not port and other.device is not None and other.conn.connector.text == text
            for other in self.ports.values()
        )

    def _admin_config(self) -> Optional[Admin]:
        return self.admin_override or self.config.admin

    def _start_admin(self) -> None:
        admin = self._admin_config()
        if admin is None:
            return
        from pyser2net.runtime.admin import AdminServer

        server = AdminServer(self.reactor, admin.accepter, self, authdir=admin.authdir)
        server.on_activity = self._admin_activity
        _start_service(server, f"{_where(admin.position)}admin port", "admin port")
        self.admin_server = server
        if admin.mdns is not None:
            name = admin.mdns.name or admin.name
            if not name:
                log.error("admin port: mdns is on but it has no name (admin: &name, or mdns-name)")
            else:
                self._announce(ADMIN_OWNER, name, admin.mdns, admin.accepter)

    # -- mDNS ----------------------------------------------------------------

    def start_announcements(self) -> None:
        """Publish the mDNS announcements (zeroconf's thread must not be
        started before the daemon detaches)."""
        if self.announcer is not None:
            self.announcer.start()

    def _announce_port(self, conn: Connection) -> None:
        mdns = conn.options.mdns
        if mdns is None:
            return
        attrs: List[str] = []
        device = conn.connector.device
        if mdns.sysattrs and isinstance(device, SerialDevice):
            node: Optional[str] = device.path
            if device.usb is not None:
                from pyser2net.runtime.usbdevices import UsbResolveError, resolve

                try:
                    node = resolve(device.usb).node
                except UsbResolveError:
                    node = None  # not plugged in now: announced without them
            from pyser2net.runtime.usbdevices import sysattrs

            attrs = sysattrs(node) if node else []
        self._announce(conn.name, conn.name, mdns, conn.accepter, attrs)

    def _announce(
        self, owner: str, name: str, mdns: Mdns, accepter: Accepter, attrs: Sequence[str] = ()
    ) -> None:
        from pyser2net.protocol.mdns import Announcement, AnnouncementError, describe
        from pyser2net.runtime.announce import Announcer

        try:
            announcement: Announcement = describe(name, mdns, accepter, accepter.port, attrs)
        except AnnouncementError as exc:
            log.error("%s: mdns: not announced: %s", owner, exc)
            return
        if self.announcer is None:
            self.announcer = Announcer(self.reactor)
        self.announcer.announce(owner, announcement)

    def _withdraw(self, owner: str) -> None:
        if self.announcer is not None:
            self.announcer.withdraw(owner)

    def _start_metrics(self) -> None:
        accepter = self.metrics_accepter
        if accepter is None:
            return
        import json

        from pyser2net.protocol.status import status_document
        from pyser2net.runtime.exposition import Exposition
        from pyser2net.runtime.metrics import MetricsServer

        exposition = Exposition(self.snapshot)

        def metrics() -> Tuple[bytes, str]:
            return exposition.render(), exposition.content_type

        def status() -> Tuple[bytes, str]:
            doc = status_document(*self.snapshot())
            return (json.dumps(doc, indent=1) + "\n").encode(), "application/json"

        server = MetricsServer(self.reactor, accepter, {"/metrics": metrics, "/status": status})
        _start_service(server, "--metrics", "metrics")
        self.metrics_server = server

    def snapshot(self) -> Tuple[ProcessStatus, List[PortStatus]]:
        """The daemon and every port, as /status and the metrics show them."""
        from pyser2net.protocol.status import ProcessStatus

        process = ProcessStatus(
            version=__version__,
            ser2net_version=SER2NET_VERSION,
            started_at=self.started_at,
            config_reloads=dict(self.reloads),
            rotator_refusals={
                r.name: dict(self.rotator_refusals.get(r.name, {})) for r in self.config.rotators
            },
        )
        ports = [self.port_status(name) for name in self.ports]
        return process, [st for st in ports if st is not None]

    # -- signals -------------------------------------------------------------

    def install_signal_handlers(self) -> None:
        # Python retries select() after running a handler (PEP 475), so the
        # handler alone would not wake the loop: the wakeup fd does.
        rfd, wfd = os.pipe()
        os.set_blocking(rfd, False)
        os.set_blocking(wfd, False)
        signal.set_wakeup_fd(wfd, warn_on_full_buffer=False)
        self.reactor.add_reader(rfd, lambda: _drain(rfd))
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, _frame: object) -> None:
        self._signals.append(signum)
        self._watch_turns()

    def _watch_turns(self) -> None:
        """Run ``_after_select`` after every loop turn until its work is done."""
        if self._after_select not in self.reactor.after_select:
            self.reactor.after_select.append(self._after_select)

    def _clients_changed(self) -> None:
        if self.admin_server is not None and self.admin_server.connections:
            self._admin_activity()

    def _admin_activity(self) -> None:
        self._report_due = True
        self._watch_turns()

    def _after_select(self) -> None:
        if self._signals:
            self._handle_signals()
        if self.pending:
            self._finish_pending()
        if self._report_due:
            self._report_due = False
            self._report_connections()
        if self._stopping:
            self._check_stopped()
        if not (self.pending or self._stopping or self._report_due):
            self.reactor.after_select.remove(self._after_select)
            if self._signals:  # one came in after the test above
                self._watch_turns()

    def _handle_signals(self) -> None:
        while self._signals:
            signum = self._signals.popleft()
            if signum in (signal.SIGTERM, signal.SIGINT):
                log.info("shutting down on signal %d", signum)
                self.shutdown()
            elif signum == signal.SIGHUP and not self._stopping:
                log.info("got SIGHUP, re-reading the configuration")
                self.reload()

    # -- reload --------------------------------------------------------------

    def reload(self, done: Optional[ReloadDone] = None) -> None:
        """Re-read the configuration and apply what is valid of it; then
        tell ``done`` what happened.

        The configuration is read without holding up the loop (the source
        reads it in a child process); serving goes on meanwhile, and what
        was read is checked as a whole before any of it is applied.
        Reloads asked for while a read is under way are served by one more
        read after it.
        """
        waiter = [done] if done is not None else []
        if self.loader is None:
            self._answer(waiter, ReloadOutcome(["no configuration source to reload from"], False))
            return
        if self._reading:
            self._again = (self._again or []) + waiter
            return
        self._start_read(waiter)

    def _start_read(self, waiting: List[ReloadDone]) -> None:
        assert self.loader is not None
        self._reading = True
        self._waiting = waiting
        self._old_by_name = {c.name: c for c in self.config.connections}
        self._compared = {}
        self.loader.read(self._read_done, self._compare)

    def _compare(self, conn: Connection) -> None:
        """Note whether a connection just read is the one running, as it
        comes: a slice of the reload's work per loop turn, not all at once."""
        from pyser2net.config.reload import same_connection

        old = self._old_by_name.get(conn.name)
        if old is not None:
            self._compared[id(conn)] = (old, same_connection(old, conn))

    def _same(self, old: Connection, new: Connection) -> bool:
        """``same_connection``, answered from ``_compare``'s notes when it can."""
        noted = self._compared.get(id(new))
        if noted is not None and noted[0] is old:
            return noted[1]
        from pyser2net.config.reload import same_connection

        return same_connection(old, new)

    def _read_done(self, outcome: ReadOutcome) -> None:
        waiting, self._waiting = self._waiting, []
        self._reading = False
        if self._stopping:
            self._answer(waiting, ReloadOutcome(["the daemon is stopping"], applied=False))
            return
        try:
            answer = self._apply_read(outcome)
        finally:
            self._compared = {}
            self._old_by_name = {}
        result = "failed" if not answer.applied else "partial" if answer.problems else "ok"
        self.reloads[result] += 1
        self._answer(waiting, answer)
        again, self._again = self._again, None
        if again is not None:
            log.info("re-reading the configuration once more: reloads were asked for meanwhile")
            self._start_read(again)

    @staticmethod
    def _answer(waiting: List[ReloadDone], outcome: ReloadOutcome) -> None:
        for done in waiting:
            done(outcome)

    def _apply_read(self, outcome: ReadOutcome) -> ReloadOutcome:
        """Apply a configuration read again, or say why it is refused.

        As ser2net does, an entry with errors is not served: a running
        connection whose new definition has errors stops like a removed
        one.  Nothing changes at all when the file cannot be read in full
        (missing, a YAML syntax error, an include that cannot be opened, a
        read that took too long), when it holds no valid connection while
        some are running (an empty file, a file saved half-way), or with
        ``--strict`` when it has any error.
        """
        if isinstance(outcome, ConfigError):
            return self._reload_refused([str(i) for i in outcome.issues], "it cannot be read")
        result = outcome
        problems = [str(i) for i in result.issues]
        if self.strict and problems:
            return self._reload_refused(problems, "it has errors and --strict is given")
        if not result.complete:
            return self._reload_refused(problems, "part of it cannot be read")
        if not result.config.connections and self.config.connections:
            why = "it has no valid connection" if problems else "it has no connection"
            return self._reload_refused(problems, why)
        for problem in problems:
            log.error("reload: %s", problem)
        stopped = [
            r.name
            for r in result.rejected
            if r.name is not None
            and r.name in self.ports
            and result.config.connection(r.name) is None
        ]
        if stopped:
            log.warning(
                "reload: %s stopped: %s new definition%s errors",
                ", ".join(stopped),
                "its" if len(stopped) == 1 else "their",
                " has" if len(stopped) == 1 else "s have",
            )
        self.apply(result.config)
        if result.rejected:
            log.warning("reload: %s", self._summary(result.rejected))
        return ReloadOutcome(problems, applied=True)

    def _reload_refused(self, problems: List[str], why: str) -> ReloadOutcome:
        for problem in problems:
            log.error("reload: %s", problem)
        log.error("reload failed (%s), the previous configuration stays in use", why)
        return ReloadOutcome(problems, applied=False)

    def apply(self, new: Config) -> ReloadPlan:
        """Move the running service from ``self.config`` to ``new``."""
        from pyser2net.config.reload import plan_reload

        plan = plan_reload(self.config, new, self._same)
        old_admin = self._admin_config()
        rotators_changed = _rotators_key(self.config) != _rotators_key(new)
        self.config = new
        if rotators_changed:
            self._stop_rotators()
        for name in plan.stop:
            self._retire(name, None)
        for conn in plan.replace:
            if conn.name in plan.kick:
                port = self.ports.get(conn.name)
                if port is not None:
                    self._kick(port, "connection disabled")
            self._retire(conn.name, conn)
        for conn in plan.start:
            if conn.name in self.pending:
                # Re-added while its old incarnation still has clients.
                self.pending[conn.name] = conn
            else:
                self._start_port(conn)
        for name in plan.unchanged:
            if name in self.pending:
                self.pending[name] = new.connection(name)
            port = self.ports.get(name)
            if port is not None:
                # Renewed keys and certificates, for new sessions.
                for source in (port.tls, port.device_tls):
                    if source is not None:
                        source.reload()
        if plan.admin_changed and self.admin_override is None:
            if self.admin_server is not None:
                self.admin_server.stop()
                self.admin_server = None
            self._withdraw(ADMIN_OWNER)
            try:
                self._start_admin()
            except EngineError as exc:
                log.error("%s", exc)
        elif old_admin is None and self._admin_config() is not None:
            self._start_admin()
        if rotators_changed:
            self._start_rotators()
        else:
            for rot in self.rotators:
                if rot.tls is not None:
                    rot.tls.reload()
        if (
            not plan.admin_changed
            and self.admin_server is not None
            and (self.admin_server.tls is not None)
        ):
            self.admin_server.tls.reload()
        log.info(
            "configuration reloaded: %d new, %d removed, %d changed, %d unchanged",
            len(plan.start),
            len(plan.stop),
            len(plan.replace),
            len(plan.unchanged),
        )
        self._finish_pending()
        if self.pending:
            self._watch_turns()
        return plan

    def _retire(self, name: str, replacement: Optional[Connection]) -> None:
        """Stop accepting on ``name``; finish the change once nobody is connected."""
        port = self.ports.get(name)
        if port is None:
            if replacement is not None:
                self._start_port(replacement)
            return
        port.stop_listening()
        self._withdraw(name)
        self.pending[name] = replacement

    def _finish_pending(self) -> None:
        for name in list(self.pending):
            port = self.ports.get(name)
            if port is not None and _busy(port):
                continue
            replacement = self.pending.pop(name)
            if port is not None:
                port.stop()
                self._drop_monitor(name)
                del self.ports[name]
                self.enabled.pop(name, None)
            if replacement is not None and not self._stopping:
                self._start_port(replacement)
                log.info("%s: new settings in effect", name)
            else:
                self.counters.pop(name, None)
                log.info("%s: removed", name)

    # -- shutdown ------------------------------------------------------------

    def shutdown(self) -> None:
        """Close every connection cleanly, then leave the loop.

        Listeners close at once; clients get what is queued for them, and
        devices what clients sent, for at most SHUTDOWN_DRAIN_SECONDS.
        """
        if self._stopping:
            return
        self._stopping = True
        if self.admin_server is not None:
            self.admin_server.stop()
        if self.announcer is not None:
            self.announcer.close()  # goodbyes first: the ports are going
        if self.metrics_server is not None:
            self.metrics_server.stop()
        self._stop_rotators()
        for port in self.ports.values():
            port.close_gracefully()
        self._stop_timer = self.reactor.call_later(SHUTDOWN_DRAIN_SECONDS, self._stop_now)
        self._watch_turns()
        self._check_stopped()

    def _check_stopped(self) -> None:
        if any(_busy(p) or p.devq for p in self.ports.values()):
            return
        self._stop_now()

    def _stop_now(self) -> None:
        if self._stop_timer is not None:
            self._stop_timer.cancel()
        if self._reading and self.loader is not None:
            self.loader.cancel()
            self._reading = False
            waiting, self._waiting = self._waiting + (self._again or []), []
            self._again = None
            self._answer(waiting, ReloadOutcome(["the daemon is stopping"], applied=False))
        if self._flow is not None:
            self._flow.stop()
        for port in self.ports.values():
            port.stop()
        self.reactor.stop()

    def run(self) -> int:
        try:
            self.reactor.run()
        finally:
            if self.announcer is not None:
                self.announcer.close()
        return self.exit_code

    # -- admin backend ---------------------------------------------------------

    def port_names(self) -> List[str]:
        return list(self.ports)

    def port_status(self, name: str) -> Optional[PortStatus]:
        port = self.ports.get(name)
        if port is None:
            return None
        conn = port.conn
        enabled = self.enabled.get(name, conn.enable) and name not in self.pending
        clients = [c for c in port.clients if not c.closing]
        counters = port.counters
        counted = [c for c in port.clients if not c.refused]
        status = PortStatus(
            name=name,
            accepter=conn.accepter.text,
            enabled=enabled,
            timeout=conn.timeout,
            device=conn.connector.text,
            clients=[
                ClientStatus(
                    remote_text(c.addr),
                    c.bytes_received,
                    c.bytes_sent,
                    c.stream.queued + c.stream.unsent_in_kernel(),
                    c.connected_at,
                )
                for c in clients
            ],
            bytes_from_device=port.bytes_from_device,
            bytes_to_device=port.bytes_to_device,
            close_state=(
                "retained"
                if name not in self.pending
                else "deleted"
                if self.pending[name] is None
                else "reconfigured"
            ),
            device_open=port.device_open,
            waiting_for_device=port.waiting_for_device,
            device_bytes_in=counters.device_in + port.bytes_from_device,
            device_bytes_out=counters.device_out + port.bytes_to_device,
            network_bytes_in=counters.net_in + sum(c.bytes_received for c in counted),
            network_bytes_out=counters.net_out + sum(c.bytes_sent for c in counted),
            connections_accepted=counters.accepted,
            connections_refused=dict(counters.refused),
            disconnects=dict(counters.disconnects),
            device_open_failures=dict(counters.open_failures),
            device_retries=dict(counters.retries),
        )
        if not enabled:
            state = "unconnected"
        elif any(c.closing for c in port.clients) and not clients:
            state = "closing"
        else:
            state = "waiting output" if clients else "waiting input"
        status.tcp_to_device_state = status.device_to_tcp_state = state
        device = conn.connector.device
        if isinstance(device, SerialDevice):
            settings = device.serial
            live = port.device if isinstance(port.device, SerialPort) else None
            if live is not None:
                settings = live.settings
            status.baud = settings.speed
            status.device_config = settings_text(settings) if not device.wronly else None
            path = device.path
            if device.usb is not None:
                node = opened_path(port.device)
                status.device_node = path = f"{device.path} -> {node or 'none'}"
            where = f"{path},{status.device_config or ''}".rstrip(",")
            if port.waiting_since is not None:
                status.device_waiting = (
                    "waiting for device since "
                    + time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(port.waiting_since))
                    + f" ({port.discarded} bytes from clients discarded)"
                )
            if live is not None:
                status.device_controls = _controls(live)
                status.device_state = f"{where} {status.device_controls}"
            else:
                status.device_state = f"{where} {status.device_waiting or 'offline'}"
        else:
            status.device_state = conn.connector.text
        return status

    def disconnect(self, name: str) -> Optional[str]:
        port = self.ports[name]
        if not any(not c.closing for c in port.clients):
            return f"Port not connected - {name}"
        self._kick(port, "disconnected by the admin port")
        return None

    def set_timeout(self, name: str, seconds: int) -> Optional[str]:
        self.ports[name].set_timeout(seconds)
        return None

    def set_control(self, name: str, controls: Sequence[str]) -> Optional[str]:
        port = self.ports[name]
        if not any(not c.closing for c in port.clients):
            return f"Port is not currently connected - {name}"
        for word in controls:
            if word.upper() not in CONTROLS:
                return f"Invalid device control - {word}"
        device = port.device
        if not isinstance(device, SerialPort) or device.port is None:
            return None  # nothing to drive on an echo or network device
        for word in controls:
            word = word.upper()
            try:
                if word.startswith("DTR"):
                    device.port.dtr = word == "DTRHI"
                else:
                    device.port.rts = word == "RTSHI"
            except (OSError, ValueError) as exc:
                # ser2net answers success and moves on (a pty has no modem
                # lines); the log says what happened.
                log.warning("%s: cannot set %s: %s", name, word, exc)
        return None

    def set_enable(self, name: str, enable: bool) -> Optional[str]:
        port = self.ports[name]
        if self.enabled.get(name, port.conn.enable) == enable:
            return "port was already in the given state"
        if enable:
            error = port.binder.try_once()
            if error is not None:
                return f"Unable to enable port - {error}"
            self._announce_port(port.conn)
        else:
            port.stop()
            self._withdraw(name)
        self.enabled[name] = enable
        return None

    def monitor(self, session: AdminSession, kind: str, name: str) -> Optional[str]:
        current = self._monitors.get(name)
        if current is not None and current[1] is not session:
            return "Port is already being monitored"
        self._monitors[name] = (kind, session)
        self._tap(name, True)
        return None

    def unmonitor(self, session: AdminSession) -> None:
        for name, (_kind, owner) in list(self._monitors.items()):
            if owner is session:
                del self._monitors[name]
                self._tap(name, False)

    def _drop_monitor(self, name: str) -> None:
        entry = self._monitors.pop(name, None)
        if entry is not None:
            entry[1].monitoring = None
            self._tap(name, False)

    # -- helpers ---------------------------------------------------------------

    def _kick(self, port: Port, reason: str) -> None:
        for client in list(port.clients):
            port.drop_client(client, reason)

    def _tap(self, name: str, on: bool) -> None:
        """Feed the admin ``monitor`` command from a port's data path.

        The tap sits on the port only while someone monitors it, so the data
        path of unmonitored ports pays nothing for the feature.
        """
        port = self.ports.get(name)
        if port is None:
            return
        if not on:
            port.monitors[:] = [t for t in port.monitors if getattr(t, "monitor_of", None) != name]
            return

        def tap(direction: str, data: bytes) -> None:
            entry = self._monitors.get(name)
            if entry is None or entry[0] != direction or self.admin_server is None:
                return
            conn = self.admin_server.connection_for(entry[1])
            if conn is not None:
                conn.monitor_data(bytes(data))

        # A mark on the function, for "monitor stop" to find this tap.
        tap.monitor_of = name  # type: ignore[attr-defined]
        port.monitors.append(tap)

    def _report_connections(self) -> None:
        server = self.admin_server
        if server is None or not server.wants_connection_events():
            return
        server.connection_events(
            [
                (name, remote_text(c.addr))
                for name, port in self.ports.items()
                for c in port.clients
                if not c.closing
            ]
        )


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def _where(position: Optional[Position]) -> str:
    """``FILE:LINE:COL: `` of a configuration entry, for errors found at run time."""
    return f"{position}: " if position is not None else ""


def _start_service(server: Service, where: str, label: str) -> None:
    """Start the admin port or ``--metrics``: listening now or retried
    (logged as ``label``); a key or certificate that cannot be used stops
    the daemon (EngineError, beginning with ``where``)."""
    try:
        started = server.start()
    except TlsSetupError as exc:
        raise EngineError(f"{where}: {exc}") from None
    if started:
        log.info("%s: listening on %s", label, server.binder.listening_text())


def _rotators_key(config: Config) -> list:
    return [(r, r.accepter.text) for r in config.rotators]


def _busy(port: Port) -> bool:
    return bool(port.clients)


def _controls(device: SerialPort) -> str:
    """DTR and RTS as last set, as ser2net lists them.

    A tty without modem lines (a pty) cannot report them, and ser2net then
    prints ``?``; pyser2net shows the state last asked for (by a client or
    by ``setportcontrol``), which is what a UART would report, so that a
    pty standing in for a device shows what its clients do.
    """
    port = device.port
    if port is None:
        return "?"
    return f"{'RTSHI' if port.rts else 'RTSLO'} {'DTRHI' if port.dtr else 'DTRLO'}"


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 512):
            pass
    except BlockingIOError:
        pass
