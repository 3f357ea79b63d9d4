"""The ``mdns`` and ``mdns-*`` options, as both configuration formats write them.

ser2net reads them with the same code for YAML options and legacy words;
so does pyser2net: ``mdns_option`` folds one option into a dict of
``Mdns`` fields (and ``on`` for ``mdns`` itself), ``mdns_settings`` makes
the announcement once every option is read.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

from pyser2net.config.errors import ConfigError
from pyser2net.config.gensio import parse_bool, parse_c_uint
from pyser2net.config.model import Mdns, Position

#: The mDNS options a ``default:`` sets for connections and the admin port
#: (``mdns`` itself only for connections).
MDNS_DEFAULTS = ("mdns-interface", "mdns-type", "mdns-domain", "mdns-host", "mdns-sysattrs")

_NETTYPES = ("unspec", "ipv4", "ipv6")
_STRINGS = {"mdns-name": "name", "mdns-type": "type", "mdns-domain": "domain", "mdns-host": "host"}


def is_mdns_option(low: str) -> bool:
    return low == "mdns" or low.startswith("mdns-")


def mdns_option(low: str, value: str, pos: Optional[Position], values: Dict[str, Any]) -> None:
    """One option (lower-case name, its value as written) into ``values``."""
    if low in ("mdns", "mdns-sysattrs"):
        values["on" if low == "mdns" else "sysattrs"] = parse_bool(value or None, pos, low)
    elif low == "mdns-nettype":
        if value not in _NETTYPES:
            raise ConfigError.at(
                pos, f"invalid mdns-nettype {value!r} (expected unspec, ipv4 or ipv6)"
            )
        values["nettype"] = value
    elif low == "mdns-txt":
        if "=" not in value or value.startswith("="):
            raise ConfigError.at(pos, f"invalid mdns-txt {value!r} (expected name=value)")
        if len(value.encode("utf-8")) > 255:
            raise ConfigError.at(pos, "mdns-txt: longer than the 255 bytes a TXT string holds")
        values["txt"] = values.get("txt", ()) + (value,)
    elif low in ("mdns-port", "mdns-interface"):
        text = value.strip()
        negative = low == "mdns-interface" and text.startswith("-")
        number = parse_c_uint(text[1:] if negative else text)
        if number is None:
            expected = "an integer" if low == "mdns-interface" else "a non-negative integer"
            raise ConfigError.at(pos, f"invalid value {value!r} for {low} (expected {expected})")
        values["port" if low == "mdns-port" else "interface"] = -number if negative else number
    elif low in _STRINGS:
        if not value:
            raise ConfigError.at(pos, f"option {low} needs a value")
        values[_STRINGS[low]] = value
    else:
        raise ConfigError.at(
            pos,
            f"unknown option {low!r} (expected mdns, mdns-name, mdns-type, mdns-txt, "
            "mdns-host, mdns-domain, mdns-interface, mdns-nettype, mdns-sysattrs or mdns-port)",
        )


def mdns_settings(values: Dict[str, Any]) -> Optional[Mdns]:
    """The announcement the options describe, or None when ``mdns`` is off."""
    fields = {k: v for k, v in values.items() if k != "on"}
    return Mdns(**fields) if values.get("on") else None
