"""serialtcp against serialtcp.py itself, when a copy is at hand.

serialtcp.py is a single script, not a package: it is not installed here.
Point ``SERIALTCP_PY`` at a copy (it needs pyserial) to run these; without
it they are skipped.  pyser2net takes one end of the cable and serialtcp.py
the other, in both roles, with an echo service behind the far end.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator, List

import pytest

from helpers import connect, daemon, free_port, stop_process, wait_until
from linkcable import Cable
from tunnel import EchoService, echoing_client, kill, random_bytes, round_trip, until_closed

SCRIPT = os.environ.get("SERIALTCP_PY")

pytestmark = pytest.mark.skipif(
    not SCRIPT or not Path(SCRIPT).is_file(),
    reason="serialtcp.py is not at hand (set SERIALTCP_PY to its path)",
)


def script(args: List[str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(SCRIPT), *args], stdout=open(log, "wb"), stderr=subprocess.STDOUT
    )


@pytest.fixture
def cable() -> Iterator[Cable]:
    c = Cable()
    yield c
    c.close()


@pytest.mark.parametrize("refusing", [False, True])
def test_pyser2net_near_serialtcp_py_far(tmp_path, cable, refusing):
    service = EchoService()
    port = free_port()
    target = free_port() if refusing else service.port
    far = script(["--client", f"127.0.0.1:{target}", cable.b, "115200"], tmp_path / "far.log")
    config = (
        f"connection: &near\n  accepter: tcp,127.0.0.1,{port}\n"
        f"  connector: serialtcp(server),serialdev,{cable.a},115200n81,local\n"
    )
    try:
        with daemon(config, tmp_path, [port]):
            for n in range(3):
                if refusing:
                    with connect(port) as sock:
                        assert until_closed(sock, 15) == (
                            b"Device open failure: Connection refused\r\n"
                        )
                else:
                    data = random_bytes(10240, n) + b"\x1f\x1f\x1fD\x1fs\x1f"
                    assert round_trip(port, data, timeout=30) == data
                time.sleep(1.5)  # serialtcp.py synchronises again between sessions
    finally:
        stop_process(far)
        service.close()


@pytest.mark.parametrize("refusing", [False, True])
def test_serialtcp_py_near_pyser2net_far(tmp_path, cable, refusing):
    service = EchoService()
    port, admin = free_port(), free_port()
    target = free_port() if refusing else service.port
    config = (
        f"connection: &far\n  accepter: conacc,serialtcp(client),serialdev,{cable.b},"
        f"115200n81,local\n  connector: tcp,127.0.0.1,{target}\n"
        f"admin:\n  accepter: tcp,127.0.0.1,{admin}\n"
    )
    log = tmp_path / "near.log"
    try:
        with daemon(config, tmp_path, [admin]):
            near = script(["--server", f"127.0.0.1:{port}", cable.a, "115200"], log)
            try:
                assert wait_until(lambda: "waiting for connection" in log.read_text(), 20)
                for n in range(3):
                    if refusing:
                        with connect(port) as sock:
                            assert until_closed(sock, 15) == b""
                    else:
                        data = random_bytes(10240, n) + b"\x1f\x1f\x1fD\x1fs\x1f"
                        assert round_trip(port, data, timeout=30) == data
                    time.sleep(1.5)
                if refusing:
                    assert "Connection failed on the client side" in log.read_text()
            finally:
                stop_process(near)
    finally:
        service.close()


def test_serialtcp_py_far_restarting_mid_stream(tmp_path, cable):
    """serialtcp.py at the far end is killed in a session and started
    again: pyser2net's client sees the close, and the next one works."""
    service = EchoService()
    port = free_port()
    far_args = ["--client", f"127.0.0.1:{service.port}", cable.b, "115200"]
    far = script(far_args, tmp_path / "far.log")
    config = (
        f"connection: &near\n  accepter: tcp,127.0.0.1,{port}\n"
        f"  connector: serialtcp(server),serialdev,{cable.a},115200n81,local\n"
    )
    try:
        with daemon(config, tmp_path, [port]):
            sock = echoing_client(port)
            stop_process(far)
            far = script(far_args, tmp_path / "far2.log")
            until_closed(sock, 15)  # the new far end's greeting ends the session
            sock.close()
            assert round_trip(port, b"after the restart", timeout=30) == b"after the restart"
    finally:
        stop_process(far)
        service.close()


def test_pyser2net_far_restarting_mid_stream_under_serialtcp_py(tmp_path, cable):
    """pyser2net at the far end is killed in a session and started again:
    serialtcp.py's client sees the close, and the next one works."""
    service = EchoService()
    port, admin = free_port(), free_port()
    config = (
        f"connection: &far\n  accepter: conacc,serialtcp(client),serialdev,{cable.b},"
        f"115200n81,local\n  connector: tcp,127.0.0.1,{service.port}\n"
        f"admin:\n  accepter: tcp,127.0.0.1,{admin}\n"
    )
    log = tmp_path / "near.log"
    near = script(["--server", f"127.0.0.1:{port}", cable.a, "115200"], log)
    try:
        with daemon(config, tmp_path, [admin]) as first:
            assert wait_until(lambda: "waiting for connection" in log.read_text(), 20)
            sock = echoing_client(port)
            kill(first)
        with daemon(config, tmp_path, [admin]):
            until_closed(sock, 15)
            sock.close()
            assert round_trip(port, b"after the restart", timeout=30) == b"after the restart"
    finally:
        stop_process(near)
        service.close()
