"""Cost of ``partial_json`` against one plain ``json.loads`` of the final text.

Run: ``python bench/bench_partial_json.py`` (about 10 s, mostly the quadratic reference at
100 KB). For JSON documents of about 1 KB, 10 KB and 100 KB, streamed as content chunks of 20
bytes, it prints the time for the whole stream, a plain ``json.loads`` of the final text, their
ratio, the time per chunk and how many values were emitted, for

- ``partial_json()``: the operator (jiter's partial mode on every chunk up to 8 KB, then each
  time the text grew by 2 % of its size past 8 KB: bounded work per byte), and
- ``jiter re-parse``: the naive use, ``jiter.from_json(text_so_far,
  partial_mode="trailing-strings")`` after every chunk (no operator around it), quadratic.

Measured on the development machine: about 8 us per chunk at 1 KB, 37 us at 10 KB and 25 us at
100 KB for the operator, against 3, 34 and 930 us for the naive re-parse.

Chunks are built once and the operator is subscribed synchronously over
``reactivex.from_iterable``, so only its own work is measured.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import jiter
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


def best(run: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def operator_run(chunks: list[Chunk], sink: list[Any]) -> None:
    sink.clear()
    reactivex.from_iterable(chunks).pipe(partial_json()).subscribe(sink.append)


def jiter_run(pieces: list[str], sink: list[Any]) -> None:
    sink.clear()
    text = b""
    for piece in pieces:
        text += piece.encode()
        value = jiter.from_json(text, partial_mode="trailing-strings")
        if not sink or value != sink[-1]:
            sink.append(value)


def measure(size: int) -> None:
    text = document(size)
    pieces = [text[i : i + CHUNK_BYTES] for i in range(0, len(text), CHUNK_BYTES)]
    chunks = [Chunk.from_dict(c) for c in ChunkFactory().text(text, pieces=pieces)]
    plain = best(lambda: json.loads(text), 50)
    emitted: list[Any] = []
    runs: list[tuple[str, Callable[[], None]]] = [
        ("partial_json()", lambda: operator_run(chunks, emitted)),
        ("jiter re-parse", lambda: jiter_run(pieces, emitted)),
    ]
    for name, run in runs:
        took = best(run, 3 if size < 100_000 else 1)
        assert emitted[-1] == json.loads(text)
        print(
            f"{name:>15} {len(text):>8} {len(chunks):>7} {took * 1e3:>8.2f} ms {plain * 1e3:>8.3f} ms "
            f"{took / plain:>6.0f}x {took / len(chunks) * 1e6:>7.1f} us"
        )


def main() -> None:
    print(f"{'method':>15} {'size':>8} {'chunks':>7} {'stream':>11} {'json.loads':>11} {'ratio':>7} {'per chunk':>10}")
    for size in SIZES:
        measure(size)


if __name__ == "__main__":
    main()
