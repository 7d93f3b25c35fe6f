"""asyncio bridge: any ``Observable`` as an async iterator, or awaited for its first or last value.

The reads of a :class:`~openrouter_rx.Client` stream run on the client's thread pool; these helpers
hand every notification over to the event loop (``loop.call_soon_threadsafe``, one wake-up per burst
of values), so the code
after ``await`` / inside ``async for`` always runs on the loop's thread, like any other coroutine.

- :func:`iterate` — ``async for chunk in aio.iterate(stream)``. Subscribes on the first
  ``__anext__``; an error is raised in the awaiting task (the same exception object, so
  ``err.partial`` is there); cancelling the task, ``break``, an exception in the loop body,
  ``aclose()`` or leaving ``async with`` disposes the subscription, which closes the HTTP
  connection at once.
- :func:`first` / :func:`last` — ``await aio.last(stream.pipe(orx_ops.accumulate()))``. An empty
  source raises ``reactivex.internal.exceptions.SequenceContainsNoElementsError`` (what
  ``Observable.run()`` raises too). Cancelling the awaiting task disposes the subscription.

An error that is a ``StopIteration`` or ``StopAsyncIteration`` (a ``map`` that calls ``next()`` on
an exhausted iterator) cannot cross a coroutine as itself: it is raised as a ``RuntimeError`` whose
``__cause__`` it is, as Python does for generators.

Timeouts come from the request (``orx.Timeout``) or from asyncio: ``asyncio.timeout(...)`` and
``asyncio.wait_for(...)`` cancel the task, which disposes. A notification that arrives after the
event loop was closed is dropped (logged at DEBUG on ``openrouter_rx.aio``) and the subscription is
disposed; it never raises on the producing thread.

``subscribe()`` itself runs on the event loop thread: a Client stream returns from it at once (the
read is scheduled on the pool), but an observable that does its work inside ``subscribe()`` (a
``CurrentThreadScheduler`` read, a long ``reactivex.from_iterable``) blocks the loop while it does.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from collections import deque
from collections.abc import AsyncIterator
from typing import Any, Generic, Literal, TypeVar

from reactivex import Observable
from reactivex import operators as ops
from reactivex.disposable import SingleAssignmentDisposable
from reactivex.internal.exceptions import SequenceContainsNoElementsError

__all__ = ["ObservableIterator", "SequenceContainsNoElementsError", "first", "iterate", "last"]

_T = TypeVar("_T")

log = logging.getLogger("openrouter_rx.aio")

_SLICE = 0.1
"""Seconds a producer held by ``maxsize`` waits before it looks again whether the loop was closed."""

_Kind = Literal["next", "error", "completed"]


def _hand_over(loop: asyncio.AbstractEventLoop, callback: Any, *args: Any) -> bool:
    """``loop.call_soon_threadsafe(callback, *args)``; ``False`` (logged at DEBUG) once the loop is closed."""
    try:
        loop.call_soon_threadsafe(callback, *args)
    except RuntimeError:  # "Event loop is closed": nobody is left to receive it
        log.debug("a notification arrived after its event loop was closed; dropped")
        return False
    return True


def _raisable(error: Exception) -> Exception:
    """``error``, unless it is a ``StopIteration`` or ``StopAsyncIteration`` (raised in a coroutine
    or set on a future it would end the iteration quietly or be refused): then a ``RuntimeError``
    whose ``__cause__`` is ``error``, as Python does for a generator (PEP 479)."""
    if not isinstance(error, (StopIteration, StopAsyncIteration)):
        return error
    wrapped = RuntimeError(f"the observable failed with {type(error).__name__}: {error}")
    wrapped.__cause__ = error
    return wrapped


class _Channel(Generic[_T]):
    """The subscription of one :class:`ObservableIterator` and its buffer.

    The observer callbacks hold only this object, never the iterator, so dropping the iterator
    (``break``) lets it be collected and its finalizer dispose the subscription while the reader
    thread is still running. The buffer is touched on the loop thread only; the producer only
    counts in-flight values (for ``maxsize``) under ``_space``.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, maxsize: int) -> None:
        self.loop = loop
        self.loop_thread = threading.get_ident()
        self.maxsize = maxsize
        self.subscription = SingleAssignmentDisposable()
        self.buffer: deque[tuple[_Kind, Any]] = deque()
        self.waiter: asyncio.Future[None] | None = None
        self.finished = False  # a terminal notification was taken, or the channel was closed
        self._closed = False
        self._space = threading.Condition()
        self._in_flight = 0
        # Notifications cross to the loop in batches: the producer appends to the inbox and
        # schedules one drain unless one is already pending (one loop wake-up per burst).
        self._inbox: deque[tuple[_Kind, Any]] = deque()
        self._inbox_lock = threading.Lock()
        self._drain_pending = False

    # -- producer side (any thread) --------------------------------------------------------
    def on_next(self, value: _T) -> None:
        if self.maxsize and threading.get_ident() != self.loop_thread:
            with self._space:  # backpressure: the reader waits for the consumer (never on the loop's own thread)
                while self._in_flight >= self.maxsize and not self._closed and not self.loop.is_closed():
                    self._space.wait(_SLICE)  # in slices: a closed loop takes nothing more (then dropped below)
                if self._closed:
                    return
                self._in_flight += 1
        if not self._send("next", value):
            self.close()

    def on_error(self, error: Exception) -> None:
        self._send("error", error)

    def on_completed(self) -> None:
        self._send("completed", None)

    def _send(self, kind: _Kind, value: Any) -> bool:
        """Queue a notification for the loop; ``False`` once the loop is closed."""
        if self.loop.is_closed():  # a drain still pending would never run
            log.debug("a notification arrived after its event loop was closed; dropped")
            return False
        self._inbox.append((kind, value))
        with self._inbox_lock:
            if self._drain_pending:
                return True  # the pending drain takes this one too
            self._drain_pending = True
        return _hand_over(self.loop, self._drain)

    # -- loop side ----------------------------------------------------------------------------
    def _drain(self) -> None:
        with self._inbox_lock:
            self._drain_pending = False  # from here on a new notification schedules a new drain
        while self._inbox:
            kind, value = self._inbox.popleft()
            if not self.finished:
                self.buffer.append((kind, value))
        self._wake()

    def take(self) -> tuple[_Kind, Any]:
        kind, value = self.buffer.popleft()
        if kind != "next":
            self.finished = True  # never reset: a close() from another thread may have set it already
        elif self.maxsize:
            with self._space:
                self._in_flight = max(0, self._in_flight - 1)
                self._space.notify()
        return kind, value

    @property
    def closed(self) -> bool:
        """Closed early: what is still buffered is dropped."""
        return self._closed

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def close(self) -> None:
        """Dispose the subscription and stop the iteration; a task waiting in ``__anext__`` gets
        ``StopAsyncIteration``. Idempotent, never blocks, any thread."""
        with self._space:
            self._closed = True
            self._space.notify_all()
        self.finished = True
        self.subscription.dispose()
        if threading.get_ident() == self.loop_thread:
            self._wake()
        else:
            _hand_over(self.loop, self._wake)


class ObservableIterator(AsyncIterator[_T]):
    """An async iterator over one subscription to an observable (made by :func:`iterate`).

    The subscription is made by the first ``__anext__`` and disposed when the iteration ends
    early in any of these ways: the awaiting task is cancelled (``task.cancel()``,
    ``asyncio.timeout``), :meth:`aclose` / :meth:`close` is called, an ``async with`` block
    around it exits, or the iterator is dropped, as after ``break`` or an exception in the body
    of ``async for aio.iterate(...)`` (CPython frees it at once; keep it in a variable and it
    lives on until you close it, so prefer ``async with`` then). Disposing never blocks.

    Each iterator is one subscription; call :func:`iterate` again for another (the source is
    cold: a new request). Only one ``__anext__`` may wait at a time.
    """

    def __init__(self, observable: Observable[_T], *, maxsize: int = 0) -> None:
        if maxsize < 0:
            raise ValueError("maxsize must be 0 (unbounded) or positive")
        self._observable = observable
        self._maxsize = maxsize
        self._channel: _Channel[_T] | None = None
        self._finalizer: weakref.finalize[[], ObservableIterator[_T]] | None = None
        self._closed = False

    def _subscribe(self) -> _Channel[_T]:
        channel: _Channel[_T] = _Channel(asyncio.get_running_loop(), self._maxsize)
        self._channel = channel
        self._finalizer = weakref.finalize(self, channel.close)  # break / drop -> dispose
        if self._closed:  # close() from another thread came before the finalizer existed
            channel.close()
            return channel
        try:
            channel.subscription.disposable = self._observable.subscribe(
                channel.on_next, channel.on_error, channel.on_completed
            )
        except BaseException:  # e.g. "this Client is closed": raised by this __anext__, then the iteration is over
            channel.close()
            raise
        return channel

    async def __anext__(self) -> _T:
        if self._channel is None and self._closed:
            raise StopAsyncIteration
        channel = self._channel or self._subscribe()
        if asyncio.get_running_loop() is not channel.loop:
            raise RuntimeError("this iterator belongs to another event loop")
        if channel.waiter is not None:
            raise RuntimeError("another task is already waiting for this iterator's next value")
        while channel.closed or not channel.buffer:
            if channel.finished:
                raise StopAsyncIteration
            channel.waiter = channel.loop.create_future()
            try:
                await channel.waiter
            except BaseException:  # cancelled: the stream is of no use to anyone any more
                channel.close()
                raise
            finally:
                channel.waiter = None
        kind, value = channel.take()
        if kind == "next":
            return value  # type: ignore[no-any-return]
        if kind == "error":
            raise _raisable(value)
        raise StopAsyncIteration

    @property
    def closed(self) -> bool:
        """Whether the iteration was ended early (closed, cancelled, or its loop closed); an
        iterator that ran to its end or error is not ``closed``."""
        return self._closed or (self._channel is not None and self._channel.closed)

    def close(self) -> None:
        """Dispose the subscription (closing the connection); the iteration then ends. Idempotent."""
        self._closed = True  # closed before the first __anext__: never subscribes
        if self._finalizer is not None:
            self._finalizer()  # runs channel.close once and detaches it from garbage collection

    async def aclose(self) -> None:
        """Like :meth:`close`, awaitable (for ``contextlib.aclosing`` and async generator habits)."""
        self.close()

    async def __aenter__(self) -> ObservableIterator[_T]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


def iterate(observable: Observable[_T], *, maxsize: int = 0) -> ObservableIterator[_T]:
    """An async iterator over ``observable``'s values, delivered on the event loop.

    Marble (``|`` completion, ``#`` error raised in the task, ``x`` dispose)::

        source:     -a--b--c--|
        async for:  -a--b--c--| (StopAsyncIteration)
        task.cancel()   ^  x    (the request's connection is closed)

    Args:
        observable: any observable; a :class:`~openrouter_rx.Client` stream (or a pipe of one)
            is subscribed by the first ``__anext__`` and read on the client's pool.
        maxsize: ``0`` (default): values wait for the consumer in an unbounded buffer (RxPY has no
            backpressure). A positive number bounds the values handed over but not yet taken: the
            producing thread then waits, so a slow consumer slows the reader (and TCP the server);
            a reader held up longer than the request's idle timeout fails with ``IdleTimeout``. A
            producer running on the loop's own thread is never held (it would deadlock).

    Returns:
        An :class:`ObservableIterator`, also an async context manager that disposes on exit.

    Example::

        async with aio.iterate(client.stream("Hi").pipe(orx_ops.content())) as texts:
            async for text in texts:
                print(text, end="")
    """
    return ObservableIterator(observable, maxsize=maxsize)


async def _only_value(observable: Observable[_T], keep: Literal["first", "last"]) -> _T:
    """Subscribe, wait for the value to keep (the last one is kept on the producing thread, so only
    one value crosses to the loop) and dispose on cancel."""
    loop = asyncio.get_running_loop()
    result: asyncio.Future[_T] = loop.create_future()
    latest: list[_T] = []

    def settle(value: list[_T], error: Exception | None) -> None:
        if result.done():
            return
        if error is not None:
            result.set_exception(_raisable(error))
        elif value:
            result.set_result(value[0])
        else:
            empty = SequenceContainsNoElementsError(f"aio.{keep}(): the observable completed without a value")
            result.set_exception(empty)

    def on_next(value: _T) -> None:
        if latest:
            latest[0] = value
        else:
            latest.append(value)

    source = observable.pipe(ops.take(1)) if keep == "first" else observable  # take(1) disposes the rest
    subscription = SingleAssignmentDisposable()

    def on_error(error: Exception) -> None:
        _hand_over(loop, settle, [], error)

    def on_completed() -> None:
        _hand_over(loop, settle, latest[:1], None)

    subscription.disposable = source.subscribe(on_next, on_error, on_completed)
    try:
        return await result
    finally:
        subscription.dispose()  # cancelled (or done: a no-op)


async def first(observable: Observable[_T]) -> _T:
    """The first value of ``observable``; the subscription is then disposed (a stream's connection
    closes without reading the rest).

    Raises:
        The source's error (for a Client stream a typed ``OpenRouterError`` with ``.partial``);
        ``SequenceContainsNoElementsError`` when it completes without a value.

    Example::

        chunk = await aio.first(client.stream("Hi"))
    """
    return await _only_value(observable, "first")


async def last(observable: Observable[_T]) -> _T:
    """The last value of ``observable`` after it completed; only that value crosses to the loop.

    Raises:
        The source's error (for a Client stream a typed ``OpenRouterError`` with ``.partial``);
        ``SequenceContainsNoElementsError`` when it completes without a value.

    Example::

        response = await aio.last(client.stream("Hi").pipe(orx_ops.accumulate()))
    """
    return await _only_value(observable, "last")
