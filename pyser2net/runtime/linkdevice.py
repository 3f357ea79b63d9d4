"""Devices under link layers: ``relpkt,msgdelim,serialdev,...`` as one device;
and ``open_connector``, which opens a connector's whole stack.

A connector with link layers opens its device as usual and hands out a
``LinkStream`` over the device's stream, so that the port uses it as any
device: it is ready when the link comes up, and a link that ends is a
device error (an open failure if it never came up), with ser2net's words
for the client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from pyser2net.config.model import Connector, SerialDevice
from pyser2net.runtime.devices import (
    Device,
    DeviceError,
    NetworkPeer,
    WrapOpen,
    WrappedDevice,
    open_device,
)
from pyser2net.runtime.resolver import Answer
from pyser2net.runtime.stream import StreamError

if TYPE_CHECKING:
    # The TLS modules load ssl: only ssl connectors need them; the link
    # modules are loaded by the first device with link layers.
    from pyser2net.runtime.linkstream import LinkStream
    from pyser2net.runtime.tlsconfig import ClientTlsSource

#: ser2net's words for a client when the link did not come up, by the
#: start of our reason: gensio reports a relpkt open that timed out as
#: "Operation timed out".
_OPEN_REASONS = (
    ("the far end could not connect", "Connection refused"),
    ("the far end gave the connection up", "Remote end closed connection"),
    ("closed by the far end", "Remote end closed connection"),
)


class LinkedDevice(WrappedDevice[Device, "LinkStream"]):
    """A device with the link layers of its connector above it."""

    def __init__(self, inner: Device, connector: Connector) -> None:
        super().__init__(inner)
        self.connector = connector

    def wrap(self, how: WrapOpen) -> LinkStream:
        from pyser2net.runtime.layers import build_link
        from pyser2net.runtime.linkstream import LinkStream

        device = self.connector.device
        serial = device.serial if isinstance(device, SerialDevice) else None
        layers = self.connector.link
        return LinkStream(
            how.reactor,
            how.user,
            lambda timer: build_link(layers, timer, serial),
            how.inner_stream,
            high_water=how.high_water,
            on_up=how.ready,
            label=self.display,
        )

    def error_for(self, exc: Optional[StreamError]) -> DeviceError:
        from pyser2net.runtime.linkstream import LinkError

        if isinstance(exc, LinkError):
            if exc.opened:
                return DeviceError("Remote end closed connection", f"{self.display}: {exc}")
            reason = next(
                (words for start, words in _OPEN_REASONS if exc.reason.startswith(start)),
                "Operation timed out",
            )
            return DeviceError(reason, f"{self.display}: {exc}", opening=True)
        return super().error_for(exc)


def open_connector(
    connector: Connector, tls: Optional[ClientTlsSource] = None, answer: Optional[Answer] = None
) -> Device:
    """Open what a connector describes: its device, under its ssl layer
    (``tls``, built from it) or its link layers if any.  ``answer``: what
    a network peer's host name was found to be."""
    device = open_device(connector.device, connector.text, answer)
    if tls is not None:
        from pyser2net.runtime.tlsdevice import TlsPeer

        assert isinstance(device, NetworkPeer)  # the parser allows ssl over tcp only
        return TlsPeer(device, tls)
    return LinkedDevice(device, connector) if connector.link else device
