"""A serial cable for tests: two ptys joined by a relay, clean or noisy.

Each end of the cable is a pty slave path (``cable.a``, ``cable.b``) that a
daemon (or an in-process stream) opens as its serial device.  A thread
copies bytes between the two masters.  It can:

* pace each direction to a line rate (a pty has no baud rate; at 115200
  baud about 11520 bytes a second), so that throughput is a line's;
* damage the bytes: at a set rate (errors per byte), flip a bit, drop the
  byte or send it twice, each a third of the time, from a seeded random
  generator so that a failure can be replayed;
* record, with ``record=True``, every byte each end wrote (as the far end
  will get it) and when, and when the far end got each part of it: what
  ``bench/tunnel.py --trace`` reads the packets and their timing from.

Every wait is bounded, and ``close()`` stops the thread and closes the
descriptors.  An end that closes its slave (a daemon restarting) is
tolerated: the relay waits for it to come back, and bytes sent meanwhile
are lost, as on a cable nobody listens to.
"""

from __future__ import annotations

import errno
import os
import random
import select
import threading
import time
import tty
from typing import Dict, List, Optional, Tuple


class Direction:
    """One way of the cable: its pacing, its noise, and what it did."""

    def __init__(
        self, rate: Optional[float], errors_per_byte: float, seed: int, record: bool = False
    ) -> None:
        self.rate = rate
        self.record = record
        #: With ``record``: (time, bytes) as the sending end wrote them
        #: (damage applied), and (time, bytes carried so far) as they went on.
        self.written: List[Tuple[float, bytes]] = []
        self.delivered: List[Tuple[float, int]] = []
        self.errors_per_byte = errors_per_byte
        self.rng = random.Random(seed)
        self.pending = bytearray()
        self.budget = 0.0
        self.carried = 0
        self.flipped = self.dropped = self.doubled = 0
        self._next_error = self._gap()

    def _gap(self) -> int:
        if self.errors_per_byte <= 0:
            return 1 << 62
        return int(self.rng.expovariate(self.errors_per_byte)) + 1

    def damage(self, data: bytes) -> bytes:
        """The bytes as the far end gets them (noise applied)."""
        if self.errors_per_byte <= 0 or len(data) < self._next_error:
            self._next_error -= len(data)
            return data
        out = bytearray()
        at = 0
        while at + self._next_error <= len(data):
            i = at + self._next_error - 1
            out += data[at:i]
            byte = data[i]
            kind = self.rng.randrange(3)
            if kind == 0:
                out.append(byte ^ (1 << self.rng.randrange(8)))
                self.flipped += 1
            elif kind == 1:
                self.dropped += 1
            else:
                out += bytes((byte, byte))
                self.doubled += 1
            at = i + 1
            self._next_error = self._gap()
        self._next_error -= len(data) - at
        out += data[at:]
        return bytes(out)


class Cable:
    """Two pty pairs and a relay thread between their masters."""

    #: Bytes held for one direction before the relay stops reading it.
    LIMIT = 1 << 16

    def __init__(
        self,
        rate: Optional[float] = None,
        errors_per_byte: float = 0.0,
        seed: int = 1,
        record: bool = False,
    ) -> None:
        self._masters: List[int] = []
        self._slaves: List[int] = []
        paths = []
        for _ in range(2):
            master, slave = os.openpty()
            tty.setraw(slave)
            os.set_blocking(master, False)
            self._masters.append(master)
            self._slaves.append(slave)  # kept open so the master never sees a hangup
            paths.append(os.ttyname(slave))
        self.a, self.b = paths
        self.dirs: Dict[int, Direction] = {
            0: Direction(rate, errors_per_byte, seed, record),
            1: Direction(rate, errors_per_byte, seed + 1, record),
        }
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cable", daemon=True)
        self._thread.start()

    @property
    def a_to_b(self) -> Direction:
        return self.dirs[0]

    @property
    def b_to_a(self) -> Direction:
        return self.dirs[1]

    def _run(self) -> None:
        last = time.monotonic()
        while not self._stop.is_set():
            readers = [
                m for i, m in enumerate(self._masters) if len(self.dirs[i].pending) < self.LIMIT
            ]
            writers = [
                self._masters[1 - i]
                for i in (0, 1)
                if self.dirs[i].pending and self.dirs[i].rate is None
            ]
            paced = any(d.rate is not None and d.pending for d in self.dirs.values())
            try:
                r, w, _ = select.select(readers, writers, [], 0.002 if paced else 0.02)
            except OSError:
                return
            now = time.monotonic()
            elapsed, last = now - last, now
            for i, master in enumerate(self._masters):
                if master in r:
                    try:
                        data = os.read(master, 65536)
                    except OSError as exc:
                        if exc.errno != errno.EIO:
                            raise
                        time.sleep(0.005)  # that end is closed for now
                        continue
                    d = self.dirs[i]
                    data = d.damage(data)
                    d.pending += data
                    if d.record:
                        d.written.append((now, data))
            for i in (0, 1):
                self._forward(i, elapsed)

    def _forward(self, i: int, elapsed: float) -> None:
        d = self.dirs[i]
        if not d.pending:
            d.budget = 0.0
            return
        if d.rate is None:
            size = len(d.pending)
        else:
            d.budget = min(d.budget + elapsed * d.rate, d.rate * 0.05 + 1)
            size = min(len(d.pending), int(d.budget))
            if size <= 0:
                return
        try:
            sent = os.write(self._masters[1 - i], d.pending[:size])
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno != errno.EIO:
                raise
            sent = size  # nobody on that end: the bytes are lost
        del d.pending[:sent]
        d.carried += sent
        if d.record and sent:
            d.delivered.append((time.monotonic(), d.carried))
        if d.rate is not None:
            d.budget -= sent

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for fd in self._masters + self._slaves:
            try:
                os.close(fd)
            except OSError:
                pass


def open_end(path: str) -> int:
    """Open a cable end the way a serial port is opened: raw and non-blocking."""
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    tty.setraw(fd)
    return fd
