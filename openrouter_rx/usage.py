"""Token and cost totals across requests: :class:`UsageTracker`, fed by :func:`~openrouter_rx.operators.track_usage`."""

from __future__ import annotations

import threading
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any

from .chunk import Usage

__all__ = ["UNKNOWN_MODEL", "UsageTotals", "UsageTracker"]

UNKNOWN_MODEL = "(unknown)"
"""The :attr:`UsageTracker.by_model` key for usage recorded without a model id."""

_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class UsageTotals:
    """Summed usage of a number of requests (all of them, or those of one model).

    ``cost`` is the exact sum of the ``usage.cost`` values sent, in USD credits (a request whose
    usage had no cost adds nothing to it).
    """

    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    cost: Decimal = _ZERO

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict: the counts, and ``cost`` as a plain decimal string (never ``1E-7``)."""
        out: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        out["cost"] = f"{self.cost:f}"
        return out

    def plus(self, usage: Usage) -> UsageTotals:
        """These totals with one more request's ``usage`` added."""
        return UsageTotals(
            requests=self.requests + 1,
            prompt_tokens=self.prompt_tokens + usage.prompt_tokens,
            completion_tokens=self.completion_tokens + usage.completion_tokens,
            total_tokens=self.total_tokens + usage.total_tokens,
            cached_tokens=self.cached_tokens + usage.cached_tokens,
            reasoning_tokens=self.reasoning_tokens + usage.reasoning_tokens,
            cost=self.cost + usage.cost if usage.cost is not None else self.cost,
        )


class UsageTracker:
    """Thread-safe running totals of tokens and cost across requests, overall and per model.

    Feed it with :func:`~openrouter_rx.operators.track_usage` (one record per request that
    delivered usage) or call :meth:`record` yourself. Every read is a consistent snapshot taken
    under the lock, so it can be read from any thread while streams are recording.

    Example::

        tracker = orx.UsageTracker()
        client.stream("Hi").pipe(orx_ops.track_usage(tracker)).run()
        print(tracker.cost, tracker.by_model["openai/gpt-4o-mini"].total_tokens)
        json.dumps(tracker.summary())
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._all = UsageTotals()  # immutable snapshots, replaced under the lock
        self._models: dict[str, UsageTotals] = {}

    def record(self, usage: Usage, model: str | None = None) -> None:
        """Add one request's usage to the totals, and to ``model``'s (``UNKNOWN_MODEL`` when ``None``)."""
        key = model or UNKNOWN_MODEL
        with self._lock:
            self._all = self._all.plus(usage)
            self._models[key] = self._models.get(key, _EMPTY).plus(usage)

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
        """Total cost in USD credits, summed exactly."""
        return self.totals().cost

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
