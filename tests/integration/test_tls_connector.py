"""ssl connectors: a port pushed to a TLS service on loopback (Python's ssl,
certificates made at test time), through the real daemon.

The same bytes as ser2net are checked in tests/compat; here what only
pyser2net does: no client certificate unless key= names one, errors that
name the file, and SIGHUP reading the CA again.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

from helpers import (
    ROOT,
    daemon,
    free_port,
    recv_exact,
    recv_until_closed,
    wait_until,
)
from tlsfiles import TlsFiles, TlsService

ALL = bytes(range(256))


def push_config(port: int, ssl_options: str, service_port: int, other: int = 0) -> str:
    text = (
        "connection: &push\n"
        f"  accepter: tcp,127.0.0.1,{port}\n"
        f"  connector: ssl({ssl_options}),tcp,127.0.0.1,{service_port}\n"
    )
    if other:
        text += f"connection: &other\n  accepter: tcp,127.0.0.1,{other}\n  connector: echo\n"
    return text


def log_of(proc: subprocess.Popen) -> str:
    return Path(proc.log_path).read_text(errors="replace")  # type: ignore[attr-defined]


def round_trip(port: int, greeting: bytes = b"") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
        got = recv_exact(client, len(greeting), timeout=10) if greeting else b""
        client.sendall(b"\xff" + ALL)
        return got + recv_exact(client, 257, timeout=10)


def test_without_key_no_client_certificate_is_shown(tmp_path: Path) -> None:
    files = TlsFiles(tmp_path / "tls")
    port = free_port()
    with TlsService(files.server, b"\xffhi") as service:
        config = push_config(port, f"CA={files.ca_pem}", service.port)
        with daemon(config, tmp_path, [port]) as proc:
            assert round_trip(port, b"\xffhi") == b"\xffhi\xff" + ALL
            assert wait_until(lambda: "TLS session with 127.0.0.1" in log_of(proc), timeout=5)
        assert bytes(service.received[0]) == b"\xff" + ALL


def test_a_client_certificate_when_the_service_asks_for_one(tmp_path: Path) -> None:
    files = TlsFiles(tmp_path / "tls")
    me = files.user("ser2net-push")
    port = free_port()
    with TlsService(files.server) as service:
        import ssl

        service.context.verify_mode = ssl.CERT_REQUIRED
        service.context.load_verify_locations(cafile=str(files.ca_pem))
        config = push_config(port, f"CA={files.ca_pem},key={me.key},cert={me.cert}", service.port)
        with daemon(config, tmp_path, [port]):
            assert round_trip(port) == b"\xff" + ALL


def test_wrong_ca_is_refused_with_the_reason_and_others_keep_working(tmp_path: Path) -> None:
    files = TlsFiles(tmp_path / "tls")
    files.other_ca("stranger")
    port, other = free_port(), free_port()
    with TlsService(files.server) as service:
        config = push_config(port, f"CA={files.root}/stranger.pem", service.port, other)
        with daemon(config, tmp_path, [port, other]) as proc:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
                assert recv_until_closed(client, timeout=10) == (
                    b"Device open failure: Certificate is not valid\r\n"
                )
            assert round_trip(other) == b"\xff" + ALL
            text = log_of(proc)
        assert all(not got for got in service.received)  # nothing for an untrusted server
    assert re.search(
        r"push: device open failure: ssl\(CA=.*\),tcp,127\.0\.0\.1,\d+: "
        r"server certificate did not verify: unable to get local issuer certificate",
        text,
    ), text


def test_a_missing_ca_names_the_file_and_the_line(tmp_path: Path) -> None:
    port, other = free_port(), free_port()
    config = push_config(port, f"CA={tmp_path}/none.pem", 9, other)
    with daemon(config, tmp_path, [other]) as proc:
        assert wait_until(lambda: "none.pem" in log_of(proc), timeout=5)
        text = log_of(proc)
    assert re.search(
        rf"config\d+\.yaml:1:\d+: push: cannot read CA file {tmp_path}/none\.pem: "
        "No such file or directory",
        text,
    ), text
    assert "push: listening" not in text


def test_check_loads_the_connector_s_files(tmp_path: Path) -> None:
    path = tmp_path / "push.yaml"
    path.write_text(push_config(2000, f"CA={tmp_path}/none.pem", 2001))
    done = subprocess.run(
        [sys.executable, "-m", "pyser2net", "--check", "-c", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=str(ROOT),
    )
    assert done.returncode == 1
    assert f"{path}:1:13: push: cannot read CA file" in done.stderr
    assert f"cannot read CA file {tmp_path}/none.pem" in done.stderr


def test_sighup_reads_the_ca_again(tmp_path: Path) -> None:
    files = TlsFiles(tmp_path / "tls")
    stranger = files.other_ca("stranger")
    del stranger
    ca = tmp_path / "trusted.pem"
    shutil.copy(files.root / "stranger.pem", ca)
    port = free_port()
    with TlsService(files.server) as service:
        config = push_config(port, f"CA={ca}", service.port)
        with daemon(config, tmp_path, [port]) as proc:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
                assert b"Certificate is not valid" in recv_until_closed(client, timeout=10)
            shutil.copy(files.ca_pem, ca)
            os.kill(proc.pid, signal.SIGHUP)
            assert wait_until(lambda: "reloaded" in log_of(proc), timeout=30)
            assert round_trip(port) == b"\xff" + ALL


def test_sighup_leaves_the_session_that_is_up_alone(tmp_path: Path) -> None:
    """A CA that no longer trusts the service after a reload refuses the next
    session; the one already up goes on."""
    files = TlsFiles(tmp_path / "tls")
    files.other_ca("stranger")
    ca = tmp_path / "trusted.pem"
    shutil.copy(files.ca_pem, ca)
    port = free_port()
    with TlsService(files.server) as service:
        config = push_config(port, f"CA={ca}", service.port)
        with daemon(config, tmp_path, [port]) as proc:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
                client.sendall(b"\xffbefore")
                assert recv_exact(client, 7, timeout=10) == b"\xffbefore"
                shutil.copy(files.root / "stranger.pem", ca)
                os.kill(proc.pid, signal.SIGHUP)
                assert wait_until(lambda: "reloaded" in log_of(proc), timeout=5)
                client.sendall(b"\xffafter")
                assert recv_exact(client, 6, timeout=10) == b"\xffafter"
            # The device (and its TLS session) closes once the client is gone.
            assert wait_until(
                lambda: "push: closed ssl(" in log_of(proc).split("reloaded", 1)[1], timeout=5
            )
            with socket.create_connection(("127.0.0.1", port), timeout=5) as late:
                assert recv_until_closed(late, timeout=10) == (
                    b"Device open failure: Certificate is not valid\r\n"
                )
