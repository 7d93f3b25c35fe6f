"""Compose operators: retry, fallback, one request shared by several consumers, metering, usage.

Runs offline against the embedded fake OpenRouter server unless OPENROUTER_API_KEY is set:
    python examples/operator_pipeline.py
Offline, the fake server is scripted to fail first (503, then a stream cut before any text) so
the retry and the fallback can be seen at work.
"""

from __future__ import annotations

import threading

from reactivex import operators as ops

import openrouter_rx as orx
from openrouter_rx import operators as orx_ops
from openrouter_rx.testing import (
    ChunkFactory,
    CompletionReply,
    ErrorReply,
    StreamReply,
    completion_body,
    demo_client,
    text_chunks,
    tool_call_chunks,
)

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
]


def main() -> None:
    with demo_client() as (client, fake):
        usage = orx.UsageTracker()

        # 1. One request, three consumers. The first attempt gets a 503: retried after a short wait.
        if fake is not None:
            fake.enqueue(
                ErrorReply(503, "No provider available"),
                StreamReply(text_chunks("Rivers: the Nile, the Amazon and the Yangtze.", pieces=6), delay=0.02),
            )
        chunks = client.stream("Name three rivers in one sentence.").pipe(
            orx_ops.retry_with_backoff(
                base=0.2, on_retry=lambda n, err, wait: print(f"[retry {n} in {wait:.2f}s after {type(err).__name__}]")
            ),
            orx_ops.fallback_to_non_streaming(),
            orx_ops.track_usage(usage),  # after the fallback, so a fallback's usage is counted too
            ops.publish(),
        )
        done = threading.Event()
        snapshots: list[orx.StreamMetrics] = []
        responses: list[orx.Response] = []

        def failed(error: Exception) -> None:
            print(f"\nfailed: {error!r}")
            done.set()

        # Every branch handles errors: RxPY's default on_error re-raises, which would stop the
        # published stream before the error reached the other branches.
        chunks.pipe(orx_ops.content()).subscribe(lambda text: print(text, end="", flush=True), lambda _: None)
        chunks.pipe(orx_ops.meter()).subscribe(snapshots.append, lambda _: None)
        chunks.pipe(orx_ops.accumulate()).subscribe(responses.append, failed, done.set)
        chunks.connect()  # the branches are attached: send the request
        if not done.wait(60) or not responses:
            raise SystemExit("no answer")
        metrics, response = snapshots[-1], responses[0]  # the meter's final snapshot came first
        ttft = metrics.time_to_first_token or 0.0
        print(f"\n-> {metrics.chunks} chunks, {metrics.completion_tokens} tokens, first token after {ttft:.2f}s")
        print(f"-> finish_reason={response.finish_reason}, cost={response.cost_estimate}")

        # 2. The stream breaks before any text: the same request is sent again without streaming.
        if fake is not None:
            factory = ChunkFactory()
            fake.enqueue(
                StreamReply([factory.role()], disconnect_after=1),
                CompletionReply(completion_body("Answered by the non-streaming fallback.")),
            )
        response = (
            client.stream("Say something.")
            .pipe(
                orx_ops.fallback_to_non_streaming(on_fallback=lambda err: print(f"[fallback after {err!r}]")),
                orx_ops.track_usage(usage),
                orx_ops.accumulate(),
            )
            .run()
        )
        print(f"-> {response.content}")

        # 3. Tool calls arrive whole, each as soon as it is complete.
        if fake is not None:
            fake.enqueue(StreamReply(tool_call_chunks([{"name": "get_weather", "arguments": {"city": "Oslo"}}])))
        calls = (
            client.stream("Weather in Oslo?", tools=TOOLS)
            .pipe(orx_ops.track_usage(usage), orx_ops.tool_calls(), ops.to_list())
            .run()
        )
        for call in calls:
            print(f"-> tool call {call.name}({call.arguments})")

        print(f"-> usage over all requests: {usage.summary()}")


if __name__ == "__main__":
    main()
