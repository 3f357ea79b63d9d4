"""Client-certificate options in both dialects: ``authdir`` and
``allowed-users`` are served (ser2net 4.3 reads them in legacy files too),
and the gensio-only authentication (``pamauth``, certauth, mux,
``allow-authfail``, ``mode=client`` on an accepter) is an error that names
it and says what to use instead."""

from __future__ import annotations

import pytest

from pyser2net.config import ConfigError, load_text
from pyser2net.config.model import DEFAULT_AUTHDIR

SSL = "ssl(key=/k.pem,cert=/c.pem,clientauth),tcp,127.0.0.1,3001"
CONN = f"connection: &c\n  accepter: {SSL}\n  connector: echo\n"


def error_of(text: str, name: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_text(text, name)
    return str(info.value)


INSTEAD = "use ssl(clientauth) with the users' certificates in <authdir>/<user>/allowed_certs/"


@pytest.mark.parametrize(
    "text,where",
    [
        (CONN + "  options:\n    pamauth: login\n", "c.yaml:5:5:"),
        (
            CONN + f"rotator: &r\n  accepter: {SSL}\n  connections: [c]\n"
            "  options:\n    pamauth: login\n",
            "c.yaml:8:5:",
        ),
        (
            CONN + "admin:\n  accepter: tcp,127.0.0.1,3002\n  options:\n    pamauth-admin: login\n",
            "c.yaml:7:5:",
        ),
        ("default:\n  name: pamauth\n  value: login\n" + CONN, "c.yaml:2:3:"),
    ],
    ids=["connection", "rotator", "admin", "default"],
)
def test_pamauth_is_refused_in_yaml(text: str, where: str) -> None:
    message = error_of(text, "c.yaml")
    assert message.startswith(where), message
    assert "'pamauth" in message and "not supported by pyser2net" in message
    assert INSTEAD in message


def test_an_empty_pamauth_asks_for_nothing() -> None:
    config = load_text(CONN + "  options:\n    pamauth: ''\n", "c.yaml")
    assert config.connections[0].name == "c"


@pytest.mark.parametrize(
    "line,column",
    [
        (f"{SSL}:raw:0:echo:pamauth=login\n", 1),
        (f"DEFAULT:pamauth:login\n{SSL}:raw:0:echo:\n", 1),
    ],
)
def test_pamauth_is_refused_in_legacy_files(line: str, column: int) -> None:
    message = error_of(line, "c.conf")
    assert message.startswith("c.conf:1:"), message
    assert "pamauth" in message and INSTEAD in message


@pytest.mark.parametrize(
    "accepter,says",
    [
        (
            "certauth,ssl,tcp,3001",
            "'certauth' is valid for ser2net but not supported by pyser2net (for client "
            "authentication " + INSTEAD,
        ),
        ("mux,ssl,tcp,3001", "'mux' is valid for ser2net but not supported by pyser2net"),
        ("ssl(clientauth,allow-authfail),tcp,3001", "remove allow-authfail"),
        ("ssl(mode=client),tcp,3001", "an ssl accepter is always the TLS server"),
    ],
)
def test_gensio_only_authentication_names_the_layer(accepter: str, says: str) -> None:
    text = f"connection: &c\n  accepter: {accepter}\n  connector: echo\n"
    message = error_of(text, "c.yaml")
    assert message.startswith("c.yaml:2:"), message
    assert says in message


def test_legacy_port_lines_take_authdir_and_allowed_users() -> None:
    text = f"{SSL}:raw:0:echo:authdir=/etc/ser2net/auth allowed-users=alice allowed-users=bob\n"
    (conn,) = load_text(text, "c.conf").connections
    assert conn.options.authdir == "/etc/ser2net/auth"
    assert conn.options.allowed_users == ("alice", "bob")


def test_legacy_defaults_for_authdir_and_allowed_users() -> None:
    text = (
        "DEFAULT:authdir:/srv/auth\nDEFAULT:allowed-users:carol\n"
        f"{SSL}:raw:0:echo:allowed-users=dave\n"
        "DEFAULT:authdir-admin:/srv/admin-auth\nCONTROLPORT:127.0.0.1,3009\n"
    )
    config = load_text(text, "c.conf")
    (conn,) = config.connections
    assert conn.options.authdir == "/srv/auth"
    assert conn.options.allowed_users == ("carol", "dave")
    assert config.admin is not None and config.admin.authdir == "/srv/admin-auth"


def test_legacy_without_auth_options_keeps_ser2net_s_defaults() -> None:
    (conn,) = load_text(f"{SSL}:raw:0:echo:\n", "c.conf").connections
    assert conn.options.authdir == DEFAULT_AUTHDIR
    assert conn.options.allowed_users is None


def test_legacy_empty_authdir_is_an_error() -> None:
    message = error_of(f"{SSL}:raw:0:echo:authdir=\n", "c.conf")
    assert "option authdir needs a value" in message


def test_convert_keeps_the_client_certificate_settings() -> None:
    """A legacy file converted to YAML lets the same users in."""
    from pyser2net.config.convert import to_yaml

    text = (
        "DEFAULT:authdir-admin:/srv/admin-auth\nCONTROLPORT:127.0.0.1,3009\n"
        f"{SSL}:raw:0:echo:authdir=/etc/ser2net/auth allowed-users=alice allowed-users=bob\n"
    )
    legacy = load_text(text, "c.conf")
    converted = load_text(to_yaml(legacy), "c.yaml")
    assert converted.connections[0].options == legacy.connections[0].options
    assert converted.connections[0].options.allowed_users == ("alice", "bob")
    assert converted.admin is not None and converted.admin.authdir == "/srv/admin-auth"
    nobody = load_text(f"{SSL}:raw:0:echo:allowed-users=\n", "c.conf")
    assert nobody.connections[0].options.allowed_users == ()
    again = load_text(to_yaml(nobody), "c.yaml")
    assert again.connections[0].options.allowed_users == ()


def test_convert_keeps_a_rotator_s_client_certificate_settings() -> None:
    from pyser2net.config.convert import to_yaml

    text = CONN + (
        f"rotator: &r\n  accepter: {SSL.replace('3001', '3002')}\n  connections: [c]\n"
        "  options:\n    authdir: /srv/r\n    allowed-users: carol\n"
    )
    original = load_text(text, "c.yaml")
    (rotator,) = load_text(to_yaml(original), "again.yaml").rotators
    assert (rotator.authdir, rotator.allowed_users) == ("/srv/r", ("carol",))
