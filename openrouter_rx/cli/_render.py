"""What the CLI shows: the renderer protocol, the footer, and the plain renderer.

A renderer receives the events of one command (chunks, live metrics, partial JSON, tool calls
and results, the end) on the main thread. Three implementations: :class:`PlainRenderer` (text
as it streams, footer on stderr), ``RichRenderer`` (``_rich.py``, a live view) and
``JsonlRenderer`` (``_jsonl.py``, one JSON object per line).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TextIO

from ..chunk import Chunk
from ..errors import OpenRouterError
from ..metrics import StreamMetrics
from ..response import Response, ToolCall

__all__ = [
    "NOTHING",
    "PlainRenderer",
    "Renderer",
    "Summary",
    "cancel_note",
    "error_line",
    "footer_text",
    "format_cost",
    "is_terminal",
    "terminal_safe",
    "use_color",
]

NOTHING: Any = object()
"""No structured value (the request had no ``--json-schema``)."""

_DIM, _RESET = "\x1b[2m", "\x1b[0m"
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class Summary:
    """The end of a successful command: what the footer and the final view are made of.

    Attributes:
        response: the whole (last) response.
        metrics: the final :class:`~openrouter_rx.StreamMetrics` of the (last) stream; ``None``
            for ``--no-stream``.
        structured: the validated value for ``--json-schema``, else :data:`NOTHING`.
        turns: requests sent (more than one with ``--tools-demo``).
        total_cost: the cost of every turn together, when each turn's cost is known.
    """

    response: Response
    metrics: StreamMetrics | None = None
    structured: Any = NOTHING
    turns: int = 1
    total_cost: Decimal | None = field(default=None)


def use_color(stream: TextIO) -> bool:
    """ANSI styling only on a terminal that is not ``TERM=dumb``, and never when ``NO_COLOR`` is
    set (https://no-color.org)."""
    return is_terminal(stream) and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def is_terminal(stream: TextIO) -> bool:
    """Whether ``stream`` says it is a terminal."""
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def terminal_safe(text: str) -> str:
    """``text`` without the control characters a terminal acts on (ESC, and so escape sequences
    that move the cursor, clear the screen or write the clipboard; ``\\r``, bell, C1 codes...).

    Model output and server messages are untrusted: on a terminal they are written through this
    (tabs and line breaks are kept; what follows an ESC stays, as inert text).
    """
    return _CONTROL.sub("", text)


def format_cost(cost: Decimal | None) -> str:
    """``"cost $0.0000123"``, or ``"cost n/a"`` when unknown."""
    if cost is None:
        return "cost n/a"
    text = f"{cost:.10f}".rstrip("0").rstrip(".") if cost else "0"
    return f"cost ${text}"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def footer_text(summary: Summary) -> str:
    """One line: tokens, tokens/s, time to first token (or response time), cost, model, turns.

    The numbers come from the ``meter()`` operator's final snapshot; exact tokens from the
    usage when OpenRouter sent it (``~`` marks an estimate). Cost is
    :attr:`Response.cost_estimate <openrouter_rx.Response.cost_estimate>`.
    """
    response, metrics = summary.response, summary.metrics
    parts: list[str] = []
    if metrics is not None:
        approx = "~" if metrics.estimated and response.usage is None else ""
        tokens = response.completion_tokens if response.usage is not None else metrics.completion_tokens
        parts.append(f"{approx}{tokens} tokens")
        rate = metrics.tokens_per_second
        parts.append(f"{rate:.1f} tok/s" if rate is not None else "n/a tok/s")
        ttft = metrics.time_to_first_token
        parts.append(f"first token {_ms(ttft)}" if ttft is not None else "first token n/a")
    else:  # --no-stream: the whole response arrived at once
        tokens = response.completion_tokens
        elapsed = response.response_time
        parts.append(f"{tokens} tokens")
        parts.append(f"{tokens / elapsed:.1f} tok/s" if elapsed else "n/a tok/s")
        parts.append(f"response {_ms(elapsed)}" if elapsed is not None else "response n/a")
    if response.finish_reason not in (None, "stop", "tool_calls"):
        parts.append(f"finish_reason {response.finish_reason}")  # length (max_tokens), content_filter, error
    cost = summary.total_cost if summary.turns > 1 else response.cost_estimate
    parts.append(format_cost(cost))
    if summary.turns > 1:
        parts.append(f"{summary.turns} requests")
    if response.model:
        parts.append(response.model)
    return " | ".join(parts)


def error_line(error: BaseException) -> str:
    """``"openrouter-rx: RateLimitError: message"`` (the library's messages never hold the key;
    control characters a server put in its message are left out: see :func:`terminal_safe`)."""
    return terminal_safe(f"openrouter-rx: {type(error).__name__}: {error}")


def cancel_note(metrics: StreamMetrics | None) -> str:
    """The one-line note printed when Ctrl-C cancelled a request."""
    if metrics is None or metrics.chunks == 0:
        got = "before any chunk arrived"
    else:
        approx = "~" if metrics.estimated else ""
        plural = "" if metrics.chunks == 1 else "s"
        got = f"after {metrics.chunks} chunk{plural} ({approx}{metrics.completion_tokens} tokens)"
    return f"openrouter-rx: cancelled {got}; the stream was closed."


def call_text(call: ToolCall) -> str:
    """``get_weather({"city": "Paris"})``."""
    try:
        shown = json.dumps(call.arguments, ensure_ascii=False, default=str)
    except (ValueError, TypeError):  # arguments that are not JSON: show the text as received
        shown = call.arguments_json
    return f"{call.name}({shown})"


def value_text(value: Any) -> str:
    """A tool result or structured value as compact JSON (``str()`` when it has no JSON form)."""
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(value)


class Renderer:
    """The events a renderer receives, all on the main thread; every method does nothing here."""

    def start(self, model: str | None, mode: str) -> None:
        """A request is about to be sent (``mode``: ``chat``, ``json``, ``tools`` or ``replay``)."""

    def chunk(self, chunk: Chunk) -> None:
        """A streamed chunk (content, reasoning, tool-call deltas, usage)."""

    def metrics(self, metrics: StreamMetrics) -> None:
        """A live snapshot from the ``meter()`` operator."""

    def partial_json(self, value: Any) -> None:
        """The JSON received so far (``--json-schema``; from the ``partial_json()`` operator)."""

    def tool_call(self, call: ToolCall, error: Exception | None) -> None:
        """The model asked for a tool (``error``: its arguments did not validate)."""

    def tool_result(self, call: ToolCall, value: Any, error: Exception | None) -> None:
        """A tool ran: its ``value`` (or the ``error`` sent back to the model)."""

    def turn_finished(self, response: Response) -> None:
        """A request of a multi-request command ended (``--tools-demo``) and more follow."""

    def finish(self, summary: Summary) -> None:
        """The command succeeded."""

    def failed(self, error: Exception) -> None:
        """The command failed with ``error`` (typed; ``error.partial`` when output arrived)."""

    def cancelled(self, metrics: StreamMetrics | None) -> None:
        """Ctrl-C: the stream was closed; ``metrics`` is the last snapshot received, if any."""

    def close(self) -> None:
        """Release the terminal (always called last)."""


class PlainRenderer(Renderer):
    """Text as it streams on ``out``; reasoning dimmed with ANSI on a terminal (not with
    ``NO_COLOR``); the footer, errors and notes on ``err``. On a terminal the model's text is
    written without control characters (:func:`terminal_safe`); piped, byte for byte.

    With ``--json-schema`` only the final value goes to ``out`` (pretty JSON, so the output is a
    JSON document a pipe can use); the raw text is not echoed.
    """

    def __init__(self, out: TextIO, err: TextIO) -> None:
        self.out = out
        self.err = err
        self.color = use_color(out)
        self.err_color = use_color(err)
        self.safe_out = is_terminal(out)  # untrusted text on a terminal: no control sequences
        self.safe_err = is_terminal(err)
        self.mode = "chat"
        self.in_reasoning = False
        self.at_line_start = True

    def _write(self, text: str, *, dim: bool = False) -> None:
        if self.safe_out:
            text = terminal_safe(text)
        if not text:
            return
        self.out.write(f"{_DIM}{text}{_RESET}" if dim and self.color else text)
        self.out.flush()
        self.at_line_start = text.endswith("\n")

    def _end_line(self) -> None:
        if not self.at_line_start:
            self._write("\n")

    def _note(self, text: str, *, dim: bool = False) -> None:
        if self.safe_err:
            text = terminal_safe(text)
        self.err.write(f"{_DIM}{text}{_RESET}\n" if dim and self.err_color else f"{text}\n")
        self.err.flush()

    def start(self, model: str | None, mode: str) -> None:
        """Remember the mode (``json`` holds the text back)."""
        self.mode = mode

    def chunk(self, chunk: Chunk) -> None:
        """Write the reasoning (dimmed) and the content; a line break where reasoning ends."""
        if self.mode == "json":
            return
        reasoning, content = chunk.reasoning, chunk.content
        if reasoning:
            self.in_reasoning = True
            self._write(reasoning, dim=True)
        if content:
            if self.in_reasoning:
                self.in_reasoning = False
                self._end_line()
            self._write(content)

    def tool_call(self, call: ToolCall, error: Exception | None) -> None:
        """``[tool] get_weather({...})``."""
        self._end_line()
        note = f"  (invalid: {error})" if error is not None else ""
        self._write(f"[tool] {call_text(call)}{note}\n", dim=True)

    def tool_result(self, call: ToolCall, value: Any, error: Exception | None) -> None:
        """``[tool] -> {...}``."""
        shown = f"error: {type(error).__name__}: {error}" if error is not None else value_text(value)
        self._write(f"[tool] {call.name} -> {shown}\n", dim=True)

    def finish(self, summary: Summary) -> None:
        """The final JSON value (``--json-schema``) or the tool calls asked for, then the footer."""
        if summary.response.refusal:
            self._end_line()
            self._note(f"openrouter-rx: the model refused: {summary.response.refusal}")
        if summary.structured is not NOTHING:
            self._end_line()
            self._write(json.dumps(summary.structured, indent=2, ensure_ascii=False, default=str) + "\n")
        elif summary.response.has_tool_calls:
            self._end_line()
            for call in summary.response.tool_calls:
                self._write(f"[tool call] {call_text(call)}\n", dim=True)
        self._end_line()
        self._note(f"[{footer_text(summary)}]", dim=True)

    def failed(self, error: Exception) -> None:
        """The typed error on ``err``."""
        self._end_line()
        self._note(error_line(error))
        if isinstance(error, OpenRouterError) and error.partial is not None and self.mode == "json":
            self._note(f"openrouter-rx: the reply so far: {error.partial.content[:500]!r}")

    def cancelled(self, metrics: StreamMetrics | None) -> None:
        """The cancel note on ``err``."""
        self._end_line()
        self._note(cancel_note(metrics))
