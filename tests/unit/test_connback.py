"""connback dials the targets not connected yet, and backs off after a failure."""

from __future__ import annotations

import socket
from typing import List

import pytest
from fakeloop import FakeLoop

from pyser2net.config.model import ConnectionOptions, Connector, NetworkDevice
from pyser2net.runtime.connback import ConnBack
from pyser2net.runtime.devices import peer_query
from pyser2net.runtime.resolver import NameBook

from helpers import keepalive_timers, tcp_options


def target(port: int) -> Connector:
    return Connector(f"tcp,127.0.0.1,{port}", NetworkDevice("127.0.0.1", port))


@pytest.fixture
def listener():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(4)
    sock.settimeout(5)
    yield sock
    sock.close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Recorder:
    def __init__(self) -> None:
        self.now = 100.0
        self.failures: List[str] = []
        self.dialled: List[tuple] = []
        self.loop = FakeLoop()
        self.names: NameBook

    def make(self, targets, retry=10, options=None) -> ConnBack:
        self.names = NameBook(self.loop.reactor, [peer_query(t.device) for t in targets])
        return ConnBack(
            targets,
            options or ConnectionOptions(connector_retry_time=retry),
            lambda: self.now,
            self.failures.append,
            lambda t, s, a: self.dialled.append((t, s, a)),
            self.names,
        )

    def close(self) -> None:
        for _, sock, _ in self.dialled:
            sock.close()
        self.names.cancel()
        self.loop.close()


def test_targets_without_a_client_are_dialled(listener):
    rec = Recorder()
    live, idle = target(1), target(listener.getsockname()[1])
    rec.make([live, idle]).dial(connected=[live])
    assert [t for t, _, _ in rec.dialled] == [idle]
    _, sock, addr = rec.dialled[0]
    assert addr == listener.getsockname()
    accepted, _ = listener.accept()  # the connect really happened
    sock.setblocking(True)
    sock.settimeout(5)
    sock.sendall(b"hi")
    assert accepted.recv(10) == b"hi"
    accepted.close()
    rec.close()


def test_a_failed_dial_waits_for_the_retry_time():
    rec = Recorder()
    # An address naming no interface fails at once, with no name server asked.
    bad = Connector("tcp,::1%nosuchif,1", NetworkDevice("::1%nosuchif", 1))
    dialer = rec.make([bad], retry=10.0)
    dialer.dial(connected=[])
    assert len(rec.failures) == 1 and "connback to tcp,::1%nosuchif,1 failed" in rec.failures[0]
    rec.now += 9.9
    dialer.dial(connected=[])
    assert len(rec.failures) == 1
    rec.now += 0.1
    dialer.dial(connected=[])
    assert len(rec.failures) == 2
    assert rec.dialled == []


def test_a_refused_connect_is_reported_by_the_connection_itself():
    # Non-blocking connects to loopback report refusal later, on the socket.
    rec = Recorder()
    rec.make([target(closed_port())]).dial(connected=[])
    assert rec.failures == [] and len(rec.dialled) == 1
    _, sock, _ = rec.dialled[0]
    sock.settimeout(5)
    with pytest.raises(ConnectionRefusedError):
        sock.recv(1)
    rec.close()


linux_only = pytest.mark.skipif(
    not keepalive_timers, reason="TCP keepalive timers are Linux options"
)


@linux_only
@pytest.mark.parametrize(
    "options,expected",
    [
        # The defaults of an accepted client: keepalive after 120 s, then
        # every 20 s, 3 probes; Nagle off; no user timeout.
        (ConnectionOptions(), (1, 1, 120, 20, 3, 0)),
        (
            ConnectionOptions(
                keepalive_idle=30, keepalive_interval=5, keepalive_count=2, tcp_user_timeout=45
            ),
            (1, 1, 30, 5, 2, 45000),
        ),
    ],
)
def test_a_dialled_socket_has_the_tcp_options_of_an_accepted_client(listener, options, expected):
    rec = Recorder()
    rec.make([target(listener.getsockname()[1])], options=options).dial(connected=[])
    _, sock, _ = rec.dialled[0]
    accepted, _ = listener.accept()
    accepted.close()
    assert tcp_options(sock) == expected
    assert sock.getblocking() is False
    rec.close()


def test_a_name_not_looked_up_is_not_dialled_and_is_looked_up_again():
    """Dialling never asks a name server: a target whose name is not
    found (yet) fails at once, and a lookup starts in the background."""
    rec = Recorder()
    name = "\u00fc" * 64 + ".test"  # its IDNA form is refused before any query goes out
    named = Connector(f"tcp,{name},2000", NetworkDevice(name, 2000))
    try:
        rec.make([named]).dial(connected=[])
        assert rec.dialled == []
        assert rec.failures == [
            f"connback to tcp,{name},2000 failed: cannot look up {name}: not looked up yet"
        ]
        query = peer_query(named.device)
        assert query in rec.names._lookups  # the lookup again, under way
        for _ in range(3000):  # the child's answer, in real time; its reaping, in fake time
            if query not in rec.names._lookups:
                break
            rec.loop.advance(0.01)
            rec.loop.reactor.run_once(timeout=0.01)
        assert "idna" in str(rec.names.get(query))
    finally:
        rec.close()
