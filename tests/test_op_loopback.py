"""The RxPY operators end to end: real HTTP over loopback against FakeOpenRouter.

Every operator of ``openrouter_rx.operators`` is driven by a real ``client.stream(...)`` (or
``client.complete(...)`` for the fallback) instead of marbles, and checked against what the fake
server served and what it saw. Assertions are on values, counts and orderings, never durations;
every blocking wait has a timeout.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import reactivex
from reactivex import operators as ops
from support import Operator, Sink, collect, fan_out, values

import openrouter_rx as orx
from openrouter_rx import operators as orx_ops
from openrouter_rx.testing import (
    ChunkFactory,
    CompletionReply,
    ErrorReply,
    FakeOpenRouter,
    KeepAlive,
    StreamReply,
    completion_body,
    text_chunks,
    tool_call_chunks,
)

KEY = "sk-or-v1-op-loopback-0123456789"
FAST = {"base": 0.01, "jitter": False}  # retry_with_backoff: short, deterministic waits



@pytest.fixture
def client(fake_openrouter: FakeOpenRouter) -> Iterator[orx.Client]:
    with orx.Client(api_key=KEY, base_url=fake_openrouter.base_url, timeout=orx.Timeout(connect=2, idle=5)) as c:
        yield c


def identity() -> Operator:
    return ops.map(lambda chunk: chunk)


def served_text(wire: list[dict[str, Any]], field: str = "content", index: int = 0) -> str:
    return "".join(
        (choice.get("delta") or {}).get(field) or ""
        for chunk in wire
        for choice in chunk.get("choices") or ()
        if choice.get("index", 0) == index
    )


def body_without_stream(request: Any) -> dict[str, Any]:
    body = dict(request.json)
    body.pop("stream")
    return body


CALLS = [
    {"id": "call_weather_0001", "name": "get_weather", "arguments": {"location": "Tokyo", "units": "celsius"}},
    {"id": "call_time_0002", "name": "get_time", "arguments": {"timezone": "Asia/Tokyo", "format": "24h"}},
]


# -- accumulate -----------------------------------------------------------------------------------


def test_accumulate_equals_what_was_served(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    wire = text_chunks(
        "The quick brown fox jumps over the lazy dog.",
        model="anthropic/claude-3.5-sonnet",
        provider="Anthropic",
        cost=0.00042,
        prompt_tokens=17,
        id="gen-1700000000-accumulateAAAAAAAAAAA",
    )
    fake_openrouter.enqueue(StreamReply([KeepAlive(), *wire[:3], KeepAlive(), *wire[3:]]))
    [response] = values(client.stream("hi").pipe(orx_ops.accumulate()))
    assert response.content == "The quick brown fox jumps over the lazy dog."
    assert response.finish_reason == "stop"
    assert response.id == "gen-1700000000-accumulateAAAAAAAAAAA"
    assert response.model == "anthropic/claude-3.5-sonnet"
    assert response.provider == "Anthropic"
    assert response.created == wire[0]["created"]
    served_usage = wire[-1]["usage"]
    assert response.usage == orx.Usage.from_dict(served_usage)
    assert (response.prompt_tokens, response.completion_tokens, response.total_tokens) == (
        served_usage["prompt_tokens"],
        served_usage["completion_tokens"],
        served_usage["total_tokens"],
    )
    assert response.cost_estimate == Decimal("0.00042")
    assert response.time_to_first_token is not None and response.response_time is not None
    assert 0 <= response.time_to_first_token <= response.response_time
    assert len(fake_openrouter.requests) == 1


def test_accumulate_disconnect_mid_stream_keeps_the_partial_text(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    wire = text_chunks("Hello there world, how are you")
    fake_openrouter.enqueue(StreamReply(wire, disconnect_after=3))  # role, "Hello ", "there "
    sink = collect(client.stream("hi").pipe(orx_ops.accumulate()))
    assert sink.items == []
    assert isinstance(sink.error, orx.OpenRouterError)
    assert isinstance(sink.error, (orx.TruncatedStreamError, orx.APIConnectionError))
    assert sink.error.partial is not None
    assert sink.error.partial.content == "Hello there "
    assert sink.error.partial.id == wire[0]["id"]
    assert sink.error.chunk_count == 3


def test_accumulate_time_to_first_token_waits_for_output(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    # Tool-call only: the first output is the first tool-call delta; response_time covers the whole stream.
    fake_openrouter.enqueue(StreamReply(tool_call_chunks(CALLS[:1]), delay=0.005))
    [response] = values(client.stream("hi").pipe(orx_ops.accumulate()))
    assert response.content == "" and response.finish_reason == "tool_calls"
    assert response.time_to_first_token is not None and response.response_time is not None
    assert 0 <= response.time_to_first_token <= response.response_time


# -- snapshots ------------------------------------------------------------------------------------


def test_snapshots_grow_and_end_at_the_accumulated_response(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    wire = text_chunks("one two three four five", reasoning="thinking it over", pieces="words")
    fake_openrouter.enqueue(StreamReply(wire))
    shots, final, chunks = fan_out(client.stream("hi"), orx_ops.snapshots(), orx_ops.accumulate(), ops.to_list())
    assert len(fake_openrouter.requests) == 1
    snapshots = shots.ok()
    [response] = final.ok()
    [received] = chunks.ok()
    assert len(snapshots) == len(received) == len(wire)  # one snapshot per chunk
    assert snapshots[-1] == response
    assert snapshots[-1].content == "one two three four five"
    for before, after in itertools.pairwise(snapshots):
        assert after.content.startswith(before.content)
        assert after.reasoning.startswith(before.reasoning)
        assert len(after.content) + len(after.reasoning) >= len(before.content) + len(before.reasoning)
    assert [s.content for s in snapshots] == [served_text(wire[: n + 1]) for n in range(len(wire))]
    assert snapshots[-2].usage is None and snapshots[-1].usage is not None  # usage comes last
    for shot in snapshots:
        assert shot.response_time is not None and shot.response_time >= 0


def test_snapshots_error_carries_the_partial(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks("alpha beta gamma delta"), disconnect_after=3))
    sink = collect(client.stream("hi").pipe(orx_ops.snapshots()))
    assert [s.content for s in sink.items] == ["", "alpha ", "alpha beta "]
    assert isinstance(sink.error, orx.OpenRouterError)
    assert sink.error.partial is not None and sink.error.partial.content == "alpha beta "


# -- content / reasoning --------------------------------------------------------------------------


def test_content_and_reasoning_join_to_the_served_text(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    text = "Grüße 🌍 — streams are neat."
    thought = "The user wants a short sentence about streams."
    wire = text_chunks(text, reasoning=thought, pieces=3)
    fake_openrouter.enqueue(StreamReply(wire))
    texts, thoughts = fan_out(client.stream("hi"), orx_ops.content(), orx_ops.reasoning())
    assert "".join(texts.ok()) == text
    assert "".join(thoughts.ok()) == thought
    assert texts.items == [p for p in (served_text([c]) for c in wire) if p]  # one item per non-empty delta
    assert all(texts.items) and all(thoughts.items)
    assert len(fake_openrouter.requests) == 1


def test_content_of_another_choice(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    factory = ChunkFactory()
    wire = [
        factory.role(),
        *factory.text("first answer", index=0),
        *factory.text("second answer", index=1),
        factory.finish("stop", index=0),
        factory.finish("stop", index=1),
        factory.usage(),
    ]
    fake_openrouter.enqueue(StreamReply(wire))
    zero, one = fan_out(client.stream("hi", n=2), orx_ops.content(), orx_ops.content(1))
    assert "".join(zero.ok()) == "first answer"
    assert "".join(one.ok()) == "second answer"


def test_content_passes_the_error_through(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks("a b c d"), disconnect_after=2))
    sink = collect(client.stream("hi").pipe(orx_ops.content()))
    assert sink.items == ["a "]
    assert isinstance(sink.error, orx.OpenRouterError)
    assert sink.error.partial is not None and sink.error.partial.content == "a "


# -- tool_calls / tool_call_deltas ----------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"repeat_id": True},
        {"first_without_name": True},
        {"start_index": 3},
        {"one_chunk": True},
        {"repeat_id": True, "first_without_name": True, "start_index": 1},
    ],
    ids=["plain", "repeat_id", "first_without_name", "start_index", "one_chunk", "combined"],
)
def test_tool_calls_match_the_served_calls(
    fake_openrouter: FakeOpenRouter, client: orx.Client, options: dict[str, Any]
) -> None:
    wire = tool_call_chunks(CALLS, fragments=4, **options)
    fake_openrouter.enqueue(StreamReply(wire))
    calls, final = fan_out(client.stream("weather and time?"), orx_ops.tool_calls(), orx_ops.accumulate())
    got = calls.ok()
    start = options.get("start_index", 0)
    assert [c.name for c in got] == ["get_weather", "get_time"]
    assert [c.id for c in got] == ["call_weather_0001", "call_time_0002"]
    assert [c.arguments for c in got] == [CALLS[0]["arguments"], CALLS[1]["arguments"]]
    assert [c.arguments_json for c in got] == [json.dumps(CALLS[0]["arguments"]), json.dumps(CALLS[1]["arguments"])]
    assert [c.index for c in got] == [start, start + 1]
    assert all(c.type == "function" for c in got)
    [response] = final.ok()
    assert response.tool_calls == got
    assert response.finish_reason == "tool_calls"


def test_tool_calls_are_emitted_as_soon_as_complete(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    wire = tool_call_chunks(CALLS, fragments=3, text="Let me check. ")
    fake_openrouter.enqueue(StreamReply(wire))
    log: list[tuple[str, Any]] = []
    published = client.stream("hi").pipe(ops.publish())
    chunks = Sink()
    published.subscribe(lambda c: log.append(("chunk", c)), chunks.on_error, chunks.on_completed)
    calls = Sink()
    published.pipe(orx_ops.tool_calls()).subscribe(
        lambda call: log.append(("call", call.name)), calls.on_error, calls.on_completed
    )
    published.connect()
    chunks.ok()
    calls.ok()
    events = [kind if kind == "chunk" else value for kind, value in log]
    # call 0 comes right after the chunk that starts call 1; call 1 right after the finish_reason chunk.
    chunk_list = [value for kind, value in log if kind == "chunk"]
    starts_second = next(i for i, c in enumerate(chunk_list) if any(d.index == 1 for d in c.tool_calls))
    finish = next(i for i, c in enumerate(chunk_list) if c.finish_reason)
    positions = [i for i, e in enumerate(events) if e != "chunk"]
    chunk_positions = [i for i, e in enumerate(events) if e == "chunk"]
    assert [events[p] for p in positions] == ["get_weather", "get_time"]
    assert positions[0] == chunk_positions[starts_second] + 1
    assert positions[1] == chunk_positions[finish] + 1


def test_parallel_calls_in_one_chunk(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    factory = ChunkFactory()
    entries = [
        {
            "index": i,
            "id": call["id"],
            "type": "function",
            "function": {"name": call["name"], "arguments": json.dumps(call["arguments"])},
        }
        for i, call in enumerate(CALLS)
    ]
    wire = [
        factory.chunk({"role": "assistant", "content": None, "tool_calls": entries}),
        factory.finish("tool_calls"),
        factory.usage(),
    ]
    fake_openrouter.enqueue(StreamReply(wire))
    got = values(client.stream("hi").pipe(orx_ops.tool_calls()))
    assert [(c.id, c.name, c.arguments) for c in got] == [(c["id"], c["name"], c["arguments"]) for c in CALLS]


def test_tool_calls_emitted_at_completion_without_finish_reason(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    factory = ChunkFactory()
    wire = factory.tool_calls(CALLS[:1], fragments=2)  # no finish chunk, no usage: completion flushes
    fake_openrouter.enqueue(StreamReply(wire))
    got = values(client.stream("hi").pipe(orx_ops.tool_calls()))
    assert [(c.name, c.arguments) for c in got] == [("get_weather", CALLS[0]["arguments"])]


def test_tool_calls_unfinished_call_is_kept_in_the_partial(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    wire = tool_call_chunks(CALLS, fragments=3)  # call 0: 4 chunks, call 1: 4 chunks
    fake_openrouter.enqueue(StreamReply(wire, disconnect_after=6))  # cut inside call 1's arguments
    sink = collect(client.stream("hi").pipe(orx_ops.tool_calls()))
    assert [c.name for c in sink.items] == ["get_weather"]  # complete: call 1 had started
    assert isinstance(sink.error, orx.OpenRouterError)
    assert sink.error.partial is not None
    partial_calls = sink.error.partial.tool_calls
    assert [c.name for c in partial_calls] == ["get_weather", "get_time"]
    assert partial_calls[0].arguments == CALLS[0]["arguments"]
    assert json.dumps(CALLS[1]["arguments"]).startswith(partial_calls[1].arguments_json)


def test_tool_call_deltas_are_the_served_fragments(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    wire = tool_call_chunks(CALLS, fragments=5, text="Checking. ", repeat_id=True)
    fake_openrouter.enqueue(StreamReply(wire))
    deltas = values(client.stream("hi").pipe(orx_ops.tool_call_deltas()))
    served = [
        orx.ToolCallDelta.from_dict(entry, position)
        for chunk in wire
        for choice in chunk.get("choices") or ()
        for position, entry in enumerate((choice.get("delta") or {}).get("tool_calls") or ())
    ]
    assert deltas == served
    assert len(deltas) == 2 * (1 + 5)
    for index, call in enumerate(CALLS):
        mine = [d for d in deltas if d.index == index]
        assert "".join(d.arguments or "" for d in mine) == json.dumps(call["arguments"])
        assert {d.id for d in mine} == {call["id"]}
        assert [d.name for d in mine if d.name] == [call["name"]]


# -- retry_with_backoff ---------------------------------------------------------------------------


def test_retry_after_503_then_one_result(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    wire = text_chunks("recovered answer")
    fake_openrouter.enqueue(ErrorReply(503, "overloaded"), StreamReply(wire))
    retries: list[tuple[int, type[BaseException], float]] = []
    stream = client.stream("hi", temperature=0.3, max_tokens=64).pipe(
        orx_ops.retry_with_backoff(**FAST, on_retry=lambda n, err, delay: retries.append((n, type(err), delay))),
    )
    chunks, final = fan_out(stream, ops.to_list(), orx_ops.accumulate())
    [received] = chunks.ok()
    [response] = final.ok()
    assert response.content == "recovered answer"
    assert [c.raw for c in received] == wire  # the good attempt, exactly once
    assert retries == [(1, orx.ServiceUnavailableError, 0.01)]
    first, second = fake_openrouter.requests
    assert first.body == second.body
    assert first.json["stream"] is True and first.json["max_tokens"] == 64


def test_retry_drops_the_role_chunk_of_a_failed_attempt(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    wire = text_chunks("second time lucky")
    fake_openrouter.enqueue(StreamReply(text_chunks("never seen"), disconnect_after=1), StreamReply(wire))
    received = values(client.stream("hi").pipe(orx_ops.retry_with_backoff(**FAST)))
    assert [c.raw for c in received] == wire  # one role chunk, from the good attempt only
    assert len(fake_openrouter.requests) == 2


def test_retry_honours_retry_after(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(
        ErrorReply(429, "slow down", headers={"Retry-After": "0.02"}), StreamReply(text_chunks("ok"))
    )
    retries: list[tuple[int, type[BaseException], float]] = []
    stream = client.stream("hi").pipe(
        orx_ops.retry_with_backoff(base=5.0, on_retry=lambda n, err, delay: retries.append((n, type(err), delay)))
    )
    [response] = values(stream.pipe(orx_ops.accumulate()))
    assert response.content == "ok"
    assert retries == [(1, orx.RateLimitError, 0.02)]  # the server's hint, not base=5.0
    assert len(fake_openrouter.requests) == 2


# Regression: a zero wait fired the timer before its disposable was stored, disposing the retry.
def test_retry_with_a_zero_retry_after_completes(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(ErrorReply(429, "slow down", headers={"Retry-After": "0"}), StreamReply(text_chunks("ok")))
    retries: list[tuple[int, type[BaseException], float]] = []
    stream = client.stream("hi").pipe(
        orx_ops.retry_with_backoff(base=5.0, on_retry=lambda n, err, delay: retries.append((n, type(err), delay)))
    )
    sink = Sink().subscribe_to(stream.pipe(orx_ops.accumulate()))
    ended = sink.done.wait(1.0)  # a working retry ends in milliseconds; the bug never ends
    assert retries == [(1, orx.RateLimitError, 0.0)]
    assert ended, "the retried stream never terminated"
    assert [r.content for r in sink.ok()] == ["ok"]
    assert len(fake_openrouter.requests) == 2


def test_retry_400_is_not_retried(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(ErrorReply(400, "bad field"), StreamReply(text_chunks("unused")))
    sink = collect(client.stream("hi").pipe(orx_ops.retry_with_backoff(**FAST), orx_ops.accumulate()))
    assert isinstance(sink.error, orx.BadRequestError)
    assert sink.error.message == "bad field"
    assert len(fake_openrouter.requests) == 1
    assert fake_openrouter.pending == 1


def test_retry_gives_up_after_max_retries(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(ErrorReply(502), ErrorReply(503), ErrorReply(500), StreamReply(text_chunks("unused")))
    sink = collect(client.stream("hi").pipe(orx_ops.retry_with_backoff(max_retries=2, **FAST)))
    assert isinstance(sink.error, orx.ServerError) and sink.error.status == 500
    assert sink.items == []
    assert len(fake_openrouter.requests) == 3
    assert len({r.body for r in fake_openrouter.requests}) == 1
    assert fake_openrouter.pending == 1


def test_retry_disconnect_after_content_is_not_retried(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(
        StreamReply(text_chunks("partial words then nothing"), disconnect_after=3), StreamReply(text_chunks("unused"))
    )
    chunks = collect(client.stream("hi").pipe(orx_ops.retry_with_backoff(**FAST)))
    assert "".join(c.content for c in chunks.items) == "partial words "
    assert isinstance(chunks.error, orx.OpenRouterError)
    assert chunks.error.partial is not None and chunks.error.partial.content == "partial words "
    assert len(fake_openrouter.requests) == 1
    assert fake_openrouter.pending == 1


def test_retry_mid_stream_error_chunk_before_output_is_retried(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    factory = ChunkFactory()
    fake_openrouter.enqueue(
        StreamReply([factory.role(), factory.error(502, "Provider returned error")]),
        StreamReply(text_chunks("fine")),
    )
    [response] = values(client.stream("hi").pipe(orx_ops.retry_with_backoff(**FAST), orx_ops.accumulate()))
    assert response.content == "fine"
    assert len(fake_openrouter.requests) == 2


# -- fallback_to_non_streaming --------------------------------------------------------------------


def test_fallback_after_disconnect_before_content(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    body = completion_body("Answer without streaming.", reasoning="quick thought", cost=0.000123, prompt_tokens=21)
    fake_openrouter.enqueue(
        StreamReply(text_chunks("never delivered"), disconnect_after=1),  # the role chunk, then the socket drops
        CompletionReply(body, leading_whitespace=2),
    )
    fallbacks: list[BaseException] = []
    stream = client.stream("hi", temperature=0.5).pipe(orx_ops.fallback_to_non_streaming(on_fallback=fallbacks.append))
    final, texts, thoughts, chunks = fan_out(
        stream, orx_ops.accumulate(), orx_ops.content(), orx_ops.reasoning(), ops.to_list()
    )
    [response] = final.ok()
    assert response.content == "Answer without streaming." == "".join(texts.ok())
    assert response.reasoning == "quick thought" == "".join(thoughts.ok())
    assert response.finish_reason == "stop"
    assert response.id == body["id"] and response.model == body["model"]
    assert response.usage == orx.Usage.from_dict(body["usage"])
    assert response.cost_estimate == Decimal("0.000123")
    [received] = chunks.ok()
    assert sum(1 for c in received if c.delta.role) == 1  # the failed stream's role chunk was never delivered
    assert [type(e) for e in fallbacks] in ([orx.TruncatedStreamError], [orx.APIConnectionError])
    streamed, unstreamed = fake_openrouter.requests
    assert streamed.json["stream"] is True and unstreamed.json["stream"] is False
    assert body_without_stream(streamed) == body_without_stream(unstreamed)
    assert unstreamed.json["temperature"] == 0.5
    assert unstreamed.header("Accept") == "application/json"


def test_fallback_after_502_with_tool_calls(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    body = completion_body(tool_calls=CALLS, cost=0.0002)
    fake_openrouter.enqueue(ErrorReply(502, "bad gateway"), CompletionReply(body))
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    stream = client.stream("weather?", tools=tools, tool_choice="auto").pipe(orx_ops.fallback_to_non_streaming())
    calls, final, deltas = fan_out(stream, orx_ops.tool_calls(), orx_ops.accumulate(), orx_ops.tool_call_deltas())
    got = calls.ok()
    assert [(c.id, c.name, c.arguments) for c in got] == [(c["id"], c["name"], c["arguments"]) for c in CALLS]
    [response] = final.ok()
    assert response.tool_calls == got
    assert response.finish_reason == "tool_calls"
    assert response.usage == orx.Usage.from_dict(body["usage"])
    assert [d.index for d in deltas.ok()] == [0, 1]
    streamed, unstreamed = fake_openrouter.requests
    assert body_without_stream(streamed) == body_without_stream(unstreamed)
    assert unstreamed.json["stream"] is False and unstreamed.json["tools"] == tools


def test_fallback_after_an_error_chunk_before_output(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    factory = ChunkFactory()
    fake_openrouter.enqueue(
        StreamReply([factory.role(), factory.error(503, "Provider overloaded")]),
        CompletionReply(completion_body("from the fallback")),
    )
    [response] = values(client.stream("hi").pipe(orx_ops.fallback_to_non_streaming(), orx_ops.accumulate()))
    assert response.content == "from the fallback"
    assert [r.json["stream"] for r in fake_openrouter.requests] == [True, False]


def test_fallback_still_works_after_retry(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    body = completion_body("after two failed streams")
    fake_openrouter.enqueue(ErrorReply(503), ErrorReply(502), CompletionReply(body))
    stream = client.stream("hi", max_tokens=20).pipe(orx_ops.retry_with_backoff(max_retries=1, **FAST))
    assert isinstance(stream, orx.ChunkStream)  # retry keeps the request, so fallback can resend it
    [response] = values(stream.pipe(orx_ops.fallback_to_non_streaming(), orx_ops.accumulate()))
    assert response.content == "after two failed streams"
    assert response.usage == orx.Usage.from_dict(body["usage"])
    requests = fake_openrouter.requests
    assert [r.json["stream"] for r in requests] == [True, True, False]
    assert requests[0].body == requests[1].body
    assert body_without_stream(requests[0]) == body_without_stream(requests[2])


def test_fallback_not_for_401(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(ErrorReply(401, "No auth credentials found"), CompletionReply(completion_body("unused")))
    sink = collect(client.stream("hi").pipe(orx_ops.retry_with_backoff(**FAST), orx_ops.fallback_to_non_streaming()))
    assert isinstance(sink.error, orx.AuthenticationError)
    assert sink.items == []
    assert len(fake_openrouter.requests) == 1
    assert fake_openrouter.pending == 1


def test_fallback_not_after_output(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(
        StreamReply(text_chunks("some text then a drop"), disconnect_after=2),
        CompletionReply(completion_body("unused")),
    )
    sink = collect(client.stream("hi").pipe(orx_ops.fallback_to_non_streaming(), orx_ops.accumulate()))
    assert isinstance(sink.error, orx.OpenRouterError)
    assert sink.error.partial is not None and sink.error.partial.content == "some "
    assert len(fake_openrouter.requests) == 1
    assert fake_openrouter.pending == 1


def test_fallback_failure_propagates_with_the_streaming_error_as_cause(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    fake_openrouter.enqueue(ErrorReply(502, "stream gateway down"), ErrorReply(503, "completion overloaded"))
    sink = collect(client.stream("hi").pipe(orx_ops.fallback_to_non_streaming(), orx_ops.accumulate()))
    assert isinstance(sink.error, orx.ServiceUnavailableError)
    assert sink.error.message == "completion overloaded"
    cause = sink.error.__cause__
    assert isinstance(cause, orx.BadGatewayError) and cause.message == "stream gateway down"
    assert [r.json["stream"] for r in fake_openrouter.requests] == [True, False]


def test_fallback_broken_completion_body_keeps_the_cause(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(ErrorReply(500), CompletionReply(b'{"id": "gen-x", "choices": [', leading_whitespace=1))
    sink = collect(client.stream("hi").pipe(orx_ops.fallback_to_non_streaming()))
    assert isinstance(sink.error, orx.ProtocolError)
    assert isinstance(sink.error.__cause__, orx.ServerError)
    assert sink.items == []


def test_fallback_needs_a_client_stream_or_a_completion(client: orx.Client) -> None:
    with pytest.raises(TypeError, match="fallback_to_non_streaming"):
        reactivex.from_iterable([orx.Chunk.from_dict(c) for c in text_chunks("x")]).pipe(
            orx_ops.fallback_to_non_streaming()
        )
    with pytest.raises(TypeError):
        client.stream("hi").pipe(identity(), orx_ops.fallback_to_non_streaming())  # map() forgets the request


def test_fallback_with_an_explicit_completion(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(ErrorReply(504, "gateway timeout"), CompletionReply(completion_body("explicit")))
    mapped = client.stream("hi").pipe(identity())
    stream = mapped.pipe(orx_ops.fallback_to_non_streaming(client.complete("other question", max_tokens=5)))
    [response] = values(stream.pipe(orx_ops.accumulate()))
    assert response.content == "explicit"
    streamed, unstreamed = fake_openrouter.requests
    assert unstreamed.json == {
        "messages": [{"role": "user", "content": "other question"}],
        "model": streamed.json["model"],
        "max_tokens": 5,
        "stream": False,
    }


# -- composition and cold semantics ---------------------------------------------------------------


def _pipeline(stream: orx.ChunkStream) -> reactivex.Observable[orx.Chunk]:
    return stream.pipe(orx_ops.retry_with_backoff(), orx_ops.fallback_to_non_streaming())


def test_composition_publish_one_request_three_branches(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    wire = tool_call_chunks(CALLS, text="Let me look that up. ", fragments=3)
    fake_openrouter.enqueue(StreamReply(wire))
    texts, final, calls, shots = fan_out(
        _pipeline(client.stream("hi")),
        orx_ops.content(),
        orx_ops.accumulate(),
        orx_ops.tool_calls(),
        orx_ops.snapshots(),
    )
    assert len(fake_openrouter.requests) == 1
    [response] = final.ok()
    assert "".join(texts.ok()) == response.content == "Let me look that up. "
    assert calls.ok() == response.tool_calls
    assert [c.name for c in response.tool_calls] == ["get_weather", "get_time"]
    assert shots.ok()[-1] == response
    assert len(shots.items) == len(wire)


def test_composition_share_one_request_three_branches(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    wire = text_chunks("shared by every branch", cost=0.0005)
    # first_delay keeps the body back after the headers, so the later branches attach before any chunk.
    fake_openrouter.enqueue(StreamReply(wire, first_delay=0.3))
    shared = client.stream("hi").pipe(orx_ops.retry_with_backoff(), orx_ops.fallback_to_non_streaming(), ops.share())
    texts = Sink().subscribe_to(shared.pipe(orx_ops.content()))
    final = Sink().subscribe_to(shared.pipe(orx_ops.accumulate()))
    shots = Sink().subscribe_to(shared.pipe(orx_ops.snapshots()))
    [response] = final.ok()
    assert "".join(texts.ok()) == response.content == "shared by every branch"
    assert shots.ok()[-1] == response
    assert [s.content for s in shots.items][-1] == response.content
    assert response.cost_estimate == Decimal("0.0005")
    assert len(fake_openrouter.requests) == 1


def test_composition_retry_then_fallback_shared(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    body = completion_body("eventually answered", tool_calls=CALLS[:1])
    fake_openrouter.enqueue(
        ErrorReply(503),
        StreamReply(text_chunks("dropped"), disconnect_after=1),
        CompletionReply(body),
    )
    stream = client.stream("hi").pipe(
        orx_ops.retry_with_backoff(max_retries=1, **FAST), orx_ops.fallback_to_non_streaming()
    )
    texts, final, calls = fan_out(stream, orx_ops.content(), orx_ops.accumulate(), orx_ops.tool_calls())
    [response] = final.ok()
    assert "".join(texts.ok()) == response.content == "eventually answered"
    assert calls.ok() == response.tool_calls
    assert [(c.id, c.name, c.arguments) for c in calls.items] == [
        (CALLS[0]["id"], "get_weather", CALLS[0]["arguments"])
    ]
    requests = fake_openrouter.requests
    assert [r.json["stream"] for r in requests] == [True, True, False]
    assert requests[0].body == requests[1].body


def test_piped_observable_stays_cold(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks("first run")), StreamReply(text_chunks("second run")))
    piped = _pipeline(client.stream("hi")).pipe(orx_ops.accumulate())
    assert fake_openrouter.requests == []
    [first] = values(piped)
    [second] = values(piped)
    assert (first.content, second.content) == ("first run", "second run")
    requests = fake_openrouter.requests
    assert len(requests) == 2 and requests[0].body == requests[1].body


def test_piped_observable_concurrent_subscriptions_are_independent(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks("same words", id="gen-1-AAAAAAAAAAAAAAAAAAAA"), delay=0.005))
    fake_openrouter.enqueue(StreamReply(text_chunks("same words", id="gen-2-BBBBBBBBBBBBBBBBBBBB"), delay=0.005))
    piped = _pipeline(client.stream("hi")).pipe(orx_ops.accumulate())
    sinks = [Sink().subscribe_to(piped), Sink().subscribe_to(piped)]
    results = [s.ok()[0] for s in sinks]
    assert [r.content for r in results] == ["same words", "same words"]
    assert {r.id for r in results} == {"gen-1-AAAAAAAAAAAAAAAAAAAA", "gen-2-BBBBBBBBBBBBBBBBBBBB"}
    assert len(fake_openrouter.requests) == 2
