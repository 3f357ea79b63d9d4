"""The ``ssl`` layer as a filter: TLS through OpenSSL's memory BIOs.

The filter owns an ``ssl.SSLObject`` whose input and output are two
``ssl.MemoryBIO`` s, so it never touches a socket: ciphertext from below
goes in with ``receive``, plaintext comes out as ``Data``; plaintext from
above goes in with ``send`` and ciphertext comes out.  OpenSSL keeps no
bytes of its own out of sight: every ``receive`` decrypts all that the
records fed so far hold, so nothing waits inside the library for a read
event that the kernel will never raise (the trap of wrapped non-blocking
sockets, whose buffered records ``epoll`` cannot see).

The filter reports its state as events: ``TlsEstablished`` once the
handshake is done and the peer is authorised, ``TlsFailed`` (with a reason
a person can act on) when the handshake or a record fails, ``TlsClosed``
when the peer ends the session.  It has no clock: the deadline of the
handshake belongs to the code that owns the connection.

``ClientCertPolicy`` is ser2net's rule for client certificates, decided on
the chain OpenSSL verified: a user's certificate must lead to a trust
anchor in ``<authdir>/<CN>/allowed_certs/`` when that directory exists,
else to one of ``CA=``; and the CN must be in ``allowed-users`` when that
is set.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import Callable, FrozenSet, List, Mapping, Optional, Sequence

from pyser2net.protocol.events import Data, Event

#: Plaintext taken from OpenSSL per call (records are at most 16 KiB).
READ_SIZE = 65536


@dataclass(frozen=True)
class TlsEstablished(Event):
    """The handshake is done and the peer is authorised."""

    version: str
    cipher: str
    #: The common name of the peer's verified certificate, if it showed one.
    peer_cn: Optional[str] = None


@dataclass(frozen=True)
class TlsFailed(Event):
    """The session cannot go on; the connection must close."""

    reason: str


@dataclass(frozen=True)
class TlsClosed(Event):
    """The peer ended the session (close_notify): the end of its data."""


#: A check run once the handshake is done: a reason to refuse, or None.
Authorize = Callable[[ssl.SSLObject], Optional[str]]


class TlsFilter:
    """One TLS session, server side (accepters) or client side (connectors)."""

    def __init__(
        self,
        context: ssl.SSLContext,
        *,
        server_side: bool,
        server_hostname: Optional[str] = None,
        authorize: Optional[Authorize] = None,
    ) -> None:
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self.obj = context.wrap_bio(
            self._in, self._out, server_side=server_side, server_hostname=server_hostname
        )
        self._authorize = authorize
        self.established = False
        #: Set once the session failed or ended: nothing more goes through.
        self.finished = False
        #: The session failed (no close_notify is owed then).
        self.failed = False
        self._bye_sent = False
        #: Plaintext sent before the handshake completed, sent right after it.
        self._early = bytearray()
        #: Plaintext decrypted but not yet passed up (``hold_input``).
        self._held = bytearray()
        self.peer_cn: Optional[str] = None

    # -- Filter -------------------------------------------------------------

    def start(self) -> bytes:
        """A client's hello; a server waits for the client's."""
        if not self.obj.server_side:
            self._step_handshake()
        return self._out.read()

    def receive(self, data: bytes) -> List[Event]:
        events: List[Event] = []
        if self._held:
            events.append(Data(bytes(self._held)))
            self._held.clear()
        if self.finished:
            return events
        if data:
            self._in.write(data)
        if not self.established:
            event = self._step_handshake()
            if event is None:
                return events
            events.append(event)
            if not self.established:
                return events
        self._read_plaintext(events)
        return events

    def send(self, data: bytes) -> bytes:
        if self.finished or not data:
            return self._out.read() if self._out.pending else b""
        if not self.established:
            self._early += data
            return b""
        self._write(data)
        return self._out.read()

    def data_to_send(self) -> bytes:
        return self._out.read() if self._out.pending else b""

    # -- handing over -----------------------------------------------------------

    def hold_input(self, data: bytes) -> None:
        """Keep plaintext for the next ``receive`` (even an empty one).

        The handshake runs before the connection has a reader; what the peer
        sent right behind its handshake waits here for it.
        """
        self._held += data

    @property
    def holds_input(self) -> bool:
        return bool(self._held)

    # -- closing --------------------------------------------------------------

    def close(self) -> bytes:
        """The close_notify alert for below, sent before the connection closes."""
        if self.established and not self.failed and not self._bye_sent:
            self._bye_sent = True
            self.finished = True
            try:
                self.obj.unwrap()
            except (ssl.SSLError, ValueError):
                pass  # the peer's own close_notify is not awaited
        return self._out.read() if self._out.pending else b""

    # -- inside ---------------------------------------------------------------

    def _step_handshake(self) -> Optional[Event]:
        try:
            self.obj.do_handshake()
        except ssl.SSLWantReadError:
            return None
        except ssl.SSLError as exc:
            return self._fail(describe_error(exc, self.obj.server_side))
        cert = self.obj.getpeercert()
        self.peer_cn = common_name(cert) if cert else None
        if self._authorize is not None:
            refused = self._authorize(self.obj)
            if refused is not None:
                return self._fail(refused)
        self.established = True
        if self._early:
            early, self._early = bytes(self._early), bytearray()
            self._write(early)
        cipher = self.obj.cipher()
        return TlsEstablished(
            version=self.obj.version() or "?",
            cipher=cipher[0] if cipher else "?",
            peer_cn=self.peer_cn,
        )

    def _read_plaintext(self, events: List[Event]) -> None:
        read = self.obj.read
        chunks: List[bytes] = []
        while True:
            try:
                chunk = read(READ_SIZE)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:
                chunk = b""
            except ssl.SSLError as exc:
                self._emit(chunks, events)
                events.append(self._fail(describe_error(exc, self.obj.server_side)))
                return
            if not chunk:
                # The peer's close_notify (Python reads it as b"").
                self.finished = True
                self._emit(chunks, events)
                events.append(TlsClosed())
                return
            chunks.append(chunk)
        self._emit(chunks, events)

    @staticmethod
    def _emit(chunks: List[bytes], events: List[Event]) -> None:
        if chunks:
            events.append(Data(chunks[0] if len(chunks) == 1 else b"".join(chunks)))

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                written = self.obj.write(view)
            except ssl.SSLError:
                # A session that cannot encrypt is over; the next receive or
                # the owner's close ends the connection.
                self.finished = True
                return
            view = view[written:]

    def _fail(self, reason: str) -> TlsFailed:
        self.finished = self.failed = True
        self._early.clear()
        return TlsFailed(reason)


def common_name(cert: Mapping[str, object]) -> Optional[str]:
    """The first commonName of a certificate's subject (``getpeercert()`` form)."""
    subject = cert.get("subject", ())
    if not isinstance(subject, tuple):
        return None
    for rdn in subject:
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return None


#: OpenSSL reasons and what they mean for the person reading the log.
_REASONS = {
    "WRONG_VERSION_NUMBER": "not a TLS client (plain text on a TLS port?)",
    "HTTP_REQUEST": "not a TLS client (an HTTP request on a TLS port)",
    "UNEXPECTED_EOF_WHILE_READING": "the peer closed during the handshake",
    "PEER_DID_NOT_RETURN_A_CERTIFICATE": "no client certificate (clientauth needs one)",
    "UNSUPPORTED_PROTOCOL": "the peer offers only TLS versions older than 1.2",
    "TLSV1_ALERT_PROTOCOL_VERSION": "the peer wants a TLS version we do not speak (1.2 or later)",
    "NO_SHARED_CIPHER": "no cipher in common with the peer",
    "TLSV1_ALERT_UNKNOWN_CA": "the peer does not trust our certificate (unknown CA)",
    "SSLV3_ALERT_BAD_CERTIFICATE": "the peer rejected our certificate",
    "SSLV3_ALERT_CERTIFICATE_UNKNOWN": "the peer rejected our certificate",
    "TLSV13_ALERT_CERTIFICATE_REQUIRED": "the server wants a client certificate",
}


def describe_error(exc: ssl.SSLError, server_side: bool) -> str:
    """One line for the log: what went wrong, in words a person can act on."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        whose = "client" if server_side else "server"
        return f"{whose} certificate did not verify: {exc.verify_message}"
    if isinstance(exc, ssl.SSLEOFError):
        return "the peer closed during the handshake"
    reason = getattr(exc, "reason", None)
    if reason in _REASONS:
        return _REASONS[reason]
    if reason:
        return f"TLS error: {reason.lower().replace('_', ' ')}"
    return f"TLS error: {exc}"


def verified_chain(obj: ssl.SSLObject) -> Optional[List[bytes]]:
    """The chain OpenSSL verified, leaf first and trust anchor last, in DER.

    Public from Python 3.13; 3.10 to 3.12 have it on the inner object.
    None where the interpreter offers neither.
    """
    get = getattr(obj, "get_verified_chain", None)
    if get is None:
        get = getattr(getattr(obj, "_sslobj", None), "get_verified_chain", None)
    if get is None:
        return None
    chain = get() or []
    # ssl's C module is private, so the type stubs do not show it.
    der = ssl._ssl.ENCODING_DER  # type: ignore[attr-defined]
    return [c if isinstance(c, bytes) else c.public_bytes(der) for c in chain]


def can_check_chains() -> bool:
    """Whether this interpreter shows the verified chain (needed for authdir)."""
    inner = getattr(ssl, "_ssl", None)
    return hasattr(ssl.SSLObject, "get_verified_chain") or hasattr(
        getattr(inner, "_SSLSocket", None), "get_verified_chain"
    )


@dataclass(frozen=True)
class ClientCertPolicy:
    """Who may connect with a client certificate, as ser2net decides it."""

    #: The authdir, for messages.
    authdir: str
    #: The certificates (DER) of ``<authdir>/<CN>/allowed_certs/``, for
    #: every CN that has such a directory (possibly empty).
    allowed_certs: Mapping[str, FrozenSet[bytes]] = field(default_factory=dict)
    #: The certificates (DER) of ``CA=``, for a CN without a directory.
    ca_certs: FrozenSet[bytes] = frozenset()
    #: ``allowed-users``; None lets every verified user in.
    allowed_users: Optional[FrozenSet[str]] = None

    def check(self, cn: Optional[str], chain: Optional[Sequence[bytes]]) -> Optional[str]:
        """A reason to refuse this verified client, or None to let it in."""
        if not chain:
            return "no verified certificate chain"
        anchor = chain[-1]
        name = cn if cn is not None else "(no CN)"
        if cn is not None and cn in self.allowed_certs:
            if anchor not in self.allowed_certs[cn]:
                return (
                    f"certificate of {name!r} does not lead to one in "
                    f"{self.authdir}/{cn}/allowed_certs/"
                )
        elif anchor not in self.ca_certs:
            return (
                f"no {self.authdir}/{name}/allowed_certs/ for {name!r}, and its "
                "certificate is not from CA="
            )
        if self.allowed_users is not None and cn not in self.allowed_users:
            return f"user {name!r} is not in allowed-users"
        return None

    def authorize(self, obj: ssl.SSLObject) -> Optional[str]:
        """``Authorize`` for a server-side ``TlsFilter``."""
        cert = obj.getpeercert()
        return self.check(common_name(cert) if cert else None, verified_chain(obj))
