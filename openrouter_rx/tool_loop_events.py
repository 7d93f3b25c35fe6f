"""The events of :func:`~openrouter_rx.tool_loop`: one small frozen dataclass per kind.

Every event has ``turn`` (counting from 1). In order, per turn: :class:`TurnStarted`, the
turn's :class:`TurnChunk` events, :class:`TurnFinished`; then per tool call
:class:`ToolCallRequested` and :class:`ToolCallResult`; the last turn ends with
:class:`LoopFinished` (or the loop with an error).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .chunk import Chunk
from .errors import ToolArgumentsError
from .response import Response, ToolCall

__all__ = [
    "LoopFinished",
    "ToolCallRequested",
    "ToolCallResult",
    "ToolLoopEvent",
    "TurnChunk",
    "TurnFinished",
    "TurnStarted",
]


@dataclass(frozen=True)
class ToolLoopEvent:
    """Base of every event a :func:`tool_loop` emits; ``turn`` counts from 1."""

    turn: int


@dataclass(frozen=True)
class TurnStarted(ToolLoopEvent):
    """A turn's request is about to be sent with ``messages``."""

    messages: tuple[Mapping[str, Any], ...]


@dataclass(frozen=True)
class TurnChunk(ToolLoopEvent):
    """One streamed chunk of the turn."""

    chunk: Chunk


@dataclass(frozen=True)
class TurnFinished(ToolLoopEvent):
    """The turn's stream completed: its whole response (with any tool calls)."""

    response: Response


@dataclass(frozen=True)
class ToolCallRequested(ToolLoopEvent):
    """The model asked for a tool. ``call.arguments`` is the data its schema loaded; ``error`` is
    the :class:`~openrouter_rx.errors.ToolArgumentsError` (or ``UnknownToolError``) when the call
    could not be validated (the tool is then not run)."""

    call: ToolCall
    error: ToolArgumentsError | None = None


@dataclass(frozen=True)
class ToolCallResult(ToolLoopEvent):
    """A tool ran (or could not): ``value`` it returned, or the ``error`` (both when the value
    had no JSON form); ``message`` is the ``role: tool`` message sent back to the model."""

    call: ToolCall
    value: Any
    message: Mapping[str, Any]
    error: Exception | None = None


@dataclass(frozen=True)
class LoopFinished(ToolLoopEvent):
    """The model answered without asking for a tool: the final ``response`` and the whole
    conversation (``messages``, ending with the final assistant message)."""

    response: Response
    messages: tuple[Mapping[str, Any], ...]
