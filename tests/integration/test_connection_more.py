"""More connection options and connectors, through the real daemon.

Real processes, ptys and loopback sockets; exact bytes are compared and
every wait has a deadline.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import termios
import time
import tty
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

import pytest

from helpers import (
    connect,
    daemon,
    free_port,
    listening,
    open_pty,
    read_exact,
    recv_exact,
    recv_until_closed,
    stop_process,
    wait_until,
)

#: TCP states in /proc/net/tcp.
ESTABLISHED = "01"


# -- helpers -----------------------------------------------------------------


@contextlib.contextmanager
def run_daemon(
    config: str,
    tmp_path: Path,
    ports: List[int],
    env: Optional[Dict[str, str]] = None,
    extra_args: Optional[List[str]] = None,
    suffix: str = ".yaml",
) -> Iterator[Tuple[subprocess.Popen, Path]]:
    """Start the daemon on ``config`` with extra environment; yield it and its log.

    Lock files go to a private directory unless ``env`` names one, so a
    stale lock elsewhere on the machine cannot disturb the test.
    """
    with daemon(config, tmp_path, ports, suffix=suffix, extra_args=extra_args, env=env) as proc:
        yield proc, proc.log_path


def serial_conn(
    port: int,
    device: str,
    options: str = "",
    timeout: int = 0,
    connector_prefix: str = "",
    params: str = "115200n81,local",
    name: str = "",
) -> str:
    text = (
        f"connection: &{name or f'c{port}'}\n"
        f"  accepter: tcp,127.0.0.1,{port}\n"
        f"  timeout: {timeout}\n"
        f"  connector: {connector_prefix}serialdev,{device},{params}\n"
    )
    if options:
        text += "  options:\n" + "".join(f"    {line}\n" for line in options.splitlines())
    return text


def silent(sock: socket.socket, seconds: float) -> bool:
    """Whether the peer sends nothing and does not close for ``seconds``."""
    sock.settimeout(seconds)
    try:
        sock.recv(65536)
    except socket.timeout:
        return True
    return False


def drain(sock: socket.socket, timeout: float = 5.0) -> Tuple[bytes, bool]:
    """Everything buffered for ``sock`` and whether the peer closed (EOF)."""
    deadline = time.monotonic() + timeout
    out = bytearray()
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return bytes(out), False
        sock.settimeout(min(left, 0.5))
        try:
            chunk = sock.recv(1 << 20)
        except socket.timeout:
            return bytes(out), False
        except OSError:
            return bytes(out), True
        if not chunk:
            return bytes(out), True
        out += chunk


def server_side_state(port: int, client: socket.socket) -> Optional[str]:
    """The TCP state of the daemon's end of ``client`` (from /proc, no side effect).

    A daemon that closed a client whose receive window is full cannot get
    its FIN through, so the client cannot see the close; the daemon's
    socket leaves ESTABLISHED at once though.
    """
    client_port = client.getsockname()[1]
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            local, remote = fields[1], fields[2]
            if (
                int(local.rsplit(":", 1)[1], 16) == port
                and int(remote.rsplit(":", 1)[1], 16) == client_port
            ):
                return fields[3]
    return None


def stuck_client(port: int) -> socket.socket:
    """A client with a tiny receive buffer (set before connecting) that never reads."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    return sock


def write_some(fd: int, data: bytes) -> int:
    try:
        return os.write(fd, data)
    except BlockingIOError:
        return 0


def pattern(size: int) -> bytes:
    """Bytes whose every prefix is distinct from a shifted copy (exact checks)."""
    return bytes((i * 7 + i // 251) & 0xFF for i in range(size))


# -- client-send-timeout -----------------------------------------------------


def test_client_send_timeout_drops_only_the_client_that_stopped_reading(tmp_path, pty_pair):
    port = free_port()
    config = serial_conn(
        port, pty_pair.path, "max-connections: 2\nclient-send-timeout: 1\nchardelay: false"
    )
    os.set_blocking(pty_pair.master, False)
    with run_daemon(config, tmp_path, [port]):
        stuck = stuck_client(port)
        with stuck, connect(port) as reader:
            time.sleep(0.2)
            payload = os.urandom(6 << 20)
            view = memoryview(payload)
            got = bytearray()
            reader.setblocking(False)
            last_arrival: Optional[float] = None
            longest_gap = 0.0
            deadline = time.monotonic() + 30
            while len(got) < len(payload) and time.monotonic() < deadline:
                if view:
                    view = view[write_some(pty_pair.master, view[:4096]) :]
                try:
                    chunk = reader.recv(1 << 20)
                except BlockingIOError:
                    time.sleep(0.001)
                    continue
                assert chunk, "the reading client was closed"
                now = time.monotonic()
                if last_arrival is not None:
                    longest_gap = max(longest_gap, now - last_arrival)
                last_arrival = now
                got += chunk
            assert bytes(got) == payload
            # The daemon waited about the timeout before giving up on the
            # stuck client (the slowest client sets the pace until then).
            assert 0.7 <= longest_gap < 5.0
            assert server_side_state(port, stuck) != ESTABLISHED
            received, eof = drain(stuck, timeout=10)
            assert eof
            assert 0 < len(received) < len(payload)
            assert received == payload[: len(received)]


# -- sendon with chardelay ---------------------------------------------------


def test_sendon_sends_up_to_the_string_at_once_and_holds_the_rest(tmp_path, pty_pair):
    port = free_port()
    config = serial_conn(
        port,
        pty_pair.path,
        "sendon: 'X'\nchardelay: true\nchardelay-min: 200000\nchardelay-max: 200000",
    )
    with run_daemon(config, tmp_path, [port]):
        with connect(port) as sock:
            time.sleep(0.2)
            pty_pair.write(b"abcXdef")
            assert recv_exact(sock, 4, timeout=1) == b"abcX"
            assert silent(sock, 0.05)  # "def" is held for the 200 ms chardelay
            assert recv_exact(sock, 3, timeout=1) == b"def"
            assert silent(sock, 0.3)


# -- one-way connections -----------------------------------------------------


def test_no_con_to_acc_and_no_acc_to_con_block_one_direction(tmp_path, pty_pair):
    in_only, out_only = free_port(), free_port()
    with open_pty() as other:
        config = serial_conn(in_only, pty_pair.path, "no-con-to-acc: true") + serial_conn(
            out_only, other.path, "no-acc-to-con: true"
        )
        with run_daemon(config, tmp_path, [in_only, out_only]):
            with connect(in_only) as sock:
                time.sleep(0.2)
                pty_pair.write(b"never seen")
                sock.sendall(b"to device")
                assert pty_pair.read(9) == b"to device"
                assert silent(sock, 0.5)
            with connect(out_only) as sock:
                time.sleep(0.2)
                sock.sendall(b"dropped")
                other.write(b"to client")
                assert recv_exact(sock, 9) == b"to client"
                assert read_exact(other.master, 1, timeout=0.5) == b""


# -- timeout-on-os-queue ------------------------------------------------------


def _os_queue_conn(port: int, device: str, on_queue: bool) -> str:
    options = "timeout-on-os-queue: true" if on_queue else ""
    return serial_conn(port, device, options + "\nchardelay: false", timeout=1)


def _flood_until_closed(master: int, port: int, stuck: socket.socket, seconds: float) -> bool:
    """Flood the device; whether the daemon closed ``stuck`` within ``seconds``."""
    os.set_blocking(master, False)
    block = b"f" * 4096
    deadline = time.monotonic() + seconds
    next_check = 0.0
    while time.monotonic() < deadline:
        if not write_some(master, block):
            time.sleep(0.005)
        if time.monotonic() >= next_check:
            if server_side_state(port, stuck) != ESTABLISHED:
                return True
            next_check = time.monotonic() + 0.05
    return False


def _trickle(
    master: int, port: int, stuck: socket.socket, seconds: float, stop_when_closed: bool
) -> Tuple[bytes, bool]:
    """Device talks slowly; what it said, and whether ``stuck`` was closed."""
    os.set_blocking(master, False)
    source = pattern(1 << 20)
    sent = 0
    deadline = time.monotonic() + seconds
    closed = False
    while time.monotonic() < deadline:
        sent += write_some(master, source[sent : sent + 200])
        time.sleep(0.02)
        if server_side_state(port, stuck) != ESTABLISHED:
            closed = True
            if stop_when_closed:
                break
    return source[:sent], closed


def test_timeout_on_os_queue_closes_a_stuck_client_of_a_flooding_device(tmp_path, pty_pair):
    port = free_port()
    with run_daemon(_os_queue_conn(port, pty_pair.path, True), tmp_path, [port]):
        with stuck_client(port) as stuck:
            time.sleep(0.2)
            assert _flood_until_closed(pty_pair.master, port, stuck, seconds=4.0)
            received, eof = drain(stuck, timeout=10)
            assert eof
            assert received == b"f" * len(received)


def test_timeout_on_os_queue_closes_a_client_whose_os_queue_does_not_drain(tmp_path, pty_pair):
    # The device keeps talking slowly and the daemon can still hand every
    # byte to the kernel, but the client takes nothing: the OS queue holds
    # data and does not move, so the connection times out.
    port = free_port()
    with run_daemon(_os_queue_conn(port, pty_pair.path, True), tmp_path, [port]):
        with stuck_client(port) as stuck:
            time.sleep(0.2)
            sent, closed = _trickle(
                pty_pair.master, port, stuck, seconds=6.0, stop_when_closed=True
            )
            assert closed, "the client was not closed while its OS queue did not drain"
            received, eof = drain(stuck, timeout=5)
            assert eof
            assert received == sent[: len(received)]


def test_without_timeout_on_os_queue_a_client_is_kept_while_data_still_queues(tmp_path, pty_pair):
    # ser2net's default: data the daemon could still hand to the OS counts
    # as progress, so a client that does not read is not timed out.
    port = free_port()
    with run_daemon(_os_queue_conn(port, pty_pair.path, False), tmp_path, [port]):
        with stuck_client(port) as stuck:
            time.sleep(0.2)
            sent, closed = _trickle(
                pty_pair.master, port, stuck, seconds=2.5, stop_when_closed=False
            )
            assert not closed
            assert len(sent) > 10000
            assert recv_exact(stuck, len(sent), timeout=5) == sent
            # The ordinary idle timeout still applies once the device is quiet.
            assert recv_until_closed(stuck, timeout=5) == b""


def test_without_timeout_on_os_queue_a_full_os_queue_still_times_out(tmp_path, pty_pair):
    # Once the OS queue is full nothing more is sent, which is no activity:
    # the idle timeout then closes the client (ser2net does the same).
    port = free_port()
    with run_daemon(_os_queue_conn(port, pty_pair.path, False), tmp_path, [port]):
        with stuck_client(port) as stuck:
            time.sleep(0.2)
            assert _flood_until_closed(pty_pair.master, port, stuck, seconds=6.0)


# -- keepopen ----------------------------------------------------------------


def _keepopen_conn(port: int, link: Path) -> str:
    return serial_conn(
        port, str(link), params="9600n81,local", connector_prefix="keepopen(retry-time=200),"
    )


def test_keepopen_keeps_the_client_while_the_device_is_away(tmp_path):
    port = free_port()
    link = tmp_path / "ttylink"
    first = os.openpty()
    tty.setraw(first[0])
    link.symlink_to(os.ttyname(first[1]))
    try:
        with run_daemon(_keepopen_conn(port, link), tmp_path, [port]):
            with connect(port) as sock:
                sock.sendall(b"one")
                assert read_exact(first[0], 3) == b"one"
                os.write(first[0], b"uno")
                assert recv_exact(sock, 3) == b"uno"
                # The device vanishes.
                for fd in first:
                    os.close(fd)
                first = (-1, -1)
                link.unlink()
                assert silent(sock, 0.6)  # no data, no close
                # It comes back, at the same path.
                with open_pty() as second:
                    link.symlink_to(second.path)
                    second.write(b"back")
                    assert recv_exact(sock, 4, timeout=3) == b"back"
                    sock.sendall(b"two")
                    assert second.read(3, timeout=3) == b"two"
    finally:
        for fd in first:
            if fd >= 0:
                os.close(fd)


def test_keepopen_accepts_a_client_before_the_device_exists(tmp_path):
    port = free_port()
    link = tmp_path / "ttylink"
    with run_daemon(_keepopen_conn(port, link), tmp_path, [port]):
        with connect(port) as sock:
            assert silent(sock, 0.6)  # no "Device open failure", no close
            with open_pty() as dev:
                link.symlink_to(dev.path)
                dev.write(b"here")
                assert recv_exact(sock, 4, timeout=3) == b"here"
                sock.sendall(b"hello")
                assert dev.read(5, timeout=3) == b"hello"


# -- serial words on a pty ------------------------------------------------------


def test_dtr_and_rts_off_do_not_prevent_opening_a_pty(tmp_path, pty_pair):
    port = free_port()
    config = serial_conn(port, pty_pair.path, params="9600n81,local,dtr=off,rts=off")
    with run_daemon(config, tmp_path, [port]):
        with connect(port) as sock:
            sock.sendall(b"lines")
            assert pty_pair.read(5) == b"lines"
            pty_pair.write(b"are fine")
            assert recv_exact(sock, 8) == b"are fine"


# -- rawlp -------------------------------------------------------------------


@pytest.mark.parametrize("syntax", ["legacy", "yaml"])
def test_rawlp_writes_to_the_device_and_leaves_termios_alone(tmp_path, pty_pair, syntax):
    port = free_port()
    if syntax == "legacy":
        config, suffix = f"127.0.0.1,{port}:rawlp:0:{pty_pair.path}:\n", ".conf"
    else:
        config = (
            f"connection: &lp\n  accepter: tcp,127.0.0.1,{port}\n"
            f"  connector: serialdev,{pty_pair.path},wronly\n"
        )
        suffix = ".yaml"
    # A setting no serial port would be left with: any termios call shows.
    attrs = termios.tcgetattr(pty_pair.slave)
    attrs[4] = attrs[5] = termios.B1200
    attrs[0] |= termios.IGNPAR
    termios.tcsetattr(pty_pair.slave, termios.TCSANOW, attrs)
    before = termios.tcgetattr(pty_pair.slave)
    with run_daemon(config, tmp_path, [port], suffix=suffix):
        with connect(port) as sock:
            sock.sendall(b"print me")
            assert pty_pair.read(8) == b"print me"
            assert termios.tcgetattr(pty_pair.slave) == before
            pty_pair.write(b"ignored")  # a printer is never read
            assert silent(sock, 0.3)
        time.sleep(0.3)
        assert termios.tcgetattr(pty_pair.slave) == before


# -- udp connector -------------------------------------------------------------


def test_udp_connector_sends_datagrams_and_relays_the_replies(tmp_path):
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    peer.settimeout(3)
    port = free_port()
    config = (
        f"connection: &u\n  accepter: tcp,127.0.0.1,{port}\n"
        f"  connector: udp,127.0.0.1,{peer.getsockname()[1]}\n"
    )
    with peer, run_daemon(config, tmp_path, [port]):
        with connect(port) as sock:
            sock.sendall(b"first")
            data, source = peer.recvfrom(65536)
            assert data == b"first"
            assert source[0] == "127.0.0.1"
            sock.sendall(b"second")
            assert peer.recvfrom(65536) == (b"second", source)
            peer.sendto(b"reply one", source)
            assert recv_exact(sock, 9) == b"reply one"
            peer.sendto(b"reply two", source)
            assert recv_exact(sock, 9) == b"reply two"


# -- enable: off ---------------------------------------------------------------


def test_disabled_connection_does_not_listen_and_others_work(tmp_path):
    off, on = free_port(), free_port()
    config = (
        f"connection: &off\n  accepter: tcp,127.0.0.1,{off}\n  enable: off\n"
        f"  connector: echo\n"
        f"connection: &on\n  accepter: tcp,127.0.0.1,{on}\n  connector: echo\n"
    )
    with run_daemon(config, tmp_path, [on]):
        assert not listening(off)
        with pytest.raises(ConnectionRefusedError):
            connect(off, timeout=2).close()
        with connect(on) as sock:
            sock.sendall(b"echo")
            assert recv_exact(sock, 4) == b"echo"


# -- LEDs ----------------------------------------------------------------------


def _fake_led(root: Path, name: str) -> Path:
    led = root / "class" / "leds" / name
    led.mkdir(parents=True)
    for attr, content in {
        "trigger": "none [transient] timer\n",
        "brightness": "0\n",
        "max_brightness": "255\n",
        "duration": "0\n",
        "state": "0\n",
        "activate": "",
    }.items():
        (led / attr).write_text(content)
    return led


def test_leds_are_set_up_and_flashed_on_traffic(tmp_path, pty_pair):
    sysfs = tmp_path / "sys"
    rx, tx = _fake_led(sysfs, "test:rx"), _fake_led(sysfs, "test:tx")
    port = free_port()
    config = (
        'led: &l1\n  driver: sysfs\n  options:\n    device: "test:rx"\n    duration: 25\n'
        'led: &l2\n  driver: sysfs\n  options:\n    device: "test:tx"\n'
        + serial_conn(port, pty_pair.path, "led-rx: *l1\nled-tx: *l2")
    )
    with run_daemon(config, tmp_path, [port], env={"PYSER2NET_SYSFS_ROOT": str(sysfs)}):
        for led, duration in ((rx, "25"), (tx, "10")):
            assert (led / "trigger").read_text() == "transient"
            assert (led / "duration").read_text() == duration
            assert (led / "state").read_text() == "1"
            assert (led / "activate").read_text() == ""
        with connect(port) as sock:
            time.sleep(0.2)
            pty_pair.write(b"blink")
            assert recv_exact(sock, 5) == b"blink"
            assert (rx / "activate").read_text() == "1"
            assert (tx / "activate").read_text() == ""
            sock.sendall(b"blonk")
            assert pty_pair.read(5) == b"blonk"
            deadline = time.monotonic() + 2
            while (tx / "activate").read_text() != "1" and time.monotonic() < deadline:
                time.sleep(0.02)
            assert (tx / "activate").read_text() == "1"


# -- UUCP locks ----------------------------------------------------------------


def test_uucp_lock_holds_the_pid_and_keeps_a_second_daemon_out(tmp_path, pty_pair):
    lockdir = tmp_path / "shared-locks"
    lockdir.mkdir()
    env = {"PYSER2NET_LOCKDIR": str(lockdir)}
    lock = lockdir / ("LCK.." + pty_pair.path[len("/dev/") :].replace("/", "_"))
    first, second = free_port(), free_port()
    with run_daemon(serial_conn(first, pty_pair.path), tmp_path, [first], env=env) as (proc, _):
        assert not lock.exists()
        with connect(first) as sock:
            sock.sendall(b"mine")
            assert pty_pair.read(4) == b"mine"
            assert lock.read_bytes() == f"{proc.pid:10d}\n".encode()
            with run_daemon(serial_conn(second, pty_pair.path), tmp_path, [second], env=env):
                with connect(second) as other:
                    assert recv_until_closed(other) == (
                        b"Device open failure: Object was already in use\r\n"
                    )
        deadline = time.monotonic() + 3
        while lock.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not lock.exists()


def test_a_lock_of_a_live_process_refuses_the_device_unless_locks_are_off(tmp_path, pty_pair):
    lockdir = tmp_path / "shared-locks"
    lockdir.mkdir()
    env = {"PYSER2NET_LOCKDIR": str(lockdir)}
    lock = lockdir / ("LCK.." + pty_pair.path[len("/dev/") :].replace("/", "_"))
    lock.write_bytes(f"{os.getpid():10d}\n".encode())  # held by this (live) process
    locked, unlocked = free_port(), free_port()
    with run_daemon(serial_conn(locked, pty_pair.path), tmp_path, [locked], env=env):
        with connect(locked) as sock:
            assert recv_until_closed(sock) == b"Device open failure: Object was already in use\r\n"
    with run_daemon(
        serial_conn(unlocked, pty_pair.path), tmp_path, [unlocked], env=env, extra_args=["-u"]
    ):
        with connect(unlocked) as sock:
            sock.sendall(b"free")
            assert pty_pair.read(4) == b"free"
    assert lock.read_bytes() == f"{os.getpid():10d}\n".encode()


def test_no_uucp_locks_lets_a_second_daemon_share_the_device(tmp_path, pty_pair):
    # With -u the second daemon takes no lock and does not check any, so it
    # opens the device the first one holds (ser2net 4.3 does so).
    lockdir = tmp_path / "shared-locks"
    lockdir.mkdir()
    env = {"PYSER2NET_LOCKDIR": str(lockdir)}
    first, second = free_port(), free_port()
    with run_daemon(serial_conn(first, pty_pair.path), tmp_path, [first], env=env):
        with connect(first) as sock:
            sock.sendall(b"mine")
            assert pty_pair.read(4) == b"mine"
            with run_daemon(
                serial_conn(second, pty_pair.path), tmp_path, [second], env=env, extra_args=["-u"]
            ):
                with connect(second) as other:
                    other.sendall(b"ours")
                    assert pty_pair.read(4, timeout=2) == b"ours"
                    assert silent(other, 0.3)


# -- error logging ---------------------------------------------------------------


def test_a_repeated_device_open_error_is_logged_once(tmp_path):
    missing = tmp_path / "no-such-tty"
    port = free_port()
    with run_daemon(serial_conn(port, str(missing)), tmp_path, [port]) as (proc, log_path):
        for _ in range(5):
            with connect(port) as sock:
                assert recv_until_closed(sock) == (
                    b"Device open failure: Value or file not found\r\n"
                )
        stop_process(proc)
    lines = [
        line
        for line in log_path.read_text(errors="replace").splitlines()
        if "open failure" in line.lower()
    ]
    assert len(lines) == 1, lines
    assert str(missing) in lines[0]


def test_a_solid_led_shows_a_connected_client(tmp_path, pty_pair):
    """ser2net 4.6.5: ``mode: solid`` and ``led-conn``; set up dark at startup."""
    sysfs = tmp_path / "sys"
    conn_led, rx = _fake_led(sysfs, "test:conn"), _fake_led(sysfs, "test:rx")
    (conn_led / "trigger").write_text("[none] transient timer\n")
    (conn_led / "brightness").write_text("255\n")  # lit before the daemon starts
    port = free_port()
    config = (
        'led: &c\n  driver: sysfs\n  options:\n    device: "test:conn"\n    mode: solid\n'
        'led: &r\n  driver: sysfs\n  options:\n    device: "test:rx"\n    mode: transient\n'
        + serial_conn(port, pty_pair.path, "led-conn: *c\nled-rx: *r")
    )
    with run_daemon(config, tmp_path, [port], env={"PYSER2NET_SYSFS_ROOT": str(sysfs)}):
        assert (conn_led / "trigger").read_text() == "none"
        assert (conn_led / "brightness").read_text() == "0"
        assert (rx / "trigger").read_text() == "transient"
        with connect(port) as sock:
            assert wait_until(lambda: (conn_led / "brightness").read_text() == "255", 5)
            pty_pair.write(b"x")
            assert recv_exact(sock, 1) == b"x"
            assert (rx / "activate").read_text() == "1"
        assert wait_until(lambda: (conn_led / "brightness").read_text() == "0", 5)
        assert (conn_led / "trigger").read_text() == "none"
