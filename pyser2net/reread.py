"""Reading the configuration again for a reload, in a child process.

Reading is bounded (``config/limits.py``) but not instant: the largest
configuration the limits allow takes the reader tens of seconds, and a
configuration of a few thousand connections over a second, longer than a
serving port can wait.  A reload therefore reads in a fresh interpreter,
started by ``runtime/childread.py``, while the daemon's loop goes on
serving; the child (``cli.reread_main``) sends back the ``LoadResult`` it
read (pickled: the child is this same program) and the engine checks it
and applies it in one step.  The child reads the configuration exactly as
the daemon read it at start: same file, same ``-C`` lines and ``-Y``
strings, the same text for a configuration read from standard input.
The child process machinery (and ``pickle``) is imported at the first
reload, not at start.
"""

from __future__ import annotations

import io
import logging
import os
import sys
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, BinaryIO, Callable, List, Optional, Tuple, Union

import pyser2net
from pyser2net.config import ConfigError, LoadResult
from pyser2net.config.limits import MAX_TOTAL_BYTES
from pyser2net.config.model import Connection
from pyser2net.runtime.reactor import Reactor, Timer

if TYPE_CHECKING:
    import pickle

    from pyser2net.runtime.childread import ChildRead

log = logging.getLogger(__name__)

#: How long the child may take before the reload is given up.
DEADLINE_SECONDS = 120.0
#: The most a child may send back: a configuration read within the limits
#: is far smaller once pickled.
OUTPUT_LIMIT = 8 * MAX_TOTAL_BYTES


@dataclass(frozen=True)
class ConfigSpec:
    """Where the configuration comes from, as given on the command line."""

    config_file: Optional[str]
    lines: Tuple[str, ...] = ()
    fragments: Tuple[str, ...] = ()
    #: The text of ``-c -``, read once at start.
    stdin_text: Optional[str] = None
    #: ``-C DIR``, and the defaults the command line sets (``-a``, ``-A``...).
    confdir: Optional[str] = None
    defaults: Tuple[Tuple[Tuple[str, str], str], ...] = ()


#: What the child runs (``cli.reread_main``).
CHILD_CODE = "import sys; from pyser2net.cli import reread_main; sys.exit(reread_main())"

#: Connections per pickle in the child's answer: the daemon unpacks one
#: such batch per loop turn, so a file of thousands of connections never
#: holds up the serving ports for long.
BATCH = 100


#: What a read gives the engine: the result, or why nothing could be read.
Outcome = Union[LoadResult, ConfigError]
#: Called with each connection read, as it is unpacked (see ``read``).
EachConnection = Callable[[Connection], None]


def write_answer(out: BinaryIO, result: Outcome) -> None:
    """The child's answer: ``("error", issues)``, or ``("ok", result without
    its connections, count)`` followed by the connections in pickles of
    BATCH each."""
    import pickle

    pickler = pickle.Pickler(out, protocol=pickle.HIGHEST_PROTOCOL)
    if isinstance(result, ConfigError):
        pickler.dump(("error", result.issues))
        return
    connections = result.config.connections
    head = replace(result, config=replace(result.config, connections=()))
    pickler.dump(("ok", head, len(connections)))
    # One pickler for all: its memo and the daemon's one unpickler's stay in
    # step, so later batches refer to strings the earlier ones carried.
    for start in range(0, len(connections), BATCH):
        pickler.dump(connections[start : start + BATCH])


class ChildConfigSource:
    """Reads the configuration in a child process, for the engine's reloads."""

    def __init__(
        self, reactor: Reactor, spec: ConfigSpec, deadline: float = DEADLINE_SECONDS
    ) -> None:
        self.reactor = reactor
        self.spec = spec
        self.deadline = deadline
        self._child: Optional[ChildRead] = None
        self._unpacking: Optional[Timer] = None

    def read(self, done: Callable[[Outcome], None], each: Optional[EachConnection] = None) -> None:
        """Start reading; ``done`` gets the result later, from the loop.

        ``each`` is called with every connection as it is unpacked, a batch
        per loop turn, so that the caller can do its own work per
        connection (comparing it with the running one) in slices too.
        """
        import pickle

        from pyser2net.runtime.childread import ChildRead

        self.cancel()
        started = time.monotonic()

        def finished(output: Optional[bytes], why: str) -> None:
            log.info(
                "configuration read again by process %s in %.1f s",
                pid,
                time.monotonic() - started,
            )
            self._child = None
            if output is None:
                done(ConfigError.at(None, f"cannot read the configuration: {why}"))
                return
            self._unpack(pickle.Unpickler(io.BytesIO(output)), done, each)

        self._child = ChildRead(
            self.reactor,
            [sys.executable, "-c", CHILD_CODE],
            pickle.dumps(self.spec),
            finished,
            deadline=self.deadline,
            limit=OUTPUT_LIMIT,
            env=_child_env(),
        )
        pid = self._child.pid

    def _unpack(
        self,
        unpickler: pickle.Unpickler,
        done: Callable[[Outcome], None],
        each: Optional[EachConnection],
    ) -> None:
        try:
            answer = unpickler.load()
            if answer[0] == "error":
                done(ConfigError(answer[1]))
                return
            _kind, head, count = answer
        except Exception as exc:  # noqa: BLE001 - our own child, but never trust a crash
            done(_bad_answer(exc))
            return
        connections: List[Connection] = []

        def step() -> None:
            self._unpacking = None
            try:
                if len(connections) < count:
                    batch = unpickler.load()
                    connections.extend(batch)
                    if each is not None:
                        for conn in batch:
                            each(conn)
            except Exception as exc:  # noqa: BLE001 - as above
                done(_bad_answer(exc))
                return
            if len(connections) < count:
                self._unpacking = self.reactor.call_later(0, step)
                return
            config = replace(head.config, connections=tuple(connections))
            done(replace(head, config=config))

        step()

    @property
    def busy(self) -> bool:
        return self._child is not None or self._unpacking is not None

    def cancel(self) -> None:
        if self._child is not None:
            self._child.cancel()
            self._child = None
        if self._unpacking is not None:
            self._unpacking.cancel()
            self._unpacking = None


def _bad_answer(exc: Exception) -> ConfigError:
    return ConfigError.at(None, f"cannot read the configuration: bad answer ({exc})")


def _child_env() -> dict:
    """The daemon's environment, with this copy of pyser2net first on the path
    (the daemon may run from a source tree, and has left its directory)."""
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(pyser2net.__file__)))
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = root + (os.pathsep + path if path else "")
    return env
