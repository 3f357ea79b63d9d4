"""The same TLS configuration and authdir layout against ser2net and pyser2net:
the same clients get in and the same are refused.

Skipped when ser2net is not installed (CI installs it).
"""

from __future__ import annotations

import socket
import ssl
from pathlib import Path
from typing import Dict, List, Optional

import pytest

from helpers import daemon, free_port
from ser2net_helpers import IMPLEMENTATIONS, SER2NET
from tlsfiles import Identity, TlsFiles

needs_ser2net = pytest.mark.skipif(SER2NET is None, reason="ser2net is not installed")


def served(files: TlsFiles, port: int, me: Optional[Identity], ca: Optional[Path] = None) -> bool:
    """Whether an echo comes back through TLS for this client."""
    context = ssl.create_default_context(cafile=str(ca or files.ca_pem))
    context.check_hostname = False  # gensio does not match names either
    if me is not None:
        context.load_cert_chain(str(me.cert), str(me.key))
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                tls.settimeout(5)
                tls.sendall(b"ping \xff")
                got = b""
                while len(got) < 6:
                    chunk = tls.recv(100)
                    if not chunk:
                        break
                    got += chunk
                return got == b"ping \xff"
    except (ssl.SSLError, OSError):
        return False


def scenario(
    command: List[str],
    tmp_path: Path,
    files: TlsFiles,
    people: Dict[str, Optional[Identity]],
    authdir: Path,
    legacy: bool = False,
) -> Dict[str, bool]:
    port = free_port()
    tmp_path.mkdir(parents=True, exist_ok=True)
    accepter = (
        f"ssl(key={files.server.key},cert={files.server.cert},"
        f"CA={files.ca_pem},clientauth),tcp,127.0.0.1,{port}"
    )
    if legacy:
        config = f"{accepter}:raw:0:echo:max-connections=4 authdir={authdir}\n"
    else:
        config = (
            f"connection: &tls\n"
            f"  accepter: {accepter}\n"
            f"  connector: echo\n"
            f"  options:\n    authdir: {authdir}\n    max-connections: 4\n"
        )
    suffix = ".conf" if legacy else ".yaml"
    with daemon(config, tmp_path, [port], suffix=suffix, command=command):
        seen = {name: served(files, port, who) for name, who in people.items()}
        seen["wrong CA on the client"] = served(
            files, port, people["alice (self-signed)"], ca=files.root / "evil.pem"
        )
        raw = socket.create_connection(("127.0.0.1", port), timeout=5)
        raw.sendall(b"plain text\r\n")
        raw.settimeout(5)
        try:
            seen["plain text gets bytes back"] = b"plain" in raw.recv(100)
        except OSError:
            seen["plain text gets bytes back"] = False
        raw.close()
    return seen


@needs_ser2net
@pytest.mark.parametrize("legacy", [False, True], ids=["yaml", "legacy ser2net.conf"])
def test_same_clients_succeed_and_fail(tmp_path: Path, legacy: bool) -> None:
    files = TlsFiles(tmp_path / "tls")
    files.other_ca("evil")
    authdir = tmp_path / "auth"
    alice = files.self_signed("alice")
    files.allow(authdir, "alice", alice.cert)
    bobs_ca = files.other_ca("bobs-ca")
    files.allow(authdir, "bob", files.root / "bobs-ca.pem")
    people: Dict[str, Optional[Identity]] = {
        "alice (self-signed)": alice,
        "bob (his CA in his directory)": files.user("bob", bobs_ca),
        "bob with a certificate from CA=": files.identity(
            "bob2", files.ca, "b.example", common_name="bob"
        ),
        "mallory (unknown CA)": files.user("mallory", files.other_ca("evil")),
        "no certificate": None,
        "alice impostor (another self-signed alice)": TlsFiles(tmp_path / "other").self_signed(
            "alice"
        ),
    }
    ours = scenario(IMPLEMENTATIONS["pyser2net"], tmp_path / "ours", files, people, authdir, legacy)
    theirs = scenario(
        IMPLEMENTATIONS["ser2net"], tmp_path / "theirs", files, people, authdir, legacy
    )
    assert ours == theirs
    assert ours["alice (self-signed)"] and ours["bob (his CA in his directory)"]
    assert not any(v for k, v in ours.items() if not k.startswith(("alice (self", "bob (his")))


@needs_ser2net
def test_a_user_without_a_directory_is_checked_against_ca(tmp_path: Path) -> None:
    """The documented difference: ser2net looks only in the user's directory
    (and refuses carol, who has none); pyser2net then checks CA=."""
    files = TlsFiles(tmp_path / "tls")
    files.other_ca("evil")
    authdir = tmp_path / "auth"
    authdir.mkdir()
    people: Dict[str, Optional[Identity]] = {
        "alice (self-signed)": files.user("carol"),
        "no certificate": None,
    }
    ours = scenario(IMPLEMENTATIONS["pyser2net"], tmp_path / "ours", files, people, authdir)
    theirs = scenario(IMPLEMENTATIONS["ser2net"], tmp_path / "theirs", files, people, authdir)
    assert ours["alice (self-signed)"] and not theirs["alice (self-signed)"]
    assert not ours["no certificate"] and not theirs["no certificate"]
