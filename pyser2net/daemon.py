"""Becoming a daemon: detaching, the pid file, and where log messages go.

The order matters and follows ser2net: the configuration is read and every
port is opened *before* detaching, so that a broken configuration or a busy
port is reported on the terminal with a non-zero exit instead of vanishing
into syslog; the pid file is written after the ports are open, so that an
init system that waits for it knows the service is ready.
"""

from __future__ import annotations

import logging
import os
import sys
from logging.handlers import SysLogHandler
from typing import List, Optional

log = logging.getLogger("pyser2net")

#: The identifier syslog shows for our messages.
SYSLOG_IDENT = "pyser2net"


class PidfileError(Exception):
    """The pid file cannot be written where it was asked for."""


def setup_logging(to_stdout: bool, verbosity: int) -> None:
    """stdout with ``-d``, syslog (facility daemon) otherwise.

    Without a syslog socket (a container, say) messages go to stderr rather
    than nowhere.
    """
    level = logging.DEBUG if verbosity else logging.INFO
    handler: logging.Handler
    if to_stdout:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter(f"{SYSLOG_IDENT}[%(process)d]: %(message)s"))
    else:
        try:
            handler = SysLogHandler(address="/dev/log", facility=SysLogHandler.LOG_DAEMON)
            handler.ident = f"{SYSLOG_IDENT}[{os.getpid()}]: "
            handler.setFormatter(logging.Formatter("%(message)s"))
        except OSError:
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter(f"{SYSLOG_IDENT}[%(process)d]: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def fix_syslog_ident() -> None:
    """After the fork the pid in the syslog ident is the parent's: renew it."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, SysLogHandler):
            handler.ident = f"{SYSLOG_IDENT}[{os.getpid()}]: "


def check_pidfile(path: str) -> None:
    """Fail early (before detaching) when the pid file cannot be created.

    A missing directory is the usual mistake (``/run/ser2net/`` not made by
    the init system); finding it only after detaching would leave a daemon
    nobody can find.
    """
    directory = os.path.dirname(os.path.abspath(path)) or "/"
    if not os.path.isdir(directory):
        raise PidfileError(f"cannot write pid file {path}: directory {directory} does not exist")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise PidfileError(f"cannot write pid file {path}: directory {directory} is not writable")
    if os.path.isdir(path):
        raise PidfileError(f"cannot write pid file {path}: it is a directory")


def write_pidfile(path: str) -> None:
    """Write our pid, replacing what was there (ser2net does the same)."""
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with open(tmp, "w") as f:
            f.write(f"{os.getpid()}\n")
        os.replace(tmp, path)  # never a half-written pid file for a reader
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise PidfileError(f"cannot write pid file {path}: {exc.strerror}") from None


def remove_pidfile(path: str) -> None:
    """Remove the pid file if it still names us (a successor may own it now)."""
    try:
        with open(path) as f:
            owner = f.read().strip()
    except OSError:
        return
    if owner != str(os.getpid()):
        return
    try:
        os.unlink(path)
    except OSError:
        pass


def detach(keep_fds: Optional[List[int]] = None) -> None:
    """Become a daemon with python-daemon, keeping the descriptors given.

    Every descriptor open now is kept unless a list is given: the listening
    sockets, the signal pipe and the syslog socket were all made before.
    """
    import daemon

    if keep_fds is None:
        keep_fds = [int(fd) for fd in os.listdir("/proc/self/fd") if int(fd) > 2]
    context = daemon.DaemonContext(
        files_preserve=keep_fds,
        working_directory="/",
        umask=0o022,
        detach_process=True,
        # Our own handlers are installed after detaching.
        signal_map={},
    )
    context.open()
    fix_syslog_ident()
