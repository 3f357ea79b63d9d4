"""USB adapters picked by identity, in a running daemon over a fake sysfs:
device nodes are symlinks to ptys, so the bytes are real."""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
import termios
from pathlib import Path

import serial
import yaml

from pyser2net.config import load_text
from pyser2net.config.model import SerialDevice
from pyser2net.runtime.usbdevices import resolve

from helpers import (
    connect,
    daemon,
    free_port,
    new_pty,
    read_for,
    recv_exact,
    recv_until_closed,
    wait_until,
)
from usbtree import UsbTree


def command(sock: socket.socket, line: bytes) -> bytes:
    # The prompt at the start of a line: a device node line holds "-> " too.
    sock.sendall(line + b"\r")
    return read_for(sock, 10, until=b"\n-> ")


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
                assert wanted.read(14, timeout=10) == b"to the adapter"
                wanted.write(b"from it")
                assert recv_exact(sock, 7, timeout=10) == b"from it"
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


# -- --list-devices ------------------------------------------------------------


def list_devices(tree: UsbTree, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "pyser2net", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env=dict(os.environ, **tree.env()),
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    return proc.stdout


def test_list_devices_prints_each_adapter_with_its_selector(tmp_path: Path) -> None:
    tree = UsbTree(tmp_path)
    tree.add_machine([f"/dev/pts/{n}" for n in range(8)])
    out = list_devices(tree, "--list-devices")
    dev = tree.dev
    assert out.startswith(
        f"{dev}/ttyACM0\n"
        f"  by-id:        {dev}/serial/by-id/usb-Raspberry_Pi_Pico_E6614C311B4A7B2D-if00\n"
        f"  by-path:      {dev}/serial/by-path/pci-0000:00:14.0-usb-0:1.3:1.0\n"
        "  vid:          2e8a\n"
        "  pid:          000a\n"
        "  serial:       E6614C311B4A7B2D\n"
        "  manufacturer: Raspberry Pi\n"
        "  product:      Pico\n"
        "  location:     1-1.3\n"
        "  interface:    0\n"
        "  selector:     usb(serial=E6614C311B4A7B2D)\n"
        "\n"
        f"{dev}/ttyUSB0\n"
    )
    assert "ttyS0" not in out
    assert list_devices(tree, "--usb") == out
    listed = yaml.safe_load(list_devices(tree, "--list-devices", "--yaml"))
    assert [e["node"] for e in listed] == [str(dev / "ttyACM0")] + [
        str(dev / f"ttyUSB{n}") for n in range(7)
    ]
    assert listed[3] == {
        "node": str(dev / "ttyUSB2"),
        "by-id": [str(dev / "serial/by-id/usb-FTDI_Dual_RS232-HS_FT2232X-if01-port0")],
        "by-path": [str(dev / "serial/by-path/pci-0000:00:14.0-usb-0:1.4:1.1-port0")],
        "vid": "0403",
        "pid": "6010",
        "serial": "FT2232X",
        "manufacturer": "FTDI",
        "product": "Dual RS232-HS",
        "location": "1-1.4",
        "interface": "1",
        "selector": "usb(serial=FT2232X,interface=1)",
    }
    # Each selector, read as a configuration reads it, picks its own adapter alone.
    for entry in listed:
        text = f"connection: &c\n  accepter: tcp,1\n  connector: serialdev,{entry['selector']}\n"
        device = load_text(text, "t.yaml").connections[0].connector.device
        assert isinstance(device, SerialDevice) and device.usb is not None
        assert resolve(device.usb, str(tree.sys), str(dev)).node == entry["node"]


def test_list_devices_on_a_machine_without_adapters(tmp_path: Path) -> None:
    tree = UsbTree(tmp_path)
    assert list_devices(tree, "--list-devices") == (
        f"no USB serial devices (none under {tree.sys}/class/tty)\n"
    )
    assert list_devices(tree, "--list-devices", "--yaml") == "[]\n"


# -- re-plug -------------------------------------------------------------------


def _speed(fd: int) -> int:
    return termios.tcgetattr(fd)[4]


def _nothing_to_read(fd: int) -> bool:
    return not select.select([fd], [], [], 0.3)[0]


def test_a_replugged_adapter_is_followed_and_keeps_its_settings(tmp_path: Path) -> None:
    tree = UsbTree(tmp_path)
    first, wrong, second = new_pty(), new_pty(), new_pty()
    try:
        tree.add("ttyUSB0", first.path, serial="FOLLOWME", location="1-1.2")
        port, admin = free_port(), free_port()
        with (
            daemon(
                config(port, "usb(serial=followme)"),
                tmp_path,
                [port, admin],
                extra_args=["-p", f"127.0.0.1,{admin}"],
                env=tree.env(),
            ) as proc,
            connect(admin) as adm,
        ):
            read_for(adm, 5, until=b"-> ")
            client = serial.serial_for_url(
                f"rfc2217://127.0.0.1:{port}?timeout=5", baudrate=57600, timeout=5
            )
            try:
                client.write(b"before")
                assert first.read(6, timeout=10) == b"before"
                assert _speed(first.master) == termios.B57600
                first.write(b"hello")
                assert client.read(5) == b"hello"

                # Unplugged: its sysfs entry and node go, and the tty hangs up.
                tree.unplug("1-1.2")
                os.close(first.master)
                first.master = -1
                log = Path(proc.log_path)
                assert wait_until(lambda: "device lost" in log.read_text(), timeout=10)
                status = command(adm, b"showport usb")
                assert b"  device node: usb(serial=followme) -> none\r\n" in status
                assert b"  device state: waiting for device since " in status
                client.write(b"into the void")
                # Another adapter takes the old name: not ours, never opened.
                tree.add("ttyUSB0", wrong.path, serial="SOMEONEELSE", location="1-1.2")
                wrong.write(b"WRONG")
                assert wait_until(
                    lambda: b"(13 bytes from clients discarded)" in command(adm, b"showport usb"),
                    timeout=10,
                )

                # Ours comes back under another name and is followed.
                tree.add("ttyUSB1", second.path, serial="FOLLOWME", location="1-1.3")
                node = f"-> {tree.dev}/ttyUSB1\r\n".encode()
                assert wait_until(lambda: node in command(adm, b"showport usb"), timeout=10)
                assert _speed(second.master) == termios.B57600
                client.write(b"after")
                assert second.read(5, timeout=10) == b"after"
                second.write(b"back again")
                assert client.read(10) == b"back again"
                assert _nothing_to_read(wrong.master)
                assert b"waiting for device" not in command(adm, b"showport usb")
            finally:
                client.close()
        text = log.read_text()
        assert text.count("device lost") == 1
        assert "13 bytes from clients discarded while it was away" in text
        assert "line restored: 57600N81" in text
    finally:
        for pty in (first, wrong, second):
            for fd in (pty.master, pty.slave):
                if fd >= 0:
                    os.close(fd)


def test_a_held_device_path_is_followed_and_waiting_ends_with_the_last_client(
    tmp_path: Path,
) -> None:
    first, second = new_pty(), new_pty()
    link = tmp_path / "ttyBOARD"
    os.symlink(first.path, link)
    try:
        port, admin = free_port(), free_port()
        with (
            daemon(
                config(port, str(link), "device-loss: hold\nmax-connections: 2"),
                tmp_path,
                [port, admin],
                extra_args=["-p", f"127.0.0.1,{admin}"],
            ) as proc,
            connect(admin) as adm,
        ):
            read_for(adm, 5, until=b"-> ")
            log = Path(proc.log_path)
            with connect(port) as sock:
                first.write(b"one")
                assert b"one" in read_for(sock, 10, until=b"one")
                link.unlink()
                os.close(first.master)
                first.master = -1
                assert wait_until(lambda: "device lost" in log.read_text(), timeout=10)
                # A client arriving meanwhile waits with the others.
                with connect(port) as late:
                    assert b"failure" not in read_for(late, 0.5)  # telnet options only
                    os.symlink(second.path, link)
                    assert wait_until(lambda: "device back" in log.read_text(), timeout=10)
                    second.write(b"two")
                    assert b"two" in read_for(sock, 10, until=b"two")
                    assert b"two" in read_for(late, 10, until=b"two")
                # Away again, and the client leaves: nothing is waited for.
                link.unlink()
                os.close(second.master)
                second.master = -1
                assert wait_until(lambda: log.read_text().count("device lost") == 2, timeout=10)
                assert b"waiting for device since" in command(adm, b"showport usb")
            assert wait_until(lambda: "no longer waiting for the device" in log.read_text())
            assert b"waiting for device" not in command(adm, b"showport usb")
            assert b"device node" not in command(adm, b"showport usb")
    finally:
        for pty in (first, second):
            for fd in (pty.master, pty.slave):
                if fd >= 0:
                    os.close(fd)
