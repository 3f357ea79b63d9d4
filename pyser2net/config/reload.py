"""What a configuration reload (SIGHUP, the admin ``reload``) has to do.

ser2net identifies connections by name: a name only in the new
configuration is new, a name only in the old one is removed, a name in
both whose description differs is changed.  The rules (ser2net(8),
SIGNALS) are:

* new connections start at once;
* removed ones stop listening at once; a client still connected keeps its
  session, and the connection is gone when the last client leaves;
* changed ones stop listening with the old settings; their clients keep
  their session, and the new settings take over (listener included) when
  the last client has left — at once when nobody is connected;
* a connection whose new description says ``enable: off`` kicks its
  clients off immediately instead of waiting for them.

This module only compares two ``Config`` values; it knows nothing about
sockets, so the rules are unit-tested without running anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Tuple

from pyser2net.config.model import Config, Connection


@dataclass(frozen=True)
class ReloadPlan:
    """The difference between two configurations, by connection."""

    #: Connections only in the new configuration.
    start: Tuple[Connection, ...] = ()
    #: Names of connections only in the old configuration.
    stop: Tuple[str, ...] = ()
    #: New descriptions of changed connections; applied when idle.
    replace: Tuple[Connection, ...] = ()
    #: Names of changed connections that the new description disables:
    #: their clients are disconnected now (they are also in ``replace``).
    kick: Tuple[str, ...] = ()
    #: Names of connections described identically in both.
    unchanged: Tuple[str, ...] = ()
    #: Whether the admin accepter changed (restart it).
    admin_changed: bool = False

    @property
    def empty(self) -> bool:
        return not (self.start or self.stop or self.replace or self.admin_changed)


def same_connection(old: Connection, new: Connection) -> bool:
    """Whether a running connection can stay as it is.

    Dataclass equality ignores source positions (moving a block in the file
    is no change) but also the accepter and connector texts, which showport
    prints; a respelled accepter is therefore treated as a change too.
    """
    return (
        old == new
        and old.accepter.text == new.accepter.text
        and old.connector.text == new.connector.text
    )


def plan_reload(
    old: Config,
    new: Config,
    same: Callable[[Connection, Connection], bool] = same_connection,
) -> ReloadPlan:
    """Compare two configurations and say what must happen to each connection.

    ``same`` decides whether a connection is unchanged (``same_connection``;
    a caller that compared them already may answer from its notes).
    """
    old_by_name = {c.name: c for c in old.connections}
    new_names = {c.name for c in new.connections}
    start, replace, kick, unchanged = [], [], [], []
    for conn in new.connections:
        previous = old_by_name.get(conn.name)
        if previous is None:
            start.append(conn)
        elif same(previous, conn):
            unchanged.append(conn.name)
        else:
            replace.append(conn)
            if not conn.enable:
                kick.append(conn.name)
    stop = tuple(c.name for c in old.connections if c.name not in new_names)
    old_admin = old.admin.accepter if old.admin else None
    new_admin = new.admin.accepter if new.admin else None
    admin_changed = old_admin != new_admin or (
        old_admin is not None and new_admin is not None and old_admin.text != new_admin.text
    )
    return ReloadPlan(
        start=tuple(start),
        stop=stop,
        replace=tuple(replace),
        kick=tuple(kick),
        unchanged=tuple(unchanged),
        admin_changed=admin_changed,
    )
