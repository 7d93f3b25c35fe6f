"""Ruby guide, "Real-time Processing": handle each chunk at once, keep no response in memory.

    python examples/guide/05_realtime_processing.py

``accumulate_response=False``: the facade keeps nothing but a chunk count, calls the per-call
``callback`` with every chunk (on the calling thread) and returns ``None``. Here each chunk goes
to three stand-ins: a "websocket" (a list a UI would read), a log table in SQLite and live
metrics. The Rx way: the same consumer over the plain chunk stream (no ``accumulate()``, so
nothing grows), with ``orx.blocking.iterate`` bringing the chunks to this thread.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass, field

import openrouter_rx as orx
from openrouter_rx.testing import StreamReply, demo_client, text_chunks

MESSAGES = [{"role": "user", "content": "List the planets of the solar system."}]
ANSWER = "Mercury, Venus, Earth, Mars, Jupiter, Saturn, Uranus and Neptune."


@dataclass
class Sinks:
    """Where each chunk goes: a socket stand-in, a log table and running metrics."""

    sent: list[str] = field(default_factory=list)
    db: sqlite3.Connection = field(default_factory=lambda: sqlite3.connect(":memory:"))
    chunks: int = 0
    characters: int = 0

    def __post_init__(self) -> None:
        self.db.execute("CREATE TABLE chunk_log (content TEXT, at REAL)")

    def handle(self, chunk: orx.Chunk) -> None:
        """The body of the Ruby block: only chunks with content are forwarded."""
        self.chunks += 1
        if chunk.content:
            self.sent.append(chunk.content)  # websocket.send(chunk.content)
            self.db.execute("INSERT INTO chunk_log VALUES (?, ?)", (chunk.content, time.time()))  # log_chunk
            self.characters += len(chunk.content)  # update_metrics(chunk)

    def report(self, label: str) -> None:
        logged = self.db.execute("SELECT COUNT(*) FROM chunk_log").fetchone()[0]
        print(
            f"{label}: {self.chunks} chunks, {logged} logged, {self.characters} characters sent: {''.join(self.sent)!r}"
        )


def main() -> None:
    with demo_client() as (client, fake):
        if fake is not None:
            fake.enqueue(*(StreamReply(text_chunks(ANSWER), delay=0.01) for _ in range(2)))

        # -- the callback way: the Ruby block is callback= -------------------------------------------
        sinks = Sinks()
        streaming_client = orx.StreamingClient(client=client)
        result = streaming_client.stream_complete(
            MESSAGES, model="openai/gpt-4o-mini", accumulate_response=False, callback=sinks.handle
        )
        sinks.report(f"callback way (returned {result})")

        # -- the Rx way: chunks are produced on the client's reader threads; blocking.iterate hands
        # them to this thread (SQLite connections, like many UI toolkits, are bound to their thread).
        sinks = Sinks()
        for chunk in orx.blocking.iterate(client.stream(MESSAGES, model="openai/gpt-4o-mini")):
            sinks.handle(chunk)
        sinks.report("Rx way")


if __name__ == "__main__":
    main()
