"""Values of an observable, handed over to the calling thread (the CLI renders on it).

The request's read runs on the client's pool; the main thread waits for values in short
slices so that Ctrl-C (KeyboardInterrupt) is seen at once, and leaving the loop for any reason
disposes the subscription, which closes the connection.
"""

from __future__ import annotations

import queue
from collections.abc import Generator
from contextlib import closing
from typing import Any, TypeVar

from reactivex import Observable

__all__ = ["iterate", "last"]

T = TypeVar("T")

_NEXT, _ERROR, _DONE = 0, 1, 2
_SLICE = 0.1


def iterate(observable: Observable[T]) -> Generator[T, None, None]:
    """Subscribe to ``observable`` and yield its values on the calling thread.

    ``on_error`` is re-raised here. Closing the generator (or an exception in the consumer,
    ``KeyboardInterrupt`` included) disposes the subscription. Waits rely on the request's own
    idle and total timeouts to end.

    Args:
        observable: any observable (typically a pipeline over ``client.stream(...)``).

    Yields:
        Each value, in order.
    """
    handoff: queue.SimpleQueue[tuple[int, Any]] = queue.SimpleQueue()
    subscription = observable.subscribe(
        lambda value: handoff.put((_NEXT, value)),
        lambda error: handoff.put((_ERROR, error)),
        lambda: handoff.put((_DONE, None)),
    )
    try:
        while True:
            try:
                kind, value = handoff.get(timeout=_SLICE)
            except queue.Empty:
                continue
            if kind == _NEXT:
                yield value
            elif kind == _ERROR:
                raise value
            else:
                return
    finally:
        subscription.dispose()


def last(observable: Observable[T]) -> T:
    """The last value of ``observable`` (waited for as :func:`iterate` does).

    Raises:
        LookupError: it completed without a value.
    """
    found: list[T] = []
    with closing(iterate(observable)) as values:
        for value in values:
            found[:] = [value]
    if not found:
        raise LookupError("the observable completed without a value")
    return found[0]
