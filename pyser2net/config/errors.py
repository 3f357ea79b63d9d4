"""The single error type of the configuration layer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional

from pyser2net.config.model import Position


@dataclass(frozen=True)
class ConfigIssue:
    position: Optional[Position]
    message: str

    def __str__(self) -> str:
        if self.position is None:
            return self.message
        return f"{self.position}: {self.message}"


class ConfigError(Exception):
    """Everything wrong with a configuration, one line per problem.

    Parsers collect every problem of a file before raising, so that a user
    fixes them all in one go instead of one per restart.
    """

    def __init__(self, issues: Iterable[ConfigIssue]) -> None:
        self.issues = tuple(issues)
        super().__init__("\n".join(str(i) for i in self.issues))

    @classmethod
    def at(cls, position: Optional[Position], message: str) -> ConfigError:
        return cls([ConfigIssue(position, message)])
