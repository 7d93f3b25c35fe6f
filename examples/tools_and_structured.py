"""Define a tool or a response schema once, stream, and get validated Python data back.

Runs offline against the embedded fake OpenRouter server unless OPENROUTER_API_KEY is set:
    python examples/tools_and_structured.py
Offline, the fake server plays the model: it calls the tool, streams a JSON answer, and (for
the healing demo) first replies with broken JSON that a healer model then fixes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum
from typing import Any, Literal

import reactivex
from marshmallow import Schema, fields, post_load, validate
from reactivex import Observable
from reactivex import operators as ops

import openrouter_rx as orx
from openrouter_rx import operators as orx_ops
from openrouter_rx.testing import (
    CompletionReply,
    StreamReply,
    completion_body,
    demo_client,
    text_chunks,
    tool_call_chunks,
)


# -- a tool, from a plain function ------------------------------------------------------------
class Unit(Enum):
    CELSIUS = "celsius"
    FAHRENHEIT = "fahrenheit"


@orx.tool
def get_weather(city: str, unit: Unit = Unit.CELSIUS, days: int = 1) -> dict[str, Any]:
    """Current weather and a short forecast for a city.

    Args:
        city: the city name, e.g. "Oslo".
        unit: the temperature unit.
        days: how many days of forecast (1-7).
    """
    return {"city": city, "unit": unit.value, "forecast": [{"day": d + 1, "high": 21 - d} for d in range(days)]}


@orx.tool
def convert(amount: float, currency: Literal["EUR", "USD", "NOK"]) -> float:
    """Convert an amount of money to Norwegian kroner."""
    return round(amount * {"EUR": 11.7, "USD": 10.8, "NOK": 1.0}[currency], 2)


# -- a response schema -------------------------------------------------------------------------
@dataclass
class Trip:
    city: str
    days: int
    highlights: list[str]


class TripSchema(Schema):
    city = fields.String(required=True, metadata={"description": "Destination city"})
    days = fields.Integer(required=True, validate=validate.Range(min=1, max=30))
    highlights = fields.List(fields.String(), required=True, validate=validate.Length(min=1, max=5))

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> Trip:
        return Trip(**data)


TRIP_JSON = json.dumps({"city": "Oslo", "days": 3, "highlights": ["Opera house", "Vigeland park", "Fjord cruise"]})


def main() -> None:
    with demo_client() as (client, fake):

        print("The tool as sent to the model:")
        print(json.dumps(get_weather.to_dict(), indent=2))

        # 1. A tool loop: the model calls get_weather, we run it, the model answers.
        if fake is not None:
            fake.enqueue(
                StreamReply(
                    tool_call_chunks(
                        [{"id": "call_1", "name": "get_weather", "arguments": {"city": "Oslo", "days": 2}}]
                    )
                ),
                StreamReply(text_chunks("Oslo: 21 degrees today, 20 tomorrow. Bring a light jacket.")),
            )
        events = orx.tool_loop(client, "What's the weather in Oslo for two days?", tools=[get_weather, convert])
        final: orx.LoopFinished | None = None
        for event in events.pipe(ops.to_list()).run():
            if isinstance(event, orx.ToolCallRequested):
                print(f"\n[turn {event.turn}] the model calls {event.call.name}({event.call.arguments})")
            elif isinstance(event, orx.ToolCallResult):
                print(f"[turn {event.turn}] result: {event.message['content']}")
            elif isinstance(event, orx.LoopFinished):
                final = event
        assert final is not None
        print(f"answer after {final.turn} turns: {final.response.content}")

        # 2. Structured output: the partial object while it streams, then the validated Trip.
        if fake is not None:
            fake.enqueue(StreamReply(text_chunks(TRIP_JSON, pieces=8), delay=0.01))
        def both(chunks: Observable[orx.Chunk]) -> Observable[Any]:
            """One request, two consumers: publish(selector) subscribes both before sending."""
            live = chunks.pipe(
                orx_ops.partial_json(),
                ops.do_action(lambda partial: print(f"  partial: {partial}")),
                ops.ignore_elements(),
            )
            return reactivex.merge(live, chunks.pipe(orx_ops.structured_output(TripSchema)))

        trip = client.stream("Plan a 3-day trip to Oslo.", response_format=TripSchema).pipe(ops.publish(both)).run()
        print(f"validated: {trip}")

        # 3. Healing: local repairs first (free), then a healer model when the data is still wrong.
        if fake is not None:
            broken = '```json\n{"city": "Oslo", "days": "three", "highlights": ["Opera",],}\n```'
            fake.enqueue(
                StreamReply(text_chunks(broken)),
                CompletionReply(completion_body(TRIP_JSON)),  # the healer model's reply
            )
        healer = orx.Healer(client, model="openai/gpt-4o-mini", max_attempts=2)
        attempts: list[orx.HealAttempt] = []
        trip = (
            client.stream("Plan a trip to Oslo.", response_format=TripSchema)
            .pipe(orx_ops.structured_output(TripSchema, heal=healer, on_attempt=attempts.append))
            .run()
        )
        print(f"healed: {trip}")
        for attempt in attempts:
            print(f"  attempt {attempt.source:<7} ok={attempt.ok} {'' if attempt.ok else attempt.messages}")

        # 4. Models and cost: the price list is fetched once and cached.
        def with_tools(model: orx.Model) -> bool:
            return model.supports("tools")

        models = client.models().pipe(ops.filter(with_tools), ops.to_list()).run()
        for model in models[:3]:
            price = model.pricing.per_million()
            print(f"{model.id:<40} prompt ${price.get('prompt')}/M  completion ${price.get('completion')}/M")
        if fake is not None:
            fake.enqueue(StreamReply(text_chunks("Short answer.")))
        response = client.stream("Hi", model="openai/gpt-4o-mini").pipe(orx_ops.accumulate()).run()
        print(f"cost: ${response.cost_estimate} (from {response.cost_source})")


if __name__ == "__main__":
    main()
