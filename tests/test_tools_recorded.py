"""Tools against real OpenRouter traffic recorded by a third party (``../shared/recorded``).

The recorded requests were made by the Ruby gem with hand-written tool dicts; the same tools
written here with ``@orx.tool`` must describe the same parameters, and the recorded replies must
validate and run through ``tool_calls(tools=...)`` and ``tool_loop``. Skips when the recordings
are absent; they are read in place, never copied.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from support import outcome, recorded_root, values

import openrouter_rx as orx
from openrouter_rx import operators as orx_ops
from openrouter_rx.testing import FakeOpenRouter, RecordedFolderReply, StreamReply, text_chunks
from openrouter_rx.tool_loop import LoopFinished, ToolCallResult, tool_loop
from openrouter_rx.tools import tool

ROOT = recorded_root()
if ROOT is None:
    pytest.skip("../shared/recorded is not present", allow_module_level=True)
assert ROOT is not None

KEY = "sk-or-v1-tools-recorded-0123456789"


@tool
def get_weather(location: str, units: str | None = None) -> str:
    """Get current weather for a location

    Args:
        location: City name or location
        units: Temperature units: celsius or fahrenheit
    """
    return f"Sunny, 21 degrees {units or 'celsius'} in {location}"


@tool
def calculator(operation: str, a: float, b: float) -> float:
    """Perform basic arithmetic operations

    Args:
        operation: The operation to perform: add, subtract, multiply, divide
        a: First number
        b: Second number
    """
    return {"add": a + b, "subtract": a - b, "multiply": a * b, "divide": a / b}[operation]


def recorded_tool(folder: str) -> dict[str, Any]:
    request = json.loads((ROOT / folder / "request.json").read_text("utf-8"))
    (entry,) = request["tools"]
    return dict(entry)


@pytest.fixture
def client(fake_openrouter: FakeOpenRouter) -> Iterator[orx.Client]:
    with orx.Client(api_key=KEY, base_url=fake_openrouter.base_url, timeout=orx.Timeout(connect=2, idle=5)) as c:
        yield c


@pytest.mark.parametrize(
    ("folder", "ours"),
    [("streaming_tool_single", get_weather), ("tool_calling_multiple_calls-1", calculator)],
)
def test_the_decorator_describes_what_the_gem_sent(folder: str, ours: Any) -> None:
    theirs = recorded_tool(folder)["function"]
    mine = ours.to_dict()["function"]
    assert mine["name"] == theirs["name"]
    assert mine["description"] == theirs["description"]
    assert mine["parameters"]["required"] == theirs["parameters"]["required"]
    for name, schema in theirs["parameters"]["properties"].items():
        assert mine["parameters"]["properties"][name]["description"] == schema["description"]
        expected = schema["type"]
        actual = mine["parameters"]["properties"][name]["type"]
        assert actual == expected or (isinstance(actual, list) and expected in actual), name


def test_a_recorded_streamed_call_validates_and_runs(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(RecordedFolderReply(ROOT / "streaming_tool_single"))
    (call,) = values(client.stream("What's the weather in Tokyo?", tools=[get_weather]).pipe(
        orx_ops.tool_calls(tools=[get_weather])
    ))
    assert call.tool is get_weather
    assert call.arguments["location"] == "Tokyo"
    assert call.run().endswith("in Tokyo")
    assert fake_openrouter.last_request is not None
    assert fake_openrouter.last_request.json["tools"] == [get_weather.to_dict()]


def test_recorded_parallel_calls_feed_a_tool_loop(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    """The recorded non-streaming reply (two parallel calculator calls), replayed as a stream."""
    body = json.loads((ROOT / "tool_calling_multiple_calls-1" / "body.json").read_text("utf-8"))
    recorded = orx.Response.from_completion(body)
    fake_openrouter.enqueue(
        StreamReply([chunk.raw for chunk in recorded.to_chunks()]),
        StreamReply(text_chunks("10 + 5 = 15 and 20 * 3 = 60.")),
    )
    events, error = outcome(tool_loop(client, "Calculate 10 + 5 and also 20 * 3", tools=[calculator]))
    assert error is None
    results = [e for e in events if isinstance(e, ToolCallResult)]
    assert [r.value for r in results] == [15, 60]
    assert [r.call.id for r in results] == [c.id for c in recorded.tool_calls]
    assert isinstance(events[-1], LoopFinished)
