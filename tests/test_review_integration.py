"""Review of issue 4's integration code: request context on chunks, tool validation, tool_loop edges."""

from __future__ import annotations

import copy
import gc
import pickle
import sys
import weakref
from collections.abc import Iterator
from typing import Any

import pytest
from marshmallow import Schema, fields, post_load
from reactivex import operators as ops
from support import outcome

import openrouter_rx as orx
from openrouter_rx import operators as orx_ops
from openrouter_rx.chunk_stream import RequestContext
from openrouter_rx.errors import ToolArgumentsError
from openrouter_rx.testing import (
    CompletionReply,
    ErrorReply,
    FakeOpenRouter,
    StreamReply,
    completion_body,
    text_chunks,
    tool_call_chunks,
)
from openrouter_rx.tool_loop import LoopFinished, ToolCallRequested, ToolCallResult, tool_loop
from openrouter_rx.tools import Tool

KEY = "sk-or-v1-review-integration-0123456789"


class City(Schema):
    name = fields.String(required=True)


class Exploding(Schema):
    x = fields.Integer()

    @post_load
    def _boom(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        raise RuntimeError("hook bug")


class AddArgs(Schema):
    n = fields.Integer(required=True)


ADD = Tool("add", "Add one number.", AddArgs)
EXPLODING = Tool("explode", "A tool whose schema hook raises.", Exploding)


@pytest.fixture
def client(fake_openrouter: FakeOpenRouter) -> Iterator[orx.Client]:
    with orx.Client(api_key=KEY, base_url=fake_openrouter.base_url, timeout=orx.Timeout(connect=2, idle=5)) as c:
        yield c


def streamed_chunks(fake: FakeOpenRouter, client: orx.Client) -> list[orx.Chunk]:
    fake.enqueue(StreamReply(text_chunks('{"name": "Oslo"}')))
    items, error = outcome(client.stream("hi", response_format=City).pipe(ops.to_list()))
    assert error is None
    chunks: list[orx.Chunk] = items[0]
    assert chunks and all(chunk.context is not None for chunk in chunks)
    return chunks


def test_a_streamed_chunk_still_pickles_and_keeps_its_format(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    chunks = streamed_chunks(fake_openrouter, client)
    copied = pickle.loads(pickle.dumps(chunks))  # the context's finisher closes over the client
    assert copied == chunks
    assert copied[0].context.response_format.schema.__class__ is City
    response = orx.Response.from_chunks(copied)
    assert response.content == '{"name": "Oslo"}'


def test_deepcopy_of_a_chunk_shares_its_request_context(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    chunk = streamed_chunks(fake_openrouter, client)[0]
    assert copy.deepcopy(chunk).context is chunk.context  # immutable: no copy of the format, the client
    assert copy.copy(chunk.context) is chunk.context


def test_kept_chunks_do_not_keep_the_client_alive(fake_openrouter: FakeOpenRouter) -> None:
    c = orx.Client(api_key=KEY, base_url=fake_openrouter.base_url, timeout=orx.Timeout(connect=2, idle=5))
    chunks = streamed_chunks(fake_openrouter, c)
    c.close()
    alive = weakref.ref(c)
    del c
    gc.collect()
    assert alive() is None
    context = chunks[0].context
    assert isinstance(context, RequestContext)
    response = context.finish_response(orx.Response.from_chunks(chunks))  # the client is gone: no pricing
    assert response.pricing is None and response.response_format is not None


def test_emit_mode_emits_a_typed_error_when_a_schema_hook_raises(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    fake_openrouter.enqueue(
        StreamReply(
            tool_call_chunks(
                [
                    {"id": "c1", "name": "explode", "arguments": {"x": 1}},
                    {"id": "c2", "name": "explode", "arguments": {"x": 2}},
                ]
            )
        )
    )
    stream = client.stream("go", tools=[EXPLODING])
    items, error = outcome(stream.pipe(orx_ops.tool_calls(tools=[EXPLODING], errors="emit")))
    assert error is None
    assert len(items) == 2 and all(isinstance(item, ToolArgumentsError) for item in items)
    first = items[0]
    assert first.call is not None and first.call.id == "c1"
    assert first.raw == '{"x": 1}'
    assert isinstance(first.__cause__, RuntimeError)


def test_raise_mode_fails_with_a_typed_error_when_a_schema_hook_raises(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    fake_openrouter.enqueue(StreamReply(tool_call_chunks([{"id": "c1", "name": "explode", "arguments": {"x": 1}}])))
    items, error = outcome(client.stream("go", tools=[EXPLODING]).pipe(orx_ops.tool_calls(tools=[EXPLODING])))
    assert items == []
    assert isinstance(error, ToolArgumentsError)
    assert error.partial is not None and error.partial.tool_calls[0].id == "c1"


def test_tool_loop_still_tells_the_model_about_a_raising_schema_hook(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    fake_openrouter.enqueue(
        StreamReply(tool_call_chunks([{"id": "c1", "name": "explode", "arguments": {"x": 1}}])),
        StreamReply(text_chunks("sorry")),
    )
    events, error = outcome(tool_loop(client, "go", tools=[EXPLODING], handlers={"explode": lambda x: x}))
    assert error is None
    requested = next(e for e in events if isinstance(e, ToolCallRequested))
    assert isinstance(requested.error, ToolArgumentsError)
    result = next(e for e in events if isinstance(e, ToolCallResult))
    assert "hook bug" in result.message["content"]


def test_structured_output_reads_the_chunks_of_a_chunk_stream_made_without_a_context() -> None:
    import reactivex

    from openrouter_rx.chunk_stream import ChunkStream
    from openrouter_rx.structured import ResponseFormat

    context = RequestContext(ResponseFormat(City))
    chunks = [context.stamp(orx.Chunk.from_dict(c)) for c in text_chunks('{"name": "Lima"}')]
    stream = ChunkStream.of(reactivex.from_iterable(chunks), reactivex.empty)  # no context: not known to have none
    items, error = outcome(stream.pipe(orx_ops.structured_output()))
    assert error is None
    assert items == [{"name": "Lima"}]


def test_tools_given_as_any_iterable_are_sent_as_a_list(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    by_name = {"explode": EXPLODING}
    fake_openrouter.enqueue(StreamReply(text_chunks("ok")), StreamReply(text_chunks("ok")))
    for tools in (by_name.values(), (t for t in [EXPLODING])):
        _, error = outcome(client.stream("go", tools=tools))
        assert error is None
    for request in fake_openrouter.requests:
        assert request.json["tools"] == [EXPLODING.to_dict()]


def test_a_long_tool_loop_does_not_nest_each_turn_inside_the_last(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    # Each turn used to be subscribed inside the previous turn's observers, so every event of
    # turn n went through n levels of calls: about 120 turns overflowed the stack of the reading
    # thread and the loop never ended. A lower recursion limit shows it with fewer turns.
    turns = 40
    for i in range(turns):
        fake_openrouter.enqueue(StreamReply(tool_call_chunks([{"id": f"c{i}", "name": "add", "arguments": {"n": i}}])))
    fake_openrouter.enqueue(StreamReply(text_chunks("done")))
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(250)
    try:
        loop = tool_loop(client, "go", tools=[ADD], handlers={"add": lambda n: n}, max_turns=turns + 1)
        events, error = outcome(loop)
    finally:
        sys.setrecursionlimit(limit)
    assert error is None
    final = events[-1]
    assert isinstance(final, LoopFinished) and final.turn == turns + 1
    assert sum(isinstance(e, ToolCallResult) for e in events) == turns
    assert len(fake_openrouter.requests) == turns + 1


def test_a_turn_that_cannot_be_sent_ends_the_loop_with_the_error(fake_openrouter: FakeOpenRouter) -> None:
    c = orx.Client(api_key=KEY, base_url=fake_openrouter.base_url, timeout=orx.Timeout(connect=2, idle=5))
    fake_openrouter.enqueue(StreamReply(tool_call_chunks([{"id": "c1", "name": "add", "arguments": {"n": 1}}])))

    def close_the_client(n: int) -> int:
        c.close()
        return n

    events, error = outcome(tool_loop(c, "go", tools=[ADD], handlers={"add": close_the_client}))
    assert isinstance(error, RuntimeError) and "closed" in str(error)
    assert sum(isinstance(e, ToolCallResult) for e in events) == 1
    assert len(fake_openrouter.requests) == 1


def test_a_fallback_with_its_own_completion_keeps_that_requests_format(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    # After share() the stream is no longer known to be client.stream's: the fallback's chunks
    # used to carry no request, so the accumulated Response lost the completion's format.
    fake_openrouter.enqueue(ErrorReply(502, "bad gateway"), CompletionReply(completion_body('{"name": "Oslo"}')))
    completion = client.complete("hi", response_format=City)
    stream = client.stream("hi", response_format=City).pipe(ops.share())
    items, error = outcome(stream.pipe(orx_ops.fallback_to_non_streaming(completion), orx_ops.accumulate()))
    assert error is None
    (response,) = items
    assert response.structured_output == {"name": "Oslo"}


def test_a_chunk_whose_format_cannot_be_pickled_still_pickles_without_it() -> None:
    from openrouter_rx.structured import ResponseFormat

    class Local(Schema):  # a local class cannot be pickled
        name = fields.String()

    chunk = RequestContext(ResponseFormat(Local)).stamp(orx.Chunk.from_dict(text_chunks("{}")[0]))
    copied = pickle.loads(pickle.dumps(chunk))
    assert copied == chunk
    assert copied.context is not None and copied.context.response_format is None


def test_a_fallback_completion_with_a_format_keeps_it_after_a_stream_without_one(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    fake_openrouter.enqueue(ErrorReply(502, "bad gateway"), CompletionReply(completion_body('{"name": "Rome"}')))
    completion = client.complete("hi", response_format=City)
    stream = client.stream("hi").pipe(orx_ops.fallback_to_non_streaming(completion))
    items, error = outcome(stream.pipe(orx_ops.accumulate()))
    assert error is None
    assert items[0].structured_output == {"name": "Rome"}
