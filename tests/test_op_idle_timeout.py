"""idle_timeout(): exact timeouts in virtual time (one frame = one second), partials, disposal, loopback."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import reactivex
from reactivex import operators as ops
from reactivex.scheduler import CurrentThreadScheduler, ImmediateScheduler, ThreadPoolScheduler
from reactivex.testing import TestScheduler
from support import outcome

import openrouter_rx as orx
from openrouter_rx.chunk_stream import ChunkStream
from openrouter_rx.errors import IdleTimeout
from openrouter_rx.operators import accumulate, fallback_to_non_streaming
from openrouter_rx.operators._idle_timeout import idle_timeout
from openrouter_rx.testing import (
    ChunkFactory,
    CompletionReply,
    FakeOpenRouter,
    StreamReply,
    chunk_lookup,
    completion_body,
    run_marbles,
    text_chunks,
)

LOOKUP = chunk_lookup(a="Hel", b="lo", c=" world")


# -- marbles ----------------------------------------------------------------------


def test_a_lively_stream_passes_through_unchanged() -> None:
    marbles = "-a--b--c-|"
    run = run_marbles(idle_timeout(3), marbles, LOOKUP)
    assert run.events == run_marbles(None, marbles, LOOKUP).events
    assert run.disposals == [9]  # only the usual disposal after completion


def test_times_out_after_a_quiet_gap_with_the_partial_and_disposes_upstream() -> None:
    run = run_marbles(idle_timeout(3), "-a-b------c-|", LOOKUP)
    assert run.frames() == [1, 3, 6]
    assert run.disposals == [6]  # the upstream subscription is closed at the timeout
    error = run.error
    assert isinstance(error, IdleTimeout) and isinstance(error, orx.APITimeoutError)
    assert error.timeout == 3
    assert str(error) == "no chunk within 3 s after chunk 2"
    assert error.partial is not None and error.partial.content == "Hello"
    assert error.chunk_count == 2


def test_times_out_before_the_first_chunk() -> None:
    run = run_marbles(idle_timeout(2.5), "-----a-|", LOOKUP)
    assert run.events[0][0] == 2.5 and len(run.events) == 1
    error = run.error
    assert isinstance(error, IdleTimeout) and error.timeout == 2.5
    assert str(error) == "no chunk within 2.5 s of subscribing"
    assert error.chunk_count == 0 and error.partial is None  # nothing was received


def test_first_gives_the_first_chunk_a_different_allowance() -> None:
    operator = idle_timeout(3, first=6)
    passed = run_marbles(operator, "-----a-b-|", LOOKUP)
    assert passed.completed and passed.error is None
    late = run_marbles(operator, "--------a-|", LOOKUP)
    assert late.frames() == [6] and isinstance(late.error, IdleTimeout) and late.error.timeout == 6
    after_first = run_marbles(operator, "-----a------b-|", LOOKUP)
    assert after_first.frames() == [5, 8]  # after the first chunk the allowance is 3 again
    assert isinstance(after_first.error, IdleTimeout) and after_first.error.timeout == 3


def test_first_can_also_be_shorter() -> None:
    run = run_marbles(idle_timeout(10, first=1.5), "--a-|", LOOKUP)
    assert run.frames() == [1.5] and isinstance(run.error, IdleTimeout)


def test_every_chunk_counts_as_activity() -> None:
    f = ChunkFactory()
    lookup = chunk_lookup(r=f.role(), u=f.usage(1, 1), a="x")
    run = run_marbles(idle_timeout(3.5), "--r--a--u-|", lookup)  # a alone (at 5) or u alone would be late
    assert run.completed and run.error is None


def test_a_source_error_passes_through_untouched_and_stops_the_timer() -> None:
    error = orx.StreamError("provider failed", code=502)
    run = run_marbles(idle_timeout(3), "-a-#", LOOKUP, error=error)
    assert run.frames() == [1, 3]
    assert run.error is error and error.partial is None  # the source's error is not rewritten


class TimerLog(TestScheduler):
    """A TestScheduler that keeps the disposables of the timers idle_timeout arms."""

    def __init__(self) -> None:
        super().__init__()
        self.timers: list[Any] = []

    def schedule_relative(self, duetime: Any, action: Any, state: Any = None) -> Any:
        handle = super().schedule_relative(duetime, action, state)
        if "idle_timeout" in getattr(action, "__qualname__", ""):
            self.timers.append(handle)
        return handle


def test_completion_stops_the_timer() -> None:
    scheduler = TimerLog()
    run = run_marbles(idle_timeout(3), "-a|", LOOKUP, scheduler=scheduler)
    assert run.frames() == [1, 2]
    assert len(scheduler.timers) == 1 and scheduler.timers[0].is_disposed


def test_early_dispose_stops_everything() -> None:
    scheduler = TimerLog()
    run = run_marbles(idle_timeout(3), "-a-b------c-|", LOOKUP, dispose_at=4, scheduler=scheduler)
    assert run.frames() == [1, 3]
    assert run.disposals == [4]
    assert scheduler.timers and all(timer.is_disposed for timer in scheduler.timers)


def test_one_timer_per_allowance_not_one_per_chunk() -> None:
    scheduler = TimerLog()
    marbles = "-a" * 100 + "-|"  # 100 chunks, one every 2 s, allowance 20 s
    run = run_marbles(idle_timeout(20), marbles, chunk_lookup(a="x"), scheduler=scheduler)
    assert run.completed and len(run.values) == 100
    assert len(scheduler.timers) == 11  # armed at 0, then re-armed every 19 s (at 20, 39, ... 191)


def test_each_resubscription_gets_its_own_timer_and_partial() -> None:
    run = run_marbles(lambda s: s.pipe(idle_timeout(2), ops.retry(2)), "-a------|", LOOKUP)
    assert run.subscriptions == [0, 3]
    assert run.frames() == [1, 4, 6]
    error = run.error
    assert isinstance(error, IdleTimeout) and error.chunk_count == 1 and error.partial is not None
    assert error.partial.content == "Hel"  # the second attempt only


def test_state_is_per_subscription() -> None:
    operator = idle_timeout(3)
    first = run_marbles(operator, "-a-b------c-|", LOOKUP)
    second = run_marbles(operator, "-a-b------c-|", LOOKUP)
    assert first.frames() == second.frames() == [1, 3, 6]
    assert second.error is not None and second.error is not first.error
    assert getattr(second.error, "chunk_count", None) == 2


def test_time_spent_downstream_does_not_count() -> None:
    scheduler = TestScheduler()

    def slow_consumer(chunk: Any) -> None:
        if chunk.content == "Hel":
            scheduler.sleep(10)  # the consumer takes 10 virtual seconds over the first chunk

    run = run_marbles(
        lambda s: s.pipe(idle_timeout(3), ops.do_action(slow_consumer)), "-a-b-|", LOOKUP, scheduler=scheduler
    )
    assert run.error is None and run.completed
    assert [value.content for value in run.values] == ["Hel", "lo"]


def test_an_explicit_scheduler_runs_the_timers() -> None:
    timers = TestScheduler()
    run = run_marbles(idle_timeout(3, scheduler=timers), "-a-b------c-|", LOOKUP)
    assert run.error is None and run.completed  # the explicit clock never advances: no timeout
    timers.advance_by(100)  # and the stream's timer was cancelled when it completed
    assert run.error is None


def test_a_bad_item_becomes_an_error() -> None:
    run = run_marbles(idle_timeout(3), "-a-b-|", {"a": orx.Chunk(), "b": "not a chunk"})
    assert run.frames() == [1, 3]
    assert isinstance(run.error, AttributeError)


@pytest.mark.parametrize(("seconds", "first"), [(0, None), (-1.0, None), (1.0, 0), (1.0, -2.0)])
def test_allowances_must_be_positive(seconds: float, first: float | None) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        idle_timeout(seconds, first=first)


def test_thread_timer_fires_while_a_source_blocks_inside_subscribe() -> None:
    release = threading.Event()

    def blocking(observer: Any, _: Any = None) -> Any:
        observer.on_next(orx.Chunk.from_dict({"choices": [{"index": 0, "delta": {"content": "x"}}]}))
        release.wait(10)  # a source that never yields the thread (no scheduler involved)
        observer.on_completed()
        return reactivex.disposable.Disposable()

    errors: list[Exception] = []
    got_error = threading.Event()

    def on_error(error: Exception) -> None:
        errors.append(error)
        got_error.set()
        release.set()

    reactivex.create(blocking).pipe(idle_timeout(0.05)).subscribe(on_error=on_error)
    assert got_error.is_set()  # subscribe returned only after the timer thread reported
    assert isinstance(errors[0], IdleTimeout) and errors[0].chunk_count == 1


# -- loopback against the fake server --------------------------------------------


@pytest.fixture
def client(fake_openrouter: FakeOpenRouter) -> Any:
    timeout = orx.Timeout(connect=5, idle=30)  # the client's own idle limit is far away
    with orx.Client(api_key="sk-test", base_url=fake_openrouter.base_url, timeout=timeout) as c:
        yield c




def test_loopback_a_normal_stream_passes(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    wire = text_chunks("nothing to see here", cost=0.0001)
    fake_openrouter.enqueue(StreamReply(wire, delay=0.005))
    items, error = outcome(client.stream("hi").pipe(idle_timeout(10)))
    assert error is None
    assert [chunk.raw for chunk in items] == wire


@pytest.mark.parametrize(
    "subscribe_scheduler",
    # CurrentThreadScheduler.singleton(): a fresh CurrentThreadScheduler() has its own trampoline, so the client
    # reads inside subscribe() before the disposable exists, and no operator can close the connection early.
    [None, CurrentThreadScheduler.singleton(), ImmediateScheduler(), ThreadPoolScheduler(2)],
    ids=["default", "current-thread", "immediate", "thread-pool"],
)
def test_loopback_stall_times_out_closes_the_connection_and_keeps_the_partial(
    fake_openrouter: FakeOpenRouter, client: orx.Client, subscribe_scheduler: Any
) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks("first second third"), stall_after=2))
    items, error = outcome(client.stream("hi").pipe(idle_timeout(0.5, first=10)), scheduler=subscribe_scheduler)
    assert isinstance(error, IdleTimeout), error
    assert error.timeout == 0.5  # ours, not the client's 30 s limit
    assert error.chunk_count == len(items) == 2  # the role chunk and "first "
    assert error.partial is not None and error.partial.content == "first "
    assert fake_openrouter.wait_for_requests(1)[0].wait_disconnected(5.0), "the server did not see the client go"


def test_loopback_run_raises_the_idle_timeout(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks("a b c"), stall_after=1))
    with pytest.raises(IdleTimeout) as caught:
        client.stream("hi").pipe(idle_timeout(0.3, first=10), ops.to_list()).run()
    assert caught.value.chunk_count == 1
    assert fake_openrouter.wait_for_requests(1)[0].wait_disconnected(5.0)


def test_loopback_a_stall_before_output_falls_back_to_non_streaming(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    fake_openrouter.enqueue(
        StreamReply(text_chunks("never sent"), stall_after=1),  # the role chunk, then silence
        CompletionReply(completion_body("the fallback answer")),
    )
    timed = client.stream("hi").pipe(idle_timeout(0.3, first=10))
    assert isinstance(timed, ChunkStream)
    response = timed.pipe(fallback_to_non_streaming(), accumulate()).run()
    assert response.content == "the fallback answer"
    requests = fake_openrouter.wait_for_requests(2)
    assert requests[0].stream and not requests[1].stream
    assert requests[0].wait_disconnected(5.0)
