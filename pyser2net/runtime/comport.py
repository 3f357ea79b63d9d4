"""RFC 2217 requests applied to a port's line, and logged.

With ``-l`` every request is logged with who made it and what came of it
(the setting it changed and its old value, the answer to a query, or a
refusal), so that a person debugging a port sees who set it to what.
"""

from __future__ import annotations

import logging
from typing import Optional

from pyser2net.protocol.comport import SerialControl, request_fields, request_text, state_text
from pyser2net.protocol.comport import apply_request as apply_to_line
from pyser2net.protocol.telnet import ComPortCommand

log = logging.getLogger(__name__)


def apply_logged(
    line: SerialControl, command: ComPortCommand, value: int, who: str
) -> Optional[int]:
    """Apply a request to ``line``; with ``-l``, log it (``who``: the client)."""
    if not log.isEnabledFor(logging.DEBUG):
        return apply_to_line(line, command, value)
    before = state_text(command, value, line.settings, line.lines)
    answer = apply_to_line(line, command, value)
    log_request(who, command, value, before, line, answer)
    return answer


def log_request(
    who: str,
    command: ComPortCommand,
    value: int,
    before: Optional[str],
    line: SerialControl,
    answer: Optional[int],
) -> None:
    """Log what came of a request (with ``-l``): ``before`` is the setting
    it concerns as it was, ``line`` the line as it is now, after it."""
    after = state_text(command, value, line.settings, line.lines)
    request = request_text(command, value)
    if answer is None:
        outcome = "refused"
    elif request.startswith("query"):
        outcome = f"is {after}"
    elif answer != value and request_fields(command, value):
        # A later request of the same turn (the line takes the last of them).
        outcome = f"overtaken by a later request ({after} in force)"
    elif before != after:
        outcome = f"done (was {before})"
    else:
        outcome = "done" if after is None else "unchanged"
    if line.virtual and answer is not None and not request.startswith("query"):
        outcome += ", remembered only: no serial line behind this port"
    log.debug("%s: RFC 2217 %s: %s", who, request, outcome)
