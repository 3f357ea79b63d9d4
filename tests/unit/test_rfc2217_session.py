"""The RFC 2217 session of a port: shared settings, breaks, modem-line reports."""

from __future__ import annotations

from typing import Dict, List, Optional

import pytest
from fakeloop import FakeLoop

from pyser2net.config.model import SerialSettings
from pyser2net.protocol.comport import ControlRefused, VirtualLines
from pyser2net.protocol.telnet import ComPortCommand, ComPortRequest, TelnetServerCodec
from pyser2net.runtime.rfc2217 import Rfc2217Session

IAC, SB, SE = 255, 250, 240
COM_PORT = 44


def answer(code: int, payload: bytes) -> bytes:
    return bytes([IAC, SB, COM_PORT, code]) + payload + bytes([IAC, SE])


class Line:
    """A serial line whose modem inputs the test sets, and which records
    every change asked of it (the session must only use this surface)."""

    virtual = False

    def __init__(self) -> None:
        self.settings = SerialSettings(speed=9600)
        self.lines: Dict[str, bool] = {"dtr": True, "rts": True, "break": False}
        self.modem: Optional[int] = 0x30
        self.log: List[str] = []
        self.refuse = False

    def reconfigure(self, settings: SerialSettings) -> None:
        if self.refuse:
            raise ControlRefused("no")
        self.settings = settings
        self.log.append(f"speed {settings.speed}")

    def set_line(self, name: str, on: bool) -> None:
        self.lines[name] = on
        self.log.append(f"{name} {'on' if on else 'off'}")

    def purge(self, which: int) -> None:
        self.log.append(f"purge {which}")

    def modem_bits(self) -> Optional[int]:
        return self.modem


class Peer:
    def __init__(self, name: str = "c1 client 127.0.0.1,5000") -> None:
        self.name = name
        self.codec = TelnetServerCodec(rfc2217=True)
        self.sent = bytearray()
        self.output_full = False

    def flush_protocol(self) -> None:
        self.sent += self.codec.data_to_send()


@pytest.fixture
def loop():
    loop = FakeLoop()
    yield loop
    loop.close()


def session_for(loop, line, peers):
    return Rfc2217Session(loop.reactor, lambda: line, lambda: peers)


def test_a_setting_is_answered_to_the_asker_and_reported_to_the_others(loop):
    line, a, b = Line(), Peer(), Peer()
    session = session_for(loop, line, [a, b])
    session.request(a, ComPortRequest(ComPortCommand.SET_BAUDRATE, 115200))
    assert line.log == ["speed 115200"]
    baud = answer(101, (115200).to_bytes(4, "big"))
    assert b.sent == baud
    assert a.sent == b""  # the asker's answer waits for the end of its chunk
    a.flush_protocol()
    assert a.sent == baud


def request_all(session, peer, requests):
    for command, value in requests:
        session.request(peer, ComPortRequest(command, value))


def test_a_burst_of_settings_reaches_the_line_once_per_turn_with_the_last_values(loop):
    line, a, b = Line(), Peer(), Peer()
    session = session_for(loop, line, [a, b])
    bauds = [1200, 2400, 4800, 9600, 19200, 38400]
    request_all(session, a, [(ComPortCommand.SET_BAUDRATE, baud) for baud in bauds])
    # Answered at once, each with the value asked for.
    answers = b"".join(answer(101, baud.to_bytes(4, "big")) for baud in bauds)
    a.flush_protocol()
    assert a.sent == answers
    # The other client hears of the first change at once, of the last in the next turn.
    assert b.sent == answer(101, (1200).to_bytes(4, "big"))
    assert line.log == ["speed 1200"]  # the first at once: a refusal would show
    loop.turn()
    assert line.log == ["speed 1200", "speed 38400"]  # then only the last
    loop.advance(Rfc2217Session.TELL_PAUSE)
    assert b.sent == answer(101, (1200).to_bytes(4, "big")) + answer(
        101, (38400).to_bytes(4, "big")
    )
    loop.turn(3)
    assert line.log == ["speed 1200", "speed 38400"]
    assert session.paced().applied == 2
    # The line is quiet again: the next change is applied at once.
    request_all(session, a, [(ComPortCommand.SET_BAUDRATE, 600)])
    assert line.log[-1] == "speed 600"


def test_settings_already_in_force_cost_nothing(loop):
    line, a = Line(), Peer()
    session = session_for(loop, line, [a])
    request_all(session, a, [(ComPortCommand.SET_BAUDRATE, 9600)] * 50)
    loop.turn(2)
    a.flush_protocol()
    assert line.log == [] and session.paced().applied == 0
    assert a.sent == answer(101, (9600).to_bytes(4, "big")) * 50


def test_a_burst_that_comes_back_to_the_settings_in_force_leaves_the_line_alone(loop):
    line, a = Line(), Peer()
    session = session_for(loop, line, [a])
    request_all(
        session,
        a,
        [
            (ComPortCommand.SET_BAUDRATE, 4800),
            (ComPortCommand.SET_BAUDRATE, 2400),
            (ComPortCommand.SET_BAUDRATE, 4800),
        ],
    )
    loop.turn(2)
    assert line.log == ["speed 4800"]


def test_different_settings_in_a_burst_are_applied_together(loop):
    line, a = Line(), Peer()
    session = session_for(loop, line, [a])
    request_all(
        session,
        a,
        [
            (ComPortCommand.SET_BAUDRATE, 57600),
            (ComPortCommand.SET_PARITY, 3),
            (ComPortCommand.SET_DATASIZE, 7),
            (ComPortCommand.SET_STOPSIZE, 2),
            (ComPortCommand.SET_DATASIZE, 0),  # a query answers what was asked for
        ],
    )
    a.flush_protocol()
    assert a.sent.endswith(answer(102, bytes([7])))
    loop.turn()
    s = line.settings
    assert (s.speed, s.parity, s.databits, s.stopbits) == (57600, "even", 7, 2)
    assert len(line.log) == 2


def test_a_refused_setting_from_a_burst_leaves_the_line_as_it_was(loop, caplog):
    line, a = Line(), Peer()
    session = session_for(loop, line, [a])
    request_all(session, a, [(ComPortCommand.SET_BAUDRATE, 1200)])
    line.refuse = True
    request_all(session, a, [(ComPortCommand.SET_BAUDRATE, 2400)])
    loop.turn()
    assert line.settings.speed == 1200
    assert "settings asked for in a burst not applied" in caplog.text
    loop.turn()
    request_all(session, a, [(ComPortCommand.SET_BAUDRATE, 0)])
    a.flush_protocol()
    assert a.sent.endswith(answer(101, (1200).to_bytes(4, "big")))  # the truth again


def test_others_hear_the_last_value_of_each_setting_changed_in_a_burst(loop):
    line, a, b, c = Line(), Peer("a"), Peer("b"), Peer("c")
    session = session_for(loop, line, [a, b, c])
    C = ComPortCommand

    def control(value: int) -> bytes:
        return answer(105, bytes([value]))

    baud = answer(101, (2400).to_bytes(4, "big"))
    # a: DTR off, RTS off, XON/XOFF; then b: 2400 baud, DTR on, RTS/CTS.
    request_all(session, a, [(C.SET_CONTROL, 8), (C.SET_CONTROL, 11), (C.SET_CONTROL, 2)])
    a.flush_protocol()  # the end of a's chunk
    request_all(session, b, [(C.SET_BAUDRATE, 2400), (C.SET_CONTROL, 9), (C.SET_CONTROL, 3)])
    b.flush_protocol()
    # The first change is told at once; each asker has its own answers.
    assert c.sent == control(8)
    assert a.sent == control(8) + control(11) + control(2)
    assert b.sent == control(8) + baud + control(9) + control(3)
    loop.advance(Rfc2217Session.TELL_PAUSE)
    # Then the last value of each setting, once, to all but who asked for it:
    # RTS (a's), baud rate, DTR and flow control (b's, asked for last).
    assert c.sent == control(8) + control(11) + baud + control(9) + control(3)
    assert a.sent == control(8) + control(11) + control(2) + baud + control(9) + control(3)
    assert b.sent == control(8) + baud + control(9) + control(3) + control(11)
    told = bytes(c.sent)
    loop.advance(Rfc2217Session.TELL_PAUSE)
    assert c.sent == told  # nothing more


def test_many_clients_are_told_a_slice_at_a_time(loop):
    line, asker = Line(), Peer("asker")
    others = [Peer(f"p{i}") for i in range(40)]
    session = session_for(loop, line, [*others, asker])
    C = ComPortCommand
    request_all(session, asker, [(C.SET_BAUDRATE, 1200), (C.SET_BAUDRATE, 2400)])
    first = answer(101, (1200).to_bytes(4, "big"))
    assert all(p.sent == first for p in others)  # the first change: everybody at once
    later = first + answer(101, (2400).to_bytes(4, "big"))
    loop.advance(Rfc2217Session.TELL_PAUSE)
    told = [p.sent == later for p in others]
    assert told == [True] * Rfc2217Session.TELL_SLICE + [False] * (40 - Rfc2217Session.TELL_SLICE)
    loop.advance(Rfc2217Session.TELL_SLICE_PAUSE)
    loop.advance(Rfc2217Session.TELL_SLICE_PAUSE)
    assert all(p.sent == later for p in others)
    asker.flush_protocol()
    assert asker.sent == later  # its own answers, never a report of its own change


def test_a_client_past_its_output_bound_is_not_told_of_others_changes(loop):
    line, a, b = Line(), Peer(), Peer()
    b.output_full = True
    session = session_for(loop, line, [a, b])
    request_all(session, a, [(ComPortCommand.SET_BAUDRATE, 1200)])
    assert b.sent == b""


def test_a_refused_setting_gets_no_answer(loop):
    line, a, b = Line(), Peer(), Peer()
    line.refuse = True
    session = session_for(loop, line, [a, b])
    session.request(a, ComPortRequest(ComPortCommand.SET_BAUDRATE, 115200))
    a.flush_protocol()
    assert a.sent == b.sent == b""


def test_purge_concerns_the_asker_only(loop):
    line, a, b = Line(), Peer(), Peer()
    session = session_for(loop, line, [a, b])
    session.request(a, ComPortRequest(ComPortCommand.PURGE_DATA, 3))
    assert line.log == ["purge 3"] and b.sent == b""


def test_a_break_lasts_a_quarter_second_and_does_not_stack(loop):
    line = Line()
    session = session_for(loop, line, [])
    session.send_break()
    session.send_break()  # already in break: ignored
    assert line.log == ["break on"]
    loop.advance(0.249)
    assert line.lines["break"]
    loop.advance(0.001)
    assert line.log == ["break on", "break off"]


def test_a_break_ends_on_its_own_line_only(loop):
    line, lines = Line(), []
    session = Rfc2217Session(loop.reactor, lambda: lines[-1], lambda: [])
    lines.append(line)
    session.send_break()
    lines.append(Line())  # the device was reopened meanwhile
    loop.advance(0.25)
    assert line.log == ["break on"]


def test_a_virtual_line_has_no_break(loop):
    line = VirtualLines(SerialSettings())
    session = Rfc2217Session(loop.reactor, lambda: line, lambda: [])
    session.send_break()
    assert line.lines["break"] is False


def test_modem_lines_are_polled_while_somebody_listens(loop):
    line, a = Line(), Peer()
    a.codec.receive_data(bytes([IAC, SB, COM_PORT, 11, 0xFF, 0xFF, IAC, SE]))  # mask: all
    a.flush_protocol()
    a.sent.clear()
    session = session_for(loop, line, [a])
    session.watch_modem_lines()
    session.watch_modem_lines()  # one poll at a time
    loop.advance(1.0)
    assert a.sent == b""  # nothing changed
    line.modem = 0x30 | 0x80  # carrier detect comes up
    loop.advance(1.0)
    assert a.sent == answer(107, bytes([0xB8]))  # CD and its delta, CTS, DSR
    a.sent.clear()
    a.codec.receive_data(bytes([IAC, SB, COM_PORT, 11, 0, IAC, SE]))  # mask: none
    a.flush_protocol()
    a.sent.clear()  # the telnet layer's own answer to the mask
    line.modem = 0x30
    loop.advance(1.0)
    loop.advance(1.0)
    assert a.sent == b""


def test_lines_that_cannot_be_read_are_not_polled(loop):
    line, a = Line(), Peer()
    line.modem = None
    session = session_for(loop, line, [a])
    session.watch_modem_lines()
    line.modem = 0xF0
    loop.advance(5.0)
    a.flush_protocol()
    assert a.sent == b""


def test_stop_ends_polling(loop):
    line, a = Line(), Peer()
    a.codec.receive_data(bytes([IAC, SB, COM_PORT, 11, 0xFF, 0xFF, IAC, SE]))
    a.flush_protocol()
    a.sent.clear()
    session = session_for(loop, line, [a])
    session.watch_modem_lines()
    session.stop()
    line.modem = 0xF0
    loop.advance(2.0)
    assert a.sent == b""
