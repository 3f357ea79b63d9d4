"""Whether a host name resolves now: the lookup handed to the configuration
readers (``config.gensio.Resolves``), which do no I/O of their own.

gensio looks up the host of an address while it reads the configuration;
the readers need the answer only to tell ``host,port`` from a mistyped
layer.  The daemon, ``--check`` and the reload child pass this one.

The question is asked of a child process with a deadline
(``resolver.lookup_now``), as every other lookup of the daemon is: a name
server that does not answer holds a first start up for that long at
most, never for as long as the C library would wait.
"""

from __future__ import annotations

import functools
import socket


@functools.lru_cache(maxsize=256)
def host_resolves(host: str) -> bool:
    """True when the system resolver knows ``host`` now."""
    from pyser2net.runtime.resolver import Query, lookup_now

    (answer,) = lookup_now([Query(host, 0, 0, socket.SOCK_STREAM)])
    return not isinstance(answer, str) and bool(answer)
