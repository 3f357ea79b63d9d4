"""The admin port of a running daemon: every command answers, monitor is live."""

from __future__ import annotations

import socket
import time

import yaml

from pyser2net import SER2NET_VERSION, __version__

from helpers import ADMIN_CONFIG, connect, daemon, free_port, read_for, recv_until_closed


def command(sock: socket.socket, line: bytes) -> bytes:
    sock.sendall(line + b"\r")
    return read_for(sock, 5, until=b"-> ")


def start(tmp_path, pty_pair):
    echo, tty, admin = free_port(), free_port(), free_port()
    config = ADMIN_CONFIG.format(echo=echo, tty=tty, dev=pty_pair.path)
    ctx = daemon(config, tmp_path, [echo, tty, admin], extra_args=["-p", f"127.0.0.1,{admin}"])
    return ctx, echo, tty, admin


def test_every_command_answers(tmp_path, pty_pair):
    ctx, echo, tty, admin = start(tmp_path, pty_pair)
    with ctx:
        with connect(admin) as adm:
            assert read_for(adm, 5, until=b"-> ") == b"-> "
            assert command(adm, b"version") == (
                f"version\r\nversion: {SER2NET_VERSION} (pyser2net {__version__})\r\n-> ".encode()
            )
            assert command(adm, b"help").endswith(b"reload - Reload the configuration file.\r\n-> ")
            out = command(adm, b"showport")
            assert b"port: echo1\r\n  accepter: tcp,127.0.0.1," in out
            assert b"port: tty1\r\n" in out and b"  device config: 115200N81,CLOCAL\r\n" in out
            assert command(adm, b"showshortport tty1").count(b"\r\n") == 3
            assert command(adm, b"nosuch") == b"nosuch\r\nerror: Unknown command - nosuch\r\n-> "
            with connect(tty) as client:
                time.sleep(0.3)
                out = command(adm, b"showport tty1")
                assert b"  connected to: ipv4,127.0.0.1," in out
                assert b"  device controls: " in out
                assert (
                    command(adm, b"setportcontrol tty1 DTRLO RTSLO")
                    == b"setportcontrol tty1 DTRLO RTSLO\r\n-> "
                )
                assert command(adm, b"setporttimeout tty1 1") == b"setporttimeout tty1 1\r\n-> "
                assert b"  timeout: 1\r\n" in command(adm, b"showport tty1")
                # The idle timeout set from the admin port closes the client.
                assert recv_until_closed(client, timeout=5) == b""
            with connect(echo) as client:
                time.sleep(0.2)
                assert command(adm, b"disconnect echo1") == b"disconnect echo1\r\n-> "
                assert recv_until_closed(client, timeout=5) == b""
            assert (
                command(adm, b"disconnect echo1")
                == b"disconnect echo1\r\nerror: Port not connected - echo1\r\n-> "
            )
            assert command(adm, b"setportenable echo1 off") == b"setportenable echo1 off\r\n-> "
            refused = socket.socket()
            assert refused.connect_ex(("127.0.0.1", echo)) != 0
            refused.close()
            assert command(adm, b"setportenable echo1 on") == b"setportenable echo1 on\r\n-> "
            with connect(echo) as client:
                client.sendall(b"back")
                assert read_for(client, 5, until=b"back") == b"back"
            assert command(adm, b"reload") == b"reload\r\nreload done\r\n-> "
            adm.sendall(b"exit\r")
            assert recv_until_closed(adm, timeout=5) == b""


def test_monitor_shows_live_data(tmp_path, pty_pair):
    ctx, echo, tty, admin = start(tmp_path, pty_pair)
    with ctx:
        with connect(admin) as adm, connect(tty) as client:
            read_for(adm, 5, until=b"-> ")
            assert command(adm, b"monitor tcp tty1") == b"monitor tcp tty1\r\n-> "
            client.sendall(b"to the device")
            assert pty_pair.read(13) == b"to the device"
            assert read_for(adm, 5, until=b"device") == b"to the device"
            assert command(adm, b"monitor stop") == b"monitor stop\r\n-> "
            assert command(adm, b"monitor term tty1") == b"monitor term tty1\r\n-> "
            pty_pair.write(b"from the device")
            assert read_for(adm, 5, until=b"device") == b"from the device"
            client.sendall(b"not shown")
            assert pty_pair.read(9) == b"not shown"
            assert read_for(adm, 0.3) == b""


def test_yaml_mode_and_connection_events(tmp_path, pty_pair):
    ctx, echo, tty, admin = start(tmp_path, pty_pair)
    with ctx:
        with connect(admin) as adm:
            read_for(adm, 5, until=b"-> ")
            adm.sendall(b"yaml\r")
            assert read_for(adm, 2, until=b"yaml\r\n") == b"yaml\r\n"
            adm.sendall(b"showport echo1\r")
            doc = yaml.safe_load(read_for(adm, 5, until=b"...\r\n").decode())
            assert doc["response"]["port"]["name"] == "echo1"
            with connect(echo):
                out = read_for(adm, 5, until=b"...\r\n")
                assert yaml.safe_load(out.decode())["new connection"]["name"] == "echo1"
            out = read_for(adm, 5, until=b"...\r\n")
            assert yaml.safe_load(out.decode())["disconnect"]["name"] == "echo1"


def test_hostile_input_disturbs_nothing(tmp_path, pty_pair):
    ctx, echo, tty, admin = start(tmp_path, pty_pair)
    with ctx:
        with connect(echo) as client, connect(admin) as adm:
            read_for(adm, 5, until=b"-> ")
            # What a telnet client sends, then garbage, then a huge line.
            adm.sendall(b"\xff\xfb\x18\xff\xfd\x03\xff\xfa\x18\x00xterm\xff\xf0")
            adm.sendall(bytes(range(256)) + b"\r")
            adm.sendall(b"A" * 100000 + b"\r")
            out = read_for(adm, 5, until=b"ignored\r\n-> ")
            assert out.endswith(b"error: line too long (more than 1024 bytes), ignored\r\n-> ")
            assert command(adm, b"version").startswith(b"version\r\nversion: ")
            client.sendall(b"ok")
            assert read_for(client, 5, until=b"ok") == b"ok"


def test_counters_count_payload_and_banner_and_restart_per_session(tmp_path, pty_pair):
    port, admin = free_port(), free_port()
    config = (
        f"connection: &t\n"
        f"  accepter: telnet(rfc2217),tcp,127.0.0.1,{port}\n"
        f"  connector: serialdev,{pty_pair.path},9600n81,local\n"
        f"  options:\n"
        f"    banner: 'Hi \\N\\xff\\r\\n'\n"  # 7 bytes, 8 on the wire
        f"    openstr: 'go'\n"
    )

    def counters() -> bytes:
        adm.sendall(b"showport t\r")
        out = read_for(adm, 5, until=b"\r\n-> ")
        return b"".join(line for line in out.split(b"\r\n") if b"bytes" in line)

    with daemon(config, tmp_path, [port, admin], extra_args=["-p", f"127.0.0.1,{admin}"]):
        with connect(admin) as adm:
            read_for(adm, 5, until=b"-> ")
            with connect(port) as client:
                read_for(client, 5, until=b"\r\n")
                # 3 payload bytes among telnet commands and an escaped 0xff.
                client.sendall(b"a\xff\xfb\x2cb\xff\xff\xff\xfa\x2c\x01\0\0\0\0\xff\xf0")
                assert pty_pair.read(5) == b"goab\xff"
                pty_pair.write(b"\xff\xffz")
                read_for(client, 5, until=b"\xff\xff\xff\xffz")
                time.sleep(0.2)
                assert counters() == (
                    b"    bytes read from TCP: 3"
                    b"    bytes written to TCP: 10"
                    b"    bytes in queue to TCP: 0"
                    b"  bytes read from device: 3"
                    b"  bytes written to device: 5"
                )
            deadline = time.monotonic() + 5
            while b"TCP" in counters() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert counters() == (b"  bytes read from device: 0  bytes written to device: 0")
