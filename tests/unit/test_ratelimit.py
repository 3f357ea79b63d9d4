"""Repeated log lines are kept to one a minute, by message or by a key."""

from __future__ import annotations

import logging

from fakeloop import FakeClock

from pyser2net.runtime.ratelimit import RateLimitedLog


def messages(caplog) -> list:
    return [(r.levelno, r.getMessage()) for r in caplog.records]


def test_same_key_once_a_minute_then_the_count(caplog):
    clock = FakeClock()
    errors = RateLimitedLog("c1: ", clock)
    with caplog.at_level(logging.DEBUG, logger="pyser2net"):
        for port in (5000, 5001, 5002):
            errors.log(
                f"refused 10.0.0.1,{port}: port in use", key="refused 10.0.0.1", level=logging.INFO
            )
        errors.log("refused 10.0.0.2,6000: port in use", key="refused 10.0.0.2", level=logging.INFO)
        errors.log("device error: gone")
        errors.log("device error: gone")
        clock.now += RateLimitedLog.INTERVAL
        errors.log("refused 10.0.0.1,5003: port in use", key="refused 10.0.0.1", level=logging.INFO)
        errors.log("device error: gone")
    assert messages(caplog) == [
        (logging.INFO, "c1: refused 10.0.0.1,5000: port in use"),
        (logging.INFO, "c1: refused 10.0.0.2,6000: port in use"),
        (logging.ERROR, "c1: device error: gone"),
        (logging.INFO, "c1: refused 10.0.0.1,5003: port in use (repeated 2 more times)"),
        (logging.ERROR, "c1: device error: gone (repeated 1 more times)"),
    ]
