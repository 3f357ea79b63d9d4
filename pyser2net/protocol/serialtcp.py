"""serialtcp: one TCP connection at a time over a serial line, as serialtcp.py does it.

``serialtcp.py`` (a small program from pyserial's examples family) runs on
both ends of a serial cable: ``--server PORT`` on the end where TCP clients
connect, ``--client HOST:PORT`` on the end that connects on to the real
service.  This layer speaks its protocol, so either end of such a pair can
be pyser2net.  Everything travels in band:

* ``1F`` is the escape byte; ``1F 1F`` is a literal ``1F``; ``1F`` and any
  other byte is a control code: ``C`` connect, ``c`` connected, ``F``
  connect failed, ``D`` disconnect, ``s`` start.
* At start-up the two ends synchronise.  Each sends ``1F D 1F D`` (ending
  whatever session the other thought it had); the server adds ``1F E0``
  (hello).  Then the client sends ``1F C1`` and the server answers
  ``1F E1``; the same with ``C2``/``E2`` and ``C3``/``E3``.  A code that
  repeats the previous step is ignored; any other sync code starts over, as
  does a hello reaching a client or a step that gets no answer in time.
* Then the server, for a TCP client, sends ``1F C``; the client connects on
  and answers ``1F c`` (then ``1F s``), or ``1F F`` if it could not.  The
  server answers ``c`` with ``1F s``.  Bytes that arrive before the other
  end's ``s`` are dropped.
* Either end ends the session with ``1F D``; both then synchronise again.

There is no checksum and no retransmission: a byte damaged on the line
reaches the TCP stream damaged, and a damaged control code can end or
confuse the session.  Use ``relpkt,msgdelim`` where the line is noisy.

``server`` here is serialtcp.py's ``--server``: the end where TCP clients
arrive, which starts each session.  The layer never reads a clock: it
asks for timeouts through the timer it is given.
"""

from __future__ import annotations

import enum
from typing import List

from pyser2net.protocol.events import Data, Event, LinkDown, LinkUp
from pyser2net.protocol.filters import FilterTimer

ESCAPE = 0x1F
CONNECT = ord("C")
CONNECTED = ord("c")
FAILED = ord("F")
DISCONNECT = ord("D")
START = ord("s")
HELLO = 0xE0
SERVER_SYNC = (0xE1, 0xE2, 0xE3)
CLIENT_SYNC = (0xC1, 0xC2, 0xC3)

_ESC = b"\x1f"
_ESC_ESC = b"\x1f\x1f"

#: How long one synchronisation step waits for an answer at first; each
#: unanswered attempt waits half as long again, up to ``MAX_STEP``.
FIRST_STEP = 1.0
MAX_STEP = 60.0
#: How long the server waits for ``c``/``F`` after ``C`` (serialtcp.py's
#: ``--timeout``), and at most for the synchronisation of one session.
CONNECT_TIMEOUT = 10.0


def code(byte: int) -> bytes:
    """The two bytes of a control code on the wire."""
    return bytes((ESCAPE, byte))


class State(enum.Enum):
    SYNC = "sync"
    WAIT_CONNECT = "wait connect"  # client: synchronised, waiting for C
    CONNECTING = "connecting"  # server: C sent; client: C taken, far end not ready
    OPEN = "open"
    CLOSED = "closed"


class SerialTcp:
    """One end of a serialtcp link (a filter: line bytes below, TCP bytes above).

    A server (``server=True``) synchronises and asks for a connection at
    ``start()``, and reports ``LinkUp`` once the far end connected, or
    ``LinkDown`` if it could not.  A client synchronises, then reports
    ``LinkUp`` when the far end asks for a connection; the run time
    connects on and calls ``far_end_ready()``, or closes the layer, which
    then tells the far end the connection failed.
    """

    def __init__(
        self, timer: FilterTimer, *, server: bool, connect_timeout: float = CONNECT_TIMEOUT
    ) -> None:
        self.timer = timer
        self.server = server
        self.connect_timeout = connect_timeout
        self.state = State.CLOSED
        self._out = bytearray()
        self._escaped = False
        self._started = False  # the far end sent s: its bytes are TCP data
        self._step = 0  # sync codes exchanged
        self._wait = FIRST_STEP  # how long this sync step waits
        self._waited = 0.0  # server: time spent on this session so far
        self._armed = 0.0  # the delay the timer was last armed with
        self._up = False  # LinkUp reported

    @property
    def is_open(self) -> bool:
        return self.state is State.OPEN

    # -- the filter interface -------------------------------------------

    def start(self) -> bytes:
        self._waited = 0.0
        self._begin_sync()
        return self.data_to_send()

    def receive(self, data: bytes) -> List[Event]:
        events: List[Event] = []
        pieces: List[bytes] = []  # payload since the last event
        at, end = 0, len(data)
        if self._escaped and end:
            self._escaped = False
            at = 1
            if data[0] == ESCAPE:
                if self._started:
                    pieces.append(_ESC)
            else:
                self._control(data[0], events)
        while at < end and self.state is not State.CLOSED:
            esc = data.find(_ESC, at)
            stop = end if esc < 0 else esc
            if stop > at and self._started:
                pieces.append(data[at:stop])
            if esc < 0:
                break
            if esc + 1 == end:
                self._escaped = True
                break
            byte = data[esc + 1]
            at = esc + 2
            if byte == ESCAPE:
                if self._started:
                    pieces.append(_ESC)
                continue
            if pieces:
                events.append(Data(b"".join(pieces)))
                pieces = []
            self._control(byte, events)
        if pieces:
            events.append(Data(b"".join(pieces)))
        return events

    def send(self, data: bytes) -> bytes:
        """TCP bytes for the line, escaped; dropped unless the session is open."""
        pending = self.data_to_send()
        if not data or self.state is not State.OPEN:
            return pending
        return pending + data.replace(_ESC, _ESC_ESC)

    def data_to_send(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    # -- what the run time tells the layer ------------------------------

    def far_end_ready(self) -> bytes:
        """Client: the TCP connection on is up: say so, and start."""
        if not self.server and self.state is State.CONNECTING:
            self._out += code(CONNECTED) + code(START)
            self._open()
        return self.data_to_send()

    def close(self) -> bytes:
        """End the session: ``F`` if a client never got connected, else ``D``."""
        if self.state is State.CONNECTING and not self.server:
            self._out += code(FAILED)
        elif self.state in (State.CONNECTING, State.OPEN):
            self._out += code(DISCONNECT)
        self._finish()
        return self.data_to_send()

    abort = close

    def timer_expired(self) -> List[Event]:
        events: List[Event] = []
        state = self.state
        if self.server and state in (State.SYNC, State.CONNECTING):
            self._waited += self._armed
            if self._waited + 1e-9 >= self.connect_timeout:
                if state is State.CONNECTING:
                    self._out += code(DISCONNECT)
                self._finish()
                events.append(
                    LinkDown(
                        "no answer from the far end of the serial line"
                        if state is State.SYNC
                        else "the far end did not answer the connect request"
                    )
                )
                return events
        if state is State.SYNC:
            self._wait = min(MAX_STEP, self._wait * 1.5)
            self._restart_sync()
        elif state is State.CONNECTING and self.server:
            self._arm()
        return events

    # -- control codes --------------------------------------------------

    def _control(self, byte: int, events: List[Event]) -> None:
        state = self.state
        if state is State.SYNC:
            self._sync_code(byte)
        elif byte == DISCONNECT:
            if state is State.OPEN:
                self._finish()
                events.append(LinkDown("closed by the far end", error=False))
            elif state is State.CONNECTING:
                self._finish()
                events.append(LinkDown("the far end gave the connection up"))
            elif state is State.WAIT_CONNECT:
                self._restart_sync()
        elif state is State.WAIT_CONNECT:
            if byte == CONNECT:
                self.state = State.CONNECTING
                self._up = True
                events.append(LinkUp())
            elif byte == HELLO:
                self._restart_sync()
        elif state is State.CONNECTING and self.server:
            if byte == CONNECTED:
                self._out += code(START)
                self._open()
                self._up = True
                events.append(LinkUp())
            elif byte == FAILED:
                self._finish()
                events.append(LinkDown("the far end could not connect"))
        elif byte == START and state in (State.OPEN, State.CONNECTING):
            self._started = True

    def _sync_code(self, byte: int) -> None:
        expect, ours = (CLIENT_SYNC, SERVER_SYNC) if self.server else (SERVER_SYNC, CLIENT_SYNC)
        if byte == HELLO and not self.server:
            self._restart_sync()  # the server just came up: start again at once
            return
        if byte not in expect:
            return  # D, our own codes echoed, noise: nothing to act on
        got = expect.index(byte)
        if got == self._step - 1:
            return  # a repeat of the previous step
        if got != self._step:
            self._restart_sync()
            return
        self._step += 1
        if self.server:
            self._out += code(ours[got])
            if self._step == len(expect):
                self.state = State.CONNECTING
                self._out += code(CONNECT)
                self._arm()
                return
        elif self._step == len(expect):
            self.state = State.WAIT_CONNECT
            self.timer.cancel()
            return
        else:
            self._out += code(ours[self._step])
        self._arm()

    # -- states ---------------------------------------------------------

    def _begin_sync(self) -> None:
        self._wait = FIRST_STEP
        self._restart_sync()

    def _restart_sync(self) -> None:
        self.state = State.SYNC
        self._step = 0
        self._started = False
        self._out += code(DISCONNECT) + code(DISCONNECT)
        self._out += code(HELLO) if self.server else code(CLIENT_SYNC[0])
        self._arm()

    def _arm(self) -> None:
        """Wait for the current step; a server never past its connect timeout."""
        delay = self._wait
        if self.server:
            delay = max(0.0, min(delay, self.connect_timeout - self._waited))
        self._armed = delay
        self.timer.arm(delay)

    def _open(self) -> None:
        self.state = State.OPEN
        if self.server:
            self.timer.cancel()

    def _finish(self) -> None:
        self.state = State.CLOSED
        self._started = False
        self.timer.cancel()
