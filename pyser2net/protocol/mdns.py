"""What an mDNS/DNS-SD announcement of a port says, decided without the network.

ser2net announces a connection with ``mdns: true`` as a DNS-SD service:
its name (``mdns-name``, else the connection's), its type (``mdns-type``,
else ``_iostream._tcp``, or ``_iostream._udp`` for a UDP accepter), the
accepter's port, and TXT strings: those of ``mdns-txt`` in the order written,
then ``provider=ser2net`` and ``gensiostack=<the accepter's layers>`` unless
``mdns-txt`` already gave those keys.  pyser2net adds
``implementation=pyser2net`` (so a browser can tell the two apart while
clients that look for ``provider=ser2net`` still find the port), and, with
``mdns-sysattrs``, the USB attributes of the device that ser2net's manual
lists.  The run time (``runtime/announce.py``) publishes what this module
describes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

from pyser2net.config.model import Accepter, Mdns

#: The domain every announcement is made in: mDNS serves only ``local.``.
LOCAL_DOMAIN = "local."


@dataclass(frozen=True)
class Announcement:
    """One DNS-SD service, as it is published."""

    #: The instance name (``ttyUSB0``), unique on the link after probing.
    name: str
    #: ``_iostream._tcp.local.``
    type: str
    port: int
    #: ``name=value`` strings, in order.
    txt: Tuple[str, ...]
    #: The host name the service points at (``host.local.``); None means
    #: this system's own name.
    host: Optional[str]
    #: A network interface index, or -1 for every interface.
    interface: int
    nettype: str

    @property
    def full_name(self) -> str:
        return f"{self.name}.{self.type}"

    def txt_record(self) -> bytes:
        """The TXT record's wire form: each string after its length byte."""
        return b"".join(bytes([len(raw)]) + raw for raw in (t.encode() for t in self.txt))


class AnnouncementError(ValueError):
    """The settings describe nothing that can be announced; the text says why."""


def gensio_stack(accepter: Accepter) -> str:
    """The accepter's layer names, outermost first, as ser2net lists them
    (``telnet,tcp``, ``telnet,ssl,tcp``, ``udp``)."""
    layers = []
    if accepter.telnet:
        layers.append("telnet")
    if accepter.ssl is not None:
        layers.append("ssl")
    layers.append(accepter.transport)
    return ",".join(layers)


def service_type(mdns: Mdns, accepter: Accepter) -> str:
    """The DNS-SD type with its domain: ``_iostream._tcp.local.``."""
    kind = mdns.type or f"_iostream._{'udp' if accepter.transport == 'udp' else 'tcp'}"
    return kind.rstrip(".") + "." + LOCAL_DOMAIN


def describe(
    name: str,
    mdns: Mdns,
    accepter: Accepter,
    port: int,
    sysattrs: Sequence[str] = (),
    implementation: str = "pyser2net",
) -> Announcement:
    """The announcement of a port named ``name`` listening on ``port``.

    ``sysattrs`` are the ``key=value`` strings found for the device (only
    used with ``mdns-sysattrs``).  Raises AnnouncementError when the
    settings cannot be served: a domain other than ``local``, a port of 0
    (a conacc accepter has none), or a name too long for DNS.
    """
    if mdns.domain is not None and mdns.domain.rstrip(".").lower() != "local":
        raise AnnouncementError(
            f"mdns-domain {mdns.domain!r} is not served (multicast DNS announces in local only)"
        )
    announced_port = mdns.port or port
    if not 0 < announced_port < 65536:
        raise AnnouncementError("no port to announce (set mdns-port)")
    instance = mdns.name or name
    if not instance or len(instance.encode()) > 63:
        raise AnnouncementError(f"mdns name {instance!r} must be 1 to 63 bytes long")
    txt = list(mdns.txt)
    keys = {t.split("=", 1)[0] for t in txt}
    for key, value in (
        ("provider", "ser2net"),
        ("gensiostack", gensio_stack(accepter)),
        ("implementation", implementation),
    ):
        if key not in keys:
            txt.append(f"{key}={value}")
    if mdns.sysattrs:
        txt.extend(a for a in sysattrs if a.split("=", 1)[0] not in keys)
    txt = [t for t in txt if len(t.encode()) <= 255]
    host = None
    if mdns.host:
        host = mdns.host.rstrip(".")
        if not host.endswith(".local"):
            host += ".local"
        host += "."
    return Announcement(
        name=instance,
        type=service_type(mdns, accepter),
        port=announced_port,
        txt=tuple(txt),
        host=host,
        interface=mdns.interface,
        nettype=mdns.nettype,
    )


def parse_txt(record: bytes) -> Tuple[str, ...]:
    """The strings of a TXT record in wire form (for ``--browse``)."""
    out = []
    at = 0
    while at < len(record):
        length = record[at]
        out.append(record[at + 1 : at + 1 + length].decode("utf-8", "replace"))
        at += 1 + length
    return tuple(s for s in out if s)
