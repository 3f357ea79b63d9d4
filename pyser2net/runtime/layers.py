"""The layer tables: a client's filter stack, and a connector's link.

ser2net writes the layers of an accepter outermost first
(``telnet(rfc2217),tcp,3001``).  Each layer above the transport that
pyser2net serves has an entry in ``LAYERS``: its name, whether the accepter
uses it, and how to make its filter.  A new layer is a filter class in
``protocol`` and one entry here; the port never changes for it.

A connector's link layers (``relpkt,msgdelim,serialdev,...``, and the
same under a ``conacc`` accepter) run between the device and the data:
``LINKS`` has an entry for each stack of them pyser2net runs, and how to
make its ``Link`` (``protocol/links.py``).  The link protocols are imported
by their entry's factory, when a connector first uses them: a daemon
without links never loads them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, List, Optional, Sequence, Tuple

from pyser2net.config.model import (
    Connection,
    LinkLayer,
    MsgDelimLayer,
    RelPktLayer,
    SerialSettings,
    SerialTcpLayer,
)
from pyser2net.protocol.filters import Filter, FilterStack, FilterTimer
from pyser2net.protocol.telnet import TelnetServerCodec
from pyser2net.protocol.telnet_filter import TelnetServerFilter

if TYPE_CHECKING:
    from pyser2net.protocol.links import AnyLink
    from pyser2net.protocol.msgdelim import MsgDelim


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
            com_port_runs=True,
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


# -- links ----------------------------------------------------------------------

MakeLink = Callable[[Sequence[LinkLayer], FilterTimer, Optional[SerialSettings]], "AnyLink"]


class LinkKind:
    """``name`` as written; ``layers``: the model types of the stack,
    outermost first; ``make``: its link, given the layers, a timer and the
    serial line's settings (which set how soon relpkt resends)."""

    __slots__ = ("name", "layers", "make")

    def __init__(self, name: str, layers: Tuple[type, ...], make: MakeLink) -> None:
        self.name = name
        self.layers = layers
        self.make = make


def _delim(layer: LinkLayer) -> MsgDelim:
    from pyser2net.protocol.msgdelim import MsgDelim

    assert isinstance(layer, MsgDelimLayer)
    return MsgDelim(readbuf=layer.readbuf, writebuf=layer.writebuf, crc=layer.crc)


def _relpkt(
    layers: Sequence[LinkLayer], timer: FilterTimer, serial: Optional[SerialSettings]
) -> AnyLink:
    from pyser2net.protocol.links import RelPktLink, line_rate

    top = layers[0]
    assert isinstance(top, RelPktLayer)
    return RelPktLink(
        _delim(layers[1]),
        timer,
        server=top.server,
        max_pktsize=top.max_pktsize,
        max_packets=top.max_packets,
        timeout=top.timeout_ms / 1000,
        max_timeouts=top.max_timeouts,
        line_rate=line_rate(serial),
    )


def _serialtcp(
    layers: Sequence[LinkLayer], timer: FilterTimer, serial: Optional[SerialSettings]
) -> AnyLink:
    from pyser2net.protocol.links import SerialTcpLink

    top = layers[0]
    assert isinstance(top, SerialTcpLayer)
    return SerialTcpLink(timer, server=top.server, connect_timeout=top.timeout_ms / 1000)


def _msgdelim(
    layers: Sequence[LinkLayer], timer: FilterTimer, serial: Optional[SerialSettings]
) -> AnyLink:
    from pyser2net.protocol.links import DelimLink

    return DelimLink(_delim(layers[0]))


def _plain(
    layers: Sequence[LinkLayer], timer: FilterTimer, serial: Optional[SerialSettings]
) -> AnyLink:
    from pyser2net.protocol.links import PlainLink

    return PlainLink()


#: Every link stack the parsers accept.
LINKS: Tuple[LinkKind, ...] = (
    LinkKind("relpkt,msgdelim", (RelPktLayer, MsgDelimLayer), _relpkt),
    LinkKind("msgdelim", (MsgDelimLayer,), _msgdelim),
    LinkKind("serialtcp", (SerialTcpLayer,), _serialtcp),
    LinkKind("", (), _plain),
)


def build_link(
    layers: Sequence[LinkLayer], timer: FilterTimer, serial: Optional[SerialSettings] = None
) -> AnyLink:
    """The link for a connector's layers (no layers: bytes as they are)."""
    kinds = tuple(type(layer) for layer in layers)
    for kind in LINKS:
        if kind.layers == kinds:
            return kind.make(layers, timer, serial)
    raise ValueError(f"no link for {[type(layer).__name__ for layer in layers]}")
