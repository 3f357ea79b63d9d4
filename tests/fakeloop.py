"""An event loop on a fake clock, for in-process tests of the run-time parts.

The real ``Reactor`` polls real descriptors (socketpairs, ptys), but its
timers follow a clock the test moves by hand: a 5-second timeout is tested
in microseconds, and no test depends on how fast the machine is.
"""

from __future__ import annotations

from typing import Callable, Optional

from pyser2net.runtime.reactor import Reactor


class FakeClock:
    """A monotonic clock that only moves when told to."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


class FakeTimer:
    """A ``FilterTimer`` for sans-IO code under test: it remembers the delay
    it was armed with (None: not armed), and the test calls the code's
    ``timer_expired()`` itself."""

    def __init__(self) -> None:
        self.delay: Optional[float] = None

    def arm(self, delay: float) -> None:
        self.delay = delay

    def cancel(self) -> None:
        self.delay = None


class FakeLoop:
    """A reactor on a fake clock, with helpers to turn it."""

    def __init__(self) -> None:
        self.clock = FakeClock()
        self.reactor = Reactor(clock=self.clock)

    def turn(self, times: int = 1) -> None:
        """Run ready descriptors and due timers, never sleeping."""
        for _ in range(times):
            self.reactor.run_once(timeout=0)

    def advance(self, seconds: float) -> None:
        """Move the clock, then run what became due."""
        self.clock.now += seconds
        self.turn()

    def until(self, done: Callable[[], bool], turns: int = 500) -> None:
        """Turn until ``done()``; fail (never hang) after ``turns`` turns.

        Each turn may wait up to 10 ms of real time for a descriptor, so
        that bytes in flight through the kernel arrive.
        """
        for _ in range(turns):
            if done():
                return
            self.reactor.run_once(timeout=0.01)
        raise AssertionError("condition never met")

    def close(self) -> None:
        self.reactor.close()
