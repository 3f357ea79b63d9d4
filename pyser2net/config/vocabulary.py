"""Option vocabulary that both configuration formats share."""

from __future__ import annotations

from typing import Dict, Tuple

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
