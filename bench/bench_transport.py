"""End-to-end throughput and memory over loopback, against a baseline in the same run.

Run: ``python bench/bench_transport.py [--chunks 20000]`` (about 10 s).

Both sides read the same SSE body from the same fake OpenRouter server:

- baseline: plain ``requests`` + ``iter_lines`` + ``json.loads`` per data line (what a
  hand-written loop does, with no chunk objects and no Rx);
- openrouter_rx: ``client.stream(...)`` through ``ops.count()`` (chunk objects, Rx
  delivery, partial-response accumulation, watchdog bookkeeping).

Reported: chunks per second of each and their ratio, and the peak traced memory of
each while streaming (tracemalloc), so a regression shows up as a ratio change.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import tracemalloc
from collections.abc import Callable

import requests
from reactivex import operators as ops

import openrouter_rx as orx
from openrouter_rx.testing import FakeOpenRouter, StreamReply, text_chunks


def baseline(url: str) -> int:
    count = 0
    with requests.post(url, json={"stream": True, "messages": []}, stream=True, timeout=30) as response:
        for line in response.iter_lines(chunk_size=65536):
            if line.startswith(b"data: ") and line != b"data: [DONE]":
                json.loads(line[6:])
                count += 1
    return count


def measure(run: Callable[[], int], repeat: int) -> tuple[float, int]:
    """Median seconds of ``repeat`` runs, and the count of the last."""
    times, count = [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        count = run()
        times.append(time.perf_counter() - started)
    return statistics.median(times), count


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
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    words = " ".join(f"w{i}" for i in range(args.chunks))
    events = text_chunks(words, pieces="words")
    with FakeOpenRouter() as fake, orx.Client(base_url=fake.base_url) as client:
        fake.responder = lambda request: StreamReply(events)
        url = f"{fake.base_url}/chat/completions"

        def library() -> int:
            return int(client.stream("bench").pipe(ops.count()).run())

        base_time, base_count = measure(lambda: baseline(url), args.repeat)
        lib_time, lib_count = measure(library, args.repeat)
        assert base_count == lib_count == len(events), (base_count, lib_count, len(events))
        base_mem = peak_memory(lambda: baseline(url))
        lib_mem = peak_memory(library)
    print(f"{len(events)} chunks per stream, median of {args.repeat} runs")
    print(f"{'':<16} {'chunks/s':>10} {'us/chunk':>9} {'peak MiB':>9}")
    for name, seconds, memory in (("baseline", base_time, base_mem), ("openrouter_rx", lib_time, lib_mem)):
        print(f"{name:<16} {len(events) / seconds:>10.0f} {seconds / len(events) * 1e6:>9.2f} {memory / 2**20:>9.2f}")
    print(f"time ratio openrouter_rx / baseline: {lib_time / base_time:.2f}x")


if __name__ == "__main__":
    main()
