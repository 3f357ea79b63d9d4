"""A child process whose standard output the event loop collects.

Work that may take long and cannot be cut into pieces (reading a large
configuration for a reload) runs in a new process, started with
``subprocess`` (an exec of a fresh interpreter, not a fork of the loop's
state), while the loop goes on serving.  Its input is handed over in an
unnamed temporary file, so that starting it never waits on a pipe; its
output is read without blocking, a bounded amount per turn; it has a
deadline after which it is killed; and it is reaped without waiting.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from typing import Callable, Dict, List, Optional, Sequence

from pyser2net.runtime.reactor import Reactor, Timer

#: Bytes read from the child per readable event (a few reads per turn).
_CHUNK = 1 << 20
_READS_PER_TURN = 4
#: How often a child that closed its output is checked for its exit.
_REAP_INTERVAL = 0.01

#: Called once with the child's whole output, or None and why it failed.
Done = Callable[[Optional[bytes], str], None]


class ChildRead:
    """Run ``argv`` with ``stdin_data`` as its input; hand its output to ``done``.

    ``done(output, "")`` comes when the child has closed its output and
    exited with status 0; ``done(None, why)`` when it failed to start,
    exited otherwise, wrote more than ``limit`` bytes or missed its
    ``deadline`` (seconds; it is then killed).  ``cancel()`` kills it and
    calls nothing.
    """

    def __init__(
        self,
        reactor: Reactor,
        argv: Sequence[str],
        stdin_data: bytes,
        done: Done,
        *,
        deadline: float,
        limit: int,
        env: Optional[Dict[str, str]] = None,
    ) -> None:
        self.reactor = reactor
        self.deadline = deadline
        self.limit = limit
        self._done: Optional[Done] = done
        self._chunks: List[bytes] = []
        self._size = 0
        self._fd = -1
        self._proc: Optional[subprocess.Popen] = None
        self._timer: Optional[Timer] = None
        try:
            with tempfile.TemporaryFile() as request:
                request.write(stdin_data)
                request.seek(0)
                self._proc = subprocess.Popen(
                    list(argv),
                    stdin=request,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                    env=env,
                    close_fds=True,
                )
        except (OSError, subprocess.SubprocessError) as exc:
            # Called later, as when it runs: the caller's state is set up by then.
            why = f"cannot start the reader: {getattr(exc, 'strerror', None) or exc}"
            self._timer = reactor.call_later(0, lambda: self._finish(None, why))
            return
        assert self._proc.stdout is not None
        self._fd = self._proc.stdout.fileno()
        os.set_blocking(self._fd, False)
        reactor.add_reader(self._fd, self._readable)
        self._timer = reactor.call_later(deadline, self._expired)

    @property
    def pid(self) -> Optional[int]:
        return self._proc.pid if self._proc is not None else None

    def _readable(self) -> None:
        for _ in range(_READS_PER_TURN):
            try:
                chunk = os.read(self._fd, _CHUNK)
            except BlockingIOError:
                return
            except OSError as exc:
                self._fail(f"reading its output failed: {exc.strerror or exc}")
                return
            if not chunk:
                self._close_output()
                self._reap()
                return
            self._chunks.append(chunk)
            self._size += len(chunk)
            if self._size > self.limit:
                self._fail(f"its output is larger than {self.limit} bytes")
                return

    def _close_output(self) -> None:
        if self._fd >= 0:
            self.reactor.forget(self._fd)
            self._fd = -1
        if self._proc is not None and self._proc.stdout is not None:
            self._proc.stdout.close()

    def _reap(self) -> None:
        """The output is closed: wait (without blocking) for the exit status."""
        assert self._proc is not None
        status = self._proc.poll()
        if status is None:
            if self._timer is not None and not self._timer.cancelled:
                self.reactor.call_later(_REAP_INTERVAL, self._reap)
            return
        if status == 0:
            self._finish(b"".join(self._chunks), "")
        else:
            self._finish(None, _status_text(status))

    def _expired(self) -> None:
        self._timer = None
        self._fail(f"it took longer than {self.deadline:g} s")

    def _fail(self, why: str) -> None:
        self._kill()
        self._finish(None, why)

    def _kill(self) -> None:
        self._close_output()
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            # SIGKILL cannot be caught: the exit follows at once.
            try:
                proc.wait(timeout=1.0)
            except subprocess.TimeoutExpired:
                pass

    def _finish(self, output: Optional[bytes], why: str) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._close_output()
        self._chunks = []
        done, self._done = self._done, None
        if done is not None:
            done(output, why)

    def cancel(self) -> None:
        """Kill the child; ``done`` is not called."""
        self._done = None
        self._kill()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def _status_text(status: int) -> str:
    if status < 0:
        return f"the reader was killed by signal {-status}"
    return f"the reader failed (exit status {status})"
