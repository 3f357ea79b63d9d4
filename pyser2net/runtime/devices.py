"""The things a connection talks to: serial ports, printers, echo.

Each device exposes non-blocking file descriptors to the reactor and plain
``read``/``write`` calls; it knows nothing about clients.  Failures become a
``DeviceError`` whose ``reason`` is the short text ser2net sends to a client
(ser2net reports errors through gensio's error strings, so the same errno
gives the same words here).
"""

from __future__ import annotations

import array
import dataclasses
import errno
import fcntl
import grp
import os
import pwd
import socket
import stat
import termios
from typing import Callable, Generic, List, Optional, TypeVar, Union

import serial
import serial.rs485

from pyser2net.config.model import EchoDevice, NetworkDevice, SerialDevice, SerialSettings
from pyser2net.protocol.comport import ControlRefused, settings_text
from pyser2net.runtime import locks
from pyser2net.runtime.reactor import Reactor
from pyser2net.runtime.resolver import Answer, Query, first_address, numeric
from pyser2net.runtime.stream import DeviceStream, Stream, StreamError, StreamUser

#: errno -> the text ser2net (through gensio) shows for it.
_REASONS = {
    errno.ENOENT: "Value or file not found",
    errno.ENODEV: "Value or file not found",
    errno.ENXIO: "Value or file not found",
    errno.EACCES: "Permission denied",
    errno.EPERM: "Permission denied",
    errno.EBUSY: "Object was already in use",
    errno.EAGAIN: "Object was already in use",
    errno.EINVAL: "Invalid data to parameter",
    errno.ENOMEM: "Out of memory",
    errno.ENOTTY: "Operation not supported",
    errno.EIO: "Internal I/O error",
    errno.ECONNREFUSED: "Connection refused",
    errno.EHOSTUNREACH: "Host could not be reached",
    errno.ENETUNREACH: "Host could not be reached",
    errno.ETIMEDOUT: "Operation timed out",
    errno.ECONNRESET: "Remote end closed connection",
    errno.EPIPE: "Remote end closed connection",
}


class DeviceError(Exception):
    """A device could not be opened or stopped working.

    ``reason`` is ser2net's text for the client (``Device open failure:
    <reason>``), ``detail`` the text for the log; ``opening``: the device
    failed before its open completed (a connect refused, a link that never
    came up), which clients hear of as an open failure.
    """

    def __init__(
        self, reason: str, detail: str = "", *, opening: bool = False, code: Optional[int] = None
    ) -> None:
        super().__init__(detail or reason)
        self.reason = reason
        self.detail = detail or reason
        self.opening = opening
        #: The OS error number, when an OS error was the cause (metrics count by it).
        self.code = code

    @classmethod
    def from_os(cls, exc: OSError, path: str, *, opening: bool = False) -> DeviceError:
        code = exc.errno or 0
        reason = _REASONS.get(code, "OS error, see logs")
        return cls(reason, f"{path}: {exc.strerror or exc}", opening=opening, code=exc.errno)


def open_error(path: str, code: Optional[int], text: str) -> DeviceError:
    """A device that would not open: ser2net's words for the client, and for
    the log what went wrong and, for the usual causes, what to do about it."""
    error = _open_error(path, code, text)
    error.code = code
    return error


def _open_error(path: str, code: Optional[int], text: str) -> DeviceError:
    reason = _REASONS.get(code or 0, "OS error, see logs")
    if code in (errno.EACCES, errno.EPERM):
        return DeviceError(reason, f"{path}: {_permission_advice(path)}")
    if code == errno.ENOENT:
        return DeviceError(
            reason,
            f"{path} does not exist (unplugged, or a wrong name? "
            "/dev/serial/by-id/ has names that do not change)",
        )
    if code in (errno.EBUSY, errno.EAGAIN):
        return DeviceError(reason, f"{path} is in use by another program ({text})")
    if code in (errno.ENODEV, errno.ENXIO):
        return DeviceError(reason, f"{path}: no device behind it (unplugged, or no driver)")
    return DeviceError(reason, f"{path}: {os.strerror(code) if code else text}")


def _permission_advice(path: str) -> str:
    """Who may open ``path``, and how the daemon's user can be one of them."""
    user = _user_name(os.geteuid())
    if os.geteuid() == 0:
        return (
            "permission denied even to root: a container's device rules or a "
            "security policy (SELinux, AppArmor) keep the daemon from it"
        )
    try:
        st = os.stat(path)
    except OSError:
        return "permission denied"
    mode = stat.S_IMODE(st.st_mode)
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = str(st.st_gid)
    if st.st_gid != 0 and mode & 0o060 == 0o060:
        return (
            f"permission denied: it belongs to group {group} (mode {mode:04o}); add the "
            f"user pyser2net runs as ({user}) to that group (usermod -aG {group} {user}) "
            "and restart pyser2net"
        )
    owner = _user_name(st.st_uid)
    return (
        f"permission denied: it is {owner}:{group} with mode {mode:04o}, so no group "
        "may open it; a udev rule can give it to a group such as dialout"
    )


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


class Device:
    """Base of every device: a pair of non-blocking descriptors.

    A device only opens, closes and configures; its reads and writes are
    those of the stream it hands out (``open_stream``).
    """

    read_fd: Optional[int] = None
    write_fd: Optional[int] = None
    #: What showport and ``\\d`` display.
    display = ""
    #: The open completes after ``open_stream`` (a connect, a link coming
    #: up), which then calls ``ready``; otherwise it is ready at once.
    opens_later = False

    def open_stream(
        self,
        reactor: Reactor,
        user: StreamUser,
        *,
        read_limit: int,
        high_water: int,
        ready: Optional[Callable[[], None]] = None,
    ) -> DeviceStream:
        """The stream over this device's descriptors; closing it closes the device.

        ``ready`` is called once the open completes, for a device whose open
        completes later (``opens_later``).
        """
        return Stream.for_fds(
            reactor,
            user,
            self.read_fd,
            self.write_fd,
            close=self.close,
            read_limit=read_limit,
            high_water=high_water,
        )

    def error_for(self, exc: Optional[StreamError]) -> DeviceError:
        """What the stream's end of file (None) or failure means here."""
        if exc is None:
            return DeviceError("Remote end closed connection", f"{self.display}: end of file")
        return DeviceError.from_os(exc.cause, self.display)

    def close(self) -> None:
        raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class WrapOpen:
    """What a wrapped device's stream is made of: for ``WrappedDevice.wrap``."""

    reactor: Reactor
    #: Who reads the wrapped stream (the port).
    user: StreamUser
    #: Opens the inner device's stream for the filter, its user.
    inner_stream: Callable[[StreamUser], Stream]
    high_water: int
    ready: Optional[Callable[[], None]]


InnerT = TypeVar("InnerT", bound=Device)
StreamT = TypeVar("StreamT", bound=DeviceStream)


class WrappedDevice(Device, Generic[InnerT, StreamT]):
    """A device under a filter of its connector (link layers, ``ssl``):
    the port sees the filter's stream over the inner device's stream.

    The descriptors, the close and the errors the filter does not explain
    are the inner device's; a subclass says only how its stream wraps the
    inner one (``wrap``) and what its own failures mean (``error_for``).
    """

    opens_later = True

    def __init__(self, inner: InnerT) -> None:
        self.inner = inner
        self.display = inner.display

    @property
    def read_fd(self) -> Optional[int]:  # type: ignore[override]
        return self.inner.read_fd

    @property
    def write_fd(self) -> Optional[int]:  # type: ignore[override]
        return self.inner.write_fd

    def open_stream(
        self,
        reactor: Reactor,
        user: StreamUser,
        *,
        read_limit: int,
        high_water: int,
        ready: Optional[Callable[[], None]] = None,
    ) -> StreamT:
        def inner_stream(inner_user: StreamUser) -> Stream:
            stream = self.inner.open_stream(
                reactor, inner_user, read_limit=read_limit, high_water=high_water
            )
            assert isinstance(stream, Stream)  # a device's own: filters do not nest
            return stream

        return self.wrap(WrapOpen(reactor, user, inner_stream, high_water, ready))

    def wrap(self, how: WrapOpen) -> StreamT:
        """The filter's stream for ``how.user``, over ``how.inner_stream(filter)``;
        ``how.ready`` once the filter is up."""
        raise NotImplementedError

    def error_for(self, exc: Optional[StreamError]) -> DeviceError:
        return self.inner.error_for(exc)

    def close(self) -> None:
        self.inner.close()


class EchoPipe(Device):
    """The ``echo`` connector: a pipe, so the reactor sees it like any fd.

    The pipe's own capacity is the bound that gives echo backpressure.
    """

    def __init__(self) -> None:
        self.display = "echo"
        self.read_fd, self.write_fd = os.pipe()
        os.set_blocking(self.read_fd, False)
        os.set_blocking(self.write_fd, False)

    def close(self) -> None:
        for fd in (self.read_fd, self.write_fd):
            if fd is not None:
                os.close(fd)
        self.read_fd = self.write_fd = None


def _cflag_for(settings: SerialSettings, cflag: int) -> int:
    # Keep only the speed bits pyserial chose (it knows about BOTHER).
    speed_mask = termios.CBAUD | getattr(termios, "CBAUDEX", 0)
    cflag &= speed_mask
    cflag |= {5: termios.CS5, 6: termios.CS6, 7: termios.CS7, 8: termios.CS8}[settings.databits]
    cflag |= termios.CREAD
    if settings.stopbits == 2:
        cflag |= termios.CSTOPB
    if settings.parity != "none":
        cflag |= termios.PARENB
        if settings.parity in ("odd", "mark"):
            cflag |= termios.PARODD
        if settings.parity in ("mark", "space"):
            cflag |= getattr(termios, "CMSPAR", 0o10000000000)
    if settings.local:
        cflag |= termios.CLOCAL
    if settings.hangup_when_done:
        cflag |= termios.HUPCL
    if settings.rtscts:
        cflag |= termios.CRTSCTS
    return cflag


def apply_termios(fd: int, settings: SerialSettings) -> None:
    """Put the line in exactly the raw mode ser2net uses.

    pyserial sets the speed (including non-standard ones) but leaves its
    own choices in the other flags (CLOCAL always on, for instance); ser2net
    users rely on CLOCAL following ``local`` and HUPCL following
    ``hangup-when-done``, so the remaining flags are written here.
    """
    attrs = termios.tcgetattr(fd)
    attrs[0] = termios.IGNBRK | ((termios.IXON | termios.IXOFF) if settings.xonxoff else 0)
    attrs[1] = 0
    attrs[2] = _cflag_for(settings, attrs[2])
    attrs[3] = 0
    cc: List[Union[bytes, int]] = [b"\x00"] * len(attrs[6])
    cc[termios.VTIME] = 0
    cc[termios.VMIN] = 1
    cc[termios.VSTART] = b"\x11"
    cc[termios.VSTOP] = b"\x13"
    attrs[6] = cc
    termios.tcsetattr(fd, termios.TCSANOW, attrs)


def _set_wide_speed(fd: int, speed: int) -> None:
    """A speed of 2**31 bits per second or more, as ser2net takes it.

    RFC 2217 speeds are 32-bit unsigned and Linux takes any of them
    (termios2, BOTHER); pyserial holds the speed as a signed int and fails
    past 2**31 - 1.  Raises OSError where termios2 is missing.
    """
    posix = getattr(serial, "serialposix", None)
    get, put = getattr(posix, "TCGETS2", None), getattr(posix, "TCSETS2", None)
    other = getattr(posix, "BOTHER", None)
    if get is None or put is None or other is None:
        raise OSError(errno.EINVAL, f"{speed} baud: no custom speeds on this system")
    attrs = array.array("I", [0] * 64)  # struct termios2, with room to spare
    fcntl.ioctl(fd, get, attrs)
    attrs[2] = (attrs[2] & ~termios.CBAUD) | other
    attrs[9] = attrs[10] = speed  # c_ispeed, c_ospeed
    fcntl.ioctl(fd, put, attrs)


_PARITY = {
    "none": serial.PARITY_NONE,
    "odd": serial.PARITY_ODD,
    "even": serial.PARITY_EVEN,
    "mark": serial.PARITY_MARK,
    "space": serial.PARITY_SPACE,
}


def _fd(port: serial.Serial) -> int:
    """The descriptor of an open port (pyserial's is None until it opens)."""
    assert port.fd is not None
    return port.fd


class _KeepInputSerial(serial.Serial):
    """pyserial flushes pending input when it opens a port; ser2net does not.

    Bytes a device sent while nobody was connected are delivered to the next
    client by ser2net, so the flush is skipped while opening.
    """

    _opening = False

    def open(self) -> None:
        self._opening = True
        try:
            super().open()
        finally:
            self._opening = False

    def _reset_input_buffer(self) -> None:
        if not self._opening:
            # Private in pyserial, so absent from its type stubs.
            super()._reset_input_buffer()  # type: ignore[misc]


class SerialPort(Device):
    """A tty: opened with pyserial (exclusive lock), set up like ser2net.

    It is the ``SerialControl`` that RFC 2217 requests act on.
    """

    virtual = False

    def __init__(self, spec: SerialDevice, display: str) -> None:
        self.spec = spec
        self.display = display
        self.settings = spec.serial
        self.port: Optional[serial.Serial] = None
        self._saved: Optional[list] = None
        self.lines = {
            "dtr": True if spec.serial.dtr is None else spec.serial.dtr,
            "rts": True if spec.serial.rts is None else spec.serial.rts,
            "break": False,
        }

    def open(self) -> None:
        self._lock = _lock(self.spec.path)
        try:
            self._open()
        except DeviceError:
            self._lock.release()
            raise

    def _open(self) -> None:
        s = self.settings
        port = _KeepInputSerial()
        port.port = self.spec.path
        port.baudrate = s.speed
        port.bytesize = s.databits
        port.parity = _PARITY[s.parity]
        port.stopbits = s.stopbits
        port.xonxoff = s.xonxoff
        port.rtscts = s.rtscts
        port.timeout = 0
        port.write_timeout = 0
        # flock() as well as the UUCP lock, so that programs that only know
        # one of the two are kept off too; -u turns both off.
        port.exclusive = locks.enabled()
        # Setting the lines before open() means they never glitch.
        if s.dtr is not None:
            port.dtr = s.dtr
        if s.rts is not None:
            port.rts = s.rts
        if s.rs485 is not None:
            port.rs485_mode = rs485_settings(s.rs485)
        try:
            saved = _tcgetattr_path(self.spec.path)
            port.open()
        except serial.SerialException as exc:
            cause = exc.__cause__ if isinstance(exc.__cause__, OSError) else None
            code = getattr(exc, "errno", None) or (cause.errno if cause else None)
            if code is None and "lock" in str(exc).lower():
                code = errno.EBUSY
            raise open_error(self.spec.path, code, str(exc)) from None
        except OSError as exc:
            raise open_error(self.spec.path, exc.errno, str(exc)) from None
        except ValueError as exc:  # pyserial's report of a failed rs485 ioctl
            raise DeviceError("Operation not supported", f"{self.spec.path}: {exc}") from None
        self.port = port
        self._saved = saved
        try:
            apply_termios(_fd(port), s)
        except termios.error as exc:
            port.close()
            raise DeviceError("Operation not supported", f"{self.spec.path}: {exc}") from None
        self.read_fd = self.write_fd = port.fd
        if not s.nobreak:
            # A break left on the line by a previous user is cleared on
            # open, as ser2net does unless told ``nobreak``.
            self.set_line("break", False)

    def reconfigure(self, settings: SerialSettings) -> None:
        """Apply changed settings (RFC 2217 requests) to the open port.

        Raises ControlRefused when the line does not take them.
        """
        if self.port is None or settings == self.settings:
            return
        try:
            if settings.speed != self.settings.speed:
                if settings.speed < 1 << 31:
                    self.port.baudrate = settings.speed
                else:
                    _set_wide_speed(_fd(self.port), settings.speed)
            try:
                apply_termios(_fd(self.port), settings)
            except termios.error as exc:
                # The C library reports EINVAL when the driver kept some
                # flags (a pty always stays CS8 without parity) although
                # the rest was applied; like ser2net, go on with the
                # settings the client asked for.
                if exc.args[0] != errno.EINVAL:
                    raise
        except (termios.error, OSError, ValueError, OverflowError, serial.SerialException) as exc:
            raise ControlRefused(f"{self.display}: {exc}") from None
        self.settings = settings

    def set_line(self, name: str, on: bool) -> None:
        """Raise or drop DTR, RTS or the break condition at once.

        Modem-control ioctls fail on ptys and some adapters; the request is
        then remembered so that queries answer what was asked for.
        """
        if self.port is not None:
            try:
                setattr(
                    self.port, {"dtr": "dtr", "rts": "rts", "break": "break_condition"}[name], on
                )
            except (OSError, serial.SerialException):
                pass
        self.lines[name] = on

    def modem_bits(self) -> Optional[int]:
        """CTS/DSR/RI/CD as the high nibble of an RFC 2217 modemstate, or None.

        None means the lines cannot be read (a pty, for instance).
        """
        if self.port is None:
            return None
        try:
            p = self.port
            return (0x10 * p.cts) | (0x20 * p.dsr) | (0x40 * p.ri) | (0x80 * p.cd)
        except (OSError, serial.SerialException):
            return None

    def purge(self, which: int) -> None:
        """RFC 2217 PURGE-DATA: 1 receive buffer, 2 transmit buffer, 3 both."""
        if self.port is None:
            return
        try:
            if which in (1, 3):
                self.port.reset_input_buffer()
            if which in (2, 3):
                self.port.reset_output_buffer()
        except (OSError, serial.SerialException, termios.error):
            pass

    def close(self) -> None:
        port, self.port = self.port, None
        self.read_fd = self.write_fd = None
        if port is None:
            return
        self._lock.release()
        # ser2net puts the line back as it found it.
        if self._saved is not None:
            try:
                termios.tcsetattr(_fd(port), termios.TCSANOW, self._saved)
            except (termios.error, OSError):
                pass
        try:
            port.close()
        except (OSError, serial.SerialException):
            pass


def rs485_settings(text: str) -> serial.rs485.RS485Settings:
    """``before:after[:flag...]`` (delays in milliseconds) as pyserial takes it.

    Without flags RTS is raised while sending, as the kernel does by default.
    """
    before, after, *flags = text.split(":")
    return serial.rs485.RS485Settings(
        rts_level_for_tx="rts_on_send" in flags or "rts_after_send" not in flags,
        rts_level_for_rx="rts_after_send" in flags,
        loopback="rx_during_tx" in flags,
        delay_before_tx=int(before, 0) / 1000,
        delay_before_rx=int(after, 0) / 1000,
    )


def _tcgetattr_path(path: str) -> Optional[list]:
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    except OSError:
        return None  # open() will report the real error
    try:
        return termios.tcgetattr(fd)
    except termios.error:
        return None
    finally:
        os.close(fd)


class LinePrinter(Device):
    """rawlp: opened write-only, termios left alone, nothing ever read."""

    def __init__(self, path: str, display: str) -> None:
        self.path = path
        self.display = display

    def open(self) -> None:
        self._lock = _lock(self.path)
        try:
            self.write_fd = os.open(self.path, os.O_WRONLY | os.O_NOCTTY | os.O_NONBLOCK)
        except OSError as exc:
            self._lock.release()
            raise open_error(self.path, exc.errno, str(exc)) from None

    def close(self) -> None:
        if self.write_fd is not None:
            os.close(self.write_fd)
            self.write_fd = None
            self._lock.release()


class NetworkPeer(Device):
    """The tcp and udp connectors: a non-blocking socket connected out.

    The connect completes in the background; until it does, writes report
    0 bytes taken, so data waits in the stream's bounded queue.  A host
    name is never looked up here: ``answer`` is what it was found to be
    (see ``peer_query``; the port looks it up without holding up the loop).
    """

    def __init__(self, spec: NetworkDevice, display: str, answer: Optional[Answer] = None) -> None:
        self.spec = spec
        self.display = display
        self.answer = answer
        self.sock: Optional[socket.socket] = None
        #: A udp peer is "connected" at once; a tcp one once its connect is done.
        self.connected = spec.transport != "tcp"

    def open(self) -> None:
        answer: Answer = numeric(peer_query(self.spec)) or self.answer or "not looked up yet"
        found = first_address(answer)
        if found is None:
            why = answer if isinstance(answer, str) else "no address"
            raise DeviceError(
                "Value or file not found",
                f"{self.display}: cannot look up {self.spec.host}: {why}",
            )
        family, kind, proto, addr = found
        sock = socket.socket(family, kind, proto)
        sock.setblocking(False)
        err = sock.connect_ex(addr)
        if err not in (0, errno.EINPROGRESS):
            sock.close()
            raise DeviceError.from_os(OSError(err, os.strerror(err)), self.display)
        if kind == socket.SOCK_STREAM:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = sock
        self.read_fd = self.write_fd = sock.fileno()

    @property
    def opens_later(self) -> bool:  # type: ignore[override]
        return self.spec.transport == "tcp"

    def open_stream(
        self,
        reactor: Reactor,
        user: StreamUser,
        *,
        read_limit: int,
        high_water: int,
        ready: Optional[Callable[[], None]] = None,
    ) -> Stream:
        """A tcp connect completes in the background: ``ready`` then, or the
        stream fails with the connect's error."""
        sock = self.sock
        assert sock is not None
        stream = Stream.for_socket(
            reactor,
            user,
            sock,
            send=self._send,
            close=self.close,
            read_limit=read_limit,
            high_water=high_water,
            datagram=self.spec.transport != "tcp",
        )
        if self.spec.transport == "tcp":
            self.connected = False

            def connected() -> None:
                self.connected = True
                if ready is not None:
                    ready()

            stream.watch_connect(sock, connected)
        return stream

    def _send(self, data: Union[bytes, bytearray]) -> int:
        assert self.sock is not None
        try:
            return self.sock.send(data)
        except OSError as exc:
            if exc.errno == errno.ENOTCONN:
                return 0  # still connecting: the stream waits until it may write
            raise

    def error_for(self, exc: Optional[StreamError]) -> DeviceError:
        if exc is None:
            return DeviceError("Remote end closed connection", f"{self.display}: closed by peer")
        if exc.action == "connect" or not self.connected:
            return DeviceError.from_os(exc.cause, self.display, opening=True)
        return super().error_for(exc)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        self.read_fd = self.write_fd = None


def _lock(path: str) -> locks.LockHandle:
    """Take the UUCP lock of a tty, as ser2net does (unless ``-u``)."""
    try:
        return locks.acquire_device(path)
    except locks.LockError as exc:
        raise DeviceError(exc.reason, exc.detail) from None


def opened_path(dev: Optional[Device]) -> Optional[str]:
    """The node a serial port or printer has open (None if none is open)."""
    inner = getattr(dev, "inner", dev)  # a device under link layers
    if isinstance(inner, SerialPort) and inner.port is not None:
        return inner.spec.path
    if isinstance(inner, LinePrinter) and inner.write_fd is not None:
        return inner.path
    return None


def line_state(dev: Device) -> str:
    """A serial port's settings and output lines, ``9600N81,CLOCAL, DTR on, RTS on``
    ("" for devices without a line)."""
    if not isinstance(dev, SerialPort):
        return ""
    lines = dev.lines
    words = [
        settings_text(dev.settings),
        f"DTR {'on' if lines['dtr'] else 'off'}",
        f"RTS {'on' if lines['rts'] else 'off'}",
    ]
    if lines["break"]:
        words.append("break on")
    return ", ".join(words)


def opened_text(dev: Device) -> str:
    """For the log when a device opens: what it is, set up as configured."""
    state = line_state(dev)
    return f"{dev.display} ({state}, as configured)" if state else dev.display


def closed_text(dev: Device) -> str:
    """For the log when a device closes: the settings clients left it with."""
    state = line_state(dev)
    return f"{dev.display} (left at {state})" if state else dev.display


def resolved(target: SerialDevice) -> SerialDevice:
    """The device with its ``usb(...)`` selector replaced by the node it picks
    now (DeviceError if it picks none, or several); a path as it is."""
    if target.usb is None:
        return target
    from pyser2net.runtime import usbdevices  # only usb(...) selectors need it

    try:
        found = usbdevices.resolve(target.usb)
    except usbdevices.UsbResolveError as exc:
        raise DeviceError(exc.reason, exc.detail) from None
    return dataclasses.replace(target, path=found.node, usb=None)


def node_directory(target: object) -> Optional[str]:
    """Where the node of a serial device appears when it comes (back): the
    device root for a ``usb(...)`` selector, else its path's directory."""
    if not isinstance(target, SerialDevice):
        return None
    if target.usb is not None:
        from pyser2net.runtime import usbdevices

        return usbdevices.dev_root()
    return os.path.dirname(target.path) or None


def peer_query(spec: NetworkDevice) -> Query:
    """The lookup of a tcp or udp peer's host."""
    kind = socket.SOCK_STREAM if spec.transport == "tcp" else socket.SOCK_DGRAM
    return Query(spec.host, spec.port, 0, kind)


def open_device(target: object, display: str, answer: Optional[Answer] = None) -> Device:
    """Open the device a connector describes; raises DeviceError.

    ``answer``: what a network peer's host name was found to be."""
    if isinstance(target, EchoDevice):
        return EchoPipe()
    if isinstance(target, SerialDevice):
        if target.usb is not None:
            target = resolved(target)
            display = f"{display} -> {target.path}"
        if target.wronly:
            printer = LinePrinter(target.path, display)
            printer.open()
            return printer
        port = SerialPort(target, display)
        port.open()
        return port
    if isinstance(target, NetworkDevice):
        peer = NetworkPeer(target, display, answer)
        peer.open()
        return peer
    raise DeviceError("Operation not supported", f"{display}: connector not supported yet")
