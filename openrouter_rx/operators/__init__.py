"""Pipeable operators over ``Observable[Chunk]``: ``stream.pipe(orx_ops.accumulate())``.

::

    from openrouter_rx import operators as orx_ops

    client.stream(messages).pipe(
        orx_ops.retry_with_backoff(),
        orx_ops.fallback_to_non_streaming(),
        orx_ops.accumulate(),
    )

Each operator is a pure function of its source: no network (except the fallback's own request),
state kept per subscription, time read from the scheduler so marble tests in virtual time are
exact. Every one is tested with ``reactivex.testing``; see ``openrouter_rx.testing.run_marbles``.
"""

from ._accumulate import accumulate, snapshots
from ._content import content, reasoning
from ._fallback import fallback_to_non_streaming, should_fall_back
from ._idle_timeout import idle_timeout
from ._meter import meter
from ._partial_json import partial_json
from ._retry import is_retryable, retry_with_backoff
from ._structured_output import structured_output
from ._tool_calls import tool_call_deltas, tool_calls
from ._track_usage import track_usage

__all__ = [
    "accumulate",
    "snapshots",
    "content",
    "reasoning",
    "tool_calls",
    "tool_call_deltas",
    "retry_with_backoff",
    "is_retryable",
    "fallback_to_non_streaming",
    "should_fall_back",
    "meter",
    "track_usage",
    "idle_timeout",
    "partial_json",
    "structured_output",
]
