"""Ruby guide, "Performance Monitoring": tokens per second while streaming and at the end.

    python examples/guide/07_performance_monitoring.py

The callback way: the Ruby snippet's clock in ``on_start`` and sums in ``on_chunk`` / ``on_finish``
(``time.monotonic()``, never the wall clock, for durations). The Rx way: ``meter()`` measures it
for you: a ``StreamMetrics`` after every chunk (time to first token, an estimate of the tokens
until the usage arrives, overall and rolling tokens/s, gaps between chunks) and a final one.
"""

from __future__ import annotations

import time
from typing import Any

from reactivex import operators as ops

import openrouter_rx as orx
from openrouter_rx import operators as orx_ops
from openrouter_rx.testing import StreamReply, demo_client, text_chunks

MESSAGES = [{"role": "user", "content": "Explain photosynthesis in two sentences."}]
ANSWER = (
    "Plants capture sunlight with chlorophyll and use its energy to turn water and carbon dioxide "
    "into sugar. Oxygen is released as a by-product."
)


def log_performance(metrics: dict[str, Any]) -> None:
    print(f"log_performance({metrics})")


def callback_way(streaming_client: orx.StreamingClient) -> None:
    started = 0.0
    token_count = 0

    def on_start(_: orx.StreamStart) -> None:
        nonlocal started
        started = time.monotonic()

    def on_chunk(chunk: orx.Chunk) -> None:
        nonlocal token_count
        if chunk.usage is not None:  # OpenRouter sends the usage once, on the last chunk
            token_count = chunk.usage.total_tokens or token_count
            elapsed = time.monotonic() - started
            print(f"Speed: {token_count / elapsed:.2f} tokens/sec")

    def on_finish(response: orx.Response | None) -> None:
        assert response is not None
        total_time = time.monotonic() - started
        final_tps = response.total_tokens / total_time
        print(f"Final speed: {final_tps:.2f} tokens/sec")
        log_performance(
            {"model": response.model, "tokens": response.total_tokens, "duration": round(total_time, 3),
             "tokens_per_second": round(final_tps, 2)}
        )  # fmt: skip

    streaming_client.on_stream("on_start", on_start).on_stream("on_chunk", on_chunk).on_stream("on_finish", on_finish)
    streaming_client.stream_complete(MESSAGES, model="openai/gpt-4o-mini")


def rx_way(client: orx.Client) -> None:
    snapshots = client.stream(MESSAGES, model="openai/gpt-4o-mini").pipe(orx_ops.meter(window=1.0), ops.to_list()).run()
    for metrics in snapshots[6:-1:6]:  # a few of the live snapshots
        tps = f"{metrics.rolling_tokens_per_second:.1f}" if metrics.rolling_tokens_per_second else "-"
        print(f"  after {metrics.chunks:2d} chunks: ~{metrics.completion_tokens} tokens, rolling {tps} tokens/s")
    final = snapshots[-1]
    print(
        f"Final: {final.completion_tokens} completion tokens ({'estimated' if final.estimated else 'from usage'}), "
        f"first token after {final.time_to_first_token or 0:.3f}s, {final.tokens_per_second or 0:.1f} tokens/s, "
        f"median gap {final.gap_median or 0:.3f}s"
    )
    log_performance(final.to_dict())


def main() -> None:
    with demo_client() as (client, fake):
        if fake is not None:
            fake.enqueue(*(StreamReply(text_chunks(ANSWER), delay=0.01) for _ in range(2)))
        print("== the callback way")
        callback_way(orx.StreamingClient(client=client))
        print("== the Rx way: meter()")
        rx_way(client)


if __name__ == "__main__":
    main()
