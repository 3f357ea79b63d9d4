"""UUCP lock files: name, content, stale locks, live holders."""

from __future__ import annotations

import os
import struct
import subprocess
import sys

import pytest

from pyser2net.runtime import locks


def test_lock_name_follows_the_dev_relative_path():
    assert locks.lock_name("/dev/ttyS0") == "LCK..ttyS0"
    assert locks.lock_name("/dev/pts/3") == "LCK..pts_3"
    assert locks.lock_name("/tmp/x/tty") == "LCK.._tmp_x_tty"


def test_acquire_writes_ten_char_pid_and_release_removes(tmp_path):
    handle = locks.acquire("/dev/ttyS0", str(tmp_path))
    path = tmp_path / "LCK..ttyS0"
    assert path.read_bytes() == f"{os.getpid():>10}\n".encode()
    assert len(path.read_bytes()) == 11
    handle.release()
    assert not path.exists()
    handle.release()  # idempotent


def test_live_holder_makes_acquire_fail(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (tmp_path / "LCK..ttyUSB0").write_text(f"{holder.pid:>10}\n")
        with pytest.raises(locks.LockError) as info:
            locks.acquire("/dev/ttyUSB0", str(tmp_path))
        assert info.value.pid == holder.pid
        assert info.value.reason == "Object was already in use"
        assert (tmp_path / "LCK..ttyUSB0").exists()
    finally:
        holder.kill()
        holder.wait(5)


def test_stale_lock_of_dead_process_is_taken_over(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait(10)
    (tmp_path / "LCK..ttyS1").write_text(f"{dead.pid:>10}\n")
    with locks.acquire("/dev/ttyS1", str(tmp_path)):
        assert locks.read_lock_pid(str(tmp_path / "LCK..ttyS1")) == os.getpid()
    assert not (tmp_path / "LCK..ttyS1").exists()


def test_kermit_binary_pid_is_understood(tmp_path):
    path = tmp_path / "LCK..ttyS2"
    path.write_bytes(struct.pack("=I", os.getpid()))
    assert locks.read_lock_pid(str(path)) == os.getpid()


def test_garbage_lock_is_stale(tmp_path):
    (tmp_path / "LCK..ttyS3").write_bytes(b"not a pid at all\n")
    handle = locks.acquire("/dev/ttyS3", str(tmp_path))
    handle.release()


def test_locking_twice_from_the_same_process_fails(tmp_path):
    with locks.acquire("/dev/ttyS4", str(tmp_path)):
        with pytest.raises(locks.LockError):
            locks.acquire("/dev/ttyS4", str(tmp_path))


def test_release_leaves_a_lock_that_is_not_ours(tmp_path):
    handle = locks.acquire("/dev/ttyS5", str(tmp_path))
    (tmp_path / "LCK..ttyS5").write_text(f"{1:>10}\n")
    handle.release()
    assert (tmp_path / "LCK..ttyS5").exists()


def test_env_var_chooses_the_directory(tmp_path, monkeypatch):
    monkeypatch.setenv(locks.LOCKDIR_ENV, str(tmp_path))
    with locks.acquire("/dev/ttyS6"):
        assert (tmp_path / "LCK..ttyS6").exists()


def test_disabled_locking_is_a_no_op(tmp_path, monkeypatch):
    monkeypatch.setenv(locks.LOCKDIR_ENV, str(tmp_path))
    locks.set_enabled(False)
    try:
        handle = locks.acquire_device("/dev/ttyS7")
        assert handle.path is None
        assert not list(tmp_path.iterdir())
    finally:
        locks.set_enabled(True)
