"""``ModelCatalog``: a client's cache of ``GET /models``, with a time-to-live and one request in flight.

The catalog does not send requests itself: it is given a ``fetch`` function returning a cold
observable of one model list (the client's ``GET /models``), and decides when to call it:

* within ``ttl`` seconds of the last successful fetch, :meth:`ModelCatalog.models` answers from
  the cache and sends nothing;
* subscribers that arrive while a fetch is running share it (single flight): one request, every
  subscriber gets the same list, or the same error;
* a fetch is cancelled (its connection closed) only when every subscriber waiting for it has
  disposed; an error is never cached (the next subscription fetches again).

Models fetched are delivered on the thread that read the reply (the client's pool unless the
first subscriber chose a scheduler); models from the cache on the subscriber's scheduler (by
default synchronously, through the current thread's trampoline). The clock is
:attr:`ModelCatalog.clock` (``time.monotonic`` by default; tests replace it).
"""

from __future__ import annotations

import difflib
import logging
import threading
import time
from collections.abc import Callable, Sequence

import reactivex
from reactivex import Observable, abc
from reactivex import operators as ops
from reactivex.disposable import Disposable, SingleAssignmentDisposable

from .errors import NotFoundError
from .models import Model, Pricing

__all__ = ["ModelCatalog"]

log = logging.getLogger("openrouter_rx")

_CLOSE_MATCHES = 5


class _Waiter:
    """One subscriber waiting for a fetch; ``disposed`` stops delivery at the next model."""

    __slots__ = ("disposed", "observer")

    def __init__(self, observer: abc.ObserverBase[Model]) -> None:
        self.observer = observer
        self.disposed = False

    def deliver(self, models: Sequence[Model]) -> None:
        try:
            for model in models:
                if self.disposed:
                    return
                self.observer.on_next(model)
        except Exception as exc:  # the subscriber's own on_next raised: report it there
            self.fail(exc)
            return
        if self.disposed:
            return
        try:
            self.observer.on_completed()
        except Exception:  # the sequence has ended: nowhere left to deliver it; log it, never drop it
            log.exception("a subscriber's on_completed raised; the model list itself had completed")

    def fail(self, error: Exception) -> None:
        if self.disposed:
            return
        try:
            self.observer.on_error(error)
        except Exception:  # nowhere left to deliver it: log it, never drop it
            log.exception("a subscriber's on_error raised while handling %s", type(error).__name__)


class _Flight:
    """One fetch in progress and the subscribers waiting for it."""

    __slots__ = ("result", "subscription", "waiters")

    def __init__(self) -> None:
        self.waiters: list[_Waiter] = []
        self.subscription = SingleAssignmentDisposable()
        self.result: tuple[Model, ...] = ()


class ModelCatalog:
    """A cache of OpenRouter's model list with a time-to-live and single-flight fetching.

    Thread-safe. Usually reached through a client (``client.models()``, ``client.model_info()``,
    ``client.pricing_for()``, ``client.model_catalog``).

    Args:
        fetch: returns a cold observable emitting one sequence of :class:`Model` (one request).
        ttl: seconds a fetched list stays fresh (``None``: until :meth:`invalidate`; ``0``: every
            subscription fetches, concurrent ones still share one request).
        clock: a monotonic clock in seconds (``time.monotonic``); replace it to control the TTL.
    """

    def __init__(
        self,
        fetch: Callable[[], Observable[Sequence[Model]]],
        ttl: float | None = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl is not None and not ttl >= 0:
            raise ValueError(f"models_ttl must be a number of seconds >= 0 or None, not {ttl!r}")
        self._fetch = fetch
        self.ttl = ttl
        self.clock = clock
        self._lock = threading.Lock()
        self._models: tuple[Model, ...] | None = None
        self._index: dict[str, Model] = {}
        self._fetched_at = 0.0
        self._stale = False
        self._flight: _Flight | None = None

    def __repr__(self) -> str:
        with self._lock:
            count = None if self._models is None else len(self._models)
        return f"ModelCatalog(ttl={self.ttl!r}, cached={count}, fresh={self.is_fresh})"

    # -- reading the cache (never blocks on the network) -------------------------------------
    @property
    def is_fresh(self) -> bool:
        """Whether a fetched list is cached and younger than ``ttl``."""
        with self._lock:
            return self._fresh() is not None

    def _fresh(self) -> tuple[Model, ...] | None:
        if self._models is None or self._stale:
            return None
        if self.ttl is not None and self.clock() - self._fetched_at >= self.ttl:
            return None
        return self._models

    def cached(self) -> tuple[Model, ...] | None:
        """The last list fetched (fresh or not), or ``None`` before the first successful fetch."""
        with self._lock:
            return self._models

    def get(self, model_id: str) -> Model | None:
        """The cached model with this id (or canonical slug), fresh or not; ``None`` when unknown.

        A canonical slug shared by a model and its variants (``":free"``, ``":exacto"``, ...) names
        the base model, so a paid request reported under the slug is never priced as free.
        """
        with self._lock:
            return self._index.get(model_id)

    def pricing_for(self, model_id: str) -> Pricing | None:
        """The cached pricing of ``model_id`` (id or canonical slug), without any request.

        ``None`` when the catalog was never fetched, the model is not in it, or its pricing is
        variable (router models such as ``openrouter/auto``: no price to apply). A stale list
        still answers: prices rarely change and this must not block.
        """
        model = self.get(model_id)
        if model is None or model.pricing.is_variable:
            return None
        return model.pricing

    def invalidate(self) -> None:
        """Make the cached list stale: the next :meth:`models` fetches (``pricing_for`` still answers)."""
        with self._lock:
            self._stale = True

    # -- observables -------------------------------------------------------------------------
    def models(self, *, refresh: bool = False) -> Observable[Model]:
        """A cold observable of every model, then completed.

        From the cache while it is fresh (no request); otherwise from a fetch shared with every
        subscriber arriving while it runs. ``refresh=True`` skips the cache (it still joins a
        fetch already running, which is just as fresh).
        """

        def subscribe(
            observer: abc.ObserverBase[Model], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            with self._lock:
                cached = None if refresh else self._fresh()
                if cached is None:
                    start = self._flight is None
                    flight = self._flight = self._flight or _Flight()
                    waiter = _Waiter(observer)
                    flight.waiters.append(waiter)
            if cached is not None:
                return reactivex.from_iterable(cached).subscribe(observer, scheduler=scheduler)
            if start:
                self._start(flight, scheduler)
            return Disposable(lambda: self._leave(flight, waiter))

        return reactivex.create(subscribe)

    def model_info(self, model_id: str) -> Observable[Model]:
        """A cold observable of the one model with this id (or canonical slug, as :meth:`get`), from :meth:`models`.

        Errors with :class:`~openrouter_rx.errors.NotFoundError` (status 404) when the list has no
        such model; its message names the closest ids.
        """

        def pick(models: list[Model]) -> Observable[Model]:
            model = _index(models).get(model_id)
            if model is not None:
                return reactivex.just(model)
            return reactivex.throw(_not_found(model_id, [model.id for model in models]))

        return self.models().pipe(ops.to_list(), ops.flat_map(pick))

    # -- the flight ----------------------------------------------------------------------------
    def _start(self, flight: _Flight, scheduler: abc.SchedulerBase | None) -> None:
        def on_next(models: Sequence[Model]) -> None:
            flight.result = tuple(models)

        try:
            subscription = self._fetch().subscribe(
                on_next, lambda error: self._failed(flight, error), lambda: self._done(flight), scheduler=scheduler
            )
        except Exception as exc:  # e.g. the client is closed
            self._failed(flight, exc)
            return
        flight.subscription.disposable = subscription

    def _end(self, flight: _Flight) -> list[_Waiter]:
        """Under the lock: the flight is over; its waiters, to be served outside the lock."""
        if self._flight is flight:
            self._flight = None
        waiters, flight.waiters = flight.waiters, []
        return waiters

    def _done(self, flight: _Flight) -> None:
        models = flight.result
        index = _index(models)
        with self._lock:
            self._models, self._index, self._fetched_at, self._stale = models, index, self.clock(), False
            waiters = self._end(flight)
        for waiter in waiters:
            waiter.deliver(models)

    def _failed(self, flight: _Flight, error: Exception) -> None:
        with self._lock:
            waiters = self._end(flight)
        for waiter in waiters:
            waiter.fail(error)

    def _leave(self, flight: _Flight, waiter: _Waiter) -> None:
        waiter.disposed = True
        with self._lock:
            if waiter in flight.waiters:
                flight.waiters.remove(waiter)
            abandoned = not flight.waiters and self._flight is flight
            if abandoned:
                self._flight = None
        if abandoned:  # nobody waits any more: close the connection
            flight.subscription.dispose()


def _index(models: Sequence[Model]) -> dict[str, Model]:
    """The models by id and by canonical slug: ids first (a canonical slug never hides another
    model's id), and a slug names the base model, not its ``":free"`` variant (the first listed)."""
    index: dict[str, Model] = {}
    for model in models:
        index.setdefault(model.id, model)
    for model in sorted(models, key=_is_variant):
        if model.canonical_slug:
            index.setdefault(model.canonical_slug, model)
    return index


def _is_variant(model: Model) -> bool:
    """Whether ``model`` is a variant (``"vendor/model:free"``, ``":thinking"``, ...) of a base model."""
    return ":" in model.id


def _not_found(model_id: str, ids: list[str]) -> NotFoundError:
    close = difflib.get_close_matches(model_id, ids, n=_CLOSE_MATCHES, cutoff=0.5)
    if not close:  # "gpt-4o-mini" still finds "openai/gpt-4o-mini"
        tails = {known.rsplit("/", 1)[-1]: known for known in ids}
        close = [tails[tail] for tail in difflib.get_close_matches(model_id, list(tails), n=_CLOSE_MATCHES)]
    hint = f"; close matches: {', '.join(close)}" if close else ""
    return NotFoundError(f"model {model_id!r} is not in OpenRouter's model list ({len(ids)} models){hint}", status=404)
