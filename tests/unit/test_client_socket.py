"""The TCP options of accepted client sockets, read back from real sockets.

The kernel's view of a socket's options is only visible to its owner
(getsockopt), so this looks at sockets accepted by a real listener on a
real event loop, not at the daemon from outside.
"""

from __future__ import annotations

import socket
from typing import Iterator, List

import pytest

from pyser2net.config import ConfigError
from pyser2net.config.convert import to_yaml
from pyser2net.config.gensio import parse_accepter
from pyser2net.config.legacy import parse_legacy
from pyser2net.config.model import ConnectionOptions
from pyser2net.config.yaml import parse_yaml
from pyser2net.runtime.listeners import TcpListener, tune_client_socket
from pyser2net.runtime.reactor import Reactor

from helpers import keepalive_timers, tcp_options

linux_only = pytest.mark.skipif(
    not keepalive_timers, reason="TCP keepalive timers are Linux options"
)


@pytest.fixture
def loop() -> Iterator[Reactor]:
    reactor = Reactor()
    yield reactor
    reactor.close()


def _accept_one(loop: Reactor, options: ConnectionOptions) -> socket.socket:
    """Start a listener with ``options``, connect to it; the socket it accepted."""
    accepted: List[socket.socket] = []
    listener = TcpListener(
        loop, parse_accepter("tcp,127.0.0.1,0"), lambda s, _a: accepted.append(s), options
    )
    listener.start()
    try:
        port = listener.sockets[0].getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            for _ in range(50):
                loop.run_once(0.1)
                if accepted:
                    break
    finally:
        listener.stop()
    assert len(accepted) == 1
    return accepted[0]


@linux_only
def test_accepted_clients_get_short_keepalive_timers_by_default(loop):
    sock = _accept_one(loop, ConnectionOptions())
    with sock:
        # Keepalive on, Nagle off; three minutes of silence in all; the
        # user timeout left to the kernel.
        assert tcp_options(sock) == (1, 1, 120, 20, 3, 0)
        assert sock.getblocking() is False


@linux_only
def test_accepted_clients_get_the_configured_timers(loop):
    options = ConnectionOptions(
        keepalive_idle=30, keepalive_interval=5, keepalive_count=2, tcp_user_timeout=45
    )
    sock = _accept_one(loop, options)
    with sock:
        assert tcp_options(sock) == (1, 1, 30, 5, 2, 45000)


@linux_only
def test_a_socket_tuned_by_hand_reads_back_the_same():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        with socket.create_connection(listener.getsockname(), timeout=5):
            sock, _ = listener.accept()
            with sock:
                tune_client_socket(sock, ConnectionOptions(keepalive_idle=7, tcp_user_timeout=1))
                assert tcp_options(sock) == (1, 1, 7, 20, 3, 1000)


# -- the options in both configuration formats --------------------------------

YAML = """connection: &a
  accepter: tcp,2000
  connector: echo
  options:
{options}"""


def _yaml(options: str):
    text = YAML.format(options="".join(f"    {line}\n" for line in options.splitlines()))
    return parse_yaml(text, "t.yaml")


def test_yaml_reads_the_tcp_options():
    (c,) = _yaml(
        "keepalive-idle: 60\nkeepalive-interval: 10\nKeepalive-Count: 5\ntcp-user-timeout: 90"
    ).connections
    o = c.options
    assert (o.keepalive_idle, o.keepalive_interval, o.keepalive_count) == (60, 10, 5)
    assert o.tcp_user_timeout == 90


@pytest.mark.parametrize(
    "option",
    [
        "keepalive-idle: 0",
        "keepalive-idle: 32768",
        "keepalive-interval: ten",
        "keepalive-count: 128",
        "keepalive-count: -1",
        "tcp-user-timeout: 1.5",
        "tcp-user-timeout: 99999999999999999999999999999999999999999999",
    ],
)
def test_yaml_refuses_tcp_option_values_out_of_range(option):
    with pytest.raises(ConfigError) as info:
        _yaml(option)
    (line,) = str(info.value).splitlines()
    assert line.startswith("t.yaml:5:") and "invalid value for " + option.split(":")[0] in line


def test_legacy_reads_the_tcp_options_as_its_yaml_twin():
    text = "2000:raw:0:/dev/ttyS0:9600 keepalive-idle=60 keepalive-count=5 tcp-user-timeout=90\n"
    (c,) = parse_legacy(text, "t.conf").connections
    o = c.options
    assert (o.keepalive_idle, o.keepalive_interval, o.keepalive_count) == (60, 20, 5)
    assert o.tcp_user_timeout == 90
    with pytest.raises(ConfigError) as info:
        parse_legacy("2000:raw:0:/dev/ttyS0:9600 keepalive-count=0\n", "t.conf")
    assert "t.conf:1:" in str(info.value) and "invalid value for keepalive-count" in str(info.value)


def test_convert_writes_the_tcp_options_that_differ_from_the_defaults():
    config = parse_legacy("2000:raw:0:/dev/ttyS0:9600 keepalive-idle=60\n", "t.conf")
    text = to_yaml(config)
    assert "keepalive-idle: 60" in text and "keepalive-count" not in text
    assert parse_yaml(text, "t.yaml").connections[0].options.keepalive_idle == 60
