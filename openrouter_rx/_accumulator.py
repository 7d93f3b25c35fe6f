"""Accumulation state machine: chunks in, :class:`Response` out.

Pure and transport-free. Per chunk it appends to lists (text is joined once, at
:meth:`ResponseAccumulator.response`), so accumulating is linear in the size of the
stream.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .chunk import Chunk, Delta, ToolCallDelta, Usage
from .response import META_FIELDS, Response, ResponseChoice, ToolCall

__all__ = ["PendingCall", "ResponseAccumulator", "ToolCallTracker"]


class PendingCall:
    """A tool call still being received: its id, type and name so far and its argument fragments."""

    __slots__ = ("id", "index", "name", "parts", "type")

    def __init__(self, index: int) -> None:
        self.index = index
        self.id: str | None = None
        self.type: str | None = None
        self.name: str | None = None
        self.parts: list[str] = []

    def build(self) -> ToolCall:
        return ToolCall(
            id=self.id,
            name=self.name,
            arguments_json="".join(self.parts),
            type=self.type or "function",
            index=self.index,
        )


class ToolCallTracker:
    """Joins tool-call deltas into calls.

    Deltas are joined by ``index``; ``id``, ``type`` and ``name`` are taken from the first delta
    that carries them (providers that repeat the id on every delta are not concatenated) and
    argument fragments are concatenated in order. Indexes need not start at 0. A delta whose
    ``id`` differs from the id of the call at its index starts a new call: some providers (and
    API translations) send every call at index 0, or omit the index, each with its own id.
    """

    __slots__ = ("_calls", "_current")

    def __init__(self) -> None:
        self._calls: list[PendingCall] = []  # in order of first appearance
        self._current: dict[int, PendingCall] = {}  # index -> the call now receiving deltas

    def starts_new(self, delta: ToolCallDelta) -> bool:
        """True when ``delta`` starts a new call: none is open at its index, or the open one has a
        different id (a delta without an id, or a call still without one, continues the call)."""
        call = self._current.get(delta.index)
        return call is None or bool(delta.id and call.id and delta.id != call.id)

    def add(self, delta: ToolCallDelta) -> bool:
        """Record one delta; returns True when it starts a new call (see :meth:`starts_new`)."""
        started = self.starts_new(delta)
        call = self._current.get(delta.index)
        if call is None or started:
            call = self._current[delta.index] = PendingCall(delta.index)
            self._calls.append(call)
        if delta.id and not call.id:
            call.id = delta.id
        if delta.type and not call.type:
            call.type = delta.type
        if delta.name and not call.name:
            call.name = delta.name
        if delta.arguments:
            call.parts.append(delta.arguments)
        return started

    def current(self, index: int) -> PendingCall | None:
        """The call now receiving deltas at ``index``, if any."""
        return self._current.get(index)

    def pending(self) -> list[PendingCall]:
        """Every call, in order of first appearance."""
        return list(self._calls)

    def calls(self) -> tuple[ToolCall, ...]:
        """Every call, in order of first appearance."""
        return tuple(call.build() for call in self._calls)


def _detail_key(position: int, detail: Mapping[str, Any]) -> tuple[Any, Any]:
    index = detail.get("index")
    return (index if index is not None else position, detail.get("type"))


_TEXT_FIELDS = {"reasoning.text": "text", "reasoning.summary": "summary"}


class _ChoiceState:
    __slots__ = ("content", "details", "finish", "index", "native_finish", "reasoning", "refusal", "role", "tools")

    def __init__(self, index: int) -> None:
        self.index = index
        self.role: str | None = None
        self.content: list[str] = []
        self.reasoning: list[str] = []
        self.refusal: list[str] = []
        self.details: dict[tuple[Any, Any], dict[str, Any]] = {}
        self.tools = ToolCallTracker()
        self.finish: str | None = None
        self.native_finish: str | None = None

    def add(self, delta: Delta) -> None:
        if delta.role and not self.role:
            self.role = delta.role
        if delta.content:
            self.content.append(delta.content)
        if delta.reasoning:
            self.reasoning.append(delta.reasoning)
        if delta.refusal:
            self.refusal.append(delta.refusal)
        for position, detail in enumerate(delta.reasoning_details):
            self._merge_detail(position, detail)
        for call in delta.tool_calls:
            self.tools.add(call)

    def _merge_detail(self, position: int, detail: Mapping[str, Any]) -> None:
        key = _detail_key(position, detail)
        current = self.details.get(key)
        if current is None:
            self.details[key] = dict(detail)
            return
        text_field = _TEXT_FIELDS.get(str(detail.get("type")))
        for name, value in detail.items():
            if name == text_field and isinstance(value, str):
                current[name] = (current.get(name) or "") + value
            elif value is not None and name not in ("index", "type"):
                # Encrypted data, signatures, ids: opaque, the latest non-null wins.
                current[name] = value

    def build(self) -> ResponseChoice:
        return ResponseChoice(
            index=self.index,
            role=self.role or "assistant",
            content="".join(self.content),
            reasoning="".join(self.reasoning),
            # copies: a later chunk extends these dicts, and earlier snapshots must not change
            reasoning_details=tuple(dict(detail) for detail in self.details.values()),
            refusal="".join(self.refusal) if self.refusal else None,
            tool_calls=self.tools.calls(),
            finish_reason=self.finish,
            native_finish_reason=self.native_finish,
        )


class ResponseAccumulator:
    """Folds chunks into a :class:`Response`.

    - content, reasoning and refusal are joined in order;
    - ``finish_reason`` comes from whichever chunk carries it (usage follows it);
    - ``usage`` from the usage chunk; every choice index is kept;
    - id/model/provider/created from the first chunk that has them.
    """

    __slots__ = ("_choices", "_meta", "_usage", "chunk_count")

    def __init__(self) -> None:
        self._choices: dict[int, _ChoiceState] = {}
        self._usage: Usage | None = None
        self._meta: dict[str, Any] = {}
        self.chunk_count = 0

    def add(self, chunk: Chunk) -> None:
        """Fold one chunk in."""
        self.chunk_count += 1
        if len(self._meta) < len(META_FIELDS):
            for name in META_FIELDS:
                if name not in self._meta:
                    value = getattr(chunk, name)
                    if value is not None:
                        self._meta[name] = value
        for choice in chunk.choices:
            state = self._choices.get(choice.index)
            if state is None:
                state = self._choices[choice.index] = _ChoiceState(choice.index)
            state.add(choice.delta)
            if choice.finish_reason is not None:
                state.finish = choice.finish_reason
            if choice.native_finish_reason is not None:
                state.native_finish = choice.native_finish_reason
        if chunk.usage is not None:
            self._usage = chunk.usage

    def response(
        self,
        *,
        response_time: float | None = None,
        time_to_first_token: float | None = None,
        response_format: Any = None,
    ) -> Response:
        """The response built so far (cheap enough to call per chunk for small streams);
        ``response_format`` is the request's, when known (built in, not copied in afterwards)."""
        return Response(
            response_time=response_time,
            time_to_first_token=time_to_first_token,
            response_format=response_format,
            id=self._meta.get("id"),
            model=self._meta.get("model"),
            provider=self._meta.get("provider"),
            created=self._meta.get("created"),
            system_fingerprint=self._meta.get("system_fingerprint"),
            choices=tuple(self._choices[i].build() for i in sorted(self._choices)),
            usage=self._usage,
        )
