"""The HTTP/1.1 request reader and responses of ``--metrics``, without sockets."""

from __future__ import annotations

import pytest

from pyser2net.protocol.http import (
    MAX_HEAD,
    BadRequest,
    Request,
    RequestReader,
    error_response,
    method_allowed,
    response,
)


def test_a_request_split_anywhere_reads_the_same():
    raw = b"GET /metrics?name[]=x HTTP/1.1\r\nHost: a\r\nAccept: text/plain\r\n\r\n"
    whole = RequestReader().feed(raw)
    assert whole == [Request("GET", "/metrics", "HTTP/1.1", {"host": "a", "accept": "text/plain"})]
    for cut in range(1, len(raw)):
        reader = RequestReader()
        assert reader.feed(raw[:cut]) + reader.feed(raw[cut:]) == whole


def test_pipelined_requests_come_out_in_order():
    reader = RequestReader()
    got = reader.feed(b"GET /a HTTP/1.1\r\n\r\n\r\nHEAD /b HTTP/1.0\r\n\r\nGET /c")
    assert [(r.method, r.path) for r in got if isinstance(r, Request)] == [
        ("GET", "/a"),
        ("HEAD", "/b"),
    ]
    assert reader.feed(b" HTTP/1.1\r\n\r\n")[0].path == "/c"


def test_keep_alive_follows_the_version_and_the_connection_header():
    def keep(version: str, connection: str = "") -> bool:
        headers = {"connection": connection} if connection else {}
        return Request("GET", "/", version, headers).keep_alive

    assert keep("HTTP/1.1") and not keep("HTTP/1.1", "close")
    assert not keep("HTTP/1.0") and keep("HTTP/1.0", "Keep-Alive")


@pytest.mark.parametrize(
    "raw,status",
    [
        (b"GET /\r\n\r\n", 400),
        (b"GET  / HTTP/1.1\r\n\r\n", 400),
        (b"GET metrics HTTP/1.1\r\n\r\n", 400),
        (b"G(T / HTTP/1.1\r\n\r\n", 400),
        (b"GET / HTTP/2.0\r\n\r\n", 505),
        (b"GET / SIP/2.0\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nNo colon\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nBad name: x\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", 413),
        (b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 501),
        (b"GET / HTTP/1.1\r\n" + b"A: b\r\n" * 65 + b"\r\n", 431),
    ],
)
def test_malformed_requests_get_one_error_and_nothing_more(raw, status):
    reader = RequestReader()
    got = reader.feed(raw + b"GET /next HTTP/1.1\r\n\r\n")
    assert len(got) == 1 and isinstance(got[0], BadRequest) and got[0].status == status
    assert reader.failed and reader.feed(b"GET / HTTP/1.1\r\n\r\n") == []


def test_a_head_larger_than_the_bound_is_refused_before_it_ends():
    reader = RequestReader()
    assert reader.feed(b"GET / HTTP/1.1\r\nX: " + b"a" * (MAX_HEAD - 30)) == []
    got = reader.feed(b"a" * 40)
    assert got == [BadRequest(431, "request head too large")]
    # Nothing of it is kept: the reader holds at most MAX_HEAD bytes.
    assert reader.feed(b"\r\n\r\n") == []


def test_only_get_and_head_are_served():
    assert method_allowed(Request("GET", "/", "HTTP/1.1", {})) is None
    assert method_allowed(Request("HEAD", "/", "HTTP/1.1", {})) is None
    assert method_allowed(Request("DELETE", "/", "HTTP/1.1", {})) == BadRequest(
        405, "method DELETE not allowed"
    )


def test_responses():
    assert response(200, b"hi", "text/plain") == (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n"
        b"Cache-Control: no-store\r\n\r\nhi"
    )
    assert response(200, b"hi", "text/plain", keep_alive=False, head_only=True) == (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n"
        b"Cache-Control: no-store\r\nConnection: close\r\n\r\n"
    )
    assert error_response(405, "no", keep_alive=True) == (
        b"HTTP/1.1 405 Method Not Allowed\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Length: 3\r\nCache-Control: no-store\r\nAllow: GET, HEAD\r\n\r\nno\n"
    )
