"""``device-loss: hold`` and RFC 2217 clients: a device that goes away is
reported as its modem lines dropping, and its return as the lines it has,
under each client's modemstate mask.  Real daemon, ptys, loopback clients."""

from __future__ import annotations

import os
import socket
import sys
import termios
from pathlib import Path
from typing import Iterator

import pytest
import serial
from serial import rfc2217

from helpers import (
    ROOT,
    Pty,
    connect,
    daemon,
    new_pty,
    read_for,
    recv_exact,
    wait_for_own_port,
    wait_until,
)

IAC, SB, SE, WILL = 255, 250, 240, 251
COM_PORT = 44
#: Under tests/modemlines.py, the ptys' modem inputs: CTS, DSR and CD.
UART_LINES = termios.TIOCM_CTS | termios.TIOCM_DSR | termios.TIOCM_CAR
WITH_LINES = [sys.executable, str(ROOT / "tests" / "modemlines.py")]


def com_port(code: int, value: int) -> bytes:
    return bytes([IAC, SB, COM_PORT, code, value, IAC, SE])


def config(port: int, device: Path) -> str:
    """The held port; the tests give port 0 and find the daemon's port by
    its pid (``wait_for_own_port``), since a port picked free here may be
    taken by another program before the daemon binds it."""
    return (
        "connection: &held\n"
        f"  accepter: telnet(rfc2217),tcp,127.0.0.1,{port}\n"
        f"  connector: serialdev,{device},115200n81,local\n"
        "  options:\n"
        "    chardelay: false\n"
        "    device-loss: hold\n"
        "    max-connections: 3\n"
    )


class Board:
    """A device path (a symlink) whose pty can be unplugged and replaced."""

    def __init__(self, tmp_path: Path) -> None:
        self.link = tmp_path / "ttyBOARD"
        self.ptys = [new_pty()]
        os.symlink(self.ptys[0].path, self.link)

    @property
    def pty(self) -> Pty:
        return self.ptys[-1]

    def unplug(self) -> None:
        self.link.unlink()
        os.close(self.pty.master)
        self.pty.master = -1

    def plug(self) -> None:
        self.ptys.append(new_pty())
        os.symlink(self.pty.path, self.link)

    def close(self) -> None:
        for pty in self.ptys:
            for fd in (pty.master, pty.slave):
                if fd >= 0:
                    os.close(fd)


@pytest.fixture
def board(tmp_path: Path) -> Iterator[Board]:
    made = Board(tmp_path)
    yield made
    made.close()


def listen(sock: socket.socket, mask: int = 0xFF, lines: int = 0) -> None:
    """Ask for modemstate reports (WILL COM-PORT-OPTION sets the mask to
    all), then for ``mask``, and take the answers: the state heard so far
    (nothing), then ``lines`` if the lines read (each bit a change)."""
    read_for(sock, 1.0)  # the server's negotiation
    sock.sendall(bytes([IAC, WILL, COM_PORT]))
    answers = com_port(107, 0) + (com_port(107, lines) if lines else b"")
    assert read_for(sock, 5, until=answers).endswith(answers)
    if mask != 0xFF:
        sock.sendall(com_port(11, mask))
        answers = com_port(111, mask) + com_port(107, lines & mask)
        assert read_for(sock, 5, until=answers) == answers


def test_a_lost_pty_is_reported_as_its_lines_dropping(tmp_path: Path, board: Board) -> None:
    with daemon(config(0, board.link), tmp_path, []) as proc:
        port = wait_for_own_port(proc)
        log = Path(proc.log_path)
        with connect(port) as everything, connect(port) as no_cd:
            listen(everything)
            listen(no_cd, 0x77)  # CD hidden
            board.pty.write(b"up")
            assert recv_exact(everything, 2) == b"up"
            assert recv_exact(no_cd, 2) == b"up"

            board.unplug()
            assert wait_until(lambda: "device lost" in log.read_text(), timeout=10)
            # CTS, DSR, RI and CD off, each marked as changed; the mask applies.
            assert recv_exact(everything, 7) == com_port(107, 0x0F)
            assert recv_exact(no_cd, 7) == com_port(107, 0x07)

            board.plug()
            assert wait_until(lambda: "device back" in log.read_text(), timeout=10)
            # A pty's lines cannot be read: nothing more is said of them.
            board.pty.write(b"back")
            assert recv_exact(everything, 4) == b"back"
            assert recv_exact(no_cd, 4) == b"back"


def lines(client: serial.Serial) -> str:
    """The modem lines the client last heard of, as "CD DSR CTS RI" for
    those on ("?" while it has heard nothing yet)."""
    try:
        on = (client.cd, client.dsr, client.cts, client.ri)
    except serial.SerialException:  # no NOTIFY-MODEMSTATE yet
        return "?"
    return " ".join(name for name, up in zip(("CD", "DSR", "CTS", "RI"), on) if up)


def test_lines_that_read_drop_with_the_device_and_come_back_with_it(
    tmp_path: Path, board: Board
) -> None:
    with daemon(
        config(0, board.link),
        tmp_path,
        [],
        command=WITH_LINES,
        env={"PYSER2NET_TEST_MODEM_LINES": hex(UART_LINES)},
    ) as proc:
        port = wait_for_own_port(proc)
        log = Path(proc.log_path)
        client = serial.serial_for_url(f"rfc2217://127.0.0.1:{port}?timeout=5", timeout=5)
        # pyserial says WILL COM-PORT-OPTION, which asks for modem-state
        # reports, only if the server's DO has not reached its reader thread
        # first; asking with a mask, through its own call, always does.
        client.rfc2217_send_subnegotiation(rfc2217.SET_MODEMSTATE_MASK, b"\xff")
        try:
            with connect(port) as no_cd:
                # The lines as they read (CD hidden), each a change from
                # "nothing heard".
                listen(no_cd, 0x77, lines=0xBB)
                assert wait_until(lambda: lines(client) == "CD DSR CTS", timeout=10)
                client.write(b"before")
                assert board.pty.read(6, timeout=10) == b"before"

                board.unplug()
                assert wait_until(lambda: "device lost" in log.read_text(), timeout=10)
                assert recv_exact(no_cd, 7) == com_port(107, 0x07)
                assert wait_until(lambda: lines(client) == "", timeout=10)

                board.plug()
                assert wait_until(lambda: "device back" in log.read_text(), timeout=10)
                assert recv_exact(no_cd, 7) == com_port(107, 0x33)
                assert wait_until(lambda: lines(client) == "CD DSR CTS", timeout=10)
                client.write(b"after")
                assert board.pty.read(5, timeout=10) == b"after"
                board.pty.write(b"hello")
                assert client.read(5) == b"hello"
                assert recv_exact(no_cd, 5) == b"hello"
        finally:
            client.close()
