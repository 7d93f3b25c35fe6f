"""Issue 4's pieces wired into requests, over loopback: schemas as ``response_format``, Tool
objects and functions as ``tools``, Responses that know their format and their model's pricing."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import reactivex
from marshmallow import Schema, fields, post_load, validate
from support import outcome, values

import openrouter_rx as orx
from openrouter_rx import operators as orx_ops
from openrouter_rx.testing import (
    ChunkFactory,
    CompletionReply,
    ErrorReply,
    FakeOpenRouter,
    StreamReply,
    completion_body,
    text_chunks,
    tool_call_chunks,
)

KEY = "sk-or-v1-integration-0123456789"


class City(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1))
    population = fields.Integer(required=True, validate=validate.Range(min=0))
    nickname = fields.String(load_default=None)

    @post_load
    def _tuple(self, data: dict[str, Any], **_: Any) -> tuple[str, int, str | None]:
        return data["name"], data["population"], data["nickname"]


OSLO = '{"name": "Oslo", "population": 709037, "nickname": null}'


@pytest.fixture
def client(fake_openrouter: FakeOpenRouter) -> Iterator[orx.Client]:
    with orx.Client(api_key=KEY, base_url=fake_openrouter.base_url, timeout=orx.Timeout(connect=2, idle=5)) as c:
        yield c


def sent(fake: FakeOpenRouter) -> dict[str, Any]:
    assert fake.last_request is not None
    body = fake.last_request.json
    assert isinstance(body, dict)
    return body


def test_a_schema_class_is_sent_as_a_strict_json_schema_and_loaded_back(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks(OSLO, pieces=7)))
    (response,) = values(client.stream("Oslo?", response_format=City).pipe(orx_ops.accumulate()))
    assert sent(fake_openrouter)["response_format"] == orx.ResponseFormat(City).to_dict()
    fmt = sent(fake_openrouter)["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
    assert fmt["json_schema"]["schema"]["additionalProperties"] is False
    assert response.structured_output == ("Oslo", 709037, None)
    assert response.structured_output is response.structured_output  # computed once


def test_complete_knows_its_format_too(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(CompletionReply(completion_body(OSLO)))
    (response,) = values(client.complete("Oslo?", response_format=orx.ResponseFormat(City, name="city")))
    assert sent(fake_openrouter)["response_format"]["json_schema"]["name"] == "city"
    assert response.structured_output == ("Oslo", 709037, None)


def test_a_dict_response_format_is_sent_unchanged_and_parses_json(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks('```json\n{"a": [1, 2,]}\n```')))
    (response,) = values(client.stream("x", response_format={"type": "json_object"}).pipe(orx_ops.accumulate()))
    assert sent(fake_openrouter)["response_format"] == {"type": "json_object"}
    assert response.structured_output == {"a": [1, 2]}  # code fence and trailing comma repaired locally


def test_without_a_format_structured_output_is_none_and_parse_takes_one(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks(OSLO)))
    (response,) = values(client.stream("x").pipe(orx_ops.accumulate()))
    assert "response_format" not in sent(fake_openrouter)
    assert response.structured_output is None
    assert response.parse(City) == ("Oslo", 709037, None)
    with pytest.raises(ValueError, match="no response_format"):
        response.parse()


def test_invalid_data_is_a_structured_output_error_with_every_attempt(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks('{"name": "", "population": -1,}', finish_reason="length")))
    (response,) = values(client.stream("x", response_format=City).pipe(orx_ops.accumulate()))
    with pytest.raises(orx.StructuredOutputError) as info:
        _ = response.structured_output
    error = info.value
    assert "max_tokens" in str(error)
    assert error.raw == '{"name": "", "population": -1,}'
    assert [a.source for a in error.attempts] == ["model", "repair"]
    assert set(error.messages) == {"name", "population"}
    assert error.partial is response


def test_a_refusal_is_an_error_quoting_it(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    factory = ChunkFactory()
    chunks = [factory.chunk({"role": "assistant", "refusal": "I can't help with that."}), factory.finish("stop")]
    fake_openrouter.enqueue(StreamReply(chunks))
    (response,) = values(client.stream("x", response_format=City).pipe(orx_ops.accumulate()))
    with pytest.raises(orx.StructuredOutputError, match="can't help"):
        _ = response.structured_output


def test_tools_accept_tool_objects_functions_and_dicts(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    @orx.tool
    def ping(host: str) -> str:
        """Ping a host."""
        return host

    def pong(count: int = 1) -> int:
        """Answer pings."""
        return count

    raw = {"type": "function", "function": {"name": "raw", "parameters": {"type": "object", "properties": {}}}}
    fake_openrouter.enqueue(StreamReply(text_chunks("ok")))
    values(client.stream("x", tools=[ping, pong, raw]))
    tools = sent(fake_openrouter)["tools"]
    assert tools[0] == ping.to_dict()
    assert tools[1] == orx.tool(pong).to_dict() and tools[1]["function"]["name"] == "pong"
    assert tools[2] == raw


def _without_cost(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    usage = chunks[-1]["usage"]
    del usage["cost"]
    usage.pop("cost_details", None)
    return chunks


def test_cost_comes_from_the_cached_pricing_when_usage_has_no_cost(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    fake_openrouter.enqueue(StreamReply(_without_cost(text_chunks("one two three", prompt_tokens=1000))))
    (before,) = values(client.stream("x", model="openai/gpt-4o-mini").pipe(orx_ops.accumulate()))
    assert before.cost_source is None and before.cost_estimate is None  # nothing cached: no guess, no fetch
    assert [r.path for r in fake_openrouter.requests] == ["/api/v1/chat/completions"]

    assert len(values(client.models())) >= 3
    pricing = client.pricing_for("openai/gpt-4o-mini")
    assert pricing is not None

    fake_openrouter.enqueue(StreamReply(_without_cost(text_chunks("one two three", prompt_tokens=1000))))
    (response,) = values(client.stream("x", model="openai/gpt-4o-mini").pipe(orx_ops.accumulate()))
    assert response.cost_source == "pricing"
    assert response.usage is not None
    expected = response.usage.prompt_tokens * pricing.prompt + response.usage.completion_tokens * pricing.completion
    assert response.cost_estimate == expected
    assert isinstance(response.cost_estimate, Decimal)

    fake_openrouter.enqueue(CompletionReply(_completion_without_cost()))
    (done,) = values(client.complete("x", model="openai/gpt-4o-mini"))
    assert done.cost_source == "pricing"


def _completion_without_cost() -> dict[str, Any]:
    body = completion_body("fine")
    body["usage"].pop("cost", None)
    return body


def test_reported_cost_wins_over_pricing(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    values(client.models())
    fake_openrouter.enqueue(StreamReply(text_chunks("hi", cost=0.25)))
    (response,) = values(client.stream("x", model="openai/gpt-4o-mini").pipe(orx_ops.accumulate()))
    assert response.cost_source == "usage" and response.cost_estimate == Decimal("0.25")


def test_a_bad_response_format_fails_at_call_time(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    with pytest.raises(TypeError, match="response format"):
        client.stream("x", response_format=42)
    with pytest.raises(TypeError):
        client.complete("x", tools=[42])
    assert fake_openrouter.requests == []


def test_structured_output_without_arguments_takes_the_requests_format(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks(OSLO, pieces=5)))
    stream = client.stream("Oslo?", response_format=City).pipe(orx_ops.retry_with_backoff(), orx_ops.idle_timeout(5))
    assert values(stream.pipe(orx_ops.structured_output())) == [("Oslo", 709037, None)]


def test_structured_output_without_a_known_format_is_a_type_error_at_pipe_time(client: orx.Client) -> None:
    with pytest.raises(TypeError, match="needs a format"):
        client.stream("x").pipe(orx_ops.structured_output())
    items, error = outcome(reactivex.empty().pipe(orx_ops.structured_output()))  # the chunks could have told
    assert items == [] and isinstance(error, TypeError) and "needs a format" in str(error)


@pytest.mark.parametrize("cost", ["NaN", "Infinity", "-Infinity", "nan"])
def test_a_non_finite_cost_is_no_cost(cost: str) -> None:
    usage = orx.Usage.from_dict({"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2, "cost": cost})
    assert usage.cost is None


def test_an_empty_tools_list_is_left_out(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks("ok")))
    values(client.stream("x", tools=[]))
    assert "tools" not in sent(fake_openrouter)


def test_tool_call_arguments_nested_too_deeply_are_a_tool_arguments_error() -> None:
    call = orx.ToolCall("c1", "f", '{"a": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(orx.ToolArgumentsError):
        _ = call.arguments


def test_a_text_response_format_asks_for_no_structure(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks("Just prose.")))
    (response,) = values(client.stream("x", response_format={"type": "text"}).pipe(orx_ops.accumulate()))
    assert sent(fake_openrouter)["response_format"] == {"type": "text"}
    assert response.structured_output is None


def test_a_repaired_truncated_reply_is_a_warning(
    fake_openrouter: FakeOpenRouter, client: orx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    cut = '{"name": "Oslo", "population": 709037, "nickname": "Tig'
    fake_openrouter.enqueue(StreamReply(text_chunks(cut, finish_reason="length")))
    with caplog.at_level("WARNING", logger="openrouter_rx"):
        (value,) = values(client.stream("x", response_format=City).pipe(orx_ops.structured_output()))
    assert value == ("Oslo", 709037, "Tig")
    assert any("truncated by max_tokens" in r.getMessage() for r in caplog.records if r.levelname == "WARNING")


def test_the_format_survives_retry_and_fallback(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(ErrorReply(503), ErrorReply(503), CompletionReply(completion_body(OSLO)))
    stream = client.stream("Oslo?", response_format=City).pipe(
        orx_ops.retry_with_backoff(max_retries=1, base=0.01, jitter=False),
        orx_ops.fallback_to_non_streaming(),
    )
    (response,) = values(stream.pipe(orx_ops.accumulate()))
    assert [r.json["stream"] for r in fake_openrouter.requests] == [True, True, False]
    assert response.structured_output == ("Oslo", 709037, None)
    fake_openrouter.enqueue(ErrorReply(503), ErrorReply(503), CompletionReply(completion_body(OSLO)))
    assert values(stream.pipe(orx_ops.structured_output())) == [("Oslo", 709037, None)]


def test_a_healer_attempt_carries_the_healer_response_for_its_cost(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    fake_openrouter.enqueue(
        StreamReply(text_chunks('{"name": "Oslo", "population": "many"}')),
        CompletionReply(completion_body(OSLO, cost=0.0042)),
    )
    attempts: list[orx.HealAttempt] = []
    stream = client.stream("x", response_format=City).pipe(
        orx_ops.structured_output(heal=orx.Healer(client), on_attempt=attempts.append)
    )
    assert values(stream) == [("Oslo", 709037, None)]
    healed = attempts[-1]
    assert healed.source == "healer" and healed.response is not None
    assert healed.response.cost_estimate == Decimal("0.0042")
    assert attempts[0].response is None


def test_a_tool_as_tool_choice_forces_that_tool(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    @orx.tool
    def ping(host: str) -> str:
        """Ping a host."""
        return host

    fake_openrouter.enqueue(StreamReply(text_chunks("ok")))
    values(client.stream("x", tools=[ping], tool_choice=ping))
    assert sent(fake_openrouter)["tool_choice"] == {"type": "function", "function": {"name": "ping"}}
    fake_openrouter.enqueue(
        StreamReply(tool_call_chunks([{"id": "c1", "name": "ping", "arguments": {"host": "a"}}])),
        StreamReply(text_chunks("pong")),
    )
    events, error = outcome(orx.tool_loop(client, "x", tools=[ping], tool_choice=ping))
    assert isinstance(events[-1], orx.LoopFinished)
    assert error is None
    assert [r.json["tool_choice"] for r in fake_openrouter.requests[1:]] == [
        {"type": "function", "function": {"name": "ping"}},
        "auto",
    ]
