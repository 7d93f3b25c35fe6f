"""Marble tests for tool_calls() and tool_call_deltas(): every wild tool-call shape."""

from __future__ import annotations

from typing import Any

import pytest

import openrouter_rx as orx
from openrouter_rx import operators as orx_ops
from openrouter_rx.testing import ChunkFactory, chunk_lookup, chunk_marbles, run_marbles, tool_call_chunks

WEATHER = {"name": "get_weather", "arguments": {"city": "Oslo", "unit": "C"}, "id": "call_w"}
TIME = {"name": "get_time", "arguments": {"tz": "Europe/Oslo"}, "id": "call_t"}


def delta(index: int, *, id: str | None = None, name: str | None = None, args: str | None = None) -> dict[str, Any]:  # noqa: A002
    entry: dict[str, Any] = {"index": index, "type": "function", "function": {}}
    if id is not None:
        entry["id"] = id
    if name is not None:
        entry["function"]["name"] = name
    if args is not None:
        entry["function"]["arguments"] = args
    return entry


def chunk(*deltas: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": {"tool_calls": list(deltas)}, "finish_reason": finish}]}


FINISH = {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}


def calls_of(chunks: list[dict[str, Any]]) -> list[orx.ToolCall]:
    marbles, lookup = chunk_marbles(chunks)
    run = run_marbles(orx_ops.tool_calls(), marbles, lookup)
    assert run.completed
    return run.values


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"start_index": 3},
        {"repeat_id": True},
        {"first_without_name": True},
        {"one_chunk": True},
        {"fragments": 1},
        {"fragments": 12, "repeat_id": True, "start_index": 1},
    ],
    ids=["plain", "start-index-3", "repeat-id", "first-without-name", "one-chunk", "one-fragment", "combined"],
)
def test_parallel_calls_in_every_wire_shape(options: dict[str, Any]) -> None:
    calls = calls_of(tool_call_chunks([WEATHER, TIME], **options))
    assert [(c.id, c.name, c.arguments) for c in calls] == [
        ("call_w", "get_weather", {"city": "Oslo", "unit": "C"}),
        ("call_t", "get_time", {"tz": "Europe/Oslo"}),
    ]
    start = options.get("start_index", 0)
    assert [c.index for c in calls] == [start, start + 1]


def test_a_call_is_emitted_when_the_next_index_starts_and_the_last_at_finish() -> None:
    lookup = chunk_lookup(
        a=chunk(delta(0, id="c0", name="first", args="")),
        b=chunk(delta(0, args='{"x": 1}')),
        c=chunk(delta(1, id="c1", name="second", args='{"y"')),
        d=chunk(delta(1, args=": 2}")),
        f=FINISH,
        u={"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 1}},
    )
    run = run_marbles(orx_ops.tool_calls(), "-a-b-c-d-f-u-|", lookup)
    assert [(frame, kind, getattr(v, "name", None)) for frame, kind, v in run.events] == [
        (5, "N", "first"),  # when index 1 starts
        (9, "N", "second"),  # at finish_reason, before the usage chunk
        (13, "C", None),
    ]


def test_never_emitted_because_the_arguments_happen_to_parse() -> None:
    # '{"a": 1}' parses after chunk b, but more arguments follow: the call is complete only at the end.
    lookup = chunk_lookup(
        a=chunk(delta(0, id="c0", name="f", args='{"a": 1}')),
        b=chunk(delta(0, args="")),
        c=chunk(delta(0, args="   ")),
    )
    run = run_marbles(orx_ops.tool_calls(), "-a-b-c-|", lookup)
    assert run.frames() == [7, 7]
    assert run.values[0].arguments_json == '{"a": 1}   '


def test_several_deltas_for_one_index_in_one_chunk() -> None:
    lookup = chunk_lookup(a=chunk(delta(0, id="c0", name="f", args='{"k"'), delta(0, args=': "v"'), delta(0, args="}")))
    (call,) = run_marbles(orx_ops.tool_calls(), "-a-|", lookup).values
    assert call.arguments == {"k": "v"} and call.id == "c0"


def test_the_same_id_repeated_on_every_delta_is_not_concatenated() -> None:
    lookup = chunk_lookup(
        a=chunk(delta(0, id="call_1", name="f", args="")),
        b=chunk(delta(0, id="call_1", args="{}")),
        c=chunk(delta(0, id="call_1", name="f")),
    )
    (call,) = run_marbles(orx_ops.tool_calls(), "-a-b-c-|", lookup).values
    assert (call.id, call.name, call.arguments_json) == ("call_1", "f", "{}")


def test_a_first_delta_without_a_name() -> None:
    lookup = chunk_lookup(a=chunk(delta(0, id="c0", args="")), b=chunk(delta(0, name="late_name", args="{}")))
    (call,) = run_marbles(orx_ops.tool_calls(), "-a-b-|", lookup).values
    assert call.name == "late_name"


def test_invalid_arguments_raise_tool_arguments_error_with_the_raw_text_only_on_access() -> None:
    lookup = chunk_lookup(a=chunk(delta(0, id="c0", name="f", args='{"broken": '), finish="tool_calls"))
    (call,) = run_marbles(orx_ops.tool_calls(), "-a-|", lookup).values
    with pytest.raises(orx.ToolArgumentsError) as info:
        _ = call.arguments
    assert info.value.raw == '{"broken": ' and info.value.name == "f"


def test_to_result_message_answers_the_call() -> None:
    (call,) = calls_of(tool_call_chunks([WEATHER]))
    assert call.to_result_message({"temp": 3}) == {
        "role": "tool",
        "tool_call_id": "call_w",
        "name": "get_weather",
        "content": '{"temp": 3}',
    }


def test_a_call_cut_off_by_an_error_is_not_emitted_and_the_error_has_the_partial() -> None:
    boom = orx.TruncatedStreamError("connection lost")
    lookup = chunk_lookup(
        a=chunk(delta(0, id="c0", name="done_call", args="{}")),
        b=chunk(delta(1, id="c1", name="cut_call", args='{"half')),
    )
    run = run_marbles(orx_ops.tool_calls(), "-a-b-#", lookup, error=boom)
    assert [c.name for c in run.values] == ["done_call"]
    assert run.error is boom
    assert boom.partial is not None
    assert [c.arguments_json for c in boom.partial.tool_calls] == ["{}", '{"half']


def test_arguments_for_a_call_after_a_later_one_started_are_a_protocol_error() -> None:
    lookup = chunk_lookup(
        a=chunk(delta(0, id="c0", name="f", args="{")),
        b=chunk(delta(1, id="c1", name="g", args="{}")),
        c=chunk(delta(0, args="}")),
    )
    run = run_marbles(orx_ops.tool_calls(), "-a-b-c-|", lookup)
    assert [c.name for c in run.values] == ["f"]
    assert isinstance(run.error, orx.ProtocolError)
    assert run.error.partial is not None and len(run.error.partial.tool_calls) == 2
    assert run.disposals == [5]


def test_an_empty_repeat_for_a_finished_call_is_ignored() -> None:
    lookup = chunk_lookup(
        a=chunk(delta(0, id="c0", name="f", args="{}")),
        b=chunk(delta(1, id="c1", name="g", args="{}")),
        c=chunk(delta(0, id="c0", args="")),
    )
    run = run_marbles(orx_ops.tool_calls(), "-a-b-c-|", lookup)
    assert [c.name for c in run.values] == ["f", "g"] and run.completed


def test_text_only_streams_emit_no_calls() -> None:
    run = run_marbles(orx_ops.tool_calls(), "-a-b-|", chunk_lookup(a="Hello", b=" there"))
    assert run.events == [(5, "C", None)]


def test_calls_of_another_choice() -> None:
    lookup = chunk_lookup(
        a={"choices": [{"index": 1, "delta": {"tool_calls": [delta(0, id="x", name="other", args="{}")]}}]},
        b=chunk(delta(0, id="y", name="mine", args="{}")),
    )
    assert [c.name for c in run_marbles(orx_ops.tool_calls(1), "-a-b-|", lookup).values] == ["other"]
    assert [c.name for c in run_marbles(orx_ops.tool_calls(), "-a-b-|", lookup).values] == ["mine"]


def test_early_dispose_emits_nothing_pending() -> None:
    lookup = chunk_lookup(a=chunk(delta(0, id="c0", name="f", args="{")), b=chunk(delta(0, args="}")))
    run = run_marbles(orx_ops.tool_calls(), "-a-b-|", lookup, dispose_at=2)
    assert run.events == [] and run.disposals == [2]


def test_tool_call_deltas_are_the_raw_fragments() -> None:
    lookup = chunk_lookup(
        a=chunk(delta(0, id="c0", name="f", args=""), delta(0, args="{")),
        t={"choices": [{"index": 0, "delta": {"content": "text"}}]},
        b=chunk(delta(0, args="}")),
    )
    run = run_marbles(orx_ops.tool_call_deltas(), "-a-t-b-|", lookup)
    assert run.frames() == [1, 1, 5, 7]
    assert [d.arguments for d in run.values] == ["", "{", "}"]
    assert all(isinstance(d, orx.ToolCallDelta) for d in run.values)
    assert run.values[0].name == "f"


def test_tool_call_deltas_pass_errors_through() -> None:
    boom = orx.StreamError("bad", code=500)
    run = run_marbles(orx_ops.tool_call_deltas(), "-#", {}, error=boom)
    assert run.events == [(1, "E", boom)]


def test_tool_calls_agree_with_accumulate() -> None:
    chunks = ChunkFactory().tool_calls([WEATHER, TIME], repeat_id=True, first_without_name=True)
    marbles, lookup = chunk_marbles(chunks)
    streamed = run_marbles(orx_ops.tool_calls(), marbles, lookup).values
    accumulated = run_marbles(orx_ops.accumulate(), marbles, lookup).values[0].tool_calls
    assert streamed == accumulated


def test_calls_that_all_use_index_zero_are_told_apart_by_their_ids() -> None:
    # Some providers and API translations send every call at index 0 (or no index), each with its own id.
    lookup = chunk_lookup(
        a=chunk(delta(0, id="call_a", name="first", args='{"x": 1}')),
        b=chunk(delta(0, id="call_b", name="second", args='{"y"')),
        c=chunk(delta(0, args=": 2}")),
        f=FINISH,
    )
    run = run_marbles(orx_ops.tool_calls(), "-a-b-c-f-|", lookup)
    assert [(frame, v.id, v.arguments) for frame, kind, v in run.events if kind == "N"] == [
        (3, "call_a", {"x": 1}),  # complete when call_b starts at the same index
        (7, "call_b", {"y": 2}),
    ]
    accumulated = run_marbles(orx_ops.accumulate(), "-a-b-c-f-|", lookup).values[0]
    assert [c.id for c in accumulated.tool_calls] == ["call_a", "call_b"]
