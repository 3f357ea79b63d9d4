"""Where the daemon's messages go, and that no output can stop it.

Real daemon processes with real pipes, files and syslog sockets.  An output
nobody reads must cost log lines, never service: the daemon keeps accepting
and echoing, and exits on SIGTERM.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import termios
import time
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

import pytest

from pyser2net import __version__

from helpers import (
    ROOT,
    connect,
    free_port,
    recv_exact,
    stop_process,
    wait_for_own_port,
    wait_for_port,
    wait_until,
)

ECHO = """connection: &echo
  accepter: tcp,127.0.0.1,{port}
  connector: echo
"""

#: The -d line prefix: local time to the millisecond, ident and pid.
STAMPED = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} pyser2net\[(\d+)\]: ")


def base_env(tmp_path: Path, **extra: str) -> Dict[str, str]:
    lockdir = tmp_path / "lock"
    lockdir.mkdir(exist_ok=True)
    env = dict(os.environ, PYSER2NET_LOCKDIR=str(lockdir))
    env.pop("JOURNAL_STREAM", None)
    env.update(extra)
    return env


@contextlib.contextmanager
def started(
    argv: List[str], env: Dict[str, str], port: Optional[int], **popen: object
) -> Iterator[subprocess.Popen]:
    """The daemon, once ``port`` listens (None: at once, for a daemon
    listening on port 0, whose port ``wait_for_own_port`` finds)."""
    proc = subprocess.Popen(argv, cwd=str(ROOT), env=env, **popen)  # type: ignore[call-overload]
    try:
        if port is not None:
            wait_for_port(port, proc=proc)
        yield proc
    finally:
        stop_process(proc)


def daemon_argv(config: Path, *args: str) -> List[str]:
    return [sys.executable, "-m", "pyser2net", "-c", str(config), *args]


def echo_config(tmp_path: Path, port: int) -> Path:
    """An echo port; a client just gone may still be counted when the next
    one comes, so the limit is not one."""
    path = tmp_path / "echo.yaml"
    path.write_text(ECHO.format(port=port) + "  options:\n    max-connections: 100\n")
    return path


def pending(fd: int) -> int:
    return int.from_bytes(fcntl.ioctl(fd, termios.FIONREAD, b"\0" * 4), "little")


def churn(port: int, count: int) -> None:
    """Connect and leave ``count`` times: four log lines each."""
    for _ in range(count):
        with connect(port) as sock:
            sock.sendall(b"x")
            assert recv_exact(sock, 1) == b"x"


def fill(read_end: int, port: int) -> None:
    """Make the daemon log until the pipe takes no more, then a pipe's worth more."""
    before = -1
    for _ in range(100):
        churn(port, 20)
        now = pending(read_end)
        if now == before:
            break  # eighty lines more, and not a byte of them got through
        before = now
    else:
        raise AssertionError(f"the pipe never filled: {pending(read_end)} bytes")
    # The daemon's own buffer (64 KiB) is next; past it, lines are dropped.
    churn(port, 400)


def still_serving(port: int) -> None:
    with connect(port) as sock:
        sock.sendall(b"still serving")
        assert recv_exact(sock, 13) == b"still serving"


def read_until(fd: int, needle: bytes, timeout: float = 10.0) -> bytes:
    deadline = time.monotonic() + timeout
    out = bytearray()
    os.set_blocking(fd, False)
    while needle not in out and time.monotonic() < deadline:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            time.sleep(0.02)
            continue
        if not chunk:
            break
        out += chunk
    return bytes(out)


# -- an output nobody reads -----------------------------------------------------


def test_a_stdout_pipe_nobody_reads_costs_lines_not_service(tmp_path):
    port = free_port()
    r, w = os.pipe()
    argv = daemon_argv(echo_config(tmp_path, port), "-n", "-d")
    try:
        with started(argv, base_env(tmp_path), port, stdout=w, stderr=subprocess.DEVNULL) as proc:
            os.close(w)
            w = -1
            fill(r, port)
            still_serving(port)
            os.kill(proc.pid, signal.SIGTERM)
            assert proc.wait(timeout=20) == 0
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)


def test_a_stderr_pipe_nobody_reads_then_read_again_reports_the_loss(tmp_path):
    port = free_port()
    r, w = os.pipe()
    env = base_env(tmp_path, PYSER2NET_SYSLOG=str(tmp_path / "no-syslog"))
    argv = daemon_argv(echo_config(tmp_path, port), "-n")
    try:
        with started(argv, env, port, stdout=subprocess.DEVNULL, stderr=w) as proc:
            os.close(w)
            w = -1
            fill(r, port)
            still_serving(port)
            # Reading again lets the daemon write out its buffer, and then
            # say how much it had to leave out.
            text = read_until(r, b"log lines dropped\n").decode()
            lines = text.splitlines()
            assert all(STAMPED.match(line) for line in lines), lines[-3:]
            reports = [line for line in lines if "log lines dropped" in line]
            assert len(reports) == 1 and re.search(r"\]: \d+ log lines dropped$", reports[0])
            assert "Traceback" not in text and "Logging error" not in text
            still_serving(port)
            os.kill(proc.pid, signal.SIGTERM)
            assert proc.wait(timeout=20) == 0
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)


def test_a_syslog_that_never_reads_costs_lines_not_service(tmp_path):
    port = free_port()
    path = tmp_path / "syslog.sock"
    syslog = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    syslog.bind(str(path))
    env = base_env(tmp_path, PYSER2NET_SYSLOG=str(path))
    argv = daemon_argv(echo_config(tmp_path, port), "-n")
    with (
        syslog,
        started(argv, env, port, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as proc,
    ):
        churn(port, 200)  # the socket queue holds a few datagrams only
        still_serving(port)
        syslog.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            while syslog.recv(4096):
                pass
        churn(port, 1)
        syslog.settimeout(10)
        report = syslog.recv(4096).decode()
        assert re.fullmatch(rf"<28>pyser2net\[{proc.pid}\]: \d+ log lines dropped", report)
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        assert proc.stderr is not None
        assert proc.stderr.read() == b""


# -- syslog there or not ----------------------------------------------------------


def collect(sock: socket.socket, needle: str, timeout: float = 10.0) -> List[str]:
    deadline = time.monotonic() + timeout
    got: List[str] = []
    while not any(needle in m for m in got) and time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            got.append(sock.recv(4096).decode())
        except socket.timeout:
            break
    return got


def test_messages_go_to_syslog_with_priority_and_the_daemons_pid(tmp_path):
    port = free_port()
    path = tmp_path / "syslog.sock"
    syslog = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    syslog.bind(str(path))
    pidfile = tmp_path / "d.pid"
    env = base_env(tmp_path, PYSER2NET_SYSLOG=str(path))
    argv = daemon_argv(echo_config(tmp_path, port), "-P", str(pidfile))
    with syslog:
        result = subprocess.run(argv, cwd=str(ROOT), env=env, capture_output=True, timeout=20)
        assert result.returncode == 0, result.stderr
        assert result.stderr == b""
        assert wait_until(pidfile.exists)
        pid = int(pidfile.read_text())
        try:
            wait_for_port(port)
            still_serving(port)
            got = collect(syslog, "closed echo")
            assert f"<30>pyser2net[{pid}]: echo: connection from 127.0.0.1," in "".join(got)
            started_line = next(m for m in got if m.endswith(" started"))
            assert started_line == f"<30>pyser2net[{pid}]: pyser2net {__version__} started"
        finally:
            os.kill(pid, signal.SIGTERM)
            assert wait_until(lambda: not os.path.exists(f"/proc/{pid}/cwd"))


def no_syslog_note(text: str) -> Optional[re.Match]:
    return re.search(r"no syslog at (\S+) \(([^)]*)\): log messages go to standard error", text)


def test_without_syslog_messages_go_to_stderr_without_tracebacks(tmp_path):
    port = free_port()
    missing = tmp_path / "no-syslog"
    errors = tmp_path / "stderr.txt"
    env = base_env(tmp_path, PYSER2NET_SYSLOG=str(missing))
    argv = daemon_argv(echo_config(tmp_path, port), "-n")
    with open(errors, "wb") as err, started(argv, env, port, stdout=subprocess.DEVNULL, stderr=err):
        churn(port, 3)
        assert wait_until(lambda: errors.read_text().count("closed echo") == 3)
    text = errors.read_text()
    note = no_syslog_note(text)
    assert note and note.group(1) == str(missing), text
    assert "Traceback" not in text and "Logging error" not in text
    lines = text.splitlines()
    assert all(STAMPED.match(line) for line in lines), lines
    assert sum("echo: connection from 127.0.0.1," in line for line in lines) == 3


def test_without_syslog_a_detached_daemon_keeps_writing_to_a_stderr_file(tmp_path):
    port = free_port()
    errors = tmp_path / "stderr.txt"
    pidfile = tmp_path / "d.pid"
    env = base_env(tmp_path, PYSER2NET_SYSLOG=str(tmp_path / "no-syslog"))
    argv = daemon_argv(echo_config(tmp_path, port), "-P", str(pidfile))
    with open(errors, "wb") as err:
        result = subprocess.run(
            argv, cwd=str(ROOT), env=env, stdout=subprocess.DEVNULL, stderr=err, timeout=20
        )
    assert result.returncode == 0, errors.read_text()
    assert wait_until(pidfile.exists)
    pid = int(pidfile.read_text())
    try:
        wait_for_port(port)
        still_serving(port)
        assert wait_until(lambda: "closed echo" in errors.read_text()), errors.read_text()
    finally:
        os.kill(pid, signal.SIGTERM)
        assert wait_until(lambda: "shutting down on signal 15" in errors.read_text())
    text = errors.read_text()
    assert no_syslog_note(text), text
    assert f"pyser2net[{pid}]: echo: connection from 127.0.0.1," in text
    assert "Traceback" not in text


def test_without_syslog_a_detached_daemon_lets_go_of_a_stderr_pipe(tmp_path):
    """Whoever started it (ssh, a script reading its output) must not wait forever."""
    port = free_port()
    pidfile = tmp_path / "d.pid"
    env = base_env(tmp_path, PYSER2NET_SYSLOG=str(tmp_path / "no-syslog"))
    argv = daemon_argv(echo_config(tmp_path, port), "-P", str(pidfile))
    result = subprocess.run(
        argv, cwd=str(ROOT), env=env, capture_output=True, text=True, timeout=20
    )
    assert result.returncode == 0, result.stderr
    assert wait_until(pidfile.exists)
    pid = int(pidfile.read_text())
    os.kill(pid, signal.SIGTERM)
    assert wait_until(lambda: not os.path.exists(f"/proc/{pid}/cwd"))
    assert (
        "log messages go to standard error until pyser2net detaches "
        "(start it with -n to keep them)\n"
    ) in result.stderr, result.stderr
    # The start-up lines come before detaching; nothing is written after.
    assert result.stderr.endswith(": 1 connection listening\n"), result.stderr
    assert "Traceback" not in result.stderr


def test_without_the_machines_syslog_socket(tmp_path):
    """The default /dev/log missing, as in a container or a chroot.

    Where the machine has one, a private mount namespace hides it behind an
    empty file (root and unshare needed).
    """
    port = free_port()
    argv = daemon_argv(echo_config(tmp_path, port), "-n")
    env = base_env(tmp_path)
    env.pop("PYSER2NET_SYSLOG", None)
    if os.path.exists("/dev/log"):
        unshare = shutil.which("unshare")
        if os.geteuid() != 0 or unshare is None:
            pytest.skip("/dev/log exists here; hiding it needs root and unshare")
        empty = tmp_path / "empty"
        empty.write_text("")
        argv = [
            unshare,
            "-m",
            "sh",
            "-c",
            'mount --bind "$0" /dev/log && exec "$@"',
            str(empty),
            *argv,
        ]
    errors = tmp_path / "stderr.txt"
    with open(errors, "wb") as err, started(argv, env, port, stdout=subprocess.DEVNULL, stderr=err):
        churn(port, 2)
        assert wait_until(lambda: errors.read_text().count("closed echo") == 2)
    text = errors.read_text()
    note = no_syslog_note(text)
    assert note and note.group(1) == "/dev/log", text
    assert "Traceback" not in text and "Logging error" not in text


# -- -d output -------------------------------------------------------------------


def test_d_output_is_stamped_unless_journald_reads_it(tmp_path):
    port = free_port()
    config = echo_config(tmp_path, port)
    for journal in (False, True):
        out = tmp_path / f"out-{journal}.txt"
        with open(out, "wb") as f:
            env = base_env(tmp_path)
            if journal:
                st = os.fstat(f.fileno())
                env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
            with started(
                daemon_argv(config, "-n", "-d"), env, port, stdout=f, stderr=subprocess.STDOUT
            ) as proc:
                churn(port, 1)
                assert wait_until(lambda o=out: "closed echo" in o.read_text())
        lines = out.read_text().splitlines()
        if journal:
            # journald stamps lines itself and reads the priority prefix.
            assert f"<6>pyser2net[{proc.pid}]: pyser2net {__version__} started" in lines
            assert all(line.startswith(f"<6>pyser2net[{proc.pid}]: ") for line in lines)
        else:
            assert all(STAMPED.match(line) for line in lines), lines
            assert any(
                line.endswith(f"pyser2net[{proc.pid}]: pyser2net {__version__} started")
                for line in lines
            ), lines


# -- clients turned away --------------------------------------------------------


def test_refused_clients_are_logged_with_the_reason_once_per_host(tmp_path):
    busy, denied, missing = free_port(), free_port(), free_port()
    absent = tmp_path / "ttyUSB-unplugged"
    config = (
        ECHO.format(port=busy)
        + f"connection: &denied\n  accepter: tcp,127.0.0.1,{denied}\n  connector: echo\n"
        + "  options:\n    remaddr: 127.0.0.2,0\n"
        + f"connection: &missing\n  accepter: tcp,127.0.0.1,{missing}\n"
        + f"  connector: serialdev,{absent},9600n81,local\n"
    )
    path = tmp_path / "c.yaml"
    path.write_text(config)
    out = tmp_path / "out.txt"
    with (
        open(out, "wb") as f,
        started(
            daemon_argv(path, "-n", "-d"),
            base_env(tmp_path),
            missing,
            stdout=f,
            stderr=subprocess.STDOUT,
        ) as proc,
    ):
        with connect(busy) as first:
            first.sendall(b"1")
            assert recv_exact(first, 1) == b"1"
            for _ in range(4):
                with connect(busy) as other:
                    assert recv_exact(other, 100) == b"Port already in use\r\n"
        for _ in range(3):
            with connect(denied) as other:
                assert recv_exact(other, 100) == b"Accessed denied due to your net address\r\n"
            with connect(missing) as other:
                assert recv_exact(other, 100) == (
                    b"Device open failure: Value or file not found\r\n"
                )
        stop_process(proc)
    lines = out.read_text().splitlines()
    refused = [line.split("]: ", 1)[1] for line in lines if ": refused " in line]
    assert [re.sub(r"127\.0\.0\.1,\d+", "127.0.0.1,N", line) for line in refused] == [
        "echo: refused 127.0.0.1,N: port in use (max-connections 1)",
        "denied: refused 127.0.0.1,N: not in remaddr",
        f"missing: refused 127.0.0.1,N: device open failure: {absent} does not exist "
        "(unplugged, or a wrong name? /dev/serial/by-id/ has names that do not change)",
    ]


# -- -l -l: the data flow --------------------------------------------------------

FLOW = re.compile(
    r"echo: data flow: (\d+) bytes to the device, (\d+) bytes from the device "
    r"in \d+\.\d\d s$"
)


def flow_totals(text: str) -> Tuple[int, int]:
    found = [FLOW.search(line) for line in text.splitlines()]
    counts = [(int(m.group(1)), int(m.group(2))) for m in found if m]
    return sum(c[0] for c in counts), sum(c[1] for c in counts)


def echo_traffic(sock: socket.socket, rounds: int, size: int = 10_000) -> int:
    sent = 0
    for n in range(rounds):
        chunk = (b"payload %03d " % n) * (size // 12)
        sock.sendall(chunk)
        assert recv_exact(sock, len(chunk)) == chunk
        sent += len(chunk)
    return sent


def test_l_l_logs_the_data_flow_per_port_and_never_the_data(tmp_path):
    out = tmp_path / "out.txt"
    # Port 0: a port picked free here may be taken by another program before
    # the daemon binds it, and this test would then talk to that program.
    argv = daemon_argv(echo_config(tmp_path, 0), "-n", "-d", "-l", "-l")
    with (
        open(out, "wb") as f,
        started(argv, base_env(tmp_path), None, stdout=f, stderr=subprocess.STDOUT) as proc,
    ):
        port = wait_for_own_port(proc)
        with connect(port) as sock:
            sent = echo_traffic(sock, 30)
            # Every byte is counted in some second's line: the lines add up.
            # (The client stays: the counters start again when the device closes.)
            assert wait_until(lambda: flow_totals(out.read_text()) == (sent, sent)), (
                flow_totals(out.read_text()),
                sent,
            )
    assert "payload" not in out.read_text()


def test_a_single_l_logs_no_data_flow(tmp_path):
    port = free_port()
    out = tmp_path / "out.txt"
    argv = daemon_argv(echo_config(tmp_path, port), "-n", "-d", "-l")
    with (
        open(out, "wb") as f,
        started(argv, base_env(tmp_path), port, stdout=f, stderr=subprocess.STDOUT),
    ):
        deadline = time.monotonic() + 1.5  # longer than the summary's second
        while time.monotonic() < deadline:
            with connect(port) as sock:
                echo_traffic(sock, 2)
    assert "data flow" not in out.read_text()
    assert "closed echo" in out.read_text()


# -- -l: what a person debugging a port needs --------------------------------------


def lines_of(out: Path) -> List[str]:
    """The messages of a -d log, without time and pid."""
    return [line.split("]: ", 1)[1] for line in out.read_text().splitlines() if "]: " in line]


def test_l_logs_who_changed_which_serial_setting(tmp_path, pty_pair):
    serial = pytest.importorskip("serial")
    port = free_port()
    config = tmp_path / "t.yaml"
    config.write_text(
        f"connection: &t\n  accepter: telnet(rfc2217),tcp,127.0.0.1,{port}\n"
        f"  connector: serialdev,{pty_pair.path},115200n81,local\n"
    )
    out = tmp_path / "out.txt"
    with (
        open(out, "wb") as f,
        started(
            daemon_argv(config, "-n", "-d", "-l"),
            base_env(tmp_path),
            port,
            stdout=f,
            stderr=subprocess.STDOUT,
        ),
    ):
        client = serial.serial_for_url(f"rfc2217://127.0.0.1:{port}", baudrate=115200, timeout=2)
        try:
            who = f"t client 127.0.0.1,{client._socket.getsockname()[1]}"
            client.baudrate = 9600
            client.parity = serial.PARITY_EVEN
            client.dtr = False
            client.write(b"x")
            assert pty_pair.read(1) == b"x"
        finally:
            client.close()
        assert wait_until(lambda: "t: closed" in out.read_text())
    logged = lines_of(out)
    device = f"serialdev,{pty_pair.path},115200n81,local"
    for expected in (
        f"t: opened {device} (115200N81,CLOCAL, DTR on, RTS on, as configured)",
        f"{who}: RFC 2217 set baud rate 9600: done (was 115200)",
        f"{who}: RFC 2217 set parity even: done (was none)",
        f"{who}: RFC 2217 set DTR off: done (was on)",
        f"t: closed {device} (left at 9600E81,CLOCAL, DTR off, RTS on)",
    ):
        assert expected in logged, (expected, logged)
    # The negotiation as it settles: the last word is what both sides do.
    # Which options pyserial's client ends up agreeing to depends on whether
    # the port's opening burst reaches it before it sends its own requests:
    # then it leaves the port's WILL SGA/DO SGA unanswered, and may answer
    # DO COM-PORT-OPTION with DO instead of WILL (and use RFC 2217 all the
    # same). Only BINARY is agreed in every run.
    options = [line for line in logged if line.startswith(f"{who}: telnet options agreed: ")]
    ours, theirs = options[-1].split(": telnet options agreed: ")[1].split("; ")
    assert ours.startswith("the port does BINARY"), options
    assert theirs.startswith("the client does BINARY"), options
    assert len(options) == len(set(options))  # logged when they change, not per command
