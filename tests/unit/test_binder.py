"""Binding a listener that cannot bind yet, and saying who holds its port.

Real sockets on 127.0.0.1, a real reactor on a fake clock: retries and the
rate limit of the log are tested without waiting for them.
"""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path
from typing import Iterator, List

import pytest
from fakeloop import FakeLoop

from pyser2net.config.model import Accepter
from pyser2net.runtime.binder import Binder
from pyser2net.runtime.listeners import TcpListener
from pyser2net.runtime.sockowner import describe_holders, owners, socket_inodes


@pytest.fixture
def loop() -> Iterator[FakeLoop]:
    fake = FakeLoop()
    yield fake
    fake.close()


def holder() -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    return sock


def our_command() -> str:
    with open("/proc/self/comm") as f:
        return f.read().strip()


def make_binder(loop: FakeLoop, port: int, bound: List[str]) -> Binder:
    accepter = Accepter(text=f"tcp,127.0.0.1,{port}", host="127.0.0.1", port=port)
    listener = TcpListener(loop.reactor, accepter, lambda sock, addr: sock.close())
    return Binder(loop.reactor, listener, "p", 10, on_bound=lambda: bound.append("up"))


def messages(caplog: pytest.LogCaptureFixture) -> List[str]:
    return [r.getMessage() for r in caplog.records if r.name == "pyser2net.runtime.binder"]


def test_a_free_port_binds_at_once(loop: FakeLoop) -> None:
    port = holder()
    number = port.getsockname()[1]
    port.close()
    binder = make_binder(loop, number, [])
    try:
        assert binder.start() and binder.bound and not binder.waiting
        assert binder.listening_text() == f"127.0.0.1:{number} (tcp,127.0.0.1,{number})"
    finally:
        binder.stop()


def test_a_busy_port_is_retried_logged_once_then_rate_limited(
    loop: FakeLoop, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    busy = holder()
    number = busy.getsockname()[1]
    bound: List[str] = []
    binder = make_binder(loop, number, bound)
    try:
        assert not binder.start()
        assert binder.waiting and not binder.bound
        assert messages(caplog) == [
            f"p: cannot listen on 127.0.0.1:{number} (tcp,127.0.0.1,{number}): Address "
            f"already in use, held by pid {os.getpid()} ({our_command()}); retrying every 10 s"
        ]
        for _ in range(5):  # 50 s: same reason, not logged again
            loop.advance(10)
        assert binder.failures == 6 and len(messages(caplog)) == 1
        loop.advance(10)  # a minute after the first line: once more, with the count
        assert len(messages(caplog)) == 2
        assert messages(caplog)[1].endswith("(7 attempts); retrying every 10 s")
        busy.close()
        loop.advance(10)
        assert binder.bound and not binder.waiting and bound == ["up"]
        assert messages(caplog)[2] == (
            f"p: listening on 127.0.0.1:{number} (tcp,127.0.0.1,{number}), after 7 failed attempts"
        )
    finally:
        binder.stop()
        busy.close()


def test_stop_ends_the_retries(loop: FakeLoop) -> None:
    busy = holder()
    binder = make_binder(loop, busy.getsockname()[1], [])
    try:
        assert not binder.start()
        binder.stop()
        assert not binder.waiting
        busy.close()
        loop.advance(60)
        assert not binder.bound
    finally:
        busy.close()


def test_an_address_that_does_not_exist_yet_is_retried(
    loop: FakeLoop, caplog: pytest.LogCaptureFixture
) -> None:
    """192.0.2.1 (TEST-NET) is on no interface: EADDRNOTAVAIL, as at boot."""
    accepter = Accepter(text="tcp,192.0.2.1,4000", host="192.0.2.1", port=4000)
    listener = TcpListener(loop.reactor, accepter, lambda sock, addr: sock.close())
    binder = Binder(loop.reactor, listener, "boot", 3)
    try:
        assert not binder.start() and binder.waiting
        assert messages(caplog) == [
            "boot: cannot listen on 192.0.2.1:4000 (tcp,192.0.2.1,4000): "
            "Cannot assign requested address; retrying every 3 s"
        ]
    finally:
        binder.stop()


def test_holders_of_a_port_are_found_by_address() -> None:
    sock = holder()
    number = sock.getsockname()[1]
    try:
        here = f"held by pid {os.getpid()} ({our_command()})"
        assert describe_holders(number) == here
        assert describe_holders(number, host="127.0.0.1") == here
        assert describe_holders(number, host="::") == here  # the wildcard clashes
        assert describe_holders(number, host="127.0.0.2") == ""  # another address does not
        assert describe_holders(number, transport="udp") == ""
    finally:
        sock.close()


def test_holders_from_a_proc_tree(tmp_path: Path) -> None:
    """The /proc/net layout: little-endian words, v4-mapped v6, other users' processes."""
    net = tmp_path / "net"
    net.mkdir()
    header = (
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt"
        "   uid  timeout inode\n"
    )
    (net / "tcp").write_text(
        header + "   0: 0100007F:0FA0 00000000:0000 0A 00000000:00000000 00:00000000"
        " 00000000     0        0 111 1 0 100 0 0 10 0\n"
        + "   1: 0200007F:0FA1 00000000:0000 01 00000000:00000000 00:00000000"
        " 00000000     0        0 222 1 0 100 0 0 10 0\n"
    )
    (net / "tcp6").write_text(
        header + "   0: 0000000000000000FFFF00000100007F:0FA2 "
        "00000000000000000000000000000000:0000 0A 00000000:00000000 "
        "00:00000000 00000000     0        0 333 1 0 100 0 0 10 0\n"
    )
    assert socket_inodes(4000, proc=str(tmp_path)) == {111}
    assert socket_inodes(4000, host="127.0.0.2", proc=str(tmp_path)) == set()
    assert socket_inodes(4001, proc=str(tmp_path)) == set()  # not listening
    assert socket_inodes(4002, host="127.0.0.1", proc=str(tmp_path)) == {333}
    for pid, comm, links in (
        (812, "ser2net", ["pipe:[5]", "socket:[111]"]),
        (900, "other", ["socket:[999]"]),
    ):
        fd = tmp_path / str(pid) / "fd"
        fd.mkdir(parents=True)
        (tmp_path / str(pid) / "comm").write_text(comm + "\n")
        for number, target in enumerate(links):
            os.symlink(target, fd / str(number))
    (tmp_path / "901").mkdir()  # a process whose fd directory is not ours to read
    assert [str(h) for h in owners({111}, proc=str(tmp_path))] == ["pid 812 (ser2net)"]
    assert owners({444}, proc=str(tmp_path)) == []
