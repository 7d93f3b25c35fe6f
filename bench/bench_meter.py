"""Per-chunk cost of ``meter()``, as ratios to a plain ``ops.map(lambda c: c)`` pipeline.

Run: ``python bench/bench_meter.py`` (a few seconds). Every row pushes the same 20k chunks
through ``reactivex.from_iterable(...)`` on the current thread in the same run, so the ratios
are comparable across machines.

Measured:
- baseline: ``ops.map(lambda c: c)``;
- ``meter()`` reading wall-clock time (the default ``TimeoutScheduler`` clock);
- ``meter()`` reading a frozen ``TestScheduler`` (the cost of the figures without the clock);
- ``track_usage(tracker)`` and ``idle_timeout(60)`` (pass-through operators) for comparison.
"""

from __future__ import annotations

import statistics
import timeit
from collections.abc import Callable
from typing import Any

import reactivex
from reactivex import operators as ops
from reactivex.testing import TestScheduler

from openrouter_rx import Chunk
from openrouter_rx.operators._idle_timeout import idle_timeout
from openrouter_rx.operators._meter import meter
from openrouter_rx.operators._track_usage import track_usage
from openrouter_rx.testing import ChunkFactory
from openrouter_rx.usage import UsageTracker

N = 20000


def make_chunks(count: int) -> list[Chunk]:
    factory = ChunkFactory()
    words = factory.text(" ".join(f"word{i % 97}" for i in range(count - 2)))
    return [Chunk.from_dict(c) for c in [factory.role(), *words, factory.usage(10)]]


Operator = Callable[[reactivex.Observable[Chunk]], reactivex.Observable[Any]]


def per_chunk(operator: Operator, chunks: list[Chunk]) -> float:
    """Median seconds per chunk over 5 runs of the whole stream."""

    def run() -> None:
        count = 0

        def on_next(_: Any) -> None:
            nonlocal count
            count += 1

        reactivex.from_iterable(chunks).pipe(operator).subscribe(on_next)
        assert count >= len(chunks)

    return statistics.median(timeit.repeat(run, number=1, repeat=5)) / len(chunks)


def main() -> None:
    chunks = make_chunks(N)
    base = per_chunk(ops.map(lambda c: c), chunks)
    rows = [
        ("ops.map(lambda c: c) (baseline)", base),
        ("meter() wall clock", per_chunk(meter(), chunks)),
        ("meter() frozen TestScheduler", per_chunk(meter(scheduler=TestScheduler()), chunks)),
        ("track_usage(tracker)", per_chunk(track_usage(UsageTracker()), chunks)),
        ("idle_timeout(60)", per_chunk(idle_timeout(60), chunks)),
    ]
    print(f"{len(chunks)} chunks")
    print(f"{'pipeline':<34} {'us/chunk':>9} {'x map':>7}")
    for name, seconds in rows:
        print(f"{name:<34} {seconds * 1e6:>9.2f} {seconds / base:>7.1f}")


if __name__ == "__main__":
    main()
