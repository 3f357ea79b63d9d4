"""Telnet and RFC 2217 ports with real clients: pyserial, gensiot, telnet."""

from __future__ import annotations

import os
import random
import select
import shutil
import subprocess
import termios
import time
from functools import partial

import pytest
import serial
from serial import rfc2217

from helpers import (
    connect,
    daemon,
    free_port,
    read_exact,
    read_for,
    recv_exact,
    round_trip_through,
    stop_process,
)


def telnet_config(port: int, device: str, accepter: str = "telnet(rfc2217)") -> str:
    return (
        f"connection: &t\n"
        f"  accepter: {accepter},tcp,127.0.0.1,{port}\n"
        f"  connector: serialdev,{device},9600n81,local\n"
    )


def test_pyserial_rfc2217_changes_line_settings(tmp_path, pty_pair):
    port, admin = free_port(), free_port()
    with daemon(
        telnet_config(port, pty_pair.path),
        tmp_path,
        [port, admin],
        extra_args=["-p", f"127.0.0.1,{admin}"],
    ):
        client = serial.serial_for_url(f"rfc2217://127.0.0.1:{port}", timeout=2)
        try:
            client.baudrate = 57600
            client.bytesize = 7
            client.parity = serial.PARITY_EVEN
            client.stopbits = 2
            _, _, cflag, _, ispeed, ospeed, _ = termios.tcgetattr(pty_pair.slave)
            assert ispeed == ospeed == termios.B57600
            assert cflag & termios.CSTOPB
            # A Linux pty always reports CS8 without parity whatever is set,
            # so 7E is checked through the answers pyserial required above
            # (it raises when the server does not confirm a setting).
            assert (client.bytesize, client.parity) == (7, serial.PARITY_EVEN)
            # ... and through what the daemon itself reports on its admin port.
            with connect(admin) as adm:
                read_for(adm, 5, until=b"-> ")
                adm.sendall(b"showport t\r")
                report = read_for(adm, 5, until=b"\r\n-> ")
            assert b"  device config: 57600E72,CLOCAL\r\n" in report
            client.rts = False
            client.dtr = False
            client.send_break(0.05)
        finally:
            client.close()


def test_pyserial_rfc2217_data_with_iac_bytes_round_trips(tmp_path, pty_pair):
    port = free_port()
    payload = bytes(range(256)) * 16
    with daemon(telnet_config(port, pty_pair.path), tmp_path, [port]):
        client = serial.serial_for_url(f"rfc2217://127.0.0.1:{port}", timeout=5)
        try:
            client.write(payload)
            assert pty_pair.read(len(payload)) == payload
            pty_pair.write(payload)
            assert client.read(len(payload)) == payload
        finally:
            client.close()


MASK_REQUESTS = [
    ("linestate mask", rfc2217.SET_LINESTATE_MASK, rfc2217.SERVER_SET_LINESTATE_MASK),
    ("modemstate mask", rfc2217.SET_MODEMSTATE_MASK, rfc2217.SERVER_SET_MODEMSTATE_MASK),
]


@pytest.mark.parametrize("mask", [b"\x30", b"\xff", b"\x00"])
def test_pyserial_gets_the_mask_acknowledgements(tmp_path, pty_pair, mask):
    port = free_port()
    with daemon(telnet_config(port, pty_pair.path), tmp_path, [port]):
        client = serial.serial_for_url(f"rfc2217://127.0.0.1:{port}", timeout=2)
        try:
            for name, option, ack in MASK_REQUESTS:
                # pyserial's own machinery for acknowledged requests: wait()
                # raises on a timeout, and when the echoed value differs.
                item = rfc2217.TelnetSubnegotiation(client, name, option, ack)
                client._rfc2217_options[name] = item
                item.set(mask)
                item.wait(3)
                assert item.is_ready()
            client.write(b"ok")
            assert pty_pair.read(2) == b"ok"
        finally:
            client.close()


def test_mask_requests_are_acknowledged_on_the_wire(tmp_path, pty_pair):
    port = free_port()
    with daemon(telnet_config(port, pty_pair.path), tmp_path, [port]):
        with connect(port) as sock:
            read_for(sock, 1, until=b"\xff\xfd\x2c")  # the server's offers end with DO 44
            sock.sendall(b"\xff\xfb\x2c")  # WILL COM-PORT-OPTION: modemstate, unasked
            assert recv_exact(sock, 7) == b"\xff\xfa\x2c\x6b\x00\xff\xf0"
            # The acknowledgement echoes the mask (0xff doubled), then the
            # state under the new mask (a pty's lines read as 0).
            sock.sendall(b"\xff\xfa\x2c\x0a\xff\xff\xff\xf0")
            expected = b"\xff\xfa\x2c\x6e\xff\xff\xff\xf0" + b"\xff\xfa\x2c\x6a\x00\xff\xf0"
            assert recv_exact(sock, len(expected)) == expected
            sock.sendall(b"\xff\xfa\x2c\x0b\x30\xff\xf0")
            expected = b"\xff\xfa\x2c\x6f\x30\xff\xf0" + b"\xff\xfa\x2c\x6b\x00\xff\xf0"
            assert recv_exact(sock, len(expected)) == expected
            assert read_for(sock, 0.3) == b""


def test_plain_telnet_escapes_iac_without_rfc2217(tmp_path, pty_pair):
    port = free_port()
    with daemon(telnet_config(port, pty_pair.path, "telnet"), tmp_path, [port]):
        with connect(port) as sock:
            # WILL SGA, DO SGA, WILL ECHO, DONT ECHO, DO BINARY, WILL BINARY
            expected = bytes.fromhex("fffb03fffd03fffb01fffe01fffd00fffb00")
            assert recv_exact(sock, len(expected), timeout=3) == expected
            sock.sendall(b"a\xff\xffb")
            assert pty_pair.read(3) == b"a\xffb"
            pty_pair.write(b"\xff")
            assert recv_exact(sock, 2) == b"\xff\xff"


def pump(send, send_fd: int, data: bytes, receive, receive_fd: int, size: int) -> bytes:
    """Send ``data`` through one descriptor while reading ``size`` bytes from
    the other (the daemon sits between them); bounded wait."""
    got = bytearray()
    sent = 0
    deadline = time.monotonic() + 60
    while len(got) < size and time.monotonic() < deadline:
        writers = [send_fd] if sent < len(data) else []
        readable, writable, _ = select.select([receive_fd], writers, [], 0.5)
        if writable:
            sent += send(data[sent : sent + 4096])
        if readable:
            chunk = receive(65536)
            if not chunk:
                break
            got += chunk
    return bytes(got)


def test_payload_dense_in_iac_crosses_byte_exact_both_ways(tmp_path, pty_pair):
    # Random payload, half of it 0xFF: each 0xFF doubled on the wire, and
    # a client's reads are cut smaller than those of a raw client.
    rng = random.Random(18)
    payload = bytearray(rng.randbytes(1 << 18))
    for i in rng.sample(range(len(payload)), len(payload) // 2):
        payload[i] = 0xFF
    wire = bytes(payload).replace(b"\xff", b"\xff\xff")
    port = free_port()
    with daemon(telnet_config(port, pty_pair.path, "telnet"), tmp_path, [port]):
        with connect(port) as sock:
            greeting = bytes.fromhex("fffb03fffd03fffb01fffe01fffd00fffb00")
            assert recv_exact(sock, len(greeting), timeout=3) == greeting
            master = pty_pair.master
            got = pump(
                sock.send, sock.fileno(), wire, partial(os.read, master), master, len(payload)
            )
            assert got == payload
            got = pump(
                partial(os.write, master),
                master,
                bytes(payload),
                sock.recv,
                sock.fileno(),
                len(wire),
            )
            assert got == wire


@pytest.mark.skipif(shutil.which("gensiot") is None, reason="gensiot (gensio-bin) is not installed")
def test_gensiot_rfc2217_client_moves_data(tmp_path, pty_pair):
    port = free_port()
    with daemon(telnet_config(port, pty_pair.path), tmp_path, [port]):
        round_trip_through(
            ["gensiot", "-i", "stdio(self)", f"telnet(rfc2217),tcp,127.0.0.1,{port}"],
            pty_pair,
            b"from gensiot \xff end",
            b"to gensiot \xff",
        )


@pytest.mark.skipif(shutil.which("telnet") is None, reason="telnet is not installed")
def test_telnet_command_switches_to_character_mode(tmp_path, pty_pair):
    """Keys reach the device one by one: telnet put its terminal in raw mode."""
    port = free_port()
    master, slave = os.openpty()
    with daemon(telnet_config(port, pty_pair.path, "telnet"), tmp_path, [port]):
        proc = subprocess.Popen(
            ["telnet", "127.0.0.1", str(port)],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
        )
        try:
            time.sleep(1.0)  # let the negotiation settle
            os.write(master, b"k")  # no newline: a line-mode terminal would hold it
            assert pty_pair.read(1, timeout=5) == b"k"
            pty_pair.write(b"shown")
            seen = b""
            deadline = time.monotonic() + 5
            while b"shown" not in seen and time.monotonic() < deadline:
                seen += read_exact(master, 1, timeout=0.5)
            assert b"shown" in seen
        finally:
            stop_process(proc)
            os.close(master)
            os.close(slave)


def test_telnet_garbage_disturbs_nothing_else(tmp_path, pty_pair):
    """Random bytes, option storms and an endless subnegotiation on one
    telnet port: the daemon lives and another connection keeps working."""
    import random

    port, echo = free_port(), free_port()
    config = telnet_config(port, pty_pair.path) + (
        f"connection: &e\n  accepter: tcp,127.0.0.1,{echo}\n  connector: echo\n"
    )
    rng = random.Random(2217)
    storm = b"".join(
        bytes([255, rng.choice([251, 252, 253, 254]), rng.randrange(256)]) for _ in range(5000)
    )
    garbage = bytes(rng.randrange(256) for _ in range(50000))
    endless_sb = b"\xff\xfa\x2c\x01" + b"\x00" * 100000
    with daemon(config, tmp_path, [port, echo]) as proc:
        with connect(echo) as other:
            with connect(port) as sock:
                for chunk in (storm, garbage, endless_sb):
                    sock.sendall(chunk)
                    read_for(sock, 0.2)  # keep the daemon's answers flowing
                other.sendall(b"still fine")
                assert recv_exact(other, 10) == b"still fine"
            assert proc.poll() is None
            other.sendall(b"and after")
            assert recv_exact(other, 9) == b"and after"
