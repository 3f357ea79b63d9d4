"""Option vocabulary that both configuration formats share."""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

from pyser2net.config.errors import ConfigError
from pyser2net.config.model import Position

#: Top-level keys of the YAML dialects: version 1 (ser2net 4.3) and version 2.
YAML_V1_KEYS = ("define", "default", "delete_default", "connection", "rotator", "led", "admin")
YAML_V2_KEYS = (
    "defines",
    "defaults",
    "delete_defaults",
    "connections",
    "rotators",
    "leds",
    "admins",
)

#: pyser2net's TCP options of client sockets, the same in both formats:
#: option name -> (ConnectionOptions field, lowest, highest value).  The
#: highest values are Linux's own limits.
TCP_CLIENT_OPTIONS: Dict[str, Tuple[str, int, int]] = {
    "keepalive-idle": ("keepalive_idle", 1, 32767),
    "keepalive-interval": ("keepalive_interval", 1, 32767),
    "keepalive-count": ("keepalive_count", 1, 127),
    "tcp-user-timeout": ("tcp_user_timeout", 0, 2147483),
}


def tcp_option_problem(name: str, number: Optional[int]) -> Optional[str]:
    """Why ``number`` (None: not a number) is no value for the TCP option ``name``."""
    _field, low, high = TCP_CLIENT_OPTIONS[name]
    if number is None or not low <= number <= high:
        return f"invalid value for {name} (expected a whole number of seconds from {low} to {high})"
    return None


def device_loss_value_problem(value: str) -> Optional[str]:
    """Why ``value`` is no value for ``device-loss``, or None; the same words
    in both formats."""
    if value in ("hold", "close"):
        return None
    return (
        f"invalid device-loss {value!r} (expected hold: clients stay while "
        "the device is away, or close: they are disconnected, as in ser2net)"
    )


#: Trace flag options: which trace files they apply to, and which flag.
TRACE_FLAGS: Dict[str, Tuple[Tuple[str, ...], str]] = {
    "trace-hexdump": (("read", "write", "both"), "hexdump"),
    "trace-timestamp": (("read", "write", "both"), "timestamp"),
    "trace-read-hexdump": (("read",), "hexdump"),
    "trace-read-timestamp": (("read",), "timestamp"),
    "trace-write-hexdump": (("write",), "hexdump"),
    "trace-write-timestamp": (("write",), "timestamp"),
    "trace-both-hexdump": (("both",), "hexdump"),
    "trace-both-timestamp": (("both",), "timestamp"),
}


def add_auth_option(values: Dict[str, Any], name: str, value: str, pos: Optional[Position]) -> None:
    """``authdir: DIR`` or ``allowed-users: NAMES``; each allowed-users adds
    names, as in ser2net, and an empty one allows nobody."""
    if name == "authdir":
        if not value:
            raise ConfigError.at(pos, "option authdir needs a value")
        values["authdir"] = value
    else:
        values["allowed_users"] = tuple(values.get("allowed_users") or ()) + tuple(value.split())
