"""``track_usage``: record each request's usage in a :class:`~openrouter_rx.UsageTracker`, passing chunks through."""

from __future__ import annotations

from collections.abc import Callable

from reactivex import Observable, abc

from ..chunk import Chunk
from ..chunk_stream import same_request
from ..usage import UsageTracker

__all__ = ["track_usage"]


def track_usage(tracker: UsageTracker) -> Callable[[Observable[Chunk]], Observable[Chunk]]:
    """Pass every chunk through unchanged and record the request's usage in ``tracker``.

    Each subscription is one request: its usage is recorded once, from the first chunk that
    carries usage, at the moment that chunk arrives (before it is passed on), so it counts even
    when the stream fails or is disposed afterwards. The model is the ``model`` of the first
    chunk that has one (the usage chunk's own, at the latest). A re-subscription (``ops.retry``,
    ``retry_with_backoff``) is a new request and is recorded again only if it delivers usage.

    Where to put it: directly on the source (before retries) records every attempt that
    delivered usage, but not the request ``fallback_to_non_streaming`` sends; after the retry
    and fallback operators it records what the delivered answer cost, the fallback included
    (once per subscription, so an earlier attempt's usage would hide a later one's).

    Marble::

        chunks:           -a-b-u-|
        track_usage(t):   -a-b-u-|     t.record(u.usage, model) at u

        chunks:           -a-u-#
        track_usage(t):   -a-u-#       recorded at u, then the error passes through

    Example::

        tracker = orx.UsageTracker()
        answer = client.stream("Hi").pipe(orx_ops.track_usage(tracker), orx_ops.accumulate()).run()
        print(tracker.summary())

    Args:
        tracker: the :class:`~openrouter_rx.UsageTracker` to record into (shared, thread-safe).

    Returns:
        A pass-through operator on ``Observable[Chunk]`` (a stream made by ``client.stream`` stays a
        :class:`~openrouter_rx.ChunkStream`, so ``fallback_to_non_streaming`` can follow).
    """

    def operator(source: Observable[Chunk]) -> Observable[Chunk]:
        def subscribe(
            observer: abc.ObserverBase[Chunk], subscribe_scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            recorded = False
            model: str | None = None

            def on_next(chunk: Chunk) -> None:
                nonlocal recorded, model
                if not recorded:
                    if model is None:
                        model = chunk.model
                    if chunk.usage is not None:
                        recorded = True
                        try:
                            tracker.record(chunk.usage, model)
                        except Exception as error:
                            observer.on_error(error)
                            return
                observer.on_next(chunk)

            return source.subscribe(on_next, observer.on_error, observer.on_completed, scheduler=subscribe_scheduler)

        return same_request(source, subscribe)  # fallback_to_non_streaming still works after it

    return operator
