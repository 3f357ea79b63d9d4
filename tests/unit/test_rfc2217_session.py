"""The RFC 2217 session of a port: shared settings, breaks, modem-line reports."""

from __future__ import annotations

from typing import Dict, List, Optional

import pytest
from fakeloop import FakeLoop

from pyser2net.config.model import SerialSettings
from pyser2net.protocol.comport import ControlRefused, VirtualLines
from pyser2net.protocol.telnet import ComPortCommand, ComPortRequest, ComPortRun, TelnetServerCodec
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


def baud(value: int) -> bytes:
    return answer(101, value.to_bytes(4, "big"))


def test_a_setting_is_answered_in_the_next_turn_and_reported_to_the_others(loop):
    line, a, b = Line(), Peer(), Peer()
    session = session_for(loop, line, [a, b])
    session.request(a, ComPortRequest(ComPortCommand.SET_BAUDRATE, 115200))
    assert line.log == [] and a.sent == b.sent == b""  # taken; the turn ends first
    loop.turn()
    assert line.log == ["speed 115200"]
    assert a.sent == baud(115200)
    assert b.sent == baud(115200)  # the others hear of it at once


def request_all(session, peer, requests):
    for command, value in requests:
        session.request(peer, ComPortRequest(command, value))


def test_a_burst_reaches_the_line_once_and_every_answer_carries_the_last_value(loop):
    line, a, b = Line(), Peer(), Peer()
    session = session_for(loop, line, [a, b])
    bauds = [1200, 2400, 4800, 9600, 19200, 38400]
    request_all(session, a, [(ComPortCommand.SET_BAUDRATE, value) for value in bauds])
    loop.turn()
    assert line.log == ["speed 38400"]
    assert a.sent == baud(38400) * len(bauds)  # as ser2net answers the requests of one read
    assert b.sent == baud(38400)
    loop.turn(3)
    assert line.log == ["speed 38400"] and session.applied == 1
    # The next turn's requests are the next burst; the others hear of it
    # after the pause, together with what changes meanwhile.
    request_all(session, a, [(ComPortCommand.SET_BAUDRATE, 600)])
    loop.turn()
    assert line.log[-1] == "speed 600" and a.sent.endswith(baud(600))
    assert b.sent == baud(38400)
    loop.advance(Rfc2217Session.TELL_PAUSE)
    assert b.sent == baud(38400) + baud(600)


def test_settings_already_in_force_cost_nothing(loop):
    line, a = Line(), Peer()
    session = session_for(loop, line, [a])
    request_all(session, a, [(ComPortCommand.SET_BAUDRATE, 9600)] * 50)
    loop.turn(2)
    assert line.log == [] and session.applied == 0
    assert a.sent == baud(9600) * 50


def test_a_burst_that_comes_back_to_the_settings_in_force_leaves_the_line_alone(loop):
    line, a = Line(), Peer()
    session = session_for(loop, line, [a])
    bauds = [4800, 2400, 9600]
    request_all(session, a, [(ComPortCommand.SET_BAUDRATE, value) for value in bauds])
    loop.turn(2)
    assert line.log == [] and a.sent == baud(9600) * 3


def test_different_settings_in_a_burst_are_applied_together(loop):
    line, a = Line(), Peer()
    session = session_for(loop, line, [a])
    C = ComPortCommand
    request_all(
        session,
        a,
        [
            (C.SET_BAUDRATE, 57600),
            (C.SET_PARITY, 3),
            (C.SET_DATASIZE, 7),
            (C.SET_STOPSIZE, 2),
            (C.SET_DATASIZE, 0),
            (C.SET_CONTROL, 3),
            (C.SET_CONTROL, 13),
        ],
    )
    loop.turn()
    s = line.settings
    assert (s.speed, s.parity, s.databits, s.stopbits, s.rtscts) == (57600, "even", 7, 2, True)
    assert len(line.log) == 1
    assert a.sent == (
        baud(57600)
        + answer(103, bytes([3]))
        + answer(102, bytes([7]))
        + answer(104, bytes([2]))
        + answer(102, bytes([7]))
        + answer(105, bytes([3]))
        + answer(105, bytes([16]))  # inbound flow control follows RTS/CTS
    )


def test_lines_act_at_once_and_are_answered_with_the_rest(loop):
    line, a = Line(), Peer()
    session = session_for(loop, line, [a])
    C = ComPortCommand
    request_all(session, a, [(C.SET_BAUDRATE, 1200), (C.SET_CONTROL, 9), (C.SET_CONTROL, 7)])
    assert line.log == ["dtr off"]
    loop.turn()
    assert line.log == ["dtr off", "speed 1200"]
    assert a.sent == baud(1200) + answer(105, bytes([9])) * 2


class Refusing(Line):
    """A line that will not take some speeds (a driver's own limits)."""

    def __init__(self, *speeds: int) -> None:
        super().__init__()
        self.speeds = set(speeds)

    def reconfigure(self, settings: SerialSettings) -> None:
        if settings.speed in self.speeds:
            raise ControlRefused(f"{settings.speed} baud: no")
        super().reconfigure(settings)
        self.log[-1] += f" databits {settings.databits}"


def test_a_setting_refused_in_a_burst_is_not_answered_and_the_rest_is(loop):
    line, a, b = Refusing(2400), Peer(), Peer()
    session = session_for(loop, line, [a, b])
    C = ComPortCommand
    request_all(
        session,
        a,
        [(C.SET_BAUDRATE, 1200), (C.SET_DATASIZE, 7), (C.SET_BAUDRATE, 2400), (C.SET_BAUDRATE, 0)],
    )
    loop.turn()
    # All at once, refused; then each setting on its own: the data size takes.
    assert (line.settings.speed, line.settings.databits) == (9600, 7)
    assert line.log == ["speed 9600 databits 7"]
    # No answer to the two baud rates asked for; the query says what is in force.
    assert a.sent == answer(102, bytes([7])) + baud(9600)
    assert b.sent == answer(102, bytes([7])) + baud(9600)
    assert session.applied == 1


def test_a_refused_setting_gets_no_answer(loop):
    line, a, b = Line(), Peer(), Peer()
    line.refuse = True
    session = session_for(loop, line, [a, b])
    session.request(a, ComPortRequest(ComPortCommand.SET_BAUDRATE, 115200))
    loop.turn(2)
    assert a.sent == b.sent == b"" and session.applied == 0
    session.request(a, ComPortRequest(ComPortCommand.SET_BAUDRATE, 0))
    loop.turn()
    assert a.sent == baud(9600)  # the truth


def test_others_hear_the_last_value_of_each_setting_changed_in_a_burst(loop):
    line, a, b, c = Line(), Peer("a"), Peer("b"), Peer("c")
    session = session_for(loop, line, [a, b, c])
    C = ComPortCommand

    def control(value: int) -> bytes:
        return answer(105, bytes([value]))

    # a: DTR on, RTS on, XON/XOFF; in the next turn b: 2400 baud, DTR off, RTS/CTS.
    request_all(session, a, [(C.SET_CONTROL, 8), (C.SET_CONTROL, 11), (C.SET_CONTROL, 2)])
    loop.turn()
    # The first changes are told at once; each asker has its own answers.
    assert a.sent == control(8) + control(11) + control(2)
    assert b.sent == c.sent == control(8) + control(11) + control(2)
    request_all(session, b, [(C.SET_BAUDRATE, 2400), (C.SET_CONTROL, 9), (C.SET_CONTROL, 3)])
    loop.turn()
    assert b.sent == control(8) + control(11) + control(2) + baud(2400) + control(9) + control(3)
    assert c.sent == control(8) + control(11) + control(2)  # the pause is not over
    loop.advance(Rfc2217Session.TELL_PAUSE)
    # Then the last value of each setting, once, to all but who asked for it.
    told = baud(2400) + control(9) + control(3)
    assert c.sent == control(8) + control(11) + control(2) + told
    assert a.sent == control(8) + control(11) + control(2) + told
    before = bytes(b.sent)
    loop.advance(Rfc2217Session.TELL_PAUSE)
    assert b.sent == before and c.sent.endswith(told)  # nothing more


def test_many_clients_are_told_a_slice_at_a_time(loop):
    line, asker = Line(), Peer("asker")
    others = [Peer(f"p{i}") for i in range(40)]
    session = session_for(loop, line, [*others, asker])
    C = ComPortCommand
    request_all(session, asker, [(C.SET_BAUDRATE, 1200), (C.SET_BAUDRATE, 2400)])
    loop.turn()
    told = [p.sent == baud(2400) for p in others]
    assert told == [True] * Rfc2217Session.TELL_SLICE + [False] * (40 - Rfc2217Session.TELL_SLICE)
    loop.advance(Rfc2217Session.TELL_SLICE_PAUSE)
    loop.advance(Rfc2217Session.TELL_SLICE_PAUSE)
    assert all(p.sent == baud(2400) for p in others)
    assert asker.sent == baud(2400) * 2  # its own answers, never a report of its own change


def test_a_client_past_its_output_bound_is_not_told_of_others_changes(loop):
    line, a, b = Line(), Peer(), Peer()
    b.output_full = True
    session = session_for(loop, line, [a, b])
    request_all(session, a, [(ComPortCommand.SET_BAUDRATE, 1200)])
    loop.turn()
    assert a.sent == baud(1200) and b.sent == b""


def test_a_client_gone_before_the_answer_gets_none(loop):
    line, a, b = Line(), Peer(), Peer()
    peers = [a, b]
    session = session_for(loop, line, peers)
    request_all(session, a, [(ComPortCommand.SET_BAUDRATE, 1200)])
    peers.remove(a)
    loop.turn()
    assert line.log == ["speed 1200"] and a.sent == b"" and b.sent == baud(1200)


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


def listening(mask: int) -> Peer:
    """A client whose modemstate mask is ``mask``, its answers to that taken."""
    peer = Peer()
    peer.codec.receive_data(sb(11, mask))
    peer.flush_protocol()
    peer.sent.clear()
    return peer


def test_a_client_setting_its_mask_hears_the_lines_as_they_read(loop):
    line = Line()
    a = Peer()
    a.codec.receive_data(sb(11, 0xFF))
    a.flush_protocol()
    assert a.sent == sb(111, 0xFF) + answer(107, b"\x00")  # nothing heard yet
    a.sent.clear()
    session = session_for(loop, line, [a])
    session.watch_modem_lines(a)
    assert a.sent == answer(107, b"\x33")  # CTS and DSR, each a change
    a.sent.clear()
    session.watch_modem_lines(a)  # again: no news
    loop.advance(1.0)
    assert a.sent == b""


def test_a_lost_device_drops_every_line_under_each_clients_mask(loop):
    line = Line()
    line.modem = 0xB0  # CD, DSR, CTS
    everything, no_cd, nothing = listening(0xFF), listening(0x77), listening(0)
    peers = [everything, no_cd, nothing]
    session = session_for(loop, line, peers)
    for peer in peers:
        session.watch_modem_lines(peer)
        peer.sent.clear()
    session.device_lost()
    assert everything.sent == answer(107, b"\x0f")  # all off, all changed
    assert no_cd.sent == answer(107, b"\x07")  # CD is not theirs to see
    assert nothing.sent == b""
    for peer in peers:
        peer.sent.clear()
    line.modem = 0x00  # no polling while it is away
    loop.advance(3.0)
    assert everything.sent == no_cd.sent == b""

    line.modem = 0xB0
    session.device_back()
    assert everything.sent == answer(107, b"\xbb")
    assert no_cd.sent == answer(107, b"\x33")
    assert nothing.sent == b""
    everything.sent.clear()
    no_cd.sent.clear()
    line.modem = 0x30  # polled again: carrier drops
    loop.advance(1.0)
    assert everything.sent == answer(107, b"\x38")
    assert no_cd.sent == b""  # a change of CD alone


def test_a_device_back_whose_lines_cannot_be_read_stays_reported_off(loop):
    line = Line()
    line.modem = None
    a = listening(0xFF)
    session = session_for(loop, line, [a])
    session.device_lost()
    assert a.sent == answer(107, b"\x0f")
    a.sent.clear()
    session.device_back()
    loop.advance(3.0)
    assert a.sent == b""
    assert a.codec.modemstate == 0x0F  # what a later mask change reports


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


def sb(*payload: int) -> bytes:
    return (
        bytes([IAC, SB, COM_PORT]) + bytes(payload).replace(b"\xff", b"\xff\xff") + bytes([IAC, SE])
    )


def events_of(data: bytes, runs: bool):
    codec = TelnetServerCodec(rfc2217=True, com_port_runs=runs)
    return codec.receive_data(data)


@pytest.mark.parametrize(
    "data",
    [
        b"".join(sb(1, 0, 0, b, 0) for b in (0x4B, 0x96, 0x25, 0x4B)),
        sb(1, 0, 0, 0x4B, 0) + sb(2, 7) + sb(2, 9) + sb(3, 3) + sb(4, 2) + sb(1, 0, 0, 0, 0),
        sb(5, 2) + sb(5, 0) + sb(5, 13) + sb(5, 3) + sb(5, 14) + sb(5, 1),
        sb(2, 5) + sb(2, 0) + sb(3, 6) + sb(4, 3) + sb(2, 8),
        sb(1, 0, 0, 0x4B, 0) * 40 + sb(1, 0, 0, 0x12, 0xC0),
    ],
    ids=["bauds", "mixed", "flow", "invalid", "long"],
)
@pytest.mark.parametrize(
    "refusing", [(), (4800,), (19200,)], ids=["", "refuse-4800", "refuse-19200"]
)
def test_a_run_is_answered_and_told_as_its_requests_one_by_one(loop, data, refusing):
    seen = []
    for runs in (False, True):
        line, a, b = Refusing(*refusing), Peer("a"), Peer("b")
        session = session_for(loop, line, [a, b])
        events = events_of(data, runs)
        assert any(isinstance(e, ComPortRun) for e in events) == runs
        for event in events:
            if isinstance(event, ComPortRun):
                session.request_run(a, event)
            else:
                session.request(a, event)
        loop.turn()
        loop.advance(Rfc2217Session.TELL_PAUSE)
        seen.append((bytes(a.sent), bytes(b.sent), line.log, line.settings, session.applied))
    assert seen[0] == seen[1]
    assert seen[0][0] or refusing  # answered, unless every request was refused
