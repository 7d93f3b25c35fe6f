"""A demanding user's end-to-end journeys through issue 4's features, over loopback.

Only the public API is used (``import openrouter_rx as orx``, ``openrouter_rx.operators``,
``openrouter_rx.testing``), the way README.md and docs/tools-and-structured-outputs.md describe
it. Each test is one realistic app scenario; where the library does not do what the docs promise
(or does something a user would trip over) the test is kept and marked ``xfail(strict=True)``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Any

import pytest
import reactivex
from marshmallow import Schema, fields, post_load, validate
from reactivex import operators as ops
from reactivex.scheduler import EventLoopScheduler
from support import WAIT, Sink, outcome, values

import openrouter_rx as orx
from openrouter_rx import operators as orx_ops
from openrouter_rx.testing import (
    ChunkFactory,
    CompletionReply,
    ErrorReply,
    FakeOpenRouter,
    RecordedRequest,
    Reply,
    StreamReply,
    completion_body,
    text_chunks,
    tool_call_chunks,
)

KEY = "sk-or-v1-user-journeys-0123456789"
FENCE = "`" * 3


@pytest.fixture
def client(fake_openrouter: FakeOpenRouter) -> Iterator[orx.Client]:
    with orx.Client(api_key=KEY, base_url=fake_openrouter.base_url, timeout=orx.Timeout(connect=2, idle=5)) as c:
        yield c


def call(name: str, arguments: Any, id: str) -> dict[str, Any]:  # noqa: A002 - the wire name
    return {"id": id, "name": name, "arguments": arguments}


def without_cost(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The chunks with ``usage.cost`` removed from the trailing usage chunk."""
    del chunks[-1]["usage"]["cost"]
    return chunks


def user_text(request: RecordedRequest) -> str:
    """The last user message of a chat request."""
    messages = request.json["messages"]
    return str(next(m["content"] for m in reversed(messages) if m["role"] == "user"))


# ------------------------------------------------------------------------------------------------
# Journey 1: a support bot
# ------------------------------------------------------------------------------------------------


class Priority(Enum):
    LOW = "low"
    HIGH = "high"


@dataclass
class Customer:
    email: str
    name: str | None = None


ORDERS = {"A1": {"order_id": "A1", "status": "shipped", "total": 30.0}}
tickets: list[tuple[Customer, Priority, str | None]] = []
refunds: list[tuple[str, float]] = []


@orx.tool
def lookup_order(order_id: str) -> dict[str, Any]:
    """Look an order up.

    Args:
        order_id: the order number, e.g. "A1".
    """
    return ORDERS[order_id]  # KeyError for an unknown order: the model must see it


@orx.tool
def open_ticket(customer: Customer, priority: Priority, note: str | None = None) -> str:
    """Open a support ticket.

    Args:
        customer: who asks.
        priority: how urgent it is.
        note: an optional note for the agent.
    """
    tickets.append((customer, priority, note))
    return f"ticket T{len(tickets)}"


@orx.tool
def refund(order_id: str, amount: float) -> dict[str, Any]:
    """Refund an order.

    Args:
        order_id: the order number.
        amount: how much to refund.
    """
    refunds.append((order_id, amount))
    return {"refunded": amount}


@pytest.fixture(autouse=True)
def _clear_bot_state() -> None:
    tickets.clear()
    refunds.clear()


def test_support_bot_conversation_with_retry_parallel_calls_a_failing_tool_and_a_follow_up(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    bot_tools = [lookup_order, open_ticket, refund]
    fake_openrouter.enqueue(
        ErrorReply(503, "provider overloaded"),  # turn 1, first try: retried by per_turn
        StreamReply(
            tool_call_chunks(
                [call("lookup_order", {"order_id": "A1"}, "c1"), call("lookup_order", {"order_id": "ZZ"}, "c2")],
                text="Let me check.",
            )
        ),
        StreamReply(
            tool_call_chunks(
                [
                    call(
                        "open_ticket",
                        {"customer": {"email": "ann@example.com"}, "priority": "high", "note": None},
                        "c3",
                    )
                ]
            )
        ),
        StreamReply(text_chunks("Order A1 has shipped; ZZ does not exist. I opened ticket T1."), delay=0.001),
    )
    ui_thread = EventLoopScheduler()
    try:
        loop = orx.tool_loop(
            client,
            "Where are my orders A1 and ZZ? I am ann@example.com",
            tools=bot_tools,
            per_turn=orx_ops.retry_with_backoff(base=0.01, jitter=False),
            max_turns=5,
        ).pipe(ops.publish())
        # The UI follows the text live, on its own thread; the app keeps every event.
        ui_text: list[str] = []
        ui_threads: set[str] = set()

        def show(text: str) -> None:
            ui_text.append(text)
            ui_threads.add(threading.current_thread().name)

        ui = Sink().subscribe_to(
            loop.pipe(
                ops.map(lambda e: e.chunk.content if isinstance(e, orx.TurnChunk) else None),
                ops.filter(bool),
                ops.observe_on(ui_thread),
                ops.do_action(on_next=show),
            )
        )
        app = Sink().subscribe_to(loop)
        loop.connect()
        events = app.ok()
        ui.ok()
    finally:
        ui_thread.dispose()

    final = events[-1]
    assert isinstance(final, orx.LoopFinished) and final.turn == 3
    assert final.response.content == "Order A1 has shipped; ZZ does not exist. I opened ticket T1."
    assert "".join(ui_text) == "Let me check." + final.response.content
    assert len(ui_threads) == 1 and threading.current_thread().name not in ui_threads

    results = [e for e in events if isinstance(e, orx.ToolCallResult)]
    assert [r.call.id for r in results] == ["c1", "c2", "c3"]
    assert results[0].value == ORDERS["A1"] and results[0].error is None
    assert isinstance(results[1].error, KeyError)
    assert json.loads(results[1].message["content"])["error"]["type"] == "KeyError"
    assert tickets == [(Customer("ann@example.com", None), Priority.HIGH, None)]
    assert results[2].value == "ticket T1"
    assert len(fake_openrouter.requests) == 4  # 503 + three turns

    # A follow-up question reuses the whole conversation.
    fake_openrouter.enqueue(
        StreamReply(tool_call_chunks([call("refund", {"order_id": "A1", "amount": 30}, "c4")])),
        StreamReply(text_chunks("Refunded 30.")),
    )
    follow_up = [*final.messages, {"role": "user", "content": "Please refund A1."}]
    events2, error = outcome(orx.tool_loop(client, follow_up, tools=bot_tools))
    assert error is None
    assert refunds == [("A1", 30)]
    sent = fake_openrouter.requests[4].json["messages"]
    assert [m["role"] for m in sent] == [
        "user", "assistant", "tool", "tool", "assistant", "tool", "assistant", "user",
    ]  # fmt: skip
    assert [m.get("tool_call_id") for m in sent if m["role"] == "tool"] == ["c1", "c2", "c3"]
    last = events2[-1]
    assert isinstance(last, orx.LoopFinished) and last.messages[-1]["content"] == "Refunded 30."


def test_support_bot_max_turns_then_continue_with_a_higher_limit(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    fake_openrouter.enqueue(
        StreamReply(tool_call_chunks([call("lookup_order", {"order_id": "A1"}, "c1")])),
        StreamReply(tool_call_chunks([call("lookup_order", {"order_id": "A1"}, "c2")])),
    )
    _, error = outcome(orx.tool_loop(client, "A1?", tools=[lookup_order], max_turns=2))
    assert isinstance(error, orx.MaxTurnsError)
    # The conversation as the last turn sent it: the last turn's calls are left unanswered
    # (err.partial holds them) and going on re-sends that turn.
    assert [m["role"] for m in error.messages] == ["user", "assistant", "tool"]
    assert error.turns == 2 and error.partial is not None
    assert [c.id for c in error.partial.tool_calls] == ["c2"]

    fake_openrouter.enqueue(StreamReply(text_chunks("A1 has shipped.")))
    events, error = outcome(orx.tool_loop(client, error.messages, tools=[lookup_order], max_turns=4))
    assert error is None
    assert events[-1].response.content == "A1 has shipped."
    assert fake_openrouter.requests[-1].json["messages"] == fake_openrouter.requests[1].json["messages"]


def test_tools_given_as_plain_functions_and_an_invalid_call_the_model_corrects(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    def convert(amount: float, currency: str = "EUR") -> float:
        """Convert an amount from USD.

        Args:
            amount: the amount in USD.
            currency: the target currency.
        """
        return round(amount * 0.5, 2)

    fake_openrouter.enqueue(
        StreamReply(
            tool_call_chunks([call("convert", {"amount": "ten"}, "c1"), call("teleport", {"to": "Mars"}, "c2")])
        ),
        StreamReply(tool_call_chunks([call("convert", {"amount": 10}, "c3")])),
        StreamReply(text_chunks("10 USD is 5 EUR.")),
    )
    events, error = outcome(orx.tool_loop(client, "10 USD in EUR?", tools=[convert]))
    assert error is None
    tool_spec = fake_openrouter.requests[0].json["tools"][0]["function"]
    assert tool_spec["name"] == "convert"
    assert tool_spec["parameters"]["required"] == ["amount"]
    assert tool_spec["parameters"]["properties"]["amount"]["description"] == "the amount in USD."
    requested = [e for e in events if isinstance(e, orx.ToolCallRequested)]
    assert isinstance(requested[0].error, orx.ToolArgumentsError)
    assert requested[0].error.raw == '{"amount": "ten"}'
    assert "amount" in requested[0].error.messages
    assert isinstance(requested[1].error, orx.UnknownToolError)
    results = [e for e in events if isinstance(e, orx.ToolCallResult)]
    assert [r.value for r in results][2] == 5.0
    assert [json.loads(r.message["content"]).get("error", {}).get("type") for r in results[:2]] == [
        "ToolArgumentsError",
        "UnknownToolError",
    ]


def test_validated_tool_calls_stream_with_errors_emitted_in_place(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    fake_openrouter.enqueue(
        StreamReply(
            tool_call_chunks(
                [
                    call("open_ticket", {"customer": {"email": "b@x.org"}, "priority": "low"}, "c1"),
                    call("open_ticket", {"customer": {}, "priority": "urgent"}, "c2"),
                    call("nope", {}, "c3"),
                ]
            )
        )
    )
    out = values(
        client.stream("help", tools=[open_ticket]).pipe(orx_ops.tool_calls(tools=[open_ticket], errors="emit"))
    )
    assert len(out) == 3
    assert out[0].arguments == {"customer": Customer("b@x.org"), "priority": Priority.LOW, "note": None}
    assert out[0].run() == "ticket T1"
    assert isinstance(out[1], orx.ToolArgumentsError) and not isinstance(out[1], orx.UnknownToolError)
    assert set(out[1].messages) == {"customer", "priority"}
    assert isinstance(out[2], orx.UnknownToolError) and out[2].name == "nope"


# ------------------------------------------------------------------------------------------------
# Journey 2: a data app extracting structured records
# ------------------------------------------------------------------------------------------------


@dataclass
class Item:
    sku: str
    qty: int
    tags: list[str]


class ItemSchema(Schema):
    sku = fields.String(required=True)
    qty = fields.Integer(required=True, validate=validate.Range(min=0))
    tags = fields.List(fields.String(), load_default=list)

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> Item:
        return Item(**data)


def item_json(i: int) -> str:
    return json.dumps({"sku": f"item-{i}", "qty": i, "tags": ["x"]})


def data_app_reply(i: int) -> list[dict[str, Any]]:
    """What the model answers to prompt ``i``: mostly fine, some broken in the usual ways."""
    if i == 7:  # parses but fails the schema: only a healer can fix it
        return text_chunks(f'{{"sku": "item-{i}", "qty": "seven", "tags": []}}')
    if i == 13:  # refused
        f = ChunkFactory()
        return [f.role(), f.chunk({"refusal": "I can't help with that."}), f.finish("stop"), f.usage(10, 5)]
    if i == 17:  # prose the healer cannot fix either
        return text_chunks(f"Sorry, item-{i} is not in the catalogue.")
    text = item_json(i)
    if i % 4 == 1:
        text = f"{FENCE}json\n{text}\n{FENCE}"
    elif i % 4 == 2:
        text = text.replace("]}", "],}").replace('["x"]', '["x",]')
    chunks = text_chunks(text, pieces=5)
    return without_cost(chunks) if i % 2 else chunks


def data_app_responder(request: RecordedRequest) -> Reply | None:
    if request.path.endswith("/models"):
        return None
    if request.json.get("stream") is not True:  # the healer model
        prompt = json.dumps(request.json["messages"])
        if "item-7" in prompt:
            return CompletionReply(completion_body(item_json(7)))
        return CompletionReply(completion_body("I still cannot find it."))
    i = int(user_text(request).split()[-1])
    return StreamReply(data_app_reply(i), delay=0.001)


def test_data_app_twenty_prompts_four_at_a_time_every_result_or_typed_error_once(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    fake_openrouter.responder = data_app_responder
    values(client.models())  # so that pricing_for knows the prices
    tracker = orx.UsageTracker(pricing=client.pricing_for)
    healer = orx.Healer(client, max_attempts=2)
    attempts: dict[int, list[orx.HealAttempt]] = {i: [] for i in range(20)}

    def extract(i: int) -> reactivex.Observable[tuple[int, Any]]:
        return client.stream(
            f"Extract the item from document {i}", response_format=ItemSchema, model="openai/gpt-4o-mini"
        ).pipe(
            orx_ops.track_usage(tracker),
            orx_ops.structured_output(heal=healer, on_attempt=attempts[i].append),
            ops.map(lambda item: (i, item)),
            ops.catch(lambda err, _: reactivex.just((i, err))),
        )

    results = values(reactivex.from_iterable(range(20)).pipe(ops.map(extract), ops.merge(max_concurrent=4)))
    assert sorted(i for i, _ in results) == list(range(20))  # nothing lost, nothing twice
    by_index = dict(results)
    failed = {i: r for i, r in by_index.items() if isinstance(r, Exception)}
    assert set(failed) == {13, 17}
    for i, result in by_index.items():
        if i not in failed:
            assert result == Item(f"item-{i}", i, ["x"])

    refused, hopeless = failed[13], failed[17]
    assert isinstance(refused, orx.StructuredOutputError) and refused.messages == {
        "_refusal": ["I can't help with that."]
    }
    assert refused.attempts == [] and refused.raw == ""
    assert refused.partial is not None and refused.partial.refusal == "I can't help with that."
    assert isinstance(hopeless, orx.StructuredOutputError)
    assert hopeless.raw == "Sorry, item-17 is not in the catalogue."
    assert [a.source for a in hopeless.attempts] == ["model", "healer", "healer"]
    assert hopeless.partial is not None and hopeless.partial.content == hopeless.raw
    assert [(a.source, a.ok) for a in attempts[7]] == [("model", False), ("healer", True)]
    assert [(a.source, a.ok) for a in attempts[5]] == [("model", False), ("repair", True)]  # fenced
    assert [(a.source, a.ok) for a in attempts[4]] == [("model", True)]

    # 20 streamed requests (+ healer calls, which go around the tracker) and one GET /models.
    chats = [r for r in fake_openrouter.requests if r.json and r.json.get("stream") is True]
    assert len(chats) == 20
    assert tracker.requests == 20
    totals = tracker.totals()
    mini = client.pricing_for("openai/gpt-4o-mini")
    assert mini is not None
    assert totals.estimated_requests == 7  # the plain odd ones had no usage.cost
    assert totals.reported_cost == Decimal("0.00001") * 13
    assert totals.estimated_cost > 0 and totals.cost == totals.reported_cost + totals.estimated_cost
    assert totals.unpriced_requests == 0


def test_structured_output_on_complete_with_the_response_healing_plugin(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    fake_openrouter.enqueue(CompletionReply(completion_body(f"{FENCE}\n{item_json(3)}\n{FENCE}")))
    (response,) = values(client.complete("item 3", response_format=ItemSchema, plugins=[{"id": "response-healing"}]))
    assert fake_openrouter.last_request is not None
    body = fake_openrouter.last_request.json
    assert body["plugins"] == [{"id": "response-healing"}] and body["stream"] is False
    assert response.structured_output == Item("item-3", 3, ["x"])
    assert response.parse(ItemSchema) == Item("item-3", 3, ["x"])


# ------------------------------------------------------------------------------------------------
# Journey 3: a form that fills while the JSON streams
# ------------------------------------------------------------------------------------------------


class AddressSchema(Schema):
    street = fields.String(required=True)
    city = fields.String(required=True)


class PersonSchema(Schema):
    name = fields.String(required=True, metadata={"description": "full name"})
    age = fields.Integer(required=True)
    addresses = fields.Nested(AddressSchema, many=True, required=True)
    nickname = fields.String(load_default="none")


PERSON = {
    "name": "Ada Lovelace",
    "age": 36,
    "addresses": [{"street": "St James's Square", "city": "London"}],
    "nickname": None,
}


def is_prefix(partial: Any, final: Any) -> bool:
    """Whether a partially parsed value could grow into ``final``."""
    if isinstance(partial, dict):
        return isinstance(final, dict) and all(k in final and is_prefix(v, final[k]) for k, v in partial.items())
    if isinstance(partial, list):
        return isinstance(final, list) and len(partial) <= len(final) and all(map(is_prefix, partial, final))
    if isinstance(partial, str):
        return isinstance(final, str) and final.startswith(partial)
    return bool(partial == final)


def test_form_fills_live_and_validates_at_the_end_on_one_request(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks(json.dumps(PERSON), pieces=4)))
    shared = client.stream("Who wrote the first program?", response_format=PersonSchema).pipe(ops.publish())
    live = Sink().subscribe_to(shared.pipe(orx_ops.partial_json()))
    final = Sink().subscribe_to(shared.pipe(orx_ops.structured_output(PersonSchema)))
    shared.connect()
    partials, (person,) = live.ok(), final.ok()

    assert len(fake_openrouter.requests) == 1
    assert len(partials) > 10
    assert {"name": "Ada Lo"} in partials  # the string grows as it streams
    assert all(is_prefix(p, PERSON) for p in partials)
    assert partials[-1] == PERSON
    assert len({json.dumps(p) for p in partials}) == len(partials)  # only when it changes
    # Strict mode: the null nickname comes back as its load_default.
    assert person == {**PERSON, "nickname": "none"}
    sent = fake_openrouter.requests[0].json["response_format"]["json_schema"]["schema"]
    assert sent["properties"]["addresses"]["items"]["additionalProperties"] is False
    assert sent["properties"]["name"]["description"] == "full name"


def test_structured_output_without_argument_after_publish(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks(json.dumps(PERSON))))
    shared = client.stream("Who?", response_format=PersonSchema).pipe(ops.publish())
    final = Sink().subscribe_to(shared.pipe(orx_ops.structured_output()))
    shared.connect()
    assert final.ok() == [{**PERSON, "nickname": "none"}]


def test_form_cancelled_mid_stream_closes_the_request_and_can_be_restarted(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    text = json.dumps(PERSON)
    fake_openrouter.enqueue(StreamReply(text_chunks(text, pieces=4), stall_after=6))
    form = client.stream("Who?", response_format=PersonSchema).pipe(orx_ops.partial_json())
    first_value = threading.Event()
    seen: list[Any] = []

    def on_next(value: Any) -> None:
        seen.append(value)
        first_value.set()

    subscription = form.subscribe(on_next, lambda e: None)
    assert first_value.wait(WAIT)
    subscription.dispose()  # the user closed the form
    (request,) = fake_openrouter.wait_for_requests(1)
    assert request.wait_disconnected(WAIT)
    count = len(seen)
    assert all(is_prefix(p, PERSON) for p in seen)

    # Opening the form again sends a new request and gets the whole value.
    fake_openrouter.enqueue(StreamReply(text_chunks(text, pieces=4)))
    again = values(form)
    assert again[-1] == PERSON
    assert len(fake_openrouter.requests) == 2
    assert len(seen) == count  # the disposed subscription got nothing more


# ------------------------------------------------------------------------------------------------
# Journey 4: strict tools and strict formats end to end
# ------------------------------------------------------------------------------------------------


@orx.tool(strict=True)
def book_table(restaurant: str, people: int = 2, note: str | None = None, vip: bool = False) -> dict[str, Any]:
    """Book a table.

    Args:
        restaurant: where.
        people: how many guests.
        note: a note for the restaurant.
        vip: whether to flag the booking.
    """
    return {"restaurant": restaurant, "people": people, "note": note, "vip": vip}


def test_strict_tool_sends_a_strict_schema_and_loads_nulls_back_to_defaults(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    fake_openrouter.enqueue(
        StreamReply(
            tool_call_chunks(
                [call("book_table", {"restaurant": "Noma", "people": None, "note": None, "vip": None}, "c1")]
            )
        ),
        StreamReply(text_chunks("Booked.")),
    )
    events, error = outcome(orx.tool_loop(client, "Book Noma", tools=[book_table]))
    assert error is None
    spec = fake_openrouter.requests[0].json["tools"][0]["function"]
    assert spec["strict"] is True
    params = spec["parameters"]
    assert params["additionalProperties"] is False
    assert sorted(params["required"]) == ["note", "people", "restaurant", "vip"]
    assert "null" in params["properties"]["people"]["type"]
    (result,) = [e for e in events if isinstance(e, orx.ToolCallResult)]
    assert result.value == {"restaurant": "Noma", "people": 2, "note": None, "vip": False}


class TicketSchema(Schema):
    title = fields.String(required=True)
    severity = fields.String(load_default="medium", validate=validate.OneOf(["low", "medium", "high"]))
    labels = fields.List(fields.String(), load_default=list)
    internal = fields.String(load_default="")


def test_strict_response_format_with_only_and_a_non_strict_one(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    fmt = orx.ResponseFormat(TicketSchema(only=("title", "severity", "labels")), name="ticket")
    fake_openrouter.enqueue(StreamReply(text_chunks('{"title": "Login fails", "severity": null, "labels": null}')))
    (ticket,) = values(client.stream("file it", response_format=fmt).pipe(orx_ops.structured_output()))
    sent = fake_openrouter.requests[0].json["response_format"]
    assert sent["json_schema"]["name"] == "ticket" and sent["json_schema"]["strict"] is True
    assert sorted(sent["json_schema"]["schema"]["properties"]) == ["labels", "severity", "title"]
    assert sent["json_schema"]["schema"]["properties"]["severity"]["enum"][:3] == ["low", "medium", "high"]
    assert ticket == {"title": "Login fails", "severity": "medium", "labels": []}

    loose = orx.ResponseFormat(TicketSchema, strict=False)
    fake_openrouter.enqueue(StreamReply(text_chunks('{"title": "Slow", "severity": "urgent"}')))
    _, error = outcome(client.stream("file it", response_format=loose).pipe(orx_ops.structured_output()))
    assert isinstance(error, orx.StructuredOutputError)
    assert "severity" in error.messages
    schema = fake_openrouter.requests[1].json["response_format"]["json_schema"]
    assert schema["strict"] is False and schema["schema"]["required"] == ["title"]


# ------------------------------------------------------------------------------------------------
# Journey 5: models, prices and cost
# ------------------------------------------------------------------------------------------------


def test_models_are_cached_and_cost_comes_from_usage_or_pricing(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    assert client.pricing_for("openai/gpt-4o-mini") is None  # nothing cached yet, nothing sent
    assert fake_openrouter.requests == []
    first = values(client.models())
    second = values(client.models())
    assert [m.id for m in first] == [m.id for m in second]
    assert sum(r.path.endswith("/models") for r in fake_openrouter.requests) == 1
    (mini,) = values(client.model_info("openai/gpt-4o-mini"))
    _, missing = outcome(client.model_info("openai/gpt-4o-mni"))
    assert isinstance(missing, orx.NotFoundError) and "openai/gpt-4o-mini" in str(missing)
    assert sum(r.path.endswith("/models") for r in fake_openrouter.requests) == 1

    fake_openrouter.enqueue(
        StreamReply(text_chunks("With cost.", cost=0.0005)),
        StreamReply(without_cost(text_chunks("Without cost."))),
        CompletionReply(completion_body("Done.", cost=0.0002)),
        CompletionReply(
            {**completion_body("Done."), "usage": {"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11}}
        ),
        StreamReply(without_cost(text_chunks("Nobody knows.", model="acme/unknown-1"))),
    )
    streamed = client.stream("a", model="openai/gpt-4o-mini").pipe(orx_ops.accumulate())
    (with_cost,) = values(streamed)
    (estimated,) = values(streamed)
    (completed,) = values(client.complete("b", model="openai/gpt-4o-mini"))
    (completed_estimated,) = values(client.complete("b", model="openai/gpt-4o-mini"))
    (unknown,) = values(client.stream("c", model="acme/unknown-1").pipe(orx_ops.accumulate()))

    assert (with_cost.cost_source, with_cost.cost_estimate) == ("usage", Decimal("0.0005"))
    assert estimated.cost_source == "pricing" and estimated.cost_estimate == mini.pricing.cost(estimated.usage)
    assert (completed.cost_source, completed.cost_estimate) == ("usage", Decimal("0.0002"))
    assert completed_estimated.cost_source == "pricing"
    assert completed_estimated.cost_estimate == mini.pricing.cost(completed_estimated.usage)
    assert (unknown.cost_source, unknown.cost_estimate) == (None, None)


def test_usage_tracker_keeps_reported_and_estimated_costs_apart_per_model(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    values(client.models())
    tracker = orx.UsageTracker(pricing=client.pricing_for)
    fake_openrouter.enqueue(
        StreamReply(text_chunks("one", cost=0.001)),
        StreamReply(without_cost(text_chunks("two"))),
        StreamReply(without_cost(text_chunks("three", model="acme/unknown-1"))),
    )
    for model in ("openai/gpt-4o-mini", "openai/gpt-4o-mini", "acme/unknown-1"):
        values(client.stream("x", model=model).pipe(orx_ops.track_usage(tracker)))
    mini = client.pricing_for("openai/gpt-4o-mini")
    assert mini is not None
    assert tracker.requests == 3
    assert tracker.by_model["openai/gpt-4o-mini"].requests == 2
    assert tracker.totals().reported_cost == Decimal("0.001")
    assert tracker.totals().estimated_requests == 1 and tracker.totals().unpriced_requests == 1
    assert tracker.by_model["acme/unknown-1"].cost == 0
    summary = json.loads(json.dumps(tracker.summary()))  # JSON-friendly, exact decimal strings
    assert summary["requests"] == 3 and summary["estimated_requests"] == 1 and summary["unpriced_requests"] == 1
    assert Decimal(summary["cost"]) == tracker.cost
    assert sorted(summary["by_model"]) == ["acme/unknown-1", "openai/gpt-4o-mini"]
    assert summary["by_model"]["acme/unknown-1"]["cost"] == "0"


# ------------------------------------------------------------------------------------------------
# Journey 6: resilience around structured outputs
# ------------------------------------------------------------------------------------------------


def test_structured_output_after_a_fallback_to_non_streaming_needs_no_argument(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    fake_openrouter.enqueue(
        ErrorReply(400, "streaming not supported for this model"),
        CompletionReply(completion_body(item_json(9))),
    )
    _, error = outcome(
        client.stream("item 9", response_format=ItemSchema).pipe(
            orx_ops.fallback_to_non_streaming(), orx_ops.structured_output()
        )
    )
    # A 400 is not something to fall back on: the user sees the typed error.
    assert isinstance(error, orx.BadRequestError)

    fake_openrouter.reset()
    fake_openrouter.enqueue(ErrorReply(502, "bad gateway"), CompletionReply(completion_body(item_json(9))))
    (item,) = values(
        client.stream("item 9", response_format=ItemSchema).pipe(
            orx_ops.fallback_to_non_streaming(), orx_ops.structured_output()
        )
    )
    assert item == Item("item-9", 9, ["x"])
    assert [r.json["stream"] for r in fake_openrouter.requests] == [True, False]
    assert fake_openrouter.requests[1].json["response_format"]["type"] == "json_schema"


def test_truncated_reply_is_repaired_and_the_attempts_say_so(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    cut = '{"sku": "item-4", "qty": 4, "tags": ["x", "y'
    fake_openrouter.enqueue(StreamReply(text_chunks(cut, finish_reason="length")))
    attempts: list[orx.HealAttempt] = []
    (item,) = values(
        client.stream("item 4", response_format=ItemSchema, max_tokens=20).pipe(
            orx_ops.structured_output(on_attempt=attempts.append)
        )
    )
    assert item == Item("item-4", 4, ["x", "y"])
    assert [(a.source, a.ok) for a in attempts] == [("model", False), ("repair", True)]


# ------------------------------------------------------------------------------------------------
# Journey 7: what else a user naturally tries
# ------------------------------------------------------------------------------------------------


class Mode(Enum):
    WALK = "walk"
    TRAIN = "train"


@dataclass
class Stop:
    city: str
    mode: Mode
    nights: int = 1


@orx.tool
def plan_route(stops: list[Stop], budget: float | None = None) -> dict[str, Any]:
    """Plan a route through several stops.

    Args:
        stops: the stops, in order.
        budget: the most to spend, if any.
    """
    return {"nights": sum(s.nights for s in stops), "modes": [s.mode for s in stops], "budget": budget}


def test_nested_dataclasses_in_a_list_with_enums_and_a_slow_tool_on_another_scheduler(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    slow_thread = EventLoopScheduler()
    seen_threads: list[str] = []

    def slow_weather(city: str) -> reactivex.Observable[str]:
        def work(_: Any) -> str:
            seen_threads.append(threading.current_thread().name)
            return f"sunny in {city}"

        return reactivex.start(lambda: work(None), scheduler=slow_thread)

    weather = orx.Tool(
        "weather",
        "The weather.",
        type("WeatherArgs", (Schema,), {"city": fields.String(required=True)}),
    )
    stops = [{"city": "Bergen", "mode": "train", "nights": 2}, {"city": "Flam", "mode": "walk"}]
    fake_openrouter.enqueue(
        StreamReply(
            tool_call_chunks([call("plan_route", {"stops": stops}, "c1"), call("weather", {"city": "Bergen"}, "c2")])
        ),
        StreamReply(text_chunks("Three nights, sunny.")),
    )
    try:
        events, error = outcome(
            orx.tool_loop(client, "Plan Bergen", tools=[plan_route, weather], handlers={"weather": slow_weather})
        )
    finally:
        slow_thread.dispose()
    assert error is None
    spec = fake_openrouter.requests[0].json["tools"][0]["function"]["parameters"]
    item = spec["properties"]["stops"]["items"]
    assert item["properties"]["mode"]["enum"] == ["walk", "train"] and item["required"] == ["city", "mode"]
    results = [e for e in events if isinstance(e, orx.ToolCallResult)]
    assert results[0].value == {"nights": 3, "modes": [Mode.TRAIN, Mode.WALK], "budget": None}
    assert json.loads(results[0].message["content"]) == {"nights": 3, "modes": ["train", "walk"], "budget": None}
    assert results[1].value == "sunny in Bergen" and results[1].message["content"] == "sunny in Bergen"
    assert len(seen_threads) == 1 and seen_threads[0] != threading.current_thread().name


def test_closing_the_chat_mid_turn_closes_the_request_and_runs_no_tool(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    chunks = tool_call_chunks([call("refund", {"order_id": "A1", "amount": 5}, "c1")], text="Refunding now, one moment")
    fake_openrouter.enqueue(StreamReply(chunks, stall_after=3))
    got_text = threading.Event()
    subscription = orx.tool_loop(client, "refund A1", tools=[refund]).subscribe(
        lambda e: got_text.set() if isinstance(e, orx.TurnChunk) and e.chunk.content else None, lambda e: None
    )
    assert got_text.wait(WAIT)
    subscription.dispose()
    (request,) = fake_openrouter.wait_for_requests(1)
    assert request.wait_disconnected(WAIT)
    assert refunds == []
    assert len(fake_openrouter.requests) == 1


def test_forced_tool_choice_is_reset_to_auto_after_the_first_turn_and_costs_add_up_per_turn(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    tracker = orx.UsageTracker()
    fake_openrouter.enqueue(
        StreamReply(tool_call_chunks([call("lookup_order", {"order_id": "A1"}, "c1")], cost=0.002)),
        StreamReply(text_chunks("Shipped.", cost=0.001)),
    )
    events, error = outcome(
        orx.tool_loop(
            client,
            "A1?",
            tools=[lookup_order],
            tool_choice="required",
            temperature=0,
            per_turn=lambda chunks: chunks.pipe(orx_ops.retry_with_backoff(), orx_ops.track_usage(tracker)),
        )
    )
    assert error is None
    first, second = (r.json for r in fake_openrouter.requests)
    assert (first["tool_choice"], second["tool_choice"]) == ("required", "auto")
    assert first["temperature"] == second["temperature"] == 0
    assert tracker.requests == 2 and tracker.cost == Decimal("0.003")
    turns = [e.response.cost_estimate for e in events if isinstance(e, orx.TurnFinished)]
    assert turns == [Decimal("0.002"), Decimal("0.001")]


class Settings(Schema):
    name = fields.String(required=True)
    extras = fields.Dict(keys=fields.String(), values=fields.String())


def test_a_schema_with_no_strict_form_is_a_typed_error_naming_the_field(client: orx.Client) -> None:
    with pytest.raises(orx.SchemaConversionError, match="extras"):
        orx.ResponseFormat(Settings)
    assert issubclass(orx.SchemaConversionError, TypeError)
    loose = orx.ResponseFormat(Settings, strict=False)
    assert loose.to_dict()["json_schema"]["schema"]["properties"]["extras"]["type"] == "object"


def test_a_schema_class_with_no_strict_form_given_to_stream_fails_before_sending(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    try:
        stream = client.stream("x", response_format=Settings)
    except orx.SchemaConversionError:
        error: Exception | None = None  # raised at call time: fine too
    else:
        _, error = outcome(stream)
        assert isinstance(error, orx.SchemaConversionError)
    assert fake_openrouter.requests == []


def test_a_healer_whose_request_fails_ends_healing_with_every_attempt_recorded(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    fake_openrouter.enqueue(
        StreamReply(text_chunks('{"sku": "item-1", "qty": -1}')),
        ErrorReply(500, "healer down"),
    )
    _, error = outcome(
        client.stream("item 1", response_format=ItemSchema).pipe(
            orx_ops.structured_output(heal=orx.Healer(client, max_attempts=3))
        )
    )
    assert isinstance(error, orx.StructuredOutputError)
    assert error.raw == '{"sku": "item-1", "qty": -1}'
    assert [a.source for a in error.attempts] == ["model", "healer"]
    assert "qty" in error.attempts[0].messages
    assert error.attempts[1].messages["_request"][0].startswith("ServerError")
    assert len(fake_openrouter.requests) == 2  # no second healer call after a failed request
    healer_body = fake_openrouter.requests[1].json
    assert healer_body["stream"] is False and healer_body["response_format"]["type"] == "json_schema"
    assert "qty" in json.dumps(healer_body["messages"])  # the validation errors were sent


def test_a_refusal_seen_through_accumulate_and_response_structured_output(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    f = ChunkFactory()
    fake_openrouter.enqueue(StreamReply([f.role(), f.chunk({"refusal": "No."}), f.finish("stop"), f.usage(5, 1)]))
    (response,) = values(client.stream("x", response_format=ItemSchema).pipe(orx_ops.accumulate()))
    assert response.refusal == "No."
    with pytest.raises(orx.StructuredOutputError) as info:
        _ = response.structured_output
    assert info.value.messages == {"_refusal": ["No."]}


def test_response_parse_with_another_schema_and_a_dict_tool_sent_as_given(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    raw_tool = {
        "type": "function",
        "function": {"name": "ping", "description": "Ping.", "parameters": {"type": "object", "properties": {}}},
    }
    fake_openrouter.enqueue(StreamReply(text_chunks(f"Here you go:\n{item_json(2)}")))
    (response,) = values(client.stream("x", tools=[raw_tool, lookup_order]).pipe(orx_ops.accumulate()))
    assert fake_openrouter.requests[0].json["tools"] == [raw_tool, lookup_order.to_dict()]
    assert response.structured_output is None  # no response_format was asked for
    assert response.parse(ItemSchema) == Item("item-2", 2, ["x"])  # prose around the JSON is repaired
    with pytest.raises(orx.StructuredOutputError) as info:  # fields left out by only= are unknown
        response.parse(TicketSchema(only=("title",)))
    assert info.value.messages["sku"] == ["Unknown field."]


def test_a_fallback_keeps_the_pricing_so_cost_is_estimated(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    values(client.models())
    body = completion_body(item_json(1))
    del body["usage"]["cost"]
    fake_openrouter.enqueue(ErrorReply(503, "no streaming today"), CompletionReply(body))
    (response,) = values(
        client.stream("item 1", response_format=ItemSchema, model="openai/gpt-4o-mini").pipe(
            orx_ops.fallback_to_non_streaming(), orx_ops.accumulate()
        )
    )
    mini = client.pricing_for("openai/gpt-4o-mini")
    assert mini is not None and response.usage is not None
    assert response.cost_source == "pricing" and response.cost_estimate == mini.cost(response.usage)
    assert response.structured_output == Item("item-1", 1, ["x"])


def test_retry_then_structured_output_without_argument(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(ErrorReply(429, "slow down"), StreamReply(text_chunks(item_json(6))))
    (item,) = values(
        client.stream("item 6", response_format=ItemSchema).pipe(
            orx_ops.retry_with_backoff(base=0.01, jitter=False), orx_ops.structured_output()
        )
    )
    assert item == Item("item-6", 6, ["x"])
    assert len(fake_openrouter.requests) == 2


def test_closing_the_form_while_the_healer_works_closes_the_healer_request(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    slow_heal = CompletionReply(completion_body(item_json(8)), delay=0.2, leading_whitespace=40)
    fake_openrouter.enqueue(StreamReply(text_chunks('{"sku": "item-8", "qty": "eight"}')), slow_heal)
    sink = Sink()
    subscription = (
        client.stream("item 8", response_format=ItemSchema)
        .pipe(orx_ops.structured_output(heal=orx.Healer(client)))
        .subscribe(sink.on_next, sink.on_error, sink.on_completed)
    )
    _, healing = fake_openrouter.wait_for_requests(2, timeout=WAIT)
    assert healing.json["stream"] is False
    subscription.dispose()
    assert healing.wait_disconnected(WAIT)
    assert sink.items == [] and sink.error is None and not sink.completed


def test_every_attempt_is_logged_without_the_api_key(
    fake_openrouter: FakeOpenRouter, client: orx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks(f"{FENCE}json\n{item_json(5)}\n{FENCE}")))
    with caplog.at_level("INFO", logger="openrouter_rx"):
        (item,) = values(client.stream("item 5", response_format=ItemSchema).pipe(orx_ops.structured_output()))
    assert item == Item("item-5", 5, ["x"])
    levels = [r.levelname for r in caplog.records if r.name.startswith("openrouter_rx")]
    assert levels == ["WARNING", "INFO"]  # the model's text failed, the repair worked
    assert KEY not in caplog.text


class OrderAnswer(Schema):
    order_id = fields.String(required=True)
    status = fields.String(required=True)


def test_a_tool_loop_whose_final_answer_is_structured(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(
        StreamReply(tool_call_chunks([call("lookup_order", {"order_id": "A1"}, "c1")])),
        StreamReply(text_chunks('{"order_id": "A1", "status": "shipped"}')),
    )
    events, error = outcome(orx.tool_loop(client, "A1?", tools=[lookup_order], response_format=OrderAnswer))
    assert error is None
    assert [r.json["response_format"]["type"] for r in fake_openrouter.requests] == ["json_schema"] * 2
    final = events[-1]
    assert isinstance(final, orx.LoopFinished)
    assert final.response.structured_output == {"order_id": "A1", "status": "shipped"}


def test_accumulate_after_publish_still_knows_the_format(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks('{"order_id": "A1", "status": "shipped"}')))
    shared = client.stream("A1?", response_format=OrderAnswer).pipe(ops.publish())
    saved = Sink().subscribe_to(shared.pipe(orx_ops.accumulate()))
    text = Sink().subscribe_to(shared.pipe(orx_ops.content()))
    shared.connect()
    (response,) = saved.ok()
    assert "".join(text.ok()) == response.content
    assert response.structured_output == {"order_id": "A1", "status": "shipped"}


def test_fallback_inside_a_tool_loop_turn(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(
        ErrorReply(503, "no streaming"),
        CompletionReply(completion_body(tool_calls=[call("lookup_order", {"order_id": "A1"}, "c1")])),
        StreamReply(text_chunks("A1 has shipped.")),
    )
    events, error = outcome(
        orx.tool_loop(client, "A1?", tools=[lookup_order], per_turn=orx_ops.fallback_to_non_streaming())
    )
    assert error is None
    assert [r.json["stream"] for r in fake_openrouter.requests] == [True, False, True]
    (result,) = [e for e in events if isinstance(e, orx.ToolCallResult)]
    assert result.value == ORDERS["A1"]
    assert events[-1].response.content == "A1 has shipped."


def test_tool_loop_turns_estimate_their_cost_from_pricing(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    values(client.models())
    fake_openrouter.enqueue(
        StreamReply(without_cost(tool_call_chunks([call("lookup_order", {"order_id": "A1"}, "c1")]))),
        StreamReply(without_cost(text_chunks("Shipped."))),
    )
    events, error = outcome(orx.tool_loop(client, "A1?", tools=[lookup_order], model="openai/gpt-4o-mini"))
    assert error is None
    pricing = client.pricing_for("openai/gpt-4o-mini")
    assert pricing is not None
    turns = [e.response for e in events if isinstance(e, orx.TurnFinished)]
    assert [r.cost_source for r in turns] == ["pricing", "pricing"]
    assert all(r.usage is not None and r.cost_estimate == pricing.cost(r.usage) for r in turns)


def test_accumulate_after_publish_estimates_the_cost(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    values(client.models())
    fake_openrouter.enqueue(StreamReply(without_cost(text_chunks("Hi there."))))
    shared = client.stream("Hi", model="openai/gpt-4o-mini").pipe(ops.publish())
    saved = Sink().subscribe_to(shared.pipe(orx_ops.accumulate()))
    shared.connect()
    (response,) = saved.ok()
    assert response.cost_source == "pricing"


def test_a_flaky_async_backend_tool_that_errors_or_never_answers(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    def backend(order_id: str) -> reactivex.Observable[Any]:
        if order_id == "A1":
            return reactivex.throw(ConnectionError("backend unreachable"))
        return reactivex.never()  # hangs: answered by tool_timeout

    fake_openrouter.enqueue(
        StreamReply(
            tool_call_chunks(
                [call("lookup_order", {"order_id": "A1"}, "c1"), call("lookup_order", {"order_id": "B2"}, "c2")]
            )
        ),
        StreamReply(text_chunks("Our order system is down, sorry.")),
    )
    events, error = outcome(
        orx.tool_loop(client, "A1 and B2?", tools=[lookup_order], handlers={"lookup_order": backend}, tool_timeout=0.3)
    )
    assert error is None
    results = [e for e in events if isinstance(e, orx.ToolCallResult)]
    assert [type(r.error).__name__ for r in results] == ["ConnectionError", "TimeoutError"]
    sent = [json.loads(m["content"])["error"]["type"] for m in fake_openrouter.requests[1].json["messages"][2:]]
    assert sent == ["ConnectionError", "TimeoutError"]
    assert events[-1].response.content == "Our order system is down, sorry."
