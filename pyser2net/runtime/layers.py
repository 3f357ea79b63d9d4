"""Building a client's filter stack from its accepter's layers.

ser2net writes the layers of an accepter outermost first
(``telnet(rfc2217),tcp,3001``).  Each layer above the transport that
pyser2net serves has an entry in ``LAYERS``: its name, whether the accepter
uses it, and how to make its filter.  A new layer is a filter class in
``protocol`` and one entry here; the port never changes for it.
"""

from __future__ import annotations

from typing import Callable, List, Optional, Tuple

from pyser2net.config.model import Connection
from pyser2net.protocol.filters import Filter, FilterStack
from pyser2net.protocol.telnet import TelnetServerCodec
from pyser2net.protocol.telnet_filter import TelnetServerFilter


class Layer:
    """``name`` as ser2net spells it; ``used``: whether a connection's
    accepter has this layer; ``make``: its filter for one new client
    (``signature`` is the port's RFC 2217 default)."""

    __slots__ = ("name", "used", "make")

    def __init__(
        self,
        name: str,
        used: Callable[[Connection], bool],
        make: Callable[[Connection, str], Filter],
    ) -> None:
        self.name = name
        self.used = used
        self.make = make


def _telnet(conn: Connection, signature: str) -> Filter:
    opts = conn.options
    return TelnetServerFilter(
        TelnetServerCodec(
            rfc2217=conn.accepter.rfc2217,
            signature=opts.signature if opts.signature is not None else signature,
            brk_on_sync=opts.telnet_brk_on_sync,
        )
    )


#: Outermost first, as ser2net writes them.
LAYERS: Tuple[Layer, ...] = (Layer("telnet", lambda conn: conn.accepter.telnet, _telnet),)


def client_stack(
    conn: Connection, signature: str
) -> Tuple[Optional[FilterStack], Optional[TelnetServerCodec]]:
    """The filters of one new client (None for a raw accepter), and its
    telnet codec if it has one (the RFC 2217 session talks to it)."""
    filters: List[Filter] = [layer.make(conn, signature) for layer in LAYERS if layer.used(conn)]
    if not filters:
        return None, None
    codec = next((f.codec for f in filters if isinstance(f, TelnetServerFilter)), None)
    return FilterStack(filters), codec
