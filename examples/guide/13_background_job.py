"""Ruby guide, "Background Job Integration": jobs stream answers and save them to a database.

    python examples/guide/13_background_job.py

``concurrent.futures`` workers stand in for ActiveJob/Sidekiq (Celery, RQ or arq work the same
way) and stdlib ``sqlite3`` for ActiveRecord. Each job makes its own ``StreamingClient`` around
one shared ``orx.Client`` (thread-safe, pooled connections): callbacks run on the worker's
thread, so the job opens its own SQLite connection there. The Rx way needs no worker pool: the
requests are merged, at most N at a time, and the rows saved on this thread.
"""

from __future__ import annotations

import sqlite3
import tempfile
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import reactivex
from reactivex import operators as ops

import openrouter_rx as orx
from openrouter_rx import operators as orx_ops
from openrouter_rx.testing import demo_client

SCHEMA = "CREATE TABLE IF NOT EXISTS chat_messages (user_id INTEGER, content TEXT, token_count INTEGER, cost TEXT)"


@dataclass(frozen=True)
class Job:
    """What the Ruby job's ``perform`` receives."""

    user_id: int
    messages: list[dict[str, Any]]
    model: str


def broadcast(channel: str, message: dict[str, Any]) -> None:
    """Stand-in for ActionCable.server.broadcast (see 12_websocket_integration.py for a hub)."""


def save(db: sqlite3.Connection, user_id: int, response: orx.Response) -> None:
    cost = response.cost_estimate
    db.execute(
        "INSERT INTO chat_messages VALUES (?, ?, ?, ?)",
        (user_id, response.content, response.total_tokens, f"{cost:f}" if cost is not None else None),
    )
    db.commit()


class StreamingChatJob:
    """The Ruby job: broadcast every chunk, save the whole response."""

    def __init__(self, client: orx.Client, database: Path) -> None:
        self.client = client
        self.database = database

    def perform(self, job: Job) -> int:
        streaming_client = orx.StreamingClient(client=self.client)
        with closing(sqlite3.connect(self.database)) as db:  # opened on the worker thread that uses it

            @streaming_client.on_stream("on_chunk")
            def push(chunk: orx.Chunk) -> None:
                broadcast(f"user_{job.user_id}", {"chunk": chunk.content})

            @streaming_client.on_stream("on_finish")
            def store(response: orx.Response | None) -> None:
                if response is not None:
                    save(db, job.user_id, response)

            streaming_client.stream_complete(job.messages, model=job.model)
        return job.user_id


def main() -> None:
    jobs = [
        Job(user_id, [{"role": "user", "content": f"Hello, I am user {user_id}."}], "openai/gpt-4o-mini")
        for user_id in range(1, 7)
    ]
    with tempfile.TemporaryDirectory() as folder, demo_client() as (client, _):
        database = Path(folder) / "chat.db"
        with closing(sqlite3.connect(database)) as db:
            db.execute(SCHEMA)

        # -- the callback way: a worker pool runs the jobs -------------------------------------------
        with ThreadPoolExecutor(max_workers=3) as workers:
            done = list(workers.map(StreamingChatJob(client, database).perform, jobs, timeout=60))
        print(f"callback way: jobs for users {done} finished")

        # -- the Rx way: merge the requests (3 at a time), save on this thread ---------------------------
        def request(job: Job) -> reactivex.Observable[tuple[Job, orx.Response]]:
            return client.stream(job.messages, model=job.model).pipe(
                orx_ops.accumulate(), ops.map(lambda response: (job, response))
            )

        answers = reactivex.from_iterable(jobs).pipe(ops.map(request), ops.merge(max_concurrent=3))
        with closing(sqlite3.connect(database)) as db:
            for job, response in orx.blocking.iterate(answers):
                save(db, job.user_id, response)
        print(f"Rx way: {len(jobs)} answers saved")

        with closing(sqlite3.connect(database)) as db:
            rows = db.execute(
                "SELECT user_id, COUNT(*), SUM(token_count) FROM chat_messages GROUP BY user_id"
            ).fetchall()
            sample = db.execute("SELECT content FROM chat_messages WHERE user_id = 1").fetchone()[0]
        for user_id, count, tokens in rows:
            print(f"user {user_id}: {count} messages saved, {tokens} tokens")
        print(f"e.g. {sample!r}")


if __name__ == "__main__":
    main()
