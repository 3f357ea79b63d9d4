"""The ``/status`` document: showport's content as JSON, plus the totals.

Keys are showport's labels in snake case (``bytes read from device`` is
``bytes_read_from_device``), so a script written against showport finds
the same facts under the same names; the totals that metrics export sit
beside them under the names the metrics use.  Values are typed (numbers,
booleans, null) rather than text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Sequence

from pyser2net.protocol.adminapi import ClientStatus, PortStatus, utc_text


@dataclass
class ProcessStatus:
    """What concerns the daemon as a whole."""

    version: str
    ser2net_version: str
    #: Seconds since the epoch.
    started_at: float
    #: Reloads by result (``ok``, ``partial``, ``failed``).
    config_reloads: Dict[str, int] = field(default_factory=dict)
    #: Clients each rotator turned away, by rotator name, then by reason.
    rotator_refusals: Dict[str, Dict[str, int]] = field(default_factory=dict)


def _client(client: ClientStatus) -> Dict[str, Any]:
    return {
        "name": client.remote,
        "connected_since": utc_text(client.since),
        "bytes_read_from_tcp": client.bytes_in,
        "bytes_written_to_tcp": client.bytes_out,
        "bytes_in_queue_to_tcp": client.queued,
    }


def port_document(st: PortStatus) -> Dict[str, Any]:
    """One port, as showport shows it and the metrics count it."""
    return {
        "name": st.name,
        "accepter": st.accepter,
        "enable_state": "on" if st.enabled else "off",
        "timeout": st.timeout,
        "connected": [_client(c) for c in st.clients],
        "device": st.device,
        "device_node": st.device_node,
        "device_state": st.device_waiting,
        "device_config": st.device_config,
        "device_controls": st.device_controls,
        "tcp_to_device_state": st.tcp_to_device_state,
        "device_to_tcp_state": st.device_to_tcp_state,
        "bytes_read_from_device": st.bytes_from_device,
        "bytes_written_to_device": st.bytes_to_device,
        "close_state": st.close_state,
        "device_open": st.device_open,
        "waiting_for_device": st.waiting_for_device,
        "baud": st.baud,
        "bytes_in_queue_to_tcp": st.client_queue_bytes,
        "device_bytes_in": st.device_bytes_in,
        "device_bytes_out": st.device_bytes_out,
        "network_bytes_in": st.network_bytes_in,
        "network_bytes_out": st.network_bytes_out,
        "connections_accepted": st.connections_accepted,
        "connections_refused": dict(sorted(st.connections_refused.items())),
        "disconnects": dict(sorted(st.disconnects.items())),
        "device_open_failures": dict(sorted(st.device_open_failures.items())),
        "device_retries": dict(sorted(st.device_retries.items())),
    }


def status_document(process: ProcessStatus, ports: Sequence[PortStatus]) -> Dict[str, Any]:
    """The whole ``/status`` answer."""
    doc: Dict[str, Any] = {
        "version": process.version,
        "ser2net_version": process.ser2net_version,
        "started_at": utc_text(process.started_at),
        "config_reloads": dict(process.config_reloads),
    }
    ports_doc: List[Dict[str, Any]] = [port_document(st) for st in ports]
    doc["ports"] = ports_doc
    doc["rotators"] = [
        {"name": name, "connections_refused": dict(sorted(refused.items()))}
        for name, refused in process.rotator_refusals.items()
    ]
    return doc
