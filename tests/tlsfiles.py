"""Keys and certificates made at test time (none is ever committed).

``TlsFiles`` writes a CA, a server certificate for 127.0.0.1 and client
certificates into a temporary directory, as PEM files that real clients
(openssl, socat, gensiot) read.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional

import pytest

trustme = pytest.importorskip("trustme", reason="trustme (the test extra) makes certificates")


@dataclass
class Identity:
    """A key and its certificate, in files."""

    key: Path
    cert: Path
    #: Key and certificate in one file (gensiot, socat take either).
    both: Path


class TlsFiles:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.ca = trustme.CA()
        self.ca_pem = root / "ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_pem))
        self.server = self.identity("server", self.ca, "127.0.0.1")
        self._cas: Dict[str, object] = {"ca": self.ca}

    def other_ca(self, name: str) -> trustme.CA:
        if name not in self._cas:
            ca = trustme.CA()
            ca.cert_pem.write_to_path(str(self.root / f"{name}.pem"))
            self._cas[name] = ca
        return self._cas[name]  # type: ignore[return-value]

    def identity(
        self,
        name: str,
        ca: Optional[trustme.CA] = None,
        *hosts: str,
        common_name: Optional[str] = None,
        not_after: Optional[datetime.datetime] = None,
    ) -> Identity:
        ca = ca or self.ca
        issued = ca.issue_cert(
            *(hosts or (f"{name}.example",)), common_name=common_name, not_after=not_after
        )
        key, cert, both = (
            self.root / f"{name}.key",
            self.root / f"{name}.crt",
            self.root / f"{name}.pem",
        )
        issued.private_key_pem.write_to_path(str(key))
        issued.cert_chain_pems[0].write_to_path(str(cert))
        issued.private_key_and_cert_chain_pem.write_to_path(str(both))
        return Identity(key, cert, both)

    def user(self, cn: str, ca: Optional[trustme.CA] = None) -> Identity:
        """A client certificate whose CN is the user name."""
        return self.identity(f"user-{cn}", ca, f"{cn}.example", common_name=cn)

    def self_signed(self, cn: str) -> Identity:
        """A self-signed client certificate, as gtlssh-keygen makes them."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=365))
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(key, hashes.SHA256())
        )
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        cert_pem = cert.public_bytes(serialization.Encoding.PEM)
        paths = Identity(
            self.root / f"self-{cn}.key", self.root / f"self-{cn}.crt", self.root / f"self-{cn}.pem"
        )
        paths.key.write_bytes(key_pem)
        paths.cert.write_bytes(cert_pem)
        paths.both.write_bytes(key_pem + cert_pem)
        return paths

    def allow(self, authdir: Path, user: str, *certs: Path) -> Path:
        """Put certificates in ``<authdir>/<user>/allowed_certs/``, rehashed as
        ``openssl rehash`` would (ser2net finds them only through the links)."""
        import shutil
        import subprocess

        allowed = authdir / user / "allowed_certs"
        allowed.mkdir(parents=True, exist_ok=True)
        for cert in certs:
            shutil.copy(cert, allowed / cert.name)
        if shutil.which("openssl"):
            subprocess.run(
                ["openssl", "rehash", str(allowed)], check=False, capture_output=True, timeout=30
            )
        return allowed


@pytest.fixture
def tls_files(tmp_path: Path) -> TlsFiles:
    return TlsFiles(tmp_path / "tls")


class TlsService:
    """A TLS service on loopback for ssl connectors to reach: for each
    connection it sends ``greeting`` once the handshake is done, then
    echoes; what it received is kept per connection.  A thread, ended by
    ``close``."""

    def __init__(self, identity: Identity, greeting: bytes = b"") -> None:
        import socket
        import ssl
        import threading

        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(str(identity.cert), str(identity.key))
        self.greeting = greeting
        self.received: list = []
        self.handshakes = 0
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(4)
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        import ssl

        while not self._stop.is_set():
            try:
                raw, _ = self.listener.accept()
            except OSError:
                continue
            got = bytearray()
            self.received.append(got)
            raw.settimeout(10)
            try:
                with self.context.wrap_socket(raw, server_side=True) as tls:
                    self.handshakes += 1
                    tls.sendall(self.greeting)
                    while not self._stop.is_set():
                        chunk = tls.recv(65536)
                        if not chunk:
                            break
                        got.extend(chunk)
                        tls.sendall(chunk)
            except (ssl.SSLError, OSError):
                pass
            finally:
                raw.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(15)
        self.listener.close()

    def __enter__(self) -> TlsService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
