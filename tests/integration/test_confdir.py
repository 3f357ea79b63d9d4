"""ser2net 4.5's command line: ``-C DIR`` (the configuration directory),
``-a`` and ``-A`` (authentication directories), next to ser2net 4.3's
``-C LINE``, which is still a legacy configuration line."""

from __future__ import annotations

import contextlib
import shutil
import socket
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Iterator, List, Optional

import pytest

from helpers import ROOT, free_port, recv_exact, stop_process, wait_for_port
from tlsfiles import Identity, TlsFiles


@pytest.fixture
def files(tmp_path: Path) -> TlsFiles:
    return TlsFiles(tmp_path / "tls")


@contextlib.contextmanager
def run(args: List[str], tmp_path: Path, ports: List[int]) -> Iterator[subprocess.Popen]:
    log = open(tmp_path / "daemon.log", "wb")
    argv = [sys.executable, "-m", "pyser2net", "-n", "-d", "-u"] + args
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=str(ROOT))
    try:
        for port in ports:
            wait_for_port(port, proc=proc)
        yield proc
    finally:
        stop_process(proc)
        log.close()


def tls_client(files: TlsFiles, port: int, me: Optional[Identity] = None) -> ssl.SSLSocket:
    context = ssl.create_default_context(cafile=str(files.ca_pem))
    if me is not None:
        context.load_cert_chain(str(me.cert), str(me.key))
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    return context.wrap_socket(raw, server_hostname="127.0.0.1")


def let_in(files: TlsFiles, port: int, me: Identity) -> bool:
    """Whether the daemon serves a client with this certificate (echo answers)."""
    try:
        with tls_client(files, port, me) as tls:
            tls.sendall(b"ping")
            return recv_exact(tls, 4) == b"ping"  # type: ignore[arg-type]
    except (ssl.SSLError, OSError, TimeoutError):
        return False


def test_C_dir_is_where_the_file_and_the_tls_key_are(tmp_path, files, pty_pair) -> None:
    confdir = tmp_path / "etc-ser2net"
    confdir.mkdir()
    shutil.copy(files.server.key, confdir / "ser2net.key")
    shutil.copy(files.server.cert, confdir / "ser2net.crt")
    port = free_port()
    (confdir / "ser2net.yaml").write_text(
        f"connection: &tls\n  accepter: ssl,tcp,127.0.0.1,{port}\n"
        f"  connector: serialdev,{pty_pair.path},9600n81,local\n"
    )
    with run(["-C", str(confdir)], tmp_path, [port]):
        with tls_client(files, port) as tls:
            tls.sendall(b"through the default key")
            assert pty_pair.read(23) == b"through the default key"


def test_check_reads_the_directorys_file(tmp_path) -> None:
    confdir = tmp_path / "conf"
    confdir.mkdir()
    (confdir / "ser2net.yaml").write_text(
        "connection: &e\n  accepter: tcp,127.0.0.1,3999\n  connector: echo\n"
    )
    out = subprocess.run(
        [sys.executable, "-m", "pyser2net", "--check", "-C", str(confdir)],
        capture_output=True,
        timeout=60,
        cwd=str(ROOT),
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.decode().endswith(f"{confdir}/ser2net.yaml: configuration OK\n")


def test_C_without_colon_must_be_a_directory(tmp_path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "pyser2net", "-n", "-C", str(tmp_path / "missing")],
        capture_output=True,
        timeout=60,
        cwd=str(ROOT),
    )
    assert out.returncode == 2
    assert out.stderr.decode() == (
        f"pyser2net: Invalid value for -C: '{tmp_path}/missing' is not a directory "
        "(a legacy configuration line has ':' in it) (try --help)\n"
    )


def test_C_line_and_C_dir_together(tmp_path, pty_pair) -> None:
    """A legacy line is still a line; the directory only sets defaults then."""
    confdir = tmp_path / "conf"
    confdir.mkdir()
    port = free_port()
    line = f"127.0.0.1,{port}:raw:0:{pty_pair.path}:9600 LOCAL"
    with run(["-C", str(confdir), "-C", line], tmp_path, [port]):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"legacy")
            assert pty_pair.read(6) == b"legacy"


def mtls(files: TlsFiles, port: int, what: str) -> str:
    key = f"key={files.server.key},cert={files.server.cert},CA={files.ca_pem},clientauth"
    if what == "admin":
        return f"admin: &ctl\n  accepter: ssl({key}),tcp,127.0.0.1,{port}\n"
    return f"connection: &m\n  accepter: ssl({key}),tcp,127.0.0.1,{port}\n  connector: echo\n"


@pytest.mark.parametrize("flag", ["-a", "-A"])
def test_auth_directories(tmp_path, files, flag: str) -> None:
    """``-a`` is where connections look for ``<user>/allowed_certs/``; ``-A``
    where the admin port does.  bob's certificate is from a CA only his
    directory trusts, so he is let in only when the flag names it."""
    authdir = tmp_path / "auth"
    bobs_ca = files.other_ca("bobs-ca")
    files.allow(authdir, "bob", files.root / "bobs-ca.pem")
    bob = files.user("bob", bobs_ca)
    port = free_port()
    config = tmp_path / "c.yaml"
    if flag == "-a":
        config.write_text(mtls(files, port, "conn"))
    else:
        echo = free_port()
        config.write_text(
            mtls(files, port, "admin")
            + f"connection: &e\n  accepter: tcp,127.0.0.1,{echo}\n  connector: echo\n"
        )
    with run(["-c", str(config)], tmp_path, [port]):
        assert not let_in_any(files, port, bob, flag)
    with run(["-c", str(config), flag, str(authdir)], tmp_path, [port]):
        assert let_in_any(files, port, bob, flag)


def let_in_any(files: TlsFiles, port: int, me: Identity, flag: str) -> bool:
    if flag == "-a":
        return let_in(files, port, me)
    try:  # the admin port greets with its prompt
        with tls_client(files, port, me) as tls:
            return tls.recv(16) == b"-> "
    except (ssl.SSLError, OSError, TimeoutError):
        return False
