"""Admission: remaddr first, then max-connections, with or without kickolduser."""

from __future__ import annotations

from pyser2net.runtime.admission import (
    ACCESS_DENIED,
    PORT_IN_USE,
    Verdict,
    admit,
    open_failure,
)

LOCAL = ("127.0.0.1", 40000)
ONLY_LOCAL = [(["127.0.0.1"], 0)]


def decide(active, *, allowed=(), max_connections=1, kickolduser=False, addr=LOCAL):
    return admit(
        addr,
        active,
        allowed=list(allowed),
        max_connections=max_connections,
        kickolduser=kickolduser,
    )


def test_room_left_admits():
    assert decide([]) == Verdict()
    assert decide(["a"], max_connections=2) == Verdict()


def test_a_full_port_refuses_with_ser2net_s_words():
    verdict = decide(["a"])
    assert verdict.refuse == PORT_IN_USE == b"Port already in use\r\n"
    assert verdict.kick is None
    assert verdict.kind == "max-connections"  # the metrics' reason label


def test_kickolduser_drops_the_oldest_instead():
    assert decide(["old", "new"], max_connections=2, kickolduser=True) == Verdict(kick="old")


def test_remaddr_is_checked_before_anybody_is_kicked():
    verdict = decide(["old"], allowed=ONLY_LOCAL, kickolduser=True, addr=("10.1.2.3", 5))
    assert verdict.refuse == ACCESS_DENIED and verdict.kick is None
    assert verdict.kind == "remaddr"
    assert decide([], allowed=ONLY_LOCAL, addr=("::ffff:127.0.0.1", 5, 0, 0)) == Verdict()


def test_a_remaddr_port_must_match():
    allowed = [(["127.0.0.1"], 4000)]
    assert decide([], allowed=allowed, addr=("127.0.0.1", 4000)) == Verdict()
    assert decide([], allowed=allowed, addr=("127.0.0.1", 4001)).refuse == ACCESS_DENIED


def test_open_failure_text():
    assert open_failure("Value or file not found") == (
        b"Device open failure: Value or file not found\r\n"
    )
