"""Ruby guide, "Quick Start": stream one answer and get the whole response at the end.

    python examples/guide/01_quick_start.py

The callback way: ``StreamingClient.stream_complete`` blocks until the stream ends and returns
the accumulated ``Response``. The Rx way: ``client.stream(...)`` is a cold observable of
chunks; ``accumulate()`` folds it into the same ``Response`` and ``.run()`` blocks for it.
Offline (no OPENROUTER_API_KEY) the embedded fake server answers.
"""

from __future__ import annotations

import openrouter_rx as orx
from openrouter_rx import operators as orx_ops
from openrouter_rx.testing import StreamReply, demo_client, text_chunks

MESSAGES = [{"role": "user", "content": "Write a short story about a robot"}]
STORY = "Unit 7 swept the empty station every night, until one night it found a seed and planted it."


def callback_way(streaming_client: orx.StreamingClient) -> orx.Response | None:
    """The Ruby snippet, in Python: one blocking call returns the accumulated response."""
    return streaming_client.stream_complete(MESSAGES, model="openai/gpt-4o-mini", accumulate_response=True)


def rx_way(client: orx.Client) -> orx.Response:
    """The same with the Rx core: a cold stream of chunks folded into one Response."""
    return client.stream(MESSAGES, model="openai/gpt-4o-mini").pipe(orx_ops.accumulate()).run()


def main() -> None:
    with demo_client() as (client, fake):
        streaming_client = orx.StreamingClient(client=client)  # alone: orx.StreamingClient() reads $OPENROUTER_API_KEY
        if fake is not None:
            fake.enqueue(StreamReply(text_chunks(STORY)), StreamReply(text_chunks(STORY)))

        response = callback_way(streaming_client)
        assert response is not None
        print("callback way:", response.content)

        response = rx_way(client)
        print("Rx way:      ", response.content)
        print(f"({response.total_tokens} tokens, finish_reason={response.finish_reason})")


if __name__ == "__main__":
    main()
