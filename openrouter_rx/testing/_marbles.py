"""Marble-test helpers: chunk lookups for marble strings and a one-call runner in virtual time.

::

    from openrouter_rx import operators as orx_ops
    from openrouter_rx.testing import chunk_lookup, run_marbles

    lookup = chunk_lookup(a="Hel", b="lo", f={"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    run = run_marbles(orx_ops.content(), "-a-b-f|", lookup)
    assert run.values == ["Hel", "lo"]
    assert run.events == [(1, "N", "Hel"), (3, "N", "lo"), (6, "C", None)]

Letters name values because RxPY's marble parser reads digits as numbers.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import reactivex
from reactivex import Observable
from reactivex.notification import OnCompleted, OnError, OnNext
from reactivex.testing import TestScheduler

from ..chunk import Chunk

__all__ = ["MarbleRun", "chunk_lookup", "chunk_marbles", "run_marbles", "to_chunk"]

_LETTERS = string.ascii_letters

SUBSCRIBED = 200.0
"""Virtual time at which :func:`run_marbles` subscribes (TestScheduler's convention)."""


def to_chunk(value: str | Chunk | Mapping[str, Any]) -> Chunk:
    """A :class:`Chunk` from text (one content delta of choice 0), a wire dict, or a Chunk."""
    if isinstance(value, Chunk):
        return value
    if isinstance(value, str):
        return Chunk.from_dict({"choices": [{"index": 0, "delta": {"content": value}}]})
    return Chunk.from_dict(value)


def chunk_lookup(**values: str | Chunk | Mapping[str, Any]) -> dict[str | float, Any]:
    """A marbles ``lookup`` whose letters stand for chunks (see :func:`to_chunk`).

    ``chunk_lookup(a="Hel", b="lo", u=factory.usage())`` → ``{"a": Chunk, "b": Chunk, "u": Chunk}``.
    """
    for name in values:
        if len(name) != 1 or name.isdigit():
            raise ValueError(f"marble names are single non-digit characters, got {name!r}")
    return {name: to_chunk(value) for name, value in values.items()}


def chunk_marbles(
    items: Iterable[str | Chunk | Mapping[str, Any]], *, gap: int = 1, end: str = "|"
) -> tuple[str, dict[str | float, Any]]:
    """A marble string and its lookup for a sequence of chunks, one letter per chunk.

    ``chunk_marbles(text_chunks("Hi there"))`` → ``("-a-b-c-d-e|", {"a": ..., ...})``: each chunk
    ``gap`` frames after the previous one; ``end`` is ``"|"`` (complete), ``"#"`` (error) or ``""``.
    """
    lookup: dict[str | float, Any] = {}
    marbles = ""
    for position, item in enumerate(items):
        if position >= len(_LETTERS):
            raise ValueError(f"at most {len(_LETTERS)} chunks fit in one marble string")
        letter = _LETTERS[position]
        lookup[letter] = to_chunk(item)
        marbles += "-" * gap + letter
    return marbles + "-" * gap + end, lookup


Kind = Literal["N", "E", "C"]


@dataclass
class MarbleRun:
    """What :func:`run_marbles` recorded.

    ``events`` are ``(frame, kind, value)`` with frames counted from the subscription, kind
    ``"N"`` (next), ``"E"`` (error: value is the exception itself, so its type can be checked)
    or ``"C"`` (completed, value ``None``). ``subscriptions`` are the frames at which the source
    was subscribed (more than one means a retry re-subscribed it).
    """

    events: list[tuple[float, Kind, Any]] = field(default_factory=list)
    subscriptions: list[float] = field(default_factory=list)
    disposals: list[float] = field(default_factory=list)

    @property
    def values(self) -> list[Any]:
        """The values emitted, in order."""
        return [value for _, kind, value in self.events if kind == "N"]

    @property
    def error(self) -> BaseException | None:
        """The error that ended the run, if any."""
        for _, kind, value in self.events:
            if kind == "E":
                return value  # type: ignore[no-any-return]
        return None

    @property
    def completed(self) -> bool:
        """True when the run completed."""
        return any(kind == "C" for _, kind, _ in self.events)

    def frames(self) -> list[float]:
        """The frame of every event, in order."""
        return [frame for frame, _, _ in self.events]


def _frame(time: float, timespan: float) -> float:
    frame = (time - SUBSCRIBED) / timespan
    return int(frame) if float(frame).is_integer() else frame


def run_marbles(
    operator: Callable[[Observable[Any]], Observable[Any]] | None,
    source: str,
    lookup: Mapping[str | float, Any] | None = None,
    *,
    error: Exception | None = None,
    timespan: float = 1.0,
    dispose_at: float | None = None,
    scheduler: TestScheduler | None = None,
) -> MarbleRun:
    """Run ``operator`` over a cold marble ``source`` in virtual time and record the output.

    Args:
        operator: the pipeable operator (or a composed pipeline), or ``None`` to record the source.
        source: the marble string of the source, e.g. ``"-a-b-#"``.
        lookup: what each letter stands for (:func:`chunk_lookup`, :func:`chunk_marbles`).
        error: the exception a ``#`` raises.
        timespan: virtual seconds per frame (operators that wait, such as retries, measure in these).
        dispose_at: frame at which the subscriber disposes (default: never).
        scheduler: a :class:`TestScheduler` to use (one is made otherwise).
    """
    sched = scheduler or TestScheduler()
    run = MarbleRun()
    base = reactivex.from_marbles(source, timespan=timespan, lookup=dict(lookup or {}), error=error)

    def subscribe(observer: Any, sub_scheduler: Any = None) -> Any:
        run.subscriptions.append(_frame(sched.clock, timespan))
        inner = base.subscribe(observer, scheduler=sub_scheduler)

        def dispose() -> None:
            run.disposals.append(_frame(sched.clock, timespan))
            inner.dispose()

        return reactivex.disposable.Disposable(dispose)

    counted: Observable[Any] = reactivex.create(subscribe)
    pipeline = operator(counted) if operator is not None else counted
    disposed = SUBSCRIBED + dispose_at * timespan if dispose_at is not None else 1e9
    observer = sched.start(lambda: pipeline, created=100.0, subscribed=SUBSCRIBED, disposed=disposed)
    for message in observer.messages:
        notification = message.value
        frame = _frame(message.time, timespan)
        if isinstance(notification, OnNext):
            run.events.append((frame, "N", notification.value))
        elif isinstance(notification, OnError):
            run.events.append((frame, "E", notification.exception))
        elif isinstance(notification, OnCompleted):
            run.events.append((frame, "C", None))
    return run
