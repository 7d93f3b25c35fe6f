"""What the callback facade and the bridges cost per chunk, against the Rx core in the same run.

Run: ``python bench/bench_facade.py [--chunks 20000]`` (about 15 s).

Every variant streams the same SSE body (encoded once) from the same fake OpenRouter server over
loopback:

- baseline: ``client.stream(...).pipe(accumulate()).run()`` (the Rx core, one Response);
- ``blocking.iterate``: the same stream handed chunk by chunk to the calling thread;
- ``aio.iterate``: the same stream handed to an asyncio event loop (``async for``);
- ``StreamingClient.stream_complete``: the facade with an ``on_chunk`` callback, accumulating;
- ``StreamingClient.stream_complete(accumulate_response=False)``: the facade keeping nothing.

Reported: microseconds per chunk of each, their ratio to the baseline, and peak traced memory
(tracemalloc), so a regression in a bridge or the facade shows up as a ratio change.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import tracemalloc
from collections.abc import Callable

import openrouter_rx as orx
from openrouter_rx import operators as orx_ops
from openrouter_rx.testing import FakeOpenRouter, RawReply, sse_bytes, text_chunks


def peak_memory(run: Callable[[], int]) -> int:
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    words = " ".join(f"w{i}" for i in range(args.chunks))
    events = text_chunks(words, pieces="words")
    expected = len(words)
    with FakeOpenRouter() as fake, orx.StreamingClient(base_url=fake.base_url, retries=0) as sc:
        body = sse_bytes(events)  # encoded once, sent in 64 KiB pieces: the server costs little
        pieces = [body[i : i + 65536] for i in range(0, len(body), 65536)]
        fake.responder = lambda request: RawReply(pieces)
        client = sc.client
        seen = [0]

        def count(chunk: orx.Chunk) -> None:
            seen[0] += 1

        sc.on_stream("on_chunk", count)

        def core() -> int:
            return len(client.stream("bench").pipe(orx_ops.accumulate()).run().content)

        def blocking() -> int:
            return sum(len(chunk.content or "") for chunk in orx.blocking.iterate(client.stream("bench")))

        def aio() -> int:
            async def consume() -> int:
                total = 0
                async for chunk in orx.aio.iterate(client.stream("bench")):
                    total += len(chunk.content or "")
                return total

            return asyncio.run(consume())

        def facade() -> int:
            response = sc.stream_complete("bench")
            assert response is not None
            return len(response.content)

        def facade_lean() -> int:
            before = seen[0]
            sc.stream_complete("bench", accumulate_response=False)
            assert seen[0] - before == len(events)
            return expected

        variants = {
            "rx core (baseline)": core,
            "blocking.iterate": blocking,
            "aio.iterate": aio,
            "stream_complete": facade,
            "stream_complete lean": facade_lean,
        }
        for run in variants.values():  # warm up: connections, imports, caches
            run()
        times: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(args.repeat):  # interleaved, so machine noise hits every variant alike
            for name, run in variants.items():
                started = time.perf_counter()
                got = run()
                times[name].append(time.perf_counter() - started)
                assert got == expected, (name, got, expected)
        results = {name: (statistics.median(times[name]), peak_memory(run)) for name, run in variants.items()}
    base = results["rx core (baseline)"][0]
    print(f"{len(events)} chunks per stream, median of {args.repeat} runs")
    print(f"{'':<22} {'us/chunk':>9} {'ratio':>6} {'peak MiB':>9}")
    for name, (seconds, memory) in results.items():
        print(f"{name:<22} {seconds / len(events) * 1e6:>9.2f} {seconds / base:>5.2f}x {memory / 2**20:>9.2f}")


if __name__ == "__main__":
    main()
