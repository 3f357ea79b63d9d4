"""TLS contexts built from ``ssl`` layers, with errors a person can act on.

A context is built when the configuration is loaded (and again on SIGHUP,
so renewed keys and certificates take effect for new connections while
sessions already up keep theirs).  Everything that can be wrong with the
files is found here, once, and reported naming the file: a key or
certificate that is missing or unreadable, a key that does not belong to
its certificate, an encrypted key (ser2net reads keys without a pass
phrase), a certificate that has expired or is not valid yet.

Client certificates (``clientauth``) follow ser2net's layout: the
certificates in ``<authdir>/<CN>/allowed_certs/`` are the trust anchors
for the user named CN; a user without such a directory is checked against
``CA=``.  Python cannot pick a trust store per connection, so the context
trusts all of them, and ``ClientCertPolicy`` then checks which anchor the
verified chain ends in.
"""

from __future__ import annotations

import datetime
import logging
import os
import re
import ssl
from dataclasses import dataclass, field
from functools import partial
from typing import Callable, Dict, FrozenSet, Generic, List, Optional, Set, Tuple, TypeVar, Union

from pyser2net.config.model import Config, NetworkDevice, Position, SslSettings
from pyser2net.protocol.tls import ClientCertPolicy, TlsFilter, can_check_chains
from pyser2net.runtime.tlserror import TlsSetupError

#: Warn this long before a certificate expires.
EXPIRY_WARNING = datetime.timedelta(days=30)

log = logging.getLogger(__name__)

_PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)


@dataclass
class ServerTls:
    """What every connection of one ssl accepter shares."""

    context: ssl.SSLContext
    policy: Optional[ClientCertPolicy] = None
    #: Things to tell the administrator at start (a certificate near expiry).
    warnings: List[str] = field(default_factory=list)

    def new_filter(self) -> TlsFilter:
        return TlsFilter(
            self.context, server_side=True, authorize=self.policy.authorize if self.policy else None
        )


@dataclass
class ClientTls:
    """What every connection of one ssl connector shares."""

    context: ssl.SSLContext
    warnings: List[str] = field(default_factory=list)

    def new_filter(self, host: str) -> TlsFilter:
        return TlsFilter(self.context, server_side=False, server_hostname=host)


TlsContexts = Union[ServerTls, ClientTls]


def server_tls(
    settings: SslSettings,
    authdir: Optional[str] = None,
    allowed_users: Optional[FrozenSet[str]] = None,
    now: Optional[datetime.datetime] = None,
) -> ServerTls:
    """The context of an ssl accepter (TLS 1.2 or later)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.options |= ssl.OP_NO_RENEGOTIATION if hasattr(ssl, "OP_NO_RENEGOTIATION") else 0
    assert settings.key is not None
    warnings = _load_chain(context, settings.key, settings.cert, now)
    if not settings.clientauth:
        return ServerTls(context, None, warnings)
    if not can_check_chains():
        raise TlsSetupError(
            "ssl(clientauth) needs Python 3.10 or later (to see which "
            "certificate a client's chain was verified against)"
        )
    context.verify_mode = ssl.CERT_REQUIRED
    ca_certs = frozenset(_read_ca(settings.ca)) if settings.ca else frozenset()
    by_user = read_authdir(authdir) if authdir else {}
    anchors: Set[bytes] = set(ca_certs)
    for certs in by_user.values():
        anchors |= certs
    if anchors:
        context.load_verify_locations(cadata=b"".join(sorted(anchors)))
    else:
        warnings.append(
            f"ssl(clientauth) has no CA= and no {authdir}/<user>/allowed_certs/ "
            "with certificates: every client will be refused"
        )
    policy = ClientCertPolicy(
        authdir=authdir or "", allowed_certs=by_user, ca_certs=ca_certs, allowed_users=allowed_users
    )
    return ServerTls(context, policy, warnings)


def client_tls(settings: SslSettings, now: Optional[datetime.datetime] = None) -> ClientTls:
    """The context of an ssl connector (TLS 1.2 or later).

    It verifies the peer's certificate against ``CA=``; as gensio, it then
    does not match the certificate's name against the host (a private CA
    vouches for its servers by name or by address alike).  Without ``CA=``
    the system's CAs are trusted, and then the name must match the host:
    otherwise any certificate a public CA issued to anyone would do.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.verify_mode = ssl.CERT_REQUIRED
    if settings.ca:
        context.check_hostname = False
        context.load_verify_locations(cadata=b"".join(_read_ca(settings.ca)))
    else:
        context.check_hostname = True
        context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    warnings: List[str] = []
    if settings.key:
        warnings = _load_chain(context, settings.key, settings.cert, now)
    return ClientTls(context, warnings)


# -- files ------------------------------------------------------------------


def _read(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise TlsSetupError(f"cannot read {what} {path}: {exc.strerror or exc}") from None


def _load_chain(
    context: ssl.SSLContext, key: str, cert: Optional[str], now: Optional[datetime.datetime]
) -> List[str]:
    """Load key and certificate, checking each on its own first so that the
    message names the file at fault."""
    key_pem = _read(key, "key file")
    cert_path = cert or key
    cert_pem = key_pem if cert is None else _read(cert, "certificate file")
    if b"PRIVATE KEY-----" not in key_pem:
        raise TlsSetupError(f"key file {key} holds no private key (PEM)")
    if b"ENCRYPTED" in key_pem:
        raise TlsSetupError(
            f"key file {key} is protected by a pass phrase, which cannot be "
            "asked for at start (write it without one: openssl pkey -in OLD "
            "-out NEW)"
        )
    if _PEM_CERT.search(cert_pem) is None:
        raise TlsSetupError(f"certificate file {cert_path} holds no certificate (PEM)")

    def no_pass_phrase() -> str:
        raise TlsSetupError(f"key file {key} is protected by a pass phrase")

    try:
        context.load_cert_chain(cert_path, key, password=no_pass_phrase)
    except ssl.SSLError as exc:
        if getattr(exc, "reason", None) == "KEY_VALUES_MISMATCH":
            raise TlsSetupError(f"key file {key} does not match certificate {cert_path}") from None
        raise TlsSetupError(
            f"cannot load key {key} with certificate {cert_path}: {exc.reason or exc}"
        ) from None
    except OSError as exc:
        raise TlsSetupError(
            f"cannot read {exc.filename or cert_path}: {exc.strerror or exc}"
        ) from None
    return _validity_warnings(cert_path, now)


def _validity_warnings(path: str, now: Optional[datetime.datetime]) -> List[str]:
    dates = certificate_dates(path)
    if dates is None:
        return []
    not_before, not_after = dates
    now = now or datetime.datetime.now(datetime.timezone.utc)
    if now >= not_after:
        return [
            f"certificate {path} expired on {not_after:%Y-%m-%d}: clients that check "
            "it will refuse the connection (make a new one)"
        ]
    if now < not_before:
        return [
            f"certificate {path} is not valid before {not_before:%Y-%m-%d %H:%M} UTC: "
            "clients that check it will refuse the connection"
        ]
    if not_after - now < EXPIRY_WARNING:
        return [f"certificate {path} expires on {not_after:%Y-%m-%d}"]
    return []


def certificate_dates(path: str) -> Optional[Tuple[datetime.datetime, datetime.datetime]]:
    """(notBefore, notAfter) of the first certificate of a PEM file, in UTC;
    None if unknown.

    The ssl module decodes certificates only through a helper that it keeps
    for its own tests; without it there is simply no warning.
    """
    decode = getattr(getattr(ssl, "_ssl", None), "_test_decode_cert", None)
    if decode is None:
        return None
    try:
        info = decode(path)
        return (
            _utc(ssl.cert_time_to_seconds(info["notBefore"])),
            _utc(ssl.cert_time_to_seconds(info["notAfter"])),
        )
    except (ssl.SSLError, OSError, KeyError, ValueError):
        return None


def _utc(seconds: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)


def pem_certificates(data: bytes) -> List[bytes]:
    """Every certificate of a PEM text, in DER."""
    found = []
    for match in _PEM_CERT.finditer(data):
        try:
            found.append(ssl.PEM_cert_to_DER_cert(match.group(0).decode("ascii")))
        except (ValueError, UnicodeDecodeError):
            continue
    return found


def _certificates_in_dir(path: str) -> Set[bytes]:
    """The certificates of every readable file of a directory.

    OpenSSL finds a certificate in a directory only through the
    ``openssl rehash`` links; reading every file finds the same ones (the
    links point at them) and also those not yet rehashed.
    """
    certs: Set[bytes] = set()
    try:
        names = sorted(os.listdir(path))
    except OSError as exc:
        raise TlsSetupError(f"cannot read directory {path}: {exc.strerror or exc}") from None
    for name in names:
        full = os.path.join(path, name)
        if not os.path.isfile(full):
            continue
        try:
            with open(full, "rb") as f:
                certs.update(pem_certificates(f.read()))
        except OSError:
            continue  # an unreadable stray file does not hide the others
    return certs


def _read_ca(ca: str) -> List[bytes]:
    """The certificates of ``CA=``: a PEM file, or a directory of them."""
    if os.path.isdir(ca):
        certs = sorted(_certificates_in_dir(ca))
        if not certs:
            raise TlsSetupError(f"CA directory {ca} holds no certificate (PEM)")
        return certs
    certs = pem_certificates(_read(ca, "CA file"))
    if not certs:
        raise TlsSetupError(f"CA file {ca} holds no certificate (PEM)")
    return certs


def read_authdir(authdir: str) -> Dict[str, FrozenSet[bytes]]:
    """``{CN: certificates}`` for every ``<authdir>/<CN>/allowed_certs/``.

    A missing authdir is no error (ser2net's default one rarely exists):
    every user is then checked against ``CA=``.
    """
    found: Dict[str, FrozenSet[bytes]] = {}
    try:
        users = sorted(os.listdir(authdir))
    except FileNotFoundError:
        return found
    except OSError as exc:
        raise TlsSetupError(f"cannot read authdir {authdir}: {exc.strerror or exc}") from None
    for user in users:
        allowed = os.path.join(authdir, user, "allowed_certs")
        if os.path.isdir(allowed):
            found[user] = frozenset(_certificates_in_dir(allowed))
    return found


def check_files(config: Config) -> Tuple[List[str], List[str]]:
    """Load every key, certificate and CA a configuration names, as the
    daemon does when it starts each port: ``(errors, warnings)``, each line
    starting ``FILE:LINE:COL: NAME:``.  For ``--check``."""
    errors: List[str] = []
    warnings: List[str] = []
    for position, label, build in _tls_layers(config):
        where = f"{position}: " if position is not None else ""
        try:
            tls = build()
        except TlsSetupError as exc:
            errors.append(f"{where}{label}: {exc}")
            continue
        warnings.extend(f"{where}{label}: {warning}" for warning in tls.warnings)
    return errors, warnings


def _tls_layers(
    config: Config,
) -> List[Tuple[Optional[Position], str, Callable[[], TlsContexts]]]:
    """Where each ssl layer of a configuration is, and how to build it."""

    def users(names: Optional[Tuple[str, ...]]) -> Optional[FrozenSet[str]]:
        return None if names is None else frozenset(names)

    found: List[Tuple[Optional[Position], str, Callable[[], TlsContexts]]] = []
    for conn in config.connections:
        opts = conn.options
        if conn.accepter.ssl is not None:
            build = partial(server_tls, conn.accepter.ssl, opts.authdir, users(opts.allowed_users))
            found.append((conn.position, conn.name, build))
        device = conn.connector.device
        if isinstance(device, NetworkDevice) and device.ssl is not None:
            found.append((conn.position, conn.name, partial(client_tls, device.ssl)))
    for rot in config.rotators:
        if rot.accepter.ssl is not None:
            build = partial(server_tls, rot.accepter.ssl, rot.authdir, users(rot.allowed_users))
            found.append((rot.position, rot.name, build))
    admin = config.admin
    if admin is not None and admin.accepter.ssl is not None:
        build = partial(server_tls, admin.accepter.ssl, admin.authdir)
        found.append((admin.position, "admin port", build))
    return found


_Tls = TypeVar("_Tls", ServerTls, ClientTls)


class _TlsSource(Generic[_Tls]):
    """The current context of one ssl layer, rebuilt on SIGHUP.

    Building it at start raises ``TlsSetupError``; a rebuild that fails
    keeps the previous context (new connections go on being made) and logs
    why.  Sessions already up keep the context they started with.
    """

    def __init__(self, label: str) -> None:
        self.label = label

    def _start(self) -> None:
        self.current: _Tls = self._build_logged()

    def _build_logged(self) -> _Tls:
        tls = self._build()
        for warning in tls.warnings:
            log.warning("%s: %s", self.label, warning)
        return tls

    def _build(self) -> _Tls:
        raise NotImplementedError

    def reload(self) -> None:
        try:
            self.current = self._build_logged()
        except TlsSetupError as exc:
            log.error("%s: %s; the previous key and certificates stay in use", self.label, exc)


class ServerTlsSource(_TlsSource[ServerTls]):
    """The context of one ssl accepter."""

    def __init__(
        self,
        settings: SslSettings,
        *,
        label: str,
        authdir: Optional[str] = None,
        allowed_users: Optional[FrozenSet[str]] = None,
    ) -> None:
        super().__init__(label)
        self.settings = settings
        self.authdir = authdir
        self.allowed_users = allowed_users
        self._start()

    def _build(self) -> ServerTls:
        return server_tls(self.settings, self.authdir, self.allowed_users)

    def new_filter(self) -> TlsFilter:
        return self.current.new_filter()


class ClientTlsSource(_TlsSource[ClientTls]):
    """The context of one ssl connector."""

    def __init__(self, settings: SslSettings, *, label: str) -> None:
        super().__init__(label)
        self.settings = settings
        self._start()

    def _build(self) -> ClientTls:
        return client_tls(self.settings)

    def new_filter(self, host: str) -> TlsFilter:
        return self.current.new_filter(host)
