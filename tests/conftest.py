"""Fixtures shared by every test directory."""

from __future__ import annotations

from typing import Iterator

import pytest

from helpers import Pty, open_pty


@pytest.fixture
def pty_pair() -> Iterator[Pty]:
    """A pty: the test holds the master, the daemon opens ``.path``."""
    with open_pty() as pty:
        yield pty
