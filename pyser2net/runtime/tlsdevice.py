"""The ``ssl`` layer of a connector: TLS to the peer a port connects out to.

``connector: ssl(CA=/etc/ca.pem),tcp,host,port`` pushes a serial port to a
remote TLS service.  The tcp peer is opened as usual; its stream is wrapped
in a ``TlsStream`` (a client session), so the port reads and writes
plaintext and never knows.  The device is ready once the handshake is done
and the server's certificate verified, not when TCP connects: until then
what clients send waits in the stream's bounded queue, as it does while a
connect is under way.  A handshake that fails, or does not finish within
the deadline (gensio's ``con-timeout``, 60 s), is an open failure: the log
says why, and each client hears ser2net's ``Device open failure`` line.
"""

from __future__ import annotations

import logging
from typing import Optional

from pyser2net.runtime.devices import DeviceError, NetworkPeer, WrapOpen, WrappedDevice
from pyser2net.runtime.stream import StreamError
from pyser2net.runtime.timers import TimerSlot
from pyser2net.runtime.tlsaccept import HANDSHAKE_TIMEOUT
from pyser2net.runtime.tlsconfig import ClientTlsSource
from pyser2net.runtime.tlsstream import TlsError, TlsStream

log = logging.getLogger(__name__)

#: gensio's words for a session that did not come up, by the start of our
#: reason (ser2net sends them to the client after ``Device open failure:``).
_OPEN_REASONS = (
    ("server certificate did not verify", "Certificate is not valid"),
    ("no TLS session after", "Operation timed out"),
    ("the peer closed", "Remote end closed connection"),
)


class TlsPeer(WrappedDevice[NetworkPeer, TlsStream]):
    """A tcp peer under an ``ssl`` layer."""

    def __init__(
        self, inner: NetworkPeer, tls: ClientTlsSource, timeout: float = HANDSHAKE_TIMEOUT
    ) -> None:
        super().__init__(inner)
        self.tls = tls
        self.timeout = timeout
        self.established = False
        self._stream: Optional[TlsStream] = None
        self._deadline: Optional[TimerSlot] = None

    def wrap(self, how: WrapOpen) -> TlsStream:
        host = self.inner.spec.host
        session = self.tls.new_filter(host)
        self._deadline = TimerSlot(how.reactor, self._timed_out)

        def established() -> None:
            self.established = True
            if self._deadline is not None:
                self._deadline.cancel()
            obj = session.obj
            cipher = obj.cipher()
            log.info(
                "%s: TLS session with %s,%d (%s, %s)",
                self.display,
                host,
                self.inner.spec.port,
                obj.version() or "?",
                cipher[0] if cipher else "?",
            )
            if how.ready is not None:
                how.ready()

        self._stream = TlsStream.over(how.reactor, how.user, session, how.inner_stream, established)
        self._deadline.arm(self.timeout)
        return self._stream

    def _timed_out(self) -> None:
        if self._stream is not None and not self.established:
            self._stream.fail(f"no TLS session after {self.timeout:g} s")

    def error_for(self, exc: Optional[StreamError]) -> DeviceError:
        if isinstance(exc, TlsError):
            reason = str(exc)
            if self.established:
                return DeviceError("Communication error", f"{self.display}: {reason}")
            words = next(
                (w for start, w in _OPEN_REASONS if reason.startswith(start)),
                "Communication error",
            )
            return DeviceError(words, f"{self.display}: {reason}", opening=True)
        if not self.established and self.inner.connected:
            # TCP was up, TLS was not: the server hung up during the handshake.
            detail = f"{self.display}: closed by peer during the TLS handshake"
            return DeviceError("Remote end closed connection", detail, opening=True)
        return super().error_for(exc)

    def close(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        super().close()
