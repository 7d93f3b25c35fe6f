"""``--jsonl``: one JSON object per line on stdout, for piping (schema in docs/cli.md).

Every line has a ``type``: ``start``, ``chunk``, ``usage``, ``partial_json``, ``tool_call``,
``tool_result``, ``turn``, ``finish``, ``error`` or ``cancelled``. Costs are decimal strings
(exact); times are seconds. No line ever holds the API key (nothing here knows it).
"""

from __future__ import annotations

import json
from typing import Any, TextIO

from ..chunk import Chunk, Usage
from ..errors import OpenRouterError
from ..metrics import StreamMetrics
from ..response import Response, ToolCall
from ._render import NOTHING, Renderer, Summary, error_line

__all__ = ["JsonlRenderer", "response_dict", "usage_dict"]


def usage_dict(usage: Usage | None) -> dict[str, Any] | None:
    """The usage as ``prompt_tokens``, ``completion_tokens``, ``total_tokens``, ``reasoning_tokens``,
    ``cached_tokens`` and ``cost`` (a decimal string or ``None``)."""
    if usage is None:
        return None
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "reasoning_tokens": usage.reasoning_tokens,
        "cached_tokens": usage.cached_tokens,
        "cost": f"{usage.cost:f}" if usage.cost is not None else None,
    }


def _call_dict(call: ToolCall) -> dict[str, Any]:
    return {"id": call.id, "name": call.name, "arguments": call.arguments_json}


def response_dict(response: Response | None) -> dict[str, Any] | None:
    """What a response holds, for ``finish`` lines and the ``partial`` of ``error`` lines."""
    if response is None:
        return None
    cost = response.cost_estimate
    return {
        "id": response.id,
        "model": response.model,
        "provider": response.provider,
        "content": response.content,
        "reasoning": response.reasoning,
        "refusal": response.refusal,
        "tool_calls": [_call_dict(call) for call in response.tool_calls],
        "finish_reason": response.finish_reason,
        "usage": usage_dict(response.usage),
        "cost": f"{cost:f}" if cost is not None else None,
        "cost_source": response.cost_source,
    }


class JsonlRenderer(Renderer):
    """Writes each event as one compact JSON line to ``out`` (flushed at once)."""

    def __init__(self, out: TextIO, err: TextIO) -> None:
        self.out = out
        self.err = err
        self.index = 0

    def _emit(self, kind: str, **fields: Any) -> None:
        self.out.write(json.dumps({"type": kind, **fields}, ensure_ascii=False, default=str) + "\n")
        self.out.flush()

    def start(self, model: str | None, mode: str) -> None:
        """``{"type": "start", "model", "mode"}``."""
        self._emit("start", model=model, mode=mode)

    def chunk(self, chunk: Chunk) -> None:
        """``{"type": "chunk", ...}``, then ``{"type": "usage", ...}`` when the chunk carries usage."""
        self._emit(
            "chunk",
            index=self.index,
            id=chunk.id,
            model=chunk.model,
            content=chunk.content,
            reasoning=chunk.reasoning,
            tool_calls=[
                {"index": d.index, "id": d.id, "name": d.name, "arguments": d.arguments} for d in chunk.tool_calls
            ],
            finish_reason=chunk.finish_reason,
        )
        self.index += 1
        if chunk.usage is not None:
            self._emit("usage", **(usage_dict(chunk.usage) or {}))

    def partial_json(self, value: Any) -> None:
        """``{"type": "partial_json", "value"}``."""
        self._emit("partial_json", value=value)

    def tool_call(self, call: ToolCall, error: Exception | None) -> None:
        """``{"type": "tool_call", "id", "name", "arguments", "error"}``."""
        self._emit("tool_call", **_call_dict(call), error=_error_text(error))

    def tool_result(self, call: ToolCall, value: Any, error: Exception | None) -> None:
        """``{"type": "tool_result", "id", "name", "value", "error"}``."""
        self._emit("tool_result", id=call.id, name=call.name, value=value, error=_error_text(error))

    def turn_finished(self, response: Response) -> None:
        """``{"type": "turn", "response": {...}}``: a request of ``--tools-demo`` that asked for tools."""
        self._emit("turn", response=response_dict(response))
        self.index = 0

    def finish(self, summary: Summary) -> None:
        """``{"type": "finish", ...}``: the response's fields, ``metrics``, and ``structured``."""
        fields = response_dict(summary.response) or {}
        metrics = summary.metrics.to_dict() if summary.metrics is not None else None
        extra: dict[str, Any] = {}
        if summary.structured is not NOTHING:
            extra["structured"] = summary.structured
        if summary.turns > 1:
            extra["requests"] = summary.turns
            extra["total_cost"] = f"{summary.total_cost:f}" if summary.total_cost is not None else None
        self._emit("finish", **fields, metrics=metrics, **extra)

    def failed(self, error: Exception) -> None:
        """``{"type": "error", "error": "<class>", "message", "status", "partial"}`` (and the line on stderr)."""
        partial = error.partial if isinstance(error, OpenRouterError) else None
        status = getattr(error, "status", None)
        self._emit(
            "error",
            error=type(error).__name__,
            message=str(error),
            status=status if isinstance(status, int) else None,
            partial=response_dict(partial),
        )
        self.err.write(error_line(error) + "\n")

    def cancelled(self, metrics: StreamMetrics | None) -> None:
        """``{"type": "cancelled", "metrics"}``."""
        self._emit("cancelled", metrics=metrics.to_dict() if metrics is not None else None)


def _error_text(error: Exception | None) -> str | None:
    return f"{type(error).__name__}: {error}" if error is not None else None
