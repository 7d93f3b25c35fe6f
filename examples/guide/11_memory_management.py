"""Ruby guide, "Memory Management": many requests in batches, nothing kept between them.

    python examples/guide/11_memory_management.py

The Ruby guide processes batches with ``accumulate_response: false`` and calls ``GC.start``
every ten requests. In Python the chunks of a request become garbage as soon as the callback
returns (reference counting frees them at once), so there is no ``GC.start`` to call: what
matters is not to keep them (no list of chunks, no accumulated text you do not need). The Rx
way: ``concat_map`` sends the requests one after another (``merge(max_concurrent=N)`` for N at a
time) and ``content()`` keeps nothing.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterable, Iterator

import reactivex
from reactivex import operators as ops

import openrouter_rx as orx
from openrouter_rx import operators as orx_ops
from openrouter_rx.testing import demo_client

PROMPTS = [f"Give me fact number {n} about octopuses." for n in range(1, 13)]
BATCH = 4


def batches(items: Iterable[str], size: int) -> Iterator[list[str]]:
    """Ruby's each_slice (itertools.batched from Python 3.12)."""
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def callback_way(streaming_client: orx.StreamingClient, db: sqlite3.Connection) -> None:
    for number, batch in enumerate(batches(PROMPTS, BATCH), 1):
        for prompt in batch:

            def process_and_save_chunk(chunk: orx.Chunk, prompt: str = prompt) -> None:
                if chunk.content:
                    db.execute("INSERT INTO pieces VALUES (?, ?)", (prompt, chunk.content))

            streaming_client.stream_complete(prompt, accumulate_response=False, callback=process_and_save_chunk)
        db.commit()
        print(f"batch {number}: {len(batch)} requests saved")  # no GC.start(): nothing was kept


def rx_way(client: orx.Client, db: sqlite3.Connection) -> None:
    def pieces(prompt: str) -> reactivex.Observable[tuple[str, str]]:
        return client.stream(prompt).pipe(orx_ops.content(), ops.map(lambda text: (prompt, text)))

    texts: reactivex.Observable[tuple[str, str]] = reactivex.from_iterable(PROMPTS).pipe(ops.concat_map(pieces))
    count = 0
    for row in orx.blocking.iterate(texts):  # rows arrive on this thread: SQLite is happy
        db.execute("INSERT INTO pieces VALUES (?, ?)", row)
        count += 1
    db.commit()
    print(f"Rx way: {len(PROMPTS)} requests, {count} pieces saved")


def main() -> None:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE pieces (prompt TEXT, content TEXT)")
    with demo_client() as (client, _):
        print("== the callback way")
        callback_way(orx.StreamingClient(client=client), db)
        print("== the Rx way")
        rx_way(client, db)
    rows = db.execute("SELECT COUNT(DISTINCT prompt), COUNT(*) FROM pieces").fetchone()
    print(f"saved: {rows[1]} pieces for {rows[0]} prompts")


if __name__ == "__main__":
    main()
