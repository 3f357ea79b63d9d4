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
import resource
import stat
from typing import List, Optional

from pyser2net.runtime import logsinks
from pyser2net.runtime.reactor import Reactor

log = logging.getLogger("pyser2net")

#: The identifier syslog shows for our messages.
SYSLOG_IDENT = "pyser2net"


class PidfileError(Exception):
    """The pid file cannot be written where it was asked for."""


#: Shows warnings on the terminal until the daemon detaches.
_early: Optional[logging.Handler] = None


def setup_logging(to_stdout: bool, verbosity: int, foreground: bool = True) -> None:
    """stdout with ``-d``, syslog (facility daemon) otherwise.

    ``-l`` shows debug messages, ``-l -l`` the data flow as well.  Without
    a syslog socket (a container, a chroot) messages go to standard error
    rather than nowhere, also after detaching when that is a file, a
    terminal or journald.  Until a daemon detaches, warnings are also shown
    on the terminal it was started from.
    """
    global _early
    # No message shows where it was logged from, or from which thread: a
    # record need not find out (a look up the stack for each one).
    logging._srcfile = None
    logging.logThreads = False
    logging.logMultiprocessing = False
    level = (logging.INFO, logging.DEBUG)[verbosity] if verbosity < 2 else logsinks.TRAFFIC
    handler: logging.Handler
    note = None
    if to_stdout:
        handler = _stream_handler(1)
    else:
        path = logsinks.syslog_path()
        try:
            handler = logsinks.SyslogSink.connect(path, SYSLOG_IDENT)
        except OSError as exc:
            handler = _stream_handler(2)
            where = "standard error"
            if not foreground and not _keeps_after_detaching(2):
                where += " until pyser2net detaches (start it with -n to keep them)"
            note = f"no syslog at {path} ({exc.strerror or exc}): log messages go to {where}"
        else:
            handler.setFormatter(logging.Formatter("%(message)s"))
            if not foreground:
                _early = _stream_handler(2, plain=True)
                _early.setLevel(logging.WARNING)
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    if _early is not None:
        root.addHandler(_early)
    root.setLevel(level)
    if note:
        log.warning("%s", note)


def _stream_handler(fd: int, plain: bool = False) -> logging.Handler:
    """A non-blocking handler for stdout or stderr, stamped unless journald reads it."""
    try:
        handler: logging.Handler = logsinks.StreamSink(fd)
    except OSError:
        return logging.NullHandler()  # started with that descriptor closed
    if plain:
        handler.setFormatter(logging.Formatter(f"{SYSLOG_IDENT}: %(message)s"))
    elif logsinks.writes_to_journal(fd):
        handler.setFormatter(logsinks.JournalFormatter(SYSLOG_IDENT))
    else:
        handler.setFormatter(logsinks.TimestampFormatter(SYSLOG_IDENT))
    return handler


def _keeps_after_detaching(fd: int) -> bool:
    """Whether a detached daemon may go on writing to ``fd``.

    A file, a terminal and journald's stream are fine.  A pipe or a socket
    is not: whoever started us (``ssh host pyser2net``, a script reading
    our output) would wait for it to close as long as the daemon runs.
    """
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    return stat.S_ISREG(mode) or os.isatty(fd) or logsinks.writes_to_journal(fd)


def attach_logging(reactor: Reactor) -> None:
    """Let the event loop write out log lines an output could not take at once."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logsinks.StreamSink):
            handler.attach(reactor)


def _release_terminal() -> None:
    """Stop writing to outputs a detached daemon must not hold."""
    global _early
    root = logging.getLogger()
    for handler in root.handlers[:]:
        if handler is _early or (
            isinstance(handler, logsinks.StreamSink)
            and not _keeps_after_detaching(handler.target_fd)
        ):
            root.removeHandler(handler)
            handler.close()
    _early = None


def raise_fd_limit() -> Optional[int]:
    """Raise the soft limit on open descriptors to the hard one; the new limit.

    Every client holds a socket, so the common soft limit of 1024 is a
    ceiling on clients that the hard limit (often far higher) does not
    impose.  The event loop uses epoll, which has no limit of its own on
    descriptor numbers.  None when the limit cannot be read or changed.
    """
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft != hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        return hard
    except (OSError, ValueError):
        return None


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
    sockets, the signal pipe and the log outputs were all made before.  The
    warnings shown on the terminal until now stop here.
    """
    import daemon

    _release_terminal()
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
