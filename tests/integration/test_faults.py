"""Faults from outside: clients that vanish, a device still draining, no
descriptors left.  Real daemon processes, ptys and loopback sockets; every
wait has a deadline.
"""

from __future__ import annotations

import os
import resource
import socket
import struct
import subprocess
import sys
import time

from helpers import connect, daemon, free_port, read_exact, read_for, recv_exact, wait_until

#: What the device sends the client in the drain test.
TO_B = b"device to B\n"


def _reset(sock: socket.socket) -> None:
    """Close with a RST: the client vanished with data still queued."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def _fill(sock: socket.socket, byte: bytes, seconds: float = 1.0) -> int:
    """Send ``byte`` repeated until the daemon stops taking it; bytes sent."""
    sock.setblocking(False)
    chunk = byte * 65536
    sent = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and sent < 2 * 1024 * 1024:
        try:
            sent += sock.send(chunk)
        except BlockingIOError:
            time.sleep(0.01)
    return sent


def test_a_client_arriving_while_the_device_drains_gets_the_device(tmp_path, pty_pair):
    # Client A fills the device's queue (net-to-dev-bufsize 1024, the pty is
    # not read) and is reset.  The port keeps the device open to hand over
    # what A sent; B arrives during that drain.  B must get the device for
    # good: its bytes reach the device after A's, the device's reach B, and
    # once B leaves the next client is served (not "Port already in use").
    port = free_port()
    config = (
        "connection: &c\n"
        f"  accepter: tcp,127.0.0.1,{port}\n"
        "  timeout: 0\n"
        f"  connector: serialdev,{pty_pair.path},115200n81,local\n"
        "  options:\n"
        "    net-to-dev-bufsize: 1024\n"
    )
    with daemon(config, tmp_path, [port]) as proc:
        a = connect(port)
        sent = _fill(a, b"a")
        assert sent > 1024
        _reset(a)
        # A is not read while the device's queue is full: the daemon finds
        # the reset when it writes to A, then starts draining the queue.
        pty_pair.write(b"x")
        assert wait_until(lambda: "reset by peer" in proc.log_path.read_text(), 5.0)
        b = connect(port)
        b.sendall(b"B")
        # The device reads what A handed over, then B's byte.
        got = read_exact(pty_pair.master, 1 << 22, timeout=3.0)
        assert got.endswith(b"B"), (len(got), got[-20:])
        assert got[:-1] == b"a" * (len(got) - 1)
        # Past the drain's deadline: the device is still B's.
        time.sleep(1.0)
        pty_pair.write(TO_B)
        assert recv_exact(b, len(TO_B), timeout=5.0) == TO_B
        b.sendall(b"again")
        assert read_exact(pty_pair.master, 5, timeout=5.0) == b"again"
        b.close()
        c = connect(port)
        c.sendall(b"C")
        assert read_exact(pty_pair.master, 1, timeout=5.0) == b"C"
        assert b"in use" not in read_for(c, 0.3)
        c.close()
        assert proc.poll() is None
    assert "Traceback" not in proc.log_path.read_text(errors="replace")


# -- no descriptors left ------------------------------------------------------

#: The daemon's descriptor limit in the test: far fewer than the clients.
FD_LIMIT = 64
CLIENTS = 200


def _cpu_seconds(pid: int) -> float:
    """User and system time the process has used so far (/proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _limit_fds() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))


def test_out_of_descriptors_the_daemon_rests_then_serves_again(tmp_path):
    # 200 clients on a daemon allowed 64 descriptors: accept() fails with
    # EMFILE while the listening socket stays readable.  The daemon must
    # not spin on it (its CPU time over 3 s stays low), says so once, and
    # serves every port again once the clients have gone.
    crowded, other = free_port(), free_port()
    config = (
        "connection: &crowded\n"
        f"  accepter: tcp,127.0.0.1,{crowded}\n"
        "  connector: echo\n"
        "  options:\n"
        f"    max-connections: {CLIENTS}\n"
        "connection: &other\n"
        f"  accepter: tcp,127.0.0.1,{other}\n"
        "  connector: echo\n"
    )
    with daemon(config, tmp_path, [crowded, other], preexec_fn=_limit_fds) as proc:
        clients = []
        try:
            for _ in range(CLIENTS):
                sock = socket.socket()
                sock.setblocking(False)
                sock.connect_ex(("127.0.0.1", crowded))
                clients.append(sock)
            log_text = lambda: proc.log_path.read_text(errors="replace")  # noqa: E731
            assert wait_until(lambda: "cannot accept a client" in log_text(), 10.0)
            before = _cpu_seconds(proc.pid)
            time.sleep(3.0)
            used = _cpu_seconds(proc.pid) - before
            assert used < 0.3 * 3.0, f"the daemon used {used:.2f} s of CPU in 3 s"
        finally:
            for sock in clients:
                sock.close()
        for port in (other, crowded):
            sock = connect(port, timeout=10.0)
            sock.sendall(b"still here")
            assert recv_exact(sock, 10, timeout=10.0) == b"still here"
            sock.close()
        assert proc.poll() is None
    text = proc.log_path.read_text(errors="replace")
    assert "Traceback" not in text and "internal error" not in text, text[-3000:]
    assert text.count("cannot accept a client") == 1, text[-3000:]


# -- TCP keepalive options -----------------------------------------------------


def _check(path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pyser2net", "--check", "-c", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_check_accepts_the_keepalive_options_in_both_formats(tmp_path):
    yaml_file = tmp_path / "k.yaml"
    yaml_file.write_text(
        "connection: &k\n"
        "  accepter: tcp,127.0.0.1,2000\n"
        "  connector: echo\n"
        "  options:\n"
        "    keepalive-idle: 30\n"
        "    keepalive-interval: 5\n"
        "    keepalive-count: 2\n"
        "    tcp-user-timeout: 45\n"
    )
    legacy_file = tmp_path / "k.conf"
    legacy_file.write_text(
        "127.0.0.1,2000:raw:0:/dev/ttyS0:9600 keepalive-idle=30 keepalive-interval=5 "
        "keepalive-count=2 tcp-user-timeout=45\n"
    )
    for path in (yaml_file, legacy_file):
        done = _check(path)
        assert done.returncode == 0, done.stderr
        assert "configuration OK" in done.stdout


def test_check_names_the_place_of_a_bad_keepalive_value(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(
        "connection: &k\n"
        "  accepter: tcp,127.0.0.1,2000\n"
        "  connector: echo\n"
        "  options:\n"
        "    keepalive-count: 1000\n"
    )
    done = _check(path)
    assert done.returncode == 1
    assert f"{path}:5:" in done.stderr and "invalid value for keepalive-count" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_daemon_serves_with_keepalive_options(tmp_path):
    port = free_port()
    config = (
        "connection: &k\n"
        f"  accepter: tcp,127.0.0.1,{port}\n"
        "  connector: echo\n"
        "  options:\n"
        "    keepalive-idle: 1\n"
        "    keepalive-interval: 1\n"
        "    keepalive-count: 1\n"
        "    tcp-user-timeout: 5\n"
    )
    with daemon(config, tmp_path, [port]) as proc:
        sock = connect(port)
        sock.sendall(b"ping")
        assert recv_exact(sock, 4) == b"ping"
        # Probes every second are answered by this live client: it stays.
        time.sleep(2.5)
        sock.sendall(b"pong")
        assert recv_exact(sock, 4) == b"pong"
        sock.close()
        assert proc.poll() is None
