"""Marble tests for fallback_to_non_streaming() with an explicit completion observable."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import reactivex
from reactivex import operators as ops

import openrouter_rx as orx
from openrouter_rx import operators as orx_ops
from openrouter_rx.chunk_stream import ChunkStream
from openrouter_rx.testing import ChunkFactory, chunk_lookup, completion_body, run_marbles

F = ChunkFactory()
LOOKUP = chunk_lookup(r=F.role(), a=F.text("streamed")[0], f=F.finish())
BODY = completion_body("from the completion", model="m/x", prompt_tokens=4, cost=0.002)
RESPONSE = orx.Response.from_completion(BODY)


def completion_marbles(marbles: str = "--r|", error: Exception | None = None) -> Any:
    return reactivex.from_marbles(marbles, timespan=1.0, lookup={"r": RESPONSE}, error=error)


def fallback(completion: Any = None, **options: Any) -> Any:
    return orx_ops.fallback_to_non_streaming(completion if completion is not None else completion_marbles(), **options)


def test_failure_before_output_emits_the_completion_as_chunks() -> None:
    run = run_marbles(
        lambda s: s.pipe(fallback(), orx_ops.accumulate()), "-r-#", LOOKUP, error=orx.StreamError("x", code=502)
    )
    response = run.values[0]
    assert response.content == "from the completion"
    assert response.usage is not None and response.usage.cost == Decimal("0.002")
    assert response.prompt_tokens == 4 and response.model == "m/x"
    assert run.frames() == [6, 6]  # completion subscribed at frame 3: R at 5, completed at 6


def test_the_role_chunk_held_before_the_failure_is_not_repeated() -> None:
    run = run_marbles(fallback(), "-r-#", LOOKUP, error=orx.TruncatedStreamError("dropped"))
    assert run.values == RESPONSE.to_chunks()
    assert run.completed


def test_failure_after_output_propagates_with_no_fallback() -> None:
    boom = orx.TruncatedStreamError("dropped")
    run = run_marbles(fallback(), "-a-#", LOOKUP, error=boom)
    assert run.events == [(1, "N", LOOKUP["a"]), (3, "E", boom)]


@pytest.mark.parametrize(
    "error",
    [
        orx.AuthenticationError("no", status=401),
        orx.BadRequestError("no", status=400),
        orx.InsufficientCreditsError("no", status=402),
        orx.RateLimitError("slow down", status=429),
        orx.TotalTimeout("the time budget is spent"),
        orx.StreamError("bad request", code=400),
        orx.InvalidHeaderError("the API key has surrounding whitespace"),
        ValueError("user bug"),
    ],
)
def test_errors_the_completion_would_repeat_do_not_fall_back(error: Exception) -> None:
    assert not orx_ops.should_fall_back(error)
    run = run_marbles(fallback(), "-#", {}, error=error)
    assert run.events == [(1, "E", error)]


@pytest.mark.parametrize(
    "error",
    [
        orx.ServerError("x", status=500),
        orx.RequestTimeoutError("x", status=408),
        orx.IdleTimeout("x"),
        orx.ProtocolError("x"),
        orx.StreamError("x", code=502),
        orx.APIConnectionError("x"),
    ],
)
def test_errors_that_fall_back(error: Exception) -> None:
    assert orx_ops.should_fall_back(error)
    assert run_marbles(fallback(), "-#", {}, error=error).completed


def test_a_success_passes_through_untouched() -> None:
    run = run_marbles(fallback(), "-r-a-f-|", LOOKUP)
    assert run.values == [LOOKUP["r"], LOOKUP["a"], LOOKUP["f"]]
    assert run.frames() == [3, 3, 5, 7]


def test_when_the_fallback_fails_its_error_propagates_caused_by_the_stream_error() -> None:
    stream_error = orx.IdleTimeout("no data", timeout=1.0)
    fallback_error = orx.ServiceUnavailableError("down", status=503)
    run = run_marbles(fallback(completion_marbles("-#", fallback_error)), "-#", {}, error=stream_error)
    assert run.error is fallback_error
    assert fallback_error.__cause__ is stream_error


def test_on_fallback_is_called_with_the_stream_error() -> None:
    seen: list[Exception] = []
    boom = orx.ProtocolError("bad")
    run_marbles(fallback(on_fallback=seen.append), "-#", {}, error=boom)
    assert seen == [boom]


def test_a_custom_predicate() -> None:
    run = run_marbles(fallback(when=lambda e: isinstance(e, ValueError)), "-#", {}, error=ValueError("x"))
    assert run.completed


def test_dispose_during_the_fallback_request() -> None:
    run = run_marbles(fallback(completion_marbles("-----r|")), "-#", {}, error=orx.IdleTimeout("x"), dispose_at=3)
    assert run.events == []


def test_sources_not_made_by_the_client_need_an_explicit_completion() -> None:
    with pytest.raises(TypeError, match=r"client\.stream"):
        reactivex.empty().pipe(orx_ops.fallback_to_non_streaming())
    with pytest.raises(TypeError):
        # share() makes a new observable that no longer knows its request
        orx.Client(api_key="k", base_url="http://127.0.0.1:9/api/v1").stream("x").pipe(
            ops.share(), orx_ops.fallback_to_non_streaming()
        )


def test_response_to_chunks_round_trips() -> None:
    body = completion_body(
        "text",
        tool_calls=[{"name": "f", "arguments": {"a": 1}, "id": "call_1"}],
        finish_reason="tool_calls",
    )
    response = orx.Response.from_completion(body)
    again = orx.Response.from_chunks(response.to_chunks())
    assert again == response
    assert again.tool_calls[0].arguments == {"a": 1}


def test_response_to_dict_is_a_completion_body_that_round_trips() -> None:
    import json

    body = completion_body("text", reasoning="why", tool_calls=[{"name": "f", "arguments": {"a": 1}, "id": "c"}])
    response = orx.Response.from_completion(body)
    again = orx.Response.from_chunks(response.to_chunks())
    as_dict = again.to_dict()
    json.dumps(as_dict)  # JSON-ready
    assert orx.Response.from_completion(as_dict) == response
    assert as_dict["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "f"


def test_a_failing_on_fallback_delivers_what_was_held_then_its_error() -> None:
    def broken(_: Exception) -> None:
        raise ValueError("callback bug")

    boom = orx.ProtocolError("bad")
    run = run_marbles(fallback(on_fallback=broken), "-r-#", LOOKUP, error=boom)
    assert run.values == [LOOKUP["r"]]
    assert isinstance(run.error, ValueError) and run.error.__cause__ is boom


def test_the_non_streaming_request_is_built_only_when_a_fallback_happens() -> None:
    built: list[int] = []

    class Source(ChunkStream):
        pass

    def non_streaming() -> Any:
        built.append(1)
        return completion_marbles()

    source = Source.of(reactivex.from_marbles("-a-|", timespan=1.0, lookup=dict(LOOKUP)), non_streaming)
    run = run_marbles(lambda _: source.pipe(orx_ops.fallback_to_non_streaming()), "|", {})
    assert run.completed and built == []
