"""The blocking bridge: consume any observable from plain, synchronous code.

::

    from openrouter_rx import blocking

    for chunk in blocking.iterate(client.stream("Hi")):       # values on this thread
        print(chunk.content, end="")
    response = blocking.wait(client.complete("2 + 2?"))       # the last value

The observable runs where it always runs (a client's request reads on the client's pool); its
values are handed over to the calling thread through a queue. Every wait is made in short
slices, so Ctrl-C is seen at once, and leaving early (``break``, an exception, Ctrl-C, closing
or dropping the generator) disposes the subscription: a request's connection is closed.
Called inside a running trampoline (an ``on_next`` of ``reactivex.of(...)``), it subscribes on a
helper thread, so a synchronous source cannot wait behind the blocked caller.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Generator
from typing import Any, Final, TypeVar

from reactivex import Observable, abc
from reactivex.disposable import SingleAssignmentDisposable
from reactivex.scheduler import CurrentThreadScheduler

from .errors import IdleTimeout

__all__ = ["iterate", "wait"]

_T = TypeVar("_T")

_SLICE: Final = 0.1
"""Seconds of one wait slice (KeyboardInterrupt is seen between two, on every platform)."""

_MISSING: Any = object()


class _End:
    """What ends the values in the inbox: the observable's error, or ``None`` for completion."""

    __slots__ = ("error",)

    def __init__(self, error: Exception | None) -> None:
        self.error = error


_COMPLETED: Final = _End(None)


def iterate(observable: Observable[_T], *, timeout: float | None = None) -> Generator[_T, None, None]:
    """Subscribe to ``observable`` and yield its values on the calling thread, in order.

    Nothing is subscribed before the first ``next()``. An ``on_error`` is raised here (the
    same exception object). The subscription is disposed when the generator ends, is closed
    (``close()``, leaving a ``with contextlib.closing(...)`` block) or garbage-collected, and
    when the consumer's code raises out of a ``for`` loop written over ``iterate(...)`` itself
    (KeyboardInterrupt included: Ctrl-C closes the connection). A generator kept in a variable
    lives as long as the variable (and a traceback that holds its frame): use ``closing()``.
    Values wait in an unbounded queue until taken.

    Like any generator it belongs to the thread that iterates it: ``close()`` from another
    thread while it waits raises ``ValueError`` ("generator already executing"). To stop it
    from elsewhere, end the source: ``iterate(source.pipe(ops.take_until(stop)))`` with a
    ``Subject`` ``stop``; ``stop.on_next(None)`` from any thread ends the loop and disposes.

    Example::

        with contextlib.closing(blocking.iterate(client.stream("Hi"), timeout=30)) as chunks:
            for chunk in chunks:
                print(chunk.content, end="", flush=True)

    Args:
        observable: any observable (a synchronous one runs entirely inside the first ``next()``).
        timeout: the longest wait, in seconds, for each next value (or the end);
            :class:`~openrouter_rx.errors.IdleTimeout` (and the subscription disposed) when it
            passes. ``None`` waits as long as the source takes (a request ends by its own
            idle/total timeouts).

    Raises:
        ValueError: ``timeout`` is not positive.
    """
    if timeout is not None and not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds or None, not {timeout!r}")
    return _iterate(observable, timeout)


def _subscribe(observable: Observable[Any], inbox: queue.SimpleQueue[Any]) -> abc.DisposableBase:
    """Subscribe so that every notification lands in ``inbox`` (a value as it is, the end as an ``_End``).

    Inside a running trampoline (``CurrentThreadScheduler``, e.g. in an ``on_next`` of
    ``reactivex.of(...)``) a synchronous source would queue its work behind the action that is
    now blocked waiting for it: then the subscription is made on a helper thread, which runs
    its own trampoline.
    """

    def subscribe() -> abc.DisposableBase:
        return observable.subscribe(inbox.put, lambda error: inbox.put(_End(error)), lambda: inbox.put(_COMPLETED))

    if CurrentThreadScheduler.singleton().schedule_required():
        return subscribe()  # no trampoline running on this thread
    holder = SingleAssignmentDisposable()

    def run() -> None:
        try:
            holder.disposable = subscribe()
        except Exception as error:  # subscribe() itself failed: report it like an on_error
            inbox.put(_End(error))

    threading.Thread(target=run, name="openrouter_rx-blocking-subscribe", daemon=True).start()
    return holder


def _iterate(observable: Observable[_T], timeout: float | None) -> Generator[_T, None, None]:
    inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
    subscription = _subscribe(observable, inbox)
    try:
        while True:
            item = _take(inbox, timeout)
            if type(item) is not _End:
                yield item
            elif item.error is not None:
                raise item.error
            else:
                return
    finally:
        subscription.dispose()


def _take(inbox: queue.SimpleQueue[Any], timeout: float | None) -> Any:
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        wait = _SLICE if deadline is None else min(_SLICE, deadline - time.monotonic())
        if wait <= 0:
            raise IdleTimeout(f"no value within {timeout:g}s", timeout=timeout)
        try:
            return inbox.get(timeout=wait)
        except queue.Empty:
            continue


def wait(observable: Observable[_T], timeout: float | None = None, *, default: Any = _MISSING) -> _T:
    """Subscribe, block until ``observable`` ends and return its last value.

    Example::

        response = blocking.wait(client.complete("2 + 2?"))

    Args:
        observable: any observable.
        timeout: the longest wait for each value (or the end), as in :func:`iterate`.
        default: returned when the observable completes without a value (else ``ValueError``).

    Raises:
        Exception: the observable's error, as it is.
        IdleTimeout: ``timeout`` passed without a value.
        ValueError: it completed without a value and no ``default`` was given.
    """
    last: Any = _MISSING
    for value in iterate(observable, timeout=timeout):
        last = value
    if last is _MISSING:
        if default is _MISSING:
            raise ValueError("the observable completed without a value")
        return default  # type: ignore[no-any-return]
    return last  # type: ignore[no-any-return]
