"""Per-chunk cost of the hot path, as ratios to ``json.loads`` of the same chunk.

Run: ``python bench/bench_chunk_parse.py`` (a few seconds). Everything is measured in
the same run against the same baseline, so the ratios are comparable across machines.

Measured:
- baseline: ``json.loads`` of one realistic 340-byte chunk;
- ``Chunk.from_dict`` (the hot path: direct construction);
- marshmallow ``ChunkSchema().load`` on a cached schema instance (``validate_chunks=True``);
- ``ResponseAccumulator.add`` (what the transport does per chunk to keep a partial);
- the whole framing+decode path: sseclient-py over in-memory ``read1`` pieces,
  ``json.loads``, ``from_dict``, accumulate (no socket).
"""

from __future__ import annotations

import io
import json
import statistics
import timeit
from collections.abc import Callable

from openrouter_rx import Chunk, ResponseAccumulator, schemas
from openrouter_rx._sse import ByteSource, iter_event_data

RAW = (
    '{"id":"gen-1766949754-3EZDBcSLeWo5EHrehiXH","provider":"OpenAI","model":"openai/gpt-3.5-turbo",'
    '"object":"chat.completion.chunk","created":1766949754,"choices":[{"index":0,"delta":{"role":"assistant",'
    '"content":" hello"},"finish_reason":null,"native_finish_reason":null,"logprobs":null}],'
    '"system_fingerprint":null}'
)
DECODED = json.loads(RAW)
N = 20000


def per_call(fn: Callable[[], object], number: int = N, repeat: int = 5) -> float:
    """Median seconds per call over ``repeat`` runs of ``number`` calls."""
    return statistics.median(t / number for t in timeit.repeat(fn, number=number, repeat=repeat))


def pipeline(events: int) -> float:
    body = f"data: {RAW}\n\n".encode() * events + b"data: [DONE]\n\n"

    def run() -> None:
        stream = io.BytesIO(body)
        acc = ResponseAccumulator()
        for data, _ in iter_event_data(ByteSource(stream.read1, 1 << 22)):
            if data == "[DONE]":
                break
            acc.add(Chunk.from_dict(json.loads(data)))

    return statistics.median(timeit.repeat(run, number=1, repeat=5)) / events


def main() -> None:
    schema = schemas.ChunkSchema()
    acc = ResponseAccumulator()
    chunk = Chunk.from_dict(DECODED)
    base = per_call(lambda: json.loads(RAW))
    rows = [
        ("json.loads (baseline)", base),
        ("Chunk.from_dict", per_call(lambda: Chunk.from_dict(DECODED))),
        ("marshmallow ChunkSchema.load", per_call(lambda: schema.load(DECODED), number=N // 10)),
        ("ResponseAccumulator.add", per_call(lambda: acc.add(chunk))),
        ("SSE framing + decode + accumulate", pipeline(N)),
    ]
    print(f"{'step':<36} {'us/chunk':>9} {'x json.loads':>13}")
    for name, seconds in rows:
        print(f"{name:<36} {seconds * 1e6:>9.2f} {seconds / base:>13.1f}")


if __name__ == "__main__":
    main()
