"""Whether a host name resolves now: the lookup handed to the configuration
readers (``config.gensio.Resolves``), which do no I/O of their own.

gensio looks up the host of an address while it reads the configuration;
the readers need the answer only to tell ``host,port`` from a mistyped
layer.  The daemon, ``--check`` and the reload child pass this one.
"""

from __future__ import annotations

import functools
import socket


@functools.lru_cache(maxsize=256)
def host_resolves(host: str) -> bool:
    """True when the system resolver knows ``host`` now."""
    try:
        return bool(socket.getaddrinfo(host, None, 0, socket.SOCK_STREAM))
    except (OSError, UnicodeError):
        return False
