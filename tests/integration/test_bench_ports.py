"""The benchmark picks free ports and the daemon binds them a moment later:
a port another process binds in between must not be taken for the daemon's
(bytes from a stranger, a start-up that "succeeds"), and the round runs
again on other ports."""

from __future__ import annotations

import socket
import sys
from dataclasses import replace
from pathlib import Path
from typing import Iterator, List

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import daemons  # noqa: E402
import run  # noqa: E402
import scenarios  # noqa: E402

TINY = replace(run.QUICK, farm_ports=3, farm_seconds=0.3, startup_ports=3)


@pytest.fixture
def stranger() -> Iterator[socket.socket]:
    """Another process's listener, on a port the next pick will return."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    yield sock
    sock.close()


def steal_first_pick(monkeypatch: pytest.MonkeyPatch, port: int) -> List[List[int]]:
    picks: List[List[int]] = []
    real = scenarios.free_ports

    def free_ports(count: int) -> List[int]:
        ports = real(count)
        if not picks:
            ports[0] = port  # bound by someone else between the pick and the start
        picks.append(ports)
        return ports

    monkeypatch.setattr(scenarios, "free_ports", free_ports)
    return picks


@pytest.mark.parametrize("name", ["farm", "startup"])
def test_a_port_taken_by_another_process_reruns_the_round(
    name: str, stranger: socket.socket, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    taken = stranger.getsockname()[1]
    picks = steal_first_pick(monkeypatch, taken)
    records = run.run_one(name, [daemons.pyser2net_target()], 1, 1, TINY)
    assert [r.get("error") for r in records] == [None]
    assert len(picks) == 2 and taken not in picks[1]
    log = capsys.readouterr().err
    assert f"port {taken} (of 1 taken) is held by another process" in log
    assert "running it again on other ports" in log


def test_a_port_that_stays_taken_fails_the_round_with_the_reason(
    stranger: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken = stranger.getsockname()[1]
    monkeypatch.setattr(scenarios, "free_ports", lambda count: [taken])
    small = replace(TINY, farm_ports=1)
    records = run.run_one("farm", [daemons.pyser2net_target()], 1, 1, small)
    error = records[0]["error"]
    assert error.startswith("PortTaken: pyser2net: port ")
    assert "held by another process" in error
