"""Ruby guide, "Error Handling and Fallbacks": when streaming fails, answer without streaming.

    python examples/guide/06_error_handling_and_fallbacks.py

Three ways, from the most manual to the most automatic:

1. the callback way, as in the Ruby guide: an ``on_error`` callback logs the error and sends the
   same request with ``client.complete_sync(...)`` (a blocking, non-streaming completion);
2. the callback way with the facade's option ``fallback_to_non_streaming=True`` (after its
   ``retries``);
3. the Rx way: ``retry_with_backoff()`` then ``fallback_to_non_streaming()`` in the pipeline.

Offline, the fake server fails each stream with a 502 before any text, and answers the
non-streaming request.
"""

from __future__ import annotations

import logging

import openrouter_rx as orx
from openrouter_rx import operators as orx_ops
from openrouter_rx.testing import CompletionReply, ErrorReply, FakeOpenRouter, completion_body, demo_client

logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
logger = logging.getLogger("guide")

MESSAGES = [{"role": "user", "content": "Summarise the plot of Hamlet."}]
FALLBACK_ANSWER = "Hamlet avenges his father, at a great cost (answered by the non-streaming fallback)."


def fail_then_answer(fake: FakeOpenRouter | None) -> None:
    """Offline: the stream fails with a 502 before any output; the non-streaming request answers."""
    if fake is not None:
        fake.enqueue(ErrorReply(502, "Provider returned error"), CompletionReply(completion_body(FALLBACK_ANSWER)))


def by_hand(client: orx.Client) -> None:
    """1. The Ruby guide's on_error fallback, with retries off so the first failure shows."""
    streaming_client = orx.StreamingClient(client=client, retries=0)
    answers: list[orx.Response] = []

    @streaming_client.on_stream("on_error")
    def fall_back(error: Exception) -> None:
        logger.error("Streaming failed: %s", error)
        answers.append(client.complete_sync(MESSAGES, model="openai/gpt-4o-mini"))

    try:
        response = streaming_client.stream_complete(MESSAGES, model="openai/gpt-4o-mini")
    except orx.OpenRouterError as error:  # on_error ran first; the error is still raised
        print(f"stream_complete raised {type(error).__name__}")
        response = answers[0] if answers else None
        print(f"fallback used: {response.content if response else None}")
    else:
        print(f"streamed: {response.content if response else None}")


def with_the_option(client: orx.Client) -> None:
    """2. The facade does it: retries first (none left here), then one non-streaming request."""
    streaming_client = orx.StreamingClient(client=client, retries=0, fallback_to_non_streaming=True)
    response = streaming_client.stream_complete(MESSAGES, model="openai/gpt-4o-mini")
    assert response is not None
    print(f"fallback used: {response.content}")


def rx_way(client: orx.Client) -> None:
    """3. The operators the facade composes, in a pipeline of your own."""
    response = (
        client.stream(MESSAGES, model="openai/gpt-4o-mini")
        .pipe(
            orx_ops.retry_with_backoff(max_retries=0),
            orx_ops.fallback_to_non_streaming(on_fallback=lambda error: logger.warning("falling back after %r", error)),
            orx_ops.accumulate(),
        )
        .run()
    )
    print(f"fallback used: {response.content}")


def main() -> None:
    with demo_client() as (client, fake):
        for label, way in (("on_error by hand", by_hand), ("the option", with_the_option), ("the Rx way", rx_way)):
            print(f"== {label}")
            fail_then_answer(fake)
            way(client)


if __name__ == "__main__":
    main()
