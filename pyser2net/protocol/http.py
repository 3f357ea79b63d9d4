"""Just enough HTTP/1.1 for ``--metrics``: requests in, responses out.

The metrics responder answers a Prometheus server, ``curl`` and a browser
with ``GET /metrics`` and ``GET /status``; it needs request lines and
headers, never a body.  So the reader here is small and strict: a request
head larger than ``MAX_HEAD`` bytes, a body, or anything that is not a
well-formed request ends the connection after one error response.  That
bounds what a client can make the daemon hold to a few kilobytes.

Sans-IO: bytes in (``RequestReader.feed``), requests or errors out;
``response`` makes the bytes to send.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple, Union

#: Longest request head (request line and headers), in bytes.
MAX_HEAD = 8192
#: Most headers in one request.
MAX_HEADERS = 64

REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Content Too Large",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    505: "HTTP Version Not Supported",
}

_TOKEN = frozenset(b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


@dataclass(frozen=True)
class Request:
    """One request head."""

    method: str
    #: The target's path, without the query.
    path: str
    #: ``HTTP/1.1`` or ``HTTP/1.0``.
    version: str
    #: Header names in lower case; a repeated header keeps its last value.
    headers: Dict[str, str]

    @property
    def keep_alive(self) -> bool:
        """Whether the client wants the connection kept after the answer."""
        token = self.headers.get("connection", "").lower()
        if self.version == "HTTP/1.0":
            return "keep-alive" in token
        return "close" not in token


@dataclass(frozen=True)
class BadRequest:
    """A request that cannot be served; the connection ends after the answer."""

    status: int
    message: str


class RequestReader:
    """Splits a byte stream into request heads, at most ``MAX_HEAD`` bytes each.

    After a ``BadRequest`` the reader stops: whatever follows is not read as
    requests (the connection is closed once the error is sent).
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self.failed = False

    def feed(self, data: bytes) -> List[Union[Request, BadRequest]]:
        if self.failed:
            return []
        self._buf += data
        found: List[Union[Request, BadRequest]] = []
        while True:
            # Blank lines before a request line are allowed (RFC 9112 2.2).
            while self._buf[:2] == b"\r\n":
                del self._buf[:2]
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buf) > MAX_HEAD:
                    found.append(self._fail(431, "request head too large"))
                return found
            if end + 4 > MAX_HEAD:
                found.append(self._fail(431, "request head too large"))
                return found
            head = bytes(self._buf[:end])
            del self._buf[: end + 4]
            parsed = _parse(head)
            if isinstance(parsed, BadRequest):
                self.failed = True
                found.append(parsed)
                return found
            found.append(parsed)

    def _fail(self, status: int, message: str) -> BadRequest:
        self.failed = True
        self._buf.clear()
        return BadRequest(status, message)


def _parse(head: bytes) -> Union[Request, BadRequest]:
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3 or not parts[0] or not parts[1]:
        return BadRequest(400, "malformed request line")
    method, target, version = parts
    if not set(method) <= _TOKEN:
        return BadRequest(400, "malformed method")
    if version not in (b"HTTP/1.1", b"HTTP/1.0"):
        if version.startswith(b"HTTP/"):
            return BadRequest(505, "only HTTP/1.0 and HTTP/1.1 are served")
        return BadRequest(400, "malformed request line")
    if not target.startswith(b"/") or any(b <= 32 or b >= 127 for b in target):
        return BadRequest(400, "malformed request target")
    if len(lines) - 1 > MAX_HEADERS:
        return BadRequest(431, "too many headers")
    headers: Dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or not name or not set(name) <= _TOKEN:
            return BadRequest(400, "malformed header")
        headers[name.decode("ascii").lower()] = value.strip(b" \t").decode("latin-1")
    if "transfer-encoding" in headers:
        return BadRequest(501, "request bodies are not served")
    length = headers.get("content-length", "0").strip()
    if not length.isdigit() or not length.isascii():
        return BadRequest(400, "malformed Content-Length")
    if int(length) > 0:
        return BadRequest(413, "request bodies are not served")
    path = target.split(b"?", 1)[0].decode("ascii")
    return Request(method.decode("ascii"), path, version.decode("ascii"), headers)


def response(
    status: int,
    body: bytes,
    content_type: str = "text/plain; charset=utf-8",
    *,
    keep_alive: bool = True,
    head_only: bool = False,
    headers: Sequence[Tuple[str, str]] = (),
) -> bytes:
    """The bytes of one HTTP/1.1 response (only the head with ``head_only``)."""
    lines = [
        f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(body)}",
        "Cache-Control: no-store",
    ]
    lines += [f"{name}: {value}" for name, value in headers]
    if not keep_alive:
        lines.append("Connection: close")
    out = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return out if head_only else out + body


def error_response(status: int, message: str, *, keep_alive: bool = False) -> bytes:
    """A short plain-text error; ``405`` says which methods are served."""
    extra: List[Tuple[str, str]] = [("Allow", "GET, HEAD")] if status == 405 else []
    return response(status, (message + "\n").encode("utf-8"), keep_alive=keep_alive, headers=extra)


def method_allowed(request: Request) -> Optional[BadRequest]:
    """None for GET and HEAD, the only methods served; else a 405."""
    if request.method in ("GET", "HEAD"):
        return None
    return BadRequest(405, f"method {request.method} not allowed")
