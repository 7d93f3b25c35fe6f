"""``tool_loop`` end to end over loopback: turns, tool runs, results sent back, limits, failures."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any, Literal

import pytest
import reactivex
from marshmallow import Schema, fields, post_load
from support import WAIT, Sink, outcome

import openrouter_rx as orx
from openrouter_rx.testing import ErrorReply, FakeOpenRouter, StreamReply, text_chunks, tool_call_chunks
from openrouter_rx.tool_loop import (
    LoopFinished,
    ToolCallRequested,
    ToolCallResult,
    TurnChunk,
    TurnFinished,
    TurnStarted,
    tool_loop,
)
from openrouter_rx.tools import Tool, tool

KEY = "sk-or-v1-tool-loop-0123456789"

seen: list[tuple[str, str]] = []


@tool
def get_weather(city: str, unit: Literal["C", "F"] = "C") -> dict[str, Any]:
    """Current weather for a city.

    Args:
        city: the city name.
        unit: the temperature unit.
    """
    seen.append((city, unit))
    return {"city": city, "temperature": 21, "unit": unit}


class SumArgs(Schema):
    numbers = fields.List(fields.Integer(), required=True)


ADD = Tool("add", "Add numbers.", SumArgs)


@pytest.fixture(autouse=True)
def _clear() -> None:
    seen.clear()


@pytest.fixture
def client(fake_openrouter: FakeOpenRouter) -> Iterator[orx.Client]:
    with orx.Client(api_key=KEY, base_url=fake_openrouter.base_url, timeout=orx.Timeout(connect=2, idle=5)) as c:
        yield c


def call(name: str, arguments: Any, id: str) -> dict[str, Any]:  # noqa: A002
    return {"id": id, "name": name, "arguments": arguments}


def kinds(events: list[Any]) -> list[str]:
    return [type(e).__name__ for e in events if not isinstance(e, TurnChunk)]


def test_two_turns_run_the_tool_and_send_its_result_back(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(
        StreamReply(tool_call_chunks([call("get_weather", {"city": "Oslo"}, "call_1")])),
        StreamReply(text_chunks("It is 21 degrees in Oslo.")),
    )
    events, error = outcome(tool_loop(client, "Weather in Oslo?", tools=[get_weather], model="m/x"))
    assert error is None
    assert kinds(events) == [
        "TurnStarted", "TurnFinished", "ToolCallRequested", "ToolCallResult",
        "TurnStarted", "TurnFinished", "LoopFinished",
    ]  # fmt: skip
    assert seen == [("Oslo", "C")]
    final = events[-1]
    assert isinstance(final, LoopFinished) and final.turn == 2
    assert final.response.content == "It is 21 degrees in Oslo."
    assert sum(isinstance(e, TurnChunk) for e in events) > 2

    first, second = fake_openrouter.requests
    for request in (first, second):
        assert request.json["model"] == "m/x"
        assert request.json["tools"] == [get_weather.to_dict()]
        assert request.json["stream"] is True
    sent = second.json["messages"]
    assert sent[0] == {"role": "user", "content": "Weather in Oslo?"}
    assert sent[1]["role"] == "assistant" and sent[1]["tool_calls"][0]["id"] == "call_1"
    assert sent[2]["role"] == "tool" and sent[2]["tool_call_id"] == "call_1"
    assert json.loads(sent[2]["content"]) == {"city": "Oslo", "temperature": 21, "unit": "C"}
    assert [m["role"] for m in final.messages] == ["user", "assistant", "tool", "assistant"]


def test_parallel_calls_run_in_order_and_answer_each_call(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(
        StreamReply(
            tool_call_chunks(
                [
                    call("get_weather", {"city": "Oslo"}, "call_a"),
                    call("add", {"numbers": [1, 2, 3]}, "call_b"),
                    call("get_weather", {"city": "Lima", "unit": "F"}, "call_c"),
                ]
            )
        ),
        StreamReply(text_chunks("Done.")),
    )
    handlers = {"add": lambda numbers: sum(numbers)}
    events, error = outcome(tool_loop(client, "go", tools=[get_weather, ADD], handlers=handlers))
    assert error is None
    results = [e for e in events if isinstance(e, ToolCallResult)]
    assert [r.call.id for r in results] == ["call_a", "call_b", "call_c"]
    assert [r.value for r in results][1] == 6
    assert seen == [("Oslo", "C"), ("Lima", "F")]
    tool_messages = [m for m in fake_openrouter.requests[1].json["messages"] if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in tool_messages] == ["call_a", "call_b", "call_c"]
    assert tool_messages[1]["content"] == "6"


def test_a_handler_that_raises_tells_the_model_and_the_loop_goes_on(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    def broken(numbers: list[int]) -> int:
        raise RuntimeError("calculator on fire")

    fake_openrouter.enqueue(
        StreamReply(tool_call_chunks([call("add", {"numbers": [1]}, "call_1")])),
        StreamReply(text_chunks("Sorry, the calculator failed.")),
    )
    events, error = outcome(tool_loop(client, "add", tools=[ADD], handlers={"add": broken}))
    assert error is None
    result = next(e for e in events if isinstance(e, ToolCallResult))
    assert isinstance(result.error, RuntimeError) and result.value is None
    sent = json.loads(result.message["content"])
    assert sent == {"error": {"type": "RuntimeError", "message": "calculator on fire"}}
    assert fake_openrouter.requests[1].json["messages"][2]["content"] == result.message["content"]
    assert isinstance(events[-1], LoopFinished)


def test_invalid_arguments_and_unknown_tools_are_reported_to_the_model_not_run(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    fake_openrouter.enqueue(
        StreamReply(
            tool_call_chunks(
                [call("get_weather", {"city": 7}, "call_1"), call("launch_rockets", {}, "call_2")]
            )
        ),
        StreamReply(text_chunks("Let me fix that.")),
    )
    events, error = outcome(tool_loop(client, "go", tools=[get_weather]))
    assert error is None and seen == []
    requested = [e for e in events if isinstance(e, ToolCallRequested)]
    assert isinstance(requested[0].error, orx.ToolArgumentsError)
    assert isinstance(requested[1].error, orx.UnknownToolError)
    contents = [json.loads(m["content"]) for m in fake_openrouter.requests[1].json["messages"] if m["role"] == "tool"]
    assert contents[0]["error"]["details"] == {"city": ["Not a valid string."]}
    assert contents[1]["error"]["type"] == "UnknownToolError"


def test_max_turns_is_a_typed_error_with_the_conversation(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    for n in range(2):
        fake_openrouter.enqueue(StreamReply(tool_call_chunks([call("get_weather", {"city": "Oslo"}, f"call_{n}")])))
    events, error = outcome(tool_loop(client, "loop forever", tools=[get_weather], max_turns=2))
    assert isinstance(error, orx.MaxTurnsError)
    assert error.turns == 2 and len(fake_openrouter.requests) == 2
    assert error.partial is not None and error.partial.tool_calls[0].id == "call_1"
    assert [m["role"] for m in error.messages] == ["user", "assistant", "tool"]  # what turn 2 sent
    assert error.messages == fake_openrouter.requests[1].json["messages"]
    assert seen == [("Oslo", "C")]  # the last turn's call is not run
    assert isinstance(events[-1], TurnFinished)


def test_a_handler_may_return_an_observable(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(
        StreamReply(tool_call_chunks([call("add", {"numbers": [2, 3]}, "call_1")])),
        StreamReply(text_chunks("5")),
    )
    handlers = {"add": lambda numbers: reactivex.of(0, sum(numbers))}
    events, error = outcome(tool_loop(client, "add", tools=[ADD], handlers=handlers))
    assert error is None
    result = next(e for e in events if isinstance(e, ToolCallResult))
    assert result.value == 5 and result.message["content"] == "5"


def test_a_request_error_ends_the_loop_with_the_typed_error(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    fake_openrouter.enqueue(
        StreamReply(tool_call_chunks([call("get_weather", {"city": "Oslo"}, "call_1")])),
        ErrorReply(402, "Insufficient credits"),
    )
    events, error = outcome(tool_loop(client, "go", tools=[get_weather]))
    assert isinstance(error, orx.InsufficientCreditsError)
    assert seen == [("Oslo", "C")]
    assert isinstance(events[-1], TurnStarted) and events[-1].turn == 2


def test_cold_each_subscription_runs_its_own_conversation(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    loop = tool_loop(client, "hi", tools=[get_weather])
    assert fake_openrouter.requests == []
    fake_openrouter.enqueue(StreamReply(text_chunks("one")), StreamReply(text_chunks("two")))
    first, _ = outcome(loop)
    second, _ = outcome(loop)
    assert first[-1].response.content == "one" and second[-1].response.content == "two"
    assert len(fake_openrouter.requests) == 2


def test_disposing_mid_loop_closes_the_stream_and_sends_nothing_more(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks("a b c d e f"), stall_after=2))
    got_chunk = threading.Event()
    sink = Sink()

    def on_next(event: Any) -> None:
        sink.on_next(event)
        if isinstance(event, TurnChunk):
            got_chunk.set()

    subscription = tool_loop(client, "hi", tools=[get_weather]).subscribe(on_next, sink.on_error, sink.on_completed)
    assert got_chunk.wait(WAIT)
    subscription.dispose()
    request = fake_openrouter.requests[0]
    assert request.disconnected.wait(WAIT)
    assert len(fake_openrouter.requests) == 1 and not sink.done.is_set()


def test_bad_arguments_fail_at_call_time(client: orx.Client) -> None:
    with pytest.raises(ValueError, match="max_turns"):
        tool_loop(client, "x", tools=[get_weather], max_turns=0)
    with pytest.raises(ValueError, match="no handler"):
        tool_loop(client, "x", tools=[ADD])
    with pytest.raises(ValueError, match="not among the tools"):
        tool_loop(client, "x", tools=[get_weather], handlers={"other": print})


def test_an_observable_handler_that_never_answers_times_out_and_the_model_is_told(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    fake_openrouter.enqueue(
        StreamReply(tool_call_chunks([call("add", {"numbers": [1]}, "call_1")])),
        StreamReply(text_chunks("The calculator is slow today.")),
    )
    handlers = {"add": lambda numbers: reactivex.never()}
    events, error = outcome(tool_loop(client, "add", tools=[ADD], handlers=handlers, tool_timeout=0.2))
    assert error is None
    result = next(e for e in events if isinstance(e, ToolCallResult))
    assert isinstance(result.error, TimeoutError)
    assert json.loads(result.message["content"])["error"]["type"] == "TimeoutError"
    assert isinstance(events[-1], LoopFinished)
    with pytest.raises(ValueError, match="tool_timeout"):
        tool_loop(client, "x", tools=[ADD], handlers=handlers, tool_timeout=0)


def test_a_forced_tool_choice_is_sent_on_the_first_turn_only(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    fake_openrouter.enqueue(
        StreamReply(tool_call_chunks([call("get_weather", {"city": "Oslo"}, "call_1")])),
        StreamReply(text_chunks("21 degrees.")),
    )
    forced = {"type": "function", "function": {"name": "get_weather"}}
    events, error = outcome(tool_loop(client, "go", tools=[get_weather], tool_choice=forced))
    assert error is None and isinstance(events[-1], LoopFinished)
    assert [r.json["tool_choice"] for r in fake_openrouter.requests] == [forced, "auto"]

    fake_openrouter.enqueue(
        StreamReply(tool_call_chunks([call("get_weather", {"city": "Oslo"}, "call_2")])),
        StreamReply(text_chunks("21 degrees.")),
    )
    outcome(tool_loop(client, "go", tools=[get_weather], tool_choice="required", reset_tool_choice=False))
    assert [r.json["tool_choice"] for r in fake_openrouter.requests[2:]] == ["required", "required"]


def test_arguments_that_are_not_json_are_quoted_to_the_model_and_replayed_as_empty(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    fake_openrouter.enqueue(
        StreamReply(tool_call_chunks([call("get_weather", '{"city": "Os', "call_1")])),
        StreamReply(text_chunks("Sorry.")),
    )
    events, error = outcome(tool_loop(client, "go", tools=[get_weather]))
    assert error is None and seen == []
    sent = fake_openrouter.requests[1].json["messages"]
    assert sent[1]["tool_calls"][0]["function"]["arguments"] == "{}"
    detail = json.loads(sent[2]["content"])["error"]
    assert detail["arguments"] == '{"city": "Os' and "_json" in detail["details"]
    requested = next(e for e in events if isinstance(e, ToolCallRequested))
    assert requested.call.arguments_json == '{"city": "Os'  # the event keeps what the model sent


def test_a_schema_hook_that_raises_is_reported_like_invalid_arguments(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    class Picky(Schema):
        numbers = fields.List(fields.Integer(), required=True)

        @post_load
        def _boom(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
            raise LookupError("hook bug")

    picky = Tool("picky", "x", Picky, function=lambda numbers: 0)
    fake_openrouter.enqueue(
        StreamReply(tool_call_chunks([call("picky", {"numbers": [1]}, "call_1")])),
        StreamReply(text_chunks("ok")),
    )
    events, error = outcome(tool_loop(client, "go", tools=[picky]))
    assert error is None
    requested = next(e for e in events if isinstance(e, ToolCallRequested))
    assert isinstance(requested.error, orx.ToolArgumentsError)
    assert isinstance(requested.error.__cause__, LookupError)
    assert "hook bug" in fake_openrouter.requests[1].json["messages"][2]["content"]
