"""Connection options, through the real daemon with ptys and loopback sockets."""

from __future__ import annotations

import os
import socket
import termios
import time
from typing import Tuple

from helpers import connect, daemon, free_port, recv_exact, recv_until_closed


def tcp_server() -> Tuple[socket.socket, int]:
    """A listening loopback socket standing for a remote server, and its port."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    return server, server.getsockname()[1]


def serial_conn(
    port: int, device: str, options: str = "", timeout: int = 0, connector_prefix: str = ""
) -> str:
    text = (
        f"connection: &c{port}\n"
        f"  accepter: tcp,127.0.0.1,{port}\n"
        f"  timeout: {timeout}\n"
        f"  connector: {connector_prefix}serialdev,{device},115200n81,local\n"
    )
    if options:
        text += "  options:\n" + "".join(f"    {line}\n" for line in options.splitlines())
    return text


def test_kickolduser_replaces_the_old_client(tmp_path, pty_pair):
    port = free_port()
    config = serial_conn(port, pty_pair.path, "kickolduser: true")
    with daemon(config, tmp_path, [port]):
        with connect(port) as old:
            time.sleep(0.2)
            with connect(port) as new:
                assert recv_until_closed(old, timeout=3) == b""
                new.sendall(b"new user")
                assert pty_pair.read(8) == b"new user"
                pty_pair.write(b"to new")
                assert recv_exact(new, 6) == b"to new"


def test_max_connections_fans_out_and_refuses_beyond(tmp_path, pty_pair):
    port = free_port()
    config = serial_conn(port, pty_pair.path, "max-connections: 3")
    with daemon(config, tmp_path, [port]):
        clients = [connect(port) for _ in range(3)]
        try:
            time.sleep(0.2)
            with connect(port) as fourth:
                assert recv_until_closed(fourth, timeout=3) == b"Port already in use\r\n"
            pty_pair.write(b"broadcast")
            for c in clients:
                assert recv_exact(c, 9) == b"broadcast"
            for i, c in enumerate(clients):
                c.sendall(b"from%d" % i)
                assert pty_pair.read(5) == b"from%d" % i
        finally:
            for c in clients:
                c.close()


def test_remaddr_refuses_other_hosts(tmp_path, pty_pair):
    denied, allowed = free_port(), free_port()
    config = serial_conn(denied, pty_pair.path, "remaddr: 127.0.0.2,0") + (
        f"connection: &ok\n  accepter: tcp,127.0.0.1,{allowed}\n  connector: echo\n"
        f"  options:\n    remaddr: 127.0.0.1,0\n"
    )
    with daemon(config, tmp_path, [denied, allowed]):
        with connect(denied) as sock:
            assert recv_until_closed(sock) == b"Accessed denied due to your net address\r\n"
        with connect(allowed) as sock:
            sock.sendall(b"in")
            assert recv_exact(sock, 2) == b"in"


def test_idle_timeout_closes_silent_client_and_traffic_resets_it(tmp_path):
    port = free_port()
    config = f"connection: &e\n  accepter: tcp,127.0.0.1,{port}\n  timeout: 1\n  connector: echo\n"
    with daemon(config, tmp_path, [port]):
        with connect(port) as sock:
            for _ in range(4):  # 2 s of traffic every 0.5 s keeps it open
                time.sleep(0.5)
                sock.sendall(b".")
                assert recv_exact(sock, 1) == b"."
            start = time.monotonic()
            assert recv_until_closed(sock, timeout=5) == b""
            assert 0.8 < time.monotonic() - start < 3.5


def test_client_buffer_limit_drops_only_the_stuck_client(tmp_path, pty_pair):
    port = free_port()
    config = serial_conn(
        port, pty_pair.path, "max-connections: 2\nclient-buffer-limit: 65536\nchardelay: false"
    )
    os.set_blocking(pty_pair.master, False)  # a full pty must not block the test
    with daemon(config, tmp_path, [port]):
        stuck = socket.socket()
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stuck.connect(("127.0.0.1", port))
        with stuck, connect(port) as reader:
            time.sleep(0.2)
            payload = os.urandom(4 << 20)
            got = bytearray()
            view = memoryview(payload)
            deadline = time.monotonic() + 30
            reader.setblocking(False)
            while len(got) < len(payload) and time.monotonic() < deadline:
                if view:
                    try:
                        view = view[os.write(pty_pair.master, view[:4096]) :]
                    except BlockingIOError:
                        pass
                try:
                    got += reader.recv(65536)
                except BlockingIOError:
                    time.sleep(0.001)
            assert bytes(got) == payload
            # The stuck client was disconnected, having read nothing.
            stuck.settimeout(2)
            received = recv_until_closed(stuck, timeout=3, limit=16 << 20)
            assert len(received) < len(payload)


def test_device_gone_closes_clients_and_next_client_retries(tmp_path):
    import tty

    master, slave = os.openpty()
    tty.setraw(master)
    path = os.ttyname(slave)
    port = free_port()
    config = serial_conn(port, path)
    try:
        with daemon(config, tmp_path, [port]) as proc:
            with connect(port) as sock:
                time.sleep(0.2)
                os.write(master, b"last words")
                time.sleep(0.2)
                os.close(master)
                os.close(slave)
                master = slave = -1
                assert recv_until_closed(sock, timeout=5) == b"last words"
            with connect(port) as sock:
                reply = recv_until_closed(sock, timeout=5)
            assert reply == b"Device open failure: Value or file not found\r\n"
            assert proc.poll() is None
    finally:
        for fd in (master, slave):
            if fd >= 0:
                os.close(fd)


def test_tcp_connector_relays_to_a_tcp_server(tmp_path):
    server, target = tcp_server()
    port = free_port()
    config = (
        f"connection: &n\n  accepter: tcp,127.0.0.1,{port}\n  connector: tcp,127.0.0.1,{target}\n"
    )
    with server, daemon(config, tmp_path, [port]):
        with connect(port) as client:
            server.settimeout(5)
            peer, _ = server.accept()
            with peer:
                client.sendall(b"out")
                assert recv_exact(peer, 3) == b"out"
                peer.sendall(b"back")
                assert recv_exact(client, 4) == b"back"


def test_udp_accepter_serves_the_first_remote_and_refuses_others(tmp_path, pty_pair):
    port = free_port()
    config = (
        f"connection: &u\n  accepter: udp,127.0.0.1,{port}\n  timeout: 1\n"
        f"  connector: serialdev,{pty_pair.path},9600n81,local\n"
    )
    with daemon(config, tmp_path, [port]):
        one = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        two = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with one, two:
            one.settimeout(3)
            two.settimeout(3)
            one.sendto(b"one", ("127.0.0.1", port))
            assert pty_pair.read(3) == b"one"
            pty_pair.write(b"abc")
            assert one.recvfrom(100) == (b"abc", ("127.0.0.1", port))
            two.sendto(b"two", ("127.0.0.1", port))
            assert two.recvfrom(100) == (b"Port already in use\r\n", ("127.0.0.1", port))
            time.sleep(2.5)  # the first remote times out
            two.sendto(b"three", ("127.0.0.1", port))
            assert pty_pair.read(5) == b"three"


def test_connback_dials_out_when_the_device_talks(tmp_path, pty_pair):
    server, target = tcp_server()
    port = free_port()
    config = serial_conn(port, pty_pair.path, f"connback: tcp,127.0.0.1,{target}\nchardelay: false")
    with server, daemon(config, tmp_path, [port]):
        server.settimeout(0.5)
        try:
            server.accept()
            raise AssertionError("connected back before the device said anything")
        except socket.timeout:
            pass
        pty_pair.write(b"alarm!")
        server.settimeout(5)
        peer, _ = server.accept()
        with peer:
            assert recv_exact(peer, 6) == b"alarm!"
            peer.sendall(b"ack")
            assert pty_pair.read(3) == b"ack"


def test_bind_failure_is_retried_until_the_address_is_free(tmp_path):
    blocker = socket.socket()
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    busy = blocker.getsockname()[1]
    other = free_port()
    config = (
        f"connection: &busy\n  accepter: tcp,127.0.0.1,{busy}\n  connector: echo\n"
        f"  options:\n    accepter-retry-time: 1\n"
        f"connection: &other\n  accepter: tcp,127.0.0.1,{other}\n  connector: echo\n"
    )
    with daemon(config, tmp_path, [other]) as proc:
        blocker.close()
        deadline = time.monotonic() + 5
        while True:
            try:
                with connect(busy) as sock:
                    sock.sendall(b"up")
                    assert recv_exact(sock, 2) == b"up"
                    break
            except ConnectionRefusedError:
                assert time.monotonic() < deadline, "the port was never bound again"
                time.sleep(0.1)
        assert proc.poll() is None


def test_serial_flags_reach_termios(tmp_path, pty_pair):
    port = free_port()
    config = (
        f"connection: &s\n  accepter: tcp,127.0.0.1,{port}\n"
        f"  connector: serialdev,{pty_pair.path},38400n81,xonxoff,hangup-when-done,local\n"
    )
    with daemon(config, tmp_path, [port]):
        with connect(port) as sock:
            sock.sendall(b"x")
            assert pty_pair.read(1) == b"x"
            iflag, _, cflag, _, ispeed, _, _ = termios.tcgetattr(pty_pair.slave)
    assert iflag == termios.IGNBRK | termios.IXON | termios.IXOFF
    assert cflag & termios.HUPCL and cflag & termios.CLOCAL
    assert ispeed == termios.B38400


def test_rs485_on_a_device_without_it_is_an_open_failure(tmp_path, pty_pair):
    port = free_port()
    config = (
        f"connection: &s\n  accepter: tcp,127.0.0.1,{port}\n"
        f"  connector: serialdev,{pty_pair.path},9600n81,local,rs485=10:20\n"
    )
    with daemon(config, tmp_path, [port]):
        with connect(port) as sock:
            assert recv_until_closed(sock) == b"Device open failure: Operation not supported\r\n"


def test_connback_timeout_closes_an_idle_connect_back(tmp_path, pty_pair):
    server, target = tcp_server()
    port = free_port()
    config = serial_conn(
        port,
        pty_pair.path,
        f"connback: tcp,127.0.0.1,{target}\nconnback-timeout: 1\nchardelay: false",
    )
    with server, daemon(config, tmp_path, [port]):
        pty_pair.write(b"wake")
        server.settimeout(5)
        peer, _ = server.accept()
        with peer:
            assert recv_exact(peer, 4) == b"wake"
            start = time.monotonic()
            assert recv_until_closed(peer, timeout=5) == b""
            assert time.monotonic() - start < 4


def test_a_client_reset_closes_only_that_client(tmp_path, pty_pair):
    import struct

    port = free_port()
    config = serial_conn(port, pty_pair.path, "max-connections: 2\nchardelay: false")
    with daemon(config, tmp_path, [port]) as proc:
        with connect(port) as stays:
            rude = connect(port)
            time.sleep(0.2)
            pty_pair.write(b"x" * 1000)  # unread data makes close() send a reset
            assert recv_exact(stays, 1000) == b"x" * 1000
            rude.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            rude.close()
            time.sleep(0.2)
            pty_pair.write(b"after")
            assert recv_exact(stays, 5) == b"after"
            stays.sendall(b"still")
            assert pty_pair.read(5) == b"still"
        assert proc.poll() is None


def test_bufsizes_set_the_read_sizes(tmp_path, pty_pair):
    """Seen through hexdump traces: a line never spans two reads."""
    port = free_port()
    reads, writes = tmp_path / "read.trace", tmp_path / "write.trace"
    config = serial_conn(
        port,
        pty_pair.path,
        f"dev-to-net-bufsize: 10\nnet-to-dev-bufsize: 10\nchardelay: false\n"
        f"trace-read: {reads}\ntrace-write: {writes}\ntrace-hexdump: true",
    )
    payload = bytes(range(0x41, 0x41 + 30))
    with daemon(config, tmp_path, [port]):
        with connect(port) as sock:
            time.sleep(0.2)
            pty_pair.write(payload)
            assert recv_exact(sock, 30) == payload
            sock.sendall(payload)
            assert pty_pair.read(30) == payload
    for trace in (reads, writes):
        widths = [len(line.split("|")[1]) for line in trace.read_text().splitlines()]
        assert widths == [8, 2, 8, 2, 8, 2]
