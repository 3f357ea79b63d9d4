"""Prometheus metrics, in ``prometheus_client``'s text exposition format.

``prometheus_client`` is optional: only this module imports it, and only
when ``--metrics`` is given (``available()`` says whether it can be).  Its
own HTTP server is not used: that runs in a thread, and no thread may read
the engine's state.  Instead the collector here is called by the event
loop's metrics responder at each scrape, and reads the same snapshots the
admin port's showport prints (``PortStatus``), so both always agree.

Every label value comes from a fixed vocabulary (port names from the
configuration, reasons, errno names): nothing per client address.
"""

from __future__ import annotations

import importlib.util
from typing import Any, Callable, Iterator, List, Sequence, Tuple

from pyser2net.protocol.adminapi import PortStatus
from pyser2net.protocol.status import ProcessStatus
from pyser2net.runtime.counters import (
    DISCONNECT_REASONS,
    REFUSED_REASONS,
    RETRY_RESULTS,
    ROTATOR_REFUSED_REASONS,
)

#: What to tell someone who asks for metrics without the package.
INSTALL_HINT = (
    "--metrics needs the prometheus_client package: install python3-prometheus-client "
    "(Debian, Ubuntu) or 'pip install pyser2net[metrics]'"
)

Snapshot = Callable[[], Tuple[ProcessStatus, Sequence[PortStatus]]]


def available() -> bool:
    """Whether prometheus_client can be imported."""
    return importlib.util.find_spec("prometheus_client") is not None


class Exposition:
    """Renders a scrape: ``render()`` gives the body and its content type."""

    def __init__(self, snapshot: Snapshot) -> None:
        from prometheus_client import CollectorRegistry
        from prometheus_client.exposition import CONTENT_TYPE_LATEST
        from prometheus_client.process_collector import ProcessCollector

        self.content_type = CONTENT_TYPE_LATEST
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_Collector(snapshot))
        # CPU time, memory and open descriptors, read from /proc at each scrape.
        ProcessCollector(registry=self.registry)

    def render(self) -> bytes:
        from prometheus_client import generate_latest

        return generate_latest(self.registry)


class _Collector:
    """The daemon's own metrics, made at each scrape from one snapshot."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            InfoMetricFamily,
        )

        process, ports = self.snapshot()

        def counter(name: str, doc: str, labels: List[str]) -> Any:
            return CounterMetricFamily(name, doc, labels=["port", *labels])

        def gauge(name: str, doc: str, labels: Sequence[str] = ()) -> Any:
            return GaugeMetricFamily(name, doc, labels=["port", *labels])

        device_bytes = counter(
            "ser2net_device_bytes",
            "Bytes read from (in) and written to (out) the device.",
            ["direction"],
        )
        network_bytes = counter(
            "ser2net_network_bytes",
            "Payload bytes read from (in) and written to (out) network clients.",
            ["direction"],
        )
        accepted = counter("ser2net_connections_accepted", "Clients admitted.", [])
        refused = counter("ser2net_connections_refused", "Clients turned away.", ["reason"])
        disconnects = counter("ser2net_disconnects", "Clients gone, by reason.", ["reason"])
        failures = counter(
            "ser2net_device_open_failures", "Device opens that failed, by errno.", ["errno"]
        )
        retries = counter(
            "ser2net_device_retries",
            "Tries to open a held device (device-loss: hold) again, by result.",
            ["result"],
        )
        clients = gauge("ser2net_clients", "Clients connected now.")
        queued = gauge(
            "ser2net_client_queue_bytes",
            "Bytes queued for the port's clients and not yet sent (ours and the kernel's).",
        )
        device_open = gauge("ser2net_device_open", "1 while the device is open.")
        waiting = gauge(
            "ser2net_waiting_for_device",
            "1 while clients wait for the device to open (or to open again).",
        )
        enabled = gauge("ser2net_port_enabled", "1 while the port accepts clients.")
        baud = gauge("ser2net_baud", "The serial line's speed now (serial devices only).")
        for st in ports:
            port = st.name
            device_bytes.add_metric([port, "in"], st.device_bytes_in)
            device_bytes.add_metric([port, "out"], st.device_bytes_out)
            network_bytes.add_metric([port, "in"], st.network_bytes_in)
            network_bytes.add_metric([port, "out"], st.network_bytes_out)
            accepted.add_metric([port], st.connections_accepted)
            for reason in REFUSED_REASONS:
                refused.add_metric([port, reason], st.connections_refused.get(reason, 0))
            for reason in DISCONNECT_REASONS:
                disconnects.add_metric([port, reason], st.disconnects.get(reason, 0))
            for code, count in sorted(st.device_open_failures.items()):
                failures.add_metric([port, code], count)
            for result in RETRY_RESULTS:
                retries.add_metric([port, result], st.device_retries.get(result, 0))
            clients.add_metric([port], len(st.clients))
            queued.add_metric([port], st.client_queue_bytes)
            device_open.add_metric([port], int(st.device_open))
            waiting.add_metric([port], int(st.waiting_for_device))
            enabled.add_metric([port], int(st.enabled))
            if st.baud is not None:
                baud.add_metric([port], st.baud)
        yield from (
            device_bytes,
            network_bytes,
            accepted,
            refused,
            disconnects,
            failures,
            retries,
            clients,
            queued,
            device_open,
            waiting,
            enabled,
            baud,
        )
        rotator_refused = CounterMetricFamily(
            "ser2net_rotator_connections_refused",
            "Clients a rotator turned away, by reason.",
            labels=["rotator", "reason"],
        )
        for name, refused_by in process.rotator_refusals.items():
            for reason in ROTATOR_REFUSED_REASONS:
                rotator_refused.add_metric([name, reason], refused_by.get(reason, 0))
        yield rotator_refused
        reloads = CounterMetricFamily(
            "ser2net_config_reloads", "Configuration reloads, by result.", labels=["result"]
        )
        for result, count in sorted(process.config_reloads.items()):
            reloads.add_metric([result], count)
        yield reloads
        yield GaugeMetricFamily(
            "ser2net_start_time_seconds",
            "When the daemon started, in seconds since the epoch.",
            value=process.started_at,
        )
        yield InfoMetricFamily(
            "ser2net",
            "The running version, and the ser2net release whose behaviour it reproduces.",
            value={"version": process.version, "ser2net_version": process.ser2net_version},
        )
