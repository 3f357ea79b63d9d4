"""Configurations with mistakes, and busy ports: ser2net and pyser2net serve the same ports.

Each scenario runs the real ser2net 4.3 and pyser2net in turn on the same
file and the same loopback ports, and compares which ports listen and
whether the daemon keeps running.  Where pyser2net deliberately serves
more (ser2net stops reading a YAML file at some errors inside a
connection), the test says so and checks both sides.  Skipped when ser2net
is not installed.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator, List, Optional, Set

import pytest

from helpers import free_port, listening, stop_process, wait_until
from ser2net_helpers import IMPLEMENTATIONS, SER2NET

pytestmark = pytest.mark.skipif(SER2NET is None, reason="ser2net is not installed")


def echo(name: str, port: str, extra: str = "") -> str:
    return f"connection: &{name}\n  accepter: tcp,127.0.0.1,{port}\n  connector: echo\n{extra}"


@contextlib.contextmanager
def running(impl: str, path: Path, extra: Optional[List[str]] = None) -> Iterator[subprocess.Popen]:
    """One daemon on ``path``, in the foreground, its output in a file beside it."""
    argv = IMPLEMENTATIONS[impl] + [
        "-n",
        "-d",
        "-c",
        str(path),
        "-P",
        str(path.with_suffix(f".{impl}.pid")),
    ]
    log_path = path.with_suffix(f".{impl}.log")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(argv + (extra or []), stdout=log, stderr=subprocess.STDOUT)
        proc.log_path = log_path  # type: ignore[attr-defined]
        try:
            yield proc
        finally:
            # ser2net 4.3 sometimes ignores SIGTERM after a configuration
            # error; stop_process then kills it.
            stop_process(proc, timeout=3.0)


def served(impl: str, path: Path, ports: List[int], expected: Set[int]) -> Set[int]:
    """The ports among ``ports`` that listen once ``impl`` has settled on ``path``."""
    with running(impl, path) as proc:
        wait_until(
            lambda: all(listening(p) for p in expected) or proc.poll() is not None, timeout=10
        )
        time.sleep(0.5)  # let anything that is going to start, start
        assert proc.poll() is None, (impl, Path(proc.log_path).read_text())  # type: ignore
        return {p for p in ports if listening(p)}


def scenario(tmp_path: Path, template: str, suffix: str) -> tuple:
    ports = [free_port() for _ in range(5)]
    text = re.sub(r"@P(\d)@", lambda m: str(ports[int(m.group(1))]), template)
    path = tmp_path / f"config{suffix}"
    path.write_text(text)
    return path, ports


#: Mistakes that cost the connection they are in, with ser2net as here.
SAME = {
    "misspelled-option": (
        ".yaml",
        echo("good", "@P0@")
        + echo("bad", "@P1@", "  options:\n    kickoldusr: true\n")
        + echo("after", "@P2@"),
        {0, 2},
    ),
    "unknown-connector": (
        ".yaml",
        echo("good", "@P0@") + "connection: &bad\n  accepter: tcp,127.0.0.1,@P1@\n"
        "  connector: nosuch,x\n" + echo("after", "@P2@"),
        {0, 2},
    ),
    "duplicate-name": (".yaml", echo("a", "@P0@") + echo("a", "@P1@") + echo("b", "@P2@"), {0, 2}),
    "missing-led": (
        ".yaml",
        echo("good", "@P0@")
        + echo("bad", "@P1@", "  options:\n    led-tx: nowhere\n")
        + echo("after", "@P2@"),
        {0, 2},
    ),
    # ser2net reads up to the error; so does pyser2net.
    "syntax-error": (
        ".yaml",
        echo("good", "@P0@")
        + "connection: &bad\n  accepter: tcp,127.0.0.1,@P1@\n  connector: [echo\n"
        + echo("after", "@P2@"),
        {0},
    ),
    # What the connections after it should have had is unknown: neither serves them.
    "broken-default": (
        ".yaml",
        echo("good", "@P0@")
        + "default:\n  name: kickolduser\n  value: maybe\n"
        + echo("after", "@P2@"),
        {0},
    ),
    "legacy-lines": (
        ".conf",
        "127.0.0.1,@P0@:raw:0:/dev/null:\n"
        "127.0.0.1,@P0@:telnet:0:/dev/zero:\n"
        "127.0.0.1,@P1@:raw:0:/dev/null:kickoldusr\n"
        "127.0.0.1,@P1@:raww:0:/dev/null:\n"
        "LED:l1:blinky:device=x\n"
        "127.0.0.1,@P3@:raw:0:/dev/null:led-tx=l1\n"
        "127.0.0.1,@P4@:raw:0:sol.lan,192.0.2.1:\n"
        "127.0.0.1,@P2@:raw:0:/dev/null:\n",
        {0, 2},
    ),
    "legacy-remaddr-default": (
        ".conf",
        "127.0.0.1,@P0@:raw:0:/dev/null:\n"
        "DEFAULT:remaddr:bad,,x\n"
        "127.0.0.1,@P1@:raw:0:/dev/null:\n"
        "127.0.0.1,@P2@:raw:0:/dev/null:remaddr=127.0.0.1,0\n",
        {0, 2},
    ),
}


@pytest.mark.parametrize("name", sorted(SAME))
def test_the_same_ports_are_served(name: str, tmp_path: Path) -> None:
    suffix, template, indexes = SAME[name]
    path, ports = scenario(tmp_path, template, suffix)
    expected = {ports[i] for i in indexes}
    theirs = served("ser2net", path, ports, expected)
    ours = served("pyser2net", path, ports, expected)
    assert theirs == expected, "the scenario no longer holds for ser2net"
    assert ours == theirs


@pytest.mark.parametrize(
    "extra",
    ["  timeout: soon\n", "  enable: maybe\n", "  colour: red\n"],
    ids=["timeout", "enable", "key"],
)
def test_errors_where_ser2net_stops_reading_cost_one_connection_here(
    extra: str, tmp_path: Path
) -> None:
    """ser2net serves nothing after such an error; pyser2net serves every valid connection."""
    path, ports = scenario(
        tmp_path, echo("good", "@P0@") + echo("bad", "@P1@", extra) + echo("after", "@P2@"), ".yaml"
    )
    assert served("ser2net", path, ports, {ports[0]}) == {ports[0]}
    assert served("pyser2net", path, ports, {ports[0], ports[2]}) == {ports[0], ports[2]}


def test_no_valid_connection(tmp_path: Path) -> None:
    """ser2net runs with no port at all; pyser2net says why and exits 1."""
    path, ports = scenario(tmp_path, echo("a", "@P0@", "  options:\n    kickoldusr: 1\n"), ".yaml")
    assert served("ser2net", path, ports, set()) == set()
    result = subprocess.run(
        IMPLEMENTATIONS["pyser2net"] + ["-n", "-d", "-c", str(path)],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        f"pyser2net: {path}: no valid connection (1 error); nothing to serve"
    )


@contextlib.contextmanager
def python_holder(port: int) -> Iterator[subprocess.Popen]:
    code = (
        "import socket, sys, time\ns = socket.socket()\n"
        "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
        f"s.bind(('127.0.0.1', {port}))\ns.listen(1)\nprint('held', flush=True)\n"
        "time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "held\n"
        yield proc
    finally:
        stop_process(proc)


@pytest.mark.parametrize("impl", ["ser2net", "pyser2net"])
def test_a_busy_port_is_served_once_it_is_free(impl: str, tmp_path: Path) -> None:
    path, ports = scenario(
        tmp_path,
        echo("busy", "@P0@", "  options:\n    accepter-retry-time: 1\n") + echo("b", "@P1@"),
        ".yaml",
    )
    busy, other = ports[0], ports[1]
    with python_holder(busy) as holder:
        with running(impl, path) as proc:
            assert wait_until(lambda: listening(other))
            stop_process(holder)
            assert wait_until(lambda: listening(busy), timeout=5), Path(proc.log_path).read_text()  # type: ignore[attr-defined]
            assert proc.poll() is None


def test_pyser2net_names_ser2net_holding_its_port(tmp_path: Path) -> None:
    """The usual case at migration: ser2net still runs.  Once it stops, the port is served."""
    port = free_port()
    config = tmp_path / "ser2net.yaml"
    config.write_text(echo("console", str(port), "  options:\n    accepter-retry-time: 1\n"))
    with running("ser2net", config) as ser2net:
        assert wait_until(lambda: listening(port))
        ours_path = tmp_path / "pyser2net.yaml"
        ours_path.write_text(config.read_text())
        with running("pyser2net", ours_path) as ours:
            log = Path(ours.log_path)  # type: ignore[attr-defined]
            needle = (
                f"console: cannot listen on 127.0.0.1:{port} (tcp,127.0.0.1,{port}): "
                f"Address already in use, held by pid {ser2net.pid} (ser2net); "
                "retrying every 1 s"
            )
            assert wait_until(lambda: needle in log.read_text()), log.read_text()
            stop_process(ser2net, timeout=3.0)
            assert wait_until(lambda: listening(port), timeout=5), log.read_text()
            assert ours.poll() is None
