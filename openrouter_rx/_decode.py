"""Reply bodies to values: an SSE event to a chunk, a completion body to a response,
and the error a body reports (``{"error": ...}``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from . import schemas
from ._status import stream_error
from .chunk import Chunk, error_object
from .errors import OpenRouterError, ProtocolError, StreamError, TruncatedStreamError
from .response import Response

__all__ = ["decode_body", "decode_chunk", "decode_completion", "error_of", "not_an_event_stream"]


def error_of(decoded: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The ``error`` member of a decoded chunk or body as an object, when it reports an error."""
    return error_object(decoded.get("error"))


def decode_chunk(data: str, cut_off: bool, validate: bool) -> tuple[Chunk, StreamError | None]:
    """The chunk of one SSE event, and the StreamError it reports (an error object or
    ``finish_reason: "error"``), if any.

    Raises:
        TruncatedStreamError: ``data`` is not JSON and EOF cut the event off.
        ProtocolError: ``data`` is not a chunk.
    """
    try:
        decoded = json.loads(data)
    except ValueError:
        if cut_off:
            raise TruncatedStreamError("the stream ended in the middle of an event") from None
        raise ProtocolError("an SSE data line is not valid JSON", data=data[:200]) from None
    if validate:
        schemas.validate(schemas.ChunkSchema, decoded, "chunk")
    chunk = Chunk.from_dict(decoded)  # a ProtocolError unless ``decoded`` is an object
    error = error_of(decoded)
    if error is None and not any(choice.finish_reason == "error" for choice in chunk.choices):
        return chunk, None
    exc = stream_error(error)
    exc.chunk = chunk
    return chunk, exc


def decode_body(body: bytes, limit: int, what: str, failed: str) -> Any:
    """The decoded JSON of a non-streaming reply body (``limit + 1`` bytes read at most).

    Args:
        body: the body as read.
        limit: the most bytes allowed.
        what: the body in error messages (``"the completion body"``).
        failed: the message of the error a 200 body reports (``"the completion failed"``).

    Raises:
        ProtocolError: too large, or not JSON.
        TruncatedStreamError: the body was empty.
        StreamError: the body reports an ``error``.
    """
    if len(body) > limit:
        raise ProtocolError(f"{what} exceeded {limit} bytes")
    text = body.strip()  # OpenRouter keeps a waiting request alive with whitespace
    if not text:
        raise TruncatedStreamError(f"{what} was empty")
    try:
        decoded = json.loads(text)
    except ValueError:
        raise ProtocolError(f"{what} is not valid JSON", data=text[:200].decode("utf-8", "replace")) from None
    if isinstance(decoded, Mapping) and (error := error_of(decoded)) is not None:
        raise stream_error(error, failed)
    return decoded


def decode_completion(body: bytes, limit: int) -> Response:
    """The response of a non-streaming completion body (``limit + 1`` bytes read at most).

    Raises:
        ProtocolError, TruncatedStreamError, StreamError: as the body deserves.
    """
    decoded = decode_body(body, limit, "the completion body", "the completion failed")
    schemas.validate(schemas.CompletionSchema, decoded, "completion")
    return Response.from_completion(decoded)


def not_an_event_stream(body: bytes, content_type: str) -> OpenRouterError:
    """The error for a 200 reply to a streaming request that is not ``text/event-stream``."""
    try:
        decoded = json.loads(body)
    except ValueError:
        decoded = None
    if isinstance(decoded, Mapping) and (error := error_of(decoded)) is not None:
        return stream_error(error)
    return ProtocolError(
        f"expected text/event-stream, got {content_type or 'no content type'}",
        data=body[:200].decode("utf-8", "replace"),
    )
