"""Review of the blocking and asyncio bridges and the UI wiring: regression tests for the bugs found.

Each test names the failure it guards against; none depends on timing (every wait is bounded by
``WAIT`` only so that a regression fails instead of hanging).
"""

from __future__ import annotations

import asyncio
import importlib
import sys
import threading
import weakref
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest
import reactivex
from reactivex import operators as ops
from reactivex.disposable import Disposable
from reactivex.scheduler import NewThreadScheduler
from reactivex.subject import Subject
from support import WAIT

import openrouter_rx as orx
from openrouter_rx import aio
from openrouter_rx.blocking import iterate
from openrouter_rx.testing import FakeOpenRouter, RecordedRequest, StreamReply, text_chunks

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a test coroutine with a bound on the whole run (no test may hang)."""
    return asyncio.run(asyncio.wait_for(coro, WAIT))


def fails_with(error: BaseException) -> reactivex.Observable[int]:
    """A source that fails with ``error`` the way a ``map`` calling ``next()`` on an exhausted
    iterator does (Rx passes any ``Exception`` raised in an operator on as ``on_error``)."""

    def boom(_: int) -> int:
        raise error

    return reactivex.of(1).pipe(ops.map(boom))


# -- aio ---------------------------------------------------------------------------------------------


def test_aio_close_from_another_thread_just_before_a_take_still_ends_the_iteration() -> None:
    """A close() from another thread landing between ``__anext__``'s "closed?" check and its
    ``take()`` was undone by the take (it reset ``finished``), so the next ``__anext__`` waited
    forever on a closed channel. The interleaving is replayed step by step on the channel."""

    async def main() -> None:
        subject: Subject[int] = Subject()
        iterator = aio.iterate(subject)
        waiting = asyncio.create_task(iterator.__anext__())
        await asyncio.sleep(0)  # subscribed, waiting
        subject.on_next(1)
        assert await waiting == 1
        channel = iterator._channel
        assert channel is not None
        channel.buffer.append(("next", 2))  # a value handed over; __anext__ saw the channel open...
        await asyncio.to_thread(iterator.close)  # ...another thread closes it...
        assert channel.take() == ("next", 2)  # ...and __anext__ takes the value it had seen
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(iterator.__anext__(), WAIT)

    run(main())


@pytest.mark.parametrize("keep", [aio.first, aio.last])
def test_aio_first_and_last_raise_when_the_source_fails_with_stop_iteration(keep: Any) -> None:
    """``Future.set_exception(StopIteration())`` raises TypeError (in a loop callback, only
    logged): the awaiting task hung forever. Now a RuntimeError, the source's error its cause."""
    error = StopIteration("exhausted")
    with pytest.raises(RuntimeError, match="StopIteration") as caught:
        run(keep(fails_with(error)))
    assert caught.value.__cause__ is error


@pytest.mark.parametrize("error", [StopAsyncIteration("gone"), StopIteration("exhausted")])
def test_aio_iterate_raises_a_stop_iteration_error_instead_of_ending_quietly(error: BaseException) -> None:
    """An ``on_error(StopAsyncIteration())`` raised by ``__anext__`` looked like the end of the
    iteration: the error was lost and ``async for`` ended as if the source had completed."""

    async def main() -> list[int]:
        return [n async for n in aio.iterate(fails_with(error))]

    with pytest.raises(RuntimeError, match=type(error).__name__) as caught:
        run(main())
    assert caught.value.__cause__ is error


def test_aio_maxsize_releases_a_held_producer_when_the_loop_closes() -> None:
    """With ``maxsize`` a producer waiting for room waited for good once the event loop was
    closed (nobody is left to take a value): its thread and the subscription were leaked. Now it
    sees the closed loop, drops the value and disposes, as an unbounded iterator does."""
    disposed = threading.Event()
    emitted: list[int] = []
    producers: set[threading.Thread] = set()

    def emit(value: int) -> None:
        emitted.append(value)
        producers.add(threading.current_thread())

    source = reactivex.from_iterable(range(1000), scheduler=NewThreadScheduler()).pipe(
        ops.do_action(emit), ops.finally_action(disposed.set)
    )
    kept: list[aio.ObservableIterator[int]] = []

    async def main() -> int:
        iterator = aio.iterate(source, maxsize=1)
        kept.append(iterator)  # kept alive (not closed) while its loop closes
        return await iterator.__anext__()

    assert run(main()) == 0
    assert disposed.wait(WAIT), "the producer is still held although its event loop is closed"
    assert len(emitted) < 1000
    (producer,) = producers
    producer.join(WAIT)
    assert not producer.is_alive(), "the producer thread was left behind"
    kept[0].close()


def test_aio_a_close_from_another_thread_during_the_first_anext_is_not_lost(monkeypatch: pytest.MonkeyPatch) -> None:
    """A close() that lands while the first ``__anext__`` sets the channel up (after its "closed?"
    check, before the finalizer that close() calls exists) only set a flag nobody read again: the
    subscription was made and iterated as if never closed. Replayed by closing from a thread at
    the moment the finalizer is created."""
    subscribed, disposed = threading.Event(), threading.Event()

    def subscribe(observer: Any, scheduler: Any = None) -> Any:
        subscribed.set()
        observer.on_next(1)
        return Disposable(disposed.set)

    iterator = aio.iterate(reactivex.create(subscribe))
    real_finalize = weakref.finalize

    def close_first(obj: Any, func: Any, *args: Any) -> Any:
        if obj is iterator:
            closer = threading.Thread(target=iterator.close)
            closer.start()
            closer.join(WAIT)
        return real_finalize(obj, func, *args)

    monkeypatch.setattr(weakref, "finalize", close_first)

    async def main() -> None:
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(iterator.__anext__(), WAIT)

    run(main())
    assert iterator.closed
    assert not subscribed.is_set() or disposed.is_set()


# -- blocking --------------------------------------------------------------------------------------


def test_blocking_stop_from_another_thread_with_take_until(fake_openrouter: FakeOpenRouter) -> None:
    """A generator cannot be closed from another thread while it waits (``ValueError``, and the
    wait goes on); the documented way to stop ``blocking.iterate`` from elsewhere is to end the
    source: ``take_until(stop)``. The loop ends and the connection is closed."""
    wire = text_chunks("one two three")
    fake_openrouter.enqueue(StreamReply(wire, stall_after=2, stall_keepalive=0.05))
    stop: Subject[None] = Subject()
    with orx.Client(base_url=fake_openrouter.base_url, timeout=orx.Timeout(connect=2, idle=3 * WAIT)) as client:
        chunks = iterate(client.stream("hi").pipe(ops.take_until(stop)), timeout=WAIT)

        got = [next(chunks)]  # the stream is running (it stalls after two chunks)
        presser = threading.Thread(target=stop.on_next, args=(None,))
        presser.start()
        got.extend(chunks)  # ends when stop fires
        presser.join(WAIT)
        assert 1 <= len(got) <= 2
        assert fake_openrouter.wait_for_requests(1, WAIT)[0].wait_disconnected(WAIT)


# -- the Tk ChatStreamer wiring --------------------------------------------------------------------


def _chat_streamer(client: orx.Client) -> tuple[Any, Any, Any]:
    """``tk_app.ChatStreamer`` with a recording view over the real ``TkinterScheduler`` and the
    pumped stand-in for a Tk root of ``test_ui_examples``."""
    from test_ui_examples import EXAMPLES, PumpedRoot

    sys.path.insert(0, str(EXAMPLES))
    try:
        tk_app = importlib.import_module("tk_app")
    finally:
        sys.path.remove(str(EXAMPLES))
    from reactivex.scheduler.mainloop import TkinterScheduler

    root = PumpedRoot()
    view = tk_app.RecordingView()
    return tk_app.ChatStreamer(client, TkinterScheduler(root), view), root, view


def _prompt_of(request: RecordedRequest) -> str:
    return str(request.json["messages"][-1]["content"])


def test_chat_streamer_renders_an_error_once_and_stop_after_it_is_silent(fake_openrouter: FakeOpenRouter) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks("cut short here"), disconnect_after=3))
    with orx.Client(base_url=fake_openrouter.base_url, timeout=orx.Timeout(connect=2, idle=3 * WAIT)) as client:
        streamer, root, view = _chat_streamer(client)
        streamer.send("go")
        root.pump_until(lambda: bool(view.outcomes))
        assert fake_openrouter.wait_for_requests(1, WAIT)[0].wait_finished(WAIT)
        root.pump()  # whatever the failed stream still had queued
        streamer.stop()
        assert len(view.outcomes) == 1 and isinstance(view.outcomes[0], orx.TruncatedStreamError)


def test_chat_streamer_send_twice_before_the_ui_loop_runs(fake_openrouter: FakeOpenRouter) -> None:
    """Two Sends in one UI turn: the first stream is disposed (its connection closed, if it was
    even sent), the view is told "stopped" once, and only the second answer is shown."""
    fake_openrouter.responder = lambda request: StreamReply(
        text_chunks(f"answer to {_prompt_of(request)}"), stall_after=2 if _prompt_of(request) == "first" else None
    )
    with orx.Client(base_url=fake_openrouter.base_url, timeout=orx.Timeout(connect=2, idle=3 * WAIT)) as client:
        streamer, root, view = _chat_streamer(client)
        streamer.send("first")
        streamer.send("second")
        root.pump_until(lambda: len(view.outcomes) == 2)
        stopped, answer = view.outcomes
        assert stopped is None and isinstance(answer, orx.Response) and answer.content == "answer to second"
        assert view.text() == "answer to second" and not streamer.running
        firsts = [r for r in fake_openrouter.requests if _prompt_of(r) == "first"]
        assert all(r.wait_disconnected(WAIT) for r in firsts)


def test_blocking_keyboard_interrupt_in_the_consumer_or_thrown_in_disposes(fake_openrouter: FakeOpenRouter) -> None:
    """Ctrl-C while the consumer's own code runs (not while the generator waits) and an exception
    thrown into the generator both close the connection."""
    with orx.Client(base_url=fake_openrouter.base_url, timeout=orx.Timeout(connect=2, idle=3 * WAIT)) as client:
        for index, how in enumerate(("consumer", "throw")):
            wire = text_chunks("one two three")
            fake_openrouter.enqueue(StreamReply(wire, stall_after=2, stall_keepalive=0.05))
            with pytest.raises(KeyboardInterrupt):
                if how == "consumer":
                    for _ in iterate(client.stream("hi"), timeout=WAIT):
                        raise KeyboardInterrupt
                else:
                    chunks = iterate(client.stream("hi"), timeout=WAIT)
                    next(chunks)
                    chunks.throw(KeyboardInterrupt())
            request = fake_openrouter.wait_for_requests(index + 1, WAIT)[index]
            assert request.wait_disconnected(WAIT), f"{how}: the connection was not closed"


def test_blocking_a_large_synchronous_source_inside_and_outside_a_trampoline() -> None:
    numbers = range(100_000)
    assert list(iterate(reactivex.from_iterable(numbers), timeout=WAIT)) == list(numbers)
    inside: list[list[int]] = []
    reactivex.of(1).subscribe(lambda _: inside.append(list(iterate(reactivex.from_iterable(numbers), timeout=WAIT))))
    assert inside == [list(numbers)]
