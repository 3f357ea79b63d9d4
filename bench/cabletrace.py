"""What crossed a recorded cable, as relpkt packets and their timing.

``bench/tunnel.py --trace`` records every byte each end wrote on the cable
and when the other end got it (``Cable(record=True)``).  This reads the
msgdelim messages out of both directions with pyser2net's own msgdelim
reader, decodes each relpkt header, and says for each direction what
limits its throughput: the packet sizes, how many packets were in flight
when each was written (the window), how long each waited for its
acknowledgement, what was sent again or asked for again, and how busy the
line was.  A line that stands idle while a sender's window is full is
waiting for acknowledgements; one busy to the full with a low rate is
carrying overhead.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass
from typing import List, Sequence, Tuple

from pyser2net.protocol.msgdelim import MsgDelim

from linkcable import Direction

DATA, RESEND = 2, 3


@dataclass(frozen=True)
class Packet:
    """One relpkt packet on the cable: when it was written, when it arrived."""

    written: float
    arrived: float
    body: bytes

    @property
    def kind(self) -> int:
        return self.body[0] >> 4

    @property
    def is_data(self) -> bool:
        return self.kind == DATA and len(self.body) > 3

    @property
    def carries_ack(self) -> bool:
        return self.kind == DATA


def _messages(chunks: Sequence[Tuple[float, bytes]]) -> List[Tuple[float, bytes]]:
    """The intact messages in ``chunks``, each with the time of the chunk that completed it."""
    reader = MsgDelim()
    return [(t, m) for t, chunk in chunks for m in reader.messages(chunk)]


def packets(direction: Direction) -> List[Packet]:
    """Every intact packet one way, in order; those still on the cable are left out."""
    stream = b"".join(data for _, data in direction.written)
    arrivals: List[Tuple[float, bytes]] = []
    start = 0
    for t, carried in direction.delivered:
        arrivals.append((t, stream[start:carried]))
        start = carried
    sent = _messages(direction.written)
    got = _messages(arrivals)
    return [Packet(w, a, body) for (w, body), (a, _) in zip(sent, got) if len(body) >= 3]


def summary(name: str, out: List[Packet], back: List[Packet], rate: float) -> str:
    """One direction's traffic in a line: ``back`` carries its acknowledgements."""
    data = [p for p in out if p.is_data]
    acks = [(p.arrived, p.body[1]) for p in back if p.carries_ack]
    sizes = Counter(len(p.body) - 3 for p in data)
    pure_acks = sum(1 for p in out if p.kind == DATA and len(p.body) == 3)
    resend_requests = sum(1 for p in out if p.kind == RESEND)
    waits: List[float] = []
    in_flight: List[int] = []
    again = 0
    outstanding: set = set()
    ai = 0
    last_ack = 0
    for p in data:
        seq = p.body[2]
        while ai < len(acks) and acks[ai][0] <= p.written:
            last_ack = acks[ai][1]
            ai += 1
        outstanding = {s for s in outstanding if (s - last_ack) & 0xFF < 128}
        if seq in outstanding:
            again += 1
            continue
        outstanding.add(seq)
        in_flight.append(((seq - last_ack) & 0xFF) + 1)
        k = ai
        while k < len(acks) and not 1 <= (acks[k][1] - seq) & 0xFF < 128:
            k += 1
        if k < len(acks):
            waits.append(acks[k][0] - p.written)
    if not out:
        return f"  {name}: nothing"
    span = out[-1].arrived - out[0].arrived
    wire = sum(len(p.body) for p in out)  # before framing: a lower bound
    busy = f"{100 * wire / (rate * span):.0f}%" if span > 0 else "-"
    common = ", ".join(f"{size} B: {n}" for size, n in sizes.most_common(2))
    wait = f"{statistics.median(waits):.3f} s" if waits else "-"
    flight = f"{statistics.median(in_flight):.0f} (most {max(in_flight)})" if in_flight else "-"
    return (
        f"  {name}: {len(data)} data ({common}), {pure_acks} acks alone, "
        f"{resend_requests} resend requests, {again} sent again; in flight at each write "
        f"{flight}; write to ack {wait}; packet bytes {busy} of the line"
    )
