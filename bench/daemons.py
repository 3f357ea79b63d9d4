"""Starting, observing and stopping the daemons under test.

A ``Target`` knows how to run one implementation (pyser2net or ser2net) on a
configuration text.  ``Target.run`` is the "daemon launcher" every scenario
takes: a context manager that writes the configuration to a temporary file,
starts the daemon in the foreground, waits until every given port listens
and always kills the process by its pid on the way out.

Readiness is read from ``/proc/net/tcp`` (and ``tcp6``) instead of probed by
connecting: a probe connection would make the daemon open the device behind
the port, which would disturb the measurement that follows.

CPU time and memory are read from ``/proc/PID/stat`` and
``/proc/PID/status``, which cover every thread of the process.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Optional, Set, Tuple

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

#: How long a daemon may take to listen on its ports before a run fails.
START_TIMEOUT = 20.0
#: How long a daemon may take to exit on SIGTERM before it is SIGKILLed.
STOP_TIMEOUT = 5.0


class DaemonError(RuntimeError):
    """A daemon did not start, or died while it was being measured."""


class PortTaken(DaemonError):
    """Another process on the machine listens on a port the run picked.

    The ports are picked free and the daemon binds them a moment later:
    anything else on the machine may bind one in between.  The round is
    not the daemon's fault; ``run.py`` runs it again on other ports.
    """


def listening_ports() -> Set[int]:
    """Every local TCP port in the LISTEN state, IPv4 and IPv6."""
    return set(listening_sockets())


def listening_sockets() -> Dict[int, Set[int]]:
    """Every local TCP port in the LISTEN state, with the inodes of the
    sockets that listen on it (IPv4 and IPv6)."""
    ports: Dict[int, Set[int]] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f, None)
                for line in f:
                    fields = line.split()
                    if len(fields) > 9 and fields[3] == "0A":
                        port = int(fields[1].rsplit(":", 1)[1], 16)
                        ports.setdefault(port, set()).add(int(fields[9]))
        except OSError:
            continue
    return ports


def socket_inodes(pid: int) -> Set[int]:
    """The inodes of the sockets process ``pid`` and its descendants hold
    (a wrapper such as a profiler runs the daemon as its child)."""
    inodes: Set[int] = set()
    todo = [pid]
    while todo:
        one = todo.pop()
        try:
            fds = os.listdir(f"/proc/{one}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{one}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(int(target[8:-1]))
        try:
            for task in os.listdir(f"/proc/{one}/task"):
                with open(f"/proc/{one}/task/{task}/children") as f:
                    todo += [int(child) for child in f.read().split()]
        except OSError:
            continue
    return inodes


def _read_proc(pid: int, name: str) -> str:
    try:
        with open(f"/proc/{pid}/{name}") as f:
            return f.read()
    except OSError as exc:
        raise DaemonError(f"process {pid} is gone ({exc.strerror})") from None


def cpu_ticks(pid: int) -> int:
    """utime + stime of the process (all threads), in clock ticks."""
    return sum(cpu_split(pid))


def cpu_split(pid: int) -> Tuple[int, int]:
    """(utime, stime) of the process (all threads): its own code, and the
    kernel working for it (system calls), in clock ticks."""
    stat = _read_proc(pid, "stat")
    # The command name may hold spaces and parentheses: split after the last ")".
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[11]), int(fields[12])


def status_kib(pid: int, key: str, task: Optional[str] = None) -> int:
    """A number field of /proc/PID/status (VmRSS, VmHWM in KiB, ...), or of one thread's."""
    name = f"task/{task}/status" if task else "status"
    for line in _read_proc(pid, name).splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise DaemonError(f"no {key} in /proc/{pid}/{name}")


@dataclass
class Running:
    """A started daemon: its process and what /proc says about it."""

    name: str
    proc: subprocess.Popen
    log_path: Path
    started: float = field(default_factory=time.perf_counter)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise DaemonError(
                f"{self.name} exited with status {self.proc.returncode}: {self.log_tail()}"
            )

    def cpu_ticks(self) -> int:
        return cpu_ticks(self.pid)

    def cpu_split(self) -> Tuple[int, int]:
        return cpu_split(self.pid)

    def cpu_seconds(self) -> float:
        return cpu_ticks(self.pid) / CLOCK_TICKS

    def rss_kib(self) -> int:
        return status_kib(self.pid, "VmRSS")

    def check_owns(self, ports: Iterable[int]) -> None:
        """Raise PortTaken when another process listens on one of ``ports``."""
        listening = listening_sockets()
        ours = socket_inodes(self.pid)
        taken = sorted(p for p in ports if p in listening and not listening[p] & ours)
        if taken:
            raise PortTaken(
                f"{self.name}: port {taken[0]} (of {len(taken)} taken) is held by another "
                "process on this machine, which bound it after the run picked it"
            )

    def sleeps(self) -> int:
        """How often the daemon has gone to sleep waiting (its wake-ups), all threads."""
        try:
            tasks = os.listdir(f"/proc/{self.pid}/task")
        except OSError as exc:
            raise DaemonError(f"process {self.pid} is gone ({exc.strerror})") from None
        return sum(status_kib(self.pid, "voluntary_ctxt_switches", task=t) for t in tasks)

    def peak_rss_kib(self) -> int:
        return status_kib(self.pid, "VmHWM")

    def reset_peak_rss(self) -> bool:
        """Restart the VmHWM high-water mark from the current RSS, if allowed."""
        try:
            with open(f"/proc/{self.pid}/clear_refs", "w") as f:
                f.write("5")
        except OSError:
            return False
        return True

    def log_tail(self, size: int = 2000) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no output)"
        return text[-size:].strip() or "(no output)"


def wait_listening(running: Running, ports: Iterable[int], timeout: float) -> None:
    """Return once every port listens; raise if the daemon dies or time runs out."""
    wanted = set(ports)
    deadline = time.monotonic() + timeout
    while True:
        running.check_alive()
        missing = wanted - listening_ports()
        if not missing:
            # Listening, but maybe not the daemon: another process may have
            # bound a port between the pick and the daemon's bind.
            running.check_owns(wanted)
            return
        if time.monotonic() >= deadline:
            raise DaemonError(
                f"{running.name}: {len(missing)} of {len(wanted)} ports not listening "
                f"after {timeout:.0f}s: {running.log_tail()}"
            )
        time.sleep(0.005)


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL after STOP_TIMEOUT; always reaps the process.

    The daemon runs in a process group of its own (its pgid is its pid), so
    the signals also reach it when ``--pyser2net`` wraps it in another
    command (a profiler, a tracer).
    """
    if proc.poll() is None:
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait(timeout=STOP_TIMEOUT)
    # Whatever a wrapper left behind in the group goes too.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


@dataclass
class Target:
    """One implementation under test and the command that starts it."""

    name: str
    command: List[str]
    version: str = ""
    #: Environment of the daemon (None: this process's environment).
    env: Optional[Dict[str, str]] = None

    @contextlib.contextmanager
    def run(
        self,
        config: str,
        ports: Iterable[int] = (),
        wait: bool = True,
    ) -> Iterator[Running]:
        """Run the daemon on ``config`` for the duration of the ``with`` block.

        With ``wait`` the block starts once every port in ``ports`` listens;
        without it, right after the process was started (``Running.started``
        is the moment just before the fork).
        """
        with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
            cfg = Path(tmp) / "config.yaml"
            cfg.write_text(config)
            log_path = Path(tmp) / "daemon.log"
            with open(log_path, "wb") as log:
                argv = self.command + ["-n", "-d", "-c", str(cfg)]
                started = time.perf_counter()
                proc = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=tmp,
                    close_fds=True,
                    env=self.env,
                    start_new_session=True,
                )
                running = Running(self.name, proc, log_path, started)
                try:
                    if wait:
                        wait_listening(running, ports, START_TIMEOUT)
                    yield running
                    running.check_alive()
                finally:
                    stop(proc)

    def warm_up(self) -> None:
        """Start and stop once, so that the first measured start finds warm caches."""
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        config = f"connection: &warm\n  accepter: tcp,127.0.0.1,{port}\n  connector: echo\n"
        with self.run(config, [port]):
            pass


def _version(argv: List[str], name: str, env: Optional[Dict[str, str]] = None) -> str:
    """The version ``NAME version X`` names (pyser2net -v also prints the
    ser2net version it stands in for, for tools that parse it)."""
    try:
        out = subprocess.run(
            argv + ["-v"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=20,
            env=env,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    found = re.search(rf"(?:^|/){name} version (\S+)", out.stdout + out.stderr, re.MULTILINE)
    return found.group(1) if found else "unknown"


def pyser2net_target(command: Optional[str] = None, pycache: Optional[str] = None) -> Target:
    """pyser2net, run by this interpreter unless ``command`` says otherwise.

    With ``pycache``, compiled bytecode is kept in that directory
    (PYTHONPYCACHEPREFIX) even where the environment forbids writing it,
    so that, as with an installed package, no run pays for compiling.
    """
    argv = shlex.split(command) if command else [sys.executable, "-m", "pyser2net"]
    env = dict(os.environ)
    if pycache is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = pycache
    # UUCP lock files in a private directory: ser2net as Debian builds it
    # takes none, and a stale lock left on the machine must not skew a run.
    env["PYSER2NET_LOCKDIR"] = tempfile.mkdtemp(prefix="pyser2net-bench-locks-")
    return Target("pyser2net", argv, _version(argv, "pyser2net", env), env)


def find_ser2net(path: Optional[str] = None) -> Optional[str]:
    if path:
        return path if os.access(path, os.X_OK) else None
    found = shutil.which("ser2net")
    if found:
        return found
    for candidate in ("/usr/sbin/ser2net", "/usr/local/sbin/ser2net"):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def ser2net_target(path: Optional[str] = None) -> Optional[Target]:
    exe = find_ser2net(path)
    if exe is None:
        return None
    return Target("ser2net", [exe], _version([exe], "ser2net"))
