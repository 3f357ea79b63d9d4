"""Trace files: copies of the data a connection moves, as ser2net 4.3 writes them.

Existing trace files are parsed by people and scripts, so the bytes must be
ser2net's own.  What ser2net 4.3 does, and therefore what this module does:

* The files are opened when the device is set up for the first client
  (not at startup) and closed when the port shuts down after the last
  client left.  They are opened ``O_WRONLY | O_CREAT | O_APPEND`` with mode
  0600: every session appends; nothing is ever truncated.
* All templates of one port are rendered with the same clock reading, so
  files named after the time belong together.
* ``trace-read`` gets the bytes read from the device (sent to clients),
  ``trace-write`` the bytes clients sent (written to the device), and
  ``trace-both`` both, in the order they were seen.
* Plain mode appends the raw bytes, nothing else.
* Hexdump mode writes each chunk read (one ``read()`` of the device or of a
  client) as lines of at most eight bytes::

      term 41 42 43 0d 0a ff 7f 7e  |ABC....~|
      tcp  0a                       |.|

  The four-character direction tag is ``term`` for data from the device
  and ``tcp `` for data from a client (fixed tags, whatever the accepter).
  A chunk never continues a line of the previous chunk.
* Timestamp mode prefixes every hexdump line with the local time as
  ``2026/11/21 12:35:37 `` and records connects and disconnects::

      2026/11/21 12:35:29 OPEN (ipv4,127.0.0.1,51862)
      2026/11/21 12:35:30 CLOSE netcon (network read close)
      2026/11/21 12:35:30 CLOSE port (All users disconnected)

  Plain data lines get no timestamp, so an event line may directly follow
  raw bytes without a newline in between; ser2net does the same.
* When ``trace-read`` names the same template as ``trace-write`` (or
  ``trace-both`` as either), the file is opened once and the first one's
  hexdump/timestamp settings apply.  Data is nevertheless written once per
  option naming the file: read == both records device data twice, exactly
  like ser2net.  Event lines are written once per file.
* A file that cannot be opened or written is logged and left out; tracing
  never affects the connection.
"""

from __future__ import annotations

import logging
import os
import time
from datetime import datetime
from typing import Callable, Dict, List, Optional, Tuple

from pyser2net.config.model import ConnectionOptions, TraceFile

log = logging.getLogger(__name__)

#: Data read from the device, on its way to the clients.
READ = "read"
#: Data a client sent, on its way to the device.
WRITE = "write"
#: The key of ``trace-both`` (not a direction).
BOTH = "both"

#: The direction tags of hexdump lines (ser2net calls the device side
#: "term" and the network side "tcp", padded to four columns).
TAGS = {READ: "term", WRITE: "tcp "}

#: Why ser2net closes things, as it writes them in CLOSE lines.
NETCON = "netcon"
PORT = "port"
REASON_REMOTE_CLOSED = "network read close"
REASON_TIMEOUT = "timeout"
REASON_KICKED = "kicked off, new user is coming\r\n"
REASON_PORT_CLOSING = "port closing"
REASON_ALL_USERS = "All users disconnected"
REASON_SHUTDOWN = "program shutdown"

TIMESTAMP_FORMAT = "%Y/%m/%d %H:%M:%S "

#: Bytes shown as themselves in the ASCII column: C-locale isprint().
_PRINTABLE = bytes(range(0x20, 0x7F))
_ASCII_COLUMN = bytes(b if b in _PRINTABLE else 0x2E for b in range(256))

Renderer = Callable[[str], str]

_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)


def remote_text(address: Tuple) -> str:
    """A peer address as ser2net prints it in OPEN lines (gensio's raddr form).

    ``("127.0.0.1", 51862)`` becomes ``ipv4,127.0.0.1,51862``; a 4-tuple
    from an IPv6 socket, including a mapped IPv4 peer, becomes
    ``ipv6,::ffff:127.0.0.1,60902``.
    """
    host, port = address[0], address[1]
    family = "ipv6" if len(address) >= 4 or ":" in host else "ipv4"
    return f"{family},{host},{port}"


class TraceFormatter:
    """Turns data and events into the bytes of one trace file; pure, no I/O.

    Separate from the writer so that the exact format can be tested against
    recorded ser2net output with a fixed clock.
    """

    def __init__(self, hexdump: bool = False, timestamp: bool = False) -> None:
        self.hexdump = hexdump
        self.timestamp = timestamp
        # The hot path formats the same second many times: keep the last one.
        self._cached_second = -1
        self._cached_stamp = ""

    def stamp(self, now: Optional[datetime] = None) -> str:
        """The timestamp prefix (local time, as ser2net's localtime())."""
        if now is not None:
            return now.strftime(TIMESTAMP_FORMAT)
        second = int(time.time())
        if second != self._cached_second:
            self._cached_stamp = time.strftime(TIMESTAMP_FORMAT, time.localtime(second))
            self._cached_second = second
        return self._cached_stamp

    def data(self, direction: str, data: bytes, now: Optional[datetime] = None) -> bytes:
        """What one chunk of ``data`` moving in ``direction`` adds to the file."""
        if not self.hexdump or not data:
            return bytes(data)
        head = (self.stamp(now) if self.timestamp else "") + TAGS[direction] + " "
        lines: List[str] = []
        for start in range(0, len(data), 8):
            chunk = data[start : start + 8]
            shown = chunk.translate(_ASCII_COLUMN).decode("ascii")
            lines.append(f"{head}{chunk.hex(' '):<23}  |{shown}|\n")
        return "".join(lines).encode("ascii")

    def event(self, text: str, now: Optional[datetime] = None) -> bytes:
        """An event line; event lines are always timestamped.

        Returns nothing for a file without timestamps: ser2net records
        events only in those.
        """
        if not self.timestamp:
            return b""
        return (self.stamp(now) + text + "\n").encode("utf-8", "surrogateescape")

    def opened(self, remote: str, now: Optional[datetime] = None) -> bytes:
        """The line for a client that connected from ``remote`` (see remote_text)."""
        return self.event(f"OPEN ({remote})", now)

    def closed(self, what: str, reason: str, now: Optional[datetime] = None) -> bytes:
        """The line for a client (``netcon``) or the port (``port``) closing."""
        return self.event(f"CLOSE {what} ({reason})", now)


class _File:
    """One open trace file and its format."""

    def __init__(self, path: str, formatter: TraceFormatter) -> None:
        self.path = path
        self.formatter = formatter
        self.fd: Optional[int] = None

    def write(self, payload: bytes) -> None:
        if self.fd is None or not payload:
            return
        view = memoryview(payload)
        try:
            while view:
                written = os.write(self.fd, view)
                view = view[written:]
        except OSError as exc:
            # ser2net also gives up on the file after a failed write.
            log.error("Unable to write to trace file %s: %s", self.path, exc.strerror or exc)
            self.close()

    def close(self) -> None:
        if self.fd is not None:
            try:
                os.close(self.fd)
            except OSError:
                pass
            self.fd = None


class TraceWriter:
    """The trace files of one connection, open while its device is.

    Call :meth:`open` when the device is set up for the first client,
    :meth:`opened` for every client that connects, :meth:`record` for every
    chunk moved, :meth:`closed` for each client and then for the port, and
    :meth:`close` when the port shuts down.  Nothing here raises.

    ``render`` turns a file name template into a path; it is called once
    per file at each :meth:`open` and should use one clock reading for all
    of them.  Without it the templates are used as they are.
    """

    def __init__(
        self,
        trace_read: Optional[TraceFile] = None,
        trace_write: Optional[TraceFile] = None,
        trace_both: Optional[TraceFile] = None,
        render: Optional[Renderer] = None,
    ) -> None:
        self.specs = {READ: trace_read, WRITE: trace_write, BOTH: trace_both}
        self.render: Renderer = render or (lambda template: template)
        #: Which open file each option writes to (two may share one).
        self._slots: Dict[str, Optional[_File]] = {READ: None, WRITE: None, BOTH: None}
        self._files: List[_File] = []

    @classmethod
    def for_options(
        cls, options: ConnectionOptions, render: Optional[Renderer] = None
    ) -> Optional[TraceWriter]:
        """A writer for a connection's options, or None when nothing is traced."""
        if not (options.trace_read or options.trace_write or options.trace_both):
            return None
        return cls(options.trace_read, options.trace_write, options.trace_both, render)

    @property
    def is_open(self) -> bool:
        return bool(self._files)

    def open(self) -> None:
        """Open (create, append to) every configured file; failures are logged."""
        self.close()
        by_template: Dict[str, _File] = {}
        # ser2net opens write first, then read (sharing write's file when the
        # template is the same), then both (sharing write's, else read's).
        for key in (WRITE, READ, BOTH):
            spec = self.specs[key]
            if spec is None:
                continue
            handle = by_template.get(spec.path)
            if handle is None:
                handle = self._open_one(spec)
                by_template[spec.path] = handle
            self._slots[key] = handle

    def _open_one(self, spec: TraceFile) -> _File:
        handle = _File(spec.path, TraceFormatter(spec.hexdump, spec.timestamp))
        self._files.append(handle)
        try:
            handle.path = self.render(spec.path)
        except Exception as exc:  # a template bug must not cost the connection
            log.error("Unable to translate trace file %s: %s", spec.path, exc)
            return handle
        try:
            handle.fd = os.open(handle.path, _OPEN_FLAGS, 0o600)
        except OSError as exc:
            log.error("Unable to open trace file %s: %s", handle.path, exc.strerror or exc)
        return handle

    def record(self, direction: str, data: bytes) -> None:
        """Trace one chunk moving in ``direction`` (READ or WRITE)."""
        if not data:
            return
        for handle in (self._slots[direction], self._slots[BOTH]):
            if handle is not None:
                handle.write(handle.formatter.data(direction, data))

    def opened(self, remote: str) -> None:
        """Record a client connecting from ``remote`` (see remote_text)."""
        for handle in self._files:
            handle.write(handle.formatter.opened(remote))

    def closed(self, what: str, reason: str) -> None:
        """Record a client (NETCON) or the port (PORT) closing for ``reason``."""
        for handle in self._files:
            handle.write(handle.formatter.closed(what, reason))

    def close(self) -> None:
        """Close every file; the next :meth:`open` appends to them again."""
        for handle in self._files:
            handle.close()
        self._files = []
        self._slots = {READ: None, WRITE: None, BOTH: None}
