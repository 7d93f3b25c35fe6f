"""Ruby guide, "Best Practices": errors handled by type, slow responses, pooling, when not to stream.

    python examples/guide/15_best_practices.py

Errors: ``on_error`` is for reporting (logs, metrics); ``stream_complete`` then raises the same
typed error, so the recovery is an ordinary ``try``/``except`` by class, most specific first:
a server error is transient (the facade already retried ``retries`` times before any output),
a timeout suggests a faster model, anything else is reported to the user. The Rx way recovers
inside the pipeline with ``ops.catch``. Slow responses: ``response.response_time`` is in
**seconds** (the Ruby gem's was milliseconds). Offline, the fake server plays each failure.
"""

from __future__ import annotations

import logging

import reactivex
from reactivex import operators as ops

import openrouter_rx as orx
from openrouter_rx import operators as orx_ops
from openrouter_rx.testing import ErrorReply, FakeOpenRouter, StreamReply, demo_client, text_chunks

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
logger = logging.getLogger("guide")

MODEL, FASTER_MODEL = "anthropic/claude-3.5-sonnet", "openai/gpt-4o-mini"
MESSAGES = [{"role": "user", "content": "Suggest a name for a bakery."}]
SLOW_SECONDS = 5.0


def script(fake: FakeOpenRouter | None, case: str) -> None:
    """Offline: what the server does in each case."""
    if fake is None:
        return
    busy = ErrorReply(503, "No provider available", headers={"Retry-After": "0"})
    if case == "server error":  # the first try and both retries fail
        fake.enqueue(busy, busy, busy)
    elif case == "timeout":  # the stream stalls; the faster model answers
        fake.enqueue(
            StreamReply(text_chunks("The Rising"), stall_after=2),
            StreamReply(text_chunks("Crumb & Co.", model=FASTER_MODEL)),
        )
    elif case == "bad key":
        fake.enqueue(ErrorReply(401, "No auth credentials found"))
    elif case == "slow":
        fake.enqueue(StreamReply(text_chunks("The Golden Crust, after a long think."), delay=0.05))


def ask(streaming_client: orx.StreamingClient, idle: float) -> str:
    """The Ruby guide's on_error case analysis as except clauses."""
    try:
        response = streaming_client.stream_complete(MESSAGES, model=MODEL, timeout=idle)
        return response.content if response else ""
    except orx.ServerError as error:  # transient, and already retried: ask again later
        return f"(busy: {error.status}, please try again in a minute)"
    except orx.APITimeoutError:  # the model is slow today: a faster one
        logger.info("timed out, asking %s", FASTER_MODEL)
        response = streaming_client.stream_complete(MESSAGES, model=FASTER_MODEL)
        return response.content if response else ""
    except orx.OpenRouterError as error:  # anything else: log it, tell the user something useful
        logger.error("Streaming error: %s", error)
        return f"(sorry, the assistant is unavailable: {type(error).__name__})"


def callback_way(client: orx.Client, fake: FakeOpenRouter | None) -> None:
    slow_seconds = 0.2 if fake is not None else SLOW_SECONDS  # offline, the "slow" answer takes ~0.4s
    streaming_client = orx.StreamingClient(client=client, retries=2)
    streaming_client.on_stream("on_error", lambda error: logger.warning("on_error: %r", error))  # report only

    @streaming_client.on_stream("on_finish")
    def watch_speed(response: orx.Response | None) -> None:
        if response is not None and response.response_time is not None and response.response_time > slow_seconds:
            logger.warning("Slow streaming response: %.1fs", response.response_time)

    idle = 0.3 if fake is not None else 60.0
    for case in ("server error", "timeout", "bad key", "slow"):
        script(fake, case)
        print(f"{case}: {ask(streaming_client, idle)}")


def rx_way(client: orx.Client, fake: FakeOpenRouter | None) -> None:
    idle = 0.3 if fake is not None else 60.0

    def recover(error: Exception, _: reactivex.Observable[orx.Response]) -> reactivex.Observable[orx.Response]:
        if isinstance(error, orx.APITimeoutError):
            return client.stream(MESSAGES, model=FASTER_MODEL).pipe(orx_ops.accumulate())
        return reactivex.throw(error)

    def slow(response: orx.Response) -> None:
        if (response.response_time or 0.0) > SLOW_SECONDS:
            logger.warning("Slow streaming response: %.1fs", response.response_time)

    script(fake, "timeout")
    response = (
        client.stream(MESSAGES, model=MODEL, timeout=idle)
        .pipe(orx_ops.retry_with_backoff(), orx_ops.accumulate(), ops.catch(recover), ops.do_action(slow))
        .run()
    )
    print(f"Rx way, timeout: {response.content} (from {response.model}, {response.response_time or 0:.2f}s)")


def main() -> None:
    # Connection pooling is built in: each Client keeps up to pool_size connections alive and reads
    # at most pool_size streams at once (orx.StreamingClient(pool_size=10) or orx.Client(pool_size=10)).
    with demo_client(pool_size=10) as (client, fake):
        print("== the callback way")
        callback_way(client, fake)
        print("== the Rx way")
        rx_way(client, fake)
        # Short answers need no streaming: one blocking request, one Response.
        print(f"regular client: {client.complete_sync('2 + 2?').content}")


if __name__ == "__main__":
    main()
