"""Review of the blocking and asyncio bridges and the UI wiring: regression tests for the bugs found.

Each test names the failure it guards against; none depends on timing (every wait is bounded by
``WAIT`` only so that a regression fails instead of hanging).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest
import reactivex
from reactivex import operators as ops
from reactivex.scheduler import NewThreadScheduler
from reactivex.subject import Subject
from support import WAIT

from openrouter_rx import aio

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
    producer = NewThreadScheduler()
    source = reactivex.from_iterable(range(1000), scheduler=producer).pipe(
        ops.do_action(emitted.append), ops.finally_action(disposed.set)
    )
    kept: list[aio.ObservableIterator[int]] = []

    async def main() -> int:
        iterator = aio.iterate(source, maxsize=1)
        kept.append(iterator)  # kept alive (not closed) while its loop closes
        return await iterator.__anext__()

    assert run(main()) == 0
    assert disposed.wait(WAIT), "the producer is still held although its event loop is closed"
    assert len(emitted) < 1000
    kept[0].close()
