"""Chunk, Usage, Response and the accumulator: pure, no network."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

import openrouter_rx as orx
from openrouter_rx.testing import ChunkFactory, text_chunks, tool_call_chunks


def test_usage_only_chunk_shortcuts_are_safe() -> None:
    chunk = orx.Chunk.from_dict(
        {
            "id": "gen-1",
            "choices": [],
            "usage": {
                "prompt_tokens": 14,
                "completion_tokens": 15,
                "total_tokens": 29,
                "cost": 2.95e-05,
                "is_byok": False,
                "prompt_tokens_details": {"cached_tokens": 3},
                "completion_tokens_details": {"reasoning_tokens": 4},
                "cost_details": {"upstream_inference_cost": None},
            },
        }
    )
    assert chunk.content == ""
    assert chunk.reasoning == ""
    assert chunk.tool_calls == []
    assert chunk.finish_reason is None
    assert chunk.is_usage_only
    assert chunk.usage is not None
    assert chunk.usage.cost == Decimal("0.0000295")
    assert (chunk.usage.cached_tokens, chunk.usage.reasoning_tokens, chunk.usage.total_tokens) == (3, 4, 29)
    assert chunk.usage.raw["cost_details"] == {"upstream_inference_cost": None}


def test_chunk_fields_and_unknown_fields_kept_in_raw() -> None:
    data = {
        "id": "gen-2",
        "created": 1766949754,
        "model": "m",
        "provider": "P",
        "system_fingerprint": "fp",
        "brand_new_field": {"x": 1},
        "choices": [
            {
                "index": 0,
                "delta": {
                    "role": "assistant",
                    "content": "Hi",
                    "reasoning": "hmm",
                    "refusal": None,
                    "reasoning_details": [{"type": "reasoning.encrypted", "data": "xx", "index": 0}],
                    "tool_calls": [
                        {"index": 2, "id": "c", "type": "function", "function": {"name": "f", "arguments": "{"}}
                    ],
                    "unknown_delta_field": 1,
                },
                "finish_reason": None,
                "native_finish_reason": None,
                "logprobs": None,
            }
        ],
    }
    chunk = orx.Chunk.from_dict(data)
    assert (chunk.id, chunk.created, chunk.model, chunk.provider, chunk.system_fingerprint) == (
        "gen-2",
        1766949754,
        "m",
        "P",
        "fp",
    )
    assert chunk.content == "Hi" and chunk.reasoning == "hmm"
    assert chunk.tool_calls == [orx.ToolCallDelta(index=2, id="c", type="function", name="f", arguments="{")]
    assert chunk.delta.reasoning_details[0]["data"] == "xx"
    assert chunk.raw["brand_new_field"] == {"x": 1}
    with pytest.raises(dataclasses.FrozenInstanceError):
        chunk.id = "other"  # type: ignore[misc]


def test_shortcuts_read_choice_index_zero_not_position_zero() -> None:
    chunk = orx.Chunk.from_dict(
        {
            "choices": [
                {"index": 1, "delta": {"content": "second"}, "finish_reason": "length"},
                {"index": 0, "delta": {"content": "first"}},
            ]
        }
    )
    assert chunk.content == "first"
    assert chunk.choice(1) is not None and chunk.choice(1).delta.content == "second"  # type: ignore[union-attr]
    assert chunk.finish_reason == "length"  # no choice-0 finish: the first one set


@pytest.mark.parametrize("bad", [{"choices": "nope"}, {"choices": [{"index": 0, "delta": "x"}]}, ["not", "a", "dict"]])
def test_malformed_structure_is_a_protocol_error(bad: object) -> None:
    with pytest.raises(orx.ProtocolError):
        orx.Chunk.from_dict(bad)  # type: ignore[arg-type]


def test_response_from_chunks_joins_text_and_takes_finish_before_usage() -> None:
    chunks = orx.Chunk.from_dicts(text_chunks("Hello there, world", pieces="words", cost=0.00002))
    response = orx.Response.from_chunks(chunks)
    assert response.content == "Hello there, world"
    assert response.finish_reason == "stop"  # carried by the chunk BEFORE the usage chunk
    assert chunks[-1].finish_reason is None and chunks[-1].usage is not None
    assert response.usage is not None and response.usage.cost == Decimal("0.00002")
    assert response.id == chunks[0].id


def test_tool_call_tracker_handles_wild_shapes() -> None:
    factory = ChunkFactory()
    calls = [{"name": "get_weather", "arguments": {"city": "Tokyo"}}, {"name": "get_time", "arguments": {"tz": "JST"}}]
    for options in (
        {"start_index": 3},
        {"repeat_id": True},
        {"one_chunk": True},
        {"first_without_name": True},
    ):
        chunks = orx.Chunk.from_dicts(factory.tool_calls(calls, fragments=4, **options))  # type: ignore[arg-type]
        response = orx.Response.from_chunks(chunks)
        assert [c.name for c in response.tool_calls] == ["get_weather", "get_time"], options
        assert [c.arguments for c in response.tool_calls] == [{"city": "Tokyo"}, {"tz": "JST"}], options
        assert all(c.id and len(c.id) < 40 for c in response.tool_calls), options  # ids never concatenated


def test_tool_call_chunks_and_message_round_trip() -> None:
    chunks = orx.Chunk.from_dicts(tool_call_chunks([{"name": "lookup", "arguments": {"q": "rx"}, "id": "call_1"}]))
    response = orx.Response.from_chunks(chunks)
    assert response.has_tool_calls and response.finish_reason == "tool_calls"
    message = response.to_message()
    assert message["tool_calls"][0]["function"] == {"name": "lookup", "arguments": '{"q": "rx"}'}
    result = response.tool_calls[0].to_result_message({"answer": 42})
    assert result == {"role": "tool", "tool_call_id": "call_1", "name": "lookup", "content": '{"answer": 42}'}


def test_tool_arguments_error_keeps_raw_text() -> None:
    call = orx.ToolCall(id="c", name="f", arguments_json='{"a": ')
    with pytest.raises(orx.ToolArgumentsError) as info:
        _ = call.arguments
    assert info.value.raw == '{"a": '


def test_accumulator_keeps_every_choice_and_merges_reasoning_details() -> None:
    chunks = orx.Chunk.from_dicts(
        [
            {"id": "g", "choices": [{"index": 0, "delta": {"content": "a"}}, {"index": 1, "delta": {"content": "x"}}]},
            {
                "choices": [
                    {
                        "index": 0,
                        "delta": {
                            "reasoning_details": [
                                {"type": "reasoning.text", "text": "th", "index": 0},
                                {"type": "reasoning.encrypted", "data": "opaque1", "index": 1},
                            ]
                        },
                    }
                ]
            },
            {
                "choices": [
                    {
                        "index": 0,
                        "delta": {"reasoning_details": [{"type": "reasoning.text", "text": "ink", "index": 0}]},
                    }
                ]
            },
            {"choices": [{"index": 1, "delta": {"content": "y"}, "finish_reason": "length"}]},
            {"choices": [{"index": 0, "delta": {"content": "b", "refusal": "no"}, "finish_reason": "stop"}]},
        ]
    )
    response = orx.Response.from_chunks(chunks)
    assert response.content == "ab" and response.choice(1).content == "xy"
    assert response.choice(1).finish_reason == "length" and response.finish_reason == "stop"
    assert response.refusal == "no"
    details = response.choice(0).reasoning_details
    assert details[0]["text"] == "think"
    assert details[1] == {"type": "reasoning.encrypted", "data": "opaque1", "index": 1}


def test_response_from_completion() -> None:
    from openrouter_rx.testing import completion_body

    body = completion_body("Hi!", tool_calls=[{"name": "f", "arguments": {"x": 1}}])
    response = orx.Response.from_completion(body)
    assert response.content == "Hi!"
    assert response.tool_calls[0].arguments == {"x": 1}
    assert response.finish_reason == "tool_calls"
    assert response.usage is not None and response.usage.prompt_tokens > 0


@pytest.mark.parametrize(
    "delta",
    [
        {"tool_calls": {"index": 0}},
        {"tool_calls": "call"},
        {"reasoning_details": {"type": "reasoning.text"}},
        {"tool_calls": [{"index": 0, "function": "get_weather"}]},
    ],
)
def test_malformed_nested_fields_are_protocol_errors_with_the_data(delta: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(orx.ProtocolError) as info:
        orx.Chunk.from_dict({"choices": [{"index": 0, "delta": delta}]})
    assert info.value.data


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        ({"role": "assistant", "content": ""}, False),
        ({"content": "x"}, True),
        ({"reasoning": "x"}, True),
        ({"reasoning_details": [{"type": "reasoning.encrypted", "data": "gA=="}]}, True),
        ({"refusal": "no"}, True),
        ({"tool_calls": [{"index": 0, "id": "c", "function": {"name": "f"}}]}, True),
    ],
)
def test_has_output_and_is_usage_only(delta: dict, expected: bool) -> None:  # type: ignore[type-arg]
    usage = {"prompt_tokens": 1, "completion_tokens": 1}
    chunk = orx.Chunk.from_dict({"choices": [{"index": 0, "delta": delta}], "usage": usage})
    assert chunk.has_output is expected
    assert chunk.is_usage_only is not expected
