"""-l -l: a line per busy port and second, from the counters the data path keeps."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict

from fakeloop import FakeLoop

from pyser2net.runtime.flowlog import FlowLog
from pyser2net.runtime.logsinks import TRAFFIC


@dataclass(eq=False)
class Counters:
    bytes_to_device: int = 0
    bytes_from_device: int = 0


def test_one_line_per_busy_port_and_second_and_a_replaced_port_starts_afresh(caplog):
    loop = FakeLoop()
    ports: Dict[str, Counters] = {"a": Counters(), "b": Counters(5, 5)}
    flow = FlowLog(loop.reactor, lambda: ports.items())
    with caplog.at_level(TRAFFIC, logger="pyser2net"):
        flow.start()
        ports["a"].bytes_to_device += 100
        ports["a"].bytes_from_device += 40
        loop.advance(1.0)
        loop.advance(1.0)  # nothing moved: nothing said
        ports["b"] = Counters(7, 0)  # reloaded: a new port object, counting from zero
        loop.advance(0.5)  # not a second yet
        loop.advance(0.5)
        ports["a"].bytes_to_device = 3  # the device closed: its counters start again
        loop.advance(1.0)
        flow.stop()
        ports["a"].bytes_to_device += 1
        loop.advance(5.0)
    assert [r.getMessage() for r in caplog.records] == [
        "a: data flow: 100 bytes to the device, 40 bytes from the device in 1.00 s",
        "b: data flow: 7 bytes to the device, 0 bytes from the device in 1.00 s",
        "a: data flow: 3 bytes to the device, 0 bytes from the device in 1.00 s",
    ]
    assert all(r.levelno == TRAFFIC for r in caplog.records)
    loop.close()
