"""The JSON schema of ``GET /status``, and a validator for the part of JSON
Schema it uses (type, properties, required, additionalProperties, items,
enum, minimum, pattern), so the tests need no new package.

A change to the document is a change to this schema: every key is
required and no other key is allowed, so a key that is added, dropped or
renamed fails the tests until the schema (and so the documentation) says so.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List

_COUNT = {"type": "integer", "minimum": 0}
_COUNTS = {"type": "object", "additionalProperties": _COUNT}
_TIME = {"type": "string", "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"}
_TEXT_OR_NULL = {"type": ["string", "null"]}


def _object(properties: Dict[str, Any]) -> Dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": sorted(properties),
        "additionalProperties": False,
    }


CLIENT = _object(
    {
        "name": {"type": "string", "pattern": r"^ipv[46],"},
        "connected_since": _TIME,
        "bytes_read_from_tcp": _COUNT,
        "bytes_written_to_tcp": _COUNT,
        "bytes_in_queue_to_tcp": _COUNT,
    }
)

STATE = {"enum": ["unconnected", "waiting input", "waiting output", "closing"]}

PORT = _object(
    {
        "name": {"type": "string"},
        "accepter": {"type": "string"},
        "enable_state": {"enum": ["on", "off"]},
        "timeout": _COUNT,
        "connected": {"type": "array", "items": CLIENT},
        "device": {"type": "string"},
        "device_node": _TEXT_OR_NULL,
        "device_state": {"type": ["string", "null"], "pattern": "^waiting for device since "},
        "device_config": _TEXT_OR_NULL,
        "device_controls": _TEXT_OR_NULL,
        "tcp_to_device_state": STATE,
        "device_to_tcp_state": STATE,
        "bytes_read_from_device": _COUNT,
        "bytes_written_to_device": _COUNT,
        "close_state": {"enum": ["retained", "reconfigured", "deleted"]},
        "device_open": {"type": "boolean"},
        "waiting_for_device": {"type": "boolean"},
        "baud": {"type": ["integer", "null"], "minimum": 1},
        "bytes_in_queue_to_tcp": _COUNT,
        "device_bytes_in": _COUNT,
        "device_bytes_out": _COUNT,
        "network_bytes_in": _COUNT,
        "network_bytes_out": _COUNT,
        "connections_accepted": _COUNT,
        "connections_refused": _COUNTS,
        "disconnects": _COUNTS,
        "device_open_failures": _COUNTS,
        "device_retries": _COUNTS,
    }
)

ROTATOR = _object({"name": {"type": "string"}, "connections_refused": _COUNTS})

STATUS = _object(
    {
        "version": {"type": "string"},
        "ser2net_version": {"type": "string", "pattern": r"^\d+\.\d+\.\d+$"},
        "started_at": _TIME,
        "config_reloads": _object({"ok": _COUNT, "partial": _COUNT, "failed": _COUNT}),
        "ports": {"type": "array", "items": PORT},
        "rotators": {"type": "array", "items": ROTATOR},
    }
)

_TYPES = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "null": type(None),
}


def _is(value: Any, kind: str) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, _TYPES[kind])


def problems(value: Any, schema: Dict[str, Any], where: str = "$") -> List[str]:
    """Every way ``value`` breaks ``schema``, one text each (empty: valid)."""
    found: List[str] = []
    kinds = schema.get("type")
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else kinds
        if not any(_is(value, k) for k in kinds):
            return [f"{where}: {value!r} is not of type {'/'.join(kinds)}"]
    if "enum" in schema and value not in schema["enum"]:
        found.append(f"{where}: {value!r} not one of {schema['enum']}")
    if "minimum" in schema and _is(value, "number") and value < schema["minimum"]:
        found.append(f"{where}: {value!r} below {schema['minimum']}")
    if "pattern" in schema and isinstance(value, str) and not re.search(schema["pattern"], value):
        found.append(f"{where}: {value!r} does not match {schema['pattern']}")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for key in schema.get("required", []):
            if key not in value:
                found.append(f"{where}: missing {key!r}")
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in props:
                found += problems(item, props[key], f"{where}.{key}")
            elif extra is False:
                found.append(f"{where}: unexpected {key!r}")
            elif isinstance(extra, dict):
                found += problems(item, extra, f"{where}.{key}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            found += problems(item, schema["items"], f"{where}[{i}]")
    return found
