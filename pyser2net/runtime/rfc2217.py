"""The RFC 2217 side of a port: one serial line shared by its telnet clients.

Each client's telnet layer parses its own requests; what they ask for acts
on the one line the port has, so the answers concern everybody:

* a setting changed by one client is answered to that client and reported
  to every other RFC 2217 client (they share the line; ser2net does this);
  further changes within ``TELL_PAUSE`` are reported together after it,
  the last value of each setting once;
* a break is a 250 ms break condition, timed by the loop, never a sleep;
* settings reach the device at most once per loop turn: the requests of
  one turn are taken, the next turn puts the last value of each setting
  on the line at once and answers them in order, each with the value then
  in force, none for a setting the line refused.  ser2net answers the
  requests of one read the same way; so a client sending requests in a
  loop costs one termios change per turn, not one each;
* modem lines have no descriptor event, so while some client asks for
  modemstate reports they are read once a second (as ser2net does), and a
  change is reported to every client.  Lines that cannot be read (a pty)
  are not polled.  A held device that goes away (``device-loss: hold``)
  is reported as all lines dropping, and its return as the lines it has.

The line is reached through ``SerialControl`` only, whatever device is
behind it (``line()`` gives the current one: it changes when the device is
reopened).
"""

from __future__ import annotations

import bisect
import collections
import logging
from typing import Any, Callable, Deque, Dict, List, Optional, Protocol, Sequence, Set, Tuple

from pyser2net.config.model import SerialSettings
from pyser2net.protocol import telnet
from pyser2net.protocol.comport import (
    LINE_ACTIONS,
    ControlRefused,
    SerialControl,
    answer_for,
    replaced,
    request_fields,
    settings_text,
    state_text,
)
from pyser2net.protocol.telnet import TelnetServerCodec
from pyser2net.runtime.comport import log_request
from pyser2net.runtime.logsinks import TRAFFIC
from pyser2net.runtime.timers import Scheduler, TimerSlot

log = logging.getLogger(__name__)


class Soon(Scheduler, Protocol):
    """What the session needs of the loop: timers, and calls in the next turn."""

    def call_soon(self, callback: Callable[[], None]) -> None: ...


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
#: A request to answer: who asked, what, and (for ``-l``) the setting
#: before; or a run of them: who asked, ``_RUN``, its items and None.
_Request = Tuple[Rfc2217Peer, Any, Any, Optional[str]]


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
        #: The requests of this turn, answered in the next (``_settle``).
        self._batch: List[_Request] = []
        #: The settings they ask for, the last value of each.
        self._fields: Dict[str, Any] = {}
        self._tell = TimerSlot(scheduler, self._tell_owed)
        #: Changes to tell the others after the pause, the last of each kind.
        self._owed: Dict[Tuple[int, int], _Change] = {}
        self._round: List[_Change] = []  # the changes being told now
        self._telling: Deque[Rfc2217Peer] = collections.deque()  # who is still to hear them
        #: How many times settings reached the line (logged with ``-l -l``).
        self.applied = 0

    def request(self, peer: Rfc2217Peer, event: telnet.ComPortRequest) -> None:
        """Take a request; it is answered in the next loop turn (``_settle``).

        DTR, RTS, break and purges act at once: they are cheap.  Settings
        only say what they want: the turn's requests reach the line
        together, once, and each is then answered with the value in force.
        """
        command, value = event.command, event.value
        fields = request_fields(command, value)
        if fields is None:  # a value no port takes: no answer
            if log.isEnabledFor(logging.DEBUG):
                log_request(peer.name, command, value, None, self._line(), None)
            return
        before = None
        if log.isEnabledFor(logging.DEBUG):
            line = self._line()
            now = replaced(line.settings, self._fields) if self._fields else line.settings
            before = state_text(command, value, now, line.lines)
        if fields:
            self._fields.update(fields)
        elif command == telnet.ComPortCommand.PURGE_DATA:
            # The telnet layer answered it already (the reply is swallowed).
            line = self._line()
            line.purge(value)
            if peer.codec is not None:
                peer.codec.reply(command, value)
            if before is not None:
                log_request(peer.name, command, value, before, line, value)
            return
        elif command == telnet.ComPortCommand.SET_CONTROL and value in LINE_ACTIONS:
            self._line().set_line(*LINE_ACTIONS[value])
        if not self._batch:
            self._soon.call_soon(self._settle)
        self._batch.append((peer, command, value, before))

    def request_run(self, peer: Rfc2217Peer, run: telnet.ComPortRun) -> None:
        """Take a run of settings requests, as ``request`` takes each.

        Only the last value of each setting matters to the line, so each
        distinct request of the run is looked at once, the last first; the
        answers are made in ``_settle``, one encoding per distinct request.
        """
        if log.isEnabledFor(logging.DEBUG):  # -l: each request on its own line
            for command, value in telnet.run_requests(run.items):
                self.request(peer, telnet.ComPortRequest(command, value))
            return
        last: List[Dict[str, Any]] = []
        seen: Set[int] = set()
        for item in dict.fromkeys(reversed(run.items)):  # each once, the last first
            code = item[0]
            if code in seen:
                continue
            value = int.from_bytes(item[1:], "big") if code == 1 else item[1]
            fields = request_fields(telnet.ComPortCommand(code), value)
            if fields:  # a change (not a query, nor a value no port takes)
                seen.add(code)
                last.append(fields)
        for fields in reversed(last):
            self._fields.update(fields)
        if not self._batch:
            self._soon.call_soon(self._settle)
        self._batch.append((peer, _RUN, run.items, None))

    def _settle(self) -> None:
        """Apply this turn's settings once, then answer its requests in order.

        As ser2net answers the requests of one read: each answer carries
        the value in force after all of them, and a request whose setting
        the line refused gets none.
        """
        batch, self._batch = self._batch, []
        fields, self._fields = self._fields, {}
        line = self._line()
        refused = self._apply(line, fields) if fields else set()
        settings, lines = line.settings, line.lines
        debug = log.isEnabledFor(logging.DEBUG)
        present = set(self._peers())
        answered: Dict[Rfc2217Peer, None] = {}
        encoded: Tuple[Dict[bytes, bytes], Dict[bytes, int]] = ({}, {})
        for peer, command, value, before in batch:
            if command is _RUN:
                if self._answer_run(peer, value, encoded, settings, lines, refused, present):
                    answered[peer] = None
                continue
            answer: Optional[int] = None
            if not refused or refused.isdisjoint(request_fields(command, value) or ()):
                answer = answer_for(command, value, settings, lines)
            if debug:
                log_request(peer.name, command, value, before, line, answer)
            if answer is None:
                continue
            key = (command, _control_group(answer) if command == _SET_CONTROL else 0)
            self._owed.pop(key, None)
            self._owed[key] = (peer, command, answer)
            if peer in present and peer.codec is not None:
                peer.codec.reply(command, answer)
                answered[peer] = None
        for peer in answered:
            peer.flush_protocol()
        if self._owed and not self._tell.pending:
            self._tell_owed()  # nobody was told of a change lately: at once

    def _answer_run(
        self,
        peer: Rfc2217Peer,
        items: Tuple[bytes, ...],
        encoded: Tuple[Dict[bytes, bytes], Dict[bytes, int]],
        settings: SerialSettings,
        lines: Dict[str, bool],
        refused: Set[str],
        present: Set[Rfc2217Peer],
    ) -> bool:
        """Answer a run of requests (``request_run``) as ``_settle`` answers
        each; whether ``peer`` was answered.  ``encoded``: the answers made
        in this turn, by request, and their values (-1: none).  Per request
        only C-level work: a set, a dict and a join."""
        answers, values = encoded
        for item in set(items).difference(answers):
            command = telnet.ComPortCommand(item[0])
            value = int.from_bytes(item[1:], "big") if item[0] == 1 else item[1]
            fields = request_fields(command, value)
            if fields is None or (refused and not refused.isdisjoint(fields)):
                answers[item], values[item] = b"", -1
            else:
                answer = answer_for(command, value, settings, lines)
                answers[item], values[item] = telnet.com_port_answer(command, answer), answer
        # The others hear of the last answer of each kind, in their order.
        lasts: Dict[Tuple[int, int], _Change] = {}
        for item in dict.fromkeys(reversed(items)):  # each once, the last first
            answer = values[item]
            if answer >= 0:
                key = (item[0], _control_group(answer) if item[0] == _SET_CONTROL else 0)
                if key not in lasts:
                    lasts[key] = (peer, telnet.ComPortCommand(item[0]), answer)
        for key in reversed(list(lasts)):
            self._owed.pop(key, None)
            self._owed[key] = lasts[key]
        if peer not in present or peer.codec is None:
            return False
        peer.codec.reply_encoded(b"".join(map(answers.__getitem__, items)))
        return True

    def _apply(self, line: SerialControl, fields: Dict[str, Any]) -> Set[str]:
        """Put ``fields`` on the line, once; the names of those it refused.

        Only when the line refuses does each setting go on its own (five
        at most), to find which one it will not take.
        """
        current = line.settings
        changed = {name: v for name, v in fields.items() if getattr(current, name) != v}
        if not changed:
            return set()
        refused: Set[str] = set()
        try:
            line.reconfigure(replaced(current, changed))
        except ControlRefused as exc:
            log.debug("%ssettings refused: %s; trying them one by one", self._label, exc)
            took = False
            for group in _GROUPS:
                part = {name: changed[name] for name in group if name in changed}
                if part:
                    try:
                        line.reconfigure(replaced(line.settings, part))
                        took = True
                    except ControlRefused:
                        refused.update(group)
            if not took:
                return refused
        self.applied += 1
        if not line.virtual and log.isEnabledFor(TRAFFIC):
            log.log(
                TRAFFIC,
                "%sline set to %s (change %d)",
                self._label,
                settings_text(line.settings),
                self.applied,
            )
        return refused

    def _tell_owed(self) -> None:
        """Tell the others what changed, a slice of them at a time; what
        changes meanwhile waits for the round and a pause to end."""
        if not self._telling:
            if not self._owed:
                return  # a quiet pause: the next change is told at once
            self._round = list(self._owed.values())
            self._owed.clear()
            self._telling.extend(self._peers())
        current = set(self._peers())
        telling = self._telling
        for _ in range(min(self.TELL_SLICE, len(telling))):
            peer = telling.popleft()
            if peer not in current or peer.codec is None or peer.output_full:
                # A client past its output bound is not told of others'
                # changes: its queue must not grow with what they ask.
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

    def watch_modem_lines(self, peer: Optional[Rfc2217Peer] = None) -> None:
        """A client (``peer``) set a modemstate mask: poll the lines if they
        can be read.  Its telnet layer answered with the state it last
        heard of (none yet: all lines off); if the lines read otherwise,
        it is told at once, as a change, rather than at the next change."""
        bits = self._line().modem_bits()
        if bits is None:
            return
        if peer is not None:
            self._report(peer, bits)
        if not self._poll.pending:
            self._modem_last = bits
            self._poll.arm(self.POLL_SECONDS)

    def device_lost(self) -> None:
        """A held device went away (``device-loss: hold``): its clients
        see CD, DSR, CTS and RI drop, each marked as changed, as when a
        cable is pulled out; each client's modemstate mask applies."""
        self._poll.cancel()
        self._modem_last = 0
        log.debug("%smodem lines reported lost: %s", self._label, modem_lines_text(LINES_LOST))
        for peer in self._peers():
            if peer.codec is not None:
                peer.codec.notify_modemstate(LINES_LOST)
                peer.flush_protocol()

    def device_back(self) -> None:
        """A held device is open again: each client hears the lines as
        they read now (the changes from what it was last told), and they
        are polled again while somebody listens.  Lines that cannot be
        read (a pty) stay as reported: off."""
        bits = self._line().modem_bits()
        if bits is None:
            return
        for peer in self._peers():
            self._report(peer, bits)
        self._modem_last = bits
        if any(p.codec.modemstate_mask for p in self._peers() if p.codec is not None):
            self._poll.arm(self.POLL_SECONDS)

    def _report(self, peer: Rfc2217Peer, bits: int) -> None:
        """Tell ``peer`` the lines read ``bits``, if that is news to it."""
        codec = peer.codec
        if codec is None or (codec.modemstate & 0xF0) == bits:
            return
        codec.notify_modemstate(telnet.modemstate_with_deltas(codec.modemstate, bits))
        peer.flush_protocol()

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
        self._poll.cancel()
        self._unbreak.cancel()
        self._breaking = None


_SET_CONTROL = telnet.ComPortCommand.SET_CONTROL
#: The modemstate of a device that went away: CTS, DSR, RI and CD off,
#: each marked as changed.
LINES_LOST = 0x0F
#: The command of a run of requests in the batch (``request_run``).
_RUN: Any = object()

#: The settings a line may refuse, each with what goes with it.
_GROUPS = (("speed",), ("databits",), ("parity",), ("stopbits",), ("xonxoff", "rtscts"))


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
