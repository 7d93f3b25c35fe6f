"""Scripted replies of the fake server; each one knows how to write itself to the client."""

from __future__ import annotations

import abc
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import KW_ONLY, dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any, Literal

from ._builders import DONE_BYTES, Event, Pause, encode_event, is_data_event
from ._wire import ResponseWriter, merge_headers

__all__ = [
    "CompletionReply",
    "ErrorReply",
    "JSONReply",
    "RawReply",
    "Reply",
    "SSEFileReply",
    "StreamReply",
    "serve_recorded",
    "split_sse_events",
]

Headers = Mapping[str, str]
_SSE_HEADERS = [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache")]
_JSON_HEADERS = [("Content-Type", "application/json")]
_EVENT_END = re.compile(rb"(?:\r\n|\r(?!\n)|\n)(?:\r\n|\r(?!\n)|\n)")


class Reply(abc.ABC):
    """Base class of everything :meth:`FakeOpenRouter.enqueue` accepts."""

    @abc.abstractmethod
    def write(self, out: ResponseWriter) -> None:
        """Write the whole response (status, headers, body) through ``out``."""


def _json_bytes(body: Any) -> bytes:
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def split_sse_events(data: bytes) -> list[bytes]:
    """Split an SSE byte stream after each blank line; the pieces join back to ``data`` exactly."""
    pieces: list[bytes] = []
    start = 0
    for match in _EVENT_END.finditer(data):
        if match.end() > start:
            pieces.append(data[start : match.end()])
        start = match.end()
    if start < len(data):
        pieces.append(data[start:])
    return pieces


def serve_recorded(
    out: ResponseWriter,
    status: int,
    headers: Sequence[tuple[str, str]],
    body: bytes,
    *,
    pace: float | None = None,
    reason: str | None = None,
) -> None:
    """Serve a recorded reply: SSE bodies event by event (``pace`` seconds apart), others in one write."""
    content_type = next((v for k, v in headers if k.lower() == "content-type"), "")
    if not body:
        out.send(status, headers, b"", reason=reason)
        return
    out.begin(status, headers, framing="chunked", reason=reason)
    if "event-stream" in content_type:
        for number, piece in enumerate(split_sse_events(body)):
            if number and pace:
                out.sleep(pace)
            out.write(piece)
    else:
        out.write(body)
    out.end()


@dataclass
class StreamReply(Reply):
    """A streamed (SSE) chat completion made of scripted events.

    Items of ``events`` are chunk dicts (``data: <json>``), raw ``str``/``bytes`` SSE text,
    :class:`KeepAlive` comments or :class:`Pause` waits. ``delay`` separates data events,
    ``headers_delay`` comes before the response headers, ``first_delay`` before the first
    event and ``done`` appends ``data: [DONE]``.
    ``disconnect_after=N`` closes the socket abruptly after N data events; ``stall_after=N``
    then holds the connection open (with a keep-alive comment every ``stall_keepalive`` seconds
    if set) until the client leaves or the server stops. ``framing`` is ``"chunked"`` (as
    OpenRouter) or ``"close"`` (body ends at socket close). ``fragment_size=k`` writes the
    byte stream in pieces of k bytes, ``delay`` apart, regardless of event boundaries.
    """

    events: Sequence[Event]
    _: KW_ONLY
    delay: float = 0.0
    first_delay: float = 0.0
    headers_delay: float = 0.0
    done: bool = True
    status: int = 200
    headers: Headers | None = None
    disconnect_after: int | None = None
    stall_after: int | None = None
    stall_keepalive: float | None = None
    framing: Literal["chunked", "close"] = "chunked"
    fragment_size: int | None = None

    def _cut(self, data_events: int) -> Literal["disconnect", "stall"] | None:
        if self.disconnect_after is not None and data_events >= self.disconnect_after:
            return "disconnect"
        if self.stall_after is not None and data_events >= self.stall_after:
            return "stall"
        return None

    def plan(self) -> tuple[list[bytes | Pause], Literal["disconnect", "stall"] | None]:
        """What will be written (byte pieces and pauses, in order) and how the reply then ends."""
        fragmenting = bool(self.fragment_size)
        plan: list[bytes | Pause] = []
        seen = 0
        cut = self._cut(0)
        for event in self.events:
            if cut is not None:
                break
            if isinstance(event, Pause):
                plan.append(event)
                continue
            data = is_data_event(event)
            if data and seen and self.delay > 0 and not fragmenting:
                plan.append(Pause(self.delay))
            plan.append(encode_event(event))
            if data:
                seen += 1
                cut = self._cut(seen)
        if cut is None and self.done:
            if seen and self.delay > 0 and not fragmenting:
                plan.append(Pause(self.delay))
            plan.append(DONE_BYTES)
        if fragmenting and self.fragment_size:
            plan = self._fragment(plan, self.fragment_size)
        return plan, cut

    def _fragment(self, plan: list[bytes | Pause], size: int) -> list[bytes | Pause]:
        out: list[bytes | Pause] = []
        run = b""
        wrote = False
        for item in [*plan, Pause(0.0)]:
            if isinstance(item, bytes):
                run += item
                continue
            for start in range(0, len(run), size):
                if wrote and self.delay > 0:
                    out.append(Pause(self.delay))
                out.append(run[start : start + size])
                wrote = True
            run = b""
            if item.seconds > 0:
                out.append(item)
        return out

    def write(self, out: ResponseWriter) -> None:
        """Stream the events as scripted."""
        headers = list(_SSE_HEADERS)
        first = next((e for e in self.events if isinstance(e, Mapping)), None)
        if first is not None and first.get("id"):
            headers.append(("X-Generation-Id", str(first["id"])))
        plan, cut = self.plan()
        out.sleep(self.headers_delay)
        out.begin(self.status, merge_headers(headers, self.headers), framing=self.framing)
        out.sleep(self.first_delay)
        for item in plan:
            if isinstance(item, Pause):
                out.sleep(item.seconds)
            else:
                out.write(item)
        if cut == "disconnect":
            out.abort()
        elif cut == "stall":
            out.stall(self.stall_keepalive)
        else:
            out.end()


@dataclass
class RawReply(Reply):
    """Arbitrary body bytes written piece by piece, ``delay`` seconds apart (default type: SSE)."""

    pieces: Sequence[bytes]
    _: KW_ONLY
    delay: float = 0.0
    status: int = 200
    headers: Headers | None = None
    framing: Literal["chunked", "close"] = "chunked"

    def write(self, out: ResponseWriter) -> None:
        """Write the pieces."""
        out.begin(self.status, merge_headers(_SSE_HEADERS, self.headers), framing=self.framing)
        for number, piece in enumerate(self.pieces):
            if number:
                out.sleep(self.delay)
            out.write(piece)
        out.end()


@dataclass
class ErrorReply(Reply):
    """An HTTP error before any stream: OpenRouter's JSON error body, or a proxy's HTML page.

    The body is ``{"error": {"code": code or status, "message": ..., "metadata"?: ...}}`` plus
    ``error_extra`` keys inside ``error``; ``html`` serves that text as ``text/html`` instead and
    ``body`` (bytes or a JSON value) replaces the body entirely. ``message`` defaults to the
    status phrase.
    """

    status: int
    message: str | None = None
    _: KW_ONLY
    code: int | str | None = None
    metadata: Mapping[str, Any] | None = None
    headers: Headers | None = None
    html: str | None = None
    body: bytes | Mapping[str, Any] | None = None
    error_extra: Mapping[str, Any] | None = None

    def error_body(self) -> dict[str, Any]:
        """The JSON error object this reply serves (when neither ``html`` nor ``body`` is set)."""
        message = self.message
        if message is None:
            try:
                message = HTTPStatus(self.status).phrase
            except ValueError:
                message = f"HTTP {self.status}"
        error: dict[str, Any] = {"code": self.code if self.code is not None else self.status, "message": message}
        if self.metadata is not None:
            error["metadata"] = dict(self.metadata)
        if self.error_extra:
            error.update(self.error_extra)
        return {"error": error}

    def write(self, out: ResponseWriter) -> None:
        """Send the error response."""
        if self.html is not None:
            defaults = [("Content-Type", "text/html; charset=utf-8")]
            data = self.html.encode("utf-8")
        else:
            defaults = list(_JSON_HEADERS)
            data = _json_bytes(self.body if self.body is not None else self.error_body())
        out.send(self.status, merge_headers(defaults, self.headers), data)


@dataclass
class CompletionReply(Reply):
    """A non-streaming completion: ``leading_whitespace`` newline keep-alives, then the JSON body.

    ``delay`` seconds pass before each keep-alive and before the body. ``body`` may be a JSON
    value or raw ``bytes``/``str``.
    """

    body: Any
    _: KW_ONLY
    status: int = 200
    delay: float = 0.0
    leading_whitespace: int = 0
    headers: Headers | None = None

    def write(self, out: ResponseWriter) -> None:
        """Send the keep-alives and the body (chunked, like OpenRouter)."""
        out.begin(self.status, merge_headers(_JSON_HEADERS, self.headers), framing="chunked")
        for _ in range(self.leading_whitespace):
            out.sleep(self.delay)
            out.write(b"\n")
        out.sleep(self.delay)
        out.write(_json_bytes(self.body))
        out.end()


@dataclass
class JSONReply(Reply):
    """Any JSON value (or raw bytes) with a ``Content-Length``; for ``/models`` and the like."""

    body: Any
    status: int = 200
    headers: Headers | None = None

    def write(self, out: ResponseWriter) -> None:
        """Send the JSON response."""
        out.send(self.status, merge_headers(_JSON_HEADERS, self.headers), _json_bytes(self.body))


@dataclass
class SSEFileReply(Reply):
    """A recorded SSE body file served byte for byte, one write per event, ``pace`` seconds apart."""

    path: str | os.PathLike[str]
    _: KW_ONLY
    pace: float | None = None
    status: int = 200
    headers: Headers | None = None

    def write(self, out: ResponseWriter) -> None:
        """Serve the file."""
        body = Path(self.path).read_bytes()
        serve_recorded(out, self.status, merge_headers(_SSE_HEADERS, self.headers), body, pace=self.pace)
