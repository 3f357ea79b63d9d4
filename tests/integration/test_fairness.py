"""Hostile clients against a real daemon: one client must not hurt the others.

A client flooding RFC 2217 settings requests, or sending requests with
answers and never reading them, runs on one port while another port of the
same daemon keeps echoing bytes exactly.  Nothing here is timed: the bounds
are on memory, on how often the line is reconfigured, and on the bytes.
"""

from __future__ import annotations

import re
import select
import socket
import termios
import time

import pytest

from helpers import connect, daemon, free_port, open_pty, recv_exact, wait_until

IAC, SB, SE, DO = 255, 250, 240, 253
COM_PORT = 44


def sb(code: int, payload: bytes) -> bytes:
    return bytes([IAC, SB, COM_PORT, code]) + payload + bytes([IAC, SE])


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


class Echo:
    """One client of the echo port, kept for the whole test (a port takes
    one client at a time, and a closed one may not be gone yet)."""

    def __init__(self, port: int) -> None:
        self.sock = connect(port, timeout=10)
        self.rounds = 0

    def check(self, size: int = 4096) -> None:
        """What is sent comes back exactly (a bounded wait, not a timing)."""
        self.rounds += 1
        payload = bytes((i * 7 + self.rounds) % 256 for i in range(size))
        self.sock.sendall(payload)
        assert recv_exact(self.sock, size, timeout=20) == payload

    def close(self) -> None:
        self.sock.close()


def config(attacked: str, echo: int, connector: str) -> str:
    return (
        f"connection: &attacked\n  accepter: {attacked}\n  connector: {connector}\n"
        f"connection: &other\n  accepter: tcp,127.0.0.1,{echo}\n  connector: echo\n"
    )


def test_a_settings_flood_reconfigures_the_line_once_per_turn_with_the_last_values(tmp_path):
    port, echo = free_port(), free_port()
    bauds = (1200, 2400, 4800, 9600, 19200, 38400, 115200)
    requests = [bauds[i % len(bauds)] for i in range(4000)] + [57600]
    with open_pty() as pty:
        text = config(
            f"telnet(rfc2217),tcp,127.0.0.1,{port}",
            echo,
            f"serialdev,{pty.path},9600n81,local",
        )
        with daemon(text, tmp_path, [port, echo], extra_args=["-l", "-l"]) as proc:
            other = Echo(echo)
            with connect(port, timeout=10) as sock:
                sock.sendall(b"".join(sb(1, baud.to_bytes(4, "big")) for baud in requests))
                other.check()  # served while the flood is worked off
                last = sb(101, requests[-1].to_bytes(4, "big"))
                got = bytearray()
                deadline = time.monotonic() + 60
                while not got.endswith(last) and time.monotonic() < deadline:
                    chunk = recv_exact(sock, 65536, timeout=1)
                    got += chunk
                # The server's opening negotiation, then an answer to each
                # request, with the speed in force once its burst reached the
                # line: the last of the burst, as ser2net answers one read.
                start = got.find(b"\xff\xfa\x2c\x65")
                assert start >= 0 and b"\xff\xfa" not in got[:start]
                answers = [bytes(got[i : i + 10]) for i in range(start, len(got), 10)]
                assert len(answers) == len(requests)
                asked = [sb(101, baud.to_bytes(4, "big")) for baud in requests]
                for end in range(len(answers)):
                    if end + 1 == len(answers) or answers[end + 1] != answers[end]:
                        assert answers[end] == asked[end], end  # a burst's last request
                # The line ends at the last speed asked for.
                assert wait_until(lambda: termios.tcgetattr(pty.master)[5] == termios.B57600)
                other.check()
            other.close()
            log = proc.log_path.read_text(errors="replace")
    changes = [int(n) for n in re.findall(r"attacked: line set to \S+ \(change (\d+)\)", log)]
    assert changes and changes == list(range(1, len(changes) + 1))
    # Far fewer termios changes than requests: the requests came in bursts.
    assert len(changes) <= len(requests) // 4, len(changes)


@pytest.mark.parametrize(
    "request_bytes",
    [sb(0, b""), bytes([IAC, DO, 99]), sb(1, (9600).to_bytes(4, "big"))],
    ids=["signature", "do-99", "baud"],
)
def test_a_client_that_never_reads_its_answers_does_not_grow_the_daemon(tmp_path, request_bytes):
    port, echo = free_port(), free_port()
    with open_pty() as pty:
        text = config(
            f"telnet(rfc2217),tcp,127.0.0.1,{port}", echo, f"serialdev,{pty.path},9600n81,local"
        )
        peak, before, sent, stalled = attack(tmp_path, text, port, echo, request_bytes)
    # The daemon stopped reading the client: its memory did not follow the sender.
    # On a loaded machine the minute may end first, with the kernel's socket
    # buffers (some MB each way) not yet full: then it took no more than they hold.
    assert stalled or sent < KERNEL_BUFFERS, (
        f"the daemon took {sent} bytes of requests whose answers were never read"
    )
    assert peak - before < 16 * 1024, (before, peak, sent)


#: More than the socket buffers between the client and the daemon can hold
#: (the maximums of net.ipv4.tcp_rmem and tcp_wmem: from 4 to 32 MB each).
KERNEL_BUFFERS = 72_000_000


def attack(tmp_path, text: str, port: int, echo: int, request_bytes: bytes):
    """Send requests without reading; returns RSS before and at its peak (KiB),
    the bytes sent, and whether the daemon stopped taking them."""
    with daemon(text, tmp_path, [port, echo]) as proc:
        other = Echo(echo)
        other.check()
        before = rss_kib(proc.pid)
        peak = before
        block = request_bytes * (65536 // len(request_bytes))
        sent = sends = 0
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.setblocking(False)
            # Send until the daemon stops taking requests (no progress for 3 s),
            # 200 MB, or a minute: whichever comes first.
            deadline = time.monotonic() + 60
            last_progress = time.monotonic()
            while sent < 200_000_000 and time.monotonic() < deadline:
                if time.monotonic() - last_progress > 3:
                    break
                _, writable, _ = select.select([], [sock], [], 0.5)
                if writable:
                    try:
                        sent += sock.send(block)
                        sends += 1
                        last_progress = time.monotonic()
                    except BlockingIOError:
                        pass
                    if sends % 64 == 1:
                        other.check()
                peak = max(peak, rss_kib(proc.pid))
            stalled = time.monotonic() - last_progress > 3
            other.check()  # the other port is served during the attack
            peak = max(peak, rss_kib(proc.pid))
            assert proc.poll() is None
        other.close()
    return peak, before, sent, stalled
