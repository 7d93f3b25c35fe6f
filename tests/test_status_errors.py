"""HTTP status and error-chunk mapping (no network)."""

from __future__ import annotations

import json

import pytest

from openrouter_rx import errors
from openrouter_rx._status import parse_retry_after, status_error, stream_error


def _json(code: int, message: str = "m", **extra: object) -> bytes:
    return json.dumps({"error": {"code": code, "message": message, **extra}}).encode()


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, errors.BadRequestError),
        (401, errors.AuthenticationError),
        (402, errors.InsufficientCreditsError),
        (403, errors.PermissionDeniedError),
        (404, errors.NotFoundError),
        (408, errors.RequestTimeoutError),
        (413, errors.PayloadTooLargeError),
        (422, errors.UnprocessableEntityError),
        (429, errors.RateLimitError),
        (500, errors.ServerError),
        (502, errors.BadGatewayError),
        (503, errors.ServiceUnavailableError),
        (524, errors.ServerError),
        (529, errors.ServerError),
        (418, errors.APIStatusError),
    ],
)
def test_status_classes(status: int, cls: type[errors.APIStatusError]) -> None:
    exc = status_error(status, {}, _json(status, "boom", metadata={"error_type": "kind"}))
    assert type(exc) is cls
    assert (exc.status, exc.code, exc.message, exc.error_type) == (status, status, "boom", "kind")
    assert isinstance(exc, errors.OpenRouterError)


def test_moderation_403() -> None:
    body = _json(403, "flagged", metadata={"reasons": ["violence"], "flagged_input": "bad", "provider_name": "P"})
    exc = status_error(403, {}, body)
    assert isinstance(exc, errors.ModerationError) and isinstance(exc, errors.PermissionDeniedError)
    assert exc.reasons == ["violence"] and exc.flagged_input == "bad"


def test_retry_after_header_and_availability() -> None:
    assert status_error(429, {"Retry-After": "7"}, _json(429)).retry_after == 7.0
    exc = status_error(503, {}, _json(503, availability={"retryable": True, "retry_after": 3}))
    assert exc.retry_after == 3.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a past date: retry now
    assert parse_retry_after("soon") is None


def test_html_body_gives_right_class_and_short_message() -> None:
    page = b"<html><head><title>502 Bad Gateway</title></head><body>" + b"<p>x</p>" * 5000 + b"</body></html>"
    exc = status_error(502, {}, page, "Bad Gateway")
    assert isinstance(exc, errors.BadGatewayError)
    assert "502 Bad Gateway" in exc.message and len(str(exc)) < 400
    assert "<" not in exc.message


def test_empty_body() -> None:
    exc = status_error(500, {}, b"", "Internal Server Error")
    assert isinstance(exc, errors.ServerError) and exc.message == "Internal Server Error"


@pytest.mark.parametrize("code", [502, "server_error", "502"])
def test_stream_error_code_int_or_string(code: object) -> None:
    exc = stream_error({"code": code, "message": "Provider disconnected", "metadata": {"provider_name": "X"}})
    assert exc.code == code and exc.message == "Provider disconnected"
    assert exc.metadata == {"provider_name": "X"}
    assert exc.status == (502 if code != "server_error" else None)


def test_a_string_error_member_on_an_http_error_is_its_message() -> None:
    err = status_error(503, {}, b'{"error": "overloaded"}', "Service Unavailable")
    assert isinstance(err, errors.ServiceUnavailableError) and err.message == "overloaded"


def test_a_chunk_keeps_a_string_error_as_an_object() -> None:
    from openrouter_rx import Chunk

    chunk = Chunk.from_dict({"error": "overloaded", "choices": []})
    assert chunk.error == {"message": "overloaded"}
