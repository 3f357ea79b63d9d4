"""Fixtures shared by every test directory."""

from __future__ import annotations

import signal
from typing import Iterator

import pytest

from helpers import Pty, open_pty


@pytest.fixture
def pty_pair() -> Iterator[Pty]:
    """A pty: the test holds the master, the daemon opens ``.path``."""
    with open_pty() as pty:
        yield pty


#: No single test may take longer than this; a hang becomes a failure.
TEST_DEADLINE_SECONDS = 180


@pytest.fixture(autouse=True)
def _deadline() -> Iterator[None]:
    """Bound every test, even one stuck in a blocking call (SIGALRM interrupts it)."""

    def expired(_signum: int, _frame: object) -> None:
        raise TimeoutError(f"test still running after {TEST_DEADLINE_SECONDS} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(TEST_DEADLINE_SECONDS)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
