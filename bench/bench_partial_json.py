"""Cost of ``partial_json`` against one plain ``json.loads`` of the final text.

Run: ``python bench/bench_partial_json.py``. For JSON documents of about 1 KB,
10 KB and 100 KB, streamed as content chunks of 20 bytes, it prints the time ``partial_json``
takes for the whole stream, a plain ``json.loads`` of the final text, their ratio, the time per
chunk and how many values were emitted, for the default (``min_growth=0.02``: documents over 8 KB
are re-parsed after 2 % growth past 8 KB) and for ``min_growth=0`` (a re-parse on every chunk). Chunks are
built once and the pipeline is subscribed synchronously over ``reactivex.from_iterable``, so
only the operator's own work is measured (about 10 s, mostly the quadratic 100 KB run).
Re-parsing the text so far on every chunk is quadratic (the ratio grows with the document); the
default keeps it roughly flat.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import reactivex

from openrouter_rx.chunk import Chunk
from openrouter_rx.operators._partial_json import partial_json
from openrouter_rx.testing import ChunkFactory

CHUNK_BYTES = 20
SIZES = (1_000, 10_000, 100_000)


def document(size: int) -> str:
    """A JSON document of about ``size`` bytes: a list of small records (strings, numbers, flags)."""
    records: list[dict[str, Any]] = []
    text = ""
    while len(text) < size:
        n = len(records)
        records.append({"id": n, "name": f"item number {n}", "price": n * 1.25, "tags": ["a", "b"], "ok": n % 2 == 0})
        text = json.dumps({"items": records})
    return text


def chunks_of(text: str) -> list[Chunk]:
    factory = ChunkFactory()
    return [Chunk.from_dict(c) for c in factory.text(text, pieces=CHUNK_BYTES)] + [Chunk.from_dict(factory.finish())]


def best(run: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times) if repeat < 3 else statistics.median(times)


def main() -> None:
    header = f"{'min_growth':>10} {'size':>8} {'chunks':>7} {'partial_json':>13} {'json.loads':>11} {'ratio':>7}"
    print(header + f" {'per chunk':>10} {'emitted':>8}")
    for min_growth in (0.02, 0.0):
        for size in SIZES:
            measure(size, min_growth)


def measure(size: int, min_growth: float) -> None:
    text = document(size)
    chunks = chunks_of(text)
    emitted: list[Any] = []

    def stream(chunks: list[Chunk] = chunks, sink: list[Any] = emitted) -> None:
        sink.clear()
        reactivex.from_iterable(chunks).pipe(partial_json(min_growth=min_growth)).subscribe(sink.append)

    repeat = 5 if size < 100_000 else 3
    streamed = best(stream, repeat)
    plain = best(lambda: json.loads(text), 50)
    assert emitted[-1] == json.loads(text)
    print(
        f"{min_growth:>10} {len(text):>8} {len(chunks):>7} {streamed * 1e3:>10.2f} ms {plain * 1e3:>8.3f} ms "
        f"{streamed / plain:>6.0f}x {streamed / len(chunks) * 1e6:>7.1f} us {len(emitted):>8}"
    )


if __name__ == "__main__":
    main()
