"""Turn an HTTP error reply (or an error chunk) into a typed error."""

from __future__ import annotations

import html
import json
import re
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from .chunk import Chunk, error_object
from .errors import APIStatusError, StreamError, status_error_class

if TYPE_CHECKING:
    from ._accumulator import ResponseAccumulator

__all__ = ["status_error", "stream_error", "parse_retry_after", "with_error_chunk"]

_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.I | re.S)
_TAGS = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")
_MAX_MESSAGE = 300


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _short_text(body: bytes) -> str:
    match = _TITLE.search(body)
    raw = match.group(1) if match else body
    text = html.unescape(_TAGS.sub(" ", raw.decode("utf-8", "replace")))
    text = _SPACE.sub(" ", text).strip()
    return text[:_MAX_MESSAGE] + ("..." if len(text) > _MAX_MESSAGE else "")


def _error_type(error: Mapping[str, Any]) -> str | None:
    metadata = error.get("metadata")
    if isinstance(metadata, Mapping) and isinstance(metadata.get("error_type"), str):
        return str(metadata["error_type"])
    value = error.get("type")
    return value if isinstance(value, str) else None


def _availability_retry(error: Mapping[str, Any]) -> float | None:
    availability = error.get("availability")
    if isinstance(availability, Mapping):
        value = availability.get("retry_after")
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            return parse_retry_after(value)
    return None


def status_error(status: int, headers: Mapping[str, str], body: bytes, reason: str = "") -> APIStatusError:
    """The typed error for an HTTP reply with ``status >= 400``.

    A JSON body ``{"error": {"code", "message", "metadata"}}`` fills the fields;
    anything else (an HTML page from a proxy) still gives the right class and a
    short readable message.
    """
    decoded: Any = None
    error: Mapping[str, Any] = {}
    try:
        decoded = json.loads(body) if body.strip() else None
    except ValueError:
        decoded = None
    if isinstance(decoded, Mapping):
        member = decoded.get("error")
        if isinstance(member, Mapping):
            error = member
        elif isinstance(decoded.get("message"), str):
            error = decoded  # {"error": "Internal Server Error", "message": "db down"}: the detail wins
        elif (found := error_object(member)) is not None:
            error = found
    message = error.get("message") if isinstance(error.get("message"), str) else None
    if not message:
        message = _short_text(body) if body.strip() else (reason or "HTTP error")
        if decoded is None and body.strip():
            message = f"{reason or 'HTTP error'} (non-JSON body: {message})"
    metadata = error.get("metadata") if isinstance(error.get("metadata"), Mapping) else None
    code = error.get("code")
    retry_after = parse_retry_after(headers.get("Retry-After") or headers.get("retry-after"))
    if retry_after is None:
        retry_after = _availability_retry(error)
    cls = status_error_class(status, metadata)
    return cls(
        str(message),
        status=status,
        code=code if isinstance(code, int | str) and not isinstance(code, bool) else None,
        metadata=metadata,
        error_type=_error_type(error),
        retry_after=retry_after,
        body=decoded if decoded is not None else _short_text(body),
        generation_id=headers.get("X-Generation-Id") or headers.get("x-generation-id"),
    )


def stream_error(
    error: Mapping[str, Any] | None, fallback: str = "the stream ended with finish_reason 'error'"
) -> StreamError:
    """The typed error for a mid-stream error chunk.

    ``error`` is the chunk's error object (see :func:`~openrouter_rx.chunk.error_object`);
    ``None`` (only ``finish_reason: "error"``) gives ``fallback``.
    """
    error = error or {}
    message = error.get("message")
    code = error.get("code")
    metadata = error.get("metadata")
    return StreamError(
        message if isinstance(message, str) and message else fallback,
        code=code if isinstance(code, int | str) and not isinstance(code, bool) else None,
        metadata=metadata if isinstance(metadata, Mapping) else None,
        error_type=_error_type(error),
    )


def with_error_chunk(error: StreamError, chunk: Chunk, acc: ResponseAccumulator) -> None:
    """Give ``error`` (reported by the error ``chunk``, which is never delivered) what was received.

    ``chunk_count`` counts the chunks delivered (``acc`` holds them); ``partial`` is them plus any
    text the error chunk carried, and stays ``None`` when nothing was delivered and the error
    chunk has no output.
    """
    delivered = acc.chunk_count
    if delivered or chunk.has_output:
        acc.add(chunk)
        error.partial = acc.response()
    error.chunk_count = delivered
