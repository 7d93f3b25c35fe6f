"""Ruby guide, "Response Accumulation": the whole response, or nothing kept at all.

    python examples/guide/08_accumulation.py

The callback way: ``accumulate_response=True`` (the default) returns the ``Response`` (content,
tokens, cost); ``False`` returns ``None`` and ``on_finish`` gets ``None``: only the per-chunk
callback sees the text. The Rx way: ``accumulate()`` for the response at the end,
``snapshots()`` for the running response after every chunk (a UI redrawing the whole text),
or no operator at all to keep nothing.
"""

from __future__ import annotations

from reactivex import operators as ops

import openrouter_rx as orx
from openrouter_rx import operators as orx_ops
from openrouter_rx.testing import StreamReply, demo_client, text_chunks

MESSAGES = [{"role": "user", "content": "Name the three primary colours."}]
ANSWER = "Red, yellow and blue (or red, green and blue for light)."


def callback_way(streaming_client: orx.StreamingClient) -> None:
    response = streaming_client.stream_complete(MESSAGES, accumulate_response=True)  # the default
    assert response is not None
    print(response.content)
    print(f"total_tokens={response.total_tokens} cost_estimate={response.cost_estimate}")

    finished: list[orx.Response | None] = []
    streaming_client.on_stream("on_finish", finished.append)
    pieces: list[str] = []

    def process_chunk_immediately(chunk: orx.Chunk) -> None:
        if chunk.content:
            pieces.append(chunk.content.upper())

    result = streaming_client.stream_complete(MESSAGES, accumulate_response=False, callback=process_chunk_immediately)
    print(f"not accumulating: returned {result}, on_finish got {finished}, processed {''.join(pieces)!r}")


def rx_way(client: orx.Client) -> None:
    response = client.stream(MESSAGES).pipe(orx_ops.accumulate()).run()
    print(f"accumulate(): {response.content!r}")

    def text_of(response: orx.Response) -> str:
        return response.content

    growing = client.stream(MESSAGES).pipe(orx_ops.snapshots(), ops.map(text_of), ops.to_list()).run()
    for text in growing[1:4]:
        print(f"snapshots(): {text!r}")
    print(f"snapshots(): ... {len(growing)} snapshots, the last is the whole text")


def main() -> None:
    with demo_client() as (client, fake):
        if fake is not None:
            fake.enqueue(*(StreamReply(text_chunks(ANSWER)) for _ in range(4)))
        print("== the callback way")
        callback_way(orx.StreamingClient(client=client))
        print("== the Rx way")
        rx_way(client)


if __name__ == "__main__":
    main()
