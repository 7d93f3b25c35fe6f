"""Live measurements of one streamed response: what :func:`openrouter_rx.operators.meter` emits."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from decimal import Decimal
from typing import Any

from .chunk import Usage

__all__ = ["StreamMetrics"]


@dataclass(frozen=True, slots=True)
class StreamMetrics:
    """A snapshot of the timing and throughput of one subscription to a chunk stream.

    Times are in seconds, read from the scheduler (virtual seconds in marble tests), and count
    from the moment of subscription. Fields that cannot be known yet are ``None``.

    Attributes:
        chunks: chunks received so far (all of them, role-only and usage chunks included).
        elapsed: seconds since subscription (at the chunk, or at completion for the final one).
        time_to_first_token: seconds from subscription to the first chunk with output
            (:attr:`Chunk.has_output <openrouter_rx.Chunk.has_output>`); ``None`` before it.
        completion_tokens: the provider's ``usage.completion_tokens`` once a chunk with usage
            arrived (``estimated`` is then False); before that an estimate: the UTF-8 size of the
            content, reasoning, refusal and tool-call names and arguments received, divided by 4,
            rounded up (about 4 characters per token for English; CJK text counts about 0.75 token
            per character instead of 0.25).
        estimated: True while ``completion_tokens`` is an estimate.
        tokens_per_second: ``completion_tokens`` over the seconds since the first token; ``None``
            before two distinct instants are known.
        rolling_tokens_per_second: the tokens that arrived in the last ``window`` seconds over
            ``window`` (over the time since the first token while that is shorter). Once usage
            arrived, the per-chunk estimates are scaled to agree with the exact total.
        gap_min, gap_median, gap_p90, gap_max: statistics of the gaps between consecutive chunks
            (median and p90 interpolate linearly between ranks); ``None`` before the second chunk.
        prompt_tokens: ``usage.prompt_tokens``, ``None`` until usage arrived.
        cost: ``usage.cost`` in USD credits (exact), ``None`` until usage arrived or when not sent.
        usage: the last :class:`~openrouter_rx.Usage` received (cached and reasoning tokens, raw
            fields), or ``None``.
        final: True on the one snapshot emitted when the stream completes.
    """

    chunks: int = 0
    elapsed: float = 0.0
    time_to_first_token: float | None = None
    completion_tokens: int = 0
    estimated: bool = True
    tokens_per_second: float | None = None
    rolling_tokens_per_second: float | None = None
    gap_min: float | None = None
    gap_median: float | None = None
    gap_p90: float | None = None
    gap_max: float | None = None
    prompt_tokens: int | None = None
    cost: Decimal | None = None
    usage: Usage | None = field(default=None, repr=False)
    final: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The metrics as a JSON-friendly dict (``cost`` as a decimal string, ``usage`` left out)."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "usage"}
        out["cost"] = f"{self.cost:f}" if self.cost is not None else None
        return out
