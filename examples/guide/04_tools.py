"""Ruby guide, "Streaming with Tool Calls": watch tool-call chunks live, run the calls after.

    python examples/guide/04_tools.py

A tool is a typed Python function (``@orx.tool``) or an ``orx.Tool`` with a marshmallow schema;
the same definition describes the parameters to the model and validates its arguments.
The callback way: ``on_tool_call_chunk`` sees every chunk carrying tool-call fragments, and the
accumulated response has whole calls. The Rx way: ``tool_calls(tools=[...])`` emits each call
as soon as it is complete, with its arguments validated, ready to ``run()``.
"""

from __future__ import annotations

from typing import Literal

from reactivex import operators as ops

import openrouter_rx as orx
from openrouter_rx import operators as orx_ops
from openrouter_rx.testing import StreamReply, demo_client, tool_call_chunks

MESSAGES = [{"role": "user", "content": "What's the weather in Tokyo and London?"}]
MODEL = "anthropic/claude-3.5-sonnet"
CALLS = [
    {"name": "get_weather", "arguments": {"location": "Tokyo"}},
    {"name": "get_weather", "arguments": {"location": "London", "units": "fahrenheit"}},
]


@orx.tool
def get_weather(location: str, units: Literal["celsius", "fahrenheit"] = "celsius") -> str:
    """Get current weather for a location.

    Args:
        location: City name.
        units: the temperature unit.
    """
    return f"sunny, 21 degrees {units} in {location}"  # a real tool would ask a weather service


def callback_way(streaming_client: orx.StreamingClient) -> None:
    @streaming_client.on_stream("on_tool_call_chunk")
    def show(chunk: orx.Chunk) -> None:
        for delta in chunk.tool_calls:  # fragments: the name arrives first, the arguments in pieces
            print(f"  tool call #{delta.index}: name={delta.name!r} arguments+={delta.arguments!r}")

    response = streaming_client.stream_complete(MESSAGES, model=MODEL, tools=[get_weather], accumulate_response=True)
    assert response is not None
    if response.has_tool_calls:
        for call in response.tool_calls:
            if call.name == "get_weather":
                print(f"Weather: {get_weather(**call.arguments)}")


def rx_way(client: orx.Client) -> None:
    calls = client.stream(MESSAGES, model=MODEL, tools=[get_weather]).pipe(
        orx_ops.tool_calls(tools=[get_weather]),  # whole calls, arguments loaded by the tool's schema
        ops.to_list(),
    )
    for call in calls.run():
        print(f"Weather: {call.run()}   (arguments {call.arguments})")


def main() -> None:
    with demo_client() as (client, fake):
        if fake is not None:
            fake.enqueue(
                StreamReply(tool_call_chunks(CALLS, model=MODEL)), StreamReply(tool_call_chunks(CALLS, model=MODEL))
            )
        print("== the callback way")
        callback_way(orx.StreamingClient(client=client))
        print("== the Rx way")
        rx_way(client)
        # Sending the results back and asking again, turn after turn, is orx.tool_loop(...).


if __name__ == "__main__":
    main()
