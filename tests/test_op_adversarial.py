"""Adversarial review of the RxPY operators: races, re-entrancy, schedulers, boundaries, partials.

Passing tests document behaviour that holds under pressure. Each bug found has a test marked
``xfail(strict=True, reason="BUG: ...")`` until fixed; all the bugs found are fixed now, and their
tests stand as regression tests.
Real HTTP over loopback against FakeOpenRouter (no mocks); assertions on values, counts and
orderings, never on durations; every blocking wait has a timeout.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
import reactivex
from reactivex import operators as ops
from reactivex.scheduler import (
    CurrentThreadScheduler,
    EventLoopScheduler,
    ImmediateScheduler,
    NewThreadScheduler,
    ThreadPoolScheduler,
)
from reactivex.scheduler.eventloop import AsyncIOThreadSafeScheduler
from reactivex.subject import Subject
from reactivex.testing import TestScheduler
from support import WAIT, Sink

import openrouter_rx as orx
from openrouter_rx import operators as orx_ops
from openrouter_rx.testing import (
    ChunkFactory,
    CompletionReply,
    ErrorReply,
    FakeOpenRouter,
    Pause,
    StreamReply,
    chunk_lookup,
    completion_body,
    run_marbles,
    text_chunks,
    tool_call_chunks,
)

KEY = "sk-or-v1-op-adversarial-0123456789"
F = ChunkFactory()


@pytest.fixture
def client(fake_openrouter: FakeOpenRouter) -> Iterator[orx.Client]:
    with orx.Client(api_key=KEY, base_url=fake_openrouter.base_url, timeout=orx.Timeout(connect=2, idle=5)) as c:
        yield c


class Boom(Exception):
    """An exception raised by 'user code' downstream."""


class Grammar:
    """An observer that records every event (thread-safe) and notes any Rx grammar violation."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.items: list[Any] = []
        self.terminals: list[tuple[str, Any]] = []
        self.violations: list[str] = []
        self.done = threading.Event()

    def on_next(self, value: Any) -> None:
        with self.lock:
            if self.terminals:
                self.violations.append("on_next after the terminal event")
            self.items.append(value)

    def on_error(self, error: Exception) -> None:
        with self.lock:
            if self.terminals:
                self.violations.append("second terminal event")
            self.terminals.append(("E", error))
        self.done.set()

    def on_completed(self) -> None:
        with self.lock:
            if self.terminals:
                self.violations.append("second terminal event")
            self.terminals.append(("C", None))
        self.done.set()

    def wait(self) -> Grammar:
        assert self.done.wait(WAIT), "the observable did not end in time"
        return self


def chunks_of(*wire: dict[str, Any]) -> list[orx.Chunk]:
    return [orx.Chunk.from_dict(item) for item in wire]


def timer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if isinstance(t, threading.Timer) and t.is_alive()]


def join_timers() -> None:
    for timer in timer_threads():
        timer.join(WAIT)
    assert timer_threads() == []


def stalled(wire: list[dict[str, Any]]) -> StreamReply:
    """Serve ``wire`` then hold the connection open (keep-alives) until the client leaves."""
    return StreamReply(wire, stall_after=len(wire), stall_keepalive=0.05)


MIXED = [
    F.role(),
    *F.reasoning("hmm"),
    *F.tool_calls([{"name": "f", "arguments": {"x": 1}}], fragments=2),
    *F.text("Hello there"),
]


# ======================================================================================
# BUGS
# ======================================================================================


def test_an_earlier_snapshot_is_not_changed_by_later_reasoning_details() -> None:
    wire = [F.role(), *F.reasoning("think more deeply", details=True), *F.text("ok"), F.finish()]
    snaps = reactivex.from_iterable(chunks_of(*wire)).pipe(orx_ops.snapshots(), ops.to_list()).run()
    first = snaps[1]  # after the first reasoning chunk
    assert first.reasoning == "think "
    # reasoning and reasoning_details of one snapshot must describe the same moment
    assert first.choice(0).reasoning_details[0]["text"] == "think "


@pytest.mark.parametrize("operator", ["tool_calls", "accumulate"])
def test_a_new_id_on_the_same_index_is_a_new_call(operator: str) -> None:
    # Ollama, some Gemini/Responses translations and proxies send every parallel call at index 0
    # (or without an index, which becomes position 0); the ids still tell the calls apart.
    wire = [
        F.chunk(
            {
                "tool_calls": [
                    {"index": 0, "id": "call_a", "type": "function", "function": {"name": "f", "arguments": '{"x":1}'}}
                ]
            }
        ),
        F.chunk(
            {"tool_calls": [{"id": "call_b", "type": "function", "function": {"name": "g", "arguments": '{"y":2}'}}]}
        ),
        F.finish("tool_calls"),
    ]
    source = reactivex.from_iterable(chunks_of(*wire))
    if operator == "tool_calls":
        calls = source.pipe(orx_ops.tool_calls(), ops.to_list()).run()
    else:
        calls = source.pipe(orx_ops.accumulate()).run().tool_calls
    assert [(c.id, c.name, c.arguments) for c in calls] == [("call_a", "f", {"x": 1}), ("call_b", "g", {"y": 2})]


@pytest.mark.parametrize("scheduler", [CurrentThreadScheduler, ImmediateScheduler], ids=["trampoline", "immediate"])
def test_dispose_stops_a_retried_attempt_read_synchronously(
    fake_openrouter: FakeOpenRouter, client: orx.Client, scheduler: Callable[[], Any]
) -> None:
    wire = [F.role(), *F.text("first"), Pause(0.3), *F.text("never needed"), F.finish(), F.usage()]
    fake_openrouter.enqueue(ErrorReply(503), StreamReply(wire))
    seen: list[orx.Chunk] = []
    readers: list[threading.Thread] = []

    def spy(chunk: orx.Chunk) -> None:
        seen.append(chunk)
        readers.append(threading.current_thread())

    sink = Sink().subscribe_to(
        client.stream("hi").pipe(
            ops.do_action(spy), orx_ops.retry_with_backoff(base=0.01, jitter=False), orx_ops.content(), ops.take(1)
        ),
        scheduler=scheduler(),
    )
    assert sink.ok() == ["first"]
    readers[0].join(WAIT)  # the thread that read the second attempt
    assert not readers[0].is_alive()
    assert not any(chunk.usage for chunk in seen), "the reader went on to the end of the stream after dispose"


def _raise_on(predicate: Callable[[Any], bool]) -> Callable[[Any], None]:
    def on_next(value: Any) -> None:
        if predicate(value):
            raise Boom("user on_next failed")

    return on_next


NO_OUTPUT = [F.role(), F.finish(), F.usage()]
TOOLS_NO_FINISH = F.tool_calls([{"name": "f", "arguments": {"a": 1}}])  # calls flushed at completion

AT_COMPLETION = [
    pytest.param(orx_ops.accumulate, text_chunks("hi there"), lambda v: True, id="accumulate"),
    pytest.param(orx_ops.meter, text_chunks("hi there"), lambda v: v.final, id="meter-final"),
    pytest.param(orx_ops.tool_calls, TOOLS_NO_FINISH, lambda v: True, id="tool_calls-flush"),
    pytest.param(orx_ops.retry_with_backoff, NO_OUTPUT, lambda v: True, id="retry-held-chunks"),
    pytest.param(orx_ops.fallback_to_non_streaming, NO_OUTPUT, lambda v: True, id="fallback-held-chunks"),
]


@pytest.mark.parametrize(("make", "wire", "when"), AT_COMPLETION)
def test_exception_in_on_next_at_completion_reaches_on_error(
    fake_openrouter: FakeOpenRouter, client: orx.Client, make: Callable[[], Any], wire: list[Any], when: Any
) -> None:
    fake_openrouter.enqueue(StreamReply(wire))
    box = Grammar()
    # Synchronous read: when subscribe() returns, the exchange is over (no waiting needed).
    client.stream("hi").pipe(make()).subscribe(
        _raise_on(when), box.on_error, box.on_completed, scheduler=CurrentThreadScheduler()
    )
    assert box.done.is_set(), "the subscriber got no terminal event"
    assert isinstance(box.terminals[0][1], Boom)


def test_retry_on_that_raises_is_delivered_to_on_error() -> None:
    def retry_on(_: BaseException) -> bool:
        raise Boom("predicate bug")

    run = run_marbles(
        orx_ops.retry_with_backoff(retry_on=retry_on, jitter=False), "-#", {}, error=orx.ServerError("x", status=500)
    )
    assert isinstance(run.error, Boom)


def test_fallback_when_that_raises_is_delivered_to_on_error() -> None:
    def when(_: BaseException) -> bool:
        raise Boom("predicate bug")

    run = run_marbles(
        orx_ops.fallback_to_non_streaming(reactivex.of(orx.Response()), when=when),
        "-#",
        {},
        error=orx.ServerError("x", status=500),
    )
    assert isinstance(run.error, Boom)


def test_retry_on_that_raises_on_the_pool_ends_the_subscription(fake_openrouter: FakeOpenRouter) -> None:
    fake_openrouter.enqueue(ErrorReply(503))

    def retry_on(_: BaseException) -> bool:
        raise Boom("predicate bug")

    with orx.Client(api_key=KEY, base_url=fake_openrouter.base_url) as c:
        pool = c.scheduler
        assert isinstance(pool, ThreadPoolScheduler)
        sink = Sink().subscribe_to(c.stream("hi").pipe(orx_ops.retry_with_backoff(retry_on=retry_on)))
        fake_openrouter.wait_for_requests(1, WAIT)
        assert fake_openrouter.requests[0].wait_finished(WAIT)
        pool.executor.shutdown(wait=True)  # the reader has delivered the error, or lost it
    assert sink.done.is_set(), "no terminal event: the subscriber would wait forever"


def test_idle_timeout_fires_when_the_read_runs_on_an_event_loop_scheduler(fake_openrouter: FakeOpenRouter) -> None:
    fake_openrouter.enqueue(stalled([F.role(), *F.text("a")]))
    loop = EventLoopScheduler()
    try:
        with orx.Client(api_key=KEY, base_url=fake_openrouter.base_url, timeout=orx.Timeout(connect=2, idle=1)) as c:
            sink = Sink().subscribe_to(c.stream("hi").pipe(orx_ops.idle_timeout(0.05)), scheduler=loop).wait()
        assert isinstance(sink.error, orx.IdleTimeout)
        assert sink.error.timeout == 0.05  # the operator's limit, not the transport's (1 s)
    finally:
        loop.dispose()


def test_user_exception_during_fallback_chunks_keeps_its_own_cause(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    fake_openrouter.enqueue(ErrorReply(502), CompletionReply(completion_body("hello")))
    box = Grammar()
    client.stream("hi").pipe(orx_ops.fallback_to_non_streaming()).subscribe(
        _raise_on(lambda c: bool(c.content)), box.on_error, box.on_completed
    )
    box.wait()
    error = box.terminals[0][1]
    assert isinstance(error, Boom)
    assert error.__cause__ is None


# ======================================================================================
# HOLDS: races and disposal
# ======================================================================================


def test_dispose_during_the_retry_wait_sends_nothing_more_and_leaves_no_timer(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    fake_openrouter.enqueue(ErrorReply(503), StreamReply(text_chunks("never")))
    waiting = threading.Event()
    box = Grammar()
    subscription = (
        client.stream("hi")
        .pipe(orx_ops.retry_with_backoff(base=30.0, jitter=False, on_retry=lambda *_: waiting.set()))
        .subscribe(box.on_next, box.on_error, box.on_completed)
    )
    assert waiting.wait(WAIT)
    disposer = threading.Thread(target=subscription.dispose)
    disposer.start()
    disposer.join(WAIT)
    join_timers()
    assert len(fake_openrouter.requests) == 1 and fake_openrouter.pending == 1
    assert box.items == [] and box.terminals == [] and box.violations == []


def test_dispose_while_the_fallback_request_is_in_flight_disconnects_it(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    slow = CompletionReply(completion_body("late"), delay=0.05, leading_whitespace=400)
    fake_openrouter.enqueue(ErrorReply(502), slow)
    box = Grammar()
    subscription = (
        client.stream("hi")
        .pipe(orx_ops.fallback_to_non_streaming())
        .subscribe(box.on_next, box.on_error, box.on_completed)
    )
    requests = fake_openrouter.wait_for_requests(2, WAIT)
    assert requests[1].json["stream"] is False
    threading.Thread(target=subscription.dispose).start()
    assert requests[1].wait_disconnected(WAIT)
    assert box.items == [] and box.terminals == []


def test_idle_timeout_racing_chunks_and_completion_gives_one_terminal() -> None:
    """A source on another thread completes right around the moment the timer fires."""
    outcomes = set()
    for round_ in range(40):
        subject: Subject[orx.Chunk] = Subject()
        box = Grammar()
        subject.pipe(orx_ops.idle_timeout(0.002)).subscribe(box.on_next, box.on_error, box.on_completed)
        chunk = chunks_of(*F.text("x"))[0]

        def emit(
            pause: float = 0.0005 * (round_ % 8), subject: Subject[orx.Chunk] = subject, chunk: orx.Chunk = chunk
        ) -> None:
            threading.Event().wait(pause)
            subject.on_next(chunk)
            threading.Event().wait(pause)
            subject.on_completed()

        emitter = threading.Thread(target=emit)
        emitter.start()
        emitter.join(WAIT)
        box.wait()
        join_timers()
        assert len(box.terminals) == 1 and box.violations == []
        kind, error = box.terminals[0]
        if kind == "E":
            assert isinstance(error, orx.IdleTimeout)
            assert error.partial is None or error.partial.content == "".join(c.content or "" for c in box.items)
        outcomes.add(kind)
    assert outcomes <= {"C", "E"}


def test_dispose_from_another_thread_while_each_operator_emits(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    factories: list[Callable[[], Any]] = [
        orx_ops.content,
        orx_ops.snapshots,
        orx_ops.meter,
        orx_ops.retry_with_backoff,
        lambda: orx_ops.fallback_to_non_streaming(client.complete("hi")),  # the spy hides the ChunkStream
        lambda: orx_ops.idle_timeout(5),
        lambda: orx_ops.track_usage(orx.UsageTracker()),
    ]
    for make in factories:
        fake_openrouter.reset()
        fake_openrouter.enqueue(stalled(MIXED))
        box = Grammar()
        stalled_now = threading.Event()
        count = iter(range(1, len(MIXED) + 1))

        def spy(_: Any, count: Iterator[int] = count, stalled_now: threading.Event = stalled_now) -> None:
            if next(count) == len(MIXED):
                stalled_now.set()  # every chunk was read: the reader now waits in recv()

        subscription = (
            client.stream("hi").pipe(ops.do_action(spy), make()).subscribe(box.on_next, box.on_error, box.on_completed)
        )
        assert stalled_now.wait(WAIT)
        disposer = threading.Thread(target=subscription.dispose)
        disposer.start()
        disposer.join(WAIT)
        delivered = len(box.items)
        assert fake_openrouter.wait_for_requests(1)[0].wait_disconnected(WAIT), make
        assert fake_openrouter.requests[0].wait_finished(WAIT)
        assert box.terminals == [] and box.violations == [] and len(box.items) == delivered
    join_timers()


@pytest.mark.parametrize(
    "make",
    [
        orx_ops.content,
        orx_ops.reasoning,
        orx_ops.snapshots,
        orx_ops.meter,
        orx_ops.tool_call_deltas,
        orx_ops.retry_with_backoff,
        orx_ops.fallback_to_non_streaming,
        lambda: orx_ops.idle_timeout(5),
        lambda: orx_ops.track_usage(orx.UsageTracker()),
    ],
    ids=["content", "reasoning", "snapshots", "meter", "deltas", "retry", "fallback", "idle", "usage"],
)
def test_take_one_after_each_operator_closes_the_connection(
    fake_openrouter: FakeOpenRouter, client: orx.Client, make: Callable[[], Any]
) -> None:
    fake_openrouter.enqueue(stalled(MIXED))
    sink = Sink().subscribe_to(client.stream("hi").pipe(make(), ops.take(1)))
    assert len(sink.ok()) == 1
    assert fake_openrouter.wait_for_requests(1)[0].wait_disconnected(WAIT)
    join_timers()


@pytest.mark.parametrize(
    "make",
    [
        orx_ops.content,
        orx_ops.snapshots,
        orx_ops.meter,
        orx_ops.retry_with_backoff,
        orx_ops.fallback_to_non_streaming,
        lambda: orx_ops.idle_timeout(5),
        lambda: orx_ops.track_usage(orx.UsageTracker()),
    ],
    ids=["content", "snapshots", "meter", "retry", "fallback", "idle", "usage"],
)
def test_on_next_raising_mid_stream_is_delivered_once_and_closes_the_connection(
    fake_openrouter: FakeOpenRouter, client: orx.Client, make: Callable[[], Any]
) -> None:
    fake_openrouter.enqueue(stalled(MIXED))
    box = Grammar()
    client.stream("hi").pipe(make()).subscribe(_raise_on(lambda v: True), box.on_error, box.on_completed)
    box.wait()
    assert fake_openrouter.wait_for_requests(1)[0].wait_disconnected(WAIT)
    join_timers()
    assert len(box.terminals) == 1 and isinstance(box.terminals[0][1], Boom) and box.violations == []
    assert fake_openrouter.pending == 0 and len(fake_openrouter.requests) == 1  # never retried nor fallen back


def test_one_piped_observable_subscribed_twice_at_once_keeps_separate_state(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    fake_openrouter.responder = lambda request: StreamReply(
        text_chunks(request.json["messages"][-1]["content"], pieces="chars"), delay=0.005
    )
    tracker = orx.UsageTracker()
    for make in (orx_ops.accumulate, lambda: orx_ops.idle_timeout(5), orx_ops.retry_with_backoff):
        pipeline = client.stream("abcdef").pipe(orx_ops.track_usage(tracker), make())
        sinks = [Sink().subscribe_to(pipeline) for _ in range(3)]
        results = [sink.ok() for sink in sinks]
        for items in results:
            if items and isinstance(items[0], orx.Response):
                assert items[0].content == "abcdef"
            else:
                assert orx.Response.from_chunks(items).content == "abcdef"
    assert tracker.requests == 9


# ======================================================================================
# HOLDS: schedulers
# ======================================================================================


@pytest.fixture
def asyncio_scheduler() -> Iterator[AsyncIOThreadSafeScheduler]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield AsyncIOThreadSafeScheduler(loop)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(WAIT)
        loop.close()


SCHEDULERS = ["immediate", "trampoline", "new-thread", "pool", "test", "asyncio", "observe_on-asyncio"]

PIPELINES: dict[str, tuple[Callable[[], Any], Callable[[list[Any]], Any]]] = {
    "accumulate": (orx_ops.accumulate, lambda items: items[0].content),
    "content": (orx_ops.content, "".join),
    "meter": (orx_ops.meter, lambda items: (items[-1].final, items[-1].chunks)),
    "tool_calls": (orx_ops.tool_calls, lambda items: [c.name for c in items]),
    "retry": (lambda: orx_ops.retry_with_backoff(base=0.01, jitter=False), lambda items: len(items)),
    "fallback": (orx_ops.fallback_to_non_streaming, lambda items: orx.Response.from_chunks(items).content),
    "idle": (lambda: orx_ops.idle_timeout(5), lambda items: len(items)),
}
EXPECTED = {
    "accumulate": "one two",
    "content": "one two",
    "meter": (True, 5),
    "tool_calls": ["f", "g"],
    "retry": 5,
    "fallback": "fell back",
    "idle": 5,
}


@pytest.mark.parametrize("where", SCHEDULERS)
@pytest.mark.parametrize("name", list(PIPELINES))
def test_every_operator_under_every_scheduler(
    fake_openrouter: FakeOpenRouter,
    client: orx.Client,
    asyncio_scheduler: AsyncIOThreadSafeScheduler,
    name: str,
    where: str,
) -> None:
    if name == "tool_calls":
        fake_openrouter.enqueue(StreamReply(tool_call_chunks([{"name": "f"}, {"name": "g"}])))
    elif name == "retry":
        fake_openrouter.enqueue(ErrorReply(503), StreamReply(text_chunks("one two")))
    elif name == "fallback":
        fake_openrouter.enqueue(ErrorReply(502), CompletionReply(completion_body("fell back")))
    else:
        fake_openrouter.enqueue(StreamReply(text_chunks("one two")))
    make, summarise = PIPELINES[name]
    pipeline = client.stream("hi").pipe(make())
    sink = Sink()
    if where == "observe_on-asyncio":
        sink.subscribe_to(pipeline.pipe(ops.observe_on(asyncio_scheduler)))
    elif where == "test":
        virtual = TestScheduler()
        sink.subscribe_to(pipeline, scheduler=virtual)
        virtual.start()  # runs the read (and a retry's wait, in virtual time)
    else:
        scheduler = {
            "immediate": ImmediateScheduler(),
            "trampoline": CurrentThreadScheduler(),
            "new-thread": NewThreadScheduler(),
            "pool": ThreadPoolScheduler(2),
            "asyncio": asyncio_scheduler,
        }[where]
        sink.subscribe_to(pipeline, scheduler=scheduler)
    assert summarise(sink.ok()) == EXPECTED[name]
    join_timers()


# ======================================================================================
# HOLDS: semantics of the "before any output" boundary
# ======================================================================================

KINDS = {
    "reasoning": ({"choices": [{"index": 0, "delta": {"reasoning": "hmm"}}]}, True),
    "refusal": ({"choices": [{"index": 0, "delta": {"refusal": "no"}}]}, True),
    "details": (
        {"choices": [{"index": 0, "delta": {"reasoning_details": [{"type": "reasoning.encrypted", "data": "z"}]}}]},
        True,
    ),
    "tool-delta": (F.tool_calls([{"name": "f"}], fragments=1)[0], True),
    "choice-1": ({"choices": [{"index": 0, "delta": {"content": ""}}, {"index": 1, "delta": {"content": "B"}}]}, True),
    "role": (F.role(), False),
    "empty-content": ({"choices": [{"index": 0, "delta": {"content": ""}}]}, False),
    "usage-only": (F.usage(3, 0), False),
    "finish": (F.finish(), False),
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_retry_boundary_by_kind_of_chunk(kind: str) -> None:
    wire, is_output = KINDS[kind]
    lookup = chunk_lookup(x=wire)
    error = orx.ServerError("down", status=500)
    run = run_marbles(orx_ops.retry_with_backoff(max_retries=1, base=1.0, jitter=False), "-x-#", lookup, error=error)
    if is_output:
        assert run.subscriptions == [0]
        assert run.events == [(1, "N", lookup["x"]), (3, "E", error)]
    else:  # held back, dropped on retry, released before the final error: delivered exactly once
        assert run.subscriptions == [0, 4]
        assert run.events == [(7, "N", lookup["x"]), (7, "E", error)]


@pytest.mark.parametrize("kind", list(KINDS))
def test_fallback_boundary_by_kind_of_chunk(kind: str) -> None:
    wire, is_output = KINDS[kind]
    lookup = chunk_lookup(x=wire)
    error = orx.ServerError("down", status=500)
    answer = orx.Response.from_completion(completion_body("plan B"))
    run = run_marbles(orx_ops.fallback_to_non_streaming(reactivex.of(answer)), "-x-#", lookup, error=error)
    if is_output:
        assert run.events == [(1, "N", lookup["x"]), (3, "E", error)]
    else:
        assert lookup["x"] not in run.values
        assert orx.Response.from_chunks(run.values) == answer
        assert run.completed and run.frames() == [3] * len(run.events)


def test_fallback_chunks_accumulate_to_the_completion(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    body = completion_body(
        "Grüße 🌍", reasoning="thinking…", tool_calls=[{"name": "f", "arguments": {"q": "ü" * 1000}}, {"name": "g"}]
    )
    body["choices"][0]["message"]["reasoning_details"] = [
        {"type": "reasoning.text", "text": "thinking…", "index": 0},
        {"type": "reasoning.encrypted", "data": "opaque", "index": 1},
    ]
    body["choices"].append(
        {
            "index": 1,
            "finish_reason": "length",
            "native_finish_reason": "MAX_TOKENS",
            "message": {"role": "assistant", "content": "second"},
        }
    )
    fake_openrouter.enqueue(StreamReply([F.role()], disconnect_after=1), CompletionReply(body))
    got = Sink().subscribe_to(client.stream("hi").pipe(orx_ops.fallback_to_non_streaming(), orx_ops.accumulate())).ok()
    assert got[0] == orx.Response.from_completion(body)
    assert got[0].choice(1).content == "second" and got[0].tool_calls[0].arguments == {"q": "ü" * 1000}


def test_partial_equals_what_was_delivered_through_retry_fallback_and_accumulate(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    wire = [F.role(), *F.text("kept words here")]
    fake_openrouter.enqueue(StreamReply(wire, disconnect_after=len(wire)))
    delivered: list[str] = []
    published = client.stream("hi").pipe(
        orx_ops.retry_with_backoff(base=0.01), orx_ops.fallback_to_non_streaming(), ops.publish()
    )
    text_sink = Sink().subscribe_to(published.pipe(orx_ops.content(), ops.do_action(delivered.append)))
    acc_sink = Sink().subscribe_to(published.pipe(orx_ops.accumulate()))
    calls_sink = Sink().subscribe_to(published.pipe(orx_ops.tool_calls()))
    published.connect()
    for sink in (text_sink, acc_sink, calls_sink):
        sink.wait()
        assert isinstance(sink.error, orx.TruncatedStreamError)
        assert sink.error.partial is not None and sink.error.partial.content == "".join(delivered)
    assert len(fake_openrouter.requests) == 1  # after output: neither retried nor fallen back


@pytest.mark.parametrize(
    "make",
    [orx_ops.accumulate, orx_ops.snapshots, orx_ops.tool_calls],
    ids=["accumulate", "snapshots", "tool_calls"],
)
def test_each_folding_operator_attaches_the_partial(make: Callable[[], Any]) -> None:
    lookup = chunk_lookup(a="Hel", b="lo")
    run = run_marbles(make(), "-a-b-#", lookup, error=orx.StreamError("cut", code=502))
    assert isinstance(run.error, orx.StreamError)
    assert run.error.partial is not None and run.error.partial.content == "Hello" and run.error.chunk_count == 2


# ======================================================================================
# HOLDS: tool calls, meter, usage, idle timeout, marbles
# ======================================================================================


def test_tool_calls_with_index_gaps_unicode_and_huge_arguments() -> None:
    huge = {"text": "Grüße 🌍 中文 " * 20000}
    wire = [
        *F.tool_calls([{"name": "big", "arguments": huge}], fragments=500, start_index=3),
        *F.tool_calls([{"name": "ünï", "arguments": {"k": "✓"}}], start_index=9),
        F.finish("tool_calls"),
    ]
    source = reactivex.from_iterable(chunks_of(*wire))
    calls = source.pipe(orx_ops.tool_calls(), ops.to_list()).run()
    assert [(c.index, c.name) for c in calls] == [(3, "big"), (9, "ünï")]
    assert calls[0].arguments == huge and calls[1].arguments == {"k": "✓"}
    assert len(source.pipe(orx_ops.tool_call_deltas(), ops.to_list()).run()) == len(wire) - 1


def test_interleaved_tool_call_indexes_are_a_protocol_error_with_the_partial() -> None:
    a = F.chunk({"tool_calls": [{"index": 0, "id": "c0", "function": {"name": "f", "arguments": '{"a":'}}]})
    b = F.chunk({"tool_calls": [{"index": 1, "id": "c1", "function": {"name": "g", "arguments": "{}"}}]})
    c = F.chunk({"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]})
    run = run_marbles(orx_ops.tool_calls(), "-a-b-c-|", chunk_lookup(a=a, b=b, c=c))
    assert [v.name for v in run.values] == ["f"]
    assert isinstance(run.error, orx.ProtocolError)
    assert run.error.partial is not None and run.error.partial.tool_calls[0].arguments_json == '{"a":1}'


def test_meter_zero_chunks_usage_first_and_two_choices() -> None:
    run = run_marbles(orx_ops.meter(), "--|")
    assert [(m.chunks, m.final, m.time_to_first_token, m.tokens_per_second) for m in run.values] == [
        (0, True, None, None)
    ]
    usage = F.usage(7, 40)
    two = {"choices": [{"index": 0, "delta": {"content": "abcd"}}, {"index": 1, "delta": {"content": "efgh"}}]}
    run = run_marbles(orx_ops.meter(), "-u-t-|", chunk_lookup(u=usage, t=two))
    first, second, final = run.values
    assert (first.completion_tokens, first.estimated, first.time_to_first_token) == (40, False, None)
    assert (second.completion_tokens, second.time_to_first_token, second.chunks) == (40, 3.0, 2)
    assert final.final and final.elapsed == 5.0 and final.tokens_per_second == 20.0
    json.dumps(final.to_dict())


def test_track_usage_placements_with_retry_and_fallback(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    failing = StreamReply([F.role(), F.usage(5, 0, cost=0.001)], disconnect_after=2)
    body = completion_body("plan B", prompt_tokens=11, cost=0.002)
    fake_openrouter.enqueue(failing, failing, CompletionReply(body))
    inner, outer = orx.UsageTracker(), orx.UsageTracker()
    response = (
        Sink()
        .subscribe_to(
            client.stream("hi").pipe(
                orx_ops.track_usage(inner),
                orx_ops.retry_with_backoff(max_retries=1, base=0.01),
                orx_ops.fallback_to_non_streaming(),
                orx_ops.track_usage(outer),
                orx_ops.accumulate(),
            )
        )
        .ok()[0]
    )
    assert response.content == "plan B"
    assert (inner.requests, inner.cost) == (2, Decimal("0.002"))  # both streamed attempts delivered usage
    assert (outer.requests, outer.prompt_tokens) == (1, 11)  # only the answer that was delivered
    summary = json.loads(json.dumps(inner.summary()))
    assert summary["cost"] == "0.002" and summary["by_model"]["openai/gpt-4o-mini"]["requests"] == 2
    assert json.loads(json.dumps(orx.UsageTracker().summary())) == {**orx.UsageTotals().to_dict(), "by_model": {}}


def test_idle_timeout_first_allowance_then_the_shorter_one() -> None:
    lookup = chunk_lookup(a="a", b="b")
    run = run_marbles(orx_ops.idle_timeout(2, first=5), "----a-b---b-|", lookup)
    assert [kind for _, kind, _ in run.events] == ["N", "N", "E"]
    assert run.frames()[-1] == 8 and run.error.timeout == 2  # type: ignore[union-attr]
    assert run.error.partial.content == "ab"  # type: ignore[union-attr]
    run = run_marbles(orx_ops.idle_timeout(2, first=5), "------a|", lookup)
    assert run.events[0][0] == 5 and run.error.timeout == 5 and run.error.partial is None  # type: ignore[union-attr]


def test_marbles_dispose_at_zero_and_errors_compare_by_identity() -> None:
    lookup = chunk_lookup(a="x")
    run = run_marbles(orx_ops.content(), "-a-|", lookup, dispose_at=0)
    assert (run.events, run.subscriptions, run.disposals) == ([], [0], [0])
    error = orx.StreamError("same", code=500)
    twin = orx.StreamError("same", code=500)
    run = run_marbles(orx_ops.content(), "-a-#", lookup, error=error)
    assert run.events == [(1, "N", "x"), (3, "E", error)]
    assert run.events != [(1, "N", "x"), (3, "E", twin)]
    run = run_marbles(orx_ops.retry_with_backoff(base=0.5, jitter=False), "-#", error=error, timespan=0.5)
    assert run.subscriptions == [0, 2, 5]  # waits of 1 and 2 frames at 0.5 s per frame
