"""A raw TCP port to a pty device and an echo connector, through the real daemon."""

from __future__ import annotations

import os
import select
import socket
import termios
import time

from helpers import Pty, connect, daemon, free_port, recv_exact, recv_until_closed


def pump(sock: socket.socket, pty: Pty, to_device: bytes, to_net: bytes, timeout: float = 30.0):
    """Send both payloads at once and collect both directions.

    Doing both directions concurrently is what exercises backpressure: the
    pty buffer is a few KiB, so neither side can be written in one go.
    """
    sock.setblocking(False)
    os.set_blocking(pty.master, False)  # a full pty must not block the test
    got_dev = bytearray()
    got_net = bytearray()
    out_net = memoryview(to_device)
    out_dev = memoryview(to_net)
    deadline = time.monotonic() + timeout
    while (
        len(got_dev) < len(to_device) or len(got_net) < len(to_net)
    ) and time.monotonic() < deadline:
        wr = ([sock] if out_net else []) + ([pty.master] if out_dev else [])
        rd, wr, _ = select.select([sock, pty.master], wr, [], 0.5)
        if sock in rd:
            got_net += sock.recv(65536)
        if pty.master in rd:
            got_dev += os.read(pty.master, 65536)
        if sock in wr:
            out_net = out_net[sock.send(out_net[:65536]) :]
        if pty.master in wr:
            try:
                out_dev = out_dev[os.write(pty.master, out_dev[:4096]) :]
            except BlockingIOError:
                pass
    return bytes(got_dev), bytes(got_net)


def raw_config(port: int, device: str, extra: str = "") -> str:
    return (
        f"connection: &raw\n"
        f"  accepter: tcp,127.0.0.1,{port}\n"
        f"  connector: serialdev,{device},115200n81,local{extra}\n"
    )


def test_one_mebibyte_each_way_arrives_exactly(tmp_path, pty_pair):
    port = free_port()
    to_device = os.urandom(1 << 20)
    to_net = os.urandom(1 << 20)
    with daemon(raw_config(port, pty_pair.path), tmp_path, [port]):
        with connect(port) as sock:
            time.sleep(0.2)  # let the daemon open the device
            got_dev, got_net = pump(sock, pty_pair, to_device, to_net)
    assert len(got_dev) == len(to_device)
    assert got_dev == to_device
    assert len(got_net) == len(to_net)
    assert got_net == to_net


def test_device_sees_configured_termios(tmp_path, pty_pair):
    port = free_port()
    config = (
        f"connection: &raw\n"
        f"  accepter: tcp,127.0.0.1,{port}\n"
        f"  connector: serialdev,{pty_pair.path},57600n82,rtscts\n"
    )
    before = termios.tcgetattr(pty_pair.slave)
    with daemon(config, tmp_path, [port]):
        with connect(port):
            deadline = time.monotonic() + 5
            while termios.tcgetattr(pty_pair.slave)[4] != termios.B57600:
                assert time.monotonic() < deadline, "baud rate never set"
                time.sleep(0.02)
            iflag, oflag, cflag, lflag, ispeed, ospeed, cc = termios.tcgetattr(pty_pair.slave)
        assert ispeed == ospeed == termios.B57600
        assert iflag == termios.IGNBRK
        assert oflag == 0 and lflag == 0
        assert cflag & termios.CSTOPB
        assert cflag & termios.CRTSCTS
        assert not cflag & termios.CLOCAL  # no "local": modem control honoured
        assert cc[termios.VMIN] == 1 and cc[termios.VTIME] == 0
        # The line is put back as it was when the last client leaves.
        deadline = time.monotonic() + 5
        while termios.tcgetattr(pty_pair.slave) != before:
            assert time.monotonic() < deadline, "termios not restored on close"
            time.sleep(0.02)


def test_missing_device_is_reported_and_other_ports_keep_working(tmp_path):
    bad, good = free_port(), free_port()
    config = (
        f"connection: &bad\n"
        f"  accepter: tcp,127.0.0.1,{bad}\n"
        f"  connector: serialdev,/dev/pyser2net-no-such-device,9600n81,local\n"
        f"connection: &good\n"
        f"  accepter: tcp,127.0.0.1,{good}\n"
        f"  connector: echo\n"
    )
    with daemon(config, tmp_path, [bad, good]) as proc:
        with connect(good) as echo:
            with connect(bad) as sock:
                reply = recv_until_closed(sock)
            assert reply == b"Device open failure: Value or file not found\r\n"
            echo.sendall(b"still here")
            assert recv_exact(echo, 10) == b"still here"
        assert proc.poll() is None


def test_echo_connector_echoes_binary(tmp_path):
    port = free_port()
    payload = bytes(range(256)) * 512
    config = f"connection: &e\n  accepter: tcp,127.0.0.1,{port}\n  connector: echo\n"
    with daemon(config, tmp_path, [port]):
        with connect(port) as sock:
            sock.sendall(payload)
            assert recv_exact(sock, len(payload), timeout=10) == payload


def test_second_client_is_refused_by_default(tmp_path):
    port = free_port()
    config = f"connection: &e\n  accepter: tcp,127.0.0.1,{port}\n  connector: echo\n"
    with daemon(config, tmp_path, [port]):
        with connect(port) as first:
            time.sleep(0.1)
            with connect(port) as second:
                assert recv_until_closed(second) == b"Port already in use\r\n"
            first.sendall(b"x")
            assert recv_exact(first, 1) == b"x"


def test_legacy_line_serves_a_pty(tmp_path, pty_pair):
    port = free_port()
    config = f"{port}:raw:0:{pty_pair.path}:19200 LOCAL\n"
    with daemon(config, tmp_path, [port], suffix=".conf"):
        with connect(port) as sock:
            sock.sendall(b"to device")
            assert pty_pair.read(9) == b"to device"
            pty_pair.write(b"to net")
            assert recv_exact(sock, 6) == b"to net"
            assert termios.tcgetattr(pty_pair.slave)[4] == termios.B19200


def test_ipv6_loopback_and_wildcard(tmp_path):
    port = free_port()
    config = f"connection: &e\n  accepter: tcp,{port}\n  connector: echo\n"
    with daemon(config, tmp_path, [port]):
        for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
            with socket.socket(family, socket.SOCK_STREAM) as sock:
                sock.settimeout(5)
                sock.connect((host, port))
                sock.sendall(b"ping")
                assert recv_exact(sock, 4) == b"ping"
            time.sleep(0.1)


def test_device_output_while_nobody_is_connected_reaches_next_client(tmp_path, pty_pair):
    port = free_port()
    with daemon(raw_config(port, pty_pair.path), tmp_path, [port]):
        with connect(port):
            time.sleep(0.2)
        time.sleep(0.2)
        pty_pair.write(b"waiting in the tty")
        with connect(port) as sock:
            assert recv_exact(sock, 18) == b"waiting in the tty"


def test_localhost_binds_every_address_it_resolves_to(tmp_path):
    port = free_port()
    config = f"connection: &e\n  accepter: tcp,localhost,{port}\n  connector: echo\n"
    addresses = {
        info[4][0] for info in socket.getaddrinfo("localhost", port, type=socket.SOCK_STREAM)
    }
    assert "127.0.0.1" in addresses
    with daemon(config, tmp_path, [port]):
        for host in sorted(addresses):
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            with socket.socket(family, socket.SOCK_STREAM) as sock:
                sock.settimeout(5)
                sock.connect((host, port))
                sock.sendall(b"hi")
                assert recv_exact(sock, 2) == b"hi"
            time.sleep(0.1)
