"""The local end of ``pyser2net attach``: a pseudo-terminal that acts as a serial port.

An application opens the link (``/dev/ttyNET0``, a symbolic link to the
slave side of a pty) as if it were a serial port; pyser2net holds the
master side.  What the application does must reach the remote port, and
a pty reports only some of it:

* **Settings.**  With packet mode (``TIOCPKT``) on the master and
  ``EXTPROC`` in the slave's local flags, the kernel queues a status byte
  (``TIOCPKT_IOCTL``) for the master whenever the application changes the
  termios settings; the master then reads them with ``TCGETS2``, which has
  the speed in bits per second, so non-standard rates come through.
  ``EXTPROC`` also tells the line discipline that input editing is done
  elsewhere: it skips canonical editing, echo and signal characters.  For
  an application in raw mode (every serial program that moves bytes, and
  pyserial) that changes nothing, so it is kept on; an application that
  asks for cooked input (``ICANON``, ``ECHO``, ``ISIG``, or CR/NL mapping)
  gets it from the kernel: ``EXTPROC`` is cleared for it, and its settings
  are polled every :data:`POLL_SECONDS` instead.  An application that
  clears ``EXTPROC`` itself (``c_lflag = 0``) still sends that one last
  notification, and the flag is set again since it makes no difference
  to it.  (Setting it writes the settings back whole, as read an instant
  before: a second ``tcsetattr`` landing in those microseconds would be
  undone.  Polling such applications instead would leave every change
  they make unseen for a poll period, while what they write after it
  goes out at the old speed; the microseconds are the smaller risk.)
* **Flushes.**  ``tcflush`` shows up as ``TIOCPKT_FLUSHREAD`` and
  ``TIOCPKT_FLUSHWRITE`` status bits.  A flush of the application's input
  also drops what was on its way to it (queued here, or written to the
  pty since its flush), as a UART's driver empties its buffer and FIFO.
  Statuses are read even while the application's data is not (no server
  to send it to, or one that does not keep up): a status alone is
  watched for (``EPOLLPRI``), and a one-byte read in packet mode takes a
  pending status, or a bare data header and no data.  Statuses pending
  when an application is seen to open the port are taken before anything
  is written to it: what it did before (pyserial flushes its input as it
  opens a port) concerns nothing written after.
* **Open and close.**  A master reads as hung up (``POLLHUP``, reads fail
  with ``EIO``) exactly while no descriptor of the slave is open.  Being
  level-triggered, a hung-up master cannot stay in the poller; so the
  slave's node is watched with inotify (every open and close of it is an
  event), and without inotify the hang-up is polled every
  :data:`HUP_POLL_SECONDS`.  When the last application closes the port,
  data it left unread is discarded, as a UART's driver does.
* Modem-line ioctls (``TIOCMGET``/``TIOCMSET``...) fail on a pty with
  ``ENOTTY`` and a break is silently dropped; the kernel forces eight data
  bits and no parity.  None of it can reach the master.

All master-side termios changes go through ``TCSETS2``, so the speed the
application set (any rate) is never rewritten.
"""

from __future__ import annotations

import errno
import fcntl
import grp
import logging
import os
import select
import struct
import termios
from dataclasses import dataclass, replace
from typing import Optional, Protocol, Union

from pyser2net.protocol.linesettings import EXTPROC, LineSettings
from pyser2net.runtime.inotify import Inotify
from pyser2net.runtime.reactor import Reactor
from pyser2net.runtime.stream import Stream, StreamError, StreamUser
from pyser2net.runtime.timers import TimerSlot

log = logging.getLogger(__name__)

# Linux values, not in Python's termios module.
TIOCPKT = 0x5420
TCGETS2 = 0x802C542A
TCSETS2 = 0x402C542B
BOTHER = 0o010000
CBAUD = 0o010017
TIOCPKT_FLUSHREAD = 0x01
TIOCPKT_FLUSHWRITE = 0x02
TIOCPKT_IOCTL = 0x40

#: The speed of a new pty; never sent unless an application sets it.
INITIAL_BAUD = 9600
#: How often the settings of an application in cooked mode are read.
POLL_SECONDS = 0.25
#: How often the hang-up is looked at when inotify cannot tell.
HUP_POLL_SECONDS = 0.1

_COOKED_LFLAG = termios.ICANON | termios.ECHO | termios.ISIG
_COOKED_IFLAG = (
    termios.ISTRIP | termios.IGNCR | termios.ICRNL | termios.INLCR | getattr(termios, "IUCLC", 0)
)

_TERMIOS2 = struct.Struct("=IIIIB19sII")


@dataclass(frozen=True)
class Termios2:
    """``struct termios2``: the flags and the speeds in bits per second."""

    iflag: int
    oflag: int
    cflag: int
    lflag: int
    line: int
    cc: bytes
    ispeed: int
    ospeed: int

    @property
    def cooked(self) -> bool:
        """The application wants the line discipline to edit its input."""
        return bool(self.lflag & _COOKED_LFLAG or self.iflag & _COOKED_IFLAG)


def get_termios2(fd: int) -> Termios2:
    buf = bytearray(_TERMIOS2.size)
    fcntl.ioctl(fd, TCGETS2, buf)
    return Termios2(*_TERMIOS2.unpack(buf))


def set_termios2(fd: int, t: Termios2) -> None:
    fcntl.ioctl(
        fd,
        TCSETS2,
        _TERMIOS2.pack(t.iflag, t.oflag, t.cflag, t.lflag, t.line, t.cc, t.ispeed, t.ospeed),
    )


class VirtualPortError(Exception):
    """The pty or its link could not be set up; the text says why, in one line."""


class PortUser(StreamUser, Protocol):
    """What the port tells the code above it, besides the data."""

    def app_opened(self) -> None:
        """An application opened the port (no descriptor of it was open)."""

    def app_closed(self, settings: LineSettings) -> None:
        """The last application closed it; ``settings`` as it left them."""

    def settings_changed(self, settings: LineSettings) -> None:
        """The application changed what reaches the remote port."""

    def purge_requested(self, which: int) -> None:
        """The application flushed: 1 its input, 2 its output, 3 both."""


class VirtualPort:
    """A pty with a link to its slave, watched for what an application does."""

    def __init__(
        self,
        reactor: Reactor,
        user: PortUser,
        link: str,
        *,
        mode: int = 0o660,
        group: Optional[str] = "dialout",
        stopbits: int = 1,
        high_water: int = 65536,
    ) -> None:
        self._reactor = reactor
        self.user = user
        self.link = link
        self._mode = mode
        self._group = group
        self._stopbits = stopbits
        self._high_water = high_water
        self.master = -1
        self.slave_path = ""
        self.stream: Optional[Stream] = None
        self.settings: Optional[LineSettings] = None
        #: An application has set the termios settings at least once: until
        #: then the remote port keeps its own.
        self.app_set = False
        self.is_open = False
        self._want_reading = True
        self._inotify: Optional[Inotify] = None
        self._hup_poller = select.poll()
        self._settings_poll = TimerSlot(reactor, self._poll_settings)
        self._hup_poll = TimerSlot(reactor, self._check_line)
        #: The master, watched for a pending status alone (while its data is not read).
        self._statuses: Optional[select.epoll] = None
        self._watching_statuses = False
        #: What the pty stream had written when the application last flushed its input.
        self._written_at_flush = 0
        # The pty stream calls the user directly for data: no frame between.
        self.data_received = user.data_received

    # -- setting up ---------------------------------------------------------

    def create(self) -> None:
        """Make the pty, set it up as a raw serial line, link it; raises VirtualPortError."""
        master, slave = os.openpty()
        try:
            self.slave_path = os.ttyname(slave)
            t = get_termios2(master)
            cflag = (
                t.cflag & ~(CBAUD | termios.CSIZE | termios.PARENB | termios.CSTOPB)
                | BOTHER
                | termios.CS8
                | termios.CREAD
                | termios.CLOCAL
                | termios.HUPCL
                | (termios.CSTOPB if self._stopbits == 2 else 0)
            )
            cc = bytearray(t.cc)
            cc[termios.VMIN], cc[termios.VTIME] = 1, 0
            set_termios2(
                master,
                Termios2(0, 0, cflag, EXTPROC, t.line, bytes(cc), INITIAL_BAUD, INITIAL_BAUD),
            )
            fcntl.ioctl(master, TIOCPKT, struct.pack("i", 1))
        except OSError as exc:
            os.close(master)
            os.close(slave)
            raise VirtualPortError(
                f"cannot set up a pseudo-terminal: {exc.strerror or exc}"
            ) from None
        os.close(slave)
        os.set_blocking(master, False)
        self.master = master
        self._hup_poller.register(master, 0)  # POLLHUP is reported whatever the mask
        self._statuses = select.epoll()
        self._statuses.register(master, select.EPOLLPRI)
        self._permissions()
        try:
            self._make_link()
        except VirtualPortError:
            self.close()
            raise
        self._inotify = Inotify.watch(self.slave_path)
        if self._inotify is not None:
            self._reactor.add_reader(self._inotify.fd, self._inotify_ready)
        else:
            log.info(
                "%s: no inotify, looking for applications every %.1f s", self.link, HUP_POLL_SECONDS
            )
        self._check_line()

    def _permissions(self) -> None:
        try:
            os.chmod(self.slave_path, self._mode)
        except OSError as exc:
            log.warning(
                "%s: cannot set mode %o on %s: %s",
                self.link,
                self._mode,
                self.slave_path,
                exc.strerror,
            )
        if not self._group:
            return
        try:
            gid = grp.getgrnam(self._group).gr_gid
        except KeyError:
            log.warning(
                "%s: no group %r, %s keeps its group", self.link, self._group, self.slave_path
            )
            return
        try:
            os.chown(self.slave_path, -1, gid)
        except OSError as exc:
            log.warning(
                "%s: cannot give %s to group %s: %s",
                self.link,
                self.slave_path,
                self._group,
                exc.strerror,
            )

    def _make_link(self) -> None:
        """Point ``link`` at the slave in one step: a temporary link, renamed."""
        if os.path.lexists(self.link) and not os.path.islink(self.link):
            raise VirtualPortError(
                f"{self.link} exists and is not a symbolic link; remove it or choose another --link"
            )
        if os.path.islink(self.link):
            old = os.readlink(self.link)
            if os.path.exists(self.link):
                log.warning(
                    "%s pointed to %s, which still exists; it now points to %s",
                    self.link,
                    old,
                    self.slave_path,
                )
        tmp = f"{self.link}.{os.getpid()}.tmp"
        try:
            if os.path.lexists(tmp):
                os.unlink(tmp)
            os.symlink(self.slave_path, tmp)
            os.replace(tmp, self.link)
        except OSError as exc:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise VirtualPortError(f"cannot create {self.link}: {exc.strerror or exc}") from None

    # -- what the application does -------------------------------------------

    def _hung_up(self) -> bool:
        return any(ev & select.POLLHUP for _, ev in self._hup_poller.poll(0))

    def _check_line(self) -> None:
        """Compare the hang-up state with what we believe; act on a change."""
        if self.master < 0:
            return
        hung_up = self._hung_up()
        if self.is_open and hung_up:
            self._app_gone()
        elif not self.is_open and not hung_up:
            self._app_here()
        if self._inotify is None and (not self.is_open or not self._want_reading):
            self._hup_poll.arm(HUP_POLL_SECONDS)

    def _inotify_ready(self) -> None:
        assert self._inotify is not None
        if self._inotify.drain():
            self._check_line()

    def _app_here(self) -> None:
        self.is_open = True
        self.stream = Stream(
            self._reactor,
            self,
            read_fd=self.master,
            write_fd=self.master,
            recv=self._recv,
            send=self._send,
            close=_nothing,
            high_water=self._high_water,
        )
        if self._want_reading:
            self.stream.resume_reading()
        self._written_at_flush = 0
        self._take_statuses()  # what it did before anything is written to it
        self._check_settings("snapshot")
        self.user.app_opened()
        self._watch_statuses()

    def _app_gone(self) -> None:
        self.is_open = False
        self._settings_poll.cancel()
        self._watch_statuses()
        if self.stream is not None:
            if self._want_reading:
                self._take_last_writes()
            self.stream.close()
            self.stream = None
        self._drop_unread()
        self._check_settings("diff")
        assert self.settings is not None
        self.user.app_closed(self.settings)

    def _take_last_writes(self) -> None:
        """What the application wrote just before closing still goes out."""
        for _ in range(64):
            try:
                chunk = os.read(self.master, 65537)
            except OSError:  # EIO once empty
                return
            if chunk[0] == 0 and len(chunk) > 1:
                self.data_received(chunk[1:])
            else:
                self._status(chunk[0])

    def _drop_unread(self) -> None:
        """Drop what the application left unread, as a UART's driver does on
        the last close."""
        if self._flush_slave_input() and self._hung_up():
            # The flush queued a FLUSHREAD status for the master: take it now,
            # or the next application would seem to have flushed.
            try:
                os.read(self.master, 1)
            except OSError:
                pass

    def _flush_slave_input(self) -> bool:
        """Empty the slave's input queue, which only a descriptor of the
        slave can flush; whether it was (a FLUSHREAD status of our own is
        then pending on the master)."""
        try:
            fd = os.open(self.slave_path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        except OSError:
            return False
        try:
            termios.tcflush(fd, termios.TCIFLUSH)
        except termios.error:
            return False
        finally:
            os.close(fd)
        return True

    def _flush_to_app(self) -> None:
        """The application flushed its input: what was on its way to it goes
        too, queued here or written to the pty since (flushed again, and our
        own flush's status taken; anything else reported with it is handled)."""
        stream = self.stream
        if stream is None:
            return
        dropped = stream.discard_queued()
        # A write to the pty goes in pieces, which the application may read
        # and flush between: what was written since the last flush goes
        # again.  (What arrives just after a flush is then dropped too, as
        # a UART may drop what reaches its FIFO as the driver flushes it.)
        again = stream.bytes_written != self._written_at_flush and self._flush_slave_input()
        if again:
            try:
                status = os.read(self.master, 1)
            except OSError:
                status = b""
            rest = status[0] & ~TIOCPKT_FLUSHREAD if status else 0
            if rest:
                self._status(rest)
        self._written_at_flush = stream.bytes_written
        log.debug(
            "%s: the application flushed its input: %d queued bytes dropped%s",
            self.link,
            dropped,
            ", and what the pty held" if again else "",
        )

    def _take_statuses(self) -> None:
        """Handle the statuses pending on the master without reading data."""
        for _ in range(8):
            try:
                chunk = os.read(self.master, 1)
            except OSError:  # nothing pending (EAGAIN), or no slave open (EIO)
                return
            if not chunk or chunk[0] == 0:
                return  # a data header: no status; the data stays
            self._status(chunk[0])

    def _watch_statuses(self) -> None:
        """Watch for statuses alone while the application is there and its
        data is not read (they come with the data while it is)."""
        want = self.is_open and not self._want_reading and self._statuses is not None
        if want == self._watching_statuses:
            return
        assert self._statuses is not None
        self._watching_statuses = want
        if want:
            self._reactor.add_reader(self._statuses.fileno(), self._take_statuses)
        else:
            self._reactor.remove_reader(self._statuses.fileno())

    def _send(self, data: Union[bytes, bytearray]) -> int:
        """Write to the application, after any flush it made meanwhile
        (which may leave nothing of ``data``, a queue it empties)."""
        statuses = self._statuses
        if statuses is not None and statuses.poll(0):
            self._take_statuses()
        return os.write(self.master, data)

    def _recv(self, size: int) -> bytes:
        """Packet mode: a status byte alone, or 0 and the data."""
        try:
            chunk = os.read(self.master, size + 1)
        except OSError as exc:
            if exc.errno == errno.EIO:  # no slave open any more
                self._check_line()
                raise BlockingIOError from None
            raise
        if chunk[0] == 0 and len(chunk) > 1:
            return chunk[1:]
        self._status(chunk[0])
        raise BlockingIOError

    def _status(self, status: int) -> None:
        if status & TIOCPKT_IOCTL:
            self._check_settings("notified")
        which = status & (TIOCPKT_FLUSHREAD | TIOCPKT_FLUSHWRITE)
        if which and self.is_open:
            if which & TIOCPKT_FLUSHREAD:
                self._flush_to_app()
            self.user.purge_requested(which)

    def _poll_settings(self) -> None:
        if self.is_open:
            self._check_settings("diff")

    def _check_settings(self, how: str) -> None:
        """Read the termios settings, keep EXTPROC right, report what the
        application set.

        ``how`` is "notified" (the kernel said the application set them:
        report a change, and the first setting even if it equals what the
        pty had, since the remote port has settings of its own), "diff"
        (report a change) or "snapshot" (only remember them).
        """
        try:
            t = get_termios2(self.master)
        except OSError as exc:
            log.warning("%s: cannot read the settings: %s", self.link, exc.strerror)
            return
        if t.cooked and t.lflag & EXTPROC:
            self._set_lflag(t, t.lflag & ~EXTPROC)
        elif not t.cooked and not t.lflag & EXTPROC:
            self._set_lflag(t, t.lflag | EXTPROC)
        if t.cooked and self.is_open:
            self._settings_poll.ensure(POLL_SECONDS)
        settings = LineSettings.from_flags(t.iflag, t.cflag, t.ospeed)
        changed = settings != self.settings
        self.settings = settings
        if (how == "diff" and changed) or (how == "notified" and (changed or not self.app_set)):
            self.app_set = True
            self.user.settings_changed(settings)

    def _set_lflag(self, t: Termios2, lflag: int) -> None:
        try:
            set_termios2(self.master, replace(t, lflag=lflag))
        except OSError as exc:
            log.warning("%s: cannot change EXTPROC: %s", self.link, exc.strerror)

    def check_now(self) -> None:
        """Read the settings and the open state now (after a pause, say)."""
        self._check_line()
        if self.is_open:
            self._check_settings("diff")

    # -- the pty stream ------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Bytes for the application; dropped while no application has the port open."""
        if self.stream is not None:
            self.stream.write(data)

    @property
    def writing_paused(self) -> bool:
        return self.stream is not None and self.stream.writing_paused

    def pause_reading(self) -> None:
        """Stop taking the application's writes (they wait in the pty)."""
        self._want_reading = False
        if self.stream is not None:
            self.stream.pause_reading()
        self._watch_statuses()
        if self._inotify is None:
            self._hup_poll.ensure(HUP_POLL_SECONDS)

    def resume_reading(self) -> None:
        self._want_reading = True
        if self.stream is not None:
            self.stream.resume_reading()
        self._watch_statuses()

    # StreamUser, for the pty stream: data goes straight to the user.

    def eof_received(self) -> None:  # a pty master reads EIO, never end of file
        self._check_line()

    def connection_lost(self, exc: Optional[StreamError]) -> None:
        self.stream = None
        self.is_open = False
        log.warning("%s: pty error (%s); waiting for the next open", self.link, exc)
        self._check_line()

    def pause_writing(self) -> None:
        self.user.pause_writing()

    def resume_writing(self) -> None:
        self.user.resume_writing()

    # -- the end --------------------------------------------------------------

    def close(self) -> None:
        """Remove the link (if it is still ours) and close the pty."""
        self._settings_poll.cancel()
        self._hup_poll.cancel()
        if self.stream is not None:
            self.stream.close()
            self.stream = None
        if self._statuses is not None:
            self._reactor.forget(self._statuses.fileno())
            self._statuses.close()
            self._statuses = None
            self._watching_statuses = False
        if self._inotify is not None:
            self._reactor.forget(self._inotify.fd)
            self._inotify.close()
            self._inotify = None
        try:
            if self.slave_path and os.readlink(self.link) == self.slave_path:
                os.unlink(self.link)
        except OSError:
            pass
        if self.master >= 0:
            try:
                self._hup_poller.unregister(self.master)
            except (KeyError, OSError):
                pass
            os.close(self.master)
            self.master = -1


def _nothing() -> None:
    """The pty stream does not own the master: the port closes it."""
