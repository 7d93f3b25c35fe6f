"""One thread per client that enforces idle and total deadlines.

Readers register themselves; per chunk they only store a timestamp. The
watchdog sleeps until the earliest deadline, re-reads the watched object's
current deadline (it moves as data arrives) and calls ``expire()`` once it has
passed. ``expire`` must not block (it shuts the socket down).
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from typing import Protocol

__all__ = ["Watched", "Watchdog"]


class Watched(Protocol):
    """What the watchdog needs from a reader."""

    def deadline(self) -> float | None:
        """The monotonic time at which to expire, or ``None`` when finished."""

    def expire(self) -> None:
        """Called (on the watchdog thread) once the deadline has passed."""


class Watchdog:
    """A lazily started daemon thread with a heap of deadlines."""

    def __init__(self, name: str = "openrouter-rx-watchdog") -> None:
        self._name = name
        self._heap: list[tuple[float, int, Watched]] = []
        self._counter = itertools.count()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False

    def watch(self, item: Watched) -> None:
        """Start watching ``item`` until its ``deadline()`` returns ``None``."""
        deadline = item.deadline()
        if deadline is None:
            return
        with self._cond:
            if self._closed:
                return
            heapq.heappush(self._heap, (deadline, next(self._counter), item))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._cond.notify()

    def close(self) -> None:
        """Stop the thread (pending items are dropped)."""
        with self._cond:
            self._closed = True
            self._heap.clear()
            self._cond.notify()

    def _run(self) -> None:
        while True:
            expired: list[Watched] = []
            with self._cond:
                if self._closed:
                    return
                if not self._heap:
                    self._cond.wait(timeout=30.0)
                    continue
                now = time.monotonic()
                due, _, item = self._heap[0]
                if due > now:
                    self._cond.wait(timeout=due - now)
                    continue
                heapq.heappop(self._heap)
                current = item.deadline()
                if current is None:
                    continue
                if current > now:
                    heapq.heappush(self._heap, (current, next(self._counter), item))
                    continue
                expired.append(item)
            for item in expired:
                try:
                    item.expire()
                except Exception:  # pragma: no cover - expire() must not raise; never kill the watchdog
                    pass
