"""Trace files written by a running daemon must be the bytes pyser2net.runtime.trace produces.

The scenario (tests/fixtures/trace/scenario.json) is played against the real
ser2net for every mode, and the files it writes are compared with a replay
of the same steps through ``pyser2net.runtime.trace.TraceWriter``; timestamps are
normalised, and checked to lie within the run.  The same comparison runs
against pyser2net once its engine writes trace files.

Set PYSER2NET_RECORD_TRACE_FIXTURES=1 to store ser2net's files as the
fixtures the unit tests compare with.

Every step waits for its bytes to arrive at the far end before the next one
starts: each chunk is then one read() in the daemon, and hexdump lines
(which never span two reads) are deterministic.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import sys
import time
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

from pyser2net.runtime.trace import remote_text

from helpers import FIXTURES, connect, daemon, free_port, new_pty, recv_exact
from ser2net_helpers import SER2NET

_spec = importlib.util.spec_from_file_location(
    "tracescenario", FIXTURES / "trace" / "tracescenario.py"
)
assert _spec is not None and _spec.loader is not None
scenario = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(scenario)

needs_ser2net = pytest.mark.skipif(SER2NET is None, reason="ser2net is not installed")

CONFIG = (
    "connection: &trace\n"
    "  accepter: tcp,127.0.0.1,{port}\n"
    "  connector: serialdev,{dev},115200n81,local\n"
    "  options:\n"
    "{options}"
)

MODES = sorted(scenario.MODES)


def _wait_for_files(paths: List[Path], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not all(p.exists() for p in paths):
        time.sleep(0.02)


#: How far behind the test's clock a daemon's (coarse) clock may be, in seconds.
CLOCK_LAG = 0.05


def play(
    command: List[str], tmp_path: Path, mode: str
) -> Tuple[Dict[str, bytes], str, float, float]:
    """Run the scenario against a daemon; returns its files, the client address, the window."""
    traces = tmp_path / "traces"
    traces.mkdir()
    dev = new_pty()
    port = free_port()
    config = CONFIG.format(port=port, dev=dev.path, options=scenario.yaml_options(mode, traces))
    expected_files = [traces / name for name in scenario.file_names(mode)]
    sock: socket.socket
    try:
        with daemon(config, tmp_path, [port], command=command):
            started = time.time()
            sock = connect(port)
            remote = remote_text(sock.getsockname())
            _wait_for_files(expected_files)
            time.sleep(0.2)
            for step in scenario.STEPS[1:-1]:
                data = bytes.fromhex(step[1])
                if step[0] == "net":
                    sock.sendall(data)
                    assert dev.read(len(data), timeout=5) == data, "device did not get the data"
                else:
                    dev.write(data)
                    assert recv_exact(sock, len(data), timeout=5) == data, "client did not get it"
                time.sleep(0.05)
            sock.close()
            time.sleep(0.5)
            finished = time.time()
    finally:
        dev.close()
    files = {p.name: p.read_bytes() for p in expected_files if p.exists()}
    return files, remote, started, finished


def check(
    files: Dict[str, bytes], remote: str, started: float, finished: float, mode: str, tmp_path: Path
) -> None:
    replay_dir = tmp_path / "replay"
    replay_dir.mkdir()
    expected = scenario.replay(mode, replay_dir, remote)
    assert sorted(files) == sorted(expected)
    for name, content in files.items():
        for stamp in scenario.stamps(content):
            when = time.mktime(time.strptime(stamp.decode().strip(), "%Y/%m/%d %H:%M:%S"))
            # A stamp is cut to the second, and a daemon may read a coarse
            # clock that lags the test's by a few milliseconds.
            assert started - 1 - CLOCK_LAG <= when <= finished + 1, (
                f"{name}: stamp {stamp!r} outside the run"
            )
        assert scenario.normalise(content) == scenario.normalise(expected[name]), name


@needs_ser2net
@pytest.mark.parametrize("mode", MODES)
def test_ser2net_trace_files_match_formatter(tmp_path, mode):
    files, remote, started, finished = play([SER2NET or "ser2net"], tmp_path, mode)
    if os.environ.get("PYSER2NET_RECORD_TRACE_FIXTURES"):
        for name, content in files.items():
            scenario.fixture_path(mode, name).write_bytes(content)
    check(files, remote, started, finished, mode, tmp_path)


@pytest.mark.parametrize("mode", MODES)
def test_pyser2net_trace_files_match_formatter(tmp_path, mode):
    files, remote, started, finished = play([sys.executable, "-m", "pyser2net"], tmp_path, mode)
    check(files, remote, started, finished, mode, tmp_path)


@pytest.mark.parametrize("who", ["pyser2net", "ser2net"])
def test_the_trace_is_on_disk_while_the_client_is_connected(
    who: str, tmp_path: Path, pty_pair
) -> None:
    """ser2net 4.4 flushes trace files on every write (0a2277b), so that
    ``tail -f`` shows a live session; pyser2net writes without a buffer."""
    if who == "ser2net" and SER2NET is None:
        pytest.skip("ser2net is not installed")
    trace = tmp_path / "read.trc"
    port = free_port()
    options = f"    trace-read: {trace}\n    trace-write: {trace}\n"
    config = CONFIG.format(port=port, dev=pty_pair.path, options=options)
    command = [str(SER2NET)] if who == "ser2net" else None
    with daemon(config, tmp_path, [port], command=command):
        with connect(port) as sock:
            time.sleep(0.2)
            pty_pair.write(b"from the device")
            assert recv_exact(sock, 15) == b"from the device"
            sock.sendall(b"from the client")
            assert pty_pair.read(15) == b"from the client"
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                if trace.exists() and trace.read_bytes() == b"from the devicefrom the client":
                    break
                time.sleep(0.02)
            assert trace.read_bytes() == b"from the devicefrom the client"
