"""Read sizes: small for keystrokes, up to the bufsize for bulk data."""

from __future__ import annotations

from pyser2net.runtime.readsize import SHORT, START, ReadSize


def test_reads_start_small_and_double_while_full_up_to_the_limit():
    reads = ReadSize(65536)
    assert reads.size == START
    sizes = []
    for _ in range(6):
        reads.update(reads.size)  # every read filled its buffer
        sizes.append(reads.size)
    assert sizes == [8192, 16384, 32768, 65536, 65536, 65536]


def test_only_a_read_as_short_as_typed_input_goes_back_to_the_start_size():
    reads = ReadSize(65536)
    for _ in range(4):
        reads.update(reads.size)
    reads.update(4095)  # a pty hands over a buffer at a time: still bulk data
    assert reads.size == 65536
    reads.update(SHORT)
    assert reads.size == START


def test_a_small_bufsize_is_never_exceeded():
    reads = ReadSize(64)
    assert reads.size == 64
    reads.update(64)
    assert reads.size == 64
    reads.update(3)
    assert reads.size == 64
