"""Token and cost totals across requests: :class:`UsageTracker`, fed by :func:`~openrouter_rx.operators.track_usage`."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from decimal import Decimal, localcontext
from typing import TYPE_CHECKING, Any

from .chunk import Usage

if TYPE_CHECKING:
    from .models import Pricing

PricingSource = Callable[[str], "Pricing | None"] | Mapping[str, "Pricing"]
"""Where a :class:`UsageTracker` finds a model's prices: ``client.pricing_for`` or a dict by model id."""

__all__ = ["UNKNOWN_MODEL", "UsageTotals", "UsageTracker"]

UNKNOWN_MODEL = "(unknown)"
"""The :attr:`UsageTracker.by_model` key for usage recorded without a model id."""

_ZERO = Decimal(0)
_PRECISION = 60


@dataclass(frozen=True, slots=True)
class UsageTotals:
    """Summed usage of a number of requests (all of them, or those of one model).

    ``cost`` is the exact sum, in USD credits, of the ``usage.cost`` values sent and, for requests
    whose usage had no cost, of the estimates from the model's pricing (when the tracker was given
    ``pricing=``). Which is which:

    * ``estimated_cost``: the part of ``cost`` estimated from pricing
      (:meth:`Pricing.cost <openrouter_rx.models.Pricing.cost>`), from ``estimated_requests``
      requests; :attr:`reported_cost` is the rest, OpenRouter's own figures;
    * ``unpriced_requests``: requests with neither a cost nor a known price (they add nothing).

    ``to_dict`` lists these three only when one of them is non-zero, so totals of requests that
    all reported their cost keep their original shape.
    """

    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    cost: Decimal = _ZERO
    estimated_cost: Decimal = _ZERO
    estimated_requests: int = 0
    unpriced_requests: int = 0

    @property
    def reported_cost(self) -> Decimal:
        """The part of ``cost`` OpenRouter reported (``usage.cost``), exact."""
        with localcontext(prec=_PRECISION):
            return self.cost - self.estimated_cost

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict: the counts, and costs as plain decimal strings (never ``1E-7``)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = f"{value:f}" if isinstance(value, Decimal) else value
        if not (self.estimated_requests or self.unpriced_requests or self.estimated_cost):
            for name in _COST_SOURCE_FIELDS:
                del out[name]
        return out

    def plus(self, usage: Usage, estimate: Decimal | None = None) -> UsageTotals:
        """These totals with one more request's ``usage`` added.

        ``estimate`` is the cost estimated from the model's pricing; it counts only when the usage
        has no ``cost`` of its own.
        """
        estimated = estimate if usage.cost is None else None
        added = usage.cost if usage.cost is not None else estimated
        with localcontext(prec=_PRECISION):  # exact sums whatever precision the caller's context has
            cost = self.cost + added if added is not None else self.cost
            estimated_cost = self.estimated_cost + estimated if estimated is not None else self.estimated_cost
        return UsageTotals(
            requests=self.requests + 1,
            prompt_tokens=self.prompt_tokens + usage.prompt_tokens,
            completion_tokens=self.completion_tokens + usage.completion_tokens,
            total_tokens=self.total_tokens + usage.total_tokens,
            cached_tokens=self.cached_tokens + usage.cached_tokens,
            reasoning_tokens=self.reasoning_tokens + usage.reasoning_tokens,
            cost=cost,
            estimated_cost=estimated_cost,
            estimated_requests=self.estimated_requests + (estimated is not None),
            unpriced_requests=self.unpriced_requests + (added is None),
        )


_COST_SOURCE_FIELDS = ("estimated_cost", "estimated_requests", "unpriced_requests")


class UsageTracker:
    """Thread-safe running totals of tokens and cost across requests, overall and per model.

    Feed it with :func:`~openrouter_rx.operators.track_usage` (one record per request that
    delivered usage) or call :meth:`record` yourself. Every read is a consistent snapshot taken
    under the lock, so it can be read from any thread while streams are recording.

    Args:
        pricing: where to find a model's prices when a usage comes without ``cost``: a function of
            the model id (``client.pricing_for``, which never blocks) or a mapping by model id.
            The estimate (:meth:`Pricing.cost <openrouter_rx.models.Pricing.cost>`) is added to
            ``cost`` and counted in ``estimated_cost`` / ``estimated_requests``; a usage with no
            cost and no (or variable) pricing counts in ``unpriced_requests``.

    Example::

        tracker = orx.UsageTracker()
        client.stream("Hi").pipe(orx_ops.track_usage(tracker)).run()
        print(tracker.cost, tracker.by_model["openai/gpt-4o-mini"].total_tokens)
        json.dumps(tracker.summary())

        priced = orx.UsageTracker(pricing=client.pricing_for)  # after client.models() has run once
    """

    def __init__(self, pricing: PricingSource | None = None) -> None:
        self._pricing = pricing
        self._lock = threading.Lock()
        self._all = UsageTotals()  # immutable snapshots, replaced under the lock
        self._models: dict[str, UsageTotals] = {}

    def record(self, usage: Usage, model: str | None = None) -> None:
        """Add one request's usage to the totals, and to ``model``'s (``UNKNOWN_MODEL`` when ``None``)."""
        key = model or UNKNOWN_MODEL
        estimate = self._estimate(usage, model) if usage.cost is None else None  # outside the lock
        with self._lock:
            self._all = self._all.plus(usage, estimate)
            self._models[key] = self._models.get(key, _EMPTY).plus(usage, estimate)

    def _estimate(self, usage: Usage, model: str | None) -> Decimal | None:
        """The cost of ``usage`` from ``model``'s pricing; ``None`` when no price is known."""
        if self._pricing is None or not model:
            return None
        if callable(self._pricing):
            pricing = self._pricing(model)
        else:
            pricing = self._pricing.get(model)
        if pricing is None or pricing.is_variable:
            return None
        return pricing.cost(usage)

    def reset(self) -> None:
        """Forget everything recorded so far."""
        with self._lock:
            self._all = _EMPTY
            self._models = {}

    def totals(self) -> UsageTotals:
        """A consistent snapshot of the overall totals (all fields from the same instant)."""
        with self._lock:
            return self._all

    @property
    def by_model(self) -> dict[str, UsageTotals]:
        """A snapshot of the totals per model id, in order of first use."""
        with self._lock:
            return dict(self._models)

    @property
    def requests(self) -> int:
        """How many requests were recorded."""
        return self.totals().requests

    @property
    def prompt_tokens(self) -> int:
        """Total prompt tokens."""
        return self.totals().prompt_tokens

    @property
    def completion_tokens(self) -> int:
        """Total completion tokens (reasoning tokens included, as providers count them)."""
        return self.totals().completion_tokens

    @property
    def total_tokens(self) -> int:
        """Total of ``usage.total_tokens``."""
        return self.totals().total_tokens

    @property
    def cached_tokens(self) -> int:
        """Total prompt tokens served from the provider's cache."""
        return self.totals().cached_tokens

    @property
    def reasoning_tokens(self) -> int:
        """Total reasoning tokens."""
        return self.totals().reasoning_tokens

    @property
    def cost(self) -> Decimal:
        """Total cost in USD credits, summed exactly (estimates from ``pricing=`` included)."""
        return self.totals().cost

    @property
    def estimated_cost(self) -> Decimal:
        """The part of :attr:`cost` estimated from pricing (requests whose usage had no cost)."""
        return self.totals().estimated_cost

    def summary(self) -> dict[str, Any]:
        """A JSON-friendly snapshot: the totals (cost as a string) and ``by_model`` of the same shape."""
        with self._lock:
            totals, models = self._all, dict(self._models)
        out = totals.to_dict()
        out["by_model"] = {model: record.to_dict() for model, record in models.items()}
        return out

    def __repr__(self) -> str:
        with self._lock:
            totals, models = self._all, len(self._models)
        return (
            f"UsageTracker(requests={totals.requests}, total_tokens={totals.total_tokens} "
            f"(prompt {totals.prompt_tokens}, completion {totals.completion_tokens}), "
            f"cost={totals.cost:f}, models={models})"
        )


_EMPTY = UsageTotals()
