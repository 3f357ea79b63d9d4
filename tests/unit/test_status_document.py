"""The /status document and the reasons metrics count under, without a daemon."""

from __future__ import annotations

import errno

from pyser2net.protocol.adminapi import ClientStatus, PortStatus
from pyser2net.protocol.status import ProcessStatus, status_document
from pyser2net.runtime.counters import DISCONNECT_REASONS, disconnect_reason, errno_label

from status_schema import STATUS, problems


def _doc() -> dict:
    st = PortStatus("p", "tcp,3001", True, 5, "serialdev,/dev/ttyS0,9600n81")
    st.clients = [ClientStatus("ipv4,127.0.0.1,4000", 1, 2, 3, 0.0)]
    st.device_config = "9600N81"
    st.baud = 9600
    st.disconnects = {"timeout": 2}
    process = ProcessStatus("0.2.0", "4.3.11", 86400.0, {"ok": 1, "partial": 0, "failed": 0})
    return status_document(process, [st])


def test_the_document_follows_the_schema():
    doc = _doc()
    assert problems(doc, STATUS) == []
    assert doc["started_at"] == "1970-01-02T00:00:00Z"
    port = doc["ports"][0]
    assert port["connected"] == [
        {
            "name": "ipv4,127.0.0.1,4000",
            "connected_since": "1970-01-01T00:00:00Z",
            "bytes_read_from_tcp": 1,
            "bytes_written_to_tcp": 2,
            "bytes_in_queue_to_tcp": 3,
        }
    ]
    assert port["bytes_in_queue_to_tcp"] == 3
    assert port["disconnects"] == {"timeout": 2}


def test_the_schema_check_can_fail():
    doc = _doc()
    doc["ports"][0]["baud"] = "9600"
    doc["ports"][0]["extra"] = 1
    del doc["ports"][0]["connected"][0]["name"]
    doc["config_reloads"]["ok"] = -1
    assert sorted(problems(doc, STATUS)) == [
        "$.config_reloads.ok: -1 below 0",
        "$.ports[0].baud: '9600' is not of type integer/null",
        "$.ports[0].connected[0]: missing 'name'",
        "$.ports[0]: unexpected 'extra'",
    ]


def test_close_reasons_map_to_a_fixed_set_of_labels():
    assert disconnect_reason("closed by peer") == "peer"
    assert disconnect_reason("timed out") == "timeout"
    assert disconnect_reason("kicked off by a new user") == "kicked"
    assert disconnect_reason("disconnected by the admin port") == "admin"
    assert disconnect_reason("connection disabled") == "shutdown"
    assert disconnect_reason(None) == "shutdown"
    assert disconnect_reason("stopped reading: 9 bytes queued, client-buffer-limit is 8") == (
        "stalled"
    )
    assert disconnect_reason("no progress for 5s (client-send-timeout)") == "stalled"
    assert disconnect_reason("[Errno 104] Connection reset by peer") == "error"
    labels = {disconnect_reason(t) for t in ("closed by peer", "x", None, "timed out")}
    assert labels <= set(DISCONNECT_REASONS)


def test_errno_labels():
    assert errno_label(errno.ENOENT) == "ENOENT"
    assert errno_label(None) == errno_label(0) == errno_label(99999) == "other"
