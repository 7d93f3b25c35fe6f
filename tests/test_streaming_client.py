"""StreamingClient end to end over loopback: events and their order, registration, accumulation,
tools, structured outputs (auto-heal included), options, usage and the constructor.

Errors, the callback policy and Ctrl-C are in test_streaming_client_errors.py.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from marshmallow import Schema, fields

import openrouter_rx as orx
from openrouter_rx.config import configure
from openrouter_rx.errors import StructuredOutputError
from openrouter_rx.options import CompletionOptions, StreamStart
from openrouter_rx.streaming_client import StreamingClient
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

KEY = "sk-or-v1-streaming-client-0123456789"


@pytest.fixture(autouse=True)
def default_settings() -> Iterator[None]:
    configure(reset=True)
    yield
    configure(reset=True)


@pytest.fixture
def sc(fake_openrouter: FakeOpenRouter) -> Iterator[StreamingClient]:
    with StreamingClient(api_key=KEY, base_url=fake_openrouter.base_url, request_timeout=5) as client:
        yield client


class City(Schema):
    name = fields.String(required=True)
    population = fields.Integer(required=True)


def record_all(sc: StreamingClient, log: list[tuple[str, Any]]) -> None:
    for event in ("on_start", "on_chunk", "on_tool_call_chunk", "on_finish", "on_error"):
        sc.on_stream(event, lambda payload, event=event: log.append((event, payload)))


# -- events ---------------------------------------------------------------------------


def test_every_event_fires_once_per_step_in_order(fake_openrouter: FakeOpenRouter, sc: StreamingClient) -> None:
    wire = text_chunks("one two three")
    fake_openrouter.enqueue(StreamReply(wire))
    log: list[tuple[str, Any]] = []
    record_all(sc, log)
    per_call: list[orx.Chunk] = []

    def callback(chunk: orx.Chunk) -> None:
        log.append(("callback", chunk))
        per_call.append(chunk)

    response = sc.stream_complete([{"role": "user", "content": "count"}], callback=callback)

    assert response is not None and response.content == "one two three"
    names = [name for name, _ in log]
    assert names == ["on_start"] + ["on_chunk", "callback"] * len(wire) + ["on_finish"]
    start = log[0][1]
    assert isinstance(start, StreamStart)
    assert start.model == "openai/gpt-4o-mini"
    assert start.messages == [{"role": "user", "content": "count"}]
    assert [c.content for c in per_call] == [c["choices"][0]["delta"]["content"] if c["choices"] else "" for c in wire]
    assert log[-1][1] is response  # on_finish gets what stream_complete returns
    assert response.total_tokens == wire[-1]["usage"]["total_tokens"]
    assert response.cost_estimate is not None


def test_on_start_payload_has_the_params_and_a_str_message(
    fake_openrouter: FakeOpenRouter, sc: StreamingClient
) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks("ok")))
    starts: list[StreamStart] = []
    sc.on_stream("on_start", starts.append)
    sc.stream_complete("hello", model="x/model", temperature=0.3)
    assert starts == [StreamStart("x/model", [{"role": "user", "content": "hello"}], {"temperature": 0.3})]
    assert fake_openrouter.last_request is not None and fake_openrouter.last_request.json["model"] == "x/model"


def test_on_stream_chains_and_the_decorator_returns_the_function(
    fake_openrouter: FakeOpenRouter, sc: StreamingClient
) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks("deco")))
    got: list[str] = []

    def first(chunk: orx.Chunk) -> None:
        got.append("first")

    assert sc.on_stream("on_chunk", first) is sc

    @sc.on_stream("on_finish")
    def done(response: orx.Response) -> None:
        got.append(f"done:{response.content}")

    assert done.__name__ == "done" and callable(done)  # unchanged, still usable
    sc.stream_complete("hi")
    assert got[-1] == "done:deco"
    assert got.count("first") == len(text_chunks("deco"))


def test_unknown_event_lists_the_five_valid_ones(sc: StreamingClient) -> None:
    with pytest.raises(ValueError) as raised:
        sc.on_stream("on_stream_chunk", print)
    for name in ("on_start", "on_chunk", "on_tool_call_chunk", "on_finish", "on_error"):
        assert name in str(raised.value)
    with pytest.raises(ValueError):
        sc.on_stream("nope")  # the decorator form checks at once, too
    with pytest.raises(ValueError):
        sc.clear_callbacks("nope")


def test_clear_callbacks_all_or_one_event(fake_openrouter: FakeOpenRouter, sc: StreamingClient) -> None:
    got: list[str] = []
    sc.on_stream("on_chunk", lambda _: got.append("chunk")).on_stream("on_finish", lambda _: got.append("finish"))
    assert sc.clear_callbacks("on_chunk") is sc
    fake_openrouter.enqueue(StreamReply(text_chunks("a b")))
    sc.stream_complete("hi")
    assert got == ["finish"]
    sc.clear_callbacks()
    fake_openrouter.enqueue(StreamReply(text_chunks("a b")))
    sc.stream_complete("hi")
    assert got == ["finish"]


def test_callbacks_run_on_the_calling_thread(fake_openrouter: FakeOpenRouter, sc: StreamingClient) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks("where do I run"), delay=0.01))
    threads: list[str] = []
    for event in ("on_start", "on_chunk", "on_finish"):
        sc.on_stream(event, lambda _: threads.append(threading.current_thread().name))
    outcome: list[Any] = []
    caller = threading.Thread(target=lambda: outcome.append(sc.stream_complete("hi")), name="the-caller")
    caller.start()
    caller.join(10)
    assert not caller.is_alive() and outcome and outcome[0].content == "where do I run"
    assert len(threads) > 3 and set(threads) == {"the-caller"}


# -- accumulation ---------------------------------------------------------------------


def test_not_accumulating_returns_none_and_finishes_with_none(
    fake_openrouter: FakeOpenRouter, sc: StreamingClient
) -> None:
    wire = text_chunks("no memory kept")
    fake_openrouter.enqueue(StreamReply(wire))
    finished: list[Any] = []
    chunks: list[orx.Chunk] = []
    sc.on_stream("on_finish", finished.append)
    result = sc.stream_complete("hi", accumulate_response=False, callback=chunks.append)
    assert result is None and finished == [None]
    assert orx.Response.from_chunks(chunks).content == "no memory kept"  # every chunk was still delivered


def test_stream_gives_content_strings_only(fake_openrouter: FakeOpenRouter, sc: StreamingClient) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks("just the words", reasoning="thinking first")))
    pieces: list[Any] = []
    finished: list[Any] = []
    sc.on_stream("on_finish", finished.append)
    assert sc.stream("hi", pieces.append) is None
    assert pieces == ["just ", "the ", "words"]  # no empty strings, no reasoning, no chunks
    assert finished == [None]


def test_stream_takes_options_and_overrides(fake_openrouter: FakeOpenRouter, sc: StreamingClient) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks("x")))
    opts = CompletionOptions(model="m/one", temperature=0.7, max_tokens=20)
    sc.stream("hi", lambda _: None, opts, temperature=0.2)
    body = fake_openrouter.wait_for_requests(1)[0].json
    assert (body["model"], body["temperature"], body["max_tokens"]) == ("m/one", 0.2, 20)


# -- options --------------------------------------------------------------------------


def test_options_positional_then_per_call_arguments_win(fake_openrouter: FakeOpenRouter, sc: StreamingClient) -> None:
    opts = CompletionOptions(
        model="opt/model", temperature=0.5, max_tokens=10, provider={"order": ["a"]}, extra={"foo": 1}
    )
    fake_openrouter.enqueue(StreamReply(text_chunks("1")), StreamReply(text_chunks("2")), StreamReply(text_chunks("3")))
    sc.stream_complete("hi", opts)
    sc.stream_complete("hi", opts, temperature=0.9, model="call/model")
    sc.stream_complete("hi", {"temperature": 0.1, "seed": 7})  # a dict of body fields works as options
    first, second, third = (r.json for r in fake_openrouter.wait_for_requests(3))
    assert first["model"] == "opt/model" and first["temperature"] == 0.5 and first["max_tokens"] == 10
    assert first["provider"] == {"order": ["a"]} and first["foo"] == 1
    assert second["model"] == "call/model" and second["temperature"] == 0.9 and second["max_tokens"] == 10
    assert third["model"] == "openai/gpt-4o-mini" and third["temperature"] == 0.1 and third["seed"] == 7
    with pytest.raises(TypeError, match="CompletionOptions"):
        sc.stream_complete("hi", ["not", "options"])  # type: ignore[arg-type]


def test_model_none_leaves_the_model_out(fake_openrouter: FakeOpenRouter, sc: StreamingClient) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks("routed")))
    sc.stream_complete("hi", model=None, models=["a/one", "b/two"])
    body = fake_openrouter.wait_for_requests(1)[0].json
    assert "model" not in body and body["models"] == ["a/one", "b/two"]


# -- tools ----------------------------------------------------------------------------


@orx.tool
def get_weather(city: str) -> dict[str, Any]:
    """The weather in a city.

    Args:
        city: the city name.
    """
    return {"city": city, "sky": "clear"}


def test_tool_call_chunks_fire_on_tool_call_chunk_only(fake_openrouter: FakeOpenRouter, sc: StreamingClient) -> None:
    wire = tool_call_chunks(
        [
            {"name": "get_weather", "arguments": {"city": "Tokyo"}},
            {"name": "get_weather", "arguments": {"city": "Oslo"}},
        ],
        text="Checking.",
    )
    fake_openrouter.enqueue(StreamReply(wire))
    all_chunks: list[orx.Chunk] = []
    tool_chunks: list[orx.Chunk] = []
    sc.on_stream("on_chunk", all_chunks.append).on_stream("on_tool_call_chunk", tool_chunks.append)
    response = sc.stream_complete("weather?", tools=[get_weather, {"type": "function", "function": {"name": "x"}}])
    expected = [c for c in all_chunks if any(choice.delta.tool_calls for choice in c.choices)]
    assert tool_chunks == expected and len(expected) == sum(
        1 for c in wire if c["choices"] and "tool_calls" in c["choices"][0]["delta"]
    )
    assert response is not None and [call.arguments for call in response.tool_calls] == [
        {"city": "Tokyo"},
        {"city": "Oslo"},
    ]
    assert get_weather(**response.tool_calls[0].arguments) == {"city": "Tokyo", "sky": "clear"}
    sent = fake_openrouter.wait_for_requests(1)[0].json["tools"]
    assert [tool["function"]["name"] for tool in sent] == ["get_weather", "x"]


def test_a_tool_call_in_another_choice_counts(fake_openrouter: FakeOpenRouter, sc: StreamingClient) -> None:
    factory = ChunkFactory()
    delta = {
        "tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
    }
    wire = [factory.role(), factory.chunk({"content": "n=2"}, index=0), factory.chunk(delta, index=1)]
    fake_openrouter.enqueue(StreamReply([*wire, factory.finish("stop"), factory.finish("tool_calls", index=1)]))
    tool_chunks: list[orx.Chunk] = []
    sc.on_stream("on_tool_call_chunk", tool_chunks.append)
    response = sc.stream_complete("two choices", n=2)
    assert len(tool_chunks) == 1 and tool_chunks[0].choices[0].index == 1
    assert response is not None and response.choice(1).tool_calls[0].name == "f" and not response.has_tool_calls


# -- structured outputs ---------------------------------------------------------------


def test_structured_output_valid(fake_openrouter: FakeOpenRouter, sc: StreamingClient) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks('{"name": "Oslo", "population": 700000}')))
    response = sc.stream_complete("a city", response_format=City)
    assert response is not None and response.structured_output == {"name": "Oslo", "population": 700000}
    assert fake_openrouter.wait_for_requests(1)[0].json["response_format"]["type"] == "json_schema"


def test_structured_output_invalid_raises_on_access(fake_openrouter: FakeOpenRouter, sc: StreamingClient) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks('{"name": "Oslo"}')))
    finished: list[Any] = []
    sc.on_stream("on_finish", finished.append)
    response = sc.stream_complete("a city", response_format=City)
    assert response is not None and finished == [response]  # the stream itself succeeded
    with pytest.raises(StructuredOutputError) as raised:
        _ = response.structured_output
    assert "population" in str(raised.value.messages)
    assert len(fake_openrouter.requests) == 1  # no healing without auto_heal_responses


def test_auto_heal_fixes_the_structured_output_before_on_finish(fake_openrouter: FakeOpenRouter) -> None:
    configure(auto_heal_responses=True, healer_model="healer/model")
    with StreamingClient(api_key=KEY, base_url=fake_openrouter.base_url) as sc:
        fake_openrouter.enqueue(
            StreamReply(text_chunks('{"name": "Oslo"}')),
            CompletionReply(completion_body('{"name": "Oslo", "population": 709000}', model="healer/model")),
        )
        seen: list[Any] = []
        sc.on_stream("on_finish", lambda response: seen.append(response.structured_output))
        response = sc.stream_complete("a city", response_format=City)
    assert response is not None
    assert response.content == '{"name": "Oslo"}'  # the model's own text is kept
    assert response.structured_output == {"name": "Oslo", "population": 709000}
    assert seen == [{"name": "Oslo", "population": 709000}]
    healer_request = fake_openrouter.wait_for_requests(2)[1].json
    assert healer_request["model"] == "healer/model" and healer_request["stream"] is False
    assert '{"name": "Oslo"}' in healer_request["messages"][-1]["content"]


def test_auto_heal_that_fails_leaves_the_error_on_access(fake_openrouter: FakeOpenRouter) -> None:
    with StreamingClient(
        api_key=KEY, base_url=fake_openrouter.base_url, auto_heal_responses=True, max_heal_attempts=1
    ) as sc:
        fake_openrouter.enqueue(
            StreamReply(text_chunks('{"name": "Oslo"}')),
            CompletionReply(completion_body('{"name": "still no population"}')),
        )
        response = sc.stream_complete("a city", response_format=City)
    assert response is not None and len(fake_openrouter.wait_for_requests(2)) == 2
    with pytest.raises(StructuredOutputError):
        _ = response.structured_output


def test_auto_heal_makes_no_request_when_the_output_is_valid(fake_openrouter: FakeOpenRouter) -> None:
    with StreamingClient(api_key=KEY, base_url=fake_openrouter.base_url, auto_heal_responses=True) as sc:
        fake_openrouter.enqueue(StreamReply(text_chunks('{"name": "Bergen", "population": 1}')))
        response = sc.stream_complete("a city", response_format=City)
    assert response is not None and response.structured_output == {"name": "Bergen", "population": 1}
    assert len(fake_openrouter.requests) == 1


def test_complete_sync_heals_too(fake_openrouter: FakeOpenRouter) -> None:
    with StreamingClient(api_key=KEY, base_url=fake_openrouter.base_url, auto_heal_responses=True) as sc:
        fake_openrouter.enqueue(
            CompletionReply(completion_body('{"name": "Oslo"}')),
            CompletionReply(completion_body('{"name": "Oslo", "population": 3}')),
        )
        response = sc.complete_sync("a city", response_format=City)
    assert response.structured_output == {"name": "Oslo", "population": 3}
    assert [r.json["stream"] for r in fake_openrouter.wait_for_requests(2)] == [False, False]


# -- usage, fallback, non-streaming ---------------------------------------------------


def test_track_usage_totals_across_calls(fake_openrouter: FakeOpenRouter) -> None:
    with StreamingClient(api_key=KEY, base_url=fake_openrouter.base_url, track_usage=True) as sc:
        assert sc.usage_tracker is not None
        first, second = text_chunks("a b c", prompt_tokens=5), text_chunks("d e", prompt_tokens=7)
        fake_openrouter.enqueue(StreamReply(first), StreamReply(second))
        sc.stream_complete("one")
        sc.stream_complete("two", accumulate_response=False)  # recorded even when not accumulating
        assert sc.usage_tracker.requests == 2
        assert sc.usage_tracker.prompt_tokens == 12
        assert sc.usage_tracker.total_tokens == first[-1]["usage"]["total_tokens"] + second[-1]["usage"]["total_tokens"]
    assert StreamingClient(base_url=fake_openrouter.base_url).usage_tracker is None


def test_fallback_to_non_streaming_option(fake_openrouter: FakeOpenRouter) -> None:
    with StreamingClient(
        api_key=KEY, base_url=fake_openrouter.base_url, retries=0, fallback_to_non_streaming=True
    ) as sc:
        fake_openrouter.enqueue(ErrorReply(502, "provider down"), CompletionReply(completion_body("from the fallback")))
        chunks: list[orx.Chunk] = []
        response = sc.stream_complete("hi", callback=chunks.append)
    assert response is not None and response.content == "from the fallback"
    assert orx.Response.from_chunks(chunks).content == "from the fallback"  # delivered as chunks
    assert [r.json["stream"] for r in fake_openrouter.wait_for_requests(2)] == [True, False]


def test_retries_resend_before_any_output_and_on_start_fires_once(fake_openrouter: FakeOpenRouter) -> None:
    with StreamingClient(api_key=KEY, base_url=fake_openrouter.base_url, retries=2) as sc:
        fake_openrouter.enqueue(
            ErrorReply(500, "boom", headers={"Retry-After": "0"}), StreamReply(text_chunks("second time lucky"))
        )
        starts: list[StreamStart] = []
        errors: list[Exception] = []
        sc.on_stream("on_start", starts.append).on_stream("on_error", errors.append)
        response = sc.stream_complete("hi")
    assert response is not None and response.content == "second time lucky"
    assert len(starts) == 1 and errors == [] and len(fake_openrouter.wait_for_requests(2)) == 2


def test_complete_sync_on_the_client_and_the_facade(fake_openrouter: FakeOpenRouter) -> None:
    with StreamingClient(api_key=KEY, base_url=fake_openrouter.base_url, model="facade/model", track_usage=True) as sc:
        fake_openrouter.enqueue(
            CompletionReply(completion_body("sync one")), CompletionReply(completion_body("sync two"))
        )
        direct = sc.client.complete_sync("hi", temperature=0.1)
        through = sc.complete_sync("hi", CompletionOptions(max_tokens=5))
        assert sc.usage_tracker is not None and sc.usage_tracker.requests == 1  # only the facade's call
    assert (direct.content, through.content) == ("sync one", "sync two")
    first, second = (r.json for r in fake_openrouter.wait_for_requests(2))
    assert first["stream"] is False and first["model"] == "openai/gpt-4o-mini" and first["temperature"] == 0.1
    assert second["model"] == "facade/model" and second["max_tokens"] == 5


def test_complete_sync_raises_the_typed_error(fake_openrouter: FakeOpenRouter) -> None:
    with orx.Client(base_url=fake_openrouter.base_url) as client:
        fake_openrouter.enqueue(ErrorReply(402, "no credits"))
        with pytest.raises(orx.InsufficientCreditsError):
            client.complete_sync("hi")


# -- construction ---------------------------------------------------------------------


def test_repr_never_shows_the_key(fake_openrouter: FakeOpenRouter) -> None:
    with StreamingClient(access_token=KEY, base_url=fake_openrouter.base_url) as sc:
        assert KEY not in repr(sc) and "api_key=<set>" in repr(sc)
        assert KEY not in repr(configure(api_key=KEY))


def test_access_token_is_the_api_key(fake_openrouter: FakeOpenRouter) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks("authorised")))
    with StreamingClient(access_token="tok-123", base_url=fake_openrouter.base_url) as sc:
        sc.stream_complete("hi")
    assert fake_openrouter.wait_for_requests(1)[0].headers["Authorization"] == "Bearer tok-123"
    with pytest.raises(TypeError):
        StreamingClient(api_key="one", access_token="two")


def test_settings_are_read_once_at_construction(fake_openrouter: FakeOpenRouter) -> None:
    configure(default_model="settings/model", retries=0, site_name="My App", base_url=fake_openrouter.base_url)
    sc = StreamingClient(api_key=KEY)
    configure(default_model="later/model")
    fake_openrouter.enqueue(StreamReply(text_chunks("x")))
    with sc:
        assert (sc.model, sc.retries) == ("settings/model", 0)
        sc.stream_complete("hi")
    request = fake_openrouter.wait_for_requests(1)[0]
    assert request.json["model"] == "settings/model" and request.headers["X-Title"] == "My App"
    own = StreamingClient(api_key=KEY, base_url=fake_openrouter.base_url, model="own/model", retries=1)
    assert (own.model, own.retries) == ("own/model", 1)  # its own arguments win
    own.close()


def test_wrapping_an_existing_client(fake_openrouter: FakeOpenRouter) -> None:
    with orx.Client(base_url=fake_openrouter.base_url) as client:
        sc = StreamingClient(client=client)
        assert sc.client is client
        sc.close()  # not ours: stays open
        fake_openrouter.enqueue(StreamReply(text_chunks("still open")))
        assert json.dumps(sc.stream_complete("hi").content) == '"still open"'  # type: ignore[union-attr]
        with pytest.raises(TypeError, match="connection arguments"):
            StreamingClient(client=client, api_key=KEY)
    with pytest.raises(ValueError):
        StreamingClient(client=client, callback_errors="ignore")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        StreamingClient(client=client, retries=-1)
