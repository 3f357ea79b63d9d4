"""The single error type of the configuration layer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional

from pyser2net.config.model import Position

#: Control characters a message may quote from a file, as escapes: a
#: message is always one line, and never moves the cursor of a terminal.
_CONTROLS = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F) if c != 0x09}
_CONTROLS.update({0x0A: "\\n", 0x0D: "\\r"})
#: A message quoting a huge value is shortened to about this many characters.
_LONGEST = 600


@dataclass(frozen=True)
class ConfigIssue:
    position: Optional[Position]
    message: str

    def __str__(self) -> str:
        message = self.message
        if not message.isprintable():
            message = message.translate(_CONTROLS)
        if len(message) > _LONGEST:  # a huge value quoted: keep the start and the hint
            message = message[: _LONGEST - 200] + " [...] " + message[-150:]
        if self.position is None:
            return message
        return f"{self.position}: {message}"


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
