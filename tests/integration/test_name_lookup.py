"""A slow name lookup never stalls the ports that are serving.

The daemon runs where every name lookup waits until the test lets it go
(``tests/slownames.py``: a FIFO for a hosts file, in a namespace of its
own), and fails then, as with a dead name server.  Nothing is timed: the
tests assert the order of events (a lookup is seen waiting, an echo port
and a serial session are answered, the lookup is still waiting; then the
test lets it go and the failure is logged), with bounded waits.
"""

from __future__ import annotations

import json
import math
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest
from slownames import SlowNames, unshare_works

from helpers import (
    ROOT,
    attach_control_status,
    connect,
    daemon,
    free_port,
    listening,
    recv_exact,
    recv_until_closed,
    stop_process,
    wait_until,
)

#: Reading the configuration again happens in a child process, and a
#: lookup in another: on a busy machine their start alone takes seconds.
WAIT = 30.0

#: How pyser2net is started, in the namespace.
PYSER2NET = [sys.executable, "-m", "pyser2net"]

pytestmark = pytest.mark.skipif(
    not unshare_works(),
    reason="needs unshare -r -m (an unprivileged user and mount namespace) to make lookups slow",
)


@pytest.fixture
def slow(tmp_path: Path) -> Iterator[SlowNames]:
    names = SlowNames(tmp_path / "names")
    yield names
    names.release_all()


def echo(name: str, port: int) -> str:
    return (
        f"connection: &{name}\n  accepter: tcp,127.0.0.1,{port}\n  connector: echo\n"
        "  options:\n    max-connections: 4\n"
    )


def log_of(proc: subprocess.Popen) -> str:
    return Path(proc.log_path).read_text(errors="replace")  # type: ignore[attr-defined]


def logged(proc: subprocess.Popen, pattern: str) -> bool:
    return re.search(pattern, log_of(proc)) is not None


def round_trip(sock, data: bytes) -> None:
    sock.sendall(data)
    assert recv_exact(sock, len(data)) == data


def released_until(slow: SlowNames, proc: subprocess.Popen, pattern: str) -> bool:
    """Let lookups go until ``pattern`` is logged."""
    return slow.release_until(lambda: logged(proc, pattern), WAIT)


def test_a_reload_adding_a_port_with_a_slow_name_keeps_the_others_serving(
    tmp_path: Path, slow: SlowNames, pty_pair
) -> None:
    serving, other, added = free_port(), free_port(), free_port()
    base = (
        f"connection: &serving\n  accepter: tcp,127.0.0.1,{serving}\n"
        f"  connector: serialdev,{pty_pair.path},9600n81,local\n" + echo("other", other)
    )
    with daemon(base, tmp_path, [serving, other], command=slow.command(PYSER2NET)) as proc:
        with connect(serving) as session:

            def both_ways(data: bytes) -> None:
                session.sendall(data)
                assert pty_pair.read(len(data)) == data
                pty_pair.write(data)
                assert recv_exact(session, len(data)) == data

            both_ways(b"before the reload")
            (path,) = sorted(tmp_path.glob("config*.yaml"))
            path.write_text(
                base + f"connection: &slow\n  accepter: tcp,slowhost,{added}\n  connector: echo\n"
            )
            os.kill(proc.pid, signal.SIGHUP)
            assert wait_until(lambda: logged(proc, "slow: looking up slowhost"), WAIT), log_of(proc)
            assert wait_until(lambda: slow.waiting(proc.pid), WAIT), log_of(proc)
            # The lookup waits; meanwhile the loop serves, old session and new.
            both_ways(b"while slowhost is looked up")
            with connect(other) as newcomer:
                round_trip(newcomer, b"a new client")
            assert slow.waiting(proc.pid) and not listening(added)
            assert "cannot look up" not in log_of(proc)
            # Let it go: it fails, the port says so by its name and the
            # host's, and tries again later.
            pattern = rf"slow: cannot listen on tcp,slowhost,{added}: cannot look up host "
            assert released_until(slow, proc, pattern), log_of(proc)
            both_ways(b"after the lookup failed")
            assert not listening(added)
        assert proc.poll() is None
    assert "Traceback" not in log_of(proc)


def test_a_connector_with_a_slow_name_fails_its_clients_at_once(
    tmp_path: Path, slow: SlowNames
) -> None:
    """A tcp connector's name is looked up when its port starts; a client
    that comes while it cannot be found is refused at once, and the name
    is looked up again in the background: the loop never waits for it."""
    serving, port, peer = free_port(), free_port(), free_port()
    config = (
        echo("serving", serving)
        + f"connection: &out\n  accepter: tcp,127.0.0.1,{port}\n"
        + f"  connector: tcp,peerhost,{peer}\n"
    )
    refused = b"Device open failure: Value or file not found\r\n"
    with daemon(
        config, tmp_path, [serving], command=slow.command(PYSER2NET), start_timeout=WAIT
    ) as proc:
        # At start the daemon waits for the lookup (bounded), and the port
        # does not listen before the test lets the lookup go.
        assert wait_until(lambda: slow.waiting(proc.pid), WAIT), log_of(proc)
        assert not listening(port)
        assert released_until(slow, proc, "out: peerhost cannot be looked up"), log_of(proc)
        assert wait_until(lambda: listening(port), WAIT), log_of(proc)
        with connect(port) as first:
            assert recv_until_closed(first) == refused
        assert wait_until(lambda: logged(proc, r"out: .*cannot look up peerhost"), WAIT)
        # That failure started a lookup again, which waits on the file:
        # meanwhile the next client is answered all the same, and so is
        # the echo port.
        assert wait_until(lambda: slow.waiting(proc.pid), WAIT), log_of(proc)
        with connect(port) as second:
            assert recv_until_closed(second) == refused
        with connect(serving) as sock:
            round_trip(sock, b"still serving")
        assert slow.waiting(proc.pid)
        assert proc.poll() is None
    assert "Traceback" not in log_of(proc)


def test_attach_answers_its_control_socket_while_the_server_name_is_looked_up(
    tmp_path: Path, slow: SlowNames
) -> None:
    link, ctl = tmp_path / "ttyNAMED", tmp_path / "ctl"
    log_path = tmp_path / "attach.log"
    argv = PYSER2NET + ["attach", "socket://slowhost:4001", "--link", str(link), "-d"]
    argv += ["--group", "", "--control", str(ctl), "--connect", "always"]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            slow.command(argv), stdout=log, stderr=subprocess.STDOUT, cwd=str(ROOT)
        )
    proc.log_path = log_path  # type: ignore[attr-defined]
    try:
        assert wait_until(lambda: slow.waiting(proc.pid) and ctl.exists(), WAIT), log_of(proc)
        # The lookup waits; the control socket is answered meanwhile.
        answer = attach_control_status(ctl)
        assert "server: socket://slowhost:4001" in answer and "application: closed" in answer
        assert slow.waiting(proc.pid)
        # Let it go: the attempt fails like a refused connection, and is retried.
        assert released_until(slow, proc, "cannot reach slowhost"), log_of(proc)
        assert proc.poll() is None
    finally:
        stop_process(proc)
    assert "Traceback" not in log_of(proc)


class Driver:
    """``tests/lookupdriver.py`` in the namespace: a loop on a fake clock
    that looks ``slowhost`` up when told, and serves an echo socket."""

    def __init__(self, slow: SlowNames) -> None:
        script = str(ROOT / "tests" / "lookupdriver.py")
        self.proc = subprocess.Popen(
            slow.command([sys.executable, script]),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=str(ROOT),
        )
        self.echo = self.answer()["echo"]

    def tell(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command.encode() + b"\n")
        self.proc.stdin.flush()

    def answer(self) -> dict:
        """The next line the driver writes (bounded wait)."""
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], WAIT)
        assert ready, "the driver did not answer"
        line = self.proc.stdout.readline()
        assert line, f"the driver ended (status {self.proc.poll()})"
        return json.loads(line)

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        stop_process(self.proc)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture
def driver(slow: SlowNames) -> Iterator[Driver]:
    started = Driver(slow)
    yield started
    started.close()


def test_a_lookup_past_its_deadline_is_abandoned_while_the_loop_serves(
    slow: SlowNames, driver: Driver
) -> None:
    """The deadline is the daemon's own (30 s), reached by moving the
    loop's clock: the child, still waiting on the hosts file, is killed
    and reaped, no descriptor is left open, and the accepter's failure
    names the host; the loop served all along."""
    with connect(driver.echo) as sock:
        round_trip(sock, b"before")
        driver.tell("start")
        child = driver.answer()["child"]
        # The lookup waits, in the child and not in the loop's process.
        assert wait_until(lambda: slow.waiting_tasks(driver.proc.pid) == {child}, WAIT)
        sock.sendall(b"served")
        assert recv_exact(sock, 25) == b"served (while looking up)"
        assert slow.waiting(child)
        driver.tell("expire")
        report = driver.answer()
        assert (
            "p: cannot listen on tcp,slowhost,2000: cannot look up host 'slowhost': "
            "no answer within 30 s; retrying in 10 s, less often while the name is unknown"
        ) in report["log"], report["log"]
        assert report["reaped"] and report["children"] == []
        assert report["after"] == report["before"]
        assert not os.path.exists(f"/proc/{child}")
        assert not slow.waiting(driver.proc.pid)  # nobody was let go: the deadline did it
        round_trip(sock, b"after")


def test_a_lookup_waited_for_gives_up_at_its_deadline(slow: SlowNames, driver: Driver) -> None:
    """``lookup_now`` (the configuration reader's question at first start)
    waits for a child with a deadline, here of 1 s on the real clock: the
    test never lets the lookup go, and the answer comes, a failure."""
    driver.tell("now 1")
    report = driver.answer()
    assert report["answer"] == "no answer within 1 s"
    assert report["children"] == [] and report["after"] == report["before"]
    assert not slow.waiting(driver.proc.pid)


def test_an_accepter_name_that_cannot_be_found_is_looked_up_less_and_less_often(
    tmp_path: Path,
) -> None:
    """Each lookup is a process: while the hosts file lacks the name, the
    retries of ``accepter-retry-time: 1`` come after 1, 2, 4, 8 s..., so
    the lookups counted in the log over the test's window are bounded by
    its length; once the name is found, the port is tried again every
    second (the test holds it), and listens when it is let go."""
    names = SlowNames(tmp_path / "names", hosts="127.0.0.1 localhost\n")
    serving, port = free_port(), free_port()
    config = echo("serving", serving) + (
        f"connection: &named\n  accepter: tcp,ipv4,nohost,{port}\n  connector: echo\n"
        "  options:\n    accepter-retry-time: 1\n"
    )
    started = time.monotonic()
    command = names.command(PYSER2NET)
    with daemon(config, tmp_path, [serving], command=command, extra_args=["-l"]) as proc:
        # A window of about 10 s: n lookups, each after twice the wait
        # before, take 2**(n-1) - 1 seconds at least.
        time.sleep(10)
        lookups = log_of(proc).count("named: looking up nohost before listening")
        window = time.monotonic() - started
        assert 1 <= lookups <= math.log2(window + 1) + 1, log_of(proc)
        assert "cannot look up host 'nohost'" in log_of(proc)
        with connect(serving) as sock:
            round_trip(sock, b"served meanwhile")
        with socket.socket() as holder:
            holder.bind(("127.0.0.1", port))
            holder.listen(1)
            names.write_hosts("127.0.0.1 localhost\n127.0.0.1 nohost\n")
            in_use = rf"named: cannot listen on 127\.0\.0\.1:{port} \(tcp,ipv4,nohost,{port}\): "
            in_use += r"Address already in use.*; retrying every 1 s"
            assert wait_until(lambda: logged(proc, in_use), 60 + WAIT), log_of(proc)
        assert wait_until(lambda: listening(port), WAIT), log_of(proc)
        listening_line = rf"named: listening on 127\.0\.0\.1:{port} \(tcp,ipv4,nohost,{port}\), "
        assert logged(proc, listening_line + r"after \d+ failed attempts"), log_of(proc)
        with connect(port) as sock:
            round_trip(sock, b"found at last")
        assert proc.poll() is None
    assert "Traceback" not in log_of(proc)


def test_a_bare_host_word_at_start_is_looked_up_in_a_child(tmp_path: Path, slow: SlowNames) -> None:
    """``slowhost,PORT`` (no transport) makes the reader ask whether
    ``slowhost`` is a host or a mistyped layer.  At first start that
    question goes to a child with the lookup deadline: the daemon's own
    process never waits on the name server.  Once the test lets the
    lookups go (they fail), each word is the error it was, at its place,
    and the other port serves."""
    from pyser2net.config import read_config

    serving, bare, typo = free_port(), free_port(), free_port()
    config = (
        echo("serving", serving)
        + f"connection: &bare\n  accepter: slowhost,{bare}\n  connector: echo\n"
        + f"connection: &typo\n  accepter: telent,{typo}\n  connector: echo\n"
    )
    path = tmp_path / "ser2net.yaml"
    path.write_text(config)
    # What the reader says without any lookup: neither word is a host.
    expected = [str(issue) for issue in read_config(config, str(path)).issues]
    assert len(expected) == 2 and "unknown accepter layer 'telent'" in expected[1]
    log_path = tmp_path / "daemon.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            slow.command(PYSER2NET + ["-n", "-d", "-c", str(path)]),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=str(ROOT),
        )
    proc.log_path = log_path  # type: ignore[attr-defined]
    try:
        # Each word's lookup waits on the hosts file until the test lets
        # it go; whatever waits must be a child, never the daemon itself.
        seen = {"released": 0, "in_the_daemon": False}

        def let_lookups_go() -> bool:
            waiting = slow.waiting_tasks(proc.pid)
            seen["in_the_daemon"] |= proc.pid in waiting
            if waiting and slow.release():
                seen["released"] += 1
            return listening(serving)

        assert wait_until(let_lookups_go, 2 * WAIT), log_of(proc)
        assert seen["released"] >= 2 and not seen["in_the_daemon"], log_of(proc)
        with connect(serving) as sock:
            round_trip(sock, b"serving")
        assert wait_until(lambda: logged(proc, "1 connection listening; 2 connections"), WAIT)
        lines = log_of(proc).splitlines()
        for error in expected:
            assert any(line.endswith(f": {error}") for line in lines), log_of(proc)
        assert not listening(bare) and not listening(typo)
    finally:
        stop_process(proc)
    assert "Traceback" not in log_of(proc)


def test_a_bare_host_word_that_resolves_listens_on_its_address(tmp_path: Path) -> None:
    """The same question answered yes (the hosts file has the name): the
    bare ``slowhost,PORT`` is an accepter on that host."""
    names = SlowNames(tmp_path / "names", hosts="127.0.0.1 slowhost\n")
    port = free_port()
    config = f"connection: &bare\n  accepter: slowhost,{port}\n  connector: echo\n"
    with daemon(config, tmp_path, [port], command=names.command(PYSER2NET)) as proc:
        with connect(port) as sock:
            round_trip(sock, b"slowhost answers")
        assert logged(proc, rf"bare: listening on 127\.0\.0\.1:{port} \(slowhost,{port}\)")
    assert "Traceback" not in log_of(proc)


def ended(pid: int) -> bool:
    """Whether process ``pid`` runs no more (gone, or a zombie its new parent
    has not waited for)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_a_lookup_whose_parent_is_gone_ends_by_itself(slow: SlowNames, driver: Driver) -> None:
    """The child of a lookup with a 5 s deadline outlives its parent, killed
    while the lookup waits, only until its own alarm a second after the
    deadline: it is never left waiting on the name server for good."""
    driver.tell("now 5")
    pid = driver.proc.pid
    assert wait_until(lambda: bool(slow.waiting_tasks(pid) - {pid}), WAIT)
    (child,) = slow.waiting_tasks(pid)
    os.kill(pid, signal.SIGKILL)
    driver.proc.wait(timeout=WAIT)
    assert slow.waiting(child)  # orphaned, and still waiting
    assert wait_until(lambda: ended(child), WAIT)
