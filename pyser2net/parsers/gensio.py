"""Accepter and connector strings, the gensio stacks of ser2net 4.x.

A gensio string is a comma-separated stack read from the outside in:
filter layers (``telnet(rfc2217)``, ``ssl(...)``, ``keepopen(...)``) come
first, then one terminal layer (``tcp``, ``udp``, ``serialdev``, ``echo``,
``file``) followed by that layer's positional arguments.  Every layer may
carry ``(key=value,...)`` options.  Whitespace after a comma and line breaks
left by YAML folding are insignificant.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Tuple

from pyser2net.model import (
    Accepter,
    Connector,
    EchoDevice,
    FileDevice,
    KeepOpen,
    NetworkDevice,
    Position,
    SerialDevice,
    SerialSettings,
    SslSettings,
)
from pyser2net.parsers.errors import ConfigError

#: Layers that ser2net knows but pyser2net does not serve: naming them gives
#: the user a precise error instead of "unknown layer".
UNSUPPORTED_LAYERS = frozenset(
    {
        "sctp", "mux", "certauth", "ipmisol", "ratelimit", "trace", "perf",
        "msgdelim", "relpkt", "xlt", "unix", "stdio", "pty", "dummy", "kiss",
        "ax25", "mdns", "sound", "afskmdm", "script", "conacc", "serialmux",
        "udpmux", "sctpmux",
    }
)


@dataclass(frozen=True)
class Layer:
    name: str
    options: Tuple[Tuple[str, Optional[str]], ...]

    def option_map(self) -> Dict[str, Optional[str]]:
        return {k.lower(): v for k, v in self.options}


def split_top(text: str, sep: str = ",") -> List[str]:
    """Split on ``sep`` outside parentheses, stripping whitespace."""
    parts: List[str] = []
    depth = 0
    current: List[str] = []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(0, depth - 1)
        if ch == sep and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    parts.append("".join(current).strip())
    return parts


_LAYER_RE = re.compile(r"^([A-Za-z0-9_-]+)\s*(?:\((.*)\))?\s*$", re.S)


def parse_layer(token: str, pos: Optional[Position]) -> Layer:
    match = _LAYER_RE.match(token)
    if not match:
        raise ConfigError.at(pos, f"malformed gensio layer {token!r} (expected name or name(options))")
    name, args = match.group(1), match.group(2)
    options: List[Tuple[str, Optional[str]]] = []
    if args is not None and args.strip():
        for item in split_top(args):
            if not item:
                continue
            key, eq, value = item.partition("=")
            options.append((key.strip(), value.strip() if eq else None))
    return Layer(name, tuple(options))


def _bool(value: Optional[str], pos: Optional[Position], what: str) -> bool:
    if value is None:
        return True
    low = value.strip().lower()
    if low in ("true", "yes", "on", "1"):
        return True
    if low in ("false", "no", "off", "0"):
        return False
    raise ConfigError.at(pos, f"invalid boolean {value!r} for {what} (expected true or false)")


def _int(value: str, pos: Optional[Position], what: str) -> int:
    try:
        return int(value.strip(), 0)
    except ValueError:
        raise ConfigError.at(pos, f"invalid number {value!r} for {what}") from None


def _port(value: str, pos: Optional[Position]) -> int:
    port = _int(value, pos, "port")
    if not 0 <= port <= 65535:
        raise ConfigError.at(pos, f"port {port} out of range (expected 0 to 65535)")
    return port


_FAMILIES = {"ipv4": "ipv4", "ipv6": "ipv6", "ipv6n4": None}


def _address(args: List[str], pos: Optional[Position], what: str) -> Tuple[Optional[str], Optional[str], int]:
    """``[ipv4|ipv6,][host,]port`` -> (family, host, port)."""
    family: Optional[str] = None
    if args and args[0].lower() in _FAMILIES:
        family = _FAMILIES[args[0].lower()]
        args = args[1:]
    if len(args) == 1:
        return family, None, _port(args[0], pos)
    if len(args) == 2:
        host = args[0] or None
        return family, host, _port(args[1], pos)
    raise ConfigError.at(pos, f"{what} needs [host,]port, got {','.join(args)!r}")


def parse_accepter(text: str, pos: Optional[Position] = None) -> Accepter:
    """Read an accepter string such as ``telnet(rfc2217),tcp,127.0.0.1,2000``."""
    tokens = split_top(" ".join(text.split()))
    telnet = rfc2217 = False
    ssl: Optional[SslSettings] = None
    i = 0
    while i < len(tokens):
        layer = parse_layer(tokens[i], pos)
        name = layer.name.lower()
        i += 1
        if name == "telnet":
            telnet = True
            opts = layer.option_map()
            if "rfc2217" in opts:
                rfc2217 = _bool(opts["rfc2217"], pos, "rfc2217")
        elif name == "ssl":
            opts = layer.option_map()
            ssl = SslSettings(
                key=opts.get("key"),
                cert=opts.get("cert"),
                ca=opts.get("ca"),
                clientauth="clientauth" in opts and _bool(opts["clientauth"], pos, "clientauth"),
            )
        elif name in ("tcp", "udp"):
            family, host, port = _address(tokens[i:], pos, f"accepter {name}")
            return Accepter(
                text=text.strip(), transport=name, host=host, port=port, family=family,
                telnet=telnet, rfc2217=rfc2217, ssl=ssl,
            )
        elif name in UNSUPPORTED_LAYERS:
            raise ConfigError.at(pos, f"accepter layer {layer.name!r} is not supported by pyser2net")
        elif name.isdigit() and i == len(tokens) and not telnet and ssl is None:
            # A bare port number, as the legacy format writes it.
            return Accepter(text=text.strip(), port=_port(name, pos))
        else:
            raise ConfigError.at(
                pos, f"unknown accepter layer {layer.name!r} (expected telnet, ssl, tcp or udp)"
            )
    raise ConfigError.at(pos, f"accepter {text.strip()!r} has no tcp or udp layer")


_SPEC_RE = re.compile(r"^(\d+)([noemsNOEMS])([5-8])([12])$")
_PARITY_WORDS = {"none": "none", "odd": "odd", "even": "even", "mark": "mark", "space": "space"}
_PARITY_LETTERS = {"n": "none", "o": "odd", "e": "even", "m": "mark", "s": "space"}


def apply_serial_word(
    settings: Dict[str, object], word: str, pos: Optional[Position]
) -> bool:
    """Apply one serial option word; return False if it is not a serial word.

    Shared by serialdev strings and the legacy option list, which use the
    same vocabulary (case-insensitively).
    """
    low = word.lower()
    key, eq, value = low.partition("=")
    spec = _SPEC_RE.match(word)
    if spec:
        settings["speed"] = int(spec.group(1))
        settings["parity"] = _PARITY_LETTERS[spec.group(2).lower()]
        settings["databits"] = int(spec.group(3))
        settings["stopbits"] = int(spec.group(4))
    elif low.isdigit():
        settings["speed"] = int(low)
    elif low in _PARITY_WORDS:
        settings["parity"] = _PARITY_WORDS[low]
    elif low in ("1stopbit", "2stopbits"):
        settings["stopbits"] = int(low[0])
    elif low in ("5databits", "6databits", "7databits", "8databits"):
        settings["databits"] = int(low[0])
    elif low.lstrip("-") in ("xonxoff", "rtscts", "local", "nobreak"):
        settings[low.lstrip("-")] = not low.startswith("-")
    elif low.lstrip("-").replace("-", "_") == "hangup_when_done":
        settings["hangup_when_done"] = not low.startswith("-")
    elif eq and key in ("dtr", "rts"):
        settings[key] = _bool(value, pos, key)
    elif eq and key == "speed":
        settings["speed"] = _int(value, pos, "speed")
    elif eq and key == "rs485":
        settings["rs485"] = word.partition("=")[2]
    else:
        return False
    return True


def serial_settings(
    words: List[str], pos: Optional[Position], defaults: Optional[Mapping[str, object]] = None
) -> SerialSettings:
    values: Dict[str, object] = dict(defaults or {})
    for word in words:
        if not word:
            continue
        if not apply_serial_word(values, word, pos):
            raise ConfigError.at(pos, f"unknown serial option {word!r}")
    try:
        return SerialSettings(**values)  # type: ignore[arg-type]
    except TypeError as exc:
        raise ConfigError.at(pos, f"invalid serial default: {exc}") from None


def parse_connector(
    text: str,
    pos: Optional[Position] = None,
    serial_defaults: Optional[Mapping[str, object]] = None,
) -> Connector:
    """Read a connector string such as ``serialdev,/dev/ttyS0,115200n81,local``.

    ``serial_defaults`` holds the ``default:`` values of class serialdev
    (and the base class) in force at this point of the file.
    """
    tokens = split_top(" ".join(text.split()))
    keepopen: Optional[KeepOpen] = None
    i = 0
    while i < len(tokens):
        layer = parse_layer(tokens[i], pos)
        name = layer.name.lower()
        args = tokens[i + 1:]
        i += 1
        if name == "keepopen":
            opts = layer.option_map()
            keepopen = KeepOpen(
                retry_time_ms=_int(opts["retry-time"], pos, "retry-time")
                if opts.get("retry-time") else 1000,
                discard_badwrites="discard-badwrites" in opts
                and _bool(opts["discard-badwrites"], pos, "discard-badwrites"),
            )
            continue
        if name == "serialdev":
            if not args or not args[0]:
                raise ConfigError.at(pos, "serialdev needs a device path")
            wronly = "wronly" in layer.option_map()
            device = SerialDevice(
                path=args[0],
                serial=serial_settings(args[1:], pos, serial_defaults),
                wronly=wronly,
            )
        elif name in ("tcp", "udp"):
            _, host, port = _address(args, pos, f"connector {name}")
            if host is None:
                raise ConfigError.at(pos, f"connector {name} needs host,port")
            device = NetworkDevice(host=host, port=port, transport=name)
        elif name == "telnet":
            inner = parse_connector(",".join(tokens[i:]), pos, serial_defaults)
            if not isinstance(inner.device, NetworkDevice):
                raise ConfigError.at(pos, "a telnet connector must sit on tcp or udp")
            net = inner.device
            device = NetworkDevice(host=net.host, port=net.port, transport=net.transport, telnet=True)
        elif name == "echo":
            if args:
                raise ConfigError.at(pos, f"echo takes no arguments, got {','.join(args)!r}")
            device = EchoDevice()
        elif name == "file":
            opts = layer.option_map()
            device = FileDevice(infile=opts.get("infile"), outfile=opts.get("outfile"))
        elif name in UNSUPPORTED_LAYERS:
            raise ConfigError.at(pos, f"connector layer {layer.name!r} is not supported by pyser2net")
        else:
            raise ConfigError.at(
                pos,
                f"unknown connector layer {layer.name!r} "
                "(expected serialdev, tcp, udp, telnet, echo, file or keepopen)",
            )
        return Connector(text=text.strip(), device=device, keepopen=keepopen)
    raise ConfigError.at(pos, f"connector {text.strip()!r} has no device layer")
