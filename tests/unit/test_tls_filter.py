"""The TLS filter: two filters talking through memory, certificates made here.

No socket is involved: the bytes one filter produces are fed to the other,
in whatever pieces a test chooses, which is exactly what a stream does.
"""

from __future__ import annotations

import datetime
import ssl
import warnings
from pathlib import Path
from typing import List, Optional, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyser2net.config.model import SslSettings
from pyser2net.protocol.events import Data, Event
from pyser2net.protocol.tls import (
    ClientCertPolicy,
    TlsClosed,
    TlsEstablished,
    TlsFailed,
    TlsFilter,
)
from pyser2net.runtime.tlsconfig import TlsSetupError, client_tls, server_tls

from tlsfiles import TlsFiles

ALL_BYTES = bytes(range(256)) * 4


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return TlsFiles(tmp_path_factory.mktemp("tls"))


def server_settings(files: TlsFiles, **kw: object) -> SslSettings:
    return SslSettings(key=str(files.server.key), cert=str(files.server.cert), **kw)  # type: ignore[arg-type]


def client_filter(
    files: TlsFiles, ca: Optional[Path] = None, me: Optional[Tuple[Path, Path]] = None
) -> TlsFilter:
    settings = SslSettings(
        ca=str(ca or files.ca_pem), key=str(me[0]) if me else None, cert=str(me[1]) if me else None
    )
    return client_tls(settings).new_filter("127.0.0.1")


class Pair:
    """A client and a server filter joined by two in-memory wires."""

    def __init__(self, client: TlsFilter, server: TlsFilter, piece: int = 1 << 20) -> None:
        self.client, self.server = client, server
        self.piece = piece
        self.to_server = bytearray(client.start())
        self.to_client = bytearray(server.start())
        self.client_events: List[Event] = []
        self.server_events: List[Event] = []

    def pump(self, rounds: int = 20) -> None:
        for _ in range(rounds):
            moved = False
            for wire, f, events, back in (
                (self.to_server, self.server, self.server_events, self.to_client),
                (self.to_client, self.client, self.client_events, self.to_server),
            ):
                while wire:
                    chunk = bytes(wire[: self.piece])
                    del wire[: self.piece]
                    events.extend(f.receive(chunk))
                    back += f.data_to_send()
                    moved = True
            if not moved:
                return

    def server_data(self) -> bytes:
        return b"".join(e.data for e in self.server_events if isinstance(e, Data))

    def client_data(self) -> bytes:
        return b"".join(e.data for e in self.client_events if isinstance(e, Data))

    def failures(self, events: List[Event]) -> List[str]:
        return [e.reason for e in events if isinstance(e, TlsFailed)]


def test_handshake_then_exact_bytes_both_ways(files: TlsFiles) -> None:
    pair = Pair(client_filter(files), server_tls(server_settings(files)).new_filter())
    pair.pump()
    assert any(isinstance(e, TlsEstablished) for e in pair.server_events)
    est = [e for e in pair.client_events if isinstance(e, TlsEstablished)][0]
    assert est.version in ("TLSv1.2", "TLSv1.3")
    pair.to_server += pair.client.send(ALL_BYTES)
    pair.to_client += pair.server.send(b"\xff\xfe\x00reply\xff")
    pair.pump()
    assert pair.server_data() == ALL_BYTES
    assert pair.client_data() == b"\xff\xfe\x00reply\xff"
    # Encrypted on the wire: the payload does not appear in clear.
    wire = pair.client.send(b"SECRET-PAYLOAD" * 10)
    assert b"SECRET-PAYLOAD" not in wire and len(wire) > 140


def test_one_byte_at_a_time_loses_nothing(files: TlsFiles) -> None:
    """Records split anywhere: each piece is decrypted as soon as it completes
    a record, and nothing stays inside OpenSSL waiting for another read."""
    pair = Pair(client_filter(files), server_tls(server_settings(files)).new_filter(), piece=1)
    pair.pump(rounds=200)
    pair.to_server += pair.client.send(b"a\xffb")
    pair.pump(rounds=200)
    assert pair.server_data() == b"a\xffb"


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(payload=st.binary(min_size=1, max_size=70000), piece=st.integers(1, 40000))
def test_any_payload_in_any_pieces(files: TlsFiles, payload: bytes, piece: int) -> None:
    pair = Pair(client_filter(files), server_tls(server_settings(files)).new_filter(), piece)
    pair.pump(rounds=400)
    pair.to_server += pair.client.send(payload)
    pair.to_client += pair.server.send(payload[::-1])
    pair.pump(rounds=400)
    assert pair.server_data() == payload
    assert pair.client_data() == payload[::-1]


def test_data_sent_before_the_handshake_follows_it(files: TlsFiles) -> None:
    server = server_tls(server_settings(files)).new_filter()
    pair = Pair(client_filter(files), server)
    assert server.send(b"banner\r\n") == b""  # held, not sent in clear
    pair.to_server += pair.client.send(b"early")
    pair.pump()
    assert pair.client_data() == b"banner\r\n"
    assert pair.server_data() == b"early"


def test_data_in_the_same_read_as_the_handshake_end_comes_out_at_once(files: TlsFiles) -> None:
    """A client may send data right behind its Finished; the server filter
    returns it from the same receive that completes the handshake."""
    client = client_filter(files)
    server = server_tls(server_settings(files)).new_filter()
    hello = client.start()
    events = server.receive(hello)
    client.receive(server.data_to_send())
    tail = client.data_to_send() + client.send(b"right away")
    events = server.receive(tail)
    assert isinstance(events[0], TlsEstablished)
    assert events[1:] == [Data(b"right away")]


def test_close_notify_ends_the_peer_s_data(files: TlsFiles) -> None:
    pair = Pair(client_filter(files), server_tls(server_settings(files)).new_filter())
    pair.pump()
    pair.to_server += pair.client.send(b"last") + pair.client.close()
    pair.pump()
    assert pair.server_data() == b"last"
    assert isinstance(pair.server_events[-1], TlsClosed)


def test_plain_text_is_refused_with_a_reason(files: TlsFiles) -> None:
    server = server_tls(server_settings(files)).new_filter()
    events = server.receive(b"hello in clear text\r\n")
    assert events == [TlsFailed("not a TLS client (plain text on a TLS port?)")]
    assert server.receive(b"more") == [] and server.send(b"x") == b""


def test_http_on_a_tls_port(files: TlsFiles) -> None:
    server = server_tls(server_settings(files)).new_filter()
    events = server.receive(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert [type(e) for e in events] == [TlsFailed]
    assert "not a TLS client" in events[0].reason  # type: ignore[attr-defined]


def test_a_client_that_does_not_trust_the_server(files: TlsFiles) -> None:
    other = files.other_ca("stranger")
    del other
    pair = Pair(
        client_filter(files, ca=files.root / "stranger.pem"),
        server_tls(server_settings(files)).new_filter(),
    )
    pair.pump()
    assert pair.failures(pair.client_events) == [
        "server certificate did not verify: unable to get local issuer certificate"
    ]
    assert pair.failures(pair.server_events) == [
        "the peer does not trust our certificate (unknown CA)"
    ]


def sni_server(files: TlsFiles, seen: List[Optional[str]]) -> TlsFilter:
    """A server filter that records the name each client asked for."""
    tls = server_tls(server_settings(files))
    tls.context.sni_callback = lambda obj, name, ctx: seen.append(name)  # type: ignore[assignment,misc,return-value]
    return tls.new_filter()


def test_a_connector_sends_the_host_as_server_name(files: TlsFiles) -> None:
    """SNI carries the connector's host, so a name-based TLS service picks
    the right certificate; with CA= the name is not matched (as gensio)."""
    seen: List[Optional[str]] = []
    client = client_tls(SslSettings(ca=str(files.ca_pem))).new_filter("serial.example")
    pair = Pair(client, sni_server(files, seen))
    pair.pump()
    assert seen == ["serial.example"]
    assert any(isinstance(e, TlsEstablished) for e in pair.client_events)


def test_with_the_system_cas_the_name_must_match(
    files: TlsFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without CA= any publicly issued certificate would verify, so the
    server's certificate must then be for the host connected to."""
    monkeypatch.setenv("SSL_CERT_FILE", str(files.ca_pem))  # the "system" CAs
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    system = client_tls(SslSettings())
    good = Pair(system.new_filter("127.0.0.1"), server_tls(server_settings(files)).new_filter())
    good.pump()
    assert any(isinstance(e, TlsEstablished) for e in good.client_events)
    wrong = Pair(
        system.new_filter("other.example"), server_tls(server_settings(files)).new_filter()
    )
    wrong.pump()
    failures = wrong.failures(wrong.client_events)
    assert len(failures) == 1
    assert failures[0].startswith("server certificate did not verify: Hostname mismatch")


def test_tls_1_1_is_refused(files: TlsFiles) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = ssl.TLSVersion.TLSv1
            context.maximum_version = ssl.TLSVersion.TLSv1_1
        context.set_ciphers("ALL:@SECLEVEL=0")
    except (ValueError, ssl.SSLError) as exc:
        pytest.skip(f"this OpenSSL cannot even offer TLS 1.1: {exc}")
    old = TlsFilter(context, server_side=False, server_hostname="127.0.0.1")
    pair = Pair(old, server_tls(server_settings(files)).new_filter())
    pair.pump()
    assert pair.failures(pair.server_events) == ["the peer offers only TLS versions older than 1.2"]
    assert not any(isinstance(e, TlsEstablished) for e in pair.server_events)


# -- client certificates -----------------------------------------------------


def mtls(
    files: TlsFiles,
    me: Optional[Tuple[Path, Path]],
    *,
    authdir: Optional[Path] = None,
    ca: Optional[Path] = None,
    users: Optional[frozenset] = None,
) -> Pair:
    tls = server_tls(
        server_settings(files, ca=str(ca) if ca else None, clientauth=True),
        authdir=str(authdir) if authdir else None,
        allowed_users=users,
    )
    pair = Pair(client_filter(files, me=me), tls.new_filter())
    pair.pump()
    pair.to_server += pair.client.send(b"ping")
    pair.pump()
    return pair


def test_client_certificate_from_ca(files: TlsFiles) -> None:
    alice = files.user("alice")
    pair = mtls(files, (alice.key, alice.cert), ca=files.ca_pem)
    est = [e for e in pair.server_events if isinstance(e, TlsEstablished)]
    assert est and est[0].peer_cn == "alice"
    assert pair.server_data() == b"ping"


def test_no_client_certificate(files: TlsFiles) -> None:
    pair = mtls(files, None, ca=files.ca_pem)
    assert pair.failures(pair.server_events) == ["no client certificate (clientauth needs one)"]
    assert pair.server_data() == b""


def test_client_certificate_from_another_ca(files: TlsFiles) -> None:
    mallory = files.user("mallory", files.other_ca("evil"))
    pair = mtls(files, (mallory.key, mallory.cert), ca=files.ca_pem)
    assert pair.failures(pair.server_events) == [
        "client certificate did not verify: unable to get local issuer certificate"
    ]
    assert pair.server_data() == b""


def test_authdir_decides_for_a_user_with_a_directory(files: TlsFiles, tmp_path: Path) -> None:
    """ser2net's layout: the CA of bob's directory lets bob in, and CA= no
    longer counts for bob."""
    authdir = tmp_path / "auth"
    bob_ca = files.other_ca("bobs-ca")
    files.allow(authdir, "bob", files.root / "bobs-ca.pem")
    bob = files.user("bob", bob_ca)
    pair = mtls(files, (bob.key, bob.cert), authdir=authdir, ca=files.ca_pem)
    assert pair.server_data() == b"ping"
    # bob with a certificate from CA= (not in his directory): refused.
    bob_from_ca = files.identity("bob2", files.ca, "bob.example", common_name="bob")
    pair = mtls(files, (bob_from_ca.key, bob_from_ca.cert), authdir=authdir, ca=files.ca_pem)
    assert pair.failures(pair.server_events) == [
        f"certificate of 'bob' does not lead to one in {authdir}/bob/allowed_certs/"
    ]
    assert pair.server_data() == b""


def test_another_users_directory_does_not_let_anyone_in(files: TlsFiles, tmp_path: Path) -> None:
    """Carol's CA sits in bob's directory: it is trusted for bob only."""
    authdir = tmp_path / "auth"
    shared = files.other_ca("shared")
    files.allow(authdir, "bob", files.root / "shared.pem")
    carol = files.user("carol", shared)
    pair = mtls(files, (carol.key, carol.cert), authdir=authdir, ca=files.ca_pem)
    assert pair.failures(pair.server_events) == [
        f"no {authdir}/carol/allowed_certs/ for 'carol', and its certificate is not from CA="
    ]


def test_self_signed_certificate_in_the_users_directory(files: TlsFiles, tmp_path: Path) -> None:
    """gtlssh-keygen's self-signed certificates, the layout ser2net documents."""
    authdir = tmp_path / "auth"
    dave = files.self_signed("dave")
    files.allow(authdir, "dave", dave.cert)
    pair = mtls(files, (dave.key, dave.cert), authdir=authdir)
    assert pair.server_data() == b"ping"
    # Another self-signed "dave" is not the one allowed.
    impostor = TlsFiles(tmp_path / "other").self_signed("dave")
    pair = mtls(files, (impostor.key, impostor.cert), authdir=authdir)
    assert pair.server_data() == b""
    assert pair.failures(pair.server_events)


def test_allowed_users_is_enforced_on_the_cn(files: TlsFiles) -> None:
    alice = files.user("alice")
    pair = mtls(files, (alice.key, alice.cert), ca=files.ca_pem, users=frozenset({"bob"}))
    assert pair.failures(pair.server_events) == ["user 'alice' is not in allowed-users"]
    pair = mtls(files, (alice.key, alice.cert), ca=files.ca_pem, users=frozenset({"bob", "alice"}))
    assert pair.server_data() == b"ping"


def test_policy_without_a_chain() -> None:
    assert ClientCertPolicy(authdir="/a").check("x", None) == "no verified certificate chain"


# -- setting up ----------------------------------------------------------------


def test_missing_key(files: TlsFiles, tmp_path: Path) -> None:
    with pytest.raises(TlsSetupError) as info:
        server_tls(SslSettings(key=str(tmp_path / "nokey.pem"), cert=str(files.server.cert)))
    assert str(info.value) == (
        f"cannot read key file {tmp_path}/nokey.pem: No such file or directory"
    )


def test_key_of_another_certificate(files: TlsFiles) -> None:
    other = files.user("zed")
    with pytest.raises(TlsSetupError) as info:
        server_tls(SslSettings(key=str(other.key), cert=str(files.server.cert)))
    assert str(info.value) == (
        f"key file {other.key} does not match certificate {files.server.cert}"
    )


def test_certificate_file_without_certificate(files: TlsFiles) -> None:
    with pytest.raises(TlsSetupError) as info:
        server_tls(SslSettings(key=str(files.server.key), cert=str(files.server.key)))
    assert str(info.value) == f"certificate file {files.server.key} holds no certificate (PEM)"


def test_key_and_certificate_in_one_file(files: TlsFiles) -> None:
    assert server_tls(SslSettings(key=str(files.server.both), cert=None)).policy is None


def test_unreadable_ca(files: TlsFiles, tmp_path: Path) -> None:
    with pytest.raises(TlsSetupError) as info:
        server_tls(server_settings(files, ca=str(tmp_path / "none.pem"), clientauth=True))
    assert "cannot read CA file" in str(info.value)


def test_expired_and_near_expiry_certificates_warn(files: TlsFiles) -> None:
    soon = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=3)
    near = files.identity("near", None, "127.0.0.1", not_after=soon)
    tls = server_tls(SslSettings(key=str(near.key), cert=str(near.cert)))
    assert tls.warnings == [f"certificate {near.cert} expires on {soon:%Y-%m-%d}"]
    later = soon + datetime.timedelta(days=10)
    tls = server_tls(SslSettings(key=str(near.key), cert=str(near.cert)), now=later)
    assert tls.warnings[0].startswith(f"certificate {near.cert} expired on {soon:%Y-%m-%d}")
    assert server_tls(server_settings(files)).warnings == []


def test_clientauth_with_nothing_to_trust_warns(files: TlsFiles, tmp_path: Path) -> None:
    tls = server_tls(server_settings(files, clientauth=True), authdir=str(tmp_path / "none"))
    assert "every client will be refused" in tls.warnings[0]
