"""A data pipeline: many prompts from a CSV, a few requests at a time, results to SQLite or CSV.

Every prompt is one cold request observable; ``merge(max_concurrent=N)`` keeps at most N of
them streaming at once. Each request is retried on 429/5xx before any output, metered (time to
first token, tokens/s), accumulated into a Response and its usage recorded in one shared
``UsageTracker``. A failed row is recorded with its error and the partial content received.

    python examples/data_app.py                               # offline, results in memory
    python examples/data_app.py --out results.db --concurrency 8
    python examples/data_app.py --out results.csv --model openai/gpt-4o-mini --prompts my.csv

The CSV needs a ``prompt`` column; ``id`` and ``max_tokens`` are optional. Without
OPENROUTER_API_KEY the embedded fake server answers, scripted so that one prompt is rate
limited once (then retried) and one stream breaks after a few words (recorded as an error with
its partial content).
"""

from __future__ import annotations

import argparse
import csv
import sqlite3
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Protocol

import reactivex
from reactivex import Observable
from reactivex import operators as ops

import openrouter_rx as orx
from openrouter_rx import operators as orx_ops
from openrouter_rx.testing import (
    ErrorReply,
    FakeOpenRouter,
    RecordedRequest,
    Reply,
    StreamReply,
    demo_client,
    text_chunks,
)

PROMPTS = Path(__file__).resolve().parent / "data" / "prompts.csv"


@dataclass(frozen=True)
class Row:
    """One prompt of the input CSV."""

    id: str
    prompt: str
    max_tokens: int | None = None


@dataclass(frozen=True)
class Result:
    """One output row: what the request gave, or how it failed (with the partial content)."""

    id: str
    prompt: str
    status: str  # "ok" or "error"
    content: str
    error: str | None
    attempts: int
    model: str | None
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    cost: str | None
    time_to_first_token: float | None
    tokens_per_second: float | None


def read_rows(path: Path) -> list[Row]:
    """The prompts of a CSV file (``prompt`` required; ``id`` defaults to the line number).

    Raises:
        ValueError: no ``prompt`` column, an empty prompt, or a ``max_tokens`` that is not a
            positive integer (the message names the line).
    """
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if "prompt" not in (reader.fieldnames or []):
            raise ValueError(f"{path}: no 'prompt' column (the header is {reader.fieldnames})")
        rows = []
        for number, record in enumerate(reader, 1):
            prompt = (record.get("prompt") or "").strip()
            limit = (record.get("max_tokens") or "").strip()
            if not prompt:
                raise ValueError(f"{path}, row {number}: the prompt is empty")
            if limit and not (limit.isdigit() and int(limit) > 0):
                raise ValueError(f"{path}, row {number}: max_tokens must be a positive integer, not {limit!r}")
            rows.append(Row(record.get("id") or str(number), prompt, int(limit) if limit else None))
        return rows


def request(client: orx.Client, row: Row, model: str, usage: orx.UsageTracker) -> Observable[Result]:
    """A cold observable of one row's Result: the request is sent when it is subscribed."""
    attempts = [1]

    def retried(attempt: int, error: BaseException, wait: float) -> None:
        attempts[0] += 1
        print(f"  [{row.id}] {type(error).__name__}: retry {attempt} in {wait:.2f}s", flush=True)

    chunks = client.stream(row.prompt, model=model, max_tokens=row.max_tokens).pipe(
        orx_ops.retry_with_backoff(base=0.1, max_retry_after=2.0, on_retry=retried),
        orx_ops.track_usage(usage),
    )

    def measured(shared: Observable[orx.Chunk]) -> Observable[tuple[orx.Response, orx.StreamMetrics]]:
        # publish(mapper) subscribes both branches before the request is sent: one request, two views.
        return reactivex.zip(shared.pipe(orx_ops.accumulate()), shared.pipe(orx_ops.meter(), ops.last()))

    def ok(pair: tuple[orx.Response, orx.StreamMetrics]) -> Result:
        response, metrics = pair
        return _result(row, attempts[0], response, metrics, None)

    def failed(error: Exception, _: Observable[Result]) -> Observable[Result]:
        partial = error.partial if isinstance(error, orx.OpenRouterError) else None
        return reactivex.just(_result(row, attempts[0], partial, None, error))

    return chunks.pipe(ops.publish(measured), ops.map(ok), ops.catch(failed))


def _result(
    row: Row, attempts: int, response: orx.Response | None, metrics: orx.StreamMetrics | None, error: Exception | None
) -> Result:
    cost = response.cost_estimate if response is not None else None
    return Result(
        id=row.id,
        prompt=row.prompt,
        status="ok" if error is None else "error",
        content=response.content if response is not None else "",
        error=f"{type(error).__name__}: {error}" if error is not None else None,
        attempts=attempts,
        model=response.model if response is not None else None,
        finish_reason=response.finish_reason if response is not None else None,
        prompt_tokens=response.prompt_tokens if response is not None else 0,
        completion_tokens=response.completion_tokens if response is not None else 0,
        cost=f"{cost:f}" if cost is not None else None,
        time_to_first_token=metrics.time_to_first_token if metrics is not None else None,
        tokens_per_second=metrics.tokens_per_second if metrics is not None else None,
    )


def results(
    client: orx.Client, rows: Sequence[Row], model: str, usage: orx.UsageTracker, concurrency: int
) -> Iterator[Result]:
    """Every row's Result, yielded on this thread as the requests finish (at most ``concurrency`` at once)."""

    def one(row: Row) -> Observable[Result]:
        return request(client, row, model, usage)

    pipeline: Observable[Result] = reactivex.from_iterable(rows).pipe(
        ops.map(one),
        ops.merge(max_concurrent=concurrency),
    )
    # blocking.iterate hands each result to this thread (SQLite connections are thread-bound);
    # leaving the loop early (an error in the writer, Ctrl-C) disposes: every open connection closes.
    return orx.blocking.iterate(pipeline)


class Writer(Protocol):
    """Where results go."""

    def write(self, result: Result) -> None: ...

    def close(self) -> None: ...


COLUMNS = [f.name for f in fields(Result)]


class SQLiteWriter:
    """Results appended to the ``results`` table of a SQLite database (``:memory:`` works too)."""

    def __init__(self, path: str) -> None:
        self.db = sqlite3.connect(path)
        self.db.execute(f"CREATE TABLE IF NOT EXISTS results ({', '.join(COLUMNS)})")

    def write(self, result: Result) -> None:
        """Insert one row (committed at :meth:`close`)."""
        marks = ", ".join("?" for _ in COLUMNS)
        self.db.execute(f"INSERT INTO results VALUES ({marks})", [getattr(result, name) for name in COLUMNS])

    def close(self) -> None:
        """Commit and close."""
        self.db.commit()
        self.db.close()


class CSVWriter:
    """Results into a CSV file with a header line."""

    def __init__(self, path: str) -> None:
        self.handle = open(path, "w", newline="", encoding="utf-8")
        self.out = csv.DictWriter(self.handle, fieldnames=COLUMNS)
        self.out.writeheader()

    def write(self, result: Result) -> None:
        """Write one row."""
        self.out.writerow(asdict(result))

    def close(self) -> None:
        """Close the file."""
        self.handle.close()


def open_writer(out: str) -> Writer:
    """A CSV writer for ``*.csv``, else SQLite."""
    return CSVWriter(out) if out.lower().endswith(".csv") else SQLiteWriter(out)


def script_fake_server(fake: FakeOpenRouter, rows: Sequence[Row]) -> None:
    """Offline answers: one prompt is rate limited once, one stream breaks after a few words."""
    limited, broken = rows[1].prompt, rows[-1].prompt
    seen: set[str] = set()
    lock = threading.Lock()

    def answer(request: RecordedRequest) -> Reply | None:
        body = request.json if isinstance(request.json, dict) else {}
        prompt = str(body.get("messages", [{}])[-1].get("content", ""))
        with lock:
            first = prompt not in seen
            seen.add(prompt)
        if prompt == limited and first:
            return ErrorReply(429, "Rate limit exceeded", headers={"Retry-After": "0"})
        text = f"An answer to '{prompt}' from the fake server, streamed word by word."
        if prompt == broken:
            return StreamReply(text_chunks(text), delay=0.005, disconnect_after=4)
        return StreamReply(text_chunks(text), delay=0.005)

    fake.responder = answer


def summary(written: Sequence[Result], usage: orx.UsageTracker) -> str:
    """Totals over the run."""
    ok = [r for r in written if r.status == "ok"]
    speeds = [r.tokens_per_second for r in ok if r.tokens_per_second]
    ttfts = [r.time_to_first_token for r in ok if r.time_to_first_token is not None]
    lines = [
        f"{len(written)} prompts: {len(ok)} ok, {len(written) - len(ok)} failed, "
        f"{sum(r.attempts - 1 for r in written)} retries",
        f"tokens: {usage.prompt_tokens} prompt + {usage.completion_tokens} completion = {usage.total_tokens}",
        f"cost: ${usage.cost:f} over {usage.requests} requests with usage",
    ]
    if ttfts and speeds:
        lines.append(
            f"mean time to first token {sum(ttfts) / len(ttfts):.3f}s, mean {sum(speeds) / len(speeds):.1f} tokens/s"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the pipeline; returns the exit status (0 even when some rows failed: they are recorded)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--prompts", default=str(PROMPTS), help="input CSV (a 'prompt' column)")
    parser.add_argument("--out", default=":memory:", help="results.db (SQLite) or results.csv; default: in memory")
    parser.add_argument("--concurrency", type=int, default=4, help="requests streaming at once")
    parser.add_argument("--model", default=orx.DEFAULT_MODEL)
    args = parser.parse_args(argv)
    if args.concurrency < 1:
        parser.error("--concurrency must be at least 1")

    try:
        rows = read_rows(Path(args.prompts))
    except (OSError, ValueError) as error:  # a missing file, a wrong header, a bad value: say which
        parser.error(str(error))
    usage = orx.UsageTracker()
    written: list[Result] = []
    with demo_client(timeout=orx.Timeout(connect=10, idle=60)) as (client, fake):
        if fake is not None and len(rows) >= 2:
            script_fake_server(fake, rows)
        writer = open_writer(args.out)
        try:
            for result in results(client, rows, args.model, usage, args.concurrency):
                writer.write(result)
                written.append(result)
                shown = result.content if result.status == "ok" else f"{result.error} (partial: {result.content!r})"
                print(f"[{result.id}] {result.status}: {shown[:90]}", flush=True)
        finally:
            writer.close()
    print(summary(written, usage))
    if args.out != ":memory:":
        print(f"results written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
