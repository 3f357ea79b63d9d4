"""Accepter and connector strings, the gensio stacks of ser2net 4.x.

A gensio string is a comma-separated stack read from the outside in:
filter layers (``telnet(rfc2217)``, ``ssl(...)``, ``keepopen(...)``) come
first, then one terminal layer (``tcp``, ``udp``, ``serialdev``, ``echo``,
``file``) followed by that layer's positional arguments.  Every layer may
carry ``(key=value,...)`` options.  Whitespace after a comma and line breaks
left by YAML folding are insignificant.

What is accepted here follows what ser2net 4.3 (with gensio 2.x) accepts:
layer names are case-sensitive (``TCP`` is rejected), option keys are not
(``CA=`` and ``ca=`` are the same), boolean values are the lower-case words
``true false on off yes no 1 0``, and the legacy upper-case serial words
(``EVEN``, ``7DATABITS``...) are only recognised in upper case.  Layers that
ser2net has but pyser2net does not serve are rejected by name, so that a
user knows the file is fine for ser2net but not for us.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass, replace
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from pyser2net.config.errors import ConfigError
from pyser2net.config.hosts import host_problem
from pyser2net.config.limits import MAX_NUMBER_DIGITS
from pyser2net.config.model import (
    DEFAULT_TLS_CERT,
    DEFAULT_TLS_KEY,
    Accepter,
    ConAcc,
    Connector,
    Device,
    EchoDevice,
    KeepOpen,
    LinkLayer,
    MsgDelimLayer,
    NetworkDevice,
    Position,
    RelPktLayer,
    SerialDevice,
    SerialSettings,
    SerialTcpLayer,
    SslSettings,
)
from pyser2net.config.usb import is_selector, selector_from_options

#: Layers that ser2net knows but pyser2net does not serve: naming them gives
#: the user a precise error instead of "unknown layer".
UNSUPPORTED_LAYERS = frozenset(
    {
        "sctp",
        "mux",
        "certauth",
        "ipmisol",
        "ratelimit",
        "trace",
        "perf",
        "xlt",
        "unix",
        "stdio",
        "pty",
        "dummy",
        "kiss",
        "ax25",
        "mdns",
        "sound",
        "afskmdm",
        "script",
        "serialmux",
        "udpmux",
        "sctpmux",
        "sergensio",
        "dev",
        "netif",
    }
)

#: Layers that run between a connector's device and the data: gensio's
#: msgdelim and relpkt, and serialtcp (serialtcp.py's protocol).
LINK_LAYERS = frozenset({"msgdelim", "relpkt", "serialtcp"})

#: Booleans as gensio reads them: lower case only (``TRUE`` is an error).
_TRUE_WORDS = frozenset({"true", "on", "yes", "1"})
_FALSE_WORDS = frozenset({"false", "off", "no", "0"})


@dataclass(frozen=True)
class Layer:
    name: str
    options: Tuple[Tuple[str, Optional[str]], ...]

    def option_map(self) -> Dict[str, Optional[str]]:
        return {k.lower(): v for k, v in self.options}


def split_top(text: str, sep: str = ",") -> List[str]:
    """Split on ``sep`` outside parentheses and quotes, stripping whitespace.

    gensio lets a user quote an option value (``CA="a,b"``) or escape a
    separator with a backslash; neither may split the string.  Only the
    characters that matter are looked at, one search apart, so a long
    value costs C-level scanning rather than a step per character.
    """
    parts: List[str] = []
    depth = 0
    quote = ""
    start = 0  # of the current part
    escaped_until = -1  # a backslash makes the character after it plain
    for found in _split_specials(sep).finditer(text):
        at = found.start()
        if at < escaped_until:
            continue
        ch = text[at]
        if ch == "\\":
            escaped_until = at + 2
        elif quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(0, depth - 1)
        elif ch == sep and depth == 0:
            parts.append(text[start:at].strip())
            start = at + 1
    parts.append(text[start:].strip())
    return parts


@functools.cache
def _split_specials(sep: str) -> re.Pattern[str]:
    return re.compile("[" + re.escape("\\'\"()" + sep) + "]")


def _unquote(value: str) -> str:
    """Remove gensio quoting: surrounding quotes and backslash escapes."""
    out: List[str] = []
    quote = ""
    escaped = False
    for ch in value:
        if escaped:
            out.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif quote:
            if ch == quote:
                quote = ""
            else:
                out.append(ch)
        elif ch in "'\"":
            quote = ch
        else:
            out.append(ch)
    return "".join(out)


_LAYER_RE = re.compile(r"^([A-Za-z0-9_-]+)\s*(?:\((.*)\))?\s*$", re.S)


def parse_layer(token: str, pos: Optional[Position]) -> Layer:
    """Read ``name`` or ``name(key=value,flag,...)``."""
    match = _LAYER_RE.match(token)
    if not match:
        raise ConfigError.at(
            pos, f"malformed gensio layer {token!r} (expected name or name(options))"
        )
    name, args = match.group(1), match.group(2)
    options: List[Tuple[str, Optional[str]]] = []
    if args is not None and args.strip():
        for item in split_top(args):
            if not item:
                continue
            key, eq, value = item.partition("=")
            options.append((key.strip(), _unquote(value.strip()) if eq else None))
    return Layer(name, tuple(options))


def parse_bool(value: Optional[str], pos: Optional[Position], what: str) -> bool:
    """A gensio boolean; a bare key (``None``) means true."""
    if value is None:
        return True
    word = value.strip()
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    raise ConfigError.at(
        pos,
        f"invalid boolean {value!r} for {what} (expected true, false, on, off, yes, no, 1 or 0)",
    )


# Kept for callers of the first version of this module.
_bool = parse_bool

_C_UINT_RE = re.compile(r"^\s*\+?(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)\s*$")


def parse_c_uint(value: str) -> Optional[int]:
    """An unsigned number as C's ``strtoul(s, NULL, 0)`` reads a whole string.

    ``0x10`` is hex and ``010`` octal, as in ser2net; None if not a number.
    """
    match = _C_UINT_RE.match(value)
    if not match or len(match.group(1)) > MAX_NUMBER_DIGITS:
        return None
    text = match.group(1)
    if text[:2] in ("0x", "0X"):
        return int(text, 16)
    if len(text) > 1 and text[0] == "0":
        return int(text, 8)
    return int(text)


def _int(value: str, pos: Optional[Position], what: str) -> int:
    number = parse_c_uint(value)
    if number is None:
        raise ConfigError.at(
            pos, f"invalid number {value!r} for {what} (expected a non-negative integer)"
        )
    return number


def _port(value: str, pos: Optional[Position]) -> int:
    port = parse_c_uint(value) if value.strip().isdigit() else None
    if port is None:
        raise ConfigError.at(pos, f"invalid port {value!r} (expected a number from 0 to 65535)")
    if not 0 <= port <= 65535:
        raise ConfigError.at(pos, f"port {port} out of range (expected 0 to 65535)")
    return port


_FAMILIES = {"ipv4": "ipv4", "ipv6": "ipv6", "ipv6n4": None}


def _address(
    args: List[str], pos: Optional[Position], what: str
) -> Tuple[Optional[str], Optional[str], int]:
    """``[ipv4|ipv6|ipv6n4,][host,]port`` -> (family, host, port)."""
    family: Optional[str] = None
    if args and args[0].lower() in _FAMILIES:
        family = _FAMILIES[args[0].lower()]
        args = args[1:]
    if len(args) == 1 and args[0]:
        return family, None, _port(args[0], pos)
    if len(args) == 2 and args[1]:
        problem = host_problem(args[0]) if args[0] else None
        if problem is not None:
            raise ConfigError.at(pos, f"{what}: invalid host {args[0]!r}: {problem}")
        return family, args[0] or None, _port(args[1], pos)
    if len(args) > 2:
        raise ConfigError.at(
            pos,
            f"{what}: several addresses ({','.join(args)!r}) are not supported by pyser2net "
            "(expected [host,]port)",
        )
    raise ConfigError.at(pos, f"{what} needs [host,]port, got {','.join(args)!r}")


#: Options each layer takes (lower case), beyond the ones acted upon.
_LAYER_OPTIONS = {
    "tcp": {"readbuf", "nodelay", "laddr", "reuseaddr", "tcpd", "tcpdname"},
    "udp": {"readbuf", "laddr", "nocon", "mloop", "mttl", "mcast", "reuseaddr"},
    "telnet": {"readbuf", "writebuf", "rfc2217", "mode", "winsize"},
    "serialdev": {"readbuf", "nouucplock", "drain_time", "char_drain_wait"},
    "keepopen": {"retry-time", "discard-badwrites"},
    "echo": {"readbuf"},
    "ssl": {"readbuf", "writebuf", "ca", "key", "cert", "mode", "clientauth", "allow-authfail"},
    "msgdelim": {"readbuf", "writebuf", "crc"},
    "relpkt": {"max_pktsize", "max_packets", "mode", "timeout", "max_timeouts"},
    "serialtcp": {"server", "client", "mode", "timeout"},
    "conacc": {"retry-time"},
}


def _check_options(layer: Layer, pos: Optional[Position]) -> Dict[str, Optional[str]]:
    """Reject options a layer does not take, as gensio does."""
    allowed = _LAYER_OPTIONS.get(layer.name, set())
    for key, _ in layer.options:
        if key.lower() not in allowed:
            expected = ", ".join(sorted(allowed)) or "none"
            raise ConfigError.at(
                pos, f"unknown option {key!r} for layer {layer.name} (expected one of: {expected})"
            )
    return layer.option_map()


#: Layers pyser2net will serve but does not yet, by (accepter|connector,
#: layer), and why each is refused outright: accepting them would serve
#: something other than what the file asks for (clear text instead of TLS,
#: raw bytes instead of telnet, a connector that fails on every connect).
NOT_YET_SERVED = {
    ("connector", "file"): "file connectors are not supported yet",
    ("connector", "telnet"): "telnet connectors (a telnet client towards the device) "
    "are not supported yet",
}


def not_yet_served(layer: str, where: str, pos: Optional[Position]) -> ConfigError:
    """The error for a layer of NOT_YET_SERVED, naming the layer and the reason."""
    return ConfigError.at(
        pos,
        f"{where} layer {layer!r}: {NOT_YET_SERVED[(where, layer)]} in pyser2net "
        f"(remove the {layer} layer, or keep ser2net for this connection)",
    )


#: What to use instead of a gensio layer that pyser2net does not serve.
_INSTEAD = {
    "certauth": "for client authentication use ssl(clientauth) with the users' certificates "
    "in <authdir>/<user>/allowed_certs/",
    "mux": "connect with a TLS client (gensiot, socat, openssl s_client) to an ssl accepter "
    "instead of gtlssh's channels",
}


def pamauth_refused(option: str, pos: Optional[Position]) -> ConfigError:
    """``pamauth`` (``pamauth-admin``) names the PAM service that gensio's
    certauth layer asks for passwords; pyser2net serves no certauth, so the
    option would be read and then do nothing at all."""
    return ConfigError.at(
        pos,
        f"option {option!r} is not supported by pyser2net: PAM logins belong to "
        f"gensio's certauth layer, which pyser2net does not serve ({_INSTEAD['certauth']}; "
        f"remove {option})",
    )


def _unsupported(layer: str, where: str, pos: Optional[Position]) -> ConfigError:
    instead = f" ({_INSTEAD[layer]})" if layer in _INSTEAD else ""
    return ConfigError.at(
        pos, f"{where} layer {layer!r} is valid for ser2net but not supported by pyser2net{instead}"
    )


#: The ssl options that may come from ``default:`` entries (class ssl or none).
SSL_DEFAULT_NAMES = ("key", "cert", "ca", "clientauth", "allow-authfail", "mode")


def parse_ssl(
    layer: Layer,
    pos: Optional[Position],
    where: str,
    defaults: Optional[Mapping[str, Optional[str]]] = None,
) -> SslSettings:
    """The options of an ``ssl`` layer, over the ``default:`` values in force.

    On an accepter it is a TLS server whose key and certificate default to
    ser2net's (``/etc/ser2net/ser2net.key`` and ``.crt``); on a connector a
    TLS client.  As in gensio, an empty ``cert=`` means "in the key file"
    and an empty ``CA=`` means none.
    """
    opts: Dict[str, Optional[str]] = dict(defaults or {})
    opts.update(_check_options(layer, pos))
    if "allow-authfail" in opts and parse_bool(opts["allow-authfail"], pos, "ssl allow-authfail"):
        raise ConfigError.at(
            pos,
            "ssl option 'allow-authfail' is not supported by pyser2net: a client whose "
            "certificate does not verify is always refused (remove allow-authfail; to take "
            "clients without a certificate, remove clientauth)",
        )
    mode = (opts.get("mode") or "").strip()
    own_mode = "server" if where == "accepter" else "client"
    if mode and mode != own_mode:
        if mode not in ("client", "server"):
            raise ConfigError.at(pos, f"invalid ssl mode {mode!r} (expected client or server)")
        raise ConfigError.at(
            pos,
            f"ssl option 'mode={mode}' on {'an' if where == 'accepter' else 'a'} {where} "
            "is not supported by pyser2net (an ssl accepter is always the TLS server and an "
            "ssl connector the TLS client; remove mode=)",
        )
    clientauth = "clientauth" in opts and parse_bool(opts["clientauth"], pos, "ssl clientauth")
    if clientauth and where != "accepter":
        raise ConfigError.at(
            pos,
            "ssl option 'clientauth' only applies to an accepter (on a connector, give "
            "key= and cert= to show a client certificate)",
        )
    key = opts.get("key") or None
    cert = opts.get("cert")
    if where == "accepter":
        key = key or DEFAULT_TLS_KEY
        if cert is None:
            cert = DEFAULT_TLS_CERT
    if key is None and cert:
        raise ConfigError.at(pos, "ssl: cert= needs the key that goes with it (add key=)")
    return SslSettings(key=key, cert=cert or None, ca=opts.get("ca") or None, clientauth=clientauth)


#: Accepter and connector layers by name.  A token that names none of them is
#: read the way gensio reads it: as a network address, ``tcp`` by default.
_ACCEPTER_LAYERS = (
    frozenset({"telnet", "ssl", "tcp", "udp", "conacc"}) | UNSUPPORTED_LAYERS | LINK_LAYERS
)
_CONNECTOR_LAYERS = (
    frozenset({"serialdev", "tcp", "udp", "telnet", "echo", "keepopen", "ssl", "file"})
    | UNSUPPORTED_LAYERS
    | LINK_LAYERS
)
_ALL_LAYERS = _ACCEPTER_LAYERS | _CONNECTOR_LAYERS
_EXPECTED = {
    "accepter": "a layer (telnet, tcp, udp) or an address such as 2000 or 127.0.0.1,2000",
    "connector": "a layer (serialdev, tcp, udp, echo, keepopen), a device path "
    "or an address such as 127.0.0.1,2000",
}
_NAME_RE = re.compile(r"^([A-Za-z0-9_-]+)\s*(?:\(|$)")
_HOSTNAME_RE = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?:\.(?!-)[A-Za-z0-9-]{1,63})*\.?$")


def _layer_name(token: str) -> Optional[str]:
    """The layer a token names (``telnet(rfc2217)`` -> telnet), if it looks like one."""
    match = _NAME_RE.match(token)
    return match.group(1) if match else None


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.split("%", 1)[0])
        return True
    except ValueError:
        return False


#: Whether a host name resolves now: a lookup, so the caller hands it in
#: (reading a configuration does no I/O of its own).  gensio resolves the
#: host of an address when it reads the configuration; here that only
#: decides whether the first of two words is a host or a mistyped layer.
#: Without one, no name resolves and such a word is a layer.
Resolves = Callable[[str], bool]


def _default_network(
    args: List[str], pos: Optional[Position], where: str, resolves: Optional[Resolves]
) -> Tuple[str, Optional[str], Optional[str], int]:
    """What gensio makes of a stack that goes on with an address, not a layer.

    ``[ipv4,|ipv6,][tcp,|udp,][ipv4,|ipv6,|ipv6n4,][host,]port`` is a tcp
    (or the named udp) socket: ``2000``, ``127.0.0.1,2000``,
    ``ipv4,udp,2000``.  Returns (transport, family, host, port).
    """
    text = ",".join(args)
    if where == "accepter" and len(args) == 1 and args[0] and args[0].strip("0") == "":
        raise ConfigError.at(
            pos,
            f"accepter {text!r} is ser2net's stdio accepter (an all-zero port), which "
            "pyser2net does not serve (write tcp,0 for a port the system picks)",
        )
    family: Optional[str] = None
    if args and args[0] in ("ipv4", "ipv6"):
        family, args = args[0], args[1:]
    transport = "tcp"
    name = _layer_name(args[0]) if args else None
    if name in ("tcp", "udp"):
        _check_options(parse_layer(args[0], pos), pos)
        transport, args = name, args[1:]
    elif name in ("sctp", "unix"):
        raise _unsupported(name, where, pos)
    if args and args[0] in _FAMILIES:
        inner = _FAMILIES[args[0]] or "ipv6"
        if family is not None and inner != family:
            raise ConfigError.at(
                pos, f"{where} {text!r} names two address families ({family} and {args[0]})"
            )
    word = args[0] if args else ""
    if (
        word
        and word not in _FAMILIES
        and not word.isdigit()
        and not _is_ip(word)
        and not (
            len(args) == 2 and resolves is not None and _HOSTNAME_RE.match(word) and resolves(word)
        )
    ):
        if word in _ALL_LAYERS:
            hint = f"; {word} is not an {where} layer"
        elif word.lower() in _ALL_LAYERS:
            hint = "; layer names are lower case"
        elif len(args) == 2 and _HOSTNAME_RE.match(word):
            hint = f"; write {transport},{word},PORT for a host name that resolves later"
        else:
            hint = ""
        raise ConfigError.at(
            pos,
            f"unknown {where} layer {word!r}, and not a host name that resolves "
            f"(expected {_EXPECTED[where]}{hint})",
        )
    inner_family, host, port = _address(args, pos, f"{where} {transport}")
    return transport, family or inner_family, host, port


def parse_accepter(
    text: str,
    pos: Optional[Position] = None,
    ssl_defaults: Optional[Mapping[str, Optional[str]]] = None,
    serial_defaults: Optional[Mapping[str, object]] = None,
    allow_conacc: bool = False,
    *,
    resolves: Optional[Resolves] = None,
) -> Accepter:
    """Read an accepter string such as ``telnet(rfc2217),tcp,127.0.0.1,2000``.

    ``ssl_defaults`` holds the ``default:`` values of class ssl (and the
    base class) in force at this point of the file; ``serial_defaults``
    those of class serialdev, for the connector under a ``conacc``, which
    only a connection's accepter may be (``allow_conacc``); ``resolves``
    tells a host from a mistyped layer (see ``Resolves``).

    As in gensio, a stack may stop naming layers and go on with an address,
    which means tcp: ``telnet,2000``, ``telnet(rfc2217),127.0.0.1,2000``.
    """
    if text != text.rstrip():
        # ser2net takes the trailing newline of a ``>`` block as part of the
        # port and fails; say so rather than silently differ.
        raise ConfigError.at(
            pos,
            f"accepter {text.strip()!r} ends with a newline or space "
            "(ser2net rejects it; use '>-' or a plain scalar)",
        )
    tokens = split_top(" ".join(text.split()))
    telnet = rfc2217 = False
    ssl: Optional[SslSettings] = None
    for i, token in enumerate(tokens):
        name = _layer_name(token)
        if name is None or name not in _ACCEPTER_LAYERS:
            transport, family, host, port = _default_network(tokens[i:], pos, "accepter", resolves)
        elif name == "telnet":
            opts = _check_options(parse_layer(token, pos), pos)
            telnet = True
            if "rfc2217" in opts:
                rfc2217 = parse_bool(opts["rfc2217"], pos, "telnet rfc2217")
            continue
        elif name == "ssl":
            ssl = parse_ssl(parse_layer(token, pos), pos, "accepter", ssl_defaults)
            continue
        elif name in LINK_LAYERS:
            raise ConfigError.at(
                pos,
                f"accepter layer {name!r}: pyser2net serves link layers on an accepter "
                f"under conacc (conacc,{name}{'(mode=server)' if name == 'relpkt' else ''}"
                f"{',msgdelim' if name == 'relpkt' else ''},serialdev,/dev/ttyS0,...)",
            )
        elif name == "conacc":
            if ssl is not None:
                raise ConfigError.at(
                    pos, "an ssl accepter runs over tcp (ssl,tcp,PORT), not conacc"
                )
            if not allow_conacc:
                raise ConfigError.at(
                    pos,
                    "conacc is served only as a connection's accepter "
                    "(not for a rotator or the admin port)",
                )
            if telnet:
                raise ConfigError.at(
                    pos,
                    "telnet over conacc is not supported by pyser2net "
                    "(conacc,relpkt(mode=server),msgdelim,serialdev,...)",
                )
            conacc = _conacc(
                parse_layer(token, pos), tokens[i + 1 :], pos, serial_defaults, resolves
            )
            if ("accepter", "conacc") in NOT_YET_SERVED:
                raise not_yet_served("conacc", "accepter", pos)
            return Accepter(text=text.strip(), transport="conacc", conacc=conacc)
        elif name in ("tcp", "udp"):
            _check_options(parse_layer(token, pos), pos)
            transport = name
            family, host, port = _address(tokens[i + 1 :], pos, f"accepter {name}")
        else:
            raise _unsupported(name, "accepter", pos)
        if ssl is not None and transport != "tcp":
            raise ConfigError.at(
                pos, f"an ssl accepter runs over tcp (ssl,tcp,PORT), not {transport}"
            )
        return Accepter(
            text=text.strip(),
            transport=transport,
            host=host,
            port=port,
            family=family,
            telnet=telnet,
            rfc2217=rfc2217,
            ssl=ssl,
        )
    raise ConfigError.at(
        pos,
        f"accepter {text.strip()!r} has no address "
        "(expected e.g. telnet,2000 or tcp,127.0.0.1,2000)",
    )


#: ``<speed>[<parity>[<databits>[<stopbits>]]]``, e.g. 9600, 9600e, 9600N81.
_SPEC_RE = re.compile(r"^(\d+)(?:([noemsNOEMS])(?:([0-9])([0-9])?)?)?$")
_PARITY_LETTERS = {"n": "none", "o": "odd", "e": "even", "m": "mark", "s": "space"}
#: The legacy words, recognised in upper case only (``even`` is an error).
_LEGACY_WORDS = {
    "NONE": ("parity", "none"),
    "EVEN": ("parity", "even"),
    "ODD": ("parity", "odd"),
    "MARK": ("parity", "mark"),
    "SPACE": ("parity", "space"),
    "1STOPBIT": ("stopbits", 1),
    "2STOPBITS": ("stopbits", 2),
    "5DATABITS": ("databits", 5),
    "6DATABITS": ("databits", 6),
    "7DATABITS": ("databits", 7),
    "8DATABITS": ("databits", 8),
}
#: Boolean serial options (case-insensitive key, optional ``=bool``).
_SERIAL_BOOLS = {
    "xonxoff": "xonxoff",
    "rtscts": "rtscts",
    "local": "local",
    "nobreak": "nobreak",
    "hangup-when-done": "hangup_when_done",
    "hangup_when_done": "hangup_when_done",
    "wronly": "wronly",
}


def _apply_spec(settings: Dict[str, object], spec: str, word: str, pos: Optional[Position]) -> bool:
    match = _SPEC_RE.match(spec)
    if not match:
        return False
    speed, parity, databits, stopbits = match.groups()
    if len(speed) > MAX_NUMBER_DIGITS:
        raise ConfigError.at(
            pos, f"invalid speed in {word!r} (more than {MAX_NUMBER_DIGITS} digits)"
        )
    if databits is not None and databits not in "5678":
        raise ConfigError.at(pos, f"invalid data bits in {word!r} (expected 5, 6, 7 or 8)")
    if stopbits is not None and stopbits not in "12":
        raise ConfigError.at(pos, f"invalid stop bits in {word!r} (expected 1 or 2)")
    settings["speed"] = int(speed)
    if parity:
        settings["parity"] = _PARITY_LETTERS[parity.lower()]
    if databits:
        settings["databits"] = int(databits)
    if stopbits:
        settings["stopbits"] = int(stopbits)
    return True


def _rs485(value: str, pos: Optional[Position]) -> Optional[str]:
    if value == "off":
        return None
    parts = value.split(":")
    flags = {"rts_on_send", "rts_after_send", "rx_during_tx", "terminate_bus"}
    if (
        len(parts) < 2
        or parse_c_uint(parts[0]) is None
        or parse_c_uint(parts[1]) is None
        or any(p not in flags for p in parts[2:])
    ):
        raise ConfigError.at(
            pos,
            f"invalid rs485 setting {value!r} (expected off or "
            "<delay before>:<delay after>"
            "[:rts_on_send|rts_after_send|rx_during_tx|terminate_bus...])",
        )
    return value


def apply_serial_word(settings: Dict[str, object], word: str, pos: Optional[Position]) -> bool:
    """Apply one serial option word; return False if it is not a serial word.

    Shared by serialdev strings and the legacy option list, which use the
    same vocabulary.  ``settings`` holds SerialSettings field names (plus
    ``wronly``); a recognised word with a bad value raises ConfigError.
    """
    key, eq, value = word.partition("=")
    low = key.lower()
    if not eq:
        if _apply_spec(settings, word, word, pos):
            return True
        if word in _LEGACY_WORDS:
            field_name, field_value = _LEGACY_WORDS[word]
            settings[field_name] = field_value
            return True
        negated = low.startswith("-")
        base = low[1:] if negated else low
        if base in _SERIAL_BOOLS and (not negated or base != "wronly"):
            settings[_SERIAL_BOOLS[base]] = not negated
            return True
        if low in ("dtr", "rts"):
            settings[low] = True
            return True
        return False
    if low == "speed":
        if not _apply_spec(settings, value, word, pos):
            raise ConfigError.at(pos, f"invalid speed {value!r} (expected e.g. 9600 or 9600N81)")
        return True
    if low in _SERIAL_BOOLS:
        settings[_SERIAL_BOOLS[low]] = parse_bool(value, pos, low)
        return True
    if low in ("dtr", "rts"):
        settings[low] = parse_bool(value, pos, low)
        return True
    if low == "rs485":
        settings["rs485"] = _rs485(value, pos)
        return True
    return False


def serial_words(args: List[str]) -> List[str]:
    """The serial options of a serialdev string: split on commas and spaces."""
    words: List[str] = []
    for arg in args:
        words.extend(arg.split())
    return words


def _fold_serial(
    words: List[str], pos: Optional[Position], defaults: Optional[Mapping[str, object]]
) -> Tuple[SerialSettings, bool]:
    values: Dict[str, Any] = dict(defaults or {})
    for word in words:
        if not word:
            continue
        if not apply_serial_word(values, word, pos):
            raise ConfigError.at(
                pos,
                f"unknown serial option {word!r} (expected e.g. 9600N81, EVEN, 7DATABITS, "
                "2STOPBITS, xonxoff, rtscts, local, nobreak, hangup-when-done, dtr=, rts=, rs485=)",
            )
    wronly = bool(values.pop("wronly", False))
    try:
        return SerialSettings(**values), wronly
    except TypeError as exc:
        raise ConfigError.at(pos, f"invalid serial default: {exc}") from None


def serial_settings(
    words: List[str], pos: Optional[Position], defaults: Optional[Mapping[str, object]] = None
) -> SerialSettings:
    """Fold serial option words over ``defaults`` into SerialSettings."""
    return _fold_serial(words, pos, defaults)[0]


_GTIME_RE = re.compile(r"(\d+)([DHMsmun]?)")
_GTIME_MS = {
    "D": 86400000.0,
    "H": 3600000.0,
    "M": 60000.0,
    "s": 1000.0,
    "m": 1.0,
    "u": 0.001,
    "n": 0.000001,
}


def parse_gtime_ms(value: str, pos: Optional[Position], what: str, unit: str = "m") -> int:
    """A gensio time (``10s``, ``1M30s``, a bare number in ``unit``) in milliseconds.

    A bare number is milliseconds unless the layer says otherwise (relpkt
    reads its timeout in seconds).
    """
    text = value.strip()
    total = 0.0
    at = 0
    while at < len(text):
        match = _GTIME_RE.match(text, at)
        if not match or len(match.group(1)) > MAX_NUMBER_DIGITS:
            raise ConfigError.at(
                pos, f"invalid time {value!r} for {what} (expected e.g. 500, 10s or 1M30s)"
            )
        total += int(match.group(1)) * _GTIME_MS[match.group(2) or unit]
        at = match.end()
    if not text:
        raise ConfigError.at(pos, f"empty time for {what}")
    return int(round(total))


def _serial_device(
    layer: Optional[Layer],
    args: List[str],
    pos: Optional[Position],
    serial_defaults: Optional[Mapping[str, object]],
) -> SerialDevice:
    """``serialdev,<path>,<options>``, or ``<path>,<options>`` as gensio allows."""
    if layer is not None:
        if layer.options and "wronly" in layer.option_map():
            raise ConfigError.at(
                pos,
                "wronly is a serial option, not a serialdev option "
                "(write serialdev,/dev/lp0,wronly)",
            )
        _check_options(layer, pos)
    if not args or not args[0]:
        raise ConfigError.at(pos, "serialdev needs a device path (serialdev,/dev/ttyS0,...)")
    settings, wronly = _fold_serial(serial_words(args[1:]), pos, serial_defaults)
    if is_selector(args[0]):
        selector = selector_from_options(parse_layer(args[0], pos).options, args[0], pos)
        return SerialDevice(path=args[0], serial=settings, wronly=wronly, usb=selector)
    return SerialDevice(path=_unquote(args[0]), serial=settings, wronly=wronly)


def _network_device(
    transport: str, host: Optional[str], port: int, pos: Optional[Position]
) -> NetworkDevice:
    if port == 0:
        raise ConfigError.at(pos, f"connector {transport} needs a port to connect to, not 0")
    return NetworkDevice(host=host or "localhost", port=port, transport=transport)


# -- link layers and conacc ----------------------------------------------------

_LINK_NAMES = {MsgDelimLayer: "msgdelim", RelPktLayer: "relpkt", SerialTcpLayer: "serialtcp"}


def _count(
    opts: Mapping[str, Optional[str]],
    key: str,
    default: int,
    pos: Optional[Position],
    what: str,
    low: int = 1,
    high: int = 1 << 20,
) -> int:
    if key not in opts:
        return default
    number = _int(opts[key] or "", pos, f"{what} {key}")
    if not low <= number <= high:
        raise ConfigError.at(pos, f"{what} {key}={number} out of range (expected {low} to {high})")
    return number


def _mode(
    opts: Mapping[str, Optional[str]], pos: Optional[Position], what: str, default: bool
) -> bool:
    """``mode=server|client`` (or a bare ``server`` / ``client``): True for server."""
    server = default
    for key in ("server", "client"):
        if key in opts:
            if opts[key] is not None:
                raise ConfigError.at(
                    pos,
                    f"{what} option {key!r} takes no value "
                    f"(write {what}({key}) or {what}(mode={key}))",
                )
            server = key == "server"
    if "mode" in opts:
        mode = (opts["mode"] or "").strip()
        if mode not in ("server", "client"):
            raise ConfigError.at(pos, f"invalid {what} mode {mode!r} (expected server or client)")
        server = mode == "server"
    return server


def _link_layer(layer: Layer, pos: Optional[Position], under_conacc: bool) -> LinkLayer:
    opts = _check_options(layer, pos)
    if layer.name == "msgdelim":
        return MsgDelimLayer(
            readbuf=_count(opts, "readbuf", 128, pos, "msgdelim"),
            writebuf=_count(opts, "writebuf", 128, pos, "msgdelim"),
            crc=parse_bool(opts["crc"], pos, "msgdelim crc") if "crc" in opts else True,
        )
    if layer.name == "relpkt":
        timeout = (
            parse_gtime_ms(opts["timeout"] or "", pos, "relpkt timeout", unit="s")
            if "timeout" in opts
            else 1000
        )
        if timeout <= 0:
            raise ConfigError.at(pos, "relpkt timeout must be more than 0")
        return RelPktLayer(
            server=_mode(opts, pos, "relpkt", default=False),
            max_pktsize=_count(opts, "max_pktsize", 123, pos, "relpkt", high=65535),
            max_packets=_count(opts, "max_packets", 16, pos, "relpkt", high=127),
            timeout_ms=timeout,
            max_timeouts=_count(opts, "max_timeouts", 5, pos, "relpkt", low=0, high=1000),
        )
    server = _mode(opts, pos, "serialtcp", default=not under_conacc)
    if server == under_conacc:
        raise ConfigError.at(
            pos,
            "serialtcp under conacc is the client end (serialtcp.py --client: it "
            "connects on when asked); write conacc,serialtcp(client),serialdev,..."
            if under_conacc
            else "serialtcp on a connector is the server end (serialtcp.py --server: TCP clients "
            "arrive here); write serialtcp(server),serialdev,...",
        )
    timeout = (
        parse_gtime_ms(opts["timeout"] or "", pos, "serialtcp timeout", unit="s")
        if "timeout" in opts
        else 10000
    )
    return SerialTcpLayer(server=server, timeout_ms=timeout)


def _check_link(
    links: List[LinkLayer], keepopen: Optional[KeepOpen], pos: Optional[Position]
) -> None:
    """The link stacks pyser2net runs: ``relpkt,msgdelim``, ``msgdelim`` or ``serialtcp``."""
    kinds = [type(layer) for layer in links]
    if kinds not in ([RelPktLayer, MsgDelimLayer], [MsgDelimLayer], [SerialTcpLayer]):
        written = ",".join(_LINK_NAMES[k] for k in kinds)
        raise ConfigError.at(
            pos,
            f"link layers {written!r} are not supported by pyser2net (expected "
            "relpkt,msgdelim, msgdelim alone, or serialtcp, right above the device)",
        )
    if keepopen is not None:
        raise ConfigError.at(
            pos,
            "keepopen over a link layer is not supported by pyser2net "
            "(the link reconnects with each new client)",
        )
    if isinstance(links[0], RelPktLayer):
        relpkt, delim = links[0], links[1]
        assert isinstance(delim, MsgDelimLayer)
        need = relpkt.max_pktsize + 3
        if need > min(delim.readbuf, delim.writebuf):
            raise ConfigError.at(
                pos,
                f"relpkt max_pktsize={relpkt.max_pktsize} needs msgdelim messages of "
                f"{need} bytes (raise msgdelim readbuf and writebuf, or lower max_pktsize)",
            )


def _conacc(
    layer: Layer,
    args: List[str],
    pos: Optional[Position],
    serial_defaults: Optional[Mapping[str, object]],
    resolves: Optional[Resolves],
) -> ConAcc:
    opts = _check_options(layer, pos)
    retry = (
        parse_gtime_ms(opts["retry-time"] or "", pos, "conacc retry-time")
        if "retry-time" in opts
        else 0
    )
    if not args or not any(args):
        raise ConfigError.at(
            pos,
            "conacc needs a connector below it "
            "(conacc,relpkt(mode=server),msgdelim,serialdev,/dev/ttyS0,...)",
        )
    child = _connector(",".join(args), pos, serial_defaults, None, resolves, under_conacc=True)
    if child.keepopen is not None or (
        isinstance(child.device, NetworkDevice) and (child.device.telnet or child.device.ssl)
    ):
        raise ConfigError.at(
            pos,
            "conacc over keepopen, telnet or ssl is not supported by "
            "pyser2net (expected link layers and a device)",
        )
    return ConAcc(connector=child, retry_time_ms=retry)


def parse_connector(
    text: str,
    pos: Optional[Position] = None,
    serial_defaults: Optional[Mapping[str, object]] = None,
    ssl_defaults: Optional[Mapping[str, Optional[str]]] = None,
    *,
    resolves: Optional[Resolves] = None,
) -> Connector:
    """Read a connector string such as ``serialdev,/dev/ttyS0,115200n81,local``.

    As in gensio, a stack may go on with a device path instead of a layer
    (``/dev/ttyS0,9600`` is a serialdev) or with an address (a tcp peer).
    ``serial_defaults`` holds the ``default:`` values of class serialdev
    (and the base class) in force at this point of the file, as
    SerialSettings field names; ``resolves`` tells a host from a mistyped
    layer (see ``Resolves``).
    """
    return _connector(text, pos, serial_defaults, ssl_defaults, resolves, under_conacc=False)


def _connector(
    text: str,
    pos: Optional[Position],
    serial_defaults: Optional[Mapping[str, object]],
    ssl_defaults: Optional[Mapping[str, Optional[str]]],
    resolves: Optional[Resolves],
    under_conacc: bool,
) -> Connector:
    tokens = split_top(" ".join(text.split()))
    keepopen: Optional[KeepOpen] = None
    ssl: Optional[SslSettings] = None
    links: List[LinkLayer] = []
    for i, token in enumerate(tokens):
        name = _layer_name(token)
        args = tokens[i + 1 :]
        device: Device
        if name is None or name not in _CONNECTOR_LAYERS:
            if token.startswith("/") or is_selector(token):
                device = _serial_device(None, tokens[i:], pos, serial_defaults)
            else:
                transport, _, host, port = _default_network(tokens[i:], pos, "connector", resolves)
                device = _network_device(transport, host, port, pos)
        elif name == "keepopen":
            opts = _check_options(parse_layer(token, pos), pos)
            keepopen = KeepOpen(
                retry_time_ms=parse_gtime_ms(opts["retry-time"] or "", pos, "retry-time")
                if "retry-time" in opts
                else 1000,
                discard_badwrites="discard-badwrites" in opts
                and parse_bool(opts["discard-badwrites"], pos, "discard-badwrites"),
            )
            continue
        elif name == "ssl":
            if ssl is not None:
                raise ConfigError.at(pos, "connector has two ssl layers")
            ssl = parse_ssl(parse_layer(token, pos), pos, "connector", ssl_defaults)
            continue
        elif name in LINK_LAYERS:
            links.append(_link_layer(parse_layer(token, pos), pos, under_conacc))
            continue
        elif name == "serialdev":
            device = _serial_device(parse_layer(token, pos), args, pos, serial_defaults)
        elif name in ("tcp", "udp"):
            _check_options(parse_layer(token, pos), pos)
            _, host, port = _address(args, pos, f"connector {name}")
            device = _network_device(name, host, port, pos)
        elif name == "echo":
            opts = parse_layer(token, pos).option_map()
            for unsupported in ("noecho", "data"):
                if unsupported in opts:
                    raise ConfigError.at(
                        pos, f"echo option {unsupported!r} is not supported by pyser2net"
                    )
            _check_options(parse_layer(token, pos), pos)
            # gensio ignores anything after echo, and so do we.
            device = EchoDevice()
        elif ("connector", name) in NOT_YET_SERVED:
            raise not_yet_served(name, "connector", pos)
        else:
            raise _unsupported(name, "connector", pos)
        if ssl is not None:
            if not (isinstance(device, NetworkDevice) and device.transport == "tcp"):
                raise ConfigError.at(
                    pos, "an ssl connector runs over tcp (ssl(CA=...),tcp,host,port)"
                )
            if links:
                raise ConfigError.at(
                    pos,
                    "link layers over an ssl connector are not supported by pyser2net "
                    "(expected ssl(CA=...),tcp,host,port)",
                )
            device = replace(device, ssl=ssl)
        if links:
            _check_link(links, keepopen, pos)
            for layer in links:
                layer_name = _LINK_NAMES[type(layer)]
                if ("connector", layer_name) in NOT_YET_SERVED:
                    raise not_yet_served(layer_name, "connector", pos)
        return Connector(text=text.strip(), device=device, keepopen=keepopen, link=tuple(links))
    raise ConfigError.at(
        pos,
        f"connector {text.strip()!r} has no device "
        "(expected e.g. serialdev,/dev/ttyS0,9600n81 or tcp,host,port)",
    )
