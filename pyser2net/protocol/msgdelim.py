"""msgdelim: messages with a CRC over a byte stream, as gensio frames them.

A serial line carries bytes, may lose or change some, and marks no
boundaries.  ``msgdelim`` turns it into a line of whole messages, each
either intact or dropped, for ``relpkt`` (which adds retransmission) above
it.  On the wire, as gensio (and so ser2net 4.x) writes it:

* ``FE`` is the escape byte: ``FE 00`` is a literal ``FE``, ``FE 01`` ends
  a message (and starts the next); ``FE`` followed by anything else
  abandons the message being read.
* Each message is its payload, then a CRC-16 of the payload (polynomial
  0x1021, start 0, not reflected: the XMODEM variant) high byte first,
  both escaped, then ``FE 01``.  The first message a side sends is
  preceded by ``FE 01`` too, so the receiver knows where it starts.
* A message is at most ``writebuf`` payload bytes when sent (128 by
  default) and ``readbuf`` when received; a longer one is dropped.

Receiving is more forgiving than gensio (2.6 and later): after a damaged
message the next one is read afresh.  gensio keeps the damaged bytes in its
buffer, so every later message fails its CRC until the connection closes;
one damaged byte towards a gensio end ends a relpkt link after its
timeouts.  And the first message after a (re)open is read even without the
leading ``FE 01``, which gensio leaves out when it reopens.

The CRC starts at 0 and has no final XOR, so a message followed by its own
CRC leaves it at 0: two messages that lose exactly their separator pass as
one.  relpkt above drops such a message when it is longer than a packet;
gensio reads it the same way.

The work is done with bytes operations (``find``, ``replace``,
``binascii.crc_hqx``), never a Python loop over bytes.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass
from typing import List

from pyser2net.protocol.events import Data, Event

ESCAPE = 0xFE
LITERAL = 0x00
SEPARATOR = 0x01
_ESC = b"\xfe"
_ESC_LITERAL = b"\xfe\x00"
_END = b"\xfe\x01"

#: gensio's default message sizes, in payload bytes.
DEFAULT_READBUF = 128
DEFAULT_WRITEBUF = 128


def crc16(data: bytes, crc: int = 0) -> int:
    """CRC-16/XMODEM of ``data`` (what msgdelim appends), continuing ``crc``."""
    return binascii.crc_hqx(data, crc)


@dataclass
class MsgDelimCounters:
    """What the receiver threw away, for logs and tests."""

    #: Messages whose CRC did not match (damaged on the line).
    bad_crc: int = 0
    #: Messages longer than readbuf, abandoned by an escape, or too short
    #: to hold a CRC.
    malformed: int = 0
    #: Messages delivered.
    received: int = 0


class MsgDelim:
    """The msgdelim layer: ``receive`` gives one ``Data`` per intact message.

    ``frame`` makes one message; ``send`` splits a byte stream into messages
    of at most ``writebuf`` bytes (msgdelim alone carries a stream that way;
    gensio refuses a larger write instead).
    """

    def __init__(
        self, readbuf: int = DEFAULT_READBUF, writebuf: int = DEFAULT_WRITEBUF, crc: bool = True
    ) -> None:
        if readbuf < 1 or writebuf < 1:
            raise ValueError("msgdelim buffers must hold at least one byte")
        self.readbuf = readbuf
        self.writebuf = writebuf
        self.crc = crc
        self.counters = MsgDelimCounters()
        self._started = False  # first message sent (it carries a leading FE 01)
        #: Bytes belong to a message.  True from the start: gensio sends no
        #: separator before its first message after a reopen.
        self._in_msg = True
        self._escaped = False  # the last byte of the previous chunk was FE
        self._msg = bytearray()
        self._limit = readbuf + (2 if crc else 0)

    # -- sending ----------------------------------------------------------

    def start(self) -> bytes:
        return b""

    def frame(self, payload: bytes) -> bytes:
        """One message on the wire; ``payload`` must fit in ``writebuf``."""
        if len(payload) > self.writebuf:
            raise ValueError(f"message of {len(payload)} bytes exceeds writebuf {self.writebuf}")
        body = payload
        if self.crc:
            body = payload + crc16(payload).to_bytes(2, "big")
        wire = body.replace(_ESC, _ESC_LITERAL) + _END
        if not self._started:
            self._started = True
            return _END + wire
        return wire

    def send(self, data: bytes) -> bytes:
        if not data:
            return b""
        size = self.writebuf
        if len(data) <= size:
            return self.frame(data)
        return b"".join(self.frame(data[i : i + size]) for i in range(0, len(data), size))

    def data_to_send(self) -> bytes:
        return b""

    # -- receiving --------------------------------------------------------

    def receive(self, data: bytes) -> List[Event]:
        return [Data(m) for m in self.messages(data)]

    def messages(self, data: bytes) -> List[bytes]:
        """The intact messages completed by ``data``, CRC removed."""
        out: List[bytes] = []
        at = 0
        end = len(data)
        if self._escaped and end:
            self._escaped = False
            self._command(data[0], out)
            at = 1
        while at < end:
            esc = data.find(_ESC, at)
            stop = end if esc < 0 else esc
            if stop > at and self._in_msg:
                self._take(data, at, stop)
            if esc < 0:
                break
            if esc + 1 == end:
                self._escaped = True
                break
            self._command(data[esc + 1], out)
            at = esc + 2
        return out

    def _take(self, data: bytes, start: int, stop: int) -> None:
        msg = self._msg
        if len(msg) + stop - start > self._limit:
            self._abandon()
            return
        msg += data[start:stop]

    def _command(self, byte: int, out: List[bytes]) -> None:
        """Act on the byte after an escape."""
        if byte == LITERAL:
            if self._in_msg:
                if len(self._msg) >= self._limit:
                    self._abandon()
                else:
                    self._msg.append(ESCAPE)
        elif byte == SEPARATOR:
            if self._in_msg and self._msg:
                self._finish(out)
            self._msg.clear()
            self._in_msg = True
        else:
            self._abandon()

    def _finish(self, out: List[bytes]) -> None:
        msg = bytes(self._msg)
        if self.crc:
            if len(msg) <= 2:
                self.counters.malformed += 1
                return
            if crc16(msg) != 0:
                self.counters.bad_crc += 1
                return
            msg = msg[:-2]
        self.counters.received += 1
        out.append(msg)

    def _abandon(self) -> None:
        if self._in_msg:
            self.counters.malformed += 1
        self._in_msg = False
        self._msg.clear()
