"""``accumulate`` and ``snapshots``: fold a chunk stream into :class:`~openrouter_rx.Response` objects."""

from __future__ import annotations

from collections.abc import Callable

from reactivex import Observable, abc

from .._accumulator import ResponseAccumulator
from ..chunk import Chunk
from ..chunk_stream import RequestContext, context_of
from ..response import Response
from ._common import attach_partial, clock_of, complete_with, has_output, now_seconds

__all__ = ["accumulate", "snapshots"]


def _fold(
    emit_every_chunk: bool, scheduler: abc.SchedulerBase | None
) -> Callable[[Observable[Chunk]], Observable[Response]]:
    def operator(source: Observable[Chunk]) -> Observable[Response]:
        known = context_of(source)

        def subscribe(
            observer: abc.ObserverBase[Response], subscribe_scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            clock = clock_of(scheduler, subscribe_scheduler)
            started = now_seconds(clock)
            acc = ResponseAccumulator()
            first_output: float | None = None
            # The first chunk that knows its request wins over ``known`` (after publish/share, a fallback).
            told: RequestContext | None = None

            def current() -> Response:
                context = told if told is not None else known
                if context is None:
                    return acc.response(response_time=now_seconds(clock) - started, time_to_first_token=first_output)
                # The format is built in (no copy per snapshot); finishing then only adds pricing.
                response = acc.response(
                    response_time=now_seconds(clock) - started,
                    time_to_first_token=first_output,
                    response_format=context.response_format,
                )
                return context.finish_response(response)

            def on_next(chunk: Chunk) -> None:
                nonlocal first_output, told
                if told is None:
                    told = chunk.context
                if first_output is None and has_output(chunk):
                    first_output = now_seconds(clock) - started
                acc.add(chunk)
                if emit_every_chunk:
                    observer.on_next(current())

            def on_error(error: Exception) -> None:
                observer.on_error(attach_partial(error, current(), acc.chunk_count))

            def on_completed() -> None:
                complete_with(observer, () if emit_every_chunk else (current(),))

            return source.subscribe(on_next, on_error, on_completed, scheduler=subscribe_scheduler)

        return Observable(subscribe)

    return operator


def accumulate(*, scheduler: abc.SchedulerBase | None = None) -> Callable[[Observable[Chunk]], Observable[Response]]:
    """Fold the stream into one :class:`~openrouter_rx.Response`, emitted when the source completes.

    Content and reasoning are joined in order (linear time); ``finish_reason`` comes from the
    chunk that carries it (usage follows it); ``usage`` from the usage chunk; every choice index
    is kept; ``reasoning_details`` are merged by index and type (encrypted entries kept opaque);
    id/model/provider/created come from the first chunk that has them. ``time_to_first_token``
    and ``response_time`` are measured on the scheduler from the moment of subscription.

    When the source errors, the error is re-raised with ``err.partial`` set to the response built
    so far (and ``err.chunk_count``), so nothing received is lost.

    Marble::

        chunks:        -a-b-c-u-|
        accumulate():  ---------(r,|)    r = Response(content="abc", usage=u)

        chunks:        -a-b-#
        accumulate():  -----#            err.partial.content == "ab"

    Example::

        response = client.stream("Hi").pipe(orx_ops.accumulate()).run()
        print(response.content, response.usage)

    Args:
        scheduler: where time is read (default: the subscribe scheduler, else wall-clock).
    """
    return _fold(False, scheduler)


def snapshots(*, scheduler: abc.SchedulerBase | None = None) -> Callable[[Observable[Chunk]], Observable[Response]]:
    """Emit the running :class:`~openrouter_rx.Response` after every chunk (for UIs that redraw it all).

    Each snapshot is a whole, immutable response; the last one equals what :func:`accumulate`
    emits. Building a snapshot joins the text received so far, so for very long streams on a UI
    conflate to the latest first with ``ops.sample(interval)`` (e.g. ``ops.sample(0.05)``: at most
    one redraw per interval while chunks arrive, and the last snapshot is still emitted at
    completion); not ``ops.throttle_with_timeout``, a debounce that shows nothing until the
    chunks pause. Errors carry ``err.partial`` like :func:`accumulate`.

    Marble::

        chunks:       -a-b-c-|
        snapshots():  -x-y-z-|     x.content == "a", y.content == "ab", z.content == "abc"

    Args:
        scheduler: where time is read (default: the subscribe scheduler, else wall-clock).
    """
    return _fold(True, scheduler)
