"""``content`` and ``reasoning``: the text deltas of one choice, as strings."""

from __future__ import annotations

from collections.abc import Callable

from reactivex import Observable, abc

from ..chunk import Chunk

__all__ = ["content", "reasoning"]


def _texts(field: str, choice: int) -> Callable[[Observable[Chunk]], Observable[str]]:
    def operator(source: Observable[Chunk]) -> Observable[str]:
        def subscribe(
            observer: abc.ObserverBase[str], subscribe_scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            def on_next(chunk: Chunk) -> None:
                for item in chunk.choices:
                    if item.index == choice:
                        text = getattr(item.delta, field)
                        if text:
                            observer.on_next(text)
                        return

            return source.subscribe(on_next, observer.on_error, observer.on_completed, scheduler=subscribe_scheduler)

        return Observable(subscribe)

    return operator


def content(choice: int = 0) -> Callable[[Observable[Chunk]], Observable[str]]:
    """The content text deltas of choice ``choice`` (default 0); empty deltas are dropped.

    Errors and completion pass through unchanged.

    Marble::

        chunks:     -a-r-b-f-u-|     r: role only, f: finish, u: usage
        content():  -a---b-----|

    Example::

        client.stream("Hi").pipe(orx_ops.content()).subscribe(lambda text: print(text, end=""))
    """
    return _texts("content", choice)


def reasoning(choice: int = 0) -> Callable[[Observable[Chunk]], Observable[str]]:
    """The reasoning text deltas (``delta.reasoning``) of choice ``choice``; empty ones are dropped.

    Marble::

        chunks:       -p-q-a-|      p, q: reasoning deltas, a: content
        reasoning():  -p-q---|
    """
    return _texts("reasoning", choice)
