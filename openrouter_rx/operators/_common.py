"""Small helpers shared by the operators (not public)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from reactivex import Observable, abc
from reactivex.disposable import SingleAssignmentDisposable
from reactivex.scheduler import CurrentThreadScheduler, TimeoutScheduler, VirtualTimeScheduler

from ..chunk import Chunk
from ..errors import OpenRouterError
from ..response import Response

_T = TypeVar("_T")

__all__ = [
    "OutputGate",
    "attach_partial",
    "clock_of",
    "complete_with",
    "guarded",
    "has_output",
    "now_seconds",
    "subscribe_queued",
    "timer_clock",
]


def has_output(chunk: Chunk) -> bool:
    """:attr:`Chunk.has_output <openrouter_rx.Chunk.has_output>` (the operators' one definition of output)."""
    return chunk.has_output


def clock_of(scheduler: abc.SchedulerBase | None, subscribe_scheduler: abc.SchedulerBase | None) -> abc.SchedulerBase:
    """The scheduler an operator reads time from and waits on.

    The operator's own ``scheduler=`` wins, then the one given to ``subscribe``, then the
    timeout scheduler (wall-clock time, timers on threads).
    """
    return scheduler or subscribe_scheduler or TimeoutScheduler.singleton()


def timer_clock(
    scheduler: abc.SchedulerBase | None, subscribe_scheduler: abc.SchedulerBase | None
) -> abc.SchedulerBase:
    """Like :func:`clock_of`, for operators that wait. Only a virtual-time subscribe scheduler
    (TestScheduler, for marble tests) is used for timers: any other may be the very thread that
    is blocked reading the stream (trampoline, event loop, asyncio) or cannot wait at all
    (immediate), so timers go to the timeout scheduler. An explicit ``scheduler=`` always wins."""
    fit = subscribe_scheduler if isinstance(subscribe_scheduler, VirtualTimeScheduler) else None
    return clock_of(scheduler, fit)


def guarded(error: Exception, call: Callable[[], _T]) -> tuple[_T | None, Exception | None]:
    """Run a user-supplied predicate or callback about ``error``: ``(result, None)``, or
    ``(None, exc)`` when it raised, with ``exc`` chained to ``error`` (``__cause__``)."""
    try:
        return call(), None
    except Exception as exc:
        if exc is not error and exc.__cause__ is None:
            exc.__cause__ = error
        return None, exc


def complete_with(observer: abc.ObserverBase[Any], values: Iterable[Any]) -> None:
    """Emit ``values`` then complete.

    An exception raised downstream by one of those ``on_next`` calls is delivered to
    ``on_error``: the source has already completed, so nobody upstream could report it.
    """
    try:
        for value in values:
            observer.on_next(value)
    except Exception as error:
        observer.on_error(error)
        return
    observer.on_completed()


def subscribe_queued(
    source: Observable[Any],
    holder: SingleAssignmentDisposable,
    on_next: Callable[[Any], None],
    on_error: Callable[[Exception], None],
    on_completed: Callable[[], None],
    scheduler: abc.SchedulerBase | None,
) -> None:
    """Subscribe to ``source`` into ``holder``, through this thread's trampoline.

    A re-subscription made from a timer or reader thread would otherwise run a synchronous
    source (a client stream read on the trampoline) inside ``subscribe()``, before ``holder``
    has the disposable, so dispose (``take(n)``) could not stop it. When a trampoline is already
    running on this thread the subscription is made at once (queueing it there could deadlock a
    caller blocked inside the running action).
    """

    def action(_: abc.SchedulerBase | None = None, __: Any = None) -> None:
        holder.disposable = source.subscribe(on_next, on_error, on_completed, scheduler=scheduler)

    trampoline = CurrentThreadScheduler.singleton()
    if trampoline.schedule_required():
        trampoline.schedule(action)  # no trampoline running here: start one, so reads queue behind us
    else:
        action()  # already on a running trampoline: a synchronous read queues itself; never wait for it


def now_seconds(scheduler: abc.SchedulerBase) -> float:
    """The scheduler's current time in seconds (virtual seconds on a TestScheduler)."""
    now: Any = scheduler.now
    return float(now.timestamp())


def attach_partial(error: Exception, partial: Response, chunk_count: int) -> Exception:
    """Attach ``partial`` to ``error`` so that nothing received is lost, and return the error.

    Only when this operator received chunks (otherwise whatever upstream attached stays, and
    ``partial`` stays ``None`` when nothing was received at all). An
    :class:`~openrouter_rx.errors.OpenRouterError` gets ``partial`` and ``chunk_count``; any other
    exception gets a ``partial`` attribute when it accepts attributes.
    """
    if not chunk_count:
        return error  # nothing received here: keep what upstream attached (or None)
    if isinstance(error, OpenRouterError):
        error.partial = partial
        error.chunk_count = chunk_count
        return error
    try:
        error.partial = partial  # type: ignore[attr-defined]
    except (AttributeError, TypeError):  # exceptions with __slots__: nothing to attach to
        pass
    return error


class OutputGate:
    """Forwards chunks to ``observer``, holding back those without output until the first one with.

    Used by the operators that may re-run a request (retry, fallback): what is held when an
    attempt fails is thrown away (:meth:`reset`), so downstream never sees a role chunk twice.
    """

    __slots__ = ("_held", "_observer", "opened")

    def __init__(self, observer: abc.ObserverBase[Chunk]) -> None:
        self._observer = observer
        self._held: list[Chunk] = []
        self.opened = False

    def on_next(self, chunk: Chunk) -> None:
        """Deliver ``chunk`` (and what was held) once output has been seen; hold it otherwise."""
        if self.opened:
            self._observer.on_next(chunk)
            return
        self._held.append(chunk)
        if has_output(chunk):
            self.opened = True
            self._release()

    def on_completed(self) -> None:
        """Deliver what is held, then complete (see :func:`complete_with`)."""
        held, self._held = self._held, []
        complete_with(self._observer, held)

    def fail(self, error: Exception) -> None:
        """Deliver what is held, then the error (a final failure: nothing is lost)."""
        try:
            self._release()
        except Exception as downstream:  # the subscriber failed on a held chunk: report that one,
            if downstream.__context__ is None and downstream is not error:
                downstream.__context__ = error  # with the stream's error attached, not dropped
            self._observer.on_error(downstream)
            return
        self._observer.on_error(error)

    def reset(self) -> None:
        """Forget what is held, for a new attempt."""
        self._held = []
        self.opened = False

    def _release(self) -> None:
        held, self._held = self._held, []
        for chunk in held:
            self._observer.on_next(chunk)
