"""Where log lines go, without ever holding up the event loop.

Python's own handlers write with blocking calls and print a traceback to
standard error when a write fails.  For a daemon both are wrong:

* a pipe nobody reads (``pyser2net -d | slow-tool``, a supervisor that
  stopped reading) fills after 64 KiB, and a blocking write then stops every
  port, the accept loop and the signal handling with it;
* ``SysLogHandler`` does not notice a missing ``/dev/log`` (a container, a
  chroot) when it is made, only when it is used, and then every log line
  becomes a thirty-line "--- Logging error ---" report on standard error.

So the sinks here never block and never print tracebacks.  A stream sink
keeps a bounded buffer that the reactor flushes when the descriptor is
writable again; lines that do not fit are counted and dropped, and a line
saying how many were dropped goes out once writing works again.  The
syslog sink is connected when it is made, so that a missing socket is known
at start-up and the caller can pick another destination; a syslog that
cannot keep up costs lines, never time.

Setting O_NONBLOCK on standard output or standard error would change the
descriptor for every process sharing it (the shell, a pager, the next
command in a pipeline): the flag belongs to the open file, not to the
descriptor number.  The stream sink therefore writes through an open file
of its own (``/proc/self/fd/N`` opened again, non-blocking), through
``send(MSG_DONTWAIT)`` when the descriptor is a socket (journald's stdout
stream), or directly when it is a regular file, which never stalls.
"""

from __future__ import annotations

import errno
import logging
import os
import select
import socket
import stat
import time
from typing import TYPE_CHECKING, Callable, Optional, Union

if TYPE_CHECKING:
    from pyser2net.runtime.reactor import Reactor

Bytes = Union[bytes, bytearray]

#: ``-l -l``: the data-flow summary, below DEBUG.
TRAFFIC = 5
logging.addLevelName(TRAFFIC, "TRAFFIC")

#: Where the local syslog daemon listens; the environment variable points
#: somewhere else (tests give a socket of their own, or none).
SYSLOG_PATH = "/dev/log"
SYSLOG_ENV = "PYSER2NET_SYSLOG"

#: Bytes of log lines kept while the output does not take them.
STREAM_BUFFER = 64 * 1024

#: A write when all we know is that poll() said "writable": small enough to
#: complete without blocking on a pipe (POSIX PIPE_BUF is at least 512).
_POLLED_CHUNK = 512


class _QuietHandler(logging.Handler):
    """A handler whose failures are counted instead of printed.

    The default ``handleError`` writes a traceback to standard error for
    every failed line, which is exactly the output that cannot take it.
    """

    def __init__(self) -> None:
        super().__init__()
        #: Lines lost because the output was full or failing.
        self.dropped = 0
        #: Lines that could not be written or formatted at all.
        self.failures = 0
        #: Drops not yet reported in the output.
        self._unreported = 0

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        self.failures += 1
        self._drop()

    def _drop(self, lines: int = 1) -> None:
        self.dropped += lines
        self._unreported += lines

    def _dropped_line(self) -> str:
        """The report of the lines lost so far, formatted like any other line."""
        record = logging.LogRecord(
            "pyser2net",
            logging.WARNING,
            __file__,
            0,
            "%d log lines dropped",
            (self._unreported,),
            None,
        )
        return self.format(record)


class _Output:
    """Non-blocking writes to a descriptor shared with other processes.

    ``write`` returns how many bytes were taken (0 when the output is full)
    and raises OSError when the output is gone; ``fd`` is what the reactor
    watches for writability, or None when writes never wait.
    """

    def __init__(self, fd: int) -> None:
        mode = os.fstat(fd).st_mode
        self._sock: Optional[socket.socket] = None
        self._own: Optional[int] = None
        self.fd: Optional[int] = None
        if stat.S_ISSOCK(mode):
            self._sock = socket.socket(fileno=os.dup(fd))
            self.fd = self._sock.fileno()
            self.write: Callable[[Bytes], int] = self._send
            return
        if not stat.S_ISREG(mode):
            try:
                self._own = os.open(
                    f"/proc/self/fd/{fd}", os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
                )
            except OSError:
                pass  # no /proc (a bare chroot), or a pipe already without reader
            else:
                self.fd = self._own
                self.write = self._write_own
                return
        # A duplicate, so that the output stays ours when the daemon
        # detaches and descriptors 1 and 2 become /dev/null.
        self._own = os.dup(fd)
        os.set_inheritable(self._own, False)
        if stat.S_ISREG(mode):
            self.write = self._write_file
        else:
            self.fd = self._own
            self.write = self._write_polled

    def _write_file(self, data: Bytes) -> int:
        assert self._own is not None
        return os.write(self._own, data)

    def _send(self, data: Bytes) -> int:
        assert self._sock is not None
        try:
            return self._sock.send(data, socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return 0

    def _write_own(self, data: Bytes) -> int:
        assert self._own is not None
        try:
            return os.write(self._own, data)
        except (BlockingIOError, InterruptedError):
            return 0

    def _write_polled(self, data: Bytes) -> int:
        assert self._own is not None
        poller = select.poll()
        poller.register(self._own, select.POLLOUT)
        ready = poller.poll(0)
        if not ready:
            return 0
        if ready[0][1] & (select.POLLERR | select.POLLHUP | select.POLLNVAL):
            raise OSError(errno.EPIPE, "output closed")
        return os.write(self._own, data[:_POLLED_CHUNK])

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._own is not None:
            os.close(self._own)
            self._own = None


class StreamSink(_QuietHandler):
    """Log lines to standard output or standard error, never blocking.

    Lines the output does not take at once wait in a buffer of at most
    ``limit`` bytes, written out when the reactor (see :meth:`attach`) says
    the output is writable; lines that do not fit are dropped and counted.
    An output that fails for good (a closed pipe, a hung-up terminal) costs
    the lines, and is tried again with each new line.
    """

    def __init__(self, fd: int, limit: int = STREAM_BUFFER) -> None:
        super().__init__()
        self.target_fd = fd
        self._out = _Output(fd)
        self._limit = limit
        self._buffer = bytearray()
        self._lines = 0  # lines in the buffer, the one being written included
        self._report = 0  # drops told by the buffer's first line, until it is out
        self._reactor: Optional[Reactor] = None
        self._watching = False

    def attach(self, reactor: Reactor) -> None:
        """Flush the buffer from ``reactor`` whenever the output can take more."""
        self._reactor = reactor
        self._watch()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:  # noqa: BLE001 - a bad format string costs one line
            self.handleError(record)
            return
        self._put(line)

    def _put(self, line: str) -> None:
        if self._buffer:
            self._flush()
        if self._unreported and not self._buffer:
            self._queue_report()
        if len(self._buffer) + len(line) + 1 > self._limit and self._buffer:
            self._drop()
            return
        self._append(line)
        self._flush()

    def _append(self, line: str) -> None:
        self._buffer += line.encode("utf-8", "replace") + b"\n"
        self._lines += 1

    def _queue_report(self) -> None:
        """Put the drop report first in the (empty) buffer."""
        self._append(self._dropped_line())
        self._report, self._unreported = self._unreported, 0

    def _flush(self) -> None:
        """Write what the output takes now; never waits."""
        if self._write_buffer() and not self._buffer and self._unreported:
            # Writable again after drops: say so while the output takes it.
            self._queue_report()
            self._write_buffer()
        self._watch()

    def _write_buffer(self) -> bool:
        """False when the output failed (EPIPE, EIO...): the buffered lines are lost."""
        buffer = self._buffer
        try:
            while buffer:
                written = self._out.write(buffer)
                if not written:
                    break
                lines = buffer.count(b"\n", 0, written)
                if lines:
                    self._lines -= lines
                    self._report = 0  # it was the first line
                del buffer[:written]
        except OSError:
            self.failures += 1
            lost = self._lines - (1 if self._report else 0)
            self._unreported += self._report
            self._report = 0
            self._drop(lost)
            buffer.clear()
            self._lines = 0
            return False
        return True

    def _watch(self) -> None:
        reactor, fd = self._reactor, self._out.fd
        if reactor is None or fd is None:
            return
        if self._buffer and not self._watching:
            reactor.add_writer(fd, self._writable)
            self._watching = True
        elif not self._buffer and self._watching:
            reactor.remove_writer(fd)
            self._watching = False

    def _writable(self) -> None:
        self.acquire()
        try:
            self._flush()
        finally:
            self.release()

    def flush(self) -> None:
        """One last non-blocking attempt (logging calls it at exit)."""
        self.acquire()
        try:
            if self._buffer:
                self._flush()
        finally:
            self.release()

    def close(self) -> None:
        self.acquire()
        try:
            if self._reactor is not None and self._watching and self._out.fd is not None:
                self._reactor.remove_writer(self._out.fd)
            self._watching = False
            self._reactor = None
            self._out.close()
        finally:
            self.release()
        super().close()


class SyslogSink(_QuietHandler):
    """Messages to the local syslog socket, facility daemon, never blocking.

    Made by :meth:`connect`, which fails when nobody listens there, so the
    caller knows at start-up.  The socket is a datagram socket, as journald,
    rsyslog and syslog-ng provide by default; a stream socket there counts
    as no syslog.  A message the syslog daemon has no room for is dropped
    and counted; if the daemon restarts, the socket is connected again on
    the next message.
    """

    FACILITY_DAEMON = 3

    def __init__(self, path: str, sock: socket.socket, ident: str) -> None:
        super().__init__()
        self.path = path
        self.ident = ident
        self._sock: Optional[socket.socket] = sock

    @classmethod
    def connect(cls, path: str, ident: str) -> SyslogSink:
        """A sink talking to the syslog socket at ``path``; OSError when there is none."""
        return cls(path, _syslog_socket(path), ident)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:  # noqa: BLE001 - a bad format string costs one line
            self.handleError(record)
            return
        if self._unreported:
            report = self._datagram(logging.WARNING, self._dropped_line(), record.process)
            if not self._send(report):
                self._drop()
                return
            self._unreported = 0
        if not self._send(self._datagram(record.levelno, text, record.process)):
            self._drop()

    def _datagram(self, level: int, text: str, pid: Optional[int]) -> bytes:
        priority = self.FACILITY_DAEMON * 8 + syslog_priority(level)
        return f"<{priority}>{self.ident}[{pid}]: {text}".encode("utf-8", "replace")

    def _send(self, data: bytes) -> bool:
        for _ in range(2):
            if self._sock is None:
                try:
                    self._sock = _syslog_socket(self.path)
                except OSError:
                    return False
            try:
                self._sock.send(data)
                return True
            except (BlockingIOError, InterruptedError):
                return False  # the syslog daemon is behind: this line is lost
            except OSError:
                # Restarted (ECONNREFUSED) or gone: connect again, once.
                self._sock.close()
                self._sock = None
        return False

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        super().close()


def syslog_priority(level: int) -> int:
    """The syslog severity of a logging level (7, debug, below INFO)."""
    for threshold, priority in (
        (logging.CRITICAL, 2),
        (logging.ERROR, 3),
        (logging.WARNING, 4),
        (logging.INFO, 6),
    ):
        if level >= threshold:
            return priority
    return 7


def _syslog_socket(path: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def syslog_path() -> str:
    return os.environ.get(SYSLOG_ENV) or SYSLOG_PATH


def writes_to_journal(fd: int) -> bool:
    """Whether ``fd`` is the journald stream systemd connected us to.

    systemd names that stream in JOURNAL_STREAM (``device:inode``); the
    descriptor must still be it, since a redirection may have replaced it.
    """
    value = os.environ.get("JOURNAL_STREAM", "")
    try:
        device, inode = (int(part) for part in value.split(":"))
        st = os.fstat(fd)
    except (ValueError, OSError):
        return False
    return (st.st_dev, st.st_ino) == (device, inode)


class TimestampFormatter(logging.Formatter):
    """``2025-01-31 12:00:00.123 pyser2net[42]: message``."""

    def __init__(self, ident: str) -> None:
        super().__init__(f"%(asctime)s {ident}[%(process)d]: %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: Optional[str] = None) -> str:  # noqa: N802
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.created))
        return f"{stamp}.{int(record.msecs):03d}"


class JournalFormatter(logging.Formatter):
    """``<3>pyser2net[42]: message``: journald reads the priority prefix.

    journald stamps every line itself, so no time is added.
    """

    def __init__(self, ident: str) -> None:
        super().__init__(f"{ident}[%(process)d]: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        return f"<{syslog_priority(record.levelno)}>{super().format(record)}"
