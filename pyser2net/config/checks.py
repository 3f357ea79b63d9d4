"""Checks that need a whole connection, or all of them, rather than one value.

The parsers read each value where it is written; what can only be judged
from several values together (an accepter and an option, two connections
on one port) is checked here, once, for both configuration formats.
"""

from __future__ import annotations

from typing import List, Sequence

from pyser2net.config.errors import ConfigIssue
from pyser2net.config.model import Connection


def connection_issues(connections: Sequence[Connection]) -> List[ConfigIssue]:
    """Every problem that only shows when a connection is seen whole."""
    issues: List[ConfigIssue] = []
    for conn in connections:
        if conn.accepter.telnet and conn.connect_backs:
            # ser2net stacks the accepter's telnet layer on each connect-back;
            # pyser2net would dial out in raw mode.
            issues.append(ConfigIssue(
                conn.position, f"connection {conn.name}: connecting back (connback, or "
                "remaddr '!') through a telnet accepter is not supported yet in pyser2net "
                "(use a raw tcp or udp accepter for this connection)"))
    return issues
