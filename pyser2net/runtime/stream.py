"""A stream: one descriptor's reads and writes, and its bounded output queue.

Every byte pyser2net moves goes through a ``Stream``: client sockets, the
serial device (or pty, pipe, socket connected out) and admin connections.
The stream is the only code that calls ``recv``/``send`` (or ``os.read``/
``os.write``) and the only code that registers the descriptor with the
reactor, so flow control is decided in one place:

* Reading is on while the user wants it (``resume_reading``) and off after
  ``pause_reading``, at end of file, and while closing.  Each read hands the
  bytes to the user's ``data_received`` at once; the read size grows while
  reads come back full (``readsize``).
* ``write`` sends at once when nothing is queued, and queues the rest.
  Crossing the high-water mark tells the user ``pause_writing()``; draining
  to the low-water mark tells it ``resume_writing()``.  The gap between the
  two marks (hysteresis) means a peer that takes a few bytes at a time does
  not flip its feeder on and off on every write.  The queue has no hard
  limit of its own: a user that keeps writing after ``pause_writing`` is
  the user's decision (``client-buffer-limit`` drops such a client).
* ``close_after_flush(timeout)`` stops reading, sends what is queued, then
  closes; after ``timeout`` seconds it closes anyway.

Callbacks go to a ``StreamUser`` (as asyncio's protocols): a stream closed
by its user (``close()``) does not call back; a stream that closes itself
(read or write error, drained, drain deadline) calls ``connection_lost``
once.  Everything happens synchronously, inside the call that caused it.

``DatagramPeer`` is the same surface for a UDP client of a UDP accepter: it
shares the listener's socket, so it has no descriptor, no queue (a datagram
that does not fit is dropped, as a UDP network would) and nothing to close.
"""

from __future__ import annotations

import errno
import fcntl
import functools
import os
import socket
import struct
import termios
from typing import Any, Callable, Optional, Protocol, Union

from pyser2net.runtime.reactor import Reactor
from pyser2net.runtime.readsize import START, ReadSize
from pyser2net.runtime.timers import TimerSlot

Recv = Callable[[int], bytes]
Send = Callable[[Union[bytes, bytearray]], int]


def _no_descriptor(_arg: object) -> Any:
    """Stands for the read or write function of a direction a stream lacks."""
    raise OSError(errno.EBADF, "this stream has no descriptor for that direction")


class StreamUser(Protocol):
    """What a stream tells the code above it."""

    def data_received(self, data: bytes) -> None:
        """Bytes read; the stream reads again when the loop says so."""

    def eof_received(self) -> None:
        """The peer closed its side; reading stopped, writing still works."""

    def connection_lost(self, exc: Optional[StreamError]) -> None:
        """The stream closed itself: None once drained, else the error."""

    def pause_writing(self) -> None:
        """The output queue reached the high-water mark: stop feeding."""

    def resume_writing(self) -> None:
        """The output queue drained to the low-water mark: feed again."""


class DeviceStream(Protocol):
    """What a port asks of its device's stream: a ``Stream``, or a
    ``LinkStream`` (``runtime/linkstream.py``) over one."""

    @property
    def closing(self) -> bool: ...

    @property
    def queued(self) -> int: ...

    @property
    def bytes_written(self) -> int: ...

    @property
    def write_fd(self) -> Optional[int]: ...

    def write(self, data: bytes) -> None: ...

    def resume_reading(self) -> None: ...

    def pause_reading(self) -> None: ...

    def close_after_flush(self, timeout: float) -> None: ...

    def cancel_close(self) -> None: ...

    def close(self) -> None: ...


class StreamError(Exception):
    """Why a stream closed itself: ``action`` ("read", "write") and ``cause``."""

    def __init__(self, action: str, cause: OSError) -> None:
        super().__init__(f"{action} failed: {cause.strerror or cause}")
        self.action = action
        self.cause = cause


class DrainTimeout(StreamError):
    """``close_after_flush`` gave up: the peer did not take the queued bytes."""

    def __init__(self, queued: int) -> None:
        Exception.__init__(self, "peer stopped reading")
        self.action = "drain"
        self.cause = OSError(0, "peer stopped reading")
        self.queued = queued


class Stream:
    """Reads and writes of one descriptor (or a read and a write descriptor)."""

    # Every read and write touches these: slots keep them in the object itself.
    __slots__ = (
        "_reactor",
        "user",
        "read_fd",
        "write_fd",
        "_recv",
        "_send",
        "_reads",
        "_data_received",
        "_queue",
        "_held",
        "closed",
        "closing",
        "eof",
        "datagram",
        "bytes_written",
        "writing_paused",
        "high_water",
        "stalled_since",
        "__dict__",
    )

    def __init__(
        self,
        reactor: Reactor,
        user: StreamUser,
        *,
        read_fd: Optional[int],
        write_fd: Optional[int],
        recv: Optional[Recv],
        send: Optional[Send],
        close: Callable[[], None],
        read_limit: int = 65536,
        high_water: int = 65536,
        low_water: Optional[int] = None,
        datagram: bool = False,
    ) -> None:
        self._reactor = reactor
        self.user = user
        self.read_fd = read_fd if recv is not None else None
        self.write_fd = write_fd if send is not None else None
        # A direction without a function has no descriptor either, so the
        # reactor never calls the placeholder.
        self._recv: Recv = recv if recv is not None else _no_descriptor
        self._send: Send = send if send is not None else _no_descriptor
        self._closer = close
        self._reads = ReadSize(read_limit)
        self.high_water = high_water
        self.low_water = high_water // 4 if low_water is None else min(low_water, high_water)
        #: An empty read is an empty datagram, not the end of the stream.
        self.datagram = datagram
        self._queue = bytearray()
        self._reading = False
        self._writer_on = False
        self._held = False
        self.writing_paused = False
        self.closing = False
        self.closed = False
        self.eof = False
        #: Bytes the descriptor took (not merely queued).
        self.bytes_written = 0
        #: While the peer is behind: when it last took bytes (or a send first
        #: came back short); None once the queue is empty.  Output held on
        #: request does not count as the peer being behind.
        self.stalled_since: Optional[float] = None
        self._drain = TimerSlot(reactor, self._drain_expired)
        self._data_received = user.data_received

    # -- construction -----------------------------------------------------

    @classmethod
    def for_socket(
        cls,
        reactor: Reactor,
        user: StreamUser,
        sock: socket.socket,
        *,
        send: Optional[Send] = None,
        close: Optional[Callable[[], None]] = None,
        **kwargs: Any,
    ) -> Stream:
        """A connected socket; closing the stream closes the socket (or
        calls ``close``); ``send`` replaces the socket's own."""
        fd = sock.fileno()
        return cls(
            reactor,
            user,
            read_fd=fd,
            write_fd=fd,
            recv=sock.recv,
            send=sock.send if send is None else send,
            close=sock.close if close is None else close,
            **kwargs,
        )

    @classmethod
    def for_fds(
        cls,
        reactor: Reactor,
        user: StreamUser,
        read_fd: Optional[int],
        write_fd: Optional[int],
        close: Callable[[], None],
        **kwargs: Any,
    ) -> Stream:
        """Non-blocking descriptors read and written with os.read/os.write."""
        return cls(
            reactor,
            user,
            read_fd=read_fd,
            write_fd=write_fd,
            recv=functools.partial(os.read, read_fd) if read_fd is not None else None,
            send=functools.partial(os.write, write_fd) if write_fd is not None else None,
            close=close,
            **kwargs,
        )

    # -- state --------------------------------------------------------------

    @property
    def queued(self) -> int:
        """Bytes written by the user and not yet taken by the descriptor."""
        return len(self._queue)

    @property
    def reading(self) -> bool:
        return self._reading

    @property
    def output_held(self) -> bool:
        return self._held

    # -- reading ------------------------------------------------------------

    def resume_reading(self) -> None:
        """Read (again); ignored once closing, at end of file or without a reader."""
        if self._reading or self.closing or self.closed or self.eof or self.read_fd is None:
            return
        self._reading = True
        self._reactor.add_reader(self.read_fd, self._readable)

    def pause_reading(self) -> None:
        if self._reading:
            self._reading = False
            assert self.read_fd is not None
            self._reactor.remove_reader(self.read_fd)

    def _readable(self) -> None:
        # Functions kept in slots are called through locals: Python 3.11
        # cannot specialise ``self._recv(...)`` on a slot, and the generic
        # lookup it falls back to showed in a console farm's profile.
        reads, recv = self._reads, self._recv
        size = reads.size
        try:
            data = recv(size)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._fail("read", exc)
            return
        if not data:
            if not self.datagram:
                self.pause_reading()
                self.eof = True
                self.user.eof_received()
            return
        received = self._data_received
        received(data)
        # Bookkeeping after the bytes are on their way: off the latency path;
        # a short read of the first size (typed keys, a console's line)
        # changes nothing.
        if size > START or len(data) >= size:
            reads.update(len(data))

    # -- writing ------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Send ``data`` now, or queue what the descriptor does not take yet.

        Dropped once closed, or when the stream has nothing to write to.
        """
        if self.closed or not data or self.write_fd is None:
            return
        if not self._queue and not self._held:
            send = self._send  # a local: see _readable
            try:
                sent = send(data)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError as exc:
                self._fail("write", exc)
                return
            self.bytes_written += sent
            if sent == len(data):
                return
            data = data[sent:]
            self.stalled_since = self._reactor.now()
            self._writer(True)
        self._queue += data
        if not self.writing_paused and len(self._queue) >= self.high_water:
            self.writing_paused = True
            self.user.pause_writing()

    def _writable(self) -> None:
        queue = self._queue
        try:
            sent = self._send(queue)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._fail("write", exc)
            return
        del queue[:sent]
        self.bytes_written += sent
        if queue:
            self.stalled_since = self._reactor.now()
        else:
            self.stalled_since = None
            self._writer(False)
            if self.closing:
                self._finish(None)
                return
        if self.writing_paused and len(queue) <= self.low_water:
            self.writing_paused = False
            self.user.resume_writing()

    def discard_queued(self) -> int:
        """Drop what is queued and not sent yet (the far end flushed its
        input); how many bytes that was."""
        dropped = len(self._queue)
        if dropped:
            self._queue.clear()
            self.stalled_since = None
            self._writer(False)
            if self.writing_paused:
                self.writing_paused = False
                self.user.resume_writing()
        return dropped

    def hold_output(self, hold: bool) -> None:
        """Keep queueing but stop sending (RFC 2217 FLOWCONTROL-SUSPEND), or go on."""
        self._held = hold
        self._writer(bool(self._queue) and not hold)

    def _writer(self, on: bool) -> None:
        if on == self._writer_on or self.closed:
            return
        self._writer_on = on
        assert self.write_fd is not None
        if on:
            self._reactor.add_writer(self.write_fd, self._writable)
        else:
            self._reactor.remove_writer(self.write_fd)

    def unsent_in_kernel(self) -> int:
        """Bytes the kernel holds for a socket and has not sent (0 if unknown).

        The kernel takes megabytes before a send comes back short, so a peer
        that reads nothing is only seen through this count (SIOCOUTQ).
        """
        if self.write_fd is None or self.closed:
            return 0
        try:
            return struct.unpack("i", fcntl.ioctl(self.write_fd, termios.TIOCOUTQ, b"\0" * 4))[0]
        except OSError:
            return 0

    def watch_connect(
        self, sock: socket.socket, connected: Optional[Callable[[], None]] = None
    ) -> None:
        """A non-blocking connect is under way: close with its error if it
        fails (action "connect"); call ``connected`` once it succeeds."""
        if self.write_fd is None or self._writer_on:
            return

        def done() -> None:
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                self._fail("connect", OSError(err, os.strerror(err)))
                return
            if not self._queue:
                self._writer(False)
            else:
                self._reactor.add_writer(self.write_fd, self._writable)  # type: ignore[arg-type]
            if connected is not None:
                connected()

        self._writer_on = True
        self._reactor.add_writer(self.write_fd, done)

    # -- closing ------------------------------------------------------------

    def cancel_close(self) -> None:
        """Take back ``close_after_flush`` while it waits: keep the stream."""
        if self.closing and not self.closed:
            self.closing = False
            self._drain.cancel()

    def close_after_flush(self, timeout: float) -> None:
        """Stop reading; close once the queue is sent, or after ``timeout`` s.

        Calls ``connection_lost`` (None, or ``DrainTimeout``) when it closes,
        which may be at once.
        """
        if self.closing or self.closed:
            return
        self.closing = True
        self.pause_reading()
        if not self._queue:
            self._finish(None)
        else:
            self._drain.arm(timeout)

    def _drain_expired(self) -> None:
        if not self.closed:
            self._finish(DrainTimeout(len(self._queue)))

    def close(self) -> None:
        """Close now, dropping what is queued; no callback."""
        if self.closed:
            return
        self.closed = self.closing = True
        self._reading = self._writer_on = False
        self._drain.cancel()
        self._queue.clear()
        self.stalled_since = None
        for fd in {self.read_fd, self.write_fd}:
            if fd is not None:
                self._reactor.forget(fd)
        try:
            self._closer()
        except OSError:
            pass

    def _finish(self, exc: Optional[StreamError]) -> None:
        self.close()
        self.user.connection_lost(exc)

    def _fail(self, action: str, exc: OSError) -> None:
        self._finish(StreamError(action, exc))


class DatagramPeer:
    """A remote address of a UDP accepter, with a stream's surface.

    Reads come from the listener (it calls ``feed``); each ``write`` is one
    datagram sent from the listener's socket.  A datagram the socket cannot
    take now is dropped and reported to ``dropped``: queueing it would only
    deliver it late, and memory must stay bounded.
    """

    datagram = True
    read_fd = write_fd = None
    queued = 0
    writing_paused = False
    output_held = False
    stalled_since: Optional[float] = None

    def __init__(
        self, sock: socket.socket, addr: tuple, user: StreamUser, dropped: Callable[[int], None]
    ) -> None:
        self._sock = sock
        self.addr = addr
        self.user = user
        self._dropped = dropped
        self.closing = self.closed = False
        self.bytes_written = 0

    @property
    def reading(self) -> bool:
        return not self.closing

    def feed(self, data: bytes) -> None:
        """A datagram from this peer, handed over by the listener."""
        if not self.closing:
            self.user.data_received(data)

    def write(self, data: bytes) -> None:
        if self.closed or not data:
            return
        try:
            self.bytes_written += self._sock.sendto(data, self.addr)
        except (BlockingIOError, InterruptedError):
            self._dropped(len(data))
        except OSError as exc:
            self.closed = self.closing = True
            self.user.connection_lost(StreamError("send", exc))

    def resume_reading(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def hold_output(self, hold: bool) -> None:
        pass

    def unsent_in_kernel(self) -> int:
        return 0  # the listener's socket is shared: nothing of its queue is ours

    def cancel_close(self) -> None:
        pass

    def close_after_flush(self, timeout: float) -> None:
        if self.closing:
            return
        self.closed = self.closing = True
        self.user.connection_lost(None)

    def close(self) -> None:
        self.closed = self.closing = True
