"""Ruby guide, "Troubleshooting": connection timeouts, memory that grows, chunks that look empty.

    python examples/guide/14_troubleshooting.py

1. Timeouts: ``request_timeout`` is the longest wait for data (idle), not for the whole answer,
   so a long answer that keeps streaming never times out. A stalled stream raises
   ``orx.IdleTimeout`` (an ``orx.APITimeoutError``: Ruby's ``Faraday::TimeoutError``) carrying
   the partial answer; the handler falls back to the non-streaming request. Offline, the fake
   server stalls on purpose.
2. Memory: ``accumulate_response=False``, and every N requests ``clear_callbacks()`` (when
   callbacks are registered per request) and ``usage_tracker.reset()`` (the guide's "reset
   trackers periodically": the totals start again from zero; read ``summary()`` first).
3. "Missing" chunks: a stream also carries chunks without content (the role chunk, tool-call
   fragments, the finish chunk, the usage chunk); look at what each one has.
"""

from __future__ import annotations

from typing import Any

import reactivex
from reactivex import operators as ops

import openrouter_rx as orx
from openrouter_rx import operators as orx_ops
from openrouter_rx.testing import (
    CompletionReply,
    FakeOpenRouter,
    StreamReply,
    completion_body,
    demo_client,
    text_chunks,
    tool_call_chunks,
)

MESSAGES = [{"role": "user", "content": "Write a long essay about rivers."}]


def stall_then_answer(fake: FakeOpenRouter | None) -> None:
    """Offline: the stream stalls after three events; the non-streaming request answers."""
    if fake is not None:
        fake.enqueue(
            StreamReply(text_chunks("Rivers shape the land and"), stall_after=3),
            CompletionReply(completion_body("Rivers carve valleys (answered by the regular client).")),
        )


def timeouts(client: orx.Client, fake: FakeOpenRouter | None) -> None:
    idle = 0.3 if fake is not None else 300.0  # seconds without data (300: a slow model, live)

    # The callback way. orx.StreamingClient(request_timeout=300) sets it for a client the facade makes
    # itself; around an existing Client, give it per call.
    streaming_client = orx.StreamingClient(client=client, retries=0)
    fallbacks: list[orx.Response] = []

    @streaming_client.on_stream("on_error")
    def fall_back(error: Exception) -> None:
        if isinstance(error, orx.APITimeoutError):
            print(f"Request timed out ({type(error).__name__}), falling back to regular client")
            fallbacks.append(client.complete_sync(MESSAGES, timeout=60))

    stall_then_answer(fake)
    try:
        response = streaming_client.stream_complete(MESSAGES, timeout=idle)
        print(f"streamed: {response.content[:60] if response else None}")
    except orx.APITimeoutError as error:
        partial = error.partial.content if error.partial else ""
        print(f"partial kept: {partial!r}; fallback: {fallbacks[0].content if fallbacks else None}")

    # The Rx way: the same timeout per request; catch it and switch to the non-streaming request.
    def regular(error: Exception, _: reactivex.Observable[orx.Response]) -> reactivex.Observable[orx.Response]:
        if isinstance(error, orx.APITimeoutError):
            print(f"Rx way: {type(error).__name__}, falling back to client.complete(...)")
            return client.complete(MESSAGES, timeout=60)
        return reactivex.throw(error)

    stall_then_answer(fake)
    response = client.stream(MESSAGES, timeout=idle).pipe(orx_ops.accumulate(), ops.catch(regular)).run()
    print(f"Rx way: {response.content}")


def memory(client: orx.Client) -> None:
    streaming_client = orx.StreamingClient(client=client, track_usage=True)
    tracker = streaming_client.usage_tracker
    assert tracker is not None
    runs = 0

    def on_finish(_: orx.Response | None) -> None:
        nonlocal runs
        runs += 1

    for request_count in range(1, 7):
        streaming_client.on_stream("on_finish", on_finish)  # registered per request: they pile up
        streaming_client.stream_complete("Hi", accumulate_response=False, callback=lambda chunk: None)
        if request_count % 3 == 0:  # the Ruby guide says every 1000
            streaming_client.clear_callbacks()
            print(f"  after {request_count} requests: {tracker.summary()['requests']} tracked, then reset")
            tracker.reset()  # report the totals (a log, a metrics system), then start from zero
    print(f"6 requests, callbacks cleared every 3: on_finish ran {runs} times (21 without clearing)")
    # The Rx way has no registry to clear: a subscription's callbacks go away with it.


def missing_chunks(client: orx.Client, fake: FakeOpenRouter | None) -> None:
    seen: dict[str, int] = {"content": 0, "tool_calls": 0, "usage": 0, "other (role, finish)": 0}

    def on_chunk(chunk: orx.Chunk) -> None:
        if chunk.content:
            seen["content"] += 1
        elif chunk.tool_calls:
            seen["tool_calls"] += 1
        elif chunk.usage is not None:
            seen["usage"] += 1
        else:
            seen["other (role, finish)"] += 1

    if fake is not None:
        call = {"name": "get_weather", "arguments": {"city": "Oslo"}}
        fake.enqueue(StreamReply(tool_call_chunks([call], text="Let me check.")))
        fake.enqueue(StreamReply(tool_call_chunks([call], text="Let me check.")))
    streaming_client = orx.StreamingClient(client=client).on_stream("on_chunk", on_chunk)
    streaming_client.stream_complete("Weather in Oslo?", accumulate_response=False)
    print(f"callback way, chunks by kind: {seen}")

    # The Rx way: an operator per kind of content instead of if/elif.
    def name(call: orx.ToolCall) -> str | None:
        return call.name

    def total_tokens(chunk: orx.Chunk) -> list[int]:
        return [chunk.usage.total_tokens] if chunk.usage is not None else []

    def kinds(chunks: reactivex.Observable[orx.Chunk]) -> reactivex.Observable[Any]:
        return reactivex.zip(
            chunks.pipe(orx_ops.content(), ops.to_list()),
            chunks.pipe(orx_ops.tool_calls(), ops.map(name), ops.to_list()),
            chunks.pipe(ops.flat_map(total_tokens), ops.to_list()),
        )

    texts, calls, usage = client.stream("Weather in Oslo?").pipe(ops.publish(kinds)).run()
    print(f"Rx way: {len(texts)} content deltas, tool calls {calls}, usage total_tokens {usage}")


def main() -> None:
    with demo_client() as (client, fake):
        print("== 1. connection timeouts")
        timeouts(client, fake)
        print("== 2. memory")
        memory(client)
        print("== 3. missing chunks")
        missing_chunks(client, fake)


if __name__ == "__main__":
    main()
