"""Per-chunk cost of the operators, as ratios to a plain ``ops.map`` pipeline in the same run.

Run: ``python bench/bench_operators.py`` (a few seconds). Chunks are built once; each pipeline
is subscribed synchronously over ``reactivex.from_iterable`` so only the operator's own work
is measured. Also checks that ``accumulate`` is linear: the per-chunk cost over 4N chunks
should stay close to the cost over N (a quadratic join would multiply it by about 4).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import reactivex
from reactivex import operators as ops

import openrouter_rx as orx
from openrouter_rx import Chunk
from openrouter_rx import operators as orx_ops
from openrouter_rx.testing import ChunkFactory

N = 20_000


def make_chunks(n: int) -> list[Chunk]:
    factory = ChunkFactory()
    return [Chunk.from_dict(c) for c in factory.text(" word" * n, pieces=5)] + [
        Chunk.from_dict(factory.finish()),
        Chunk.from_dict(factory.usage()),
    ]


def per_chunk(
    pipeline: Callable[[reactivex.Observable[Chunk]], reactivex.Observable[Any]], chunks: list[Chunk]
) -> float:
    def once() -> float:
        sink: list[Any] = []
        started = time.perf_counter()
        pipeline(reactivex.from_iterable(chunks)).subscribe(sink.append)
        return time.perf_counter() - started

    return statistics.median(once() for _ in range(5)) / len(chunks)


def main() -> None:
    chunks = make_chunks(N)
    baseline = per_chunk(lambda s: s.pipe(ops.map(lambda c: c)), chunks)
    print(f"baseline ops.map: {baseline * 1e6:.2f} us/chunk over {len(chunks)} chunks")
    rows: dict[str, Callable[[reactivex.Observable[Chunk]], reactivex.Observable[Any]]] = {
        "content()": lambda s: s.pipe(orx_ops.content()),
        "accumulate()": lambda s: s.pipe(orx_ops.accumulate()),
        "tool_calls()": lambda s: s.pipe(orx_ops.tool_calls()),
        "retry_with_backoff()": lambda s: s.pipe(orx_ops.retry_with_backoff()),
        "retry + fallback + accumulate": lambda s: s.pipe(
            orx_ops.retry_with_backoff(), orx_ops.fallback_to_non_streaming(reactivex.empty()), orx_ops.accumulate()
        ),
    }
    tracker = orx.UsageTracker()
    rows["meter()"] = lambda s: s.pipe(orx_ops.meter())
    rows["track_usage()"] = lambda s: s.pipe(orx_ops.track_usage(tracker))
    rows["idle_timeout(60)"] = lambda s: s.pipe(orx_ops.idle_timeout(60.0))
    for label, pipeline in rows.items():
        cost = per_chunk(pipeline, chunks)
        print(f"{label:32s} {cost * 1e6:7.2f} us/chunk  {cost / baseline:5.1f}x baseline")

    small = make_chunks(N // 4)
    cost_small = per_chunk(lambda s: s.pipe(orx_ops.accumulate()), small)
    cost_large = per_chunk(lambda s: s.pipe(orx_ops.accumulate()), chunks)
    print(f"accumulate per chunk, 4N vs N chunks: {cost_large / cost_small:.2f}x (1.0 = linear)")
    snap_small = per_chunk(lambda s: s.pipe(orx_ops.snapshots()), make_chunks(500))
    snap_large = per_chunk(lambda s: s.pipe(orx_ops.snapshots()), make_chunks(2000))
    print(
        f"snapshots per chunk, 2000 vs 500 chunks: {snap_large / snap_small:.2f}x "
        "(each snapshot joins the text so far: grows with length; conflate on UIs)"
    )


if __name__ == "__main__":
    main()
