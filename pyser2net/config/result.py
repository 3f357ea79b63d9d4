"""What reading a configuration gives: the valid part, the problems, what is left out.

ser2net serves every connection it could read and logs the others; a typo
in one entry must not take every port down.  So the readers do not stop at
the first problem, nor refuse a whole file for one bad entry: each problem
costs the entry it is in (a connection, a rotator, a legacy line), and the
caller gets the rest together with the list of problems.  Whoever wants the
old all-or-nothing answer (``--check``, ``--convert``, ``--strict``) calls
``strict()``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

from pyser2net.config.errors import ConfigError, ConfigIssue
from pyser2net.config.model import Config, Position


@dataclass(frozen=True)
class Rejected:
    """A connection or rotator of the file that is not served."""

    #: "connection" or "rotator".
    kind: str
    #: Its name, when the entry got far enough to have one.
    name: Optional[str]
    position: Optional[Position]
    #: Why, when the reason is not an error inside the entry itself.
    reason: str = ""

    def __str__(self) -> str:
        where = f" at {self.position}" if self.position is not None else ""
        what = self.name if self.name is not None else f"a {self.kind}"
        if self.kind == "rotator" and self.name is not None:
            what = f"rotator {self.name}"
        return f"{what}{where}" + (f" ({self.reason})" if self.reason else "")


@dataclass(frozen=True)
class LoadResult:
    """A configuration as far as it could be read."""

    #: Everything that is valid; this is what gets served.
    config: Config
    #: Every problem found, in file order.
    issues: Tuple[ConfigIssue, ...] = ()
    #: The connections and rotators the problems cost.
    rejected: Tuple[Rejected, ...] = ()
    #: False when part of the text could not be read at all (a YAML syntax
    #: error, a missing include): entries there are neither served nor
    #: listed in ``rejected``.  A reload does not act on such a reading.
    complete: bool = True

    def strict(self) -> Config:
        """The configuration, or ConfigError listing every problem."""
        if self.issues:
            raise ConfigError(self.issues)
        return self.config

    def merged(self, other: LoadResult) -> LoadResult:
        """This reading followed by ``other`` (a file, then ``-C`` lines)."""
        return LoadResult(
            config=Config(
                connections=self.config.connections + other.config.connections,
                rotators=self.config.rotators + other.config.rotators,
                leds=self.config.leds + other.config.leds,
                admin=other.config.admin or self.config.admin,
            ),
            issues=self.issues + other.issues,
            rejected=self.rejected + other.rejected,
            complete=self.complete and other.complete,
        )


__all__ = ["LoadResult", "Rejected"]
