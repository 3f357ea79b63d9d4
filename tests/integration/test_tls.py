"""TLS ports with real clients and certificates made at test time.

Clients: Python's ssl module, ``openssl s_client``, ``socat OPENSSL:``,
``gensiot ssl(...)`` and ``gensiot telnet(rfc2217),ssl(...)``.  Devices are
ptys; every byte value goes both ways, and refusals are checked in the log.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import termios
import time
import warnings
from pathlib import Path
from typing import List, Optional, Tuple

import pytest

from helpers import (
    connect,
    daemon,
    free_port,
    recv_exact,
    round_trip_through,
    wait_until,
)
from tlsfiles import Identity, TlsFiles

ALL = bytes(range(256))


@pytest.fixture
def files(tmp_path: Path) -> TlsFiles:
    return TlsFiles(tmp_path / "tls")


def tls_config(
    files: TlsFiles,
    port: int,
    device: str,
    layers: str = "",
    ssl_options: str = "",
    options: str = "",
) -> str:
    opts = f"key={files.server.key},cert={files.server.cert}" + ssl_options
    text = (
        f"connection: &tls\n"
        f"  accepter: {layers}ssl({opts}),tcp,127.0.0.1,{port}\n"
        f"  connector: serialdev,{device},9600n81,local\n"
    )
    if options:
        text += "  options:\n" + "".join(f"    {line}\n" for line in options.splitlines())
    return text


def tls_connect(
    files: TlsFiles, port: int, me: Optional[Identity] = None, ca: Optional[Path] = None
) -> ssl.SSLSocket:
    context = ssl.create_default_context(cafile=str(ca or files.ca_pem))
    if me is not None:
        context.load_cert_chain(str(me.cert), str(me.key))
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    return context.wrap_socket(raw, server_hostname="127.0.0.1")


def log_of(proc: subprocess.Popen) -> str:
    return Path(proc.log_path).read_text(errors="replace")  # type: ignore[attr-defined]


def test_python_client_every_byte_both_ways(tmp_path, files, pty_pair):
    port = free_port()
    with daemon(tls_config(files, port, pty_pair.path), tmp_path, [port]):
        with tls_connect(files, port) as tls:
            assert tls.version() in ("TLSv1.2", "TLSv1.3")
            tls.sendall(ALL)
            assert pty_pair.read(256) == ALL
            pty_pair.write(ALL[::-1])
            assert recv_exact(tls, 256) == ALL[::-1]  # type: ignore[arg-type]


def test_tls_1_1_client_is_refused(tmp_path, files, pty_pair):
    port = free_port()
    with daemon(tls_config(files, port, pty_pair.path), tmp_path, [port]):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                context.maximum_version = ssl.TLSVersion.TLSv1_1
            context.set_ciphers("ALL:@SECLEVEL=0")
        except (ValueError, ssl.SSLError) as exc:
            pytest.skip(f"this OpenSSL cannot offer TLS 1.1: {exc}")
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with pytest.raises((ssl.SSLError, OSError)):
                context.wrap_socket(raw, server_hostname="127.0.0.1")


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_openssl_s_client(tmp_path, files, pty_pair):
    port = free_port()
    with daemon(tls_config(files, port, pty_pair.path), tmp_path, [port]):
        round_trip_through(
            [
                "openssl",
                "s_client",
                "-quiet",
                "-verify_return_error",
                "-CAfile",
                str(files.ca_pem),
                "-connect",
                f"127.0.0.1:{port}",
            ],
            pty_pair,
            b"from s_client \xff\x00",
            b"to s_client \xff",
        )


@pytest.mark.skipif(shutil.which("socat") is None, reason="socat is not installed")
def test_socat_openssl(tmp_path, files, pty_pair):
    port = free_port()
    with daemon(tls_config(files, port, pty_pair.path), tmp_path, [port]):
        round_trip_through(
            ["socat", "-", f"OPENSSL:127.0.0.1:{port},cafile={files.ca_pem}"],
            pty_pair,
            ALL,
            b"to socat \xff\xfe",
        )


def gensiot(stack: str) -> List[str]:
    return ["gensiot", "-i", "stdio(self)", stack]


@pytest.mark.skipif(shutil.which("gensiot") is None, reason="gensiot (gensio-bin) is not installed")
def test_gensiot_ssl(tmp_path, files, pty_pair):
    port = free_port()
    with daemon(tls_config(files, port, pty_pair.path), tmp_path, [port]):
        round_trip_through(
            gensiot(f"ssl(CA={files.ca_pem}),tcp,127.0.0.1,{port}"),
            pty_pair,
            b"from gensiot \xff end",
            b"to gensiot \xff",
        )


@pytest.mark.skipif(shutil.which("gensiot") is None, reason="gensiot (gensio-bin) is not installed")
def test_gensiot_telnet_rfc2217_over_ssl_with_a_client_certificate(tmp_path, files, pty_pair):
    port = free_port()
    alice = files.user("alice")
    config = tls_config(
        files,
        port,
        pty_pair.path,
        layers="telnet(rfc2217),",
        ssl_options=f",CA={files.ca_pem},clientauth",
    )
    with daemon(config, tmp_path, [port]):
        round_trip_through(
            gensiot(
                f"telnet(rfc2217),ssl(CA={files.ca_pem},key={alice.key},"
                f"cert={alice.cert}),tcp,127.0.0.1,{port}"
            ),
            pty_pair,
            b"telnet \xff over tls",
            b"back \xff\xff",
        )


IAC, WILL, DO, SB, SE, COM_PORT, SET_BAUDRATE = 255, 251, 253, 250, 240, 44, 1


def test_rfc2217_baud_change_over_tls(tmp_path, files, pty_pair):
    """An RFC 2217 SET-BAUDRATE sent inside TLS reaches the device."""
    port = free_port()
    config = tls_config(files, port, pty_pair.path, layers="telnet(rfc2217),")
    with daemon(config, tmp_path, [port]):
        with tls_connect(files, port) as tls:
            tls.sendall(bytes([IAC, WILL, COM_PORT]))
            tls.sendall(
                bytes([IAC, SB, COM_PORT, SET_BAUDRATE])
                + (57600).to_bytes(4, "big")
                + bytes([IAC, SE])
            )
            answer = bytes([IAC, SB, COM_PORT, 100 + SET_BAUDRATE]) + (57600).to_bytes(4, "big")
            seen = b""
            deadline = time.monotonic() + 5
            while answer not in seen and time.monotonic() < deadline:
                tls.settimeout(max(0.1, deadline - time.monotonic()))
                seen += tls.recv(4096)
            assert answer in seen
            assert wait_until(
                lambda: termios.tcgetattr(pty_pair.slave)[4] == termios.B57600, timeout=5
            )
            tls.sendall(b"data \xff\xff")  # an escaped 0xFF: one byte on the device
            assert pty_pair.read(6) == b"data \xff"


# -- refusals ---------------------------------------------------------------------


def echo_port(port: int) -> str:
    return f"connection: &plain\n  accepter: tcp,127.0.0.1,{port}\n  connector: echo\n"


def refused(
    files: TlsFiles, port: int, me: Optional[Identity] = None, ca: Optional[Path] = None
) -> Tuple[bool, str]:
    """Whether a client gets service; a refused one fails its handshake or
    is closed before any data comes back."""
    try:
        with tls_connect(files, port, me, ca) as tls:
            tls.sendall(b"ping")
            tls.settimeout(3)
            data = tls.recv(10)
            return (not data), ""
    except (ssl.SSLError, OSError) as exc:
        return True, str(exc)


def mtls_config(files: TlsFiles, port: int, other: int, authdir: Path, users: str = "") -> str:
    text = (
        f"connection: &mtls\n"
        f"  accepter: ssl(key={files.server.key},cert={files.server.cert},"
        f"CA={files.ca_pem},clientauth),tcp,127.0.0.1,{port}\n"
        f"  connector: echo\n"
        f"  options:\n    authdir: {authdir}\n"
    )
    if users:
        text += f"    allowed-users: {users}\n"
    return text + echo_port(other)


def test_refusals_are_logged_and_others_keep_working(tmp_path, files):
    port, other = free_port(), free_port()
    authdir = tmp_path / "auth"
    bob_ca = files.other_ca("bobs-ca")
    files.allow(authdir, "bob", files.root / "bobs-ca.pem")
    alice = files.user("alice")  # CA=, no directory: let in
    bob = files.user("bob", bob_ca)  # his directory: let in
    bob_wrong = files.identity("bob-ca", files.ca, "b.example", common_name="bob")
    mallory = files.user("mallory", files.other_ca("evil"))
    carol = files.user("carol")  # CA= but not in allowed-users
    with daemon(
        mtls_config(files, port, other, authdir, "alice bob"), tmp_path, [port, other]
    ) as proc:
        plain = connect(other)
        plain.sendall(b"x")
        assert recv_exact(plain, 1) == b"x"
        assert refused(files, port, alice) == (False, "")
        assert refused(files, port, bob) == (False, "")
        for who in (None, bob_wrong, mallory, carol):
            assert refused(files, port, who)[0], who
        assert refused(files, port, alice, ca=files.root / "evil.pem")[0]  # wrong CA
        raw = connect(port)
        raw.sendall(b"hello in clear\r\n")
        raw.settimeout(5)
        assert raw.recv(100) == b""
        raw.close()
        plain.sendall(b"y")  # the plain port never noticed
        assert recv_exact(plain, 1) == b"y"
        plain.close()

        def logged() -> str:
            return log_of(proc)

        assert wait_until(lambda: "not a TLS client" in logged(), timeout=5)
        text = logged()
    assert "mtls: refused 127.0.0.1," in text
    assert "no client certificate (clientauth needs one)" in text
    assert f"certificate of 'bob' does not lead to one in {authdir}/bob/allowed_certs/" in text
    assert "client certificate did not verify: unable to get local issuer certificate" in text
    assert "user 'carol' is not in allowed-users" in text
    assert "the peer does not trust our certificate (unknown CA)" in text


def test_a_silent_client_does_not_hold_up_anyone(tmp_path, files, pty_pair):
    port, other = free_port(), free_port()
    config = tls_config(files, port, pty_pair.path) + echo_port(other)
    with daemon(config, tmp_path, [port, other]):
        silent = [connect(port) for _ in range(5)]  # TCP only, never a ClientHello
        try:
            with tls_connect(files, port) as tls:  # the TLS port itself still serves
                tls.sendall(b"ok")
                assert pty_pair.read(2) == b"ok"
            plain = connect(other)
            for i in range(50):
                plain.sendall(bytes([i]))
                assert recv_exact(plain, 1) == bytes([i])
            plain.close()
        finally:
            for s in silent:
                s.close()


def test_sighup_loads_new_certificates_and_keeps_sessions(tmp_path, files, pty_pair):
    port = free_port()
    config = tls_config(files, port, pty_pair.path, options="max-connections: 3")
    with daemon(config, tmp_path, [port]) as proc:
        old = tls_connect(files, port)
        old.sendall(b"a")
        assert pty_pair.read(1) == b"a"
        # A renewed certificate from another CA, written over the same files.
        renewed = TlsFiles(tmp_path / "renewed")
        shutil.copy(renewed.server.key, files.server.key)
        shutil.copy(renewed.server.cert, files.server.cert)
        os.kill(proc.pid, signal.SIGHUP)
        assert wait_until(lambda: "reloaded" in log_of(proc), timeout=30)
        with tls_connect(files, port, ca=renewed.ca_pem) as new:
            new.sendall(b"b")
            assert pty_pair.read(1) == b"b"
        assert refused(files, port)[0]  # the old CA no longer matches
        old.sendall(b"c")  # the session that was up keeps its keys
        assert pty_pair.read(1) == b"c"
        old.close()


def test_missing_key_names_the_file_and_the_connection(tmp_path, files, pty_pair):
    port, other = free_port(), free_port()
    config = (
        f"connection: &tls\n"
        f"  accepter: ssl(key={tmp_path}/none.key,cert={files.server.cert}),"
        f"tcp,127.0.0.1,{port}\n"
        f"  connector: echo\n"
    ) + echo_port(other)
    with daemon(config, tmp_path, [other]) as proc:
        assert wait_until(lambda: "none.key" in log_of(proc), timeout=5)
        text = log_of(proc)
        with pytest.raises(OSError):
            connect(port, timeout=1).close()  # not served at all, never in clear
    assert re.search(
        rf"config\d+\.yaml:1:\d+: tls: cannot read key file {tmp_path}/none\.key: "
        "No such file or directory",
        text,
    ), text


def test_admin_port_over_tls(tmp_path, files):
    port, admin = free_port(), free_port()
    config = echo_port(port) + (
        f"admin:\n  accepter: ssl(key={files.server.key},"
        f"cert={files.server.cert}),tcp,127.0.0.1,{admin}\n"
    )
    with daemon(config, tmp_path, [port, admin]):
        with tls_connect(files, admin) as tls:
            tls.sendall(b"showshortport\r\n")
            seen = b""
            deadline = time.monotonic() + 5
            while b"plain" not in seen and time.monotonic() < deadline:
                tls.settimeout(max(0.1, deadline - time.monotonic()))
                seen += tls.recv(4096)
            assert b"plain" in seen


def test_rotator_over_tls_checks_its_own_allowed_users(tmp_path, files):
    """A rotator's ssl accepter lets in the rotator's allowed-users (not its
    connections'), serves them through a connection, and refuses others."""
    port, rot = free_port(), free_port()
    alice, carol = files.user("alice"), files.user("carol")
    config = echo_port(port) + (
        f"rotator: &r\n"
        f"  accepter: ssl(key={files.server.key},cert={files.server.cert},"
        f"CA={files.ca_pem},clientauth),tcp,127.0.0.1,{rot}\n"
        f"  connections: [ *plain ]\n"
        f"  options:\n    authdir: {tmp_path / 'auth'}\n    allowed-users: alice\n"
    )
    with daemon(config, tmp_path, [port, rot]) as proc:
        with tls_connect(files, rot, alice) as tls:
            tls.sendall(ALL)
            assert recv_exact(tls, len(ALL)) == ALL
        assert refused(files, rot, carol)[0]
        assert wait_until(lambda: "not in allowed-users" in log_of(proc), timeout=5)
    assert "user 'carol' is not in allowed-users" in log_of(proc)
