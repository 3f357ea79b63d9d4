"""The virtual serial port on a real pty: what an application does, as the port reports it."""

from __future__ import annotations

import array
import fcntl
import grp
import os
import stat
import termios
import tty
from typing import Iterator, List, Optional

import pytest
import serial
from fakeloop import FakeLoop

from pyser2net.protocol.linesettings import EXTPROC, LineSettings
from pyser2net.runtime import ptyport
from pyser2net.runtime.ptyport import VirtualPort, VirtualPortError, get_termios2
from pyser2net.runtime.stream import StreamError


class Recorder:
    """A port user writing down what it is told."""

    def __init__(self) -> None:
        self.events: List[object] = []
        self.data = bytearray()

    def data_received(self, data: bytes) -> None:
        self.data += data

    def eof_received(self) -> None:
        self.events.append("eof")

    def connection_lost(self, exc: Optional[StreamError]) -> None:
        self.events.append("lost")

    def pause_writing(self) -> None:
        self.events.append("pause")

    def resume_writing(self) -> None:
        self.events.append("resume")

    def app_opened(self) -> None:
        self.events.append("opened")

    def app_closed(self, settings: LineSettings) -> None:
        self.events.append(("closed", settings.hupcl))

    def settings_changed(self, settings: LineSettings) -> None:
        self.events.append(settings)

    def purge_requested(self, which: int) -> None:
        self.events.append(("purge", which))


@pytest.fixture
def loop() -> Iterator[FakeLoop]:
    loop = FakeLoop()
    yield loop
    loop.close()


@pytest.fixture
def port(loop, tmp_path) -> Iterator[VirtualPort]:
    user = Recorder()
    port = VirtualPort(loop.reactor, user, str(tmp_path / "ttyV0"), group=None)
    port.create()
    yield port
    port.close()


def settle(loop: FakeLoop, turns: int = 20) -> None:
    for _ in range(turns):
        loop.reactor.run_once(timeout=0.01)


def test_the_link_points_at_a_raw_pty_with_extproc(port, tmp_path):
    link = tmp_path / "ttyV0"
    assert os.readlink(link) == port.slave_path
    assert stat.S_IMODE(os.stat(port.slave_path).st_mode) == 0o660
    t = get_termios2(port.master)
    assert t.lflag == EXTPROC and t.iflag == 0 and t.oflag == 0
    assert t.cflag & termios.HUPCL and t.ospeed == ptyport.INITIAL_BAUD
    assert not port.is_open


def test_close_removes_the_link_only_if_it_is_still_ours(loop, tmp_path):
    link = tmp_path / "ttyV1"
    port = VirtualPort(loop.reactor, Recorder(), str(link), group=None)
    port.create()
    port.close()
    assert not os.path.lexists(link)
    port = VirtualPort(loop.reactor, Recorder(), str(link), group=None)
    port.create()
    os.unlink(link)
    os.symlink("/dev/null", link)
    port.close()
    assert os.readlink(link) == "/dev/null"


def test_a_link_over_something_else_is_refused(loop, tmp_path):
    path = tmp_path / "file"
    path.write_text("x")
    port = VirtualPort(loop.reactor, Recorder(), str(path), group=None)
    with pytest.raises(VirtualPortError, match="not a symbolic link"):
        port.create()
    assert path.read_text() == "x"
    assert port.master == -1


def test_a_stale_link_is_replaced(loop, tmp_path):
    link = tmp_path / "ttyV2"
    os.symlink("/dev/pts/does-not-exist", link)
    port = VirtualPort(loop.reactor, Recorder(), str(link), group=None)
    port.create()
    try:
        assert os.readlink(link) == port.slave_path
    finally:
        port.close()


def test_group_and_mode(loop, tmp_path):
    group = grp.getgrgid(os.getgid()).gr_name
    port = VirtualPort(loop.reactor, Recorder(), str(tmp_path / "t"), mode=0o640, group=group)
    port.create()
    try:
        st = os.stat(port.slave_path)
        assert (stat.S_IMODE(st.st_mode), st.st_gid) == (0o640, os.getgid())
    finally:
        port.close()


def test_open_settings_flush_data_and_close_with_pyserial(loop, port):
    user = port.user
    app = serial.Serial(port.link, 57600, stopbits=2, rtscts=True, timeout=1)
    loop.until(
        lambda: "opened" in user.events and any(isinstance(e, LineSettings) for e in user.events)
    )
    assert port.is_open
    settings = [e for e in user.events if isinstance(e, LineSettings)]
    assert settings[-1] == LineSettings(57600, 2, "rtscts", hupcl=True)
    user.events.clear()

    app.baudrate = 12345
    loop.until(lambda: user.events)
    assert user.events == [LineSettings(12345, 2, "rtscts", hupcl=True)]
    user.events.clear()

    app.reset_input_buffer()
    loop.until(lambda: user.events)
    assert user.events == [("purge", 1)]
    user.events.clear()
    app.reset_output_buffer()
    loop.until(lambda: user.events)
    assert user.events == [("purge", 2)]
    user.events.clear()

    app.write(bytes(range(256)))
    loop.until(lambda: len(user.data) == 256)
    assert bytes(user.data) == bytes(range(256))
    port.write(b"\x00\xff to the app")
    loop.until(lambda: port.stream is not None and port.stream.queued == 0)
    assert app.read(13) == b"\x00\xff to the app"

    app.close()
    loop.until(lambda: user.events)
    assert user.events == [("closed", True)]
    assert not port.is_open


def test_the_first_setting_is_reported_even_if_the_pty_had_it(loop, port):
    app = serial.Serial(port.link, ptyport.INITIAL_BAUD, timeout=1)
    try:
        loop.until(lambda: any(isinstance(e, LineSettings) for e in port.user.events))
        assert port.app_set
    finally:
        app.close()


def test_an_application_that_never_sets_anything_changes_nothing(loop, port):
    fd = os.open(port.link, os.O_RDWR | os.O_NOCTTY)
    loop.until(lambda: port.is_open)
    settle(loop)
    os.close(fd)
    loop.until(lambda: not port.is_open)
    assert port.user.events == ["opened", ("closed", True)]
    assert not port.app_set


def test_unread_data_is_dropped_when_the_application_closes(loop, port):
    fd = os.open(port.link, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    loop.until(lambda: port.is_open)
    port.write(b"left unread")
    os.close(fd)
    loop.until(lambda: not port.is_open)
    fd = os.open(port.link, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    try:
        loop.until(lambda: port.is_open)
        with pytest.raises(BlockingIOError):
            os.read(fd, 100)
        assert ("purge", 1) not in port.user.events and ("purge", 2) not in port.user.events
    finally:
        os.close(fd)


def test_clearing_extproc_gets_one_notice_and_extproc_comes_back(loop, port):
    fd = os.open(port.link, os.O_RDWR | os.O_NOCTTY)
    try:
        loop.until(lambda: port.is_open)
        attrs = termios.tcgetattr(fd)
        attrs[3] = 0  # c_lflag = 0, as many C programs do
        attrs[4] = attrs[5] = termios.B115200
        termios.tcsetattr(fd, termios.TCSANOW, attrs)
        loop.until(lambda: any(isinstance(e, LineSettings) for e in port.user.events))
        assert get_termios2(fd).lflag & EXTPROC  # set again: it changes nothing here
        port.user.events.clear()
        attrs = termios.tcgetattr(fd)
        attrs[4] = attrs[5] = termios.B1200
        termios.tcsetattr(fd, termios.TCSANOW, attrs)
        loop.until(lambda: port.user.events)
        assert port.user.events[0].baud == 1200
    finally:
        os.close(fd)


def test_a_cooked_application_gets_the_kernels_editing_and_is_polled(loop, port):
    fd = os.open(port.link, os.O_RDWR | os.O_NOCTTY)
    try:
        loop.until(lambda: port.is_open)
        attrs = termios.tcgetattr(fd)
        attrs[3] |= termios.ICANON | termios.ECHO
        termios.tcsetattr(fd, termios.TCSANOW, attrs)
        loop.until(lambda: any(isinstance(e, LineSettings) for e in port.user.events))
        assert not get_termios2(fd).lflag & EXTPROC
        settle(loop)  # clearing EXTPROC was itself one last notice
        port.user.events.clear()
        attrs[4] = attrs[5] = termios.B4800
        attrs[3] = termios.tcgetattr(fd)[3]
        termios.tcsetattr(fd, termios.TCSANOW, attrs)
        settle(loop)
        assert port.user.events == []  # no notice without EXTPROC...
        loop.advance(ptyport.POLL_SECONDS)  # ...the poll finds it
        assert [e.baud for e in port.user.events] == [4800]
        # Line editing is the kernel's again: an erased character is gone.
        port.write(b"ab\x7fc\n")
        loop.until(lambda: port.stream is not None and port.stream.queued == 0)
        assert os.read(fd, 100) == b"ac\n"
    finally:
        os.close(fd)


def test_modem_line_ioctls_fail_on_the_pty_as_documented(loop, port):
    fd = os.open(port.link, os.O_RDWR | os.O_NOCTTY)
    try:
        with pytest.raises(OSError):
            fcntl.ioctl(fd, termios.TIOCMGET, array.array("i", [0]))
    finally:
        os.close(fd)


def test_paused_reading_keeps_the_applications_writes_in_the_pty(loop, port):
    app = serial.Serial(port.link, 9600, timeout=1)
    try:
        loop.until(lambda: port.is_open)
        port.pause_reading()
        app.write(b"waits")
        settle(loop)
        assert port.user.data == b""
        port.resume_reading()
        loop.until(lambda: port.user.data == b"waits")
    finally:
        app.close()


def _pattern(size: int) -> bytes:
    return bytes((i * 7 + i // 251) & 0xFF for i in range(size))


def _nothing_for_the_app(loop: FakeLoop, fd: int) -> bool:
    settle(loop)
    try:
        os.read(fd, 65536)
    except BlockingIOError:
        return True
    return False


@pytest.mark.parametrize("reading", [True, False], ids=["read", "not-read"])
def test_a_flush_of_its_input_drops_what_was_on_its_way_to_the_application(loop, port, reading):
    """More than the pty holds is on its way; the application flushes its
    input: what the pty held and what was still queued here are gone, also
    while its own writes are not read (no server to send them to)."""
    fd = os.open(port.link, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    try:
        tty.setraw(fd)
        loop.until(lambda: port.is_open)
        if not reading:
            port.pause_reading()
        port.write(_pattern(200_000))
        assert port.stream is not None and port.stream.queued > 0  # the pty is full
        assert len(os.read(fd, 1000)) == 1000
        port.user.events.clear()
        termios.tcflush(fd, termios.TCIFLUSH)
        loop.until(lambda: ("purge", 1) in port.user.events)
        assert port.stream.queued == 0
        assert _nothing_for_the_app(loop, fd)
        port.write(b"fresh")
        loop.until(lambda: port.stream is not None and port.stream.queued == 0)
        assert os.read(fd, 100) == b"fresh"
        # Its queue no longer full, the user may read its source again.
        assert port.user.events == ["resume", ("purge", 1)]
    finally:
        os.close(fd)


def test_a_flush_made_before_the_port_saw_the_open_spares_what_it_writes_then(loop, tmp_path):
    """pyserial flushes its input as it opens a port; what the user of the
    port writes when told of the open (attach's --buffer) comes after it."""

    class Greeter(Recorder):
        def app_opened(self) -> None:
            super().app_opened()
            port.write(b"kept for you")

    port = VirtualPort(loop.reactor, Greeter(), str(tmp_path / "ttyV4"), group=None)
    port.create()
    try:
        app = serial.Serial(port.link, 9600, timeout=1)  # opens, sets, flushes
        try:
            loop.until(lambda: "opened" in port.user.events)
            assert app.read(12) == b"kept for you"
            assert ("purge", 1) in port.user.events
            assert port.user.events.index(("purge", 1)) < port.user.events.index("opened")
        finally:
            app.close()
    finally:
        port.close()


def test_without_inotify_the_hang_up_is_polled(loop, tmp_path, monkeypatch):
    monkeypatch.setattr(ptyport.Inotify, "watch", classmethod(lambda cls, path: None))
    port = VirtualPort(loop.reactor, Recorder(), str(tmp_path / "ttyV3"), group=None)
    port.create()
    try:
        fd = os.open(port.link, os.O_RDWR | os.O_NOCTTY)
        settle(loop)
        assert not port.is_open
        loop.advance(ptyport.HUP_POLL_SECONDS)
        assert port.is_open
        os.close(fd)
        loop.until(lambda: not port.is_open)
    finally:
        port.close()
