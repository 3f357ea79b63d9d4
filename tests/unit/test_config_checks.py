"""Conflicts only a whole configuration shows: two accepters on one port."""

from __future__ import annotations

from typing import List

import pytest

from pyser2net.config import ConfigError, load_text

CONN = "connection: &{name}\n  accepter: {accepter}\n  connector: echo\n"


def problems(*accepters: str, extra: str = "") -> List[str]:
    text = "".join(CONN.format(name=f"c{i}", accepter=a) for i, a in enumerate(accepters))
    try:
        load_text(text + extra, "t.yaml")
    except ConfigError as exc:
        return [str(i) for i in exc.issues]
    return []


@pytest.mark.parametrize(
    "first,second",
    [
        ("tcp,127.0.0.1,2000", "tcp,127.0.0.1,2000"),
        ("tcp,127.0.0.1,2000", "telnet(rfc2217),127.0.0.1,2000"),
        ("tcp,2000", "tcp,127.0.0.1,2000"),
        ("2000", "tcp,::1,2000"),
        ("tcp,ipv4,2000", "tcp,127.0.0.1,2000"),
        ("tcp,ipv6,2000", "tcp,::1,2000"),
        ("tcp,::1,2000", "tcp,0:0::1,2000"),
        ("udp,2000", "udp,127.0.0.1,2000"),
        ("tcp,localhost,2000", "tcp,LOCALHOST,2000"),
    ],
)
def test_same_address_and_port_is_an_error(first: str, second: str) -> None:
    (problem,) = problems(first, second)
    assert problem.startswith("t.yaml:4:13: connection c1: ")
    assert problem.endswith(
        "is already taken by connection c0 (at t.yaml:1:13); two "
        "accepters cannot listen on the same address and port"
    )


@pytest.mark.parametrize(
    "first,second",
    [
        ("tcp,2000", "udp,2000"),
        ("tcp,ipv4,2000", "tcp,ipv6,2000"),
        ("tcp,ipv6,2000", "tcp,127.0.0.1,2000"),
        ("tcp,ipv4,2000", "tcp,::1,2000"),
        ("tcp,127.0.0.1,2000", "tcp,127.0.0.2,2000"),
        ("tcp,127.0.0.1,0", "tcp,127.0.0.1,0"),
        ("tcp,127.0.0.1,2000", "tcp,127.0.0.1,2001"),
    ],
)
def test_different_sockets_are_no_conflict(first: str, second: str) -> None:
    assert problems(first, second) == []


def test_a_disabled_connection_does_not_listen() -> None:
    text = (
        CONN.format(name="a", accepter="tcp,2000")
        + CONN.format(name="b", accepter="tcp,2000")
        + "  enable: off\n"
    )
    assert load_text(text, "t.yaml").connections[1].enable is False


def test_admin_and_rotator_ports_count() -> None:
    admin = "admin:\n  accepter: tcp,127.0.0.1,2000\n"
    assert (
        "the admin port: tcp port 2000 on 127.0.0.1 is already taken by connection c0"
        in problems("tcp,2000", extra=admin)[0]
    )
    rotator = "rotator: &r\n  accepter: tcp,2000\n  connections: [*c0]\n"
    assert (
        "rotator r: tcp port 2000 is already taken by connection c0"
        in problems("tcp,2000", extra=rotator)[0]
    )


def test_legacy_lines_on_one_address() -> None:
    with pytest.raises(ConfigError) as info:
        load_text("127.0.0.1,2000:raw:0:/dev/a:\nipv4,127.0.0.1,2000:raw:0:/dev/b:\n", "t.conf")
    assert str(info.value) == (
        "t.conf:2:1: connection ipv4,127.0.0.1,2000: tcp port 2000 on 127.0.0.1 is already "
        "taken by connection 127.0.0.1,2000 (at t.conf:1:1); two accepters cannot listen on "
        "the same address and port"
    )


def test_the_same_device_twice_is_allowed() -> None:
    """ser2net serves both and turns a client away while the other has it open."""
    text = (
        "connection: &a\n  accepter: tcp,2000\n  connector: serialdev,/dev/ttyS0,9600\n"
        "connection: &b\n  accepter: tcp,2001\n  connector: serialdev,/dev/ttyS0,9600\n"
    )
    assert len(load_text(text, "t.yaml").connections) == 2
