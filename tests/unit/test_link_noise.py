"""A relpkt link over a noisy cable: two ptys and a relay that damages bytes.

1 MiB of random bytes goes out and comes back (the far end echoes) through
``relpkt,msgdelim`` while the cable flips, drops or doubles one byte in ten
thousand, each way.  Nothing damaged may reach the user, nothing may be
lost, and the link must stay up.  The cable is not paced (a pty has no
baud rate): the speed at 115200 baud is measured in ``bench/``.
"""

from __future__ import annotations

import logging
import os
import random
import re
import time
from typing import List, Optional

import pytest

from pyser2net.config.model import MsgDelimLayer, RelPktLayer, SerialSettings
from pyser2net.runtime.layers import build_link
from pyser2net.runtime.linkstream import LinkStream
from pyser2net.runtime.reactor import Reactor
from pyser2net.runtime.stream import Stream, StreamError, StreamUser

from linkcable import Cable, open_end

SIZE = 1 << 20


class End:
    def __init__(self, reactor: Reactor, path: str, server: bool, echo: bool) -> None:
        self.received = bytearray()
        self.lost: List[Optional[StreamError]] = []
        self.paused = False
        self.up = False
        self.echo = echo
        fd = open_end(path)
        layers = (RelPktLayer(server=server), MsgDelimLayer())

        def inner(user: StreamUser) -> Stream:
            return Stream.for_fds(reactor, user, fd, fd, close=lambda: os.close(fd))

        self.stream = LinkStream(
            reactor,
            self,
            lambda timer: build_link(layers, timer, SerialSettings(speed=115200)),
            inner,
            high_water=8192,
            on_up=self._up,
        )
        self.stream.resume_reading()

    def _up(self) -> None:
        self.up = True

    def data_received(self, data: bytes) -> None:
        self.received += data
        if self.echo:
            self.stream.write(data)

    def eof_received(self) -> None:
        pass

    def connection_lost(self, exc: Optional[StreamError]) -> None:
        self.lost.append(exc)

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False


@pytest.mark.parametrize("errors_per_byte", [0.0, 1e-4])
def test_a_mebibyte_round_trips_exactly(errors_per_byte: float, caplog) -> None:
    caplog.set_level(logging.INFO, logger="pyser2net.runtime.linkstream")
    cable = Cable(errors_per_byte=errors_per_byte, seed=11)
    reactor = Reactor()
    try:
        far = End(reactor, cable.b, server=True, echo=True)
        near = End(reactor, cable.a, server=False, echo=False)
        data = random.Random(5).randbytes(SIZE)
        sent = 0
        deadline = time.monotonic() + 120
        while len(near.received) < SIZE and time.monotonic() < deadline:
            assert not near.lost and not far.lost
            if near.up and not near.paused and sent < SIZE:
                near.stream.write(data[sent : sent + 4096])
                sent += 4096
            reactor.run_once(0.01)
        assert bytes(near.received) == data
        damaged = sum(d.flipped + d.dropped + d.doubled for d in cable.dirs.values())
        if errors_per_byte:
            assert damaged > 100  # about one in ten thousand, both ways
            assert near.stream.link.counters.packets_resent > 0  # type: ignore[union-attr]
        else:
            assert damaged == 0
        near.stream.close_after_flush(5)
        end = time.monotonic() + 10
        while not (near.lost and far.lost) and time.monotonic() < end:
            reactor.run_once(0.01)
        assert near.lost == [None]
        # Each end says, as its link ends, what it had to repair.
        ended = [r.getMessage() for r in caplog.records if "link ended" in r.getMessage()]
        assert len(ended) == 2, ended
        pattern = re.compile(
            r"link: link ended: relpkt sent (\d+) packets \((\d+) again\), received (\d+) "
            r"\((\d+) twice\); msgdelim received (\d+) messages, dropped (\d+) damaged "
            r"and (\d+) malformed$"
        )
        counts = [[int(n) for n in pattern.match(line).groups()] for line in ended]  # type: ignore[union-attr]
        if errors_per_byte:
            assert all(c[1] > 0 and c[5] + c[6] > 0 for c in counts)  # resent; damage seen
    finally:
        reactor.close()
        cable.close()
