"""The ``ssl`` layer of accepters and connectors, as ser2net and gensio read it."""

from __future__ import annotations

from typing import Dict, Optional

import pytest

from pyser2net.config import ConfigError, load_text
from pyser2net.config.gensio import parse_layer, parse_ssl
from pyser2net.config.model import DEFAULT_TLS_CERT, DEFAULT_TLS_KEY, SslSettings


def ssl(
    text: str, where: str = "accepter", defaults: Optional[Dict[str, Optional[str]]] = None
) -> SslSettings:
    return parse_ssl(parse_layer(text, None), None, where, defaults)


def test_an_accepter_defaults_to_ser2nets_key_and_certificate() -> None:
    assert ssl("ssl") == SslSettings(key=DEFAULT_TLS_KEY, cert=DEFAULT_TLS_CERT)
    assert DEFAULT_TLS_KEY == "/etc/ser2net/ser2net.key"
    assert DEFAULT_TLS_CERT == "/etc/ser2net/ser2net.crt"


def test_options_are_read_with_any_key_case_and_quotes() -> None:
    got = ssl('ssl(key=/k.pem,cert=/c.pem,CA="/my CA/",clientauth)')
    assert got == SslSettings(key="/k.pem", cert="/c.pem", ca="/my CA/", clientauth=True)
    assert ssl("ssl(Ca=/ca.pem,clientauth=false)").ca == "/ca.pem"
    assert not ssl("ssl(clientauth=off)").clientauth


def test_empty_values_switch_off_as_in_gensio() -> None:
    """``cert=`` means the certificate is in the key file; ``CA=`` means none."""
    got = ssl("ssl(key=/both.pem,cert=,CA=)")
    assert (got.key, got.cert, got.ca) == ("/both.pem", None, None)


def test_defaults_apply_and_the_layer_wins() -> None:
    defaults = {"key": "/d.key", "cert": "/d.crt", "clientauth": "true", "ca": "/d/"}
    assert ssl("ssl", defaults=defaults) == SslSettings("/d.key", "/d.crt", "/d/", True)
    assert ssl("ssl(key=/k,clientauth=false)", defaults=defaults) == SslSettings(
        "/k", "/d.crt", "/d/", False
    )


def test_a_connector_has_no_key_unless_given() -> None:
    assert ssl("ssl(CA=/ca.pem)", "connector") == SslSettings(ca="/ca.pem")
    assert ssl("ssl", "connector") == SslSettings()
    assert ssl("ssl(key=/k,cert=/c)", "connector") == SslSettings(key="/k", cert="/c")


@pytest.mark.parametrize(
    "text,where,message",
    [
        (
            "ssl(allow-authfail)",
            "accepter",
            "ssl option 'allow-authfail' is not supported by "
            "pyser2net: a client whose certificate does not verify",
        ),
        ("ssl(clientauth,allow-authfail=true)", "accepter", "remove allow-authfail"),
        (
            "ssl(mode=client)",
            "accepter",
            "ssl option 'mode=client' on an accepter is not supported",
        ),
        ("ssl(mode=server)", "connector", "ssl option 'mode=server' on a connector"),
        ("ssl(mode=sideways)", "accepter", "invalid ssl mode 'sideways'"),
        ("ssl(clientauth)", "connector", "'clientauth' only applies to an accepter"),
        ("ssl(cert=/c)", "connector", "cert= needs the key"),
        ("ssl(foo=1)", "accepter", "unknown option 'foo' for layer ssl"),
        ("ssl(clientauth=maybe)", "accepter", "invalid boolean 'maybe' for ssl clientauth"),
    ],
)
def test_refusals_name_the_option_and_what_to_do(text: str, where: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        ssl(text, where)
    assert message in str(info.value)


def test_allow_authfail_false_and_mode_server_are_accepted() -> None:
    assert ssl("ssl(allow-authfail=false,mode=server)").key == DEFAULT_TLS_KEY


_CONN = "connection: &c\n  accepter: {accepter}\n  connector: {connector}\n"


@pytest.mark.parametrize(
    "accepter,message",
    [
        (
            "telnet,mux,certauth,ssl,tcp,3001",
            "'mux' is valid for ser2net but not supported by pyser2net (connect with a TLS client",
        ),
        (
            "certauth,ssl,tcp,3001",
            "'certauth' is valid for ser2net but not supported by pyser2net "
            "(for client authentication use ssl(clientauth)",
        ),
        ("ssl(allow-authfail),tcp,3001", "ssl option 'allow-authfail' is not supported"),
    ],
)
def test_gensio_only_layers_are_errors_with_file_line_column(accepter: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_text(_CONN.format(accepter=accepter, connector="echo"), "tls.yaml")
    text = str(info.value)
    assert text.startswith("tls.yaml:2:13: "), text
    assert message in text


@pytest.mark.parametrize(
    "connector,message",
    [
        ("ssl(mode=server),tcp,127.0.0.1,3000", "'mode=server' on a connector"),
        ("ssl,udp,127.0.0.1,3000", "an ssl connector runs over tcp"),
        ("ssl,ssl,tcp,127.0.0.1,3000", "connector has two ssl layers"),
        ("ssl,serialdev,/dev/ttyS0", "an ssl connector runs over tcp"),
    ],
)
def test_bad_ssl_connectors(connector: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_text(_CONN.format(accepter="tcp,3001", connector=connector), "tls.yaml")
    assert message in str(info.value)
    assert str(info.value).startswith("tls.yaml:3:14: ")
