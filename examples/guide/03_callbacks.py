"""Ruby guide, "Streaming with Callbacks": on_start, on_chunk, on_finish and on_error.

    python examples/guide/03_callbacks.py

The callback way: ``on_stream(event, fn)`` returns the client, so registrations chain, and it
also works as a decorator. Events are strings (Ruby's symbols); the payloads are objects
(``data.model``, not ``data[:model]``). The Rx way needs no registry: the same moments are the
Rx events of one subscription (subscribe, on_next, on_completed, on_error).
"""

from __future__ import annotations

from reactivex import operators as ops

import openrouter_rx as orx
from openrouter_rx import operators as orx_ops
from openrouter_rx.testing import StreamReply, demo_client, text_chunks

MESSAGES = [{"role": "user", "content": "Tell me about quantum computing"}]
MODEL = "anthropic/claude-3.5-sonnet"
ANSWER = "Quantum computers use qubits, which can hold superpositions of 0 and 1."


def on_start(data: orx.StreamStart) -> None:
    print(f"Starting request to {data.model}")
    print(f"Messages: {len(data.messages)} messages")


def on_chunk(chunk: orx.Chunk) -> None:
    if chunk.content:
        print(chunk.content, end="", flush=True)


def on_finish(response: orx.Response | None) -> None:
    print("\nCompleted!")
    if response is not None:
        print(f"Total tokens: {response.total_tokens}")
        print(f"Cost: ${response.cost_estimate}")


def on_error(error: Exception) -> None:
    print(f"Error: {error}")


def callback_way(streaming_client: orx.StreamingClient) -> None:
    """Chained registrations, as in the Ruby guide."""
    (
        streaming_client.on_stream("on_start", on_start)
        .on_stream("on_chunk", on_chunk)
        .on_stream("on_finish", on_finish)
        .on_stream("on_error", on_error)
    )
    streaming_client.stream_complete(MESSAGES, model=MODEL)


def decorator_way(streaming_client: orx.StreamingClient) -> None:
    """The same registry, as decorators (the function is returned unchanged)."""
    streaming_client.clear_callbacks()

    @streaming_client.on_stream("on_finish")
    def finished(response: orx.Response | None) -> None:
        print(f"[decorated on_finish] {response.content if response else None!r}")

    streaming_client.stream_complete(MESSAGES, model=MODEL)
    try:
        streaming_client.on_stream("on_complete", print)  # a misspelt event is refused at once
    except ValueError as error:
        print(f"ValueError: {error}")


def rx_way(client: orx.Client) -> None:
    """Each callback is an Rx event of the subscription; accumulate() gives on_finish's Response."""
    stream = client.stream(MESSAGES, model=MODEL)
    print(f"Starting request to {MODEL}")  # subscribe = start: nothing is sent before .run()
    response = stream.pipe(ops.do_action(on_chunk), orx_ops.accumulate()).run()  # on_next = chunk
    on_finish(response)  # on_completed: the accumulated response


def main() -> None:
    with demo_client() as (client, fake):
        if fake is not None:
            fake.enqueue(*(StreamReply(text_chunks(ANSWER, model=MODEL), delay=0.01) for _ in range(3)))
        print("== the callback way")
        streaming_client = orx.StreamingClient(client=client)
        callback_way(streaming_client)
        print("== decorators")
        decorator_way(streaming_client)
        print("== the Rx way")
        try:
            rx_way(client)
        except orx.OpenRouterError as error:  # on_error: a typed error, with error.partial
            on_error(error)


if __name__ == "__main__":
    main()
