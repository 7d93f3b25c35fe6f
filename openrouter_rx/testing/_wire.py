"""The recorded request and the low-level response writer that replies use."""

from __future__ import annotations

import json as _json
import math
import select
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, Literal, NoReturn

from ._builders import KEEPALIVE_BYTES

__all__ = ["ClientGone", "Framing", "RecordedRequest", "ResponseWriter", "ServerStopping", "merge_headers"]

Framing = Literal["chunked", "close", "length"]
"""How a response body is delimited: HTTP/1.1 chunked, end at socket close, or ``Content-Length``."""

_POLL = 0.05
_MSG_DONTWAIT: int = getattr(socket, "MSG_DONTWAIT", 0)
_MANAGED_HEADERS = frozenset({"transfer-encoding", "content-length", "connection", "keep-alive"})


class ClientGone(Exception):
    """The client closed the connection while the reply was being written."""


class ServerStopping(Exception):
    """The fake server is shutting down; the reply stops at once."""


@dataclass(eq=False)
class RecordedRequest:
    """One HTTP request received by :class:`FakeOpenRouter`, with events tracking its reply."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    json: Any
    received_at: float
    client_port: int = 0
    """The client's TCP port: equal ports mean the client reused a pooled connection."""
    disconnected: threading.Event = field(default_factory=threading.Event, repr=False)
    """Set when the server noticed that the client went away before the reply was finished."""
    finished: threading.Event = field(default_factory=threading.Event, repr=False)
    """Set when the handler is done with the reply, whatever the outcome."""

    def header(self, name: str, default: str | None = None) -> str | None:
        """A request header by case-insensitive name (``default`` if absent)."""
        lowered = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lowered:
                return value
        return default

    @property
    def stream(self) -> bool:
        """Whether the JSON body asked for a streamed reply (``"stream": true``)."""
        return isinstance(self.json, dict) and self.json.get("stream") is True

    @property
    def text(self) -> str:
        """The body decoded as UTF-8 (invalid bytes replaced)."""
        return self.body.decode("utf-8", errors="replace")

    def wait_disconnected(self, timeout: float | None = None) -> bool:
        """Wait until the server notices the client went away; ``True`` if it did within ``timeout``."""
        return self.disconnected.wait(timeout)

    def wait_finished(self, timeout: float | None = None) -> bool:
        """Wait until the handler is done with this request; ``True`` if it was within ``timeout``."""
        return self.finished.wait(timeout)

    @staticmethod
    def decode_json(body: bytes) -> Any:
        """The JSON value of ``body``, or ``None`` if it is empty or not JSON."""
        if not body.strip():
            return None
        try:
            return _json.loads(body)
        except ValueError:
            return None


def merge_headers(
    defaults: Sequence[tuple[str, str]], extra: Mapping[str, str] | Sequence[tuple[str, str]] | None
) -> list[tuple[str, str]]:
    """``defaults`` with every header named in ``extra`` replaced (names compared case-insensitively)."""
    if not extra:
        return list(defaults)
    pairs = list(extra.items()) if isinstance(extra, Mapping) else list(extra)
    names = {name.lower() for name, _ in pairs}
    return [(k, v) for k, v in defaults if k.lower() not in names] + [(k, str(v)) for k, v in pairs]


class ResponseWriter:
    """Writes one HTTP response straight to the client socket, flushing every write.

    Replies call :meth:`begin`, then :meth:`write` / :meth:`sleep` / :meth:`stall`, and finally
    :meth:`end` (or :meth:`abort`). A client that went away raises :class:`ClientGone` (after
    setting ``request.disconnected``); a server shutdown raises :class:`ServerStopping`.
    """

    def __init__(self, handler: BaseHTTPRequestHandler, request: RecordedRequest, stopping: threading.Event) -> None:
        self.request = request
        self._handler = handler
        self._sock: socket.socket = handler.connection
        self._stopping = stopping
        self._framing: Framing = "chunked"
        self._started = False
        self._ended = False
        self._peer_sent_data = False
        self.bytes_written = 0

    @property
    def started(self) -> bool:
        """Whether the status line and headers were sent."""
        return self._started

    @property
    def ended(self) -> bool:
        """Whether the response was completed or aborted."""
        return self._ended

    def begin(
        self,
        status: int,
        headers: Sequence[tuple[str, str]] = (),
        *,
        framing: Framing = "chunked",
        content_length: int | None = None,
        reason: str | None = None,
    ) -> None:
        """Send the status line and headers (framing headers are added here, caller's ones dropped)."""
        if self._started:
            raise RuntimeError("the response was already started")
        if framing not in ("chunked", "close", "length"):
            raise ValueError(f"unknown framing {framing!r}")
        handler = self._handler
        self._started = True
        self._framing = framing
        handler.send_response_only(status, reason)
        names = {name.lower() for name, _ in headers}
        if "date" not in names:
            handler.send_header("Date", handler.date_time_string())
        if "server" not in names:
            handler.send_header("Server", "FakeOpenRouter")
        for name, value in headers:
            if name.lower() not in _MANAGED_HEADERS:
                handler.send_header(name, value)
        if framing == "chunked":
            handler.send_header("Transfer-Encoding", "chunked")
        elif framing == "length":
            handler.send_header("Content-Length", str(content_length or 0))
        else:
            handler.send_header("Connection", "close")
        if framing == "close" or handler.close_connection:
            handler.close_connection = True
        try:
            handler.end_headers()
        except OSError as exc:
            self._gone(exc)

    def send(self, status: int, headers: Sequence[tuple[str, str]], body: bytes, *, reason: str | None = None) -> None:
        """A complete response with a ``Content-Length`` body."""
        self.begin(status, headers, framing="length", content_length=len(body), reason=reason)
        self.write(body)
        self.end()

    def write(self, data: bytes) -> None:
        """Write body bytes now (one HTTP chunk when chunked); empty data writes nothing."""
        if not data:
            return
        if self._stopping.is_set():
            raise ServerStopping()
        payload = b"%x\r\n%s\r\n" % (len(data), data) if self._framing == "chunked" else data
        self._send(payload)
        self.bytes_written += len(data)

    def end(self) -> None:
        """Finish the body properly (the chunked terminator, or closing the connection)."""
        if self._ended or not self._started:
            return
        self._ended = True
        if self._framing == "chunked":
            self._send(b"0\r\n\r\n")
        elif self._framing == "close":
            self._handler.close_connection = True

    def abort(self) -> None:
        """Close the connection abruptly, without finishing the body."""
        self._ended = True
        self._handler.close_connection = True
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds``, noticing a client that goes away or a server that stops meanwhile."""
        if seconds <= 0:
            return
        deadline = time.monotonic() + seconds
        while True:
            if self._stopping.is_set():
                raise ServerStopping()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._watch(min(remaining, _POLL))

    def stall(self, keepalive: float | None = None, payload: bytes = KEEPALIVE_BYTES) -> None:
        """Hold the connection open without data until the client leaves or the server stops.

        Writes ``payload`` every ``keepalive`` seconds if given. Never returns normally: raises
        :class:`ClientGone` or :class:`ServerStopping`.
        """
        interval = keepalive if keepalive and keepalive > 0 else math.inf
        next_write = time.monotonic() + interval
        while True:
            if self._stopping.is_set():
                raise ServerStopping()
            now = time.monotonic()
            if now >= next_write:
                self.write(payload)
                next_write = now + interval
                continue
            self._watch(min(_POLL, next_write - now))

    def _watch(self, timeout: float) -> None:
        """Wait up to ``timeout`` for the client socket to report end-of-file."""
        if self._peer_sent_data:
            self._stopping.wait(timeout)
            return
        try:
            readable, _, _ = select.select([self._sock], [], [], timeout)
            if not readable:
                return
            data = self._sock.recv(1, socket.MSG_PEEK | _MSG_DONTWAIT)
        except BlockingIOError:
            return
        except (OSError, ValueError) as exc:
            self._gone(exc)
        if not data:
            self._gone(None)
        # The client sent more bytes (a pipelined request?): stop watching for EOF for this reply.
        self._peer_sent_data = True

    def _send(self, payload: bytes) -> None:
        try:
            self._handler.wfile.write(payload)
            self._handler.wfile.flush()
        except (OSError, ValueError) as exc:
            self._gone(exc)

    def _gone(self, exc: BaseException | None) -> NoReturn:
        self._ended = True
        self._handler.close_connection = True
        if self._stopping.is_set():
            raise ServerStopping() from exc
        self.request.disconnected.set()
        raise ClientGone() from exc
