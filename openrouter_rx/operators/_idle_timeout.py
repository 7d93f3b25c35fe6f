"""``idle_timeout``: fail a chunk stream that goes quiet, keeping what was received."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from reactivex import Observable, abc
from reactivex.disposable import Disposable, SerialDisposable, SingleAssignmentDisposable

from .._accumulator import ResponseAccumulator
from ..chunk import Chunk
from ..chunk_stream import same_request
from ..errors import IdleTimeout
from ._common import attach_partial, now_seconds, timer_clock

__all__ = ["idle_timeout"]


def _describe(seconds: float) -> str:
    return f"{seconds:g} s"


def idle_timeout(
    seconds: float, *, first: float | None = None, scheduler: abc.SchedulerBase | None = None
) -> Callable[[Observable[Chunk]], Observable[Chunk]]:
    """Pass chunks through, but fail with :class:`~openrouter_rx.errors.IdleTimeout` when the
    source goes quiet: no chunk within ``seconds`` of the previous one (or of subscribing).

    On timeout the upstream subscription is disposed first (for a client stream this closes the
    HTTP connection), then ``IdleTimeout`` is emitted with ``timeout`` set to the allowance that
    ran out and ``partial``/``chunk_count`` holding what was received, so nothing is lost.
    Errors and completion of the source pass through unchanged.

    Every chunk counts as activity (role-only and usage chunks too). The allowance restarts when
    the chunk has been handed downstream, so time spent in a slow ``on_next`` is not counted
    against the source. Client streams already have ``Timeout(idle=...)``; this operator is for
    other sources, or for a tighter limit on part of a pipeline. Put it before any retry
    operator so that each attempt gets its own timer and partial.

    Marble (``idle_timeout(3)``, one frame = one second)::

        chunks:          -a-b------c-|
        idle_timeout(3): -a-b--#           IdleTimeout at 6, err.partial.content == "ab"

        chunks:          -----a-b-|
        idle_timeout(3, first=6):
                         -----a-b-|        the first chunk may take up to 6 s

    Example::

        stream.pipe(orx_ops.idle_timeout(20, first=120), orx_ops.retry_with_backoff())

    Args:
        seconds: the longest allowed wait for a chunk after the previous one.
        first: the longest allowed wait for the first chunk after subscribing (for models that
            think before they write); default ``seconds``.
        scheduler: where the timers run and time is read (default: the subscribe scheduler when
            it is a virtual-time one such as a TestScheduler, else the
            :class:`~reactivex.scheduler.TimeoutScheduler`, whose timers never wait behind a
            blocked read). The timeout error is emitted there: ``observe_on`` your UI scheduler.

    Returns:
        A pass-through operator on ``Observable[Chunk]`` (a stream made by ``client.stream`` stays a
        :class:`~openrouter_rx.ChunkStream`, so ``fallback_to_non_streaming`` can follow).
    """
    if not seconds > 0:
        raise ValueError(f"seconds must be positive, got {seconds!r}")
    if first is not None and not first > 0:
        raise ValueError(f"first must be positive, got {first!r}")
    first_allowance = first if first is not None else seconds

    def operator(source: Observable[Chunk]) -> Observable[Chunk]:
        def subscribe(
            observer: abc.ObserverBase[Chunk], subscribe_scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            clock = timer_clock(scheduler, subscribe_scheduler)
            # The lock serialises the timer's decision with on_next, so an error never overlaps a chunk.
            lock = threading.RLock()
            acc = ResponseAccumulator()
            upstream = SingleAssignmentDisposable()
            timer = SerialDisposable()
            done = False
            deadline = now_seconds(clock) + first_allowance  # when the source will have been quiet too long
            due = deadline  # when the armed timer fires (never later than the deadline)

            def fire(_: abc.SchedulerBase, __: Any = None) -> None:
                # One timer at a time, not one per chunk: when it fires early (chunks moved the
                # deadline on), it re-arms for the new deadline.
                nonlocal done, due
                with lock:
                    if done:
                        return
                    now = now_seconds(clock)
                    if now < deadline:
                        due = deadline
                        timer.disposable = clock.schedule_relative(deadline - now, fire)
                        return
                    done = True
                    count = acc.chunk_count
                    partial = acc.response()
                upstream.dispose()
                if count:
                    message = f"no chunk within {_describe(seconds)} after chunk {count}"
                else:
                    message = f"no chunk within {_describe(first_allowance)} of subscribing"
                error = IdleTimeout(message, timeout=seconds if count else first_allowance)
                observer.on_error(attach_partial(error, partial, count))

            def on_next(chunk: Chunk) -> None:
                nonlocal deadline, due
                with lock:
                    if done:
                        return
                    try:
                        acc.add(chunk)
                    except Exception as error:  # e.g. something that is not a Chunk
                        stop()
                        observer.on_error(error)
                        return
                    observer.on_next(chunk)
                    deadline = now_seconds(clock) + seconds
                    if deadline < due and not done:  # e.g. after a long first allowance: re-arm sooner
                        due = deadline
                        timer.disposable = clock.schedule_relative(seconds, fire)

            def stop() -> bool:
                nonlocal done
                with lock:
                    if done:
                        return False
                    done = True
                timer.dispose()
                return True

            def on_error(error: Exception) -> None:
                if stop():
                    observer.on_error(error)

            def on_completed() -> None:
                if stop():
                    observer.on_completed()

            def dispose() -> None:
                nonlocal done
                done = True  # no lock: dispose must never wait (it may run on a UI thread)
                timer.dispose()
                upstream.dispose()

            # Armed before subscribing, so a source that blocks inside subscribe still times out.
            timer.disposable = clock.schedule_relative(first_allowance, fire)
            upstream.disposable = source.subscribe(on_next, on_error, on_completed, scheduler=subscribe_scheduler)
            return Disposable(dispose)

        return same_request(source, subscribe)  # fallback_to_non_streaming still works after it

    return operator
