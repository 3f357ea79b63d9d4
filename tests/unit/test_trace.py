"""pyser2net.runtime.trace: the exact bytes of ser2net 4.3's trace files.

The fixtures under tests/fixtures/trace were written by ser2net 4.3.11
playing scenario.json (see tests/compat/test_trace_compat.py, which also
re-records them); here the same steps go through TraceWriter and must give
the same bytes once timestamps are normalised.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import stat
from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyser2net.config.model import ConnectionOptions, TraceFile
from pyser2net.runtime import trace
from pyser2net.runtime.trace import READ, WRITE, TraceFormatter, TraceWriter, remote_text

from helpers import FIXTURES

_spec = importlib.util.spec_from_file_location(
    "tracescenario", FIXTURES / "trace" / "tracescenario.py"
)
assert _spec is not None and _spec.loader is not None
scenario = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(scenario)

NOW = datetime(2026, 1, 2, 3, 4, 5)
STAMP = "2026/01/02 03:04:05 "


# --- the recorded ser2net files ---------------------------------------------


@pytest.mark.parametrize("mode", sorted(scenario.MODES))
def test_replay_matches_recorded_ser2net_files(tmp_path, mode):
    names = scenario.file_names(mode)
    recorded = {name: scenario.fixture_path(mode, name).read_bytes() for name in names}
    remote = next(
        (r for r in map(scenario.opened_remote, recorded.values()) if r), "ipv4,127.0.0.1,1"
    )
    produced = scenario.replay(mode, tmp_path, remote)
    for name in names:
        assert scenario.normalise(produced[name]) == scenario.normalise(recorded[name]), name


def test_fixtures_cover_every_format():
    """Guard against a re-recording that silently lost a format."""
    both = scenario.fixture_path("hexdump-timestamp", "both.trace").read_bytes()
    assert b" OPEN (ipv4,127.0.0.1," in both
    assert b" tcp  78 79 7a 7b 7c 7d 7e 7f  |xyz{|}~.|\n" in both
    assert b" term 78                       |x|\n" in both
    assert scenario.normalise(both).endswith(
        b"YYYY/MM/DD hh:mm:ss CLOSE netcon (network read close)\n"
        b"YYYY/MM/DD hh:mm:ss CLOSE port (All users disconnected)\n"
    )
    plain = scenario.fixture_path("plain", "both.trace").read_bytes()
    assert plain.startswith(b"hello\x00\x01 world") and b"OPEN" not in plain


# --- the formatter ----------------------------------------------------------


def test_plain_mode_is_the_raw_bytes():
    fmt = TraceFormatter()
    data = bytes(range(256))
    assert fmt.data(READ, data, NOW) == data
    assert fmt.data(WRITE, b"", NOW) == b""


def test_plain_mode_with_timestamp_leaves_data_alone():
    fmt = TraceFormatter(timestamp=True)
    assert fmt.data(READ, b"abc\n", NOW) == b"abc\n"


def test_hexdump_full_and_partial_lines():
    fmt = TraceFormatter(hexdump=True)
    assert fmt.data(WRITE, b"hello\x00\x01 world", NOW) == (
        b"tcp  68 65 6c 6c 6f 00 01 20  |hello.. |\ntcp  77 6f 72 6c 64           |world|\n"
    )
    assert fmt.data(READ, b"\n", NOW) == b"term 0a                       |.|\n"


def test_hexdump_ascii_column_is_c_isprint():
    fmt = TraceFormatter(hexdump=True)
    out = fmt.data(READ, bytes([0x1F, 0x20, 0x7E, 0x7F, 0x80, 0xA0, 0xFF]), NOW)
    assert out == b"term 1f 20 7e 7f 80 a0 ff     |. ~....|\n"


def test_hexdump_with_timestamp_stamps_every_line():
    fmt = TraceFormatter(hexdump=True, timestamp=True)
    assert (
        fmt.data(READ, b"0123456789", NOW)
        == (
            f"{STAMP}term 30 31 32 33 34 35 36 37  |01234567|\n"
            f"{STAMP}term 38 39                    |89|\n"
        ).encode()
    )


def test_events_only_in_timestamped_files():
    assert TraceFormatter(hexdump=True).opened("ipv4,127.0.0.1,5", NOW) == b""
    fmt = TraceFormatter(timestamp=True)
    assert fmt.opened("ipv4,127.0.0.1,51862", NOW) == (
        f"{STAMP}OPEN (ipv4,127.0.0.1,51862)\n".encode()
    )
    assert fmt.closed(trace.NETCON, trace.REASON_TIMEOUT, NOW) == (
        f"{STAMP}CLOSE netcon (timeout)\n".encode()
    )
    assert fmt.closed(trace.PORT, trace.REASON_SHUTDOWN, NOW) == (
        f"{STAMP}CLOSE port (program shutdown)\n".encode()
    )
    assert fmt.closed(trace.NETCON, trace.REASON_KICKED, NOW) == (
        f"{STAMP}CLOSE netcon (kicked off, new user is coming\r\n)\n".encode()
    )


def test_stamp_uses_local_time_now(monkeypatch):
    fmt = TraceFormatter(timestamp=True)
    monkeypatch.setattr(trace.time, "time", lambda: 86400.0 * 365)
    expected = datetime.fromtimestamp(86400 * 365).strftime("%Y/%m/%d %H:%M:%S ")
    assert fmt.stamp() == expected
    assert fmt.event("x") == (expected + "x\n").encode()
    monkeypatch.setattr(trace.time, "time", lambda: 86400.0 * 365 + 61)
    assert fmt.stamp() != expected


@given(st.binary(max_size=200))
def test_hexdump_lines_give_back_the_data(data):
    out = TraceFormatter(hexdump=True).data(WRITE, data, NOW).decode("ascii")
    lines = out.splitlines()
    assert len(lines) == (len(data) + 7) // 8
    assert all(line.startswith("tcp  ") and line[28:31] == "  |" for line in lines)
    assert bytes.fromhex("".join(line[5:28] for line in lines)) == data


def test_remote_text():
    assert remote_text(("127.0.0.1", 51862)) == "ipv4,127.0.0.1,51862"
    assert remote_text(("::1", 39934, 0, 0)) == "ipv6,::1,39934"
    assert remote_text(("::ffff:127.0.0.1", 60902, 0, 0)) == "ipv6,::ffff:127.0.0.1,60902"


# --- the writer -------------------------------------------------------------


def test_no_writer_without_trace_options():
    assert TraceWriter.for_options(ConnectionOptions()) is None
    opts = ConnectionOptions(trace_both=TraceFile("x"))
    assert TraceWriter.for_options(opts) is not None


def test_files_are_created_0600_and_appended(tmp_path):
    path = tmp_path / "t"
    path.write_bytes(b"old")
    writer = TraceWriter(trace_read=TraceFile(str(path)))
    assert not writer.is_open
    writer.open()
    assert writer.is_open
    writer.record(READ, b"new")
    writer.record(WRITE, b"not traced")
    writer.close()
    writer.close()
    writer.record(READ, b"after close")
    assert path.read_bytes() == b"oldnew"
    created = tmp_path / "created"
    writer = TraceWriter(trace_write=TraceFile(str(created)))
    writer.open()
    writer.close()
    assert stat.S_IMODE(os.stat(created).st_mode) == 0o600


def test_render_is_applied_to_each_template(tmp_path):
    seen = []

    def render(template: str) -> str:
        seen.append(template)
        return str(tmp_path / template.replace("\\p", "2000"))

    writer = TraceWriter(TraceFile("r-\\p"), TraceFile("w-\\p"), render=render)
    writer.open()
    writer.record(READ, b"R")
    writer.record(WRITE, b"W")
    writer.close()
    assert seen == ["w-\\p", "r-\\p"]  # ser2net opens trace-write first
    assert (tmp_path / "r-2000").read_bytes() == b"R"
    assert (tmp_path / "w-2000").read_bytes() == b"W"


def test_same_template_shares_the_file_like_ser2net(tmp_path):
    same = str(tmp_path / "same")
    writer = TraceWriter(
        trace_read=TraceFile(same, hexdump=True),
        trace_write=TraceFile(same, timestamp=True),
        trace_both=TraceFile(str(tmp_path / "both")),
    )
    writer.open()
    writer.opened("ipv4,127.0.0.1,9")
    writer.record(WRITE, b"net")
    writer.record(READ, b"dev")
    writer.close()
    content = (tmp_path / "same").read_bytes()
    # trace-write's options win; the OPEN line is written once.
    assert scenario.normalise(content) == b"YYYY/MM/DD hh:mm:ss OPEN (ipv4,127.0.0.1,9)\nnetdev"
    assert (tmp_path / "both").read_bytes() == b"netdev"


def test_read_and_both_in_one_file_record_device_data_twice(tmp_path):
    same = str(tmp_path / "same")
    writer = TraceWriter(trace_read=TraceFile(same), trace_both=TraceFile(same))
    writer.open()
    writer.record(WRITE, b"net")
    writer.record(READ, b"dev")
    writer.close()
    assert (tmp_path / "same").read_bytes() == b"netdevdev"


def test_events_go_to_every_timestamped_file(tmp_path):
    writer = TraceWriter(
        trace_read=TraceFile(str(tmp_path / "r"), timestamp=True),
        trace_write=TraceFile(str(tmp_path / "w")),
        trace_both=TraceFile(str(tmp_path / "b"), hexdump=True, timestamp=True),
    )
    writer.open()
    writer.opened("ipv4,127.0.0.1,1")
    writer.opened("ipv4,127.0.0.1,2")
    writer.closed(trace.NETCON, trace.REASON_REMOTE_CLOSED)
    writer.closed(trace.NETCON, trace.REASON_REMOTE_CLOSED)
    writer.closed(trace.PORT, trace.REASON_ALL_USERS)
    writer.close()
    expected = (
        b"YYYY/MM/DD hh:mm:ss OPEN (ipv4,127.0.0.1,1)\n"
        b"YYYY/MM/DD hh:mm:ss OPEN (ipv4,127.0.0.1,2)\n"
        b"YYYY/MM/DD hh:mm:ss CLOSE netcon (network read close)\n"
        b"YYYY/MM/DD hh:mm:ss CLOSE netcon (network read close)\n"
        b"YYYY/MM/DD hh:mm:ss CLOSE port (All users disconnected)\n"
    )
    assert scenario.normalise((tmp_path / "r").read_bytes()) == expected
    assert scenario.normalise((tmp_path / "b").read_bytes()) == expected
    assert (tmp_path / "w").read_bytes() == b""


def test_unopenable_file_is_logged_once_and_skipped(tmp_path, caplog):
    writer = TraceWriter(
        trace_read=TraceFile(str(tmp_path / "missing-dir" / "r"), timestamp=True),
        trace_both=TraceFile(str(tmp_path / "b")),
    )
    with caplog.at_level(logging.ERROR, logger="pyser2net.runtime.trace"):
        writer.open()
        writer.opened("ipv4,127.0.0.1,1")
        for _ in range(3):
            writer.record(READ, b"x")
        writer.close()
    assert len(caplog.records) == 1
    assert "Unable to open trace file" in caplog.records[0].getMessage()
    assert (tmp_path / "b").read_bytes() == b"xxx"


def test_render_failure_is_logged_and_skipped(caplog):
    def render(template: str) -> str:
        raise ValueError("bad escape")

    writer = TraceWriter(trace_read=TraceFile("x"), render=render)
    with caplog.at_level(logging.ERROR, logger="pyser2net.runtime.trace"):
        writer.open()
        writer.record(READ, b"data")
        writer.close()
    assert ["Unable to translate trace file x: bad escape"] == [
        r.getMessage() for r in caplog.records
    ]


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_write_failure_is_logged_once_and_the_file_dropped(tmp_path, caplog):
    writer = TraceWriter(
        trace_read=TraceFile("/dev/full"), trace_both=TraceFile(str(tmp_path / "b"))
    )
    with caplog.at_level(logging.ERROR, logger="pyser2net.runtime.trace"):
        writer.open()
        for _ in range(3):
            writer.record(READ, b"x")
        writer.close()
    assert len(caplog.records) == 1
    assert "Unable to write to trace file /dev/full" in caplog.records[0].getMessage()
    assert (tmp_path / "b").read_bytes() == b"xxx"


def test_reopen_appends_a_new_session(tmp_path):
    path = tmp_path / "t"
    writer = TraceWriter(trace_both=TraceFile(str(path)))
    for chunk in (b"one", b"two"):
        writer.open()
        writer.record(READ, chunk)
        writer.close()
    assert path.read_bytes() == b"onetwo"
