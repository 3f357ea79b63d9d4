"""What ``pyser2net attach`` connects to, and the frame it asks for.

The remote port is named the way its users already name it elsewhere:

* ``rfc2217://host:port`` as pyserial spells it (telnet with RFC 2217),
* ``socket://host:port`` as pyserial spells a raw TCP port (bytes only),
* a gensio stack as ser2net and gensiot write it:
  ``telnet(rfc2217),tcp,host,port``, ``telnet,tcp,host,port``,
  ``tcp,host,port``, and with TLS ``telnet(rfc2217),ssl(CA=...),tcp,host,port``.
  As in gensio, a filter followed directly by an address implies ``tcp``.

The ssl layer is read as on a ser2net connector (``CA=`` the server must
be signed by, ``key=``/``cert=`` for a client certificate).

``--format`` gives data bits, parity and stop bits the way ser2net writes
them after the speed (``8N1``, ``7E1``, ``8n2``).  A pseudo-terminal forces
eight data bits and no parity on whatever the application sets, so data
bits and parity can only come from here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import List, Optional

from pyser2net.config.errors import ConfigError
from pyser2net.config.gensio import (
    LINK_LAYERS,
    UNSUPPORTED_LAYERS,
    _address,
    _check_options,
    parse_bool,
    parse_layer,
    parse_ssl,
    split_top,
)
from pyser2net.config.model import PARITIES, SslSettings


@dataclass(frozen=True)
class AttachTarget:
    """The remote serial port: where it is and how it is spoken to."""

    #: As the user wrote it (for log lines).
    text: str
    host: str
    port: int
    #: None for both families, or "ipv4" / "ipv6".
    family: Optional[str] = None
    telnet: bool = False
    rfc2217: bool = False
    #: Present when the stack has an ssl layer: TLS under telnet.
    ssl: Optional[SslSettings] = None

    @property
    def kind(self) -> str:
        """``rfc2217``, ``telnet`` or ``raw``: what the connection carries."""
        return "rfc2217" if self.rfc2217 else "telnet" if self.telnet else "raw"


@dataclass(frozen=True)
class Frame:
    """Data bits, parity and stop bits of the remote line."""

    databits: int = 8
    parity: str = "none"
    stopbits: int = 1

    @property
    def short(self) -> str:
        return f"{self.databits}{self.parity[0].upper()}{self.stopbits}"


_URL_RE = re.compile(r"^(?P<scheme>[a-z0-9]+)://(?P<rest>.*)$", re.I)
_HOSTPORT_RE = re.compile(r"^(?:\[(?P<v6>[^\]]+)\]|(?P<host>[^:/?#\[\]]+)):(?P<port>\d+)/?$")
_URL_SCHEMES = {"rfc2217": (True, True), "socket": (False, False)}


def parse_target(text: str) -> AttachTarget:
    """Read a URL or a gensio stack; raises ConfigError with a one-line reason."""
    text = text.strip()
    match = _URL_RE.match(text)
    if match:
        return _parse_url(text, match.group("scheme").lower(), match.group("rest"))
    return _parse_stack(text)


def _parse_url(text: str, scheme: str, rest: str) -> AttachTarget:
    if scheme not in _URL_SCHEMES:
        raise ConfigError.at(
            None,
            f"{text!r}: unknown scheme {scheme}:// "
            "(expected rfc2217:// or socket://, or a gensio stack "
            "such as telnet(rfc2217),tcp,HOST,PORT)",
        )
    if "?" in rest:
        raise ConfigError.at(
            None,
            f"{text!r}: URL options ('?...') are pyserial's and not "
            "taken here; use the command line options",
        )
    where = _HOSTPORT_RE.match(rest)
    if not where:
        raise ConfigError.at(
            None, f"{text!r}: expected {scheme}://HOST:PORT (an IPv6 address in brackets)"
        )
    port = int(where.group("port"))
    if not 0 < port < 65536:
        raise ConfigError.at(None, f"{text!r}: port {port} out of range (1 to 65535)")
    telnet, rfc2217 = _URL_SCHEMES[scheme]
    host = where.group("v6") or where.group("host")
    return AttachTarget(text=text, host=host, port=port, telnet=telnet, rfc2217=rfc2217)


def _parse_stack(text: str) -> AttachTarget:
    tokens = split_top(" ".join(text.split()))
    telnet = rfc2217 = False
    ssl: Optional[SslSettings] = None
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if _looks_like_address(tokens[i:]):
            # gensio: a filter followed directly by an address implies tcp.
            return _stack_target(text, tokens[i:], telnet, rfc2217, ssl)
        layer = parse_layer(token, None)
        name = layer.name
        i += 1
        if name == "telnet":
            if ssl is not None:
                raise ConfigError.at(
                    None,
                    f"{text!r}: telnet goes above ssl (telnet(rfc2217),ssl(...),tcp,HOST,PORT)",
                )
            opts = _check_options(layer, None)
            telnet = True
            if "rfc2217" in opts:
                rfc2217 = parse_bool(opts["rfc2217"], None, "telnet rfc2217")
        elif name == "ssl":
            if ssl is not None:
                raise ConfigError.at(None, f"{text!r}: two ssl layers")
            ssl = parse_ssl(layer, None, "connector")
        elif name == "tcp":
            _check_options(layer, None)
            return _stack_target(text, tokens[i:], telnet, rfc2217, ssl)
        elif name in _OTHER_LAYERS:
            raise ConfigError.at(
                None,
                f"{text!r}: layer {name!r} cannot reach a remote "
                "serial port here (expected telnet, ssl and tcp)",
            )
        else:
            raise ConfigError.at(
                None,
                f"{text!r}: unknown layer {name!r} (expected "
                "rfc2217://HOST:PORT, socket://HOST:PORT or a gensio "
                "stack such as telnet(rfc2217),tcp,HOST,PORT)",
            )
    raise ConfigError.at(None, f"{text!r}: no tcp,HOST,PORT at the end")


#: Layers that exist but cannot reach a remote serial port from here.
_OTHER_LAYERS = UNSUPPORTED_LAYERS | LINK_LAYERS | {"udp", "serialdev", "echo", "file", "conacc"}
_LAYER_NAMES = _OTHER_LAYERS | {"tcp", "telnet", "ssl"}


def _looks_like_address(tokens: List[str]) -> bool:
    """``host,port`` or ``ipv4|ipv6|ipv6n4,host,port``, with nothing after."""
    if not tokens or not tokens[-1].isdigit():
        return False
    if len(tokens) == 3:
        return tokens[0].lower() in ("ipv4", "ipv6", "ipv6n4")
    return len(tokens) == 2 and "(" not in tokens[0] and tokens[0] not in _LAYER_NAMES


def _stack_target(
    text: str, args: List[str], telnet: bool, rfc2217: bool, ssl: Optional[SslSettings]
) -> AttachTarget:
    family, host, port = _address(args, None, "tcp")
    if not host:
        raise ConfigError.at(None, f"{text!r}: tcp needs a host as well as a port")
    if port == 0:
        raise ConfigError.at(None, f"{text!r}: port 0 cannot be connected to")
    return AttachTarget(
        text=text,
        host=host,
        port=port,
        family=family,
        telnet=telnet,
        rfc2217=rfc2217 and telnet,
        ssl=ssl,
    )


_FORMAT_RE = re.compile(r"^([5-8])([NOEMSnoems])([12])$")


def parse_format(text: str) -> Frame:
    """``8N1``, ``7E1``, ``8n2``...: data bits 5-8, parity N O E M S, stop bits 1 or 2."""
    match = _FORMAT_RE.match(text.strip())
    if not match:
        raise ConfigError.at(
            None,
            f"invalid format {text!r} (expected data bits 5-8, parity "
            "N, O, E, M or S, stop bits 1 or 2, e.g. 8N1 or 7E1)",
        )
    letter = match.group(2).lower()
    parity = next(p for p in PARITIES if p[0] == letter)
    return Frame(int(match.group(1)), parity, int(match.group(3)))
