"""Log outputs that never block: real pipes, sockets and the real reactor."""

from __future__ import annotations

import fcntl
import logging
import os
import re
import socket
import termios
from typing import Iterator, Tuple

import pytest

from pyser2net.runtime.logsinks import (
    JournalFormatter,
    StreamSink,
    SyslogSink,
    TimestampFormatter,
    writes_to_journal,
)
from pyser2net.runtime.reactor import Reactor

F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)


def record(message: str, *args: object, level: int = logging.INFO) -> logging.LogRecord:
    return logging.LogRecord("pyser2net.test", level, __file__, 1, message, args, None)


@pytest.fixture
def small_pipe() -> Iterator[Tuple[int, int]]:
    """A pipe holding one page, so that a few lines fill it."""
    r, w = os.pipe()
    fcntl.fcntl(w, F_SETPIPE_SZ, 4096)
    try:
        yield r, w
    finally:
        for fd in (r, w):
            os.close(fd)


def pending(fd: int) -> int:
    return int.from_bytes(fcntl.ioctl(fd, termios.FIONREAD, b"\0" * 4), "little")


def drain(fd: int) -> bytes:
    os.set_blocking(fd, False)
    out = bytearray()
    try:
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            out += chunk
    except BlockingIOError:
        pass
    return bytes(out)


def plain_sink(fd: int, limit: int = 1000) -> StreamSink:
    sink = StreamSink(fd, limit=limit)
    sink.setFormatter(logging.Formatter("%(message)s"))
    return sink


def test_a_full_pipe_costs_lines_not_time_and_the_loss_is_reported(small_pipe):
    r, w = small_pipe
    sink = plain_sink(w, limit=1000)
    reactor = Reactor()
    idle = reactor.watched()
    sink.attach(reactor)
    for n in range(500):  # about 11 KB: the pipe (4 KiB) and the buffer fill up
        sink.handle(record("line %03d of the flood", n))
    assert pending(r) > 4096 - 50  # full: no room for another line
    assert sink.dropped > 0
    assert len(reactor.watched()) == len(idle) + 1  # waiting to write the rest
    # The descriptor the daemon was given keeps its blocking mode: the flag
    # is shared with every process writing to the same pipe.
    assert os.get_blocking(w)
    first = drain(r)
    for _ in range(20):
        reactor.run_once(timeout=0.05)
        first += drain(r)
        if b"dropped" in first:
            break
    text = first.decode()
    lines = text.splitlines()
    assert lines[0] == "line 000 of the flood"
    assert lines[-1] == f"{sink.dropped} log lines dropped"
    kept = [int(m) for m in re.findall(r"line (\d+) of", text)]
    assert kept == list(range(len(kept)))  # what was kept is whole and in order
    assert len(kept) + sink.dropped == 500
    assert reactor.watched() == idle  # nothing left to write: the loop stops watching
    sink.handle(record("after"))
    assert drain(r) == b"after\n"
    sink.close()
    reactor.close()


def test_without_a_reactor_the_next_line_flushes_the_backlog(small_pipe):
    r, w = small_pipe
    sink = plain_sink(w, limit=100_000)
    for n in range(200):
        sink.handle(record("x" * 40 + " %d", n))
    assert sink.dropped == 0
    out = drain(r)
    sink.handle(record("last"))
    out += drain(r)
    sink.handle(record("really last"))
    out += drain(r)
    lines = out.decode().splitlines()
    assert lines[-1] == "really last"
    assert len(lines) == 202
    sink.close()


def test_a_pipe_without_reader_fails_quietly(capfd):
    r, w = os.pipe()
    sink = plain_sink(w)
    os.close(r)
    sink.handle(record("nobody reads this"))
    sink.handle(record("nor this"))
    os.close(w)
    assert sink.dropped == 2
    assert capfd.readouterr() == ("", "")
    sink.close()


def test_a_bad_format_costs_one_line_and_no_traceback(small_pipe, capfd):
    r, w = small_pipe
    sink = plain_sink(w)
    sink.handle(record("%d items", "not a number"))
    sink.handle(record("fine"))
    assert sink.failures == 1
    assert drain(r) == b"1 log lines dropped\nfine\n"
    assert capfd.readouterr() == ("", "")
    sink.close()


def test_a_regular_file_is_written_directly(tmp_path):
    path = tmp_path / "log"
    with open(path, "wb") as f:
        sink = plain_sink(f.fileno())
        sink.handle(record("one"))
        sink.handle(record("two"))
        sink.close()
    assert path.read_bytes() == b"one\ntwo\n"


def test_a_socket_output_is_sent_without_waiting():
    ours, theirs = socket.socketpair()
    with ours, theirs:
        theirs.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        sink = plain_sink(theirs.fileno(), limit=2000)
        for n in range(2000):
            sink.handle(record("socket line %d", n))
        assert sink.dropped > 0
        assert theirs.gettimeout() is None  # still a blocking socket for its owner
        sink.close()


def test_syslog_datagrams_carry_priority_ident_and_pid(tmp_path):
    path = str(tmp_path / "log.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    server.settimeout(5)
    with server:
        sink = SyslogSink.connect(path, "pyser2net")
        sink.setFormatter(logging.Formatter("%(message)s"))
        sink.handle(record("hello %s", "there"))
        sink.handle(record("bad", level=logging.ERROR))
        sink.handle(record("detail", level=logging.DEBUG))
        pid = os.getpid()
        assert server.recv(1024) == f"<30>pyser2net[{pid}]: hello there".encode()
        assert server.recv(1024) == f"<27>pyser2net[{pid}]: bad".encode()
        assert server.recv(1024) == f"<31>pyser2net[{pid}]: detail".encode()
        sink.close()


def test_syslog_missing_socket_is_known_when_connecting(tmp_path):
    with pytest.raises(OSError):
        SyslogSink.connect(str(tmp_path / "no-such-socket"), "pyser2net")


def test_a_syslog_that_does_not_read_costs_lines_and_they_are_reported(tmp_path):
    path = str(tmp_path / "log.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    with server:
        sink = SyslogSink.connect(path, "pyser2net")
        sink.setFormatter(logging.Formatter("%(message)s"))
        for n in range(5000):
            sink.handle(record("flood %d", n))
        assert sink.dropped > 0
        server.setblocking(False)
        got = []
        try:
            while True:
                got.append(server.recv(1024))
        except BlockingIOError:
            pass
        assert len(got) + sink.dropped == 5000
        dropped = sink.dropped
        sink.handle(record("calm again"))
        pid = os.getpid()
        assert server.recv(1024) == f"<28>pyser2net[{pid}]: {dropped} log lines dropped".encode()
        assert server.recv(1024) == f"<30>pyser2net[{pid}]: calm again".encode()
        sink.close()


def test_syslog_restarted_is_connected_again(tmp_path):
    path = str(tmp_path / "log.sock")
    first = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    first.bind(path)
    sink = SyslogSink.connect(path, "pyser2net")
    sink.setFormatter(logging.Formatter("%(message)s"))
    first.close()
    os.unlink(path)
    sink.handle(record("while it is away"))
    second = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    second.bind(path)
    second.settimeout(5)
    with second:
        sink.handle(record("back"))
        pid = os.getpid()
        assert second.recv(1024) == f"<28>pyser2net[{pid}]: 1 log lines dropped".encode()
        assert second.recv(1024) == f"<30>pyser2net[{pid}]: back".encode()
    sink.close()


def test_timestamps_unless_journald_reads(tmp_path, monkeypatch):
    stamped = TimestampFormatter("pyser2net").format(record("hi"))
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}"
    assert re.fullmatch(rf"{stamp} pyser2net\[{os.getpid()}\]: hi", stamped)
    assert JournalFormatter("pyser2net").format(record("oops", level=logging.ERROR)) == (
        f"<3>pyser2net[{os.getpid()}]: oops"
    )
    path = tmp_path / "out"
    with open(path, "wb") as f:
        st = os.fstat(f.fileno())
        monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino}")
        assert writes_to_journal(f.fileno())
        monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino + 1}")
        assert not writes_to_journal(f.fileno())
        monkeypatch.delenv("JOURNAL_STREAM")
        assert not writes_to_journal(f.fileno())
