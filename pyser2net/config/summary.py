"""The short per-connection summary printed by ``--check``.

It shows how a file was *understood*: the name, where clients come from,
what they reach, and only the options that differ from the defaults, so
that a typo that silently changed nothing stands out by its absence.
"""

from __future__ import annotations

from dataclasses import fields
from typing import List, Optional

from pyser2net.config.convert import as_written
from pyser2net.config.model import (
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
    SerialSettings,
    SslSettings,
    TraceFile,
)

_DEFAULT_OPTIONS = ConnectionOptions()
_DEFAULT_SERIAL = SerialSettings()


def _accepter(acc: Accepter) -> str:
    if acc.conacc is not None:
        retry = acc.conacc.retry_time_ms
        again = f", again {retry} ms after each close" if retry else ""
        return f"conacc{again}: {_connector(acc.conacc.connector)}"
    layers: List[str] = []
    if acc.telnet:
        layers.append("telnet(rfc2217)" if acc.rfc2217 else "telnet")
    if acc.ssl is not None:
        layers.append("ssl" + (" with client certificates" if acc.ssl.clientauth else ""))
    host = acc.host or "*"
    if ":" in host:
        host = f"[{host}]"
    family = f" {acc.family}" if acc.family else ""
    layers.append(f"{acc.transport} {host}:{acc.port}{family}")
    return " over ".join(layers)


def _serial(settings: SerialSettings) -> str:
    parts = [settings.short]
    for f in fields(SerialSettings):
        if f.name in ("speed", "parity", "databits", "stopbits"):
            continue
        value = getattr(settings, f.name)
        if value == getattr(_DEFAULT_SERIAL, f.name):
            continue
        name = f.name.replace("_", "-")
        if isinstance(value, bool) and f.name not in ("dtr", "rts"):
            parts.append(name)
        else:
            parts.append(f"{name}={'on' if value is True else 'off' if value is False else value}")
    return " ".join(parts)


def _connector(con: Connector) -> str:
    dev = con.device
    if isinstance(dev, SerialDevice):
        text = f"serial {dev.path} {_serial(dev.serial)}"
        if dev.wronly:
            text += " write-only"
    elif isinstance(dev, NetworkDevice):
        host = f"[{dev.host}]" if ":" in dev.host else dev.host
        text = f"{'telnet over ' if dev.telnet else ''}{dev.transport} {host}:{dev.port}"
        if dev.ssl is not None:
            text = f"TLS ({_tls_client(dev.ssl)}) over {text}"
    elif isinstance(dev, EchoDevice):
        text = "echo"
    elif isinstance(dev, FileDevice):
        text = f"file in={dev.infile or '-'} out={dev.outfile or '-'}"
    else:  # pragma: no cover - a device kind added without a summary
        text = type(dev).__name__
    if con.link:
        text = " over ".join([_link(layer) for layer in con.link] + [text])
    if con.keepopen is not None:
        text += f" (kept open, retry {con.keepopen.retry_time_ms} ms"
        text += ", discarding writes while away)" if con.keepopen.discard_badwrites else ")"
    return text


def _tls_client(ssl: SslSettings) -> str:
    trust = f"server checked against {ssl.ca}" if ssl.ca else "server checked against system CAs"
    return trust + (f", client certificate {ssl.cert or ssl.key}" if ssl.key else "")


def _link(layer: LinkLayer) -> str:
    if isinstance(layer, RelPktLayer):
        return (
            f"relpkt ({'server' if layer.server else 'client'}, {layer.max_packets} x "
            f"{layer.max_pktsize} bytes, timeout {layer.timeout_ms} ms x "
            f"{layer.max_timeouts + 1})"
        )
    if isinstance(layer, MsgDelimLayer):
        sizes = f"{layer.readbuf}/{layer.writebuf} bytes"
        return f"msgdelim ({sizes}{'' if layer.crc else ', no CRC'})"
    return (
        f"serialtcp ({'server' if layer.server else 'client'}"
        f"{f', timeout {layer.timeout_ms} ms' if layer.server else ''})"
    )


def _option_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, TraceFile):
        flags = [f for f in ("hexdump", "timestamp") if getattr(value, f)]
        return as_written(value.path) + (f" ({', '.join(flags)})" if flags else "")
    if isinstance(value, tuple):
        return "; ".join(
            (("!" if getattr(v, "connect_back", False) else "") + f"{v.host},{v.port}")
            if hasattr(v, "host")
            else str(v)
            for v in value
        )
    if isinstance(value, str):
        return _string(value)
    return str(value)


def _string(value: str) -> str:
    """A string as a configuration file writes it: ``\\r\\nWelcome to \\p``.

    Quoted only when its ends would not show (empty, or spaces at an end).
    """
    text = as_written(value)
    if not text or text != text.strip(" "):
        return f'"{text}"'
    return text


def _mdns(mdns: Mdns, name: str) -> str:
    """``announced as ttyUSB0 (_iostream._tcp) on interface 2, ipv4, TXT a=b``."""
    text = f"announced as {mdns.name or name}"
    if mdns.type:
        text += f" ({mdns.type})"
    if mdns.interface >= 0:
        text += f" on interface {mdns.interface}"
    if mdns.nettype != "unspec":
        text += f", {mdns.nettype} only"
    if mdns.host:
        text += f", host {mdns.host}"
    if mdns.domain:
        text += f", domain {mdns.domain}"
    if mdns.port:
        text += f", port {mdns.port}"
    if mdns.sysattrs:
        text += ", with USB attributes"
    if mdns.txt:
        text += ", TXT " + " ".join(mdns.txt)
    return text


def _connection(conn: Connection, metrics: Optional[Accepter]) -> str:
    lines = [f"{conn.name}:" + ("" if conn.enable else " (disabled)")]
    lines.append(f"  accepter:  {_accepter(conn.accepter)}")
    lines.append(f"  connector: {_connector(conn.connector)}")
    if conn.timeout:
        lines.append(f"  timeout:   {conn.timeout} s")
    for f in fields(ConnectionOptions):
        value = getattr(conn.options, f.name)
        if isinstance(value, Mdns):
            lines.append(f"  mdns: {_mdns(value, conn.name)}")
        elif value != getattr(_DEFAULT_OPTIONS, f.name):
            lines.append(f"  {f.name.replace('_', '-')}: {_option_value(value)}")
    if conn.holds_device and conn.options.device_loss is None:
        lines.append("  device-loss: hold (the default with a usb(...) selector)")
    exported = _exported(conn, metrics)
    if exported:
        lines.append(f"  exported:  {', '.join(exported)}")
    return "\n".join(lines) + "\n"


def _exported(conn: Connection, metrics: Optional[Accepter]) -> List[str]:
    """Where else than its own accepter a connection can be seen (its mDNS
    announcement has a line of its own): every connection, enabled or not,
    is in the metrics and the status document."""
    found: List[str] = []
    if metrics is not None:
        found.append("metrics and /status")
    return found


def summarize(config: Config, metrics: Optional[Accepter] = None) -> str:
    """One short block per connection, then rotators, leds, the admin port and
    the metrics responder (``--metrics``)."""
    blocks = [_connection(c, metrics) for c in config.connections]
    for rot in config.rotators:
        blocks.append(
            f"rotator {rot.name}:\n  accepter:  {_accepter(rot.accepter)}\n"
            f"  connections: {', '.join(rot.connections)}\n"
        )
    for led in config.leds:
        blocks.append(
            f"led {led.name}: {led.driver} {led.device} ({led.mode}, {led.duration_ms} ms, "
            f"state {led.state})\n"
        )
    admin = config.admin
    if admin is not None:
        text = f"admin{f' {admin.name}' if admin.name else ''}: {_accepter(admin.accepter)}\n"
        if admin.mdns is not None:
            text += f"  mdns: {_mdns(admin.mdns, admin.name or '(no name)')}\n"
        blocks.append(text)
    if metrics is not None:
        blocks.append(f"metrics: {_accepter(metrics)}, /metrics and /status\n")
    if not blocks:
        return "no connections\n"
    return "\n".join(blocks)
