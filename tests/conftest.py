"""Fixtures shared by every test directory."""

from __future__ import annotations

import os
import tty
from typing import Iterator

import pytest

from helpers import Pty


@pytest.fixture
def pty_pair() -> Iterator[Pty]:
    master, slave = os.openpty()
    tty.setraw(master)
    try:
        yield Pty(master, slave, os.ttyname(slave))
    finally:
        os.close(master)
        os.close(slave)
