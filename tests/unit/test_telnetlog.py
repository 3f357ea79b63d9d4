"""-l: a client's telnet options are logged when they change, not per command."""

from __future__ import annotations

import logging

from pyser2net.protocol.telnet import TelnetServerCodec
from pyser2net.runtime.telnetlog import OptionWatch

IAC, WILL, WONT, DO = 255, 251, 252, 253


def neg(*pairs: int) -> bytes:
    return b"".join(bytes((IAC, pairs[i], pairs[i + 1])) for i in range(0, len(pairs), 2))


def test_options_are_logged_as_they_settle(caplog):
    codec = TelnetServerCodec(rfc2217=True)
    watch = OptionWatch()
    name = "c1 client 127.0.0.1,5000"
    with caplog.at_level(logging.DEBUG, logger="pyser2net"):
        watch.check(name, codec)  # nothing agreed yet
        codec.receive_data(neg(DO, 3, DO, 1, WILL, 3, WILL, 44))
        watch.check(name, codec)
        codec.receive_data(neg(DO, 3))  # a repeat: nothing changes
        watch.check(name, codec)
        codec.receive_data(neg(WONT, 44))
        watch.check(name, codec)
    assert [r.getMessage() for r in caplog.records] == [
        f"{name}: telnet options agreed: the port does ECHO SUPPRESS-GO-AHEAD; "
        "the client does SUPPRESS-GO-AHEAD COM-PORT-OPTION (RFC 2217)",
        f"{name}: telnet options agreed: the port does ECHO SUPPRESS-GO-AHEAD; "
        "the client does SUPPRESS-GO-AHEAD",
    ]
