"""What the library sends and reads, checked against OpenRouter's and OpenAI's documented wire
formats and against real recorded traffic (``../shared/recorded``, read in place).

Each test names its source. Passing tests pin behaviour confirmed to match the documents or the
recordings; ``xfail(strict=True)`` tests show a documented mismatch (they start passing, and
then fail as XPASS, once the library is fixed, so the marker must then be removed).

The JSON Schemas below are written from the documents, not taken from the library:

* OpenAI chat completions ``ChatCompletionMessageToolCall``, ``ChatCompletionToolMessageParam``
  (``role``, ``content`` string, ``tool_call_id``: no ``name``), ``ChatCompletionTool`` and
  ``ResponseFormatJSONSchema`` (``name`` ``[a-zA-Z0-9_-]{1,64}``, ``description``, ``schema``,
  ``strict``);
* OpenRouter's API reference request type: a tool message is
  ``{role: 'tool'; content: string; tool_call_id: string; name?: string}``, so ``name``, when
  present, is a string (never ``null``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
from marshmallow import Schema, fields, validate
from support import outcome, recorded_root

import openrouter_rx as orx
from openrouter_rx.chunk import Usage
from openrouter_rx.models import Pricing, parse_models
from openrouter_rx.response import Response, ToolCall
from openrouter_rx.structured import ResponseFormat
from openrouter_rx.testing import (
    CompletionReply,
    FakeOpenRouter,
    RecordedFolderReply,
    StreamReply,
    completion_body,
    text_chunks,
)
from openrouter_rx.tool_loop import LoopFinished, tool_loop
from openrouter_rx.tools import Tool, tool

KEY = "sk-or-v1-wire-reality-0123456789"
ROOT = recorded_root()
needs_recordings = pytest.mark.skipif(ROOT is None, reason="../shared/recorded is not present")

_NAME = "^[a-zA-Z0-9_-]{1,64}$"

OPENAI_TOOL_CALL = {
    "type": "object",
    "required": ["id", "type", "function"],
    "properties": {
        "id": {"type": "string"},
        "type": {"const": "function"},
        "function": {
            "type": "object",
            "required": ["name", "arguments"],
            "properties": {"name": {"type": "string"}, "arguments": {"type": "string"}},
            "additionalProperties": False,
        },
    },
    "additionalProperties": False,
}
"""OpenAI ``ChatCompletionMessageToolCall`` as sent back in an assistant message (no ``index``)."""

ASSISTANT_MESSAGE = {
    "type": "object",
    "required": ["role"],
    "properties": {
        "role": {"const": "assistant"},
        "content": {"type": ["string", "null"]},
        "tool_calls": {"type": "array", "minItems": 1, "items": OPENAI_TOOL_CALL},
        "reasoning_details": {"type": "array", "items": {"type": "object", "required": ["type"]}},
    },
    "additionalProperties": False,
}
"""OpenAI ``ChatCompletionAssistantMessageParam`` (content may be null when tool_calls are given),
plus OpenRouter's ``reasoning_details`` (reasoning-tokens guide, "preserving reasoning blocks")."""

TOOL_MESSAGE = {
    "type": "object",
    "required": ["role", "content", "tool_call_id"],
    "properties": {
        "role": {"const": "tool"},
        "content": {"type": "string"},
        "tool_call_id": {"type": "string"},
        "name": {"type": "string"},  # OpenRouter: name?: string (OpenAI has no name here)
    },
    "additionalProperties": False,
}

FUNCTION_TOOL = {
    "type": "object",
    "required": ["type", "function"],
    "properties": {
        "type": {"const": "function"},
        "function": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "pattern": _NAME},
                "description": {"type": "string"},
                "parameters": {"type": "object"},
                "strict": {"type": ["boolean", "null"]},
            },
            "additionalProperties": False,
        },
    },
    "additionalProperties": False,
}
"""OpenAI ``ChatCompletionTool`` / ``FunctionDefinition`` (``strict`` inside ``function``)."""

RESPONSE_FORMAT_JSON_SCHEMA = {
    "type": "object",
    "required": ["type", "json_schema"],
    "properties": {
        "type": {"const": "json_schema"},
        "json_schema": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "pattern": _NAME},
                "description": {"type": "string"},
                "schema": {"type": "object"},
                "strict": {"type": ["boolean", "null"]},
            },
            "additionalProperties": False,
        },
    },
    "additionalProperties": False,
}
"""OpenAI ``ResponseFormatJSONSchema``, the shape OpenRouter's structured-outputs guide shows."""


def _valid(instance: Any, schema: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator(schema).validate(instance)


def _strict_objects(node: Any, path: str = "$") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every object schema in ``node`` (a JSON Schema), with its path."""
    if isinstance(node, dict):
        if node.get("type") == "object" or (isinstance(node.get("type"), list) and "object" in node["type"]):
            yield path, node
        for key, value in node.items():
            yield from _strict_objects(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _strict_objects(item, f"{path}[{i}]")


def _assert_openai_strict(schema: dict[str, Any]) -> None:
    """OpenAI strict mode: every object lists all its properties in required, with no extras."""
    assert schema.get("type") == "object" and "anyOf" not in schema  # the root is a plain object
    for path, obj in _strict_objects(schema):
        assert obj.get("additionalProperties") is False, path
        assert sorted(obj.get("required", [])) == sorted(obj.get("properties", {})), path


class Trip(Schema):
    city = fields.String(required=True, metadata={"description": "City name"})
    days = fields.Integer(required=True)
    note = fields.String(load_default=None, allow_none=True)
    stops = fields.List(fields.Nested(lambda: Stop()), load_default=list)


class Stop(Schema):
    name = fields.String(required=True)
    hours = fields.Float()


@tool(strict=True)
def get_weather(location: str, units: str | None = None) -> str:
    """Get current weather for a location

    Args:
        location: City name or location
        units: Temperature units: celsius or fahrenheit
    """
    return f"Sunny in {location}"


@pytest.fixture
def client(fake_openrouter: FakeOpenRouter) -> Iterator[orx.Client]:
    with orx.Client(api_key=KEY, base_url=fake_openrouter.base_url, timeout=orx.Timeout(connect=2, idle=5)) as c:
        yield c


# -- 1. tools, the replayed assistant message, tool results ------------------------------------


def test_a_strict_tool_entry_has_openais_function_tool_shape() -> None:
    entry = get_weather.to_dict()
    _valid(entry, FUNCTION_TOOL)
    assert entry["function"]["strict"] is True  # inside "function", as OpenAI documents
    _assert_openai_strict(entry["function"]["parameters"])
    assert entry["function"]["parameters"]["properties"]["units"]["type"] == ["string", "null"]


def test_a_non_strict_tool_sends_no_strict_key_and_keeps_optional_parameters_optional() -> None:
    entry = Tool("get_weather", "Weather", parameters=Stop).to_dict()
    _valid(entry, FUNCTION_TOOL)
    assert "strict" not in entry["function"]
    assert entry["function"]["parameters"]["required"] == ["name"]


@needs_recordings
def test_the_replayed_recorded_assistant_message_has_openais_shape() -> None:
    """tool_calling_multiple_calls-1: content "" and two calls with an ``index`` in the reply."""
    assert ROOT is not None
    body = json.loads((ROOT / "tool_calling_multiple_calls-1" / "body.json").read_text("utf-8"))
    recorded = body["choices"][0]["message"]
    message = Response.from_completion(body).to_message()
    _valid(message, ASSISTANT_MESSAGE)
    assert message["content"] is None  # OpenAI: content is optional/null when tool_calls are given
    assert [c["id"] for c in message["tool_calls"]] == [c["id"] for c in recorded["tool_calls"]]
    assert [c["function"]["arguments"] for c in message["tool_calls"]] == [
        c["function"]["arguments"] for c in recorded["tool_calls"]
    ]  # the text exactly as received, not re-encoded


def test_the_assistant_message_keeps_reasoning_details_for_the_next_turn() -> None:
    """OpenRouter reasoning-tokens guide: pass ``reasoning_details`` back unmodified with tool calls."""
    details = [
        {"type": "reasoning.encrypted", "data": "opaque==", "id": "r1", "format": "anthropic-claude-v1", "index": 0}
    ]
    body = completion_body("", finish_reason="tool_calls")
    message = body["choices"][0]["message"]
    message["tool_calls"] = [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
    message["reasoning_details"] = details
    replay = Response.from_completion(body).to_message()
    _valid(replay, ASSISTANT_MESSAGE)
    assert replay["reasoning_details"] == details


@pytest.mark.parametrize("result", [{"temp": 21}, [1, 2], None, 3.5, "plain text"])
def test_a_tool_result_message_carries_string_content(result: Any) -> None:
    message = ToolCall(id="call_1", name="get_weather", arguments_json="{}").to_result_message(result)
    _valid(message, TOOL_MESSAGE)
    assert message["tool_call_id"] == "call_1"
    assert message["content"] == (result if isinstance(result, str) else json.dumps(result))


def test_a_tool_result_for_a_nameless_call_sends_no_null_name() -> None:
    message = ToolCall(id="call_1", name=None, arguments_json="{}").to_result_message("ok")
    _valid(message, TOOL_MESSAGE)


def test_a_replayed_call_without_id_is_not_sent_with_a_null_id() -> None:
    _valid(ToolCall(id=None, name="f", arguments_json="{}").to_dict(), OPENAI_TOOL_CALL)


@needs_recordings
def test_a_tool_loop_second_turn_matches_the_documented_step_3(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    """OpenRouter tool-calling guide, step 3: the same ``tools`` again, the assistant message with
    its ``tool_calls``, then one ``role: tool`` message per call with its ``tool_call_id``."""
    assert ROOT is not None
    fake_openrouter.enqueue(
        RecordedFolderReply(ROOT / "streaming_tool_single"),
        StreamReply(text_chunks("Sunny in Tokyo.")),
    )
    events, error = outcome(
        tool_loop(client, "What's the weather in Tokyo?", tools=[get_weather], tool_choice="required")
    )
    assert error is None and isinstance(events[-1], LoopFinished)
    first, second = (request.json for request in fake_openrouter.requests)
    assert first["stream"] is True and second["stream"] is True
    assert first["tool_choice"] == "required" and second["tool_choice"] == "auto"  # else no final answer
    assert second["tools"] == first["tools"] == [get_weather.to_dict()]
    user, assistant, result = second["messages"]
    assert user == {"role": "user", "content": "What's the weather in Tokyo?"}
    _valid(assistant, ASSISTANT_MESSAGE)
    _valid(result, TOOL_MESSAGE)
    (call,) = assistant["tool_calls"]
    assert call["id"] == "call_1faaZF0IpSLU3BaX5RiBAVwk" == result["tool_call_id"]
    assert json.loads(call["function"]["arguments"]) == {"location": "Tokyo"}
    assert result["content"] == "Sunny in Tokyo"


# -- 2. response_format, strict subset, healing plugin ------------------------------------------


@pytest.mark.parametrize("strict", [True, False])
def test_response_format_has_openais_json_schema_shape(strict: bool) -> None:
    entry = ResponseFormat(Trip, strict=strict, description="A trip plan").to_dict()
    _valid(entry, RESPONSE_FORMAT_JSON_SCHEMA)
    assert entry["json_schema"]["name"] == "Trip" and entry["json_schema"]["strict"] is strict
    jsonschema.Draft202012Validator.check_schema(entry["json_schema"]["schema"])
    if strict:
        _assert_openai_strict(entry["json_schema"]["schema"])


def test_strict_response_schema_uses_only_openais_supported_keywords() -> None:
    """OpenAI structured outputs: no default, no format outside its list, no not/if/allOf;
    optional fields become nullable and required."""

    class Event(Schema):
        title = fields.String(required=True, validate=lambda s: bool(s))
        when = fields.DateTime(required=True)
        url = fields.URL(load_default="https://example.org")
        kind = fields.String(load_default="talk", metadata={"examples": ["talk"]})

    schema = ResponseFormat(Event).to_dict()["json_schema"]["schema"]
    text = json.dumps(schema)
    for keyword in ('"default"', '"examples"', '"not"', '"allOf"', '"if"', '"uri"'):
        assert keyword not in text, keyword
    assert schema["properties"]["when"] == {"type": "string", "format": "date-time"}
    assert schema["properties"]["url"]["type"] == ["string", "null"]


def test_strict_mode_leaves_out_string_length_bounds() -> None:
    class Name(Schema):
        name = fields.String(required=True, validate=validate.Length(min=1, max=20))

    prop = ResponseFormat(Name).to_dict()["json_schema"]["schema"]["properties"]["name"]
    assert "minLength" not in prop and "maxLength" not in prop


def test_the_healing_plugin_request_is_sent_as_documented(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    """OpenRouter response-healing guide: non-streaming, ``response_format`` json_schema or
    json_object, and ``plugins: [{"id": "response-healing"}]``; the library passes them through."""
    fake_openrouter.enqueue(CompletionReply(completion_body('{"city": "Oslo", "days": 3, "note": null, "stops": []}')))
    response = client.complete(
        "Plan a trip", response_format=Trip, plugins=[{"id": "response-healing"}], provider={"require_parameters": True}
    ).run()
    body = fake_openrouter.requests[0].json
    assert body["stream"] is False
    assert body["plugins"] == [{"id": "response-healing"}]
    assert body["provider"] == {"require_parameters": True}
    assert body["response_format"] == ResponseFormat(Trip).to_dict()
    assert response.structured_output["days"] == 3


# -- 3. GET /models and cost -------------------------------------------------------------------


def _recorded_models() -> dict[str, orx.Model]:
    assert ROOT is not None
    return {m.id: m for m in parse_models(json.loads((ROOT / "models" / "body.json").read_text("utf-8")))}


def _recorded_usages() -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(folder, requested model, usage) for every recorded reply that carries a usage."""
    assert ROOT is not None
    for folder in sorted(p for p in ROOT.iterdir() if p.is_dir()):
        request = json.loads((folder / "request.json").read_text("utf-8"))
        if not isinstance(request, dict) or not isinstance(request.get("model"), str):
            continue
        for path in (folder / "body.sse", folder / "body.json"):
            if path.is_file():
                for line in path.read_text("utf-8").splitlines():
                    text = line.removeprefix("data: ").strip()
                    if text.startswith("{") and '"usage"' in text:
                        usage = json.loads(text).get("usage")
                        if usage:
                            yield folder.name, request["model"], usage


@needs_recordings
def test_every_recorded_model_entry_parses_with_exact_string_prices() -> None:
    assert ROOT is not None
    raw = json.loads((ROOT / "models" / "body.json").read_text("utf-8"))["data"]
    models = _recorded_models()
    assert len(models) == len(raw)  # none skipped as malformed
    assert all(isinstance(v, str) for entry in raw for v in entry["pricing"].values())  # strings on the wire
    for entry in raw:
        pricing = models[entry["id"]].pricing
        assert pricing.prompt == Decimal(entry["pricing"]["prompt"])
        assert pricing.completion == Decimal(entry["pricing"]["completion"])
        if "input_cache_read" in entry["pricing"]:
            assert pricing.input_cache_read == Decimal(entry["pricing"]["input_cache_read"])
        if "input_cache_write" in entry["pricing"]:
            assert pricing.input_cache_write == Decimal(entry["pricing"]["input_cache_write"])
    assert models["openrouter/auto"].pricing.is_variable  # "-1": priced per routed model
    assert not models["openai/gpt-4o-mini"].pricing.is_variable
    assert models["openai/gpt-4o-mini"].supports("structured_outputs")


@needs_recordings
def test_the_pricing_estimate_equals_openrouters_recorded_cost() -> None:
    """Every recorded usage (gpt-4o-mini and gpt-3.5-turbo): tokens times the recorded /models
    prices == ``usage.cost``, and the prompt/completion split ==
    ``cost_details.upstream_inference_prompt_cost`` / ``..._completions_cost``."""
    models = _recorded_models()
    seen = []
    for folder, model, raw in _recorded_usages():
        pricing = models[model].pricing
        usage = Usage.from_dict(raw)
        assert usage.cost is not None
        assert pricing.cost(usage) == usage.cost, folder
        details = raw["cost_details"]
        assert usage.prompt_tokens * pricing.prompt == Decimal(str(details["upstream_inference_prompt_cost"])), folder
        assert usage.completion_tokens * pricing.completion == Decimal(
            str(details["upstream_inference_completions_cost"])
        ), folder
        assert details["upstream_inference_cost"] is None and raw["is_byok"] is False  # only set for BYOK
        seen.append(folder)
    assert len(seen) >= 8


def test_cached_reads_and_cache_writes_are_priced_apart_from_fresh_prompt_tokens() -> None:
    """Usage-accounting guide: ``cached_tokens`` read from the cache and ``cache_write_tokens``
    written to it, both inside ``prompt_tokens``; reasoning tokens inside ``completion_tokens``."""
    pricing = Pricing.from_dict(
        {
            "prompt": "0.000003",
            "completion": "0.000015",
            "input_cache_read": "0.0000003",
            "input_cache_write": "0.00000375",
        }
    )
    usage = Usage.from_dict(
        {
            "prompt_tokens": 1000,
            "completion_tokens": 200,
            "total_tokens": 1200,
            "prompt_tokens_details": {"cached_tokens": 600, "cache_write_tokens": 300},
            "completion_tokens_details": {"reasoning_tokens": 150},
        }
    )
    expected = (
        100 * Decimal("0.000003") + 600 * Decimal("0.0000003") + 300 * Decimal("0.00000375") + 200 * Decimal("0.000015")
    )
    assert pricing.cost(usage) == expected


def test_byok_cost_is_openrouters_fee_and_the_upstream_cost_stays_in_the_raw_usage() -> None:
    """Usage-accounting guide: ``cost`` is what OpenRouter charged; ``cost_details.upstream_inference_cost``
    is the provider's charge, only for BYOK requests."""
    raw = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15, "cost": 0.0000005, "is_byok": True,
           "cost_details": {"upstream_inference_cost": 0.00001}}  # fmt: skip
    response = Response(usage=Usage.from_dict(raw))
    assert response.cost_source == "usage" and response.cost_estimate == Decimal("0.0000005")
    assert response.usage is not None and response.usage.is_byok is True
    assert response.usage.raw["cost_details"]["upstream_inference_cost"] == 0.00001


def test_a_discounted_price_is_estimated_with_its_discount() -> None:
    pricing = Pricing.from_dict({"prompt": "0.000002", "completion": "0.000004", "discount": 0.25})
    usage = Usage.from_dict({"prompt_tokens": 1000, "completion_tokens": 1000, "total_tokens": 2000})
    assert pricing.cost(usage) == Decimal("0.0045")  # (0.002 + 0.004) * 0.75


# -- 4. streaming of tool calls and structured outputs -----------------------------------------


@needs_recordings
@pytest.mark.parametrize("folder", ["streaming_tool_single", "streaming_tool_required"])
def test_a_recorded_tool_stream_accumulates_as_openrouter_sent_it(
    folder: str, fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    """The finish_reason comes on its own chunk, then usage on a later chunk whose choice has
    ``finish_reason: null``: the null must not overwrite ``tool_calls``."""
    assert ROOT is not None
    fake_openrouter.enqueue(RecordedFolderReply(ROOT / folder))
    response = client.stream("weather?").pipe(orx.operators.accumulate()).run()
    assert isinstance(response, Response)
    assert response.finish_reason == "tool_calls" and response.choice(0).native_finish_reason == "tool_calls"
    assert response.usage is not None and response.usage.cost is not None
    (call,) = response.tool_calls
    assert call.id is not None and call.id.startswith("call_") and call.name == "get_weather"
    assert isinstance(call.arguments["location"], str)
    _valid(response.to_message(), ASSISTANT_MESSAGE)


def test_a_streamed_json_reply_with_a_finish_then_usage_chunk_loads(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    """Structured outputs stream as ordinary ``delta.content`` text (no extra event); the value
    is the concatenated content."""
    fake_openrouter.enqueue(
        StreamReply(text_chunks('{"city": "Oslo", "days": 3, "note": null, "stops": []}', pieces=7))
    )
    value = client.stream("Plan", response_format=Trip).pipe(orx.operators.structured_output()).run()
    assert value == {"city": "Oslo", "days": 3, "note": None, "stops": []}
    assert fake_openrouter.requests[0].json["response_format"]["type"] == "json_schema"
