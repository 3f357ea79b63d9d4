"""The RFC 2217 side of a port: one serial line shared by its telnet clients.

Each client's telnet layer parses its own requests; what they ask for acts
on the one line the port has, so the answers concern everybody:

* a setting changed by one client is answered to that client and reported
  to every other RFC 2217 client (they share the line; ser2net does this);
* a break is a 250 ms break condition, timed by the loop, never a sleep;
* modem lines have no descriptor event, so while some client asks for
  modemstate reports they are read once a second (as ser2net does), and a
  change is reported to every client.  Lines that cannot be read (a pty)
  are not polled.

The line is reached through ``SerialControl`` only, whatever device is
behind it (``line()`` gives the current one: it changes when the device is
reopened).
"""

from __future__ import annotations

import logging
from typing import Callable, Optional, Protocol, Sequence

from pyser2net.protocol import telnet
from pyser2net.protocol.comport import SerialControl
from pyser2net.protocol.telnet import TelnetServerCodec
from pyser2net.runtime.comport import apply_logged
from pyser2net.runtime.timers import Scheduler, TimerSlot

log = logging.getLogger(__name__)


class Rfc2217Peer(Protocol):
    """A connected client, as the session sees it (only those with a
    telnet layer take part)."""

    codec: Optional[TelnetServerCodec]

    @property
    def name(self) -> str:
        """Who it is, for the log."""

    def flush_protocol(self) -> None:
        """Send what the telnet layer queued."""


class Rfc2217Session:
    """RFC 2217 requests, breaks and modem-line reports of one port."""

    BREAK_SECONDS = 0.25
    POLL_SECONDS = 1.0

    def __init__(
        self,
        scheduler: Scheduler,
        line: Callable[[], SerialControl],
        peers: Callable[[], Sequence[Rfc2217Peer]],
        label: str = "",
    ) -> None:
        self._label = f"{label}: " if label else ""
        self._line = line
        self._peers = peers
        self._poll = TimerSlot(scheduler, self._poll_lines)
        self._unbreak = TimerSlot(scheduler, self._end_break)
        self._breaking: Optional[SerialControl] = None
        self._modem_last = 0

    def request(self, peer: Rfc2217Peer, event: telnet.ComPortRequest) -> None:
        """Apply a request; queue the answer for ``peer`` and tell the others.

        ``peer``'s answer is flushed by the caller, after the rest of its
        chunk, which keeps ser2net's order of answers.
        """
        answer = apply_logged(self._line(), event.command, event.value, peer.name)
        if answer is None or peer.codec is None:
            return
        peer.codec.reply(event.command, answer)
        if event.command == telnet.ComPortCommand.PURGE_DATA:
            return
        for other in self._peers():
            if other is not peer and other.codec is not None:
                other.codec.reply(event.command, answer)
                other.flush_protocol()

    def send_break(self) -> None:
        """A break of BREAK_SECONDS on a real line not already in break."""
        line = self._line()
        if line.virtual or line.lines["break"]:
            return
        line.set_line("break", True)
        self._breaking = line
        self._unbreak.arm(self.BREAK_SECONDS)

    def _end_break(self) -> None:
        line, self._breaking = self._breaking, None
        if line is not None and line is self._line():  # not closed meanwhile
            line.set_line("break", False)

    def watch_modem_lines(self) -> None:
        """A client set a modemstate mask: poll the lines if they can be read."""
        if self._poll.pending:
            return
        bits = self._line().modem_bits()
        if bits is not None:
            self._modem_last = bits
            self._poll.arm(self.POLL_SECONDS)

    def _poll_lines(self) -> None:
        codecs = [(p, p.codec) for p in self._peers() if p.codec is not None]
        bits = self._line().modem_bits()
        if bits is None or not any(codec.modemstate_mask for _, codec in codecs):
            return  # nobody listens, or the lines went away: stop polling
        state = telnet.modemstate_with_deltas(self._modem_last, bits)
        self._modem_last = bits
        if state & 0x0F and log.isEnabledFor(logging.DEBUG):
            log.debug("%smodem lines changed: %s", self._label, modem_lines_text(state))
        if state & 0x0F:
            for peer, codec in codecs:
                codec.notify_modemstate(state)
                peer.flush_protocol()
        self._poll.arm(self.POLL_SECONDS)

    def stop(self) -> None:
        """The device closed: no more polling; a break in progress is over."""
        self._poll.cancel()
        self._unbreak.cancel()
        self._breaking = None


def modem_lines_text(state: int) -> str:
    """``CTS on, DSR off (changed), ...`` from a modemstate with its delta bits."""
    words = []
    for name, line, delta in (
        ("CTS", 0x10, 0x01),
        ("DSR", 0x20, 0x02),
        ("RI", 0x40, 0x04),
        ("CD", 0x80, 0x08),
    ):
        text = f"{name} {'on' if state & line else 'off'}"
        words.append(text + " (changed)" if state & delta else text)
    return ", ".join(words)
