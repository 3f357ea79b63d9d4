"""Any configuration to ser2net 4.x YAML (``pyser2net --convert``).

Every ser2net 3 user has to move a ``ser2net.conf`` to YAML one day.  The
output is version 1 YAML as Debian's ser2net 4.3 reads it, written from
the resolved model, so it spells out every setting a ``DEFAULT`` line
supplied and needs no ``default:`` entries.  Reading it back gives a model
equal to the original (connection names that are not valid YAML anchors,
such as ``ipv4,127.0.0.1,2000``, are the one exception: they become
``ipv4_127_0_0_1_2000``).

Strings (banners, open/close strings, trace file names) are written in
single quotes, where YAML leaves backslashes alone, so ser2net still sees
its own escapes; characters YAML cannot hold there are written as ser2net
escapes, which print the same bytes.  Substitutions that print the
connection's accepter, device or name (``\\p``, ``\\d``, ``\\o``, ``\\N``)
print other text once these are spelled as YAML; the caller may rewrite
such strings (``rewrite``), which ``--convert`` does.
"""

from __future__ import annotations

import re
from typing import Callable, Dict, List, Optional, Set, Tuple

from pyser2net.config.model import (
    DEFAULT_ADMIN_AUTHDIR,
    DEFAULT_AUTHDIR,
    DEFAULT_BUFSIZE,
    Accepter,
    Config,
    Connection,
    ConnectionOptions,
    Connector,
    EchoDevice,
    FileDevice,
    LinkLayer,
    Mdns,
    MsgDelimLayer,
    NetworkDevice,
    RelPktLayer,
    SerialDevice,
    SerialTcpLayer,
)

__all__ = ["to_yaml", "accepter_string", "connector_string", "yaml_anchor", "quote", "as_written"]

_PLAIN_RE = re.compile(r"^[A-Za-z0-9/_.][A-Za-z0-9_,./()=+:@-]*$")
_ANCHOR_BAD = re.compile(r"[^A-Za-z0-9_-]")
_NAMED_ESCAPES = {
    "\r": "\\r",
    "\n": "\\n",
    "\t": "\\t",
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\v": "\\v",
}


def yaml_anchor(name: str) -> str:
    """The YAML anchor ser2net will take as this name (letters, digits, - _)."""
    anchor = _ANCHOR_BAD.sub("_", name)
    return anchor or "_"


def as_written(value: str, keep_tabs: bool = False) -> str:
    """A ser2net string template with its control characters written as escapes.

    YAML's double quotes (or a byte that is not UTF-8) put characters into
    a string that a file cannot show as they are; ser2net's own escapes
    print the same bytes, so the template means what it meant.  A tab may
    stay, where a file can hold one (it then reads back unchanged).
    """
    return value.translate(_WRITTEN_KEEP_TABS if keep_tabs else _WRITTEN)


def _escapes() -> Dict[int, str]:
    table = {code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7F, 0xA0))}
    # A byte that was not UTF-8 (kept as a surrogate) is written as that byte.
    table.update({code: f"\\x{code - 0xDC00:02x}" for code in range(0xDC80, 0xDD00)})
    table.update({ord(ch): text for ch, text in _NAMED_ESCAPES.items()})
    return table


#: as_written() as translation tables: one C-level pass over the value.
_WRITTEN = _escapes()
_WRITTEN_KEEP_TABS = {**_WRITTEN, ord("\t"): "\t"}


def quote(value: str) -> str:
    """A single-quoted YAML scalar holding a ser2net string template."""
    text = as_written(value, keep_tabs=True).replace("'", "''")
    # ser2net substitutes *(alias) and *{file} inside strings; *(* is "*(".
    text = text.replace("*(", "*(*").replace("*{", "*{*")
    return f"'{text}'"


def _scalar(value: str) -> str:
    if (
        _PLAIN_RE.match(value)
        and ": " not in value
        and value.lower() not in ("true", "false", "yes", "no", "on", "off", "null", "~")
    ):
        return value
    return quote(value)


def accepter_string(accepter: Accepter) -> str:
    """The gensio accepter string of a model accepter."""
    if accepter.conacc is not None:
        retry = accepter.conacc.retry_time_ms
        head = f"conacc(retry-time={retry})" if retry else "conacc"
        return f"{head},{connector_string(accepter.conacc.connector)}"
    layers: List[str] = []
    if accepter.telnet:
        layers.append("telnet(rfc2217)" if accepter.rfc2217 else "telnet")
    if accepter.ssl is not None:
        ssl = accepter.ssl
        opts = [
            f"{k}={v}"
            for k, v in (("key", ssl.key), ("cert", ssl.cert), ("ca", ssl.ca))
            if v is not None
        ]
        if ssl.clientauth:
            opts.append("clientauth")
        layers.append(f"ssl({','.join(opts)})" if opts else "ssl")
    address = [accepter.transport]
    if accepter.family:
        address.append(accepter.family)
    if accepter.host:
        address.append(accepter.host)
    address.append(str(accepter.port))
    return ",".join(layers + address)


def connector_string(connector: Connector) -> str:
    """The gensio connector string of a model connector."""
    device = connector.device
    parts: List[str] = []
    if connector.keepopen is not None:
        opts = [f"retry-time={connector.keepopen.retry_time_ms}"]
        if connector.keepopen.discard_badwrites:
            opts.append("discard-badwrites")
        parts.append(f"keepopen({','.join(opts)})")
    parts.extend(_link_string(layer) for layer in connector.link)
    if isinstance(device, SerialDevice):
        s = device.serial
        words = ["serialdev", device.path, f"{s.speed}{s.parity[0]}{s.databits}{s.stopbits}"]
        for flag, word in (
            (s.xonxoff, "xonxoff"),
            (s.rtscts, "rtscts"),
            (s.local, "local"),
            (s.hangup_when_done, "hangup-when-done"),
            (s.nobreak, "nobreak"),
        ):
            if flag:
                words.append(word)
        if s.dtr is not None:
            words.append(f"dtr={'on' if s.dtr else 'off'}")
        if s.rts is not None:
            words.append(f"rts={'on' if s.rts else 'off'}")
        if s.rs485 is not None:
            words.append(f"rs485={s.rs485}")
        if device.wronly:
            words.append("wronly")
        parts.extend(words)
    elif isinstance(device, NetworkDevice):
        if device.telnet:
            parts.append("telnet")
        parts.extend([device.transport, device.host, str(device.port)])
    elif isinstance(device, EchoDevice):
        parts.append("echo")
    elif isinstance(device, FileDevice):
        opts = [
            f"{k}={v}"
            for k, v in (("infile", device.infile), ("outfile", device.outfile))
            if v is not None
        ]
        parts.append(f"file({','.join(opts)})" if opts else "file")
    else:  # pragma: no cover - the model has no other devices
        raise TypeError(f"cannot convert device {device!r}")
    return ",".join(parts)


def _link_string(layer: LinkLayer) -> str:
    """A link layer as gensio writes it, with the options that differ from its defaults."""
    opts: List[str] = []
    if isinstance(layer, RelPktLayer):
        name, defaults = "relpkt", RelPktLayer()
        if layer.server:
            opts.append("mode=server")
        for key in ("max_pktsize", "max_packets", "max_timeouts"):
            if getattr(layer, key) != getattr(defaults, key):
                opts.append(f"{key}={getattr(layer, key)}")
        if layer.timeout_ms != defaults.timeout_ms:
            opts.append(f"timeout={layer.timeout_ms}m")
    elif isinstance(layer, MsgDelimLayer):
        name = "msgdelim"
        for key in ("readbuf", "writebuf"):
            if getattr(layer, key) != getattr(MsgDelimLayer(), key):
                opts.append(f"{key}={getattr(layer, key)}")
        if not layer.crc:
            opts.append("crc=off")
    else:
        name = "serialtcp"
        opts.append("server" if layer.server else "client")
        if layer.timeout_ms != SerialTcpLayer().timeout_ms:
            opts.append(f"timeout={layer.timeout_ms}m")
    return f"{name}({','.join(opts)})" if opts else name


_BOOL_OPTIONS = (
    ("kickolduser", "kickolduser"),
    ("telnet_brk_on_sync", "telnet-brk-on-sync"),
    ("chardelay", "chardelay"),
    ("no_con_to_acc", "no-con-to-acc"),
    ("no_acc_to_con", "no-acc-to-con"),
    ("timeout_on_os_queue", "timeout-on-os-queue"),
)
_INT_OPTIONS = (
    ("chardelay_scale", "chardelay-scale"),
    ("chardelay_min", "chardelay-min"),
    ("chardelay_max", "chardelay-max"),
    ("dev_to_net_bufsize", "dev-to-net-bufsize"),
    ("net_to_dev_bufsize", "net-to-dev-bufsize"),
    ("max_connections", "max-connections"),
    ("accepter_retry_time", "accepter-retry-time"),
    ("connector_retry_time", "connector-retry-time"),
    ("connback_timeout", "connback-timeout"),
    ("client_buffer_limit", "client-buffer-limit"),
    ("keepalive_idle", "keepalive-idle"),
    ("keepalive_interval", "keepalive-interval"),
    ("keepalive_count", "keepalive-count"),
    ("tcp_user_timeout", "tcp-user-timeout"),
)
_STRING_OPTIONS = ("banner", "signature", "openstr", "closestr", "closeon", "sendon")


#: Rewrites a string template of a connection for its YAML form: called with
#: the connection, its new name (anchor), the option's name, the template and
#: whether it is a file name; returns the template to write.
StringRewriter = Callable[[Connection, str, str, str, bool], str]

#: Strings expanded with the connection's substitutions (\\p, \\d...) when
#: used; closeon, sendon and signature are not.
_EXPANDED = ("banner", "openstr", "closestr")


def _options(
    options: ConnectionOptions, leds: Dict[str, str], rewrite: Callable[[str, str, bool], str]
) -> List[str]:
    base = ConnectionOptions()
    lines: List[str] = []
    for attr, name in _BOOL_OPTIONS:
        value = getattr(options, attr)
        if value != getattr(base, attr):
            lines.append(f"{name}: {'true' if value else 'false'}")
    for attr, name in _INT_OPTIONS:
        value = getattr(options, attr)
        default = getattr(base, attr)
        if attr.endswith("bufsize"):
            default = DEFAULT_BUFSIZE
        if value != default and value is not None:
            lines.append(f"{name}: {value}")
    if options.client_send_timeout is not None:
        lines.append(f"client-send-timeout: {options.client_send_timeout}")
    if options.device_loss is not None:
        lines.append(f"device-loss: {options.device_loss}")
    for attr in _STRING_OPTIONS:
        value = getattr(options, attr)
        if value is not None:
            if attr in _EXPANDED:
                value = rewrite(attr, value, False)
            lines.append(f"{attr}: {quote(value)}")
    for which in ("read", "write", "both"):
        trace = getattr(options, f"trace_{which}")
        if trace is None:
            continue
        lines.append(f"trace-{which}: {quote(rewrite(f'trace-{which}', trace.path, True))}")
        if trace.hexdump:
            lines.append(f"trace-{which}-hexdump: true")
        if trace.timestamp:
            lines.append(f"trace-{which}-timestamp: true")
    if options.remaddr:
        entries = [("!" if r.connect_back else "") + f"{r.host},{r.port}" for r in options.remaddr]
        lines.append(f"remaddr: {quote(';'.join(entries))}")
    if options.connback:
        lines.append(f"connback: {quote(';'.join(c.text for c in options.connback))}")
    for attr in ("led_tx", "led_rx", "led_conn"):
        value = getattr(options, attr)
        if value is not None:
            lines.append(f"{attr.replace('_', '-')}: *{leds.get(value, yaml_anchor(value))}")
    if options.mdns is not None:
        lines.extend(_mdns_options(options.mdns))
    lines += _auth_options(options.authdir, options.allowed_users)
    return lines


def _mdns_options(mdns: Mdns) -> List[str]:
    """``mdns: true`` and the ``mdns-*`` options that differ from the defaults."""
    lines = ["mdns: true"]
    for field, name in (
        ("name", "mdns-name"),
        ("type", "mdns-type"),
        ("host", "mdns-host"),
        ("domain", "mdns-domain"),
    ):
        value = getattr(mdns, field)
        if value is not None:
            lines.append(f"{name}: {quote(value)}")
    lines.extend(f"mdns-txt: {quote(t)}" for t in mdns.txt)
    if mdns.interface != -1:
        lines.append(f"mdns-interface: {mdns.interface}")
    if mdns.nettype != "unspec":
        lines.append(f"mdns-nettype: {mdns.nettype}")
    if mdns.sysattrs:
        lines.append("mdns-sysattrs: true")
    if mdns.port:
        lines.append(f"mdns-port: {mdns.port}")
    return lines


def _auth_options(authdir: str, allowed_users: Optional[Tuple[str, ...]]) -> List[str]:
    """``authdir`` and ``allowed-users`` where they are not ser2net's defaults."""
    lines = []
    if authdir != DEFAULT_AUTHDIR:
        lines.append(f"authdir: {quote(authdir)}")
    if allowed_users is not None:
        lines.append(f"allowed-users: {quote(' '.join(allowed_users))}")
    return lines


def _unique(name: str, used: Dict[str, str], taken: Set[str]) -> str:
    anchor = yaml_anchor(name)
    candidate, n = anchor, 2
    while candidate in taken:
        candidate = f"{anchor}_{n}"
        n += 1
    taken.add(candidate)
    used[name] = candidate
    return candidate


def _connection(
    conn: Connection, anchor: str, leds: Dict[str, str], rewrite: Optional[StringRewriter]
) -> List[str]:
    out = [f"connection: &{anchor}", f"  accepter: {_scalar(accepter_string(conn.accepter))}"]
    if conn.timeout:
        out.append(f"  timeout: {conn.timeout}")
    if not conn.enable:
        out.append("  enable: off")
    out.append(f"  connector: {_scalar(connector_string(conn.connector))}")

    def rewrite_string(option: str, text: str, filename: bool) -> str:
        return text if rewrite is None else rewrite(conn, anchor, option, text, filename)

    options = _options(conn.options, leds, rewrite_string)
    if options:
        out.append("  options:")
        out.extend(f"    {line}" for line in options)
    return out


def to_yaml(
    config: Config, source: Optional[str] = None, rewrite: Optional[StringRewriter] = None
) -> str:
    """ser2net 4.x (version 1) YAML describing the same service as ``config``.

    ``rewrite`` adapts the strings that print the connection's accepter,
    device or name, which are spelled anew in the YAML form.
    """
    out: List[str] = ["%YAML 1.1", "---"]
    if source:
        out.append(f"# Converted from {source} by pyser2net --convert.")
    taken: Set[str] = set()
    led_anchors: Dict[str, str] = {}
    conn_anchors: Dict[str, str] = {}
    if config.admin is not None:
        out += ["", "admin:", f"  accepter: {_scalar(accepter_string(config.admin.accepter))}"]
        if config.admin.authdir != DEFAULT_ADMIN_AUTHDIR:
            out += ["  options:", f"    authdir-admin: {quote(config.admin.authdir)}"]
    for led in config.leds:
        anchor = _unique(led.name, led_anchors, taken)
        out += [
            "",
            f"led: &{anchor}",
            f"  driver: {led.driver}",
            "  options:",
            f"    device: {quote(led.device)}",
            f"    duration: {led.duration_ms}",
            f"    state: {led.state}",
        ]
    for conn in config.connections:
        anchor = _unique(conn.name, conn_anchors, taken)
        out.append("")
        out += _connection(conn, anchor, led_anchors, rewrite)
    for rotator in config.rotators:
        anchor = _unique(rotator.name, {}, taken)
        members = ", ".join(quote(conn_anchors.get(m, yaml_anchor(m))) for m in rotator.connections)
        out += [
            "",
            f"rotator: &{anchor}",
            f"  accepter: {_scalar(accepter_string(rotator.accepter))}",
            f"  connections: [ {members} ]",
        ]
        auth = _auth_options(rotator.authdir, rotator.allowed_users)
        if auth:
            out += ["  options:"] + [f"    {line}" for line in auth]
    return "\n".join(out) + "\n"
