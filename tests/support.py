"""Plumbing shared by the loopback test modules (not a test module itself)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import reactivex
from reactivex import operators as ops

WAIT = 10.0
"""Seconds any test waits for an observable to end before failing (no test may hang)."""

Operator = Callable[[reactivex.Observable[Any]], reactivex.Observable[Any]]


def recorded_root() -> Path | None:
    """``../shared/recorded`` next to the repository (or ``$OPENROUTER_RX_RECORDED``), if present."""
    env = os.environ.get("OPENROUTER_RX_RECORDED")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[2] / "shared" / "recorded")
    return next((p for p in candidates if p.is_dir()), None)


class Sink:
    """An observer that records what it gets and signals the end."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self.error: Exception | None = None
        self.completed = False
        self.done = threading.Event()

    def on_next(self, item: Any) -> None:
        self.items.append(item)

    def on_error(self, error: Exception) -> None:
        self.error = error
        self.done.set()

    def on_completed(self) -> None:
        self.completed = True
        self.done.set()

    def subscribe_to(self, observable: reactivex.Observable[Any], **subscribe: Any) -> Sink:
        observable.subscribe(self.on_next, self.on_error, self.on_completed, **subscribe)
        return self

    def wait(self, timeout: float = WAIT) -> Sink:
        assert self.done.wait(timeout), "the observable did not end in time"
        return self

    def ok(self) -> list[Any]:
        """The items, after checking the observable completed without error."""
        self.wait()
        assert self.error is None, f"unexpected error: {self.error!r}"
        assert self.completed
        return self.items


def collect(observable: reactivex.Observable[Any]) -> Sink:
    """Subscribe and wait for the end (error or completion)."""
    return Sink().subscribe_to(observable).wait()


def outcome(
    observable: reactivex.Observable[Any], timeout: float = WAIT, **subscribe: Any
) -> tuple[list[Any], Exception | None]:
    """Subscribe (``subscribe`` goes to ``subscribe()``, e.g. ``scheduler=``), wait for the end;
    return the items and the error (``None`` when it completed)."""
    sink = Sink().subscribe_to(observable, **subscribe).wait(timeout)
    return sink.items, sink.error


def values(observable: reactivex.Observable[Any]) -> list[Any]:
    """Subscribe, wait, and return the items of a successful run."""
    return collect(observable).ok()


def fan_out(source: reactivex.Observable[Any], *branches: Operator) -> list[Sink]:
    """Publish ``source``, attach one sink per branch, then connect (one subscription upstream)."""
    published = source.pipe(ops.publish())
    sinks = [Sink().subscribe_to(published.pipe(branch)) for branch in branches]
    published.connect()
    for sink in sinks:
        sink.wait()
    return sinks


def json_documents(*, text: int = 8, keys: int = 6, leaves: int = 15, size: int = 5) -> Any:
    """A hypothesis strategy of JSON documents (an array or an object at the top) whose scalars
    include nulls, booleans, exact integers, floats and short texts (any Unicode)."""
    from hypothesis import strategies as st  # only the property tests need hypothesis

    scalars = (
        st.none()
        | st.booleans()
        | st.integers(min_value=-(2**53), max_value=2**53)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=text)
    )
    values = st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=keys), inner, max_size=4),
        max_leaves=leaves,
    )
    return st.lists(values, max_size=size) | st.dictionaries(st.text(max_size=keys), values, max_size=size)

