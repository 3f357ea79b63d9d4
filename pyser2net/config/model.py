"""The one description of what pyser2net serves.

Both configuration formats (the legacy ``ser2net.conf`` and the 4.x YAML
dialects) are read into these frozen dataclasses, and the engine is built
from them alone.  Every default is already resolved here: the engine never
has to ask "what did the user mean by leaving this out?".  Two files that
describe the same service must therefore produce equal ``Config`` objects;
source positions are carried along for error messages but never compared.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Tuple, Union

#: Default chunk size of the data path.  ser2net reads and writes 64 bytes at
#: a time; pyser2net moves data in large chunks unless the configuration
#: asks for a smaller buffer with dev-to-net-bufsize / net-to-dev-bufsize.
DEFAULT_BUFSIZE = 65536

PARITIES = ("none", "odd", "even", "mark", "space")


@dataclass(frozen=True)
class Position:
    """Where something was written, for messages a user can act on."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class SerialSettings:
    """termios-level settings of a serial device."""

    speed: int = 9600
    parity: str = "none"
    databits: int = 8
    stopbits: int = 1
    xonxoff: bool = False
    rtscts: bool = False
    local: bool = False
    hangup_when_done: bool = False
    nobreak: bool = False
    #: None leaves the line as the driver sets it on open (asserted).
    dtr: Optional[bool] = None
    rts: Optional[bool] = None
    #: ``delay-rts-before-send:delay-rts-after-send[:flags]`` as ser2net takes it.
    rs485: Optional[str] = None

    @property
    def short(self) -> str:
        """The ``9600N81`` form that ser2net shows in banners and showport."""
        return f"{self.speed}{self.parity[0].upper()}{self.databits}{self.stopbits}"


#: ser2net's key and certificate for TLS servers, in its system
#: configuration directory, used by an ``ssl`` accepter without key= / cert=.
DEFAULT_TLS_KEY = "/etc/ser2net/ser2net.key"
DEFAULT_TLS_CERT = "/etc/ser2net/ser2net.crt"
#: Where ser2net looks for ``<CN>/allowed_certs/`` (``authdir``), and the
#: admin port's own (``authdir-admin``).
DEFAULT_AUTHDIR = "/usr/share/ser2net/auth"
DEFAULT_ADMIN_AUTHDIR = "/etc/ser2net/auth"


@dataclass(frozen=True)
class SslSettings:
    """An ``ssl`` layer: a TLS server on an accepter, a TLS client on a connector."""

    #: Private key (PEM).  Always set on an accepter; on a connector, the
    #: key of the client certificate, if it shows one.
    key: Optional[str] = None
    #: Certificate (chain) in PEM; None: it is in the key file.
    cert: Optional[str] = None
    #: Trust anchors: a PEM file, or a directory when it ends in ``/``.
    #: None: an accepter trusts no CA (only ``authdir``); a connector
    #: trusts the system's CAs.
    ca: Optional[str] = None
    #: Accepter only: a client must show a certificate that verifies.
    clientauth: bool = False


@dataclass(frozen=True)
class MsgDelimLayer:
    """``msgdelim``: whole messages with a CRC-16 over a byte stream (gensio's)."""

    #: Largest message taken (payload bytes), and largest sent.
    readbuf: int = 128
    writebuf: int = 128
    crc: bool = True


@dataclass(frozen=True)
class RelPktLayer:
    """``relpkt``: numbered, acknowledged, resent packets over msgdelim (gensio's)."""

    #: mode=server waits for the far end's INIT; a client sends it.
    server: bool = False
    max_pktsize: int = 123
    max_packets: int = 16
    #: Keepalive and retry period; give up after max_timeouts + 1 of them.
    timeout_ms: int = 1000
    max_timeouts: int = 5


@dataclass(frozen=True)
class SerialTcpLayer:
    """``serialtcp``: serialtcp.py's in-band protocol, one TCP connection at a time.

    ``server`` is the end where TCP clients arrive (serialtcp.py
    ``--server``); the other end connects on (``--client``).
    """

    server: bool = True
    #: How long a server waits for the far end to synchronise and connect.
    timeout_ms: int = 10000


#: A layer between a connector's device and the data: outermost first.
LinkLayer = Union[MsgDelimLayer, RelPktLayer, SerialTcpLayer]


@dataclass(frozen=True)
class Accepter:
    """Where clients come from: a listening TCP or UDP socket, or a conacc link."""

    #: The accepter as written; ``\\p`` and showport print it.  Not compared:
    #: a legacy line and its YAML twin spell the same accepter differently.
    text: str = field(compare=False)
    transport: str = "tcp"  # "tcp" | "udp"
    #: None binds the wildcard address of every family.
    host: Optional[str] = None
    port: int = 0
    #: None for both families, or "ipv4" / "ipv6".
    family: Optional[str] = None
    telnet: bool = False
    rfc2217: bool = False
    ssl: Optional[SslSettings] = None
    #: ``conacc,<connector>``: the connector, opened at start, is the
    #: client each time its link comes up (transport "conacc").
    conacc: Optional[ConAcc] = None


#: The keys of a ``usb(...)`` selector, in the order they are written.
USB_KEYS = ("vid", "pid", "serial", "manufacturer", "product", "location", "interface")


@dataclass(frozen=True)
class UsbSelector:
    """``usb(vid=0403,serial=A50285BI)``: a USB serial adapter picked by what
    it is rather than by the name the kernel gave it this time.

    Each value is a case-insensitive glob (``*``, ``?``); None matches
    anything.  ``vid`` and ``pid`` are four lower-case hex digits (or a glob
    over them), ``interface`` the interface number in decimal.
    """

    vid: Optional[str] = None
    pid: Optional[str] = None
    serial: Optional[str] = None
    manufacturer: Optional[str] = None
    product: Optional[str] = None
    location: Optional[str] = None
    interface: Optional[str] = None


@dataclass(frozen=True)
class SerialDevice:
    """A tty opened with pyserial and configured through termios."""

    #: The device path, or the ``usb(...)`` selector as written.
    path: str
    serial: SerialSettings = SerialSettings()
    #: rawlp / ``serialdev(wronly)``: opened write-only, termios untouched.
    wronly: bool = False
    #: Set when ``path`` is a ``usb(...)`` selector, resolved at every open.
    usb: Optional[UsbSelector] = None


@dataclass(frozen=True)
class NetworkDevice:
    """A TCP or UDP peer that pyser2net connects out to."""

    host: str
    port: int
    transport: str = "tcp"
    telnet: bool = False
    #: ``ssl,tcp,host,port``: TLS to the peer.
    ssl: Optional[SslSettings] = None


@dataclass(frozen=True)
class EchoDevice:
    """Sends back whatever it receives; handy for demos and tests."""


@dataclass(frozen=True)
class FileDevice:
    """Reads from and/or writes to plain files."""

    infile: Optional[str] = None
    outfile: Optional[str] = None


Device = Union[SerialDevice, NetworkDevice, EchoDevice, FileDevice]


@dataclass(frozen=True)
class KeepOpen:
    """Keep clients connected while the device is away and re-open it."""

    retry_time_ms: int = 1000
    discard_badwrites: bool = False


@dataclass(frozen=True)
class Connector:
    """What a client is connected to."""

    #: The connector as written (``\\d`` prints it); not compared, as above.
    text: str = field(compare=False)
    device: Device
    keepopen: Optional[KeepOpen] = None
    #: The DEVICE name a legacy line used instead of a path (``\\o`` prints
    #: it, showport adds it in parentheses); not compared, like ``text``.
    alias: Optional[str] = field(default=None, compare=False)
    #: Link layers between the device and the data, outermost first
    #: (``relpkt,msgdelim,serialdev,...``: relpkt, then msgdelim).
    link: Tuple[LinkLayer, ...] = ()


@dataclass(frozen=True)
class ConAcc:
    """``conacc``: a connector turned into an accepter.

    ``connector`` (its link layers and device) is opened when the accepter
    starts; each time it comes up it is a new client, and once that client
    is gone it is opened again, after ``retry_time_ms``.
    """

    connector: Connector
    retry_time_ms: int = 0


@dataclass(frozen=True)
class TraceFile:
    """A trace file; ``path`` is a template rendered when a client connects."""

    path: str
    hexdump: bool = False
    timestamp: bool = False


@dataclass(frozen=True)
class RemoteAddress:
    """An entry of ``remaddr``: a host with port 0 meaning any port."""

    host: str
    port: int = 0
    #: ``!addr``: also dialled when the device talks (Connection.connect_backs).
    connect_back: bool = False


@dataclass(frozen=True)
class Mdns:
    """An mDNS/DNS-SD announcement: ``mdns: true`` and the ``mdns-*`` options.

    Unset values are filled in when the announcement is made (the name from
    the connection, the type from the accepter, the host from the system),
    as ser2net does.
    """

    name: Optional[str] = None
    #: ``_iostream._tcp`` (``_udp`` for a UDP accepter) when unset.
    type: Optional[str] = None
    #: ``name=value`` strings, in the order written; ser2net's own keys are
    #: added after them unless given here.
    txt: Tuple[str, ...] = ()
    host: Optional[str] = None
    domain: Optional[str] = None
    #: A network interface index; -1 means every interface.
    interface: int = -1
    nettype: str = "unspec"  # "unspec" | "ipv4" | "ipv6"
    #: Add the USB attributes of the device from sysfs.
    sysattrs: bool = False
    #: The port announced; 0 means the accepter's.
    port: int = 0


@dataclass(frozen=True)
class ConnectionOptions:
    """The ``options:`` of a connection, with ser2net's defaults resolved."""

    kickolduser: bool = False
    #: String templates: escapes and substitutions are rendered at use time.
    banner: Optional[str] = None
    signature: Optional[str] = None
    openstr: Optional[str] = None
    closestr: Optional[str] = None
    closeon: Optional[str] = None
    sendon: Optional[str] = None
    trace_read: Optional[TraceFile] = None
    trace_write: Optional[TraceFile] = None
    trace_both: Optional[TraceFile] = None
    telnet_brk_on_sync: bool = False
    chardelay: bool = True
    chardelay_scale: int = 20
    chardelay_min: int = 1000
    chardelay_max: int = 20000
    dev_to_net_bufsize: int = DEFAULT_BUFSIZE
    net_to_dev_bufsize: int = DEFAULT_BUFSIZE
    max_connections: int = 1
    remaddr: Tuple[RemoteAddress, ...] = ()
    #: Connectors dialled out when the device talks while nobody listens.
    connback: Tuple[Connector, ...] = ()
    connback_timeout: int = 0
    no_con_to_acc: bool = False
    no_acc_to_con: bool = False
    accepter_retry_time: int = 10
    connector_retry_time: int = 10
    timeout_on_os_queue: bool = False
    led_tx: Optional[str] = None
    led_rx: Optional[str] = None
    led_conn: Optional[str] = None
    #: Announced over mDNS when set (``mdns: true``).
    mdns: Optional[Mdns] = None
    #: pyser2net extensions: disconnect only a client that stops reading.
    client_buffer_limit: Optional[int] = None
    client_send_timeout: Optional[float] = None
    #: pyser2net extensions: TCP keepalive of client sockets (seconds of
    #: silence before the first probe, seconds between probes, unanswered
    #: probes before the client is dropped) and TCP_USER_TIMEOUT (seconds
    #: sent data may stay unacknowledged; 0 leaves it to the kernel).
    keepalive_idle: int = 120
    keepalive_interval: int = 20
    keepalive_count: int = 3
    tcp_user_timeout: int = 0
    #: Where ``ssl(clientauth)`` finds ``<user>/allowed_certs/``.
    authdir: str = DEFAULT_AUTHDIR
    #: ``allowed-users``: the client certificate CNs let in (None: all).
    allowed_users: Optional[Tuple[str, ...]] = None
    #: pyser2net extension, what a serial device going away does: "close"
    #: its clients (ser2net's way) or "hold" them while it is looked for
    #: again.  None: "hold" for a ``usb(...)`` selector without keepopen
    #: (no ser2net file has one), "close" otherwise (``Connection.holds_device``).
    device_loss: Optional[str] = None


@dataclass(frozen=True)
class Connection:
    """One accepter wired to one connector."""

    name: str
    accepter: Accepter
    connector: Connector
    timeout: int = 0
    enable: bool = True
    options: ConnectionOptions = ConnectionOptions()
    position: Optional[Position] = field(default=None, compare=False)

    @property
    def connect_backs(self) -> Tuple[Connector, ...]:
        """Every address dialled when the device talks while nobody listens.

        That is each ``connback`` connector, and each ``!host,port`` of
        ``remaddr`` over the accepter's own transport (ser2net treats the
        two alike; the ``!`` entry is also an allowed address).
        """
        transport = self.accepter.transport
        return self.options.connback + tuple(
            Connector(
                text=f"{transport},{r.host},{r.port}",
                device=NetworkDevice(host=r.host, port=r.port, transport=transport),
            )
            for r in self.options.remaddr
            if r.connect_back
        )

    @property
    def holds_device(self) -> bool:
        """Whether clients stay while the device is away: ``device-loss: hold``,
        which is the default for a ``usb(...)`` selector without keepopen."""
        if self.options.device_loss is not None:
            return self.options.device_loss == "hold"
        device = self.connector.device
        return (
            isinstance(device, SerialDevice)
            and device.usb is not None
            and self.connector.keepopen is None
            and not self.connector.link
        )


@dataclass(frozen=True)
class Rotator:
    """An accepter that hands each client the next free connection."""

    name: str
    accepter: Accepter
    connections: Tuple[str, ...]
    position: Optional[Position] = field(default=None, compare=False)
    #: As a connection's: the rotator's own are used, not its connections'.
    authdir: str = DEFAULT_AUTHDIR
    allowed_users: Optional[Tuple[str, ...]] = None


@dataclass(frozen=True)
class Led:
    """A sysfs LED flashed on traffic."""

    name: str
    device: str
    driver: str = "sysfs"
    duration_ms: int = 10
    state: int = 1
    #: ``transient`` flashes on traffic (led-rx, led-tx); ``solid`` is on
    #: or off (led-conn).
    mode: str = "transient"


@dataclass(frozen=True)
class Admin:
    """The control port."""

    accepter: Accepter
    position: Optional[Position] = field(default=None, compare=False)
    #: ``authdir-admin``: where ``ssl(clientauth)`` finds ``<user>/allowed_certs/``.
    authdir: str = DEFAULT_ADMIN_AUTHDIR
    #: ``admin: &name``: the name the admin port is announced by.
    name: Optional[str] = None
    #: Announced over mDNS when set (the admin's own ``mdns: true``).
    mdns: Optional[Mdns] = None


@dataclass(frozen=True)
class Config:
    connections: Tuple[Connection, ...] = ()
    rotators: Tuple[Rotator, ...] = ()
    leds: Tuple[Led, ...] = ()
    admin: Optional[Admin] = None

    def connection(self, name: str) -> Optional[Connection]:
        for conn in self.connections:
            if conn.name == name:
                return conn
        return None
