"""``-l``: the telnet options a client and the port agreed on, as they change.

The codec logs nothing (it is sans-IO); its option state is public.  A
watch per client compares that state after each chunk of input and logs
the options in force when they differ from what it logged last, so a
client's negotiation shows as one or two lines, not one per command.  It
exists only with ``-l``: without it a client carries None and the data
path checks nothing else.
"""

from __future__ import annotations

import logging
from typing import Tuple

from pyser2net.protocol.telnet import TelnetOption, TelnetServerCodec

log = logging.getLogger(__name__)

_NAMES = {
    TelnetOption.BINARY: "BINARY",
    TelnetOption.ECHO: "ECHO",
    TelnetOption.SUPPRESS_GO_AHEAD: "SUPPRESS-GO-AHEAD",
    TelnetOption.COM_PORT_OPTION: "COM-PORT-OPTION (RFC 2217)",
}

State = Tuple[Tuple[str, ...], Tuple[str, ...]]


def option_state(codec: TelnetServerCodec) -> State:
    """The options the server does, and those the client does."""
    return (
        tuple(name for opt, name in _NAMES.items() if codec.local_enabled(opt)),
        tuple(name for opt, name in _NAMES.items() if codec.remote_enabled(opt)),
    )


def options_text(state: State) -> str:
    ours, theirs = state
    return f"the port does {' '.join(ours) or 'none'}; the client does {' '.join(theirs) or 'none'}"


class OptionWatch:
    """Logs a client's telnet options whenever they changed."""

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last: State = ((), ())  # nothing agreed: nothing to say

    @staticmethod
    def wanted() -> bool:
        return log.isEnabledFor(logging.DEBUG)

    def check(self, name: str, codec: TelnetServerCodec) -> None:
        state = option_state(codec)
        if state != self._last:
            self._last = state
            log.debug("%s: telnet options agreed: %s", name, options_text(state))
