"""The telnet server layer (with RFC 2217 when asked) as a filter."""

from __future__ import annotations

from typing import List

from pyser2net.protocol.events import Event
from pyser2net.protocol.telnet import TelnetServerCodec


class TelnetServerFilter:
    """``telnet`` / ``telnet(rfc2217)`` on an accepter.

    The codec does the work; this adapts it to the filter interface and
    exposes it (``codec``) for the RFC 2217 session, which answers requests
    and reports modem lines through it.
    """

    def __init__(self, codec: TelnetServerCodec) -> None:
        self.codec = codec
        # The codec's own methods, without a frame in between.
        self.receive = codec.receive_data  # type: ignore[method-assign]
        self.data_to_send = codec.data_to_send  # type: ignore[method-assign]
        self._encode = codec.encode

    def start(self) -> bytes:
        return self.codec.start()

    def receive(self, data: bytes) -> List[Event]:  # replaced per instance
        return self.codec.receive_data(data)

    def data_to_send(self) -> bytes:  # replaced per instance
        return self.codec.data_to_send()

    def send(self, data: bytes) -> bytes:
        """Device bytes with IAC doubled, after any answer still queued."""
        pending = self.codec.data_to_send()
        return pending + self._encode(data) if pending else self._encode(data)
