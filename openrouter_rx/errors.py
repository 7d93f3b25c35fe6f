"""Typed errors raised (as ``on_error``) by openrouter_rx.

Every error is an :class:`OpenRouterError`. An error that happens after chunks
were delivered carries the response accumulated from them (``err.partial``, a
:class:`~openrouter_rx.Response`) and how many there were (``err.chunk_count``),
so nothing received is lost.

Hierarchy::

    OpenRouterError
    ├── APIStatusError            HTTP status >= 400 before the stream
    │   ├── BadRequestError (400)     ├── AuthenticationError (401)
    │   ├── InsufficientCreditsError (402)
    │   ├── PermissionDeniedError (403) └── ModerationError (403, flagged)
    │   ├── NotFoundError (404)       ├── RequestTimeoutError (408)
    │   ├── PayloadTooLargeError (413) ├── UnprocessableEntityError (422)
    │   ├── RateLimitError (429)
    │   └── ServerError (5xx)  ├── BadGatewayError (502)  └── ServiceUnavailableError (503)
    ├── StreamError               error chunk in a 200 stream
    ├── TruncatedStreamError      the stream ended early (EOF or dropped connection)
    ├── ProtocolError             malformed JSON / SSE, oversized event
    ├── APIConnectionError (alias ConnectionError)
    │   └── APITimeoutError
    │       ├── ConnectTimeout    ├── IdleTimeout    └── TotalTimeout
    ├── ToolArgumentsError        tool-call arguments are not valid JSON / fail the tool's schema
    │   └── UnknownToolError          the model called a tool that was not offered
    ├── StructuredOutputError     a structured output could not be parsed, repaired or healed
    ├── SchemaConversionError     a marshmallow schema has no JSON Schema form (in that mode)
    ├── MaxTurnsError             a tool loop reached max_turns with the model still calling tools
    ├── CallbackError             a StreamingClient callback raised (the original is __cause__)
    ├── InsecureTransportError    an API key would go over plain http
    └── InvalidHeaderError        the API key (or another header) cannot be sent as it is
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .chunk import Chunk
    from .response import Response

__all__ = [
    "OpenRouterError",
    "APIStatusError",
    "BadRequestError",
    "AuthenticationError",
    "InsufficientCreditsError",
    "PermissionDeniedError",
    "ModerationError",
    "NotFoundError",
    "RequestTimeoutError",
    "PayloadTooLargeError",
    "UnprocessableEntityError",
    "RateLimitError",
    "ServerError",
    "BadGatewayError",
    "ServiceUnavailableError",
    "StreamError",
    "TruncatedStreamError",
    "ProtocolError",
    "APIConnectionError",
    "ConnectionError",
    "APITimeoutError",
    "ConnectTimeout",
    "IdleTimeout",
    "TotalTimeout",
    "ToolArgumentsError",
    "UnknownToolError",
    "StructuredOutputError",
    "SchemaConversionError",
    "MaxTurnsError",
    "CallbackError",
    "InsecureTransportError",
    "InvalidHeaderError",
    "status_error_class",
]


class OpenRouterError(Exception):
    """Base class of every error this library raises.

    Attributes:
        message: a short human-readable description.
        partial: the response accumulated from the chunks delivered before the
            error, or ``None`` when none were.
        chunk_count: how many chunks were delivered before the error.
    """

    def __init__(self, message: str, *, partial: Response | None = None, chunk_count: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.partial = partial
        self.chunk_count = chunk_count


class APIStatusError(OpenRouterError):
    """OpenRouter (or a proxy in front of it) answered with an HTTP error status.

    Attributes:
        status: the HTTP status code.
        code: ``error.code`` from the body (int or str), else the status.
        metadata: ``error.metadata`` (provider name, moderation reasons, ...).
        error_type: ``metadata.error_type`` or ``error.type`` when present.
        retry_after: seconds to wait, from ``Retry-After`` or ``error.availability``.
        body: the decoded JSON body, or the (truncated) text when it was not JSON.
        generation_id: the ``X-Generation-Id`` response header, when sent.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: int | str | None = None,
        metadata: Mapping[str, Any] | None = None,
        error_type: str | None = None,
        retry_after: float | None = None,
        body: Any = None,
        generation_id: str | None = None,
    ) -> None:
        super().__init__(f"{status}: {message}")
        self.message = message
        self.status = status
        self.code = code if code is not None else status
        self.metadata: dict[str, Any] = dict(metadata or {})
        self.error_type = error_type
        self.retry_after = retry_after
        self.body = body
        self.generation_id = generation_id


class BadRequestError(APIStatusError):
    """400: the request is invalid (bad parameters, context too long, ...)."""


class AuthenticationError(APIStatusError):
    """401: the API key is missing, invalid or disabled."""


class InsufficientCreditsError(APIStatusError):
    """402: the account or key has run out of credits."""


class PermissionDeniedError(APIStatusError):
    """403: the request is not allowed."""


class ModerationError(PermissionDeniedError):
    """403 with moderation metadata: the input was flagged.

    ``reasons`` and ``flagged_input`` come from ``metadata``.
    """

    @property
    def reasons(self) -> list[Any]:
        """The moderation reasons OpenRouter gave."""
        value = self.metadata.get("reasons")
        return list(value) if isinstance(value, list) else []

    @property
    def flagged_input(self) -> str | None:
        """The part of the input that was flagged, when given."""
        value = self.metadata.get("flagged_input")
        return value if isinstance(value, str) else None


class NotFoundError(APIStatusError):
    """404: unknown model or endpoint."""


class RequestTimeoutError(APIStatusError):
    """408: OpenRouter timed the request out."""


class PayloadTooLargeError(APIStatusError):
    """413: the request body is too large."""


class UnprocessableEntityError(APIStatusError):
    """422: the request was well-formed but could not be processed."""


class RateLimitError(APIStatusError):
    """429: rate limited; see ``retry_after``."""


class ServerError(APIStatusError):
    """5xx: OpenRouter or the provider failed."""


class BadGatewayError(ServerError):
    """502: the provider is down or returned an invalid response."""


class ServiceUnavailableError(ServerError):
    """503: no provider available for the routing constraints."""


_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    402: InsufficientCreditsError,
    403: PermissionDeniedError,
    404: NotFoundError,
    408: RequestTimeoutError,
    413: PayloadTooLargeError,
    422: UnprocessableEntityError,
    429: RateLimitError,
    502: BadGatewayError,
    503: ServiceUnavailableError,
}


def status_error_class(status: int, metadata: Mapping[str, Any] | None = None) -> type[APIStatusError]:
    """The :class:`APIStatusError` subclass for an HTTP ``status``."""
    if status == 403 and metadata and ("reasons" in metadata or "flagged_input" in metadata):
        return ModerationError
    cls = _STATUS_CLASSES.get(status)
    if cls is not None:
        return cls
    if status >= 500:
        return ServerError
    return APIStatusError


class StreamError(OpenRouterError):
    """An error chunk arrived in the middle of a 200 stream.

    The chunks before it were emitted as usual; :attr:`partial` holds them accumulated.

    Attributes:
        code: ``error.code`` as sent (an int such as 502, or a string such as
            ``"server_error"``).
        metadata: ``error.metadata``.
        error_type: ``metadata.error_type`` or ``error.type`` when present.
        chunk: the error chunk itself.
    """

    def __init__(
        self,
        message: str,
        *,
        code: int | str | None = None,
        metadata: Mapping[str, Any] | None = None,
        error_type: str | None = None,
        chunk: Chunk | None = None,
        partial: Response | None = None,
        chunk_count: int = 0,
    ) -> None:
        super().__init__(message, partial=partial, chunk_count=chunk_count)
        self.code = code
        self.metadata: dict[str, Any] = dict(metadata or {})
        self.error_type = error_type
        self.chunk = chunk

    @property
    def status(self) -> int | None:
        """``code`` when it is an HTTP-like integer, else ``None``."""
        if isinstance(self.code, int) and not isinstance(self.code, bool):
            return self.code
        if isinstance(self.code, str) and self.code.isdigit():
            return int(self.code)
        return None


class TruncatedStreamError(OpenRouterError):
    """The stream ended with neither ``[DONE]`` nor a finish_reason."""


class ProtocolError(OpenRouterError):
    """The server sent something that is not a valid OpenRouter stream.

    Attributes:
        data: a short excerpt of the offending data (at most 200 characters).
    """

    def __init__(self, message: str, *, data: str | None = None) -> None:
        super().__init__(message)
        self.data = data


class APIConnectionError(OpenRouterError):
    """The connection failed (refused, reset, DNS, TLS, ...)."""


ConnectionError = APIConnectionError  # noqa: A001 - the public name the API promises


class APITimeoutError(APIConnectionError):
    """Base class of the three timeouts.

    Attributes:
        timeout: the limit that was exceeded, in seconds.
    """

    def __init__(self, message: str, *, timeout: float | None = None) -> None:
        super().__init__(message)
        self.timeout = timeout


class ConnectTimeout(APITimeoutError):
    """The TCP/TLS connection could not be made within ``Timeout.connect``."""


class IdleTimeout(APITimeoutError):
    """No data event arrived within ``Timeout.idle`` (keep-alive comments do not count)."""


class TotalTimeout(APITimeoutError):
    """The whole request took longer than ``Timeout.total``."""


class ToolArgumentsError(OpenRouterError, ValueError):
    """A tool call's arguments are not valid JSON, or do not pass the tool's schema.

    Attributes:
        raw: the arguments text exactly as the model sent it.
        name: the tool's name (``None`` if the model sent none).
        messages: marshmallow's error messages (a dict keyed by field, or a list of
            strings), or ``{"_json": [why]}`` when the text is not JSON.
        call: the :class:`~openrouter_rx.ToolCall`, when the error came from one.
    """

    def __init__(
        self,
        message: str,
        *,
        raw: str,
        name: str | None = None,
        messages: Any = None,
        call: Any = None,
    ) -> None:
        super().__init__(message)
        self.raw = raw
        self.name = name
        self.messages = messages
        self.call = call


class UnknownToolError(ToolArgumentsError):
    """The model called a tool that was not among the ones offered (``name`` says which)."""


class StructuredOutputError(OpenRouterError, ValueError):
    """A structured output could not be turned into valid data, even after repairs.

    Attributes:
        raw: the model's text exactly as received.
        messages: the last validation errors (marshmallow's messages, or
            ``{"_json": [why]}`` when no attempt produced JSON).
        attempts: every attempt made, in order (local repair, then each healer call):
            a list of :class:`~openrouter_rx.structured.HealAttempt`.
    """

    def __init__(
        self, message: str, *, raw: str, messages: Any = None, attempts: list[Any] | None = None
    ) -> None:
        super().__init__(message)
        self.raw = raw
        self.messages = messages
        self.attempts = list(attempts or [])


class SchemaConversionError(OpenRouterError, TypeError):
    """A marshmallow schema or field cannot be expressed as JSON Schema (in the mode asked).

    The message names the field path and the reason, e.g. ``"tags: fields.Dict has no
    strict-mode form (strict schemas need fixed property names)"``.
    """


class MaxTurnsError(OpenRouterError):
    """A tool loop reached ``max_turns`` and the model still asked for tools.

    Attributes:
        messages: the conversation as the last turn sent it (every earlier tool call
            answered): resend it, with a higher limit, to go on.
        partial: the last turn's :class:`~openrouter_rx.Response` (its unanswered tool calls).
        turns: how many turns were run.
    """

    def __init__(
        self, message: str, *, messages: list[dict[str, Any]], turns: int, partial: Response | None = None
    ) -> None:
        super().__init__(message, partial=partial)
        self.messages = messages
        self.turns = turns


class CallbackError(OpenRouterError):
    """A callback given to :class:`~openrouter_rx.StreamingClient` raised.

    The callback's exception is ``__cause__``; ``partial`` holds the response received so
    far (when the call accumulates), ``chunk_count`` how many chunks arrived.

    Attributes:
        event: the callback's event (``"on_chunk"``, ..., or ``"callback"`` for the
            per-call ``callback=``).
    """

    def __init__(
        self, message: str, *, event: str, partial: Response | None = None, chunk_count: int = 0
    ) -> None:
        super().__init__(message, partial=partial, chunk_count=chunk_count)
        self.event = event


class InsecureTransportError(OpenRouterError, ValueError):
    """Refused to send an API key over plain ``http://`` to a non-loopback host."""


class InvalidHeaderError(OpenRouterError, ValueError):
    """A request header cannot be sent as it is, so the request was not sent.

    Raised (through ``on_error``) for an API key with surrounding whitespace (a newline
    read from a file), a control character or a non-ASCII character (a pasted ellipsis
    or smart quote), and for a header from ``headers=`` / ``extra_headers=`` that
    HTTP cannot carry. The message names the problem, never the value.
    """
