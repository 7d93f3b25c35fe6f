"""Reading one HTTP body: content decoding, bounded reads, the tail after ``[DONE]``,
and naming what went wrong without copying anything that could hold a header."""

from __future__ import annotations

import http.client
import re
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import requests
import urllib3.exceptions

from ._sse import READ_SIZE

__all__ = [
    "body_reader",
    "describe",
    "drain",
    "is_decode_error",
    "is_network_error",
    "is_timeout",
    "media_type",
    "origin",
    "read_limited",
]

Read = Callable[[int], bytes]

_NETWORK_ERRORS = (
    OSError,
    http.client.HTTPException,
    urllib3.exceptions.HTTPError,
    requests.exceptions.RequestException,
)
_TIMEOUTS = (TimeoutError, urllib3.exceptions.TimeoutError, requests.exceptions.Timeout)
_DECODE_ERRORS = (urllib3.exceptions.DecodeError, requests.exceptions.ContentDecodingError)
_USERINFO = re.compile(r"//[^/\s@'\"]*@")
_OS_REASON = re.compile(r"\[Errno -?\d+\] ([^'\")\]]+)")


def media_type(content_type: str) -> str:
    """``"Text/Event-Stream; charset=utf-8"`` -> ``"text/event-stream"``."""
    return content_type.split(";", 1)[0].strip().lower()


def body_reader(response: requests.Response) -> Read:
    """``read1`` for the body, undoing a ``Content-Encoding`` (gzip, deflate...) the server applied.

    requests advertises ``Accept-Encoding: gzip, deflate`` but ``raw.read1`` returns the
    bytes as sent; urllib3's ``read1(n, decode_content=True)`` decodes incrementally
    (whatever can be decoded from the bytes that have arrived), so events still come
    through as soon as they arrive.
    """
    raw = response.raw
    if media_type(response.headers.get("Content-Encoding", "")) in ("", "identity"):
        read1: Read = raw.read1
        return read1

    def read_decoded(amount: int) -> bytes:
        data: bytes = raw.read1(amount, decode_content=True)
        return data

    return read_decoded


def read_limited(read: Read, limit: int, on_bytes: Callable[[], None]) -> tuple[bytes, Exception | None]:
    """Up to ``limit`` bytes of the body, and the exception that ended the read early (if any)."""
    parts: list[bytes] = []
    size = 0
    try:
        while size < limit:
            piece = read(min(READ_SIZE, limit - size))
            if not piece:
                break
            on_bytes()
            parts.append(piece)
            size += len(piece)
    except Exception as exc:
        return b"".join(parts), exc
    return b"".join(parts), None


def drain(response: requests.Response, read: Read, seconds: float, limit: int) -> bool:
    """Read and discard what follows ``[DONE]``, for at most ``seconds`` and ``limit`` bytes.

    The bound is a socket timeout re-armed before every read, so it holds whatever
    the request's own timeouts are (even ``None``) and without the watchdog. Returns
    True when the body ended in time: urllib3 has then put the connection back in the
    pool. On False the caller closes the response, and with it the connection.
    """
    connection = response.raw.connection
    if connection is None:  # already back in the pool: the body had ended
        return True
    sock = getattr(connection, "sock", None)
    if sock is None:
        return False
    deadline = time.monotonic() + seconds
    size = 0
    try:
        while size <= limit:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            sock.settimeout(remaining)  # urllib3 sets its own timeout again when it reuses the connection
            piece = read(READ_SIZE)
            if not piece:
                return True
            size += len(piece)
    except Exception:
        return False
    return False


def is_network_error(exc: BaseException) -> bool:
    """Raised by the socket, http.client, urllib3 or requests (not a decoding error)."""
    return isinstance(exc, _NETWORK_ERRORS) and not is_decode_error(exc)


def is_timeout(exc: BaseException) -> bool:
    """A socket read timeout, as any layer reports it."""
    return isinstance(exc, _TIMEOUTS)


def is_decode_error(exc: BaseException) -> bool:
    """The body could not be decoded (a broken gzip stream, ...)."""
    return isinstance(exc, _DECODE_ERRORS)


def describe(exc: BaseException) -> str:
    """A short cause for a *network* error.

    Only for connection-level exceptions (socket, http.client, urllib3, requests'
    ConnectionError/Timeout): their text names the host, the path and the errno,
    never a request header. Credentials in a (proxy) URL are removed anyway.
    """
    text = _USERINFO.sub("//", str(exc) or type(exc).__name__)
    reason = _OS_REASON.search(text)  # urllib3 nests the OS error's text deep inside its own
    return reason.group(1).strip() if reason else text[:300]


def public_url(url: str) -> str:
    """``url`` without credentials or query: ``scheme://host[:port]/path``, safe to log."""
    return origin(url) + urlsplit(url).path


def origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url``, never the ``user:password@`` part."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    try:
        port = parts.port
    except ValueError:  # out of range or not a number: left out rather than raising (used in repr)
        port = None
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")
