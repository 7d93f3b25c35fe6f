"""The chunk event: one decoded ``chat.completion.chunk`` of an OpenRouter stream.

Built directly from the decoded JSON (no marshmallow on the hot path: see
``bench/bench_chunk_parse.py``); the marshmallow schemas in
:mod:`openrouter_rx.schemas` validate at the boundaries. Unknown fields are never
an error: the whole decoded dict stays in ``raw``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from .errors import ProtocolError

__all__ = ["Chunk", "ChunkChoice", "Delta", "ToolCallDelta", "Usage"]

_EMPTY: Mapping[str, Any] = {}


def _int(value: Any) -> int:
    """A token count: an int, a whole float (``12.0``) or a numeric string (``"12"``); else 0."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value)  # exact, however large
        except ValueError:
            pass
        try:
            value = float(value)  # "12.0"; "12.5" and "abc" give 0 below
        except ValueError:
            return 0
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return 0


def error_object(value: Any) -> Mapping[str, Any] | None:
    """An ``error`` member as an object, or ``None`` when it reports no error.

    An object is an error even when empty; a non-empty string is taken as the message and a
    non-zero integer as the code (``{"error": "overloaded"}``); anything else is no error.
    """
    if isinstance(value, Mapping):
        return value
    if isinstance(value, str) and value.strip():
        return {"message": value}
    if isinstance(value, int) and not isinstance(value, bool) and value:
        return {"code": value}
    return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def to_decimal(value: Any) -> Decimal | None:
    """A JSON number or numeric string as an exact :class:`~decimal.Decimal` (``None`` for
    anything else, including NaN and infinities, which would poison every total they enter)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        # repr() of a float is its shortest round-tripping form: 2.95e-05 -> Decimal("0.0000295")
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts and cost for one request (sent once, after the finish_reason).

    ``cost`` is in USD credits as an exact Decimal; ``raw`` keeps every field sent
    (``cost_details``, ``*_tokens_details``, ...).
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cost: Decimal | None = None
    is_byok: bool | None = None
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The wire ``usage`` object: a copy of what was received, or built from the fields."""
        if self.raw:  # a JSON-ready copy (raw may hold Decimals when decoded with parse_float=Decimal)
            return json.loads(json.dumps(self.raw, default=str))  # type: ignore[no-any-return]
        wire: dict[str, Any] = {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
            "prompt_tokens_details": {"cached_tokens": self.cached_tokens},
            "completion_tokens_details": {"reasoning_tokens": self.reasoning_tokens},
        }
        if self.cost is not None:
            wire["cost"] = str(self.cost)
        if self.is_byok is not None:
            wire["is_byok"] = self.is_byok
        return wire

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Usage:
        """Build from the wire ``usage`` object."""
        prompt_details = data.get("prompt_tokens_details") or _EMPTY
        completion_details = data.get("completion_tokens_details") or _EMPTY
        prompt = _int(data.get("prompt_tokens"))
        completion = _int(data.get("completion_tokens"))
        total = data.get("total_tokens")
        byok = data.get("is_byok")
        return cls(
            prompt_tokens=prompt,
            completion_tokens=completion,
            total_tokens=_int(total) if total is not None else prompt + completion,
            cost=to_decimal(data.get("cost")),
            is_byok=byok if isinstance(byok, bool) else None,
            cached_tokens=_int(prompt_details.get("cached_tokens")) if isinstance(prompt_details, Mapping) else 0,
            reasoning_tokens=(
                _int(completion_details.get("reasoning_tokens")) if isinstance(completion_details, Mapping) else 0
            ),
            raw=data,
        )


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """One fragment of a streamed tool call; fragments are joined by ``index``."""

    index: int
    id: str | None = None
    type: str | None = None
    name: str | None = None
    arguments: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], position: int = 0) -> ToolCallDelta:
        """Build from one wire ``delta.tool_calls[i]`` entry (``function`` flattened)."""
        function = data.get("function") or _EMPTY
        if not isinstance(function, Mapping):
            raise ProtocolError("tool_calls[].function is not an object", data=repr(function)[:200])
        index = data.get("index")
        return cls(
            index=index if isinstance(index, int) else position,
            id=_str(data.get("id")),
            type=_str(data.get("type")),
            name=_str(function.get("name")),
            arguments=_str(function.get("arguments")),
        )


@dataclass(frozen=True, slots=True)
class Delta:
    """What one chunk adds to one choice."""

    role: str | None = None
    content: str | None = None
    reasoning: str | None = None
    reasoning_details: tuple[Mapping[str, Any], ...] = ()
    refusal: str | None = None
    tool_calls: tuple[ToolCallDelta, ...] = ()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Delta:
        """Build from a wire ``delta`` object."""
        if not data:
            return _EMPTY_DELTA
        tool_calls = data.get("tool_calls")
        details = data.get("reasoning_details")
        if tool_calls and not isinstance(tool_calls, list):
            raise ProtocolError("delta.tool_calls is not a list", data=repr(tool_calls)[:200])
        if details and not isinstance(details, list):
            raise ProtocolError("delta.reasoning_details is not a list", data=repr(details)[:200])
        return cls(
            role=_str(data.get("role")),
            content=_str(data.get("content")),
            reasoning=_str(data.get("reasoning")),
            reasoning_details=tuple(d for d in details if isinstance(d, Mapping)) if details else (),
            refusal=_str(data.get("refusal")),
            tool_calls=(
                tuple(ToolCallDelta.from_dict(tc, i) for i, tc in enumerate(tool_calls) if isinstance(tc, Mapping))
                if tool_calls
                else ()
            ),
        )


_EMPTY_DELTA = Delta()


@dataclass(frozen=True, slots=True)
class ChunkChoice:
    """One choice of a chunk (there are several when ``n > 1``)."""

    index: int = 0
    delta: Delta = _EMPTY_DELTA
    finish_reason: str | None = None
    native_finish_reason: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], position: int = 0) -> ChunkChoice:
        """Build from a wire ``choices[i]`` entry."""
        index = data.get("index")
        delta = data.get("delta") or data.get("message") or _EMPTY
        if not isinstance(delta, Mapping):
            raise ProtocolError("choice.delta is not an object", data=repr(delta)[:200])
        return cls(
            index=index if isinstance(index, int) else position,
            delta=Delta.from_dict(delta),
            finish_reason=_str(data.get("finish_reason")),
            native_finish_reason=_str(data.get("native_finish_reason")),
        )


@dataclass(frozen=True, slots=True)
class Chunk:
    """One streamed ``chat.completion.chunk``.

    Immutable. The shortcuts (:attr:`content`, :attr:`reasoning`,
    :attr:`tool_calls`, :attr:`finish_reason`) read choice 0 and are safe on a
    usage-only chunk whose ``choices`` is empty. ``raw`` is the decoded dict as
    received (unknown fields included); treat it as read-only.

    Build chunks for marble tests with :meth:`from_dict`::

        Chunk.from_dict({"choices": [{"index": 0, "delta": {"content": "Hi"}}]})
    """

    id: str | None = None
    created: int | None = None
    model: str | None = None
    provider: str | None = None
    system_fingerprint: str | None = None
    choices: tuple[ChunkChoice, ...] = ()
    usage: Usage | None = None
    error: Mapping[str, Any] | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    context: Any = field(default=None, compare=False, repr=False)
    """The :class:`~openrouter_rx.chunk_stream.RequestContext` of the request that streamed this
    chunk (``None`` for chunks made elsewhere): what ``accumulate`` and ``structured_output``
    read the request's format and pricing from, whatever plain Rx operators (``publish``,
    ``share``, ``observe_on``) came in between."""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Chunk:
        """Build a chunk from its decoded wire dict.

        Raises:
            ProtocolError: when the structure is not a chunk (e.g. ``choices`` is
                not a list). Missing fields are ``None``/empty, never an error.
        """
        if not isinstance(data, Mapping):
            raise ProtocolError("chunk is not a JSON object", data=repr(data)[:200])
        choices = data.get("choices")
        if choices is None:
            parsed: tuple[ChunkChoice, ...] = ()
        elif isinstance(choices, list):
            parsed = tuple(ChunkChoice.from_dict(c, i) for i, c in enumerate(choices) if isinstance(c, Mapping))
        else:
            raise ProtocolError("chunk.choices is not a list", data=repr(choices)[:200])
        usage = data.get("usage")
        error = data.get("error")
        created = data.get("created")
        return cls(
            id=_str(data.get("id")),
            created=created if isinstance(created, int) else None,
            model=_str(data.get("model")),
            provider=_str(data.get("provider")),
            system_fingerprint=_str(data.get("system_fingerprint")),
            choices=parsed,
            usage=Usage.from_dict(usage) if isinstance(usage, Mapping) else None,
            error=error_object(error),
            raw=data,
        )

    def choice(self, index: int = 0) -> ChunkChoice | None:
        """The choice with this ``index``, or ``None`` when this chunk has none."""
        for choice in self.choices:
            if choice.index == index:
                return choice
        return None

    @property
    def delta(self) -> Delta:
        """Choice 0's delta (an empty delta when there is none)."""
        choice = self.choice(0)
        return choice.delta if choice is not None else _EMPTY_DELTA

    @property
    def content(self) -> str:
        """Choice 0's content text ("" when none)."""
        return self.delta.content or ""

    @property
    def reasoning(self) -> str:
        """Choice 0's reasoning text ("" when none)."""
        return self.delta.reasoning or ""

    @property
    def tool_calls(self) -> list[ToolCallDelta]:
        """Choice 0's tool-call deltas (empty list when none)."""
        return list(self.delta.tool_calls)

    @property
    def finish_reason(self) -> str | None:
        """Choice 0's finish_reason, or the first one set on any choice."""
        first: str | None = None
        for choice in self.choices:
            if choice.finish_reason is not None:
                if choice.index == 0:
                    return choice.finish_reason
                first = first or choice.finish_reason
        return first

    @property
    def has_output(self) -> bool:
        """True when some choice's delta carries output a user sees: content, reasoning (text or
        ``reasoning_details``), a refusal or a tool-call delta. Role-only, empty, finish and
        usage chunks carry none. The operators' "first output" (time to first token, the retry
        and fallback boundary) is the first chunk for which this is True."""
        for choice in self.choices:
            delta = choice.delta
            if delta.content or delta.reasoning or delta.refusal or delta.tool_calls or delta.reasoning_details:
                return True
        return False

    @property
    def is_usage_only(self) -> bool:
        """True for the trailing usage chunk that carries no output."""
        return self.usage is not None and not self.has_output

    @classmethod
    def from_dicts(cls, items: Sequence[Mapping[str, Any]]) -> list[Chunk]:
        """Build several chunks at once (handy in tests)."""
        return [cls.from_dict(item) for item in items]
