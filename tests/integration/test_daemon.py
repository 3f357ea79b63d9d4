"""Running as a daemon: foreground and detached, pid file, signals, usage errors."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from helpers import (
    ROOT,
    connect,
    daemon,
    free_port,
    listening,
    read_line,
    recv_exact,
    recv_until_closed,
    stop_process,
    wait_until,
)

ECHO = """%YAML 1.1
---
connection: &echo
  accepter: tcp,127.0.0.1,{port}
  connector: echo
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is gone for our purpose.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def test_foreground_sigterm_exits_0_and_closes_clients(tmp_path):
    port = free_port()
    with daemon(ECHO.format(port=port), tmp_path, [port]) as proc:
        with connect(port) as sock:
            sock.sendall(b"ping")
            assert recv_exact(sock, 4) == b"ping"
            os.kill(proc.pid, signal.SIGTERM)
            assert proc.wait(timeout=10) == 0
            assert recv_until_closed(sock, timeout=5) == b""
    assert not listening(port)


def test_sigterm_sends_closestr_and_delivers_queued_device_data(tmp_path, pty_pair):
    port = free_port()
    config = (
        f"connection: &c\n  accepter: tcp,127.0.0.1,{port}\n"
        f"  connector: serialdev,{pty_pair.path},9600n81,local\n"
        f"  options:\n    closestr: 'bye\\r\\n'\n    chardelay-min: 300000\n"
        f"    chardelay-max: 300000\n"
    )
    with daemon(config, tmp_path, [port]) as proc:
        with connect(port) as sock:
            sock.sendall(b"cmd")
            assert pty_pair.read(3) == b"cmd"
            pty_pair.write(b"held by chardelay")
            time.sleep(0.1)  # read by the daemon, not yet sent (0.3 s hold)
            os.kill(proc.pid, signal.SIGTERM)
            assert recv_until_closed(sock, timeout=5) == b"held by chardelay"
            assert proc.wait(timeout=10) == 0
        assert pty_pair.read(5) == b"bye\r\n"


def test_sigint_exits_0(tmp_path):
    port = free_port()
    with daemon(ECHO.format(port=port), tmp_path, [port]) as proc:
        os.kill(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=10) == 0


def test_detached_start_writes_and_removes_pidfile(tmp_path):
    port = free_port()
    config = tmp_path / "c.yaml"
    config.write_text(ECHO.format(port=port))
    pidfile = tmp_path / "run" / "pyser2net.pid"
    pidfile.parent.mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "pyser2net", "-c", str(config), "-P", str(pidfile)],
        cwd=str(ROOT),
        capture_output=True,
        timeout=20,
    )
    assert result.returncode == 0, result.stderr
    assert wait_until(pidfile.exists), "no pid file"
    pid = int(pidfile.read_text())
    try:
        assert pidfile.read_text() == f"{pid}\n"
        assert pid != os.getpid() and _alive(pid)
        assert wait_until(lambda: listening(port))
        # The daemon left our session and changed to /.
        assert os.getsid(pid) != os.getsid(0)
        assert os.readlink(f"/proc/{pid}/cwd") == "/"
        with connect(port) as sock:
            sock.sendall(b"detached")
            assert recv_exact(sock, 8) == b"detached"
        os.kill(pid, signal.SIGTERM)
        assert wait_until(lambda: not _alive(pid)), "daemon did not exit"
        assert wait_until(lambda: not pidfile.exists()), "pid file left behind"
    finally:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_pidfile_in_missing_directory_fails_before_detaching(tmp_path):
    port = free_port()
    config = tmp_path / "c.yaml"
    config.write_text(ECHO.format(port=port))
    missing = tmp_path / "nope" / "x.pid"
    result = subprocess.run(
        [sys.executable, "-m", "pyser2net", "-c", str(config), "-P", str(missing)],
        cwd=str(ROOT),
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert result.returncode == 1
    assert result.stderr == (
        f"pyser2net: cannot write pid file {missing}: directory {missing.parent} does not exist\n"
    )
    assert not listening(port)


def test_foreground_pidfile(tmp_path):
    port = free_port()
    pidfile = tmp_path / "fg.pid"
    with daemon(ECHO.format(port=port), tmp_path, [port], extra_args=["-P", str(pidfile)]) as proc:
        assert wait_until(pidfile.exists)
        assert pidfile.read_text() == f"{proc.pid}\n"
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    assert not pidfile.exists()


def test_usage_errors_are_one_line_exit_2():
    for args in (["--no-such-flag"], ["-t", "zero"], ["-p"], ["-p", "tcp,bad port"]):
        result = subprocess.run(
            [sys.executable, "-m", "pyser2net", *args],
            cwd=str(ROOT),
            capture_output=True,
            text=True,
            timeout=20,
        )
        assert result.returncode == 2, args
        assert result.stderr.count("\n") == 1, (args, result.stderr)
        assert result.stderr.startswith("pyser2net: "), args


def test_help_lists_ser2net_options():
    result = subprocess.run(
        [sys.executable, "-m", "pyser2net", "--help"],
        cwd=str(ROOT),
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert result.returncode == 0
    for option in ("-c", "-C", "-Y", "-n", "-d", "-P", "-p", "-u", "-s", "-v", "-r"):
        assert f" {option} " in result.stdout or f"{option}," in result.stdout, option


def test_r_prints_Ready_once_the_ports_listen(tmp_path):
    port = free_port()
    config = tmp_path / "echo.yaml"
    config.write_text(ECHO.format(port=port))
    proc = subprocess.Popen(
        [sys.executable, "-m", "pyser2net", "-n", "-r", "-c", str(config)],
        cwd=str(ROOT),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=dict(os.environ, PYSER2NET_LOCKDIR=str(tmp_path)),
    )
    try:
        assert proc.stdout is not None
        assert read_line(proc.stdout.fileno()) == b"Ready\n"
        assert listening(port)
    finally:
        stop_process(proc)
        proc.stdout.close()


def test_legacy_file_is_named_deprecated_once_when_serving(tmp_path):
    port = free_port()
    config = tmp_path / "ser2net.conf"
    config.write_text(f"127.0.0.1,{port}:raw:0:/dev/null:9600\n")
    log_path, err_path = tmp_path / "out.log", tmp_path / "err.log"
    with open(log_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pyser2net", "-n", "-d", "-c", str(config)],
            cwd=str(ROOT),
            stdout=out,
            stderr=err,
            env=dict(os.environ, PYSER2NET_LOCKDIR=str(tmp_path)),
        )
        try:
            assert wait_until(lambda: listening(port))
            os.kill(proc.pid, signal.SIGHUP)  # the re-read says nothing more
            assert wait_until(lambda: b"re-reading" in log_path.read_bytes())
            os.kill(proc.pid, signal.SIGHUP)
            assert wait_until(lambda: log_path.read_bytes().count(b"re-reading") == 2)
        finally:
            stop_process(proc)
    assert err_path.read_text() == (
        f"pyser2net: warning: {config} is in the old ser2net.conf format, which ser2net 4 "
        f"deprecates; 'pyser2net --convert -c {config}' prints it as YAML\n"
    )


def test_compat_flags_are_accepted(tmp_path):
    port = free_port()
    with daemon(
        ECHO.format(port=port),
        tmp_path,
        [port],
        extra_args=["-b", "-t", "4", "-u", "-s", "mysig", "-l", "-l"],
    ) as proc:
        assert proc.poll() is None


def test_config_from_stdin(tmp_path):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pyser2net", "-n", "-d", "-c", "-"],
        cwd=str(ROOT),
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert proc.stdin is not None
        proc.stdin.write(ECHO.format(port=port).encode())
        proc.stdin.close()
        assert wait_until(lambda: listening(port))
        os.kill(proc.pid, signal.SIGHUP)  # re-reading stdin must not lose the config
        time.sleep(0.3)
        with connect(port) as sock:
            sock.sendall(b"in")
            assert recv_exact(sock, 2) == b"in"
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)


def test_Y_with_c_appends_to_the_file(tmp_path):
    first, second = free_port(), free_port()
    config = tmp_path / "c.yaml"
    config.write_text(ECHO.format(port=first) + "# a comment that must stay a comment\n")
    extra = [
        "-Y",
        "connection: &two#  accepter: tcp,127.0.0.1," + str(second) + "#  connector: echo",
    ]
    path = Path(config)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pyser2net", "-n", "-d", "-c", str(path), *extra],
        cwd=str(ROOT),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert wait_until(lambda: listening(first) and listening(second))
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)


def test_signals_while_starting_wait_for_the_handlers(tmp_path: Path) -> None:
    """SIGHUP fired the moment the first port answers never kills the daemon.

    Scripts and unit files reload as soon as a port listens, which can be
    before the handlers are installed (here 200 more ports are still being
    set up); such a signal waits for them instead of ending the daemon by
    its default action, and is a reload.
    """
    port = free_port()
    config = tmp_path / "echo.yaml"
    # The 200 ports listen where the kernel puts them, which may be a port
    # another program on this machine picked as free a moment earlier and
    # now connects to.  A connector written the same way is the same device
    # ("Port's device already in use"), so theirs is written otherwise: such
    # a stranger never holds the echo port's device.
    config.write_text(
        ECHO.format(port=port)
        + "".join(
            f"connection: &more{i}\n  accepter: tcp,127.0.0.1,0\n  connector: echo(readbuf=1024)\n"
            for i in range(200)
        )
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "pyser2net", "-n", "-d", "-c", str(config)],
        cwd=str(ROOT),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # Python and 201 ports take a while to start on a loaded machine.
        deadline = time.monotonic() + 30.0
        while not listening(port):
            assert proc.poll() is None and time.monotonic() < deadline, "the daemon never listened"
        for _ in range(50):
            proc.send_signal(signal.SIGHUP)
        time.sleep(0.2)
        assert proc.poll() is None, f"the daemon died with status {proc.returncode}"
        with connect(port) as sock:
            sock.sendall(b"still here")
            assert recv_exact(sock, 10) == b"still here"
    finally:
        stop_process(proc)
    assert proc.returncode == 0
