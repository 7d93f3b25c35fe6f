"""Small helpers shared by the operators (not public)."""

from __future__ import annotations

from typing import Any

from reactivex import abc
from reactivex.scheduler import ImmediateScheduler, NewThreadScheduler, TimeoutScheduler, TrampolineScheduler

from ..chunk import Chunk
from ..errors import OpenRouterError
from ..response import Response

__all__ = ["OutputGate", "attach_partial", "clock_of", "has_output", "seconds", "timer_clock"]

# Subscribe schedulers that cannot hold a timer for an operator: ImmediateScheduler refuses to
# wait (WouldBlockException), trampolines (CurrentThreadScheduler) wait on the very thread that
# is reading, and NewThreadScheduler/ThreadPoolScheduler would park one of their threads per
# timer. With these, timers go to the TimeoutScheduler (an explicit ``scheduler=`` always wins).
_NOT_FOR_TIMERS = (ImmediateScheduler, TrampolineScheduler, NewThreadScheduler)


def has_output(chunk: Chunk) -> bool:
    """True when the chunk carries something a user sees: content, reasoning, refusal or a tool call.

    Role-only chunks, empty deltas, finish and usage chunks carry no output.
    """
    for choice in chunk.choices:
        delta = choice.delta
        if delta.content or delta.reasoning or delta.refusal or delta.tool_calls or delta.reasoning_details:
            return True
    return False


def clock_of(scheduler: abc.SchedulerBase | None, subscribe_scheduler: abc.SchedulerBase | None) -> abc.SchedulerBase:
    """The scheduler an operator reads time from and waits on.

    The operator's own ``scheduler=`` wins, then the one given to ``subscribe``, then the
    timeout scheduler (wall-clock time, timers on threads).
    """
    return scheduler or subscribe_scheduler or TimeoutScheduler.singleton()


def timer_clock(
    scheduler: abc.SchedulerBase | None, subscribe_scheduler: abc.SchedulerBase | None
) -> abc.SchedulerBase:
    """Like :func:`clock_of`, for operators that wait: a subscribe scheduler that cannot run a
    timer for us (immediate, trampoline, thread pools) is replaced by the timeout scheduler."""
    fit = None if isinstance(subscribe_scheduler, _NOT_FOR_TIMERS) else subscribe_scheduler
    return clock_of(scheduler, fit)


def seconds(scheduler: abc.SchedulerBase) -> float:
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
        """Deliver what is held, then complete."""
        self._release()
        self._observer.on_completed()

    def fail(self, error: Exception) -> None:
        """Deliver what is held, then the error (a final failure: nothing is lost)."""
        self._release()
        self._observer.on_error(error)

    def reset(self) -> None:
        """Forget what is held, for a new attempt."""
        self._held = []
        self.opened = False

    def _release(self) -> None:
        held, self._held = self._held, []
        for chunk in held:
            self._observer.on_next(chunk)
