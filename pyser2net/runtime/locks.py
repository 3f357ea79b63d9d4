"""UUCP lock files, so that pyser2net, cu, minicom and friends share a tty politely.

A program about to open ``/dev/ttyS0`` creates ``LCK..ttyS0`` in the lock
directory holding its pid; anybody else finding that file with a live pid
leaves the device alone.  The file name follows ser2net (through gensio):
the path relative to ``/dev/`` with every ``/`` turned into ``_``, so
``/dev/ttyUSB0`` gives ``LCK..ttyUSB0`` and ``/dev/pts/3`` gives
``LCK..pts_3``.  The content is the HDB convention every UUCP-aware tool
reads: the pid as ten right-aligned ASCII characters and a newline.  Old
Kermit-style lock files hold the pid as four binary bytes; they are
understood when found.

The lock directory is ``/var/lock`` (``/run/lock`` when that one is
missing); ``PYSER2NET_LOCKDIR`` overrides it, which the tests use.  When no
lock directory exists at all, locking is skipped with a warning rather
than making every device unusable.
"""

from __future__ import annotations

import errno
import logging
import os
import struct
from typing import Optional

log = logging.getLogger(__name__)

LOCKDIR_ENV = "PYSER2NET_LOCKDIR"
DEFAULT_DIRS = ("/var/lock", "/run/lock")


class LockError(Exception):
    """The device is locked by another live process, or the lock cannot be made.

    ``reason`` is the short text a client is sent (the same words ser2net
    uses for the same failure); ``detail`` is for the log.
    """

    def __init__(self, reason: str, detail: str, pid: Optional[int] = None) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.pid = pid


def lock_dir() -> Optional[str]:
    """The directory lock files go to, or None when there is none."""
    override = os.environ.get(LOCKDIR_ENV)
    if override:
        return override
    for candidate in DEFAULT_DIRS:
        if os.path.isdir(candidate):
            return candidate
    return None


def lock_name(device_path: str) -> str:
    """``LCK..`` plus the device path below /dev, slashes made underscores."""
    name = device_path[len("/dev/") :] if device_path.startswith("/dev/") else device_path
    return "LCK.." + name.replace("/", "_")


def read_lock_pid(path: str) -> Optional[int]:
    """The pid recorded in a lock file; None when missing or unreadable."""
    try:
        with open(path, "rb") as f:
            data = f.read(64)
    except OSError:
        return None
    if len(data) == 4 and not data.strip().isdigit():
        return struct.unpack("=I", data)[0] or None  # Kermit's binary pid
    try:
        pid = int(data.split()[0]) if data.split() else 0
    except ValueError:
        return None
    return pid if pid > 0 else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by somebody else
    return True


class LockHandle:
    """A lock this process holds; ``release()`` removes the file (idempotent)."""

    def __init__(self, path: Optional[str]) -> None:
        #: None when locking was skipped (disabled or no lock directory).
        self.path = path

    def release(self) -> None:
        path, self.path = self.path, None
        if path is None:
            return
        # Only remove a file that is still ours: a stale-lock cleaner of
        # another program may have replaced it.
        if read_lock_pid(path) not in (os.getpid(), None):
            return
        try:
            os.unlink(path)
        except OSError:
            pass

    def __enter__(self) -> LockHandle:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()


def acquire(device_path: str, directory: Optional[str] = None) -> LockHandle:
    """Take the UUCP lock of ``device_path`` for this process.

    Raises LockError when a live process holds it.  A lock left by a dead
    process is removed and taken over.  Taking a lock this very process
    already holds fails too: a device is opened once.
    """
    directory = directory or lock_dir()
    if directory is None:
        log.warning(
            "no lock directory (%s): %s opened without a UUCP lock",
            " or ".join(DEFAULT_DIRS),
            device_path,
        )
        return LockHandle(None)
    path = os.path.join(directory, lock_name(device_path))
    content = f"{os.getpid():10d}\n".encode()
    for _attempt in range(3):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            pid = read_lock_pid(path)
            if pid is not None and _alive(pid):
                raise LockError(
                    "Object was already in use", f"{device_path}: locked by pid {pid} ({path})", pid
                ) from None
            log.info("%s: removing stale lock file %s (pid %s)", device_path, path, pid)
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise LockError(
                    "Permission denied", f"{path}: cannot remove stale lock: {exc.strerror}"
                ) from None
            continue
        except OSError as exc:
            reason = (
                "Permission denied"
                if exc.errno in (errno.EACCES, errno.EPERM)
                else "Value or file not found"
            )
            raise LockError(reason, f"{path}: cannot create lock: {exc.strerror}") from None
        try:
            os.write(fd, content)
        except OSError as exc:
            os.close(fd)
            os.unlink(path)
            raise LockError("Internal I/O error", f"{path}: {exc.strerror}") from None
        os.close(fd)
        return LockHandle(path)
    raise LockError("Object was already in use", f"{path}: lock keeps reappearing")


def acquire_optional(device_path: str, enabled: bool) -> LockHandle:
    """``acquire`` unless locking is disabled (``-u``): then a no-op handle."""
    if not enabled:
        return LockHandle(None)
    return acquire(device_path)


#: Whether devices take UUCP locks; ``-u`` turns it off for the whole daemon.
_enabled = True


def set_enabled(flag: bool) -> None:
    """Switch locking on or off process-wide (the ``-u`` option)."""
    global _enabled
    _enabled = flag


def enabled() -> bool:
    return _enabled


def acquire_device(device_path: str) -> LockHandle:
    """What device opening calls: ``acquire`` honouring ``-u``."""
    return acquire_optional(device_path, _enabled)
