"""msgdelim: gensio's message framing, byte for byte, and what a damaged line does."""

from __future__ import annotations

import random
from typing import List

from hypothesis import given, settings
from hypothesis import strategies as st

from pyser2net.protocol.events import Data
from pyser2net.protocol.msgdelim import MsgDelim, crc16

#: A relpkt INIT as ser2net 4.3.11 (gensio 2.6.2) writes it on opening a
#: ``relpkt,msgdelim,serialdev`` connector: captured from its pty.
SER2NET_FIRST_INIT = bytes.fromhex("fe01100010007b88c5fe01")
#: The same INIT resent a second later: no leading separator.
SER2NET_NEXT_INIT = bytes.fromhex("100010007b88c5fe01")


def split_feed(receiver: MsgDelim, wire: bytes, sizes: List[int]) -> List[bytes]:
    out: List[bytes] = []
    at = 0
    for size in sizes:
        out += receiver.messages(wire[at : at + size])
        at += size
    out += receiver.messages(wire[at:])
    return out


def test_crc_is_xmodem() -> None:
    assert crc16(b"123456789") == 0x31C3
    assert crc16(b"") == 0


def test_first_message_starts_with_a_separator_as_ser2net_sends_it() -> None:
    m = MsgDelim()
    assert m.frame(bytes.fromhex("100010007b")) == SER2NET_FIRST_INIT
    assert m.frame(bytes.fromhex("100010007b")) == SER2NET_NEXT_INIT


def test_ser2net_frames_are_read() -> None:
    m = MsgDelim()
    assert m.messages(SER2NET_FIRST_INIT + SER2NET_NEXT_INIT) == [bytes.fromhex("100010007b")] * 2


def test_a_first_message_without_separator_is_read() -> None:
    """gensio forgets the leading separator when it reopens."""
    assert MsgDelim().messages(SER2NET_NEXT_INIT) == [bytes.fromhex("100010007b")]


def test_escape_bytes_in_payload_and_crc_are_doubled() -> None:
    m = MsgDelim()
    m.frame(b"x")  # past the first message
    payload = b"\xfe\x01\xfe"
    crc = crc16(payload).to_bytes(2, "big")
    expected = (payload + crc).replace(b"\xfe", b"\xfe\x00") + b"\xfe\x01"
    assert m.frame(payload) == expected
    # A CRC that itself holds FE is escaped too.
    p = next(
        n.to_bytes(2, "big")
        for n in range(65536)
        if 0xFE in crc16(n.to_bytes(2, "big")).to_bytes(2, "big")
        and n >> 8 != 0xFE
        and n & 0xFF != 0xFE
    )
    crc = crc16(p).to_bytes(2, "big")
    assert m.frame(p) == p + crc.replace(b"\xfe", b"\xfe\x00") + b"\xfe\x01"
    assert MsgDelim().messages(b"\xfe\x01" + m.frame(p)) == [p]


def test_crc_off_sends_and_reads_bare_payload() -> None:
    m = MsgDelim(crc=False)
    assert m.frame(b"ab\xfe") == b"\xfe\x01ab\xfe\x00\xfe\x01"
    assert MsgDelim(crc=False).messages(b"\xfe\x01ab\xfe\x00\xfe\x01") == [b"ab\xfe"]


def test_send_splits_a_stream_at_writebuf() -> None:
    m = MsgDelim(writebuf=4)
    wire = m.send(b"abcdefghij")
    assert MsgDelim(readbuf=4).messages(wire) == [b"abcd", b"efgh", b"ij"]


def test_a_damaged_message_is_dropped_and_the_next_one_read() -> None:
    """gensio 2.6 keeps a damaged message's bytes and fails every later CRC;
    this receiver starts afresh at the next separator."""
    sender = MsgDelim()
    wire = bytearray(
        sender.frame(b"first message") + sender.frame(b"second") + sender.frame(b"third")
    )
    wire[5] ^= 0x04
    r = MsgDelim()
    assert r.messages(bytes(wire)) == [b"second", b"third"]
    assert r.counters.bad_crc == 1
    assert r.counters.received == 2


def test_dropped_and_duplicated_bytes_lose_only_their_message() -> None:
    s = MsgDelim()
    frames = [s.frame(bytes([i]) * 20) for i in range(4)]
    dropped = frames[0] + frames[1][:5] + frames[1][6:] + frames[2] + frames[3]
    assert MsgDelim().messages(dropped) == [bytes([0]) * 20, bytes([2]) * 20, bytes([3]) * 20]
    doubled = frames[0] + frames[1][:5] + frames[1][4:] + frames[2]
    assert MsgDelim().messages(doubled) == [bytes([0]) * 20, bytes([2]) * 20]


def test_a_lost_separator_merges_two_messages_as_the_format_allows() -> None:
    """The CRC starts at 0 and has no final XOR, so a message followed by
    its CRC leaves the CRC at 0: two messages whose separator (exactly
    those two bytes) is lost pass as one.  gensio reads them the same way;
    relpkt drops such a message when it is longer than a packet may be."""
    s = MsgDelim()
    a, b, c = s.frame(b"aaaa"), s.frame(b"bbbb"), s.frame(b"cccc")
    merged = b"aaaa" + crc16(b"aaaa").to_bytes(2, "big") + b"bbbb"
    assert MsgDelim().messages(a[:-2] + b + c) == [merged, b"cccc"]


def test_an_unknown_escape_abandons_the_message() -> None:
    s = MsgDelim()
    a, b = s.frame(b"aaaa"), s.frame(b"bbbb")
    broken = a[:4] + b"\xfe\x07" + a[4:]
    r = MsgDelim()
    assert r.messages(broken + b) == [b"bbbb"]
    assert r.counters.malformed == 1


def test_oversized_messages_are_dropped() -> None:
    big = MsgDelim(writebuf=300)
    wire = big.frame(b"x" * 200) + big.frame(b"ok")
    r = MsgDelim()  # readbuf 128
    assert r.messages(wire) == [b"ok"]
    assert r.counters.malformed == 1


def test_empty_and_crc_only_messages_are_not_delivered() -> None:
    r = MsgDelim()
    assert r.messages(b"\xfe\x01\xfe\x01\xfe\x01\x00\x00\xfe\x01") == []


def test_receive_gives_one_data_event_per_message() -> None:
    s = MsgDelim()
    events = MsgDelim().receive(s.frame(b"one") + s.frame(b"two"))
    assert events == [Data(b"one"), Data(b"two")]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.binary(min_size=1, max_size=128), min_size=1, max_size=12),
    st.lists(st.integers(min_value=0, max_value=40), max_size=30),
)
def test_any_split_of_the_wire_gives_the_same_messages(
    payloads: List[bytes], sizes: List[int]
) -> None:
    s = MsgDelim()
    wire = b"".join(s.frame(p) for p in payloads)
    assert split_feed(MsgDelim(), wire, sizes) == payloads


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600), st.integers(min_value=0, max_value=2**32))
def test_noise_never_raises_and_a_clean_message_after_it_is_read(noise: bytes, seed: int) -> None:
    r = MsgDelim()
    r.messages(noise)
    rng = random.Random(seed)
    payload = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 100)))
    assert r.messages(b"\xfe\x01" + MsgDelim().frame(payload))[-1:] == [payload]
