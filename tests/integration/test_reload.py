"""SIGHUP and the admin ``reload``: new ports start, nothing unchanged is disturbed."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from helpers import (
    connect,
    daemon,
    free_port,
    listening,
    recv_exact,
    recv_until_closed,
    wait_until,
)

#: Reloads read the file in a child process: on a busy machine its start
#: alone can take seconds.
READ_WAIT = 30.0


def echo(name: str, port: int, extra: str = "") -> str:
    return f"connection: &{name}\n  accepter: tcp,127.0.0.1,{port}\n  connector: echo\n{extra}"


def serial(name: str, port: int, dev: str) -> str:
    return (
        f"connection: &{name}\n  accepter: tcp,127.0.0.1,{port}\n"
        f"  connector: serialdev,{dev},9600n81,local\n"
    )


def yaml_config(*blocks: str) -> str:
    return "%YAML 1.1\n---\n" + "".join(blocks)


def config_path(tmp_path: Path) -> Path:
    """The file helpers.daemon wrote (it is the only config*.yaml there)."""
    (path,) = sorted(tmp_path.glob("config*.yaml"))
    return path


def hup(proc, path: Path, text: str) -> None:
    path.write_text(text)
    os.kill(proc.pid, signal.SIGHUP)


def test_sighup_adds_a_port_without_disturbing_a_session(tmp_path, pty_pair):
    base, added = free_port(), free_port()
    with daemon(yaml_config(serial("dev", base, pty_pair.path)), tmp_path, [base]) as proc:
        with connect(base) as sock:
            sock.sendall(b"before")
            assert pty_pair.read(6) == b"before"
            hup(
                proc,
                config_path(tmp_path),
                yaml_config(serial("dev", base, pty_pair.path), echo("new", added)),
            )
            assert wait_until(lambda: listening(added), READ_WAIT)
            # The session goes on, byte for byte, both ways.
            payload = bytes(range(256)) * 16
            sock.sendall(payload)
            assert pty_pair.read(len(payload)) == payload
            pty_pair.write(payload)
            assert recv_exact(sock, len(payload)) == payload
            with connect(added) as other:
                other.sendall(b"hi")
                assert recv_exact(other, 2) == b"hi"
        assert proc.poll() is None


def test_sighup_removes_a_port_after_its_client_leaves(tmp_path):
    keep, gone = free_port(), free_port()
    with daemon(
        yaml_config(echo("keep", keep), echo("gone", gone)), tmp_path, [keep, gone]
    ) as proc:
        with connect(gone) as sock:
            hup(proc, config_path(tmp_path), yaml_config(echo("keep", keep)))
            assert wait_until(lambda: not listening(gone), READ_WAIT)
            # ser2net(8): an in-use connection goes when its client leaves.
            sock.sendall(b"still here")
            assert recv_exact(sock, 10) == b"still here"
        assert listening(keep)
        with connect(keep) as sock:
            sock.sendall(b"k")
            assert recv_exact(sock, 1) == b"k"


def test_changed_port_applies_when_idle(tmp_path):
    name_port, moved = free_port(), free_port()
    with daemon(yaml_config(echo("a", name_port)), tmp_path, [name_port]) as proc:
        with connect(name_port) as sock:
            hup(proc, config_path(tmp_path), yaml_config(echo("a", moved)))
            time.sleep(0.5)
            assert not listening(moved)  # the client still uses the old settings
            sock.sendall(b"old")
            assert recv_exact(sock, 3) == b"old"
        assert wait_until(lambda: listening(moved), READ_WAIT)
        assert not listening(name_port)


def test_enable_off_kicks_clients(tmp_path):
    port = free_port()
    with daemon(yaml_config(echo("a", port)), tmp_path, [port]) as proc:
        with connect(port) as sock:
            hup(proc, config_path(tmp_path), yaml_config(echo("a", port, "  enable: off\n")))
            assert recv_until_closed(sock, timeout=5) == b""
        assert wait_until(lambda: not listening(port), READ_WAIT)


def test_bad_config_keeps_the_old_one(tmp_path):
    port = free_port()
    with daemon(yaml_config(echo("a", port)), tmp_path, [port]) as proc:
        with connect(port) as sock:
            hup(proc, config_path(tmp_path), "connection: &x\n  accepter: [[[\n")
            assert wait_until(lambda: "reload failed" in daemon_log(tmp_path), READ_WAIT)
            assert proc.poll() is None
            sock.sendall(b"alive")
            assert recv_exact(sock, 5) == b"alive"
        assert listening(port)


def test_signals_during_reloads_are_not_lost(tmp_path):
    ports = [free_port() for _ in range(4)]
    with daemon(yaml_config(echo("p0", ports[0])), tmp_path, [ports[0]]) as proc:
        path = config_path(tmp_path)
        for i in range(1, 4):
            hup(proc, path, yaml_config(*(echo(f"p{j}", ports[j]) for j in range(i + 1))))
        assert wait_until(lambda: all(listening(p) for p in ports), READ_WAIT)
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


def daemon_log(tmp_path: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in tmp_path.glob("daemon-*.log"))


def test_reload_applies_the_valid_part_of_a_file_with_errors(tmp_path):
    """As ser2net: new good connections start; one whose new definition is bad stops."""
    keep, broken, added = free_port(), free_port(), free_port()
    with daemon(
        yaml_config(echo("keep", keep), echo("broken", broken)), tmp_path, [keep, broken]
    ) as proc:
        with connect(keep) as sock:
            hup(
                proc,
                config_path(tmp_path),
                yaml_config(
                    echo("keep", keep),
                    echo("broken", broken, "  options:\n    kickoldusr: 1\n"),
                    echo("added", added),
                ),
            )
            assert wait_until(lambda: listening(added), READ_WAIT)
            assert wait_until(lambda: not listening(broken), READ_WAIT)
            sock.sendall(b"undisturbed")
            assert recv_exact(sock, 11) == b"undisturbed"
        log = daemon_log(tmp_path)
        assert f"{config_path(tmp_path)}:10:5: unknown option 'kickoldusr'" in log
        assert "reload: broken stopped: its new definition has errors" in log
        assert proc.poll() is None


def test_reload_of_an_empty_or_all_bad_file_keeps_the_running_configuration(tmp_path):
    port = free_port()
    with daemon(yaml_config(echo("a", port)), tmp_path, [port]) as proc:
        path = config_path(tmp_path)
        hup(proc, path, "")
        assert wait_until(lambda: "reload failed (" in daemon_log(tmp_path), READ_WAIT)
        hup(proc, path, yaml_config(echo("a", port, "  timeout: soon\n")))
        assert wait_until(
            lambda: "reload failed (it has no valid connection)" in daemon_log(tmp_path),
            READ_WAIT,
        )
        assert listening(port)
        with connect(port) as sock:
            sock.sendall(b"still")
            assert recv_exact(sock, 5) == b"still"
        assert proc.poll() is None


def test_strict_reload_with_an_error_changes_nothing(tmp_path):
    port, added = free_port(), free_port()
    with daemon(yaml_config(echo("a", port)), tmp_path, [port], extra_args=["--strict"]) as proc:
        hup(
            proc,
            config_path(tmp_path),
            yaml_config(
                echo("a", port), echo("b", added), echo("c", free_port(), "  enable: maybe\n")
            ),
        )
        assert wait_until(
            lambda: "reload failed (it has errors and --strict is given)" in daemon_log(tmp_path),
            READ_WAIT,
        )
        assert not listening(added)
        assert proc.poll() is None


def test_reload_of_an_unreadable_file_keeps_the_running_configuration(tmp_path):
    port = free_port()
    with daemon(yaml_config(echo("a", port)), tmp_path, [port]) as proc:
        path = config_path(tmp_path)
        path.unlink()
        path.mkdir()  # a directory where the file was
        os.kill(proc.pid, signal.SIGHUP)
        assert wait_until(
            lambda: "reload failed (it cannot be read)" in daemon_log(tmp_path), READ_WAIT
        )
        with connect(port) as sock:
            sock.sendall(b"still")
            assert recv_exact(sock, 5) == b"still"
        assert proc.poll() is None


#: Connections of the large file: reading them takes the reader seconds.
MANY = 8000
#: How long an echo on the serving port may take while the file is read.
ECHO_BOUND = 1.5


def test_serving_ports_keep_answering_while_a_large_file_is_read(tmp_path):
    # The file holds many (disabled) connections besides the echo port; a
    # reload reads it all again.  The echo port must answer throughout,
    # each byte within ECHO_BOUND, though the reading takes far longer.
    port, added = free_port(), free_port()
    bulk = "".join(
        f"connection: &d{i}\n  accepter: tcp,127.0.0.1,{20000 + i}\n  enable: off\n"
        "  connector: echo\n"
        for i in range(MANY)
    )
    config = yaml_config(echo("probe", port), bulk)
    with daemon(config, tmp_path, [port], start_timeout=60) as proc:
        with connect(port) as sock:
            # The port listens before the daemon has set up the rest: wait
            # until it serves.
            sock.sendall(b"ready")
            assert recv_exact(sock, 5, timeout=60) == b"ready"
            hup(
                proc,
                config_path(tmp_path),
                yaml_config(echo("probe", port), bulk, echo("added", added)),
            )
            probes, worst = 0, 0.0
            deadline = time.monotonic() + 120
            while not listening(added) and time.monotonic() < deadline:
                sent = time.monotonic()
                sock.sendall(b"p")
                assert recv_exact(sock, 1, timeout=ECHO_BOUND) == b"p", (
                    f"no echo within {ECHO_BOUND} s during the reload"
                )
                probes += 1
                worst = max(worst, time.monotonic() - sent)
                time.sleep(0.02)
            assert listening(added)
            assert probes > 10
            print(f"{probes} echoes during the reload, the slowest in {worst:.3f} s")
        # The summary line follows the new port's start by a moment.
        reloaded = "configuration reloaded: 1 new, 0 removed, 0 changed"
        assert wait_until(lambda: reloaded in daemon_log(tmp_path), timeout=30)
        assert proc.poll() is None
