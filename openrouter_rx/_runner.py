"""Where a :class:`~openrouter_rx.Client`'s requests run: its HTTP session, its bounded pool of
reader threads, the watchdog, and the exchanges in flight (so closing the client ends them)."""

from __future__ import annotations

import dataclasses
import importlib
import threading
import time
from collections.abc import Callable
from typing import Any

import requests
from reactivex import abc
from reactivex.disposable import CompositeDisposable, Disposable
from reactivex.scheduler import (
    CurrentThreadScheduler,
    ImmediateScheduler,
    NewThreadScheduler,
    ThreadPoolScheduler,
    TrampolineScheduler,
)

from ._connections import Adapter
from ._spec import RequestSpec
from ._transport import Exchange
from ._watchdog import Watchdog
from .response import Response

__all__ = ["RequestRunner"]

# ``Observable.run()`` always subscribes with this scheduler; it is not a caller's choice.
_RUN_DEFAULT_SCHEDULER: object = getattr(importlib.import_module("reactivex.run"), "_default_scheduler", object())


class _Timed(abc.ObserverBase[Any]):
    """Sets ``response_time`` (seconds since subscribe) on the Response of a non-streaming request."""

    __slots__ = ("_observer", "_started")

    def __init__(self, observer: abc.ObserverBase[Any], started: float) -> None:
        self._observer = observer
        self._started = started

    def on_next(self, value: Any) -> None:
        if isinstance(value, Response) and value.response_time is None:
            value = dataclasses.replace(value, response_time=time.monotonic() - self._started)
        self._observer.on_next(value)

    def on_error(self, error: Exception) -> None:
        self._observer.on_error(error)

    def on_completed(self) -> None:
        self._observer.on_completed()


class RequestRunner:
    """Runs one :class:`~openrouter_rx._transport.Exchange` per subscription on the chosen
    scheduler (by default a pool of ``pool_size`` reader threads sharing ``pool_size`` pooled
    connections) and keeps the ones in flight, so :meth:`close` ends them all."""

    def __init__(self, pool_size: int) -> None:
        self.pool_size = pool_size
        self.session = requests.Session()
        adapter = Adapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        self.watchdog = Watchdog()
        self.active: dict[Exchange, abc.ObserverBase[Any]] = {}
        self._active_lock = threading.Lock()
        self._pool: ThreadPoolScheduler | None = None
        self._pool_lock = threading.Lock()
        self._reading = threading.local()  # .active: this thread runs one of these reads
        self.closed = False

    @property
    def pool(self) -> ThreadPoolScheduler:
        """The bounded pool where reads run by default (made on first use)."""
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolScheduler(max_workers=self.pool_size)
            return self._pool

    def close(self) -> None:
        """End the exchanges in flight (``APIConnectionError``), stop the watchdog and the pool,
        close pooled connections. Idempotent."""
        if self.closed:
            return
        self.closed = True
        with self._active_lock:
            active = list(self.active.items())
            self.active.clear()
        for exchange, observer in active:
            exchange.close_by_client(observer)
        self.watchdog.close()
        with self._pool_lock:
            if self._pool is not None:
                self._pool.executor.shutdown(wait=False, cancel_futures=True)
        self.session.close()

    def _choose(
        self, scheduler: abc.SchedulerBase | None, subscribe_scheduler: abc.SchedulerBase | None
    ) -> abc.SchedulerBase:
        """Where one subscription's read runs: the request's scheduler, else the one given to
        ``subscribe()`` (not ``.run()``'s), else the pool."""
        if subscribe_scheduler is _RUN_DEFAULT_SCHEDULER:
            subscribe_scheduler = None  # .run() passes its own NewThreadScheduler: keep the bounded pool
        chosen = scheduler or subscribe_scheduler or self.pool
        if chosen is self._pool and getattr(self._reading, "active", False):
            # Subscribed from inside one of these reads (an Rx callback on a pool thread): read on
            # a thread of its own, so a blocking wait for it there (a complete_sync fallback in
            # on_error, a StreamingClient call) never waits for a pool thread that may be the very
            # one waiting.
            return NewThreadScheduler()
        if isinstance(chosen, (ImmediateScheduler, TrampolineScheduler)):
            # Run on this thread's shared trampoline, queued behind the subscription itself, so
            # take(n) & co. can dispose mid-read (a fresh CurrentThreadScheduler() would run the
            # read inside subscribe(), before the subscriber holds the disposable).
            return CurrentThreadScheduler.singleton()
        return chosen

    def subscribe_function(
        self, spec: RequestSpec, scheduler: abc.SchedulerBase | None
    ) -> Callable[[abc.ObserverBase[Any], abc.SchedulerBase | None], abc.DisposableBase]:
        """The subscribe function of a cold observable of ``spec``: one Exchange per subscription."""

        def subscribe(
            observer: abc.ObserverBase[Any], subscribe_scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            if self.closed:
                raise RuntimeError("this Client is closed")
            chosen = self._choose(scheduler, subscribe_scheduler)
            exchange = Exchange(self.session, spec, self.watchdog)
            with self._active_lock:
                self.active[exchange] = observer

            def forget() -> None:
                with self._active_lock:
                    self.active.pop(exchange, None)

            target = observer if spec.streaming else _Timed(observer, time.monotonic())

            def action(_: abc.SchedulerBase, __: Any = None) -> None:
                outer = getattr(self._reading, "active", False)
                self._reading.active = True
                try:
                    exchange.run(target)
                finally:
                    self._reading.active = outer
                    forget()

            def dispose() -> None:
                exchange.cancel()
                forget()

            handle = chosen.schedule(action)
            return CompositeDisposable(Disposable(dispose), handle)

        return subscribe
