"""Option vocabulary that both configuration formats share."""

from __future__ import annotations

from typing import Dict, Tuple

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
