"""Filters and filter stacks: bytes in, events and bytes out, no I/O."""

from __future__ import annotations

from typing import List

import pytest

from pyser2net.protocol.events import Data, Event
from pyser2net.protocol.filters import FilterStack
from pyser2net.protocol.telnet import (
    Break,
    ComPortCommand,
    ComPortRequest,
    TelnetServerCodec,
    initial_negotiation,
)
from pyser2net.protocol.telnet_filter import TelnetServerFilter

IAC, SB, SE, BRK = 255, 250, 240, 243
COM_PORT = 44


def telnet(rfc2217: bool = True) -> TelnetServerFilter:
    return TelnetServerFilter(TelnetServerCodec(rfc2217=rfc2217, signature="sig"))


class Brackets:
    """A toy framing layer: ``<payload>`` on the wire, greeting ``HELLO``.

    Its answers (``!``) acknowledge every frame, so the order of answers and
    payload through a two-layer stack can be checked.
    """

    def __init__(self) -> None:
        self._partial = bytearray()
        self._out = bytearray()

    def start(self) -> bytes:
        return b"HELLO"

    def receive(self, data: bytes) -> List[Event]:
        events: List[Event] = []
        self._partial += data
        while b">" in self._partial:
            frame, _, rest = bytes(self._partial).partition(b">")
            self._partial[:] = rest
            events.append(Data(frame.lstrip(b"<")))
            self._out += b"!"
        return events

    def send(self, data: bytes) -> bytes:
        return self.data_to_send() + b"<" + data + b">"

    def data_to_send(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out


def test_the_telnet_filter_greets_decodes_and_escapes():
    f = telnet()
    assert f.start() == initial_negotiation(True)
    events = f.receive(b"ab\xff\xffc" + bytes([IAC, BRK]) + b"d")
    assert events == [Data(b"ab\xffc"), Break(), Data(b"d")]
    assert f.send(b"x\xffy") == b"x\xff\xffy"


def test_telnet_answers_go_out_before_later_data():
    f = telnet()
    events = f.receive(bytes([IAC, SB, COM_PORT, 1, 0, 0, 0x25, 0x80, IAC, SE]))
    assert events == [ComPortRequest(ComPortCommand.SET_BAUDRATE, 9600)]
    f.codec.reply(ComPortCommand.SET_BAUDRATE, 9600)
    answer = bytes([IAC, SB, COM_PORT, 101, 0, 0, 0x25, 0x80, IAC, SE])
    assert f.send(b"data") == answer + b"data"
    assert f.data_to_send() == b""


def test_a_single_filter_stack_is_the_filter():
    f = telnet(rfc2217=False)
    stack = FilterStack([f])
    assert stack.start() == initial_negotiation(False)
    assert stack.receive(b"plain") == [Data(b"plain")]
    assert stack.send(b"\xff") == b"\xff\xff"
    with pytest.raises(ValueError):
        FilterStack([])


def test_two_layers_receive_bottom_up_and_send_top_down():
    # telnet(...) on top of the framing layer: "telnet,brackets,tcp".
    top, bottom = telnet(), Brackets()
    stack = FilterStack([top, bottom])
    # Greetings: the inner layer's own first, then the outer one's, framed.
    assert stack.start() == b"HELLO<" + initial_negotiation(True) + b">"
    # A frame carrying telnet bytes: the frame is acknowledged, the telnet
    # layer then sees the payload and reports its events.
    events = stack.receive(b"<a\xff\xffb" + bytes([IAC, BRK]) + b">")
    assert events == [Data(b"a\xffb"), Break()]
    assert stack.data_to_send() == b"!"
    # Payload from above: escaped by telnet, then framed.
    assert stack.send(b"\xff") == b"<\xff\xff>"


def test_answers_of_an_outer_layer_travel_through_the_inner_one():
    top, bottom = telnet(), Brackets()
    stack = FilterStack([top, bottom])
    stack.receive(b"<" + bytes([IAC, SB, COM_PORT, 0, IAC, SE]) + b">")  # SIGNATURE
    signature = bytes([IAC, SB, COM_PORT, 100]) + b"sig" + bytes([IAC, SE])
    # The frame's acknowledgement is the inner layer's own, so it goes first.
    assert stack.data_to_send() == b"!<" + signature + b">"
    assert stack.data_to_send() == b""
