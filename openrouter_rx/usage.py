"""Token and cost totals across requests: :class:`UsageTracker`, fed by :func:`~openrouter_rx.operators.track_usage`."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
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
        return {
            "requests": self.requests,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
            "cached_tokens": self.cached_tokens,
            "reasoning_tokens": self.reasoning_tokens,
            "cost": f"{self.cost:f}",
        }


class _Counter:
    """Mutable running sums; only touched with the tracker's lock held."""

    __slots__ = ("cached", "completion", "cost", "prompt", "reasoning", "requests", "total")

    def __init__(self) -> None:
        self.requests = 0
        self.prompt = 0
        self.completion = 0
        self.total = 0
        self.cached = 0
        self.reasoning = 0
        self.cost = _ZERO

    def add(self, usage: Usage) -> None:
        self.requests += 1
        self.prompt += usage.prompt_tokens
        self.completion += usage.completion_tokens
        self.total += usage.total_tokens
        self.cached += usage.cached_tokens
        self.reasoning += usage.reasoning_tokens
        if usage.cost is not None:
            self.cost += usage.cost

    def totals(self) -> UsageTotals:
        return UsageTotals(
            requests=self.requests,
            prompt_tokens=self.prompt,
            completion_tokens=self.completion,
            total_tokens=self.total,
            cached_tokens=self.cached,
            reasoning_tokens=self.reasoning,
            cost=self.cost,
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
        self._all = _Counter()
        self._models: dict[str, _Counter] = {}

    def record(self, usage: Usage, model: str | None = None) -> None:
        """Add one request's usage to the totals, and to ``model``'s (``UNKNOWN_MODEL`` when ``None``)."""
        key = model or UNKNOWN_MODEL
        with self._lock:
            self._all.add(usage)
            counter = self._models.get(key)
            if counter is None:
                counter = self._models[key] = _Counter()
            counter.add(usage)

    def reset(self) -> None:
        """Forget everything recorded so far."""
        with self._lock:
            self._all = _Counter()
            self._models = {}

    def totals(self) -> UsageTotals:
        """A consistent snapshot of the overall totals (all fields from the same instant)."""
        with self._lock:
            return self._all.totals()

    @property
    def by_model(self) -> dict[str, UsageTotals]:
        """A snapshot of the totals per model id, in order of first use."""
        with self._lock:
            return {model: counter.totals() for model, counter in self._models.items()}

    @property
    def requests(self) -> int:
        """How many requests were recorded."""
        with self._lock:
            return self._all.requests

    @property
    def prompt_tokens(self) -> int:
        """Total prompt tokens."""
        with self._lock:
            return self._all.prompt

    @property
    def completion_tokens(self) -> int:
        """Total completion tokens (reasoning tokens included, as providers count them)."""
        with self._lock:
            return self._all.completion

    @property
    def total_tokens(self) -> int:
        """Total of ``usage.total_tokens``."""
        with self._lock:
            return self._all.total

    @property
    def cached_tokens(self) -> int:
        """Total prompt tokens served from the provider's cache."""
        with self._lock:
            return self._all.cached

    @property
    def reasoning_tokens(self) -> int:
        """Total reasoning tokens."""
        with self._lock:
            return self._all.reasoning

    @property
    def cost(self) -> Decimal:
        """Total cost in USD credits, summed exactly."""
        with self._lock:
            return self._all.cost

    def summary(self) -> dict[str, Any]:
        """A JSON-friendly snapshot: the totals (cost as a string) and ``by_model`` of the same shape."""
        with self._lock:
            totals = self._all.totals()
            models: Mapping[str, UsageTotals] = {model: counter.totals() for model, counter in self._models.items()}
        out = totals.to_dict()
        out["by_model"] = {model: record.to_dict() for model, record in models.items()}
        return out

    def __repr__(self) -> str:
        with self._lock:
            totals = self._all.totals()
            models = len(self._models)
        return (
            f"UsageTracker(requests={totals.requests}, total_tokens={totals.total_tokens} "
            f"(prompt {totals.prompt_tokens}, completion {totals.completion_tokens}), "
            f"cost={totals.cost:f}, models={models})"
        )
