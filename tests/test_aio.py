"""openrouter_rx.aio: observables in asyncio — real HTTP over loopback against FakeOpenRouter.

Values in order on the loop's thread, errors raised in the task with their partial answer, and every
way of leaving early (task cancel, break, an exception in the body, aclose, async with) disposes:
the fake server sees the client go away and the single reader thread is free again.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Coroutine, Iterator
from contextlib import aclosing
from typing import Any, TypeVar

import pytest
import reactivex
from reactivex import operators as ops
from reactivex.internal.exceptions import SequenceContainsNoElementsError
from reactivex.scheduler import NewThreadScheduler
from reactivex.subject import Subject
from support import WAIT

import openrouter_rx as orx
from openrouter_rx import aio
from openrouter_rx import operators as orx_ops
from openrouter_rx.testing import ErrorReply, FakeOpenRouter, StreamReply, text_chunks

T = TypeVar("T")
WORDS = "one two three four five six"


@pytest.fixture
def client(fake_openrouter: FakeOpenRouter) -> Iterator[orx.Client]:
    # One reader thread: a later request completes only if the earlier one freed it. The idle
    # timeout is longer than WAIT, so a stalled stream is only ever closed by a dispose.
    timeout = orx.Timeout(connect=2, idle=3 * WAIT)
    with orx.Client(base_url=fake_openrouter.base_url, timeout=timeout, pool_size=1) as c:
        yield c


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a test coroutine with a bound on the whole run (no test may hang)."""
    return asyncio.run(asyncio.wait_for(coro, WAIT))


def assert_disconnected_and_free(fake: FakeOpenRouter, client: orx.Client, index: int = 0) -> None:
    request = fake.wait_for_requests(index + 1)[index]
    assert request.wait_disconnected(WAIT), "the server did not see the client go away"
    fake.enqueue(StreamReply(text_chunks("again")))
    again = client.stream("hi").pipe(orx_ops.accumulate()).run()  # needs the one reader thread
    assert again.content == "again"


async def wait_for_request(fake: FakeOpenRouter, n: int = 1) -> None:
    await asyncio.to_thread(fake.wait_for_requests, n, WAIT)


# -- values and errors -------------------------------------------------------------------------


def test_chunks_arrive_in_order_on_the_loop_thread(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks(WORDS), delay=0.01))
    produced_on: set[int] = set()

    async def main() -> tuple[list[str], set[int], int]:
        seen_on: set[int] = set()
        texts = []
        stream = client.stream("hi").pipe(ops.do_action(lambda _: produced_on.add(threading.get_ident())))
        async for chunk in aio.iterate(stream):
            seen_on.add(threading.get_ident())
            texts.append(chunk.content or "")
        return texts, seen_on, threading.get_ident()

    texts, seen_on, loop_thread = run(main())
    assert "".join(texts) == WORDS
    assert [t for t in texts if t] == [w + " " for w in WORDS.split()[:-1]] + [WORDS.split()[-1]]
    assert seen_on == {loop_thread}
    assert loop_thread not in produced_on  # read on the client's pool, handed over to the loop


def test_an_error_is_raised_in_the_task_with_the_partial_answer(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks(WORDS), disconnect_after=3))

    async def main() -> tuple[list[str], BaseException]:
        texts: list[str] = []
        with pytest.raises(orx.OpenRouterError) as caught:
            async for chunk in aio.iterate(client.stream("hi")):
                texts.append(chunk.content or "")
        return texts, caught.value

    texts, error = run(main())
    assert isinstance(error, orx.TruncatedStreamError)
    assert error.partial is not None and error.partial.content == "".join(texts) == "one two "
    assert error.chunk_count == 3


def test_iteration_ends_for_good_after_an_error() -> None:
    async def main() -> None:
        iterator = aio.iterate(reactivex.concat(reactivex.of(1), reactivex.throw(ValueError("boom"))))
        assert await iterator.__anext__() == 1
        with pytest.raises(ValueError, match="boom"):
            await iterator.__anext__()
        with pytest.raises(StopAsyncIteration):
            await iterator.__anext__()

    run(main())


def test_a_status_error_before_any_chunk(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(ErrorReply(429, "Rate limit exceeded", headers={"Retry-After": "3"}))

    async def main() -> None:
        with pytest.raises(orx.RateLimitError) as caught:
            async for _ in aio.iterate(client.stream("hi")):
                pass
        assert caught.value.retry_after == 3

    run(main())


def test_nothing_is_sent_before_the_first_anext(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    async def main() -> None:
        iterator = aio.iterate(client.stream("hi"))
        await asyncio.sleep(0.05)
        assert fake_openrouter.requests == []
        await iterator.aclose()  # closed before it started: never subscribes
        with pytest.raises(StopAsyncIteration):
            await iterator.__anext__()

    run(main())
    assert fake_openrouter.requests == []


# -- leaving early disposes ----------------------------------------------------------------------


def test_task_cancel_closes_the_connection(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks(WORDS), stall_after=2))

    async def main() -> list[str]:
        got: list[str] = []
        two = asyncio.Event()
        iterator = aio.iterate(client.stream("hi"))  # referenced here: only the cancel can close it

        async def consume() -> None:
            async for chunk in iterator:
                got.append(chunk.content or "")
                if len(got) == 2:
                    two.set()

        task = asyncio.create_task(consume())
        await two.wait()
        task.cancel()  # the task waits in __anext__ for a chunk that never comes
        with pytest.raises(asyncio.CancelledError):
            await task
        assert iterator.closed
        return got

    assert len(run(main())) == 2
    assert_disconnected_and_free(fake_openrouter, client)


def test_asyncio_timeout_cancels_and_closes(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks(WORDS), stall_after=1))

    async def main() -> None:
        iterator = aio.iterate(client.stream("hi"))
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):
                async for _ in iterator:
                    pass
        assert iterator.closed

    run(main())
    assert_disconnected_and_free(fake_openrouter, client)


def test_break_out_of_async_for_disposes(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks(WORDS), stall_after=3))

    async def main() -> str:
        async for chunk in aio.iterate(client.stream("hi")):
            if chunk.content:
                break
        # No aclose and no gc.collect(): dropping the iterator at `break` disposed it.
        request = fake_openrouter.wait_for_requests(1)[0]
        assert await asyncio.to_thread(request.wait_disconnected, WAIT)
        return chunk.content or ""

    assert run(main()) == "one "
    assert_disconnected_and_free(fake_openrouter, client)


def test_an_exception_in_the_body_disposes(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks(WORDS), stall_after=3))

    async def main() -> None:
        with pytest.raises(KeyError):
            async for chunk in aio.iterate(client.stream("hi")):
                if chunk.content:
                    raise KeyError("the consumer failed")

    run(main())
    assert_disconnected_and_free(fake_openrouter, client)


def test_async_with_and_aclosing_dispose_a_kept_iterator(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks(WORDS), stall_after=3))
    fake_openrouter.enqueue(StreamReply(text_chunks(WORDS), stall_after=3))
    kept: list[aio.ObservableIterator[orx.Chunk]] = []

    async def main() -> None:
        async with aio.iterate(client.stream("hi")) as chunks:
            kept.append(chunks)  # still referenced: only the context manager can close it
            async for _ in chunks:
                break
        assert fake_openrouter.requests[0].wait_disconnected(WAIT)
        async with aclosing(aio.iterate(client.stream("hi"))) as chunks:
            kept.append(chunks)
            await chunks.__anext__()
        with pytest.raises(StopAsyncIteration):
            await chunks.__anext__()  # closed: ends, sends nothing more

    run(main())
    assert_disconnected_and_free(fake_openrouter, client, index=1)
    assert len(fake_openrouter.requests) == 3


def test_a_value_after_the_loop_closed_is_dropped_and_disposes(
    fake_openrouter: FakeOpenRouter, client: orx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks(WORDS), delay=0.1))
    caplog.set_level(logging.DEBUG, logger="openrouter_rx.aio")

    async def main() -> aio.ObservableIterator[orx.Chunk]:
        iterator = aio.iterate(client.stream("hi"))
        await iterator.__anext__()
        return iterator  # kept alive (not closed) while its loop closes

    iterator = run(main())
    assert_disconnected_and_free(fake_openrouter, client)  # the next chunk found the loop closed
    assert any("after its event loop was closed" in r.getMessage() for r in caplog.records)
    iterator.close()


# -- first / last ---------------------------------------------------------------------------------


def test_last_awaits_the_accumulated_response(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks(WORDS)))
    response = run(aio.last(client.stream("hi").pipe(orx_ops.accumulate())))
    assert response.content == WORDS and response.finish_reason == "stop"


def test_first_closes_the_connection_after_one_value(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks(WORDS), stall_after=2))
    text = run(aio.first(client.stream("hi").pipe(orx_ops.content())))
    assert text == "one "
    assert_disconnected_and_free(fake_openrouter, client)


def test_first_and_last_raise_the_library_error(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks(WORDS), disconnect_after=2), ErrorReply(401, "No auth"))
    with pytest.raises(orx.TruncatedStreamError) as caught:
        run(aio.last(client.stream("hi").pipe(orx_ops.accumulate())))
    assert caught.value.partial is not None and caught.value.partial.content == "one "
    with pytest.raises(orx.AuthenticationError):
        run(aio.first(client.stream("hi")))


def test_empty_sources_raise_a_clear_error() -> None:
    with pytest.raises(SequenceContainsNoElementsError, match=r"aio\.first\(\)"):
        run(aio.first(reactivex.empty()))
    with pytest.raises(SequenceContainsNoElementsError, match=r"aio\.last\(\)"):
        run(aio.last(reactivex.empty()))
    assert aio.SequenceContainsNoElementsError is SequenceContainsNoElementsError


def test_first_and_last_of_plain_observables() -> None:
    assert run(aio.first(reactivex.of(1, 2, 3))) == 1
    assert run(aio.last(reactivex.of(1, 2, 3))) == 3
    assert run(aio.last(reactivex.from_iterable(range(100), scheduler=NewThreadScheduler()))) == 99


def test_cancelling_last_closes_the_connection(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks(WORDS), stall_after=2))

    async def main() -> None:
        task = asyncio.create_task(aio.last(client.stream("hi").pipe(orx_ops.accumulate())))
        await wait_for_request(fake_openrouter)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(main())
    assert_disconnected_and_free(fake_openrouter, client)


def test_requests_run_concurrently_with_gather(fake_openrouter: FakeOpenRouter) -> None:
    fake_openrouter.enqueue(*(StreamReply(text_chunks(f"answer {i}"), delay=0.01) for i in range(4)))
    with orx.Client(base_url=fake_openrouter.base_url, pool_size=4) as client:

        async def main() -> list[orx.Response]:
            return await asyncio.gather(
                *(aio.last(client.stream(f"q{i}").pipe(orx_ops.accumulate())) for i in range(4))
            )

        answers = sorted(response.content for response in run(main()))
    assert answers == [f"answer {i}" for i in range(4)]


# -- the iterator itself --------------------------------------------------------------------------


def test_maxsize_holds_the_producer_back() -> None:
    emitted: list[int] = []

    async def main() -> list[int]:
        source = reactivex.from_iterable(range(50), scheduler=NewThreadScheduler()).pipe(ops.do_action(emitted.append))
        got = []
        async with aio.iterate(source, maxsize=2) as numbers:
            got.append(await numbers.__anext__())
            await asyncio.sleep(0.2)  # the producer had time to run ahead; the bound holds it
            assert len(emitted) <= 4  # the one taken, two in flight, one waiting to be handed over
            got.extend([n async for n in numbers])
        return got

    assert run(main()) == list(range(50))


def test_a_synchronous_source_is_not_held_on_the_loop_thread() -> None:
    async def main() -> list[int]:
        return [n async for n in aio.iterate(reactivex.of(*range(10)), maxsize=1)]

    assert run(main()) == list(range(10))


def test_closing_from_another_task_or_thread_ends_a_waiting_anext() -> None:
    async def main(close: str) -> None:
        disposed = asyncio.Event()
        loop = asyncio.get_running_loop()

        def on_dispose() -> None:  # on the thread that closes
            loop.call_soon_threadsafe(disposed.set)

        source: reactivex.Observable[int] = reactivex.never().pipe(ops.finally_action(on_dispose))
        async with aio.iterate(source) as numbers:
            waiting = asyncio.create_task(numbers.__anext__())
            await asyncio.sleep(0)  # subscribed, waiting
            if close == "task":
                await numbers.aclose()
            else:
                await asyncio.to_thread(numbers.close)
            with pytest.raises(StopAsyncIteration):
                await waiting
            await disposed.wait()
            assert numbers.closed

    run(main("task"))
    run(main("thread"))


def test_a_failing_subscribe_is_raised_and_ends_the_iteration(fake_openrouter: FakeOpenRouter) -> None:
    closed = orx.Client(base_url=fake_openrouter.base_url)
    closed.close()

    async def main() -> None:
        iterator = aio.iterate(closed.stream("hi"))
        with pytest.raises(RuntimeError, match="closed"):
            await iterator.__anext__()
        with pytest.raises(StopAsyncIteration):
            await iterator.__anext__()

    run(main())
    assert fake_openrouter.requests == []


def test_misuse_is_reported() -> None:
    with pytest.raises(ValueError, match="maxsize"):
        aio.iterate(reactivex.never(), maxsize=-1)

    async def two_waiters() -> None:
        async with aio.iterate(reactivex.never()) as never:
            waiting = asyncio.create_task(never.__anext__())
            await asyncio.sleep(0)
            with pytest.raises(RuntimeError, match="already waiting"):
                await never.__anext__()
            waiting.cancel()

    run(two_waiters())

    async def start() -> aio.ObservableIterator[int]:
        iterator = aio.iterate(reactivex.of(1, 2))
        await iterator.__anext__()
        return iterator

    iterator = run(start())
    with pytest.raises(RuntimeError, match="another event loop"):
        run(iterator.__anext__())
    iterator.close()


def test_a_dropped_iterator_disposes_its_subscription() -> None:
    disposed = threading.Event()
    subject: Subject[int] = Subject()
    source = subject.pipe(ops.finally_action(disposed.set))

    async def main() -> None:
        iterator = aio.iterate(source)
        waiting = asyncio.create_task(iterator.__anext__())
        await asyncio.sleep(0)  # subscribed
        subject.on_next(1)
        assert await waiting == 1
        assert not disposed.is_set()
        del iterator, waiting  # the last references: its finalizer disposes at once
        assert disposed.is_set()
        assert not subject.observers

    run(main())
