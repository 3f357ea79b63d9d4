"""The chardelay hold: its length, from the serial speed as ser2net documents,
and what is held, sent at once or flushed later."""

from __future__ import annotations

import dataclasses

import pytest

from pyser2net.config import load_text
from pyser2net.protocol.chardelay import CharDelayHold, chardelay_seconds
from pyser2net.protocol.watch import StringWatch

BASE = "connection: &c\n  accepter: tcp,2000\n  connector: serialdev,/dev/ttyS0,{spec}\n"


def conn(spec: str, **options):
    config = load_text(BASE.format(spec=spec), "test.yaml")
    c = config.connections[0]
    return dataclasses.replace(c, options=dataclasses.replace(c.options, **options))


@pytest.mark.parametrize(
    "spec,expected_us",
    [
        ("115200n81", 1000),  # 2 characters = 174 us: the 1 ms minimum applies
        ("9600n81", 2083),  # 2 x 10 bits at 9600 baud
        ("9600e72", 2292),  # 11 bits a character
        ("300n81", 20000),  # 66.7 ms, capped by chardelay-max
    ],
)
def test_default_hold(spec, expected_us):
    assert chardelay_seconds(conn(spec)) * 1e6 == pytest.approx(expected_us, abs=1)


def test_scale_min_and_max_are_honoured():
    c = conn("9600n81", chardelay_scale=50, chardelay_min=10, chardelay_max=100000)
    assert chardelay_seconds(c) * 1e6 == pytest.approx(5208, abs=1)
    assert chardelay_seconds(c, speed=115200) * 1e6 == pytest.approx(434, abs=1)


HOLD = 0.125  # binary fractions below: the clock readings compare exactly


def test_bytes_are_held_until_the_line_is_quiet():
    hold = CharDelayHold(limit=100, max_hold=1.0)
    assert hold.feed(b"ab", now=10.0, hold=HOLD) == (b"", 10.125)
    # More bytes move the flush later, from the last read.
    assert hold.feed(b"cd", now=10.0625, hold=HOLD) == (b"", 10.1875)
    assert hold.held == 4
    assert hold.flush() == b"abcd"
    assert hold.flush() == b"" and hold.held == 0


def test_the_first_byte_waits_at_most_max_hold():
    hold = CharDelayHold(limit=100, max_hold=0.25)
    assert hold.feed(b"a", now=10.0, hold=HOLD) == (b"", 10.125)
    assert hold.feed(b"b", now=10.0625, hold=HOLD) == (b"", 10.1875)
    assert hold.feed(b"c", now=10.1875, hold=HOLD) == (b"", 10.25)
    assert hold.flush() == b"abc"
    # After a flush the next byte starts a new hold.
    assert hold.feed(b"d", now=20.0, hold=HOLD) == (b"", 20.125)


def test_a_full_buffer_goes_at_once():
    hold = CharDelayHold(limit=4, max_hold=1.0)
    assert hold.feed(b"abc", now=1.0, hold=HOLD) == (b"", 1.125)
    assert hold.feed(b"defg", now=1.0, hold=HOLD) == (b"abcdefg", None)
    assert hold.held == 0


def test_add_is_feed_without_sendon_in_one_value():
    hold = CharDelayHold(limit=8, max_hold=0.25)
    assert hold.add(b"ab", now=10.0, hold=HOLD) == 10.125
    assert hold.add(b"cd", now=10.1875, hold=HOLD) == 10.25  # capped by max_hold
    assert hold.add(b"efgh", now=10.1875, hold=HOLD) is None  # full: flush now
    assert hold.flush() == b"abcdefgh"
    # A single chunk leaves as the object read.
    chunk = b"ok\r\n"
    assert hold.add(chunk, now=11.0, hold=HOLD) == 11.125
    assert hold.flush() is chunk


def test_sendon_sends_up_to_its_string_and_holds_the_rest():
    hold = CharDelayHold(limit=100, max_hold=1.0, sendon=StringWatch("\\r\\n"))
    assert hold.feed(b"ok", now=1.0, hold=HOLD) == (b"", 1.125)
    # The string split across two reads is still found.
    assert hold.feed(b"\r", now=1.0625, hold=HOLD) == (b"", 1.1875)
    assert hold.feed(b"\nmore", now=1.125, hold=HOLD) == (b"ok\r\n", 1.25)
    assert hold.flush() == b"more"
    assert hold.feed(b"done\r\n", now=2.0, hold=HOLD) == (b"done\r\n", None)
    assert hold.held == 0


def test_reset_forgets_a_partly_seen_sendon_string():
    hold = CharDelayHold(limit=100, max_hold=1.0, sendon=StringWatch("XY"))
    hold.feed(b"aX", now=1.0, hold=HOLD)
    hold.reset()
    assert hold.held == 0
    assert hold.feed(b"Yb", now=2.0, hold=HOLD) == (b"", 2.125)


def test_string_watch_reports_where_the_string_ends():
    watch = StringWatch("bye")
    assert watch.feed(b"good") == 0
    assert watch.feed(b"by") == 0
    assert watch.feed(b"e now") == 1
    assert watch.feed(b"say bye bye") == 7
    assert StringWatch(None).feed(b"anything") == 0
