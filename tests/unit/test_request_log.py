"""-l: every RFC 2217 request is logged with who asked, and what came of it."""

from __future__ import annotations

import logging

import pytest
from fakeloop import FakeLoop
from test_rfc2217_session import Line, Peer

from pyser2net.config.model import SerialSettings
from pyser2net.protocol.comport import VirtualLines, settings_text
from pyser2net.protocol.telnet import ComPortCommand as C
from pyser2net.protocol.telnet import ComPortRequest
from pyser2net.protocol.telnet import ControlValue as V
from pyser2net.runtime.comport import apply_logged
from pyser2net.runtime.rfc2217 import Rfc2217Session

WHO = "c1 client 127.0.0.1,5000"


@pytest.mark.parametrize(
    ("command", "value", "logged"),
    [
        (C.SET_BAUDRATE, 115200, "set baud rate 115200: done (was 9600)"),
        (C.SET_BAUDRATE, 9600, "set baud rate 9600: unchanged"),
        (C.SET_BAUDRATE, 0, "query baud rate: is 9600"),
        (C.SET_DATASIZE, 7, "set data size 7: done (was 8)"),
        (C.SET_DATASIZE, 9, "set data size 9: refused"),
        (C.SET_PARITY, 3, "set parity even: done (was none)"),
        (C.SET_PARITY, 0, "query parity: is none"),
        (C.SET_STOPSIZE, 2, "set stop bits 2: done (was 1)"),
        (C.SET_STOPSIZE, 3, "set stop bits 3: refused"),
        (C.SET_CONTROL, V.FLOW_HARDWARE, "set flow control RTS/CTS: done (was none)"),
        (C.SET_CONTROL, V.FLOW_REQUEST, "query flow control: is none"),
        (C.SET_CONTROL, V.DTR_OFF, "set DTR off: done (was on)"),
        (C.SET_CONTROL, V.RTS_ON, "set RTS on: unchanged"),
        (C.SET_CONTROL, V.BREAK_ON, "set break on: done (was off)"),
        (C.SET_CONTROL, V.DTR_REQUEST, "query DTR: is on"),
        (C.PURGE_DATA, 1, "purge receive buffer: done"),
        (C.PURGE_DATA, 3, "purge both buffers: done"),
    ],
)
def test_each_request_in_words(caplog, command, value, logged):
    with caplog.at_level(logging.DEBUG, logger="pyser2net"):
        apply_logged(Line(), command, value, WHO)
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.DEBUG, f"{WHO}: RFC 2217 {logged}")
    ]


def test_a_line_that_refuses_is_logged_as_refusing(caplog):
    line = Line()
    line.refuse = True
    with caplog.at_level(logging.DEBUG, logger="pyser2net"):
        assert apply_logged(line, C.SET_BAUDRATE, 300, WHO) is None
    assert caplog.records[0].getMessage() == f"{WHO}: RFC 2217 set baud rate 300: refused"


def test_a_port_without_a_serial_line_says_so(caplog):
    with caplog.at_level(logging.DEBUG, logger="pyser2net"):
        apply_logged(VirtualLines(SerialSettings()), C.SET_BAUDRATE, 300, WHO)
    assert caplog.records[0].getMessage() == (
        f"{WHO}: RFC 2217 set baud rate 300: done (was 9600), remembered only: "
        "no serial line behind this port"
    )


def test_nothing_is_logged_without_l(caplog):
    with caplog.at_level(logging.INFO, logger="pyser2net"):
        apply_logged(Line(), C.SET_BAUDRATE, 300, WHO)
    assert caplog.records == []


def test_the_session_names_the_client_and_logs_modem_line_changes(caplog):
    loop = FakeLoop()
    line, peer = Line(), Peer()
    session = Rfc2217Session(loop.reactor, lambda: line, lambda: [peer], label="c1")
    with caplog.at_level(logging.DEBUG, logger="pyser2net"):
        session.request(peer, ComPortRequest(C.SET_BAUDRATE, 1200))
        peer.codec.receive_data(bytes([255, 250, 44, 11, 255, 255, 255, 240]))  # mask: all
        session.watch_modem_lines()
        line.modem = 0x30 | 0x80  # CD comes up
        loop.advance(Rfc2217Session.POLL_SECONDS)
        loop.advance(Rfc2217Session.POLL_SECONDS)  # no change: nothing logged
    assert [r.getMessage() for r in caplog.records] == [
        f"{peer.name}: RFC 2217 set baud rate 1200: done (was 9600)",
        "c1: modem lines changed: CTS on, DSR on, RI off, CD on (changed)",
    ]
    loop.close()


def test_settings_in_showport_words():
    assert settings_text(SerialSettings(speed=115200, local=True)) == "115200N81,CLOCAL"
    assert settings_text(
        SerialSettings(parity="even", databits=7, stopbits=2, rtscts=True, hangup_when_done=True)
    ) == ("9600E72,RTSCTS,HANGUP_WHEN_DONE")


def test_a_burst_is_logged_request_by_request_once_it_reached_the_line(caplog):
    from test_rfc2217_session import Refusing

    loop = FakeLoop()
    line, peer = Refusing(4800), Peer()
    session = Rfc2217Session(loop.reactor, lambda: line, lambda: [peer], label="c1")
    with caplog.at_level(logging.DEBUG, logger="pyser2net"):
        for command, value in [
            (C.SET_BAUDRATE, 1200),
            (C.SET_BAUDRATE, 2400),
            (C.SET_DATASIZE, 7),
            (C.SET_PARITY, 9),
            (C.SET_STOPSIZE, 2),
            (C.SET_STOPSIZE, 1),
        ]:
            session.request(peer, ComPortRequest(command, value))
        assert caplog.records[0].getMessage() == f"{WHO}: RFC 2217 set parity 9: refused"
        session.request(peer, ComPortRequest(C.SET_BAUDRATE, 4800))
        loop.turn()
    assert [r.getMessage() for r in caplog.records][1:] == [
        "c1: settings refused: 4800 baud: no; trying them one by one",
        f"{WHO}: RFC 2217 set baud rate 1200: refused",
        f"{WHO}: RFC 2217 set baud rate 2400: refused",
        f"{WHO}: RFC 2217 set data size 7: done (was 8)",
        f"{WHO}: RFC 2217 set stop bits 2: overtaken by a later request (1 in force)",
        f"{WHO}: RFC 2217 set stop bits 1: done (was 2)",  # as the client sees it
        f"{WHO}: RFC 2217 set baud rate 4800: refused",
    ]
    loop.close()


def test_a_run_of_requests_is_logged_request_by_request(caplog):
    from pyser2net.protocol.telnet import ComPortRun

    loop = FakeLoop()
    line, peer = Line(), Peer()
    session = Rfc2217Session(loop.reactor, lambda: line, lambda: [peer], label="c1")
    run = ComPortRun((b"\x01\x00\x00\x04\xb0", b"\x02\x07", b"\x01\x00\x00\x00\x00"))
    with caplog.at_level(logging.DEBUG, logger="pyser2net"):
        session.request_run(peer, run)
        loop.turn()
    assert [r.getMessage() for r in caplog.records] == [
        f"{WHO}: RFC 2217 set baud rate 1200: done (was 9600)",
        f"{WHO}: RFC 2217 set data size 7: done (was 8)",
        f"{WHO}: RFC 2217 query baud rate: is 1200",
    ]
    assert peer.sent.count(b"\xff\xfa\x2c") == 3
    loop.close()
