"""UsageTracker (exact sums, snapshots, many threads) and track_usage() (marbles and loopback)."""

from __future__ import annotations

import json
import threading
from decimal import Decimal
from typing import Any

import pytest
import reactivex
from reactivex import operators as ops
from reactivex.testing import TestScheduler

import openrouter_rx as orx
from openrouter_rx.chunk_stream import ChunkStream
from openrouter_rx.operators import accumulate, fallback_to_non_streaming
from openrouter_rx.operators._track_usage import track_usage
from openrouter_rx.testing import (
    ChunkFactory,
    CompletionReply,
    ErrorReply,
    FakeOpenRouter,
    StreamReply,
    chunk_lookup,
    completion_body,
    run_marbles,
    text_chunks,
    usage_dict,
)
from openrouter_rx.usage import UNKNOWN_MODEL, UsageTotals, UsageTracker


def usage(prompt: int = 10, completion: int = 5, cost: Any = 0.001, **extra: Any) -> orx.Usage:
    wire = usage_dict(prompt, completion, cost=0.0, **extra)
    wire["cost"] = cost
    return orx.Usage.from_dict(wire)


# -- UsageTracker ------------------------------------------------------------------


def test_records_totals_and_per_model_breakdown() -> None:
    tracker = UsageTracker()
    tracker.record(usage(10, 5, "0.001", cached_tokens=4, reasoning_tokens=2), "openai/gpt-4o")
    tracker.record(usage(20, 7, "0.002"), "anthropic/claude")
    tracker.record(usage(1, 1, "0.0005"), "openai/gpt-4o")
    assert (tracker.requests, tracker.prompt_tokens, tracker.completion_tokens, tracker.total_tokens) == (3, 31, 13, 44)
    assert (tracker.cached_tokens, tracker.reasoning_tokens) == (4, 2)
    assert tracker.cost == Decimal("0.0035")
    assert tracker.by_model == {
        "openai/gpt-4o": UsageTotals(2, 11, 6, 17, 4, 2, Decimal("0.0015")),
        "anthropic/claude": UsageTotals(1, 20, 7, 27, 0, 0, Decimal("0.002")),
    }
    assert list(tracker.by_model) == ["openai/gpt-4o", "anthropic/claude"]  # order of first use
    assert tracker.totals() == UsageTotals(3, 31, 13, 44, 4, 2, Decimal("0.0035"))


def test_cost_is_summed_exactly() -> None:
    tracker = UsageTracker()
    for _ in range(10):
        tracker.record(usage(cost=0.1))  # floats would sum to 0.9999999999999999
    tracker.record(usage(cost=2.95e-05))
    assert tracker.cost == Decimal("1.0000295")


def test_missing_cost_and_missing_model() -> None:
    tracker = UsageTracker()
    tracker.record(usage(3, 4, None))
    tracker.record(usage(1, 1, 0.5), None)
    assert tracker.cost == Decimal("0.5") and tracker.requests == 2
    assert list(tracker.by_model) == [UNKNOWN_MODEL]
    assert tracker.by_model[UNKNOWN_MODEL].total_tokens == 9


def test_summary_is_json_friendly_with_cost_as_a_plain_string() -> None:
    tracker = UsageTracker()
    tracker.record(usage(10, 5, 1e-7), "m/a")
    summary = tracker.summary()
    assert json.loads(json.dumps(summary)) == summary
    assert summary == {
        "requests": 1,
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "total_tokens": 15,
        "cached_tokens": 0,
        "reasoning_tokens": 0,
        "cost": "0.0000001",
        "by_model": {
            "m/a": {
                "requests": 1,
                "prompt_tokens": 10,
                "completion_tokens": 5,
                "total_tokens": 15,
                "cached_tokens": 0,
                "reasoning_tokens": 0,
                "cost": "0.0000001",
            }
        },
    }
    assert UsageTracker().summary()["cost"] == "0"


def test_reset_and_repr() -> None:
    tracker = UsageTracker()
    tracker.record(usage(30, 12, "0.00003"), "a/b")
    tracker.record(usage(0, 0, "0"), "c/d")
    assert repr(tracker) == (
        "UsageTracker(requests=2, total_tokens=42 (prompt 30, completion 12), cost=0.00003, models=2)"
    )
    tracker.reset()
    assert tracker.totals() == UsageTotals() and tracker.by_model == {}
    assert repr(tracker) == "UsageTracker(requests=0, total_tokens=0 (prompt 0, completion 0), cost=0, models=0)"


def test_snapshots_do_not_change_with_later_records() -> None:
    tracker = UsageTracker()
    tracker.record(usage(1, 1, 1), "m")
    by_model, totals = tracker.by_model, tracker.totals()
    tracker.record(usage(1, 1, 1), "m")
    assert by_model["m"].requests == 1 and totals.requests == 1
    with pytest.raises(AttributeError):
        totals.requests = 5  # type: ignore[misc]


def test_many_threads_record_concurrently_and_every_snapshot_is_consistent() -> None:
    tracker = UsageTracker()
    threads, per_thread = 16, 300
    models = ["m/a", "m/b", "m/c", None]
    start = threading.Barrier(threads + 1)
    stop = threading.Event()
    inconsistent: list[dict[str, Any]] = []

    def writer(number: int) -> None:
        start.wait()
        for i in range(per_thread):
            tracker.record(usage(3, 2, "0.0000001", cached_tokens=1, reasoning_tokens=1), models[(number + i) % 4])

    def reader() -> None:
        start.wait()
        while not stop.is_set():
            summary = tracker.summary()
            by_model = summary["by_model"].values()
            if sum(m["requests"] for m in by_model) != summary["requests"] or sum(
                Decimal(m["cost"]) for m in by_model
            ) != Decimal(summary["cost"]):
                inconsistent.append(summary)

    workers = [threading.Thread(target=writer, args=(n,)) for n in range(threads)]
    watcher = threading.Thread(target=reader)
    for thread in [*workers, watcher]:
        thread.start()
    for thread in workers:
        thread.join()
    stop.set()
    watcher.join()
    total = threads * per_thread
    expected = UsageTotals(total, 3 * total, 2 * total, 5 * total, total, total, Decimal("1E-7") * total)
    assert tracker.totals() == expected
    assert sorted(tracker.by_model) == sorted(["m/a", "m/b", "m/c", UNKNOWN_MODEL])
    assert all(record.requests == total // 4 for record in tracker.by_model.values())
    assert not inconsistent


# -- track_usage: marbles -----------------------------------------------------------


def stream_lookup(model: str = "openai/gpt-4o-mini", **extra: Any) -> dict[str | float, Any]:
    f = ChunkFactory(model=model)
    return chunk_lookup(r=f.role(), a=f.text("Hi")[0], u=f.usage(12, 3, cost=0.25), **extra)


def test_passes_every_chunk_through_unchanged_and_records_once_at_the_usage_chunk() -> None:
    tracker = UsageTracker()
    lookup = stream_lookup()
    seen: list[int] = []
    watch = ops.do_action(lambda _: seen.append(tracker.requests))
    run = run_marbles(lambda s: s.pipe(track_usage(tracker), watch), "-r-a-u-|", lookup)
    assert run.events == run_marbles(None, "-r-a-u-|", lookup).events
    assert seen == [0, 0, 1]  # recorded before the usage chunk is passed on
    assert tracker.by_model == {"openai/gpt-4o-mini": UsageTotals(1, 12, 3, 15, 0, 0, Decimal("0.25"))}


def test_only_the_first_usage_chunk_of_a_subscription_counts() -> None:
    tracker = UsageTracker()
    run_marbles(track_usage(tracker), "-a-u-u-|", stream_lookup())
    assert tracker.requests == 1 and tracker.prompt_tokens == 12


def test_model_comes_from_the_first_chunk_that_has_one() -> None:
    tracker = UsageTracker()
    lookup = stream_lookup("late/model", n="no model", m=ChunkFactory(model="first/model").role())
    run_marbles(track_usage(tracker), "-n-m-u-|", lookup)
    run_marbles(track_usage(tracker), "-n-u-|", lookup)  # only the usage chunk names one
    bare = chunk_lookup(u={"choices": [], "usage": usage_dict(1, 1)})
    run_marbles(track_usage(tracker), "-u-|", bare)
    assert list(tracker.by_model) == ["first/model", "late/model", UNKNOWN_MODEL]


def test_recorded_even_when_the_stream_then_fails() -> None:
    tracker = UsageTracker()
    error = orx.StreamError("late failure")
    run = run_marbles(track_usage(tracker), "-a-u-#", stream_lookup(), error=error)
    assert run.error is error and run.frames() == [1, 3, 5]
    assert tracker.requests == 1


def test_nothing_recorded_without_usage_on_error_or_dispose() -> None:
    tracker = UsageTracker()
    run_marbles(track_usage(tracker), "-a-#", stream_lookup(), error=orx.StreamError("x"))
    run_marbles(track_usage(tracker), "-a-|", stream_lookup())
    run = run_marbles(track_usage(tracker), "-a---u-|", stream_lookup(), dispose_at=3)
    assert run.disposals == [3] and run.frames() == [1]
    assert tracker.requests == 0


def test_each_resubscription_is_a_separate_request() -> None:
    tracker = UsageTracker()
    operator = track_usage(tracker)
    run = run_marbles(lambda s: s.pipe(operator, ops.retry(3)), "-a-u-#", stream_lookup(), error=orx.StreamError("x"))
    assert run.subscriptions == [0, 5, 10]
    assert tracker.requests == 3 and tracker.cost == Decimal("0.75")
    run_marbles(lambda s: s.pipe(operator, ops.retry(3)), "-a-#", stream_lookup(), error=orx.StreamError("x"))
    assert tracker.requests == 3  # attempts without usage record nothing


def test_only_attempts_that_deliver_usage_count() -> None:
    scheduler = TestScheduler()
    lookup = stream_lookup()
    attempts = iter(["-a-#", "-a-u-|"])

    def source(_: Any) -> reactivex.Observable[Any]:
        return reactivex.from_marbles(next(attempts), timespan=1.0, lookup=lookup, error=orx.StreamError("x"))

    tracker = UsageTracker()
    observer = scheduler.start(lambda: reactivex.defer(source).pipe(track_usage(tracker), ops.retry(2)))
    assert [message.time for message in observer.messages] == [201, 204, 206, 208]  # a, then a u | after the retry
    assert tracker.requests == 1


def test_a_failing_tracker_becomes_an_error() -> None:
    class Broken(UsageTracker):
        def record(self, usage: orx.Usage, model: str | None = None) -> None:
            raise RuntimeError("disk full")

    run = run_marbles(track_usage(Broken()), "-a-u-|", stream_lookup())
    assert run.frames() == [1, 3]
    assert isinstance(run.error, RuntimeError)


# -- track_usage: loopback ------------------------------------------------------------


def test_loopback_records_each_request_once(fake_openrouter: FakeOpenRouter) -> None:
    fake_openrouter.enqueue(
        StreamReply(text_chunks("one", model="m/one", prompt_tokens=5, cost=0.00001)),
        StreamReply(text_chunks("two words", model="m/two", prompt_tokens=7, cost=0.00002)),
    )
    tracker = UsageTracker()
    with orx.Client(api_key="sk-test", base_url=fake_openrouter.base_url) as client:
        first = client.stream("a").pipe(track_usage(tracker), ops.to_list()).run()
        second = client.stream("b").pipe(track_usage(tracker), ops.to_list()).run()
    assert orx.Response.from_chunks(first).content == "one" and orx.Response.from_chunks(second).content == "two words"
    assert tracker.requests == 2 and tracker.prompt_tokens == 12
    assert tracker.cost == Decimal("0.00003")
    assert {model: record.requests for model, record in tracker.by_model.items()} == {"m/one": 1, "m/two": 1}


def test_loopback_retry_after_a_status_error_records_only_the_attempt_with_usage(
    fake_openrouter: FakeOpenRouter,
) -> None:
    fake_openrouter.enqueue(ErrorReply(502, "provider down"), StreamReply(text_chunks("ok now", cost=0.5)))
    tracker = UsageTracker()
    with orx.Client(api_key="sk-test", base_url=fake_openrouter.base_url) as client:
        chunks = client.stream("hi").pipe(track_usage(tracker), ops.retry(2), ops.to_list()).run()
    assert orx.Response.from_chunks(chunks).content == "ok now"
    assert len(fake_openrouter.requests) == 2
    assert tracker.requests == 1 and tracker.cost == Decimal("0.5")


def test_loopback_usage_before_a_mid_stream_error_is_recorded(fake_openrouter: FakeOpenRouter) -> None:
    f = ChunkFactory(model="m/x")
    fake_openrouter.enqueue(StreamReply([f.role(), *f.text("half"), f.usage(9, 1, cost=0.125), f.error(502)]))
    tracker = UsageTracker()
    with orx.Client(api_key="sk-test", base_url=fake_openrouter.base_url) as client:
        with pytest.raises(orx.StreamError):
            client.stream("hi").pipe(track_usage(tracker), ops.to_list()).run()
    assert tracker.by_model == {"m/x": UsageTotals(1, 9, 1, 10, 0, 0, Decimal("0.125"))}


def test_loopback_concurrent_streams_share_one_operator_and_tracker(fake_openrouter: FakeOpenRouter) -> None:
    streams = 8
    fake_openrouter.enqueue(*[StreamReply(text_chunks("a b c", cost=0.25), delay=0.002) for _ in range(streams)])
    tracker = UsageTracker()
    operator = track_usage(tracker)
    lock = threading.Lock()
    ended: list[Exception | None] = []
    all_ended = threading.Event()

    def end(error: Exception | None = None) -> None:
        with lock:
            ended.append(error)
            if len(ended) == streams:
                all_ended.set()

    with orx.Client(api_key="sk-test", base_url=fake_openrouter.base_url, pool_size=4) as client:
        observable = client.stream("hi").pipe(operator)
        for _ in range(streams):
            observable.subscribe(on_error=end, on_completed=end)
        assert all_ended.wait(10)
    errors = [error for error in ended if error is not None]
    assert not errors
    assert tracker.requests == streams and tracker.cost == Decimal("2.00")
    assert tracker.completion_tokens == streams * 3


def test_loopback_keeps_the_chunk_stream_so_a_fallback_can_follow(fake_openrouter: FakeOpenRouter) -> None:
    fake_openrouter.enqueue(
        StreamReply([ChunkFactory().role()], disconnect_after=1),  # fails before any output or usage
        CompletionReply(completion_body("answered without streaming", model="m/fallback", cost=0.75)),
    )
    on_source, after_fallback = UsageTracker(), UsageTracker()
    with orx.Client(api_key="sk-test", base_url=fake_openrouter.base_url) as client:
        tracked = client.stream("hi").pipe(track_usage(on_source))
        assert isinstance(tracked, ChunkStream)
        response = tracked.pipe(fallback_to_non_streaming(), track_usage(after_fallback), accumulate()).run()
    assert response.content == "answered without streaming"
    assert on_source.requests == 0  # the stream sent no usage, and the fallback request is downstream of it
    assert after_fallback.by_model == {"m/fallback": UsageTotals(1, 10, 3, 13, 0, 0, Decimal("0.75"))}
