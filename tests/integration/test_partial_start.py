"""A bad entry or a busy port costs that port only, as with ser2net.

The daemon is a real process; the configuration has a mistake in one entry,
or a port is held by another real process, and every other port must be
served.  What the log says is part of the behaviour: each error with its
FILE:LINE:COL, one line per port, one closing line naming what is not served.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator, List

from helpers import (
    ROOT,
    connect,
    daemon,
    free_port,
    listening,
    recv_exact,
    stop_process,
    wait_until,
)


def echo(name: str, port: int, extra: str = "") -> str:
    return f"connection: &{name}\n  accepter: tcp,127.0.0.1,{port}\n  connector: echo\n{extra}"


def run(args: List[str], timeout: float = 20) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pyser2net", *args],
        cwd=str(ROOT),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def log_of(proc: subprocess.Popen) -> str:
    return Path(proc.log_path).read_text(errors="replace")  # type: ignore[attr-defined]


def echoes(port: int, data: bytes = b"ping") -> bool:
    with connect(port) as sock:
        sock.sendall(data)
        return recv_exact(sock, len(data)) == data


#: A process that holds a TCP port until it is ended, as ser2net would.
_HOLDER = """
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(1)
print("held", flush=True)
time.sleep(60)
"""


@contextlib.contextmanager
def port_holder(port: int) -> Iterator[subprocess.Popen]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(port)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "held\n"
        yield proc
    finally:
        stop_process(proc)


def command_of(pid: int) -> str:
    with open(f"/proc/{pid}/comm") as f:
        return f.read().strip()


def test_a_misspelled_option_costs_its_connection_only(tmp_path: Path) -> None:
    """The drop-in issue: ser2net 4.3 logs "Unknown config item" and serves the good port."""
    good, bad = free_port(), free_port()
    config = echo("good", good) + echo("bad", bad, "  options:\n    kickoldusr: true\n")
    with daemon(config, tmp_path, [good]) as proc:
        assert echoes(good)
        assert not listening(bad)
        assert proc.poll() is None
        log = log_of(proc)
        path = sorted(tmp_path.glob("config*.yaml"))[0]
        assert f"{path}:8:5: unknown option 'kickoldusr'" in log
        assert f"good: listening on 127.0.0.1:{good} (tcp,127.0.0.1,{good}), device echo" in log
        assert (
            f"1 connection listening; 1 connection not started because of configuration "
            f"errors: bad at {path}:4:13\n"
        ) in log
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


def test_legacy_duplicate_and_typo_lines_cost_those_lines(tmp_path: Path) -> None:
    first, second, third = free_port(), free_port(), free_port()
    config = (
        f"127.0.0.1,{first}:raw:0:/dev/null:\n"
        f"127.0.0.1,{first}:raw:0:/dev/zero:\n"
        f"127.0.0.1,{second}:raww:0:/dev/null:\n"
        f"127.0.0.1,{third}:raw:0:/dev/null:\n"
    )
    with daemon(config, tmp_path, [first, third], suffix=".conf") as proc:
        assert not listening(second)
        log = log_of(proc)
        path = sorted(tmp_path.glob("config*.conf"))[0]
        assert f"{path}:2:1: duplicate connection name '127.0.0.1,{first}'" in log
        assert f"{path}:3:1: " in log
        assert (
            f"2 connections not started because of configuration errors: "
            f"127.0.0.1,{first} at {path}:2:1, a connection at {path}:3:1"
        ) in log


def test_no_valid_connection_stops_with_the_reason(tmp_path: Path) -> None:
    """ser2net would run serving nothing; a supervisor is better told."""
    path = tmp_path / "c.yaml"
    path.write_text(
        echo("a", free_port(), "  timeout: soon\n") + echo("b", free_port(), "  enable: maybe\n")
    )
    result = run(["-n", "-d", "-c", str(path)])
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"pyser2net: {path}:4:12: invalid timeout 'soon' (expected a number of seconds)",
        f"pyser2net: {path}:8:11: enable must be on or off, not 'maybe'",
        f"pyser2net: {path}: no valid connection (2 errors); nothing to serve",
    ]


def test_strict_refuses_to_start_on_any_error(tmp_path: Path) -> None:
    good = free_port()
    path = tmp_path / "c.yaml"
    path.write_text(echo("good", good) + echo("bad", free_port(), "  options:\n    x: 1\n"))
    result = run(["-n", "-d", "--strict", "-c", str(path)])
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == f"pyser2net: {path}: 1 error; not starting (--strict)"
    assert not listening(good)


def test_check_stays_strict_and_lists_every_error(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        echo("good", free_port())
        + echo("a", free_port(), "  timeout: soon\n")
        + echo("b", free_port(), "  options:\n    x: 1\n")
    )
    result = run(["--check", "-c", str(path)])
    assert result.returncode == 1
    assert [line.split(": ", 2)[1] for line in result.stderr.splitlines()] == [
        f"{path}:7:12",
        f"{path}:12:5",
    ]


def test_a_busy_port_is_retried_and_served_once_free(tmp_path: Path) -> None:
    busy, other = free_port(), free_port()
    config = echo("busy", busy, "  options:\n    accepter-retry-time: 1\n") + echo("other", other)
    with port_holder(busy) as holder:
        with daemon(config, tmp_path, [other]) as proc:
            needle = (
                f"busy: cannot listen on 127.0.0.1:{busy} (tcp,127.0.0.1,{busy}): "
                f"Address already in use, held by pid {holder.pid} "
                f"({command_of(holder.pid)}); retrying every 1 s"
            )
            assert wait_until(lambda: needle in log_of(proc))
            assert "1 waiting to listen (retrying): busy" in log_of(proc)
            assert echoes(other)
            time.sleep(2.5)  # a few more attempts fail while the holder lives
            stop_process(holder)
            assert wait_until(lambda: listening(busy), timeout=5), log_of(proc)
            assert echoes(busy)
            assert proc.poll() is None
            log = log_of(proc)
    # The first failure is logged, the next ones (same reason) are not.
    assert log.count("busy: cannot listen on") == 1
    match = re.search(
        rf"busy: listening on 127.0.0.1:{busy} \(tcp,127.0.0.1,{busy}\), "
        r"after (\d+) failed attempts",
        log,
    )
    assert match and int(match.group(1)) >= 2, log


def test_detached_start_with_a_busy_port_says_so_and_serves_it_later(tmp_path: Path) -> None:
    busy = free_port()
    config = tmp_path / "c.yaml"
    config.write_text(echo("busy", busy, "  options:\n    accepter-retry-time: 1\n"))
    pidfile = tmp_path / "d.pid"
    with port_holder(busy) as holder:
        result = run(["-c", str(config), "-P", str(pidfile)])
        assert result.returncode == 0, result.stderr
        assert (
            f"busy: cannot listen on 127.0.0.1:{busy} (tcp,127.0.0.1,{busy}): "
            f"Address already in use, held by pid {holder.pid}"
        ) in result.stderr
        assert wait_until(pidfile.exists)
        pid = int(pidfile.read_text())
    try:
        assert wait_until(lambda: listening(busy), timeout=5)
        assert echoes(busy)
    finally:
        os.kill(pid, signal.SIGTERM)
        assert wait_until(lambda: not os.path.exists(f"/proc/{pid}/fd")), "daemon did not exit"


def test_admin_port_busy_is_retried_too(tmp_path: Path) -> None:
    """ser2net gives up on a busy admin port; pyser2net keeps trying, like any accepter."""
    port, admin = free_port(), free_port()
    with port_holder(admin):
        with daemon(
            echo("a", port), tmp_path, [port], extra_args=["-p", f"127.0.0.1,{admin}"]
        ) as proc:
            assert wait_until(lambda: "admin port: cannot listen on" in log_of(proc))
            assert echoes(port)
            assert proc.poll() is None
