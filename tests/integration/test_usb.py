"""USB adapters picked by identity, in a running daemon over a fake sysfs:
device nodes are symlinks to ptys, so the bytes are real."""

from __future__ import annotations

import socket
from pathlib import Path

from helpers import (
    connect,
    daemon,
    free_port,
    new_pty,
    read_for,
    recv_exact,
    recv_until_closed,
)
from usbtree import UsbTree


def command(sock: socket.socket, line: bytes) -> bytes:
    sock.sendall(line + b"\r")
    return read_for(sock, 5, until=b"-> ")


def config(port: int, selector: str, options: str = "") -> str:
    text = (
        "connection: &usb\n"
        f"  accepter: telnet(rfc2217),tcp,127.0.0.1,{port}\n"
        f"  connector: serialdev,{selector},115200n81,local\n"
        "  options:\n"
        "    chardelay: false\n"
    )
    return text + "".join(f"    {line}\n" for line in options.splitlines())


def test_the_selector_picks_the_adapter_by_serial_whatever_its_name(tmp_path: Path) -> None:
    tree = UsbTree(tmp_path)
    other, wanted = new_pty(), new_pty()
    try:
        tree.add("ttyUSB0", other.path, serial="OTHER1", location="1-1.2")
        tree.add("ttyUSB1", wanted.path, serial="WANTED", location="1-1.3")
        port, admin = free_port(), free_port()
        with daemon(
            "connection: &usb\n"
            f"  accepter: tcp,127.0.0.1,{port}\n"
            "  connector: serialdev,usb(vid=0403,serial=wanted),115200n81,local\n",
            tmp_path,
            [port, admin],
            extra_args=["-p", f"127.0.0.1,{admin}"],
            env=tree.env(),
        ):
            with connect(port) as sock:
                sock.sendall(b"to the adapter")
                assert wanted.read(14) == b"to the adapter"
                wanted.write(b"from it")
                assert recv_exact(sock, 7) == b"from it"
                with connect(admin) as adm:
                    read_for(adm, 5, until=b"-> ")
                    out = command(adm, b"showport usb")
                    assert (
                        f"  device node: usb(vid=0403,serial=wanted) -> {tree.dev}/ttyUSB1\r\n"
                    ).encode() in out
    finally:
        other.close()
        wanted.close()


def test_no_adapter_matches_and_the_client_is_told(tmp_path: Path) -> None:
    tree = UsbTree(tmp_path)
    port = free_port()
    with daemon(
        f"connection: &usb\n  accepter: tcp,127.0.0.1,{port}\n"
        "  connector: serialdev,usb(serial=NOTHERE),9600n81\n",
        tmp_path,
        [port],
        env=tree.env(),
    ) as proc:
        with connect(port) as sock:
            assert recv_until_closed(sock) == (
                b"Device open failure: no USB serial device matches usb(serial=NOTHERE)\r\n"
            )
    log = Path(proc.log_path).read_text()
    assert "pyser2net --list-devices shows what is there" in log


def test_two_adapters_match_and_the_open_is_refused(tmp_path: Path) -> None:
    tree = UsbTree(tmp_path)
    one, two = new_pty(), new_pty()
    try:
        tree.add("ttyUSB0", one.path, serial="0001", location="1-1.2")
        tree.add("ttyUSB1", two.path, serial="0002", location="1-1.3")
        port = free_port()
        with daemon(
            f"connection: &usb\n  accepter: tcp,127.0.0.1,{port}\n"
            "  connector: serialdev,usb(vid=0403),9600n81\n",
            tmp_path,
            [port],
            env=tree.env(),
        ) as proc:
            with connect(port) as sock:
                assert recv_until_closed(sock) == (
                    b"Device open failure: more than one USB serial device matches "
                    b"usb(vid=0403)\r\n"
                )
        log = Path(proc.log_path).read_text()
        assert (
            f"{tree.dev}/ttyUSB0 (serial=0001, location=1-1.2); "
            f"{tree.dev}/ttyUSB1 (serial=0002, location=1-1.3); "
            "add serial= or location= to the selector to pick one"
        ) in log
    finally:
        one.close()
        two.close()
