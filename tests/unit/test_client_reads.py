"""How much of a client one read takes: a telnet client's reads are
smaller, so that payload dense in 0xFF keeps each loop turn short; every
byte still arrives, in order."""

from __future__ import annotations

import random
import socket

from pyser2net.config import load_text
from pyser2net.runtime.client import TELNET_READ_LIMIT, Client, ClientLimits
from pyser2net.runtime.layers import client_stack
from pyser2net.runtime.reactor import Reactor


class Owner:
    """Takes what the client passes on (the port's part of ``ClientOwner``)."""

    def __init__(self) -> None:
        self.chunks: list = []

    def to_device(self, data: bytes, record: bool = True) -> None:
        self.chunks.append(bytes(data))

    def client_event(self, client, event) -> None:
        pass

    def client_lost(self, client, reason) -> None:
        raise AssertionError(f"client lost: {reason}")

    def client_blocked(self, client) -> None:
        pass

    def client_unblocked(self, client) -> None:
        pass


def half_iac(size: int) -> bytes:
    rng = random.Random(7)
    data = bytearray(rng.randbytes(size))
    for i in rng.sample(range(size), size // 2):
        data[i] = 255
    return bytes(data)


def take(accepter: str, wire: bytes, expected_size: int) -> list:
    """What a client of ``accepter`` passes on, read by read, for ``wire``."""
    text = f"connection: &c\n  accepter: {accepter}\n  connector: echo\n"
    stack, codec = client_stack(load_text(text, "t.yaml").connections[0], "x")
    reactor = Reactor()
    ours, peer = socket.socketpair()
    ours.setblocking(False)
    owner = Owner()
    client = Client(
        owner,
        reactor,
        ours,
        ("127.0.0.1", 1),
        label="c",
        limits=ClientLimits(high_water=65536, read_limit=65536),
        stack=stack,
        codec=codec,
    )
    client.resume_reading()
    peer.setblocking(False)
    sent = 0
    for _ in range(10000):
        if sent < len(wire):
            try:
                sent += peer.send(wire[sent : sent + 262144])
            except BlockingIOError:
                pass
        reactor.run_once(timeout=0.01)
        if sum(map(len, owner.chunks)) >= expected_size:
            break
    client.shutdown()
    peer.close()
    reactor.close()
    return owner.chunks


def test_a_telnet_client_reads_at_most_its_limit_and_loses_nothing():
    payload = half_iac(1 << 18)
    chunks = take("telnet,tcp,127.0.0.1,2000", payload.replace(b"\xff", b"\xff\xff"), len(payload))
    assert b"".join(chunks) == payload
    # An unescaped read is at most as long as the read: no read was larger.
    assert max(map(len, chunks)) <= TELNET_READ_LIMIT


def test_a_raw_client_still_reads_up_to_its_bufsize():
    payload = half_iac(1 << 18)
    chunks = take("tcp,127.0.0.1,2000", payload, len(payload))
    assert b"".join(chunks) == payload
    assert max(map(len, chunks)) > TELNET_READ_LIMIT
