"""The RFC 2217 side of a port: one serial line shared by its telnet clients.

Each client's telnet layer parses its own requests; what they ask for acts
on the one line the port has, so the answers concern everybody:

* a setting changed by one client is answered to that client and reported
  to every other RFC 2217 client (they share the line; ser2net does this);
  further changes within ``TELL_PAUSE`` are reported together after it,
  the last value of each setting once;
* a break is a 250 ms break condition, timed by the loop, never a sleep;
* settings changes reach the device at most once per loop turn
  (``PacedLine``): every request is answered at once, with the values
  asked for, and the device gets the last of them, so a client sending
  requests in a loop costs one termios change per turn, not one each;
* modem lines have no descriptor event, so while some client asks for
  modemstate reports they are read once a second (as ser2net does), and a
  change is reported to every client.  Lines that cannot be read (a pty)
  are not polled.

The line is reached through ``SerialControl`` only, whatever device is
behind it (``line()`` gives the current one: it changes when the device is
reopened).
"""

from __future__ import annotations

import bisect
import collections
import logging
from typing import Callable, Deque, Dict, List, Optional, Protocol, Sequence, Tuple

from pyser2net.config.model import SerialSettings
from pyser2net.protocol import telnet
from pyser2net.protocol.comport import ControlRefused, SerialControl, settings_text
from pyser2net.protocol.telnet import TelnetServerCodec
from pyser2net.runtime.comport import apply_logged
from pyser2net.runtime.logsinks import TRAFFIC
from pyser2net.runtime.timers import Scheduler, TimerSlot

log = logging.getLogger(__name__)


class Soon(Scheduler, Protocol):
    """What the session needs of the loop: timers, and calls in the next turn."""

    def call_soon(self, callback: Callable[[], None]) -> None: ...


class PacedLine:
    """A line whose settings change at most once per loop turn.

    A change when the line was not changed in this turn is applied at once,
    so a refusal is known before the answer (ser2net then sends none).
    Further changes in the same turn are only remembered: ``settings`` is
    the last one asked for, which is what the answers carry, and the next
    turn applies it, once.  A change that would not change anything costs
    nothing.  DTR, RTS, break and purges act at once: they are cheap, and
    none of them depends on the settings.
    """

    def __init__(self, line: SerialControl, soon: Soon, label: str = "") -> None:
        self.line = line
        self.virtual = line.virtual
        self._soon = soon
        self._label = label
        self._wanted: Optional[SerialSettings] = None
        self._busy = False  # the line was changed in this turn
        self._warned = False
        #: How many times the settings reached the line (logged with ``-l -l``).
        self.applied = 0

    @property
    def settings(self) -> SerialSettings:
        return self._wanted if self._wanted is not None else self.line.settings

    @property
    def lines(self) -> Dict[str, bool]:
        return self.line.lines

    def reconfigure(self, settings: SerialSettings) -> None:
        if settings == self.settings:
            return
        if self._busy:
            self._wanted = settings
            return
        self.line.reconfigure(settings)  # ControlRefused: no answer
        self._applied()

    def _applied(self) -> None:
        self.applied += 1
        if not self.virtual and log.isEnabledFor(TRAFFIC):
            log.log(
                TRAFFIC,
                "%sline set to %s (change %d)",
                self._label,
                settings_text(self.line.settings),
                self.applied,
            )
        self._busy = True
        self._soon.call_soon(self._next_turn)

    def _next_turn(self) -> None:
        wanted, self._wanted = self._wanted, None
        if wanted is None or wanted == self.line.settings:
            self._busy = False
            return
        try:
            self.line.reconfigure(wanted)
        except ControlRefused as exc:
            # Answered already (it came in a burst): warn once per line.
            log.log(
                logging.DEBUG if self._warned else logging.WARNING,
                "%ssettings asked for in a burst not applied: %s",
                self._label,
                exc,
            )
            self._warned = True
        self._applied()

    def set_line(self, name: str, on: bool) -> None:
        self.line.set_line(name, on)

    def purge(self, which: int) -> None:
        self.line.purge(which)

    def modem_bits(self) -> Optional[int]:
        return self.line.modem_bits()


class Rfc2217Peer(Protocol):
    """A connected client, as the session sees it (only those with a
    telnet layer take part)."""

    codec: Optional[TelnetServerCodec]

    @property
    def name(self) -> str:
        """Who it is, for the log."""

    def flush_protocol(self) -> None:
        """Send what the telnet layer queued."""

    @property
    def output_full(self) -> bool:
        """Whether its output queue is past the high-water mark."""


#: A change to tell the others of: who asked, what, and the answer.
_Change = Tuple[Rfc2217Peer, telnet.ComPortCommand, int]


class Rfc2217Session:
    """RFC 2217 requests, breaks and modem-line reports of one port."""

    BREAK_SECONDS = 0.25
    POLL_SECONDS = 1.0
    #: After telling the others of a change, further changes wait this long
    #: and are told together, the last value of each setting: with N
    #: clients asking in a loop, that bounds the reports at N per pause.
    TELL_PAUSE = 0.01
    #: They are told TELL_SLICE clients at a time, TELL_SLICE_PAUSE apart,
    #: so that telling a hundred clients does not hold up the loop.
    TELL_SLICE = 16
    TELL_SLICE_PAUSE = 0.0005

    def __init__(
        self,
        scheduler: Soon,
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
        self._soon = scheduler
        self._paced: Optional[PacedLine] = None
        self._told = False  # others were told of a change in the last TELL_PAUSE
        self._tell = TimerSlot(scheduler, self._tell_owed)
        #: Changes to tell the others after the pause, the last of each kind.
        self._owed: Dict[Tuple[int, int], _Change] = {}
        self._round: List[_Change] = []  # the changes being told now
        self._telling: Deque[Rfc2217Peer] = collections.deque()  # who is still to hear them

    def paced(self) -> PacedLine:
        """The current line, its settings changed at most once per turn."""
        line = self._line()
        paced = self._paced
        if paced is None or paced.line is not line:
            paced = self._paced = PacedLine(line, self._soon, self._label)
        return paced

    def request(self, peer: Rfc2217Peer, event: telnet.ComPortRequest) -> None:
        """Apply a request; queue the answer for ``peer`` and tell the others.

        ``peer``'s answer is flushed by the caller, after the rest of its
        chunk, which keeps ser2net's order of answers.
        """
        answer = apply_logged(self.paced(), event.command, event.value, peer.name)
        if answer is None or peer.codec is None:
            return
        peer.codec.reply(event.command, answer)
        if event.command == telnet.ComPortCommand.PURGE_DATA:
            return
        if self._told:
            # The others heard of a change a moment ago: they hear of this
            # one (its last value) with the others made meanwhile, once.
            key = (event.command, _control_group(answer) if _is_control(event) else 0)
            self._owed.pop(key, None)
            self._owed[key] = (peer, event.command, answer)
            return
        if self._tell_others(peer, event.command, answer):
            self._told = True
            self._tell.arm(self.TELL_PAUSE)

    def _tell_others(self, asker: Rfc2217Peer, command: telnet.ComPortCommand, answer: int) -> bool:
        """Report a change to every RFC 2217 client but ``asker``; whether any was told."""
        told = False
        for other in self._peers():
            if other is not asker and other.codec is not None and not other.output_full:
                # A client past its output bound is not told of others'
                # changes: its queue must not grow with what they ask.
                other.codec.reply(command, answer)
                other.flush_protocol()
                told = True
        return told

    def _tell_owed(self) -> None:
        """Tell the others what changed during the pause, a slice of them at a time."""
        if not self._telling:
            if not self._owed:
                self._told = False  # a quiet pause: the next change is told at once
                return
            self._round = list(self._owed.values())
            self._owed.clear()
            self._telling.extend(self._peers())
        current = set(self._peers())
        telling = self._telling
        for _ in range(min(self.TELL_SLICE, len(telling))):
            peer = telling.popleft()
            if peer not in current or peer.codec is None or peer.output_full:
                continue
            told = False
            for asker, command, answer in self._round:
                if peer is not asker:
                    peer.codec.reply(command, answer)
                    told = True
            if told:
                peer.flush_protocol()  # one send for all it is told
        self._tell.arm(self.TELL_SLICE_PAUSE if telling else self.TELL_PAUSE)

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
        self._tell.cancel()
        self._owed.clear()
        self._telling.clear()
        self._told = False
        self._poll.cancel()
        self._unbreak.cancel()
        self._breaking = None


def _is_control(event: telnet.ComPortRequest) -> bool:
    return event.command == telnet.ComPortCommand.SET_CONTROL


def _control_group(answer: int) -> int:
    """Which setting a SET-CONTROL answer reports: flow control (1-3),
    break (4-6), DTR (7-9), RTS (10-12) or inbound flow control (13-16)."""
    return bisect.bisect_left((3, 6, 9, 12), answer)


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
