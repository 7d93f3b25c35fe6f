"""The finished (or partial) response: what ``Client.complete`` emits and what
accumulating a stream of chunks builds."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

from .chunk import Chunk, Usage
from .tool_call import ToolCall

if TYPE_CHECKING:
    from .models import Pricing

__all__ = ["META_FIELDS", "Response", "ResponseChoice", "ToolCall"]

META_FIELDS = ("id", "model", "provider", "created", "system_fingerprint")
"""The response-level fields a stream's chunks carry (taken from the first chunk that has each)."""


@dataclass(frozen=True)
class ResponseChoice:
    """One complete choice of a response."""

    index: int = 0
    role: str = "assistant"
    content: str = ""
    reasoning: str = ""
    reasoning_details: tuple[Mapping[str, Any], ...] = ()
    refusal: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: str | None = None
    native_finish_reason: str | None = None

    def to_message(self) -> dict[str, Any]:
        """The assistant message to append to the conversation for the next turn."""
        message: dict[str, Any] = {"role": "assistant", "content": self.content or None}
        if self.tool_calls:
            message["tool_calls"] = [call.to_dict() for call in self.tool_calls]
        if self.reasoning_details:
            message["reasoning_details"] = [dict(d) for d in self.reasoning_details]
        if message["content"] is None and not self.tool_calls:
            message["content"] = ""
        return message


_NO_CHOICE = ResponseChoice()


@dataclass(frozen=True)
class Response:
    """A whole chat completion: from ``Client.complete`` or accumulated chunks.

    The shortcuts read choice 0; ``choices`` keeps every index (``n > 1``).
    """

    id: str | None = None
    model: str | None = None
    provider: str | None = None
    created: int | None = None
    system_fingerprint: str | None = None
    choices: tuple[ResponseChoice, ...] = ()
    usage: Usage | None = None
    raw: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)
    response_time: float | None = field(default=None, compare=False)
    """Seconds from subscribe to the end of the response (set by ``accumulate``/``complete``)."""
    time_to_first_token: float | None = field(default=None, compare=False)
    """Seconds from subscribe to the first chunk with output (:attr:`Chunk.has_output`)."""
    pricing: Pricing | None = field(default=None, compare=False, repr=False)
    """The model's :class:`~openrouter_rx.models.Pricing`, when attached (:meth:`with_pricing`), for
    :attr:`cost_estimate` when OpenRouter sent no ``usage.cost``."""
    response_format: Any = field(default=None, compare=False, repr=False)
    """The request's format (a :class:`~openrouter_rx.ResponseFormat` or ``JSONFormat``), attached
    by ``client.complete()`` and by ``accumulate()`` over ``client.stream(..., response_format=...)``;
    :attr:`structured_output` uses it."""

    def choice(self, index: int = 0) -> ResponseChoice:
        """The choice with this index (an empty choice when absent)."""
        for choice in self.choices:
            if choice.index == index:
                return choice
        return _NO_CHOICE

    @property
    def content(self) -> str:
        """Choice 0's text."""
        return self.choice(0).content

    @property
    def reasoning(self) -> str:
        """Choice 0's reasoning text."""
        return self.choice(0).reasoning

    @property
    def refusal(self) -> str | None:
        """Choice 0's refusal, when the model refused."""
        return self.choice(0).refusal

    @property
    def tool_calls(self) -> list[ToolCall]:
        """Choice 0's tool calls."""
        return list(self.choice(0).tool_calls)

    @property
    def has_tool_calls(self) -> bool:
        """True when choice 0 asks for tool calls."""
        return bool(self.choice(0).tool_calls)

    @property
    def finish_reason(self) -> str | None:
        """Choice 0's finish_reason."""
        return self.choice(0).finish_reason

    @property
    def prompt_tokens(self) -> int:
        """Prompt tokens from ``usage`` (0 when no usage was received)."""
        return self.usage.prompt_tokens if self.usage is not None else 0

    @property
    def completion_tokens(self) -> int:
        """Completion tokens from ``usage`` (0 when no usage was received)."""
        return self.usage.completion_tokens if self.usage is not None else 0

    @property
    def total_tokens(self) -> int:
        """Total tokens from ``usage`` (0 when no usage was received)."""
        return self.usage.total_tokens if self.usage is not None else 0

    @property
    def cost_estimate(self) -> Decimal | None:
        """The request's cost in USD credits: ``usage.cost`` when OpenRouter sent it, else the
        estimate from the attached :attr:`pricing` and the usage (:meth:`Pricing.cost
        <openrouter_rx.models.Pricing.cost>`), else ``None`` (also for variable pricing).
        :attr:`cost_source` tells which. For a BYOK request (``usage.is_byok``) OpenRouter's
        ``usage.cost`` is its own fee only; the provider's charge to your key is
        ``usage.raw["cost_details"]["upstream_inference_cost"]``."""
        source = self.cost_source
        if source is None:
            return None
        assert self.usage is not None
        if source == "usage":
            return self.usage.cost
        assert self.pricing is not None
        return self.pricing.cost(self.usage)

    @property
    def cost_source(self) -> Literal["usage", "pricing"] | None:
        """Where :attr:`cost_estimate` comes from: ``"usage"`` (OpenRouter's exact ``usage.cost``),
        ``"pricing"`` (estimated from the attached :attr:`pricing`), or ``None`` (no cost known)."""
        if self.usage is None:
            return None
        if self.usage.cost is not None:
            return "usage"
        if self.pricing is not None and not self.pricing.is_variable:
            return "pricing"
        return None

    @cached_property
    def structured_output(self) -> Any:
        """Choice 0's content as the data the request's ``response_format`` describes (loaded by
        its marshmallow schema, after local repairs if needed), or ``None`` when the request had
        no ``response_format``. Computed once.

        Raises:
            StructuredOutputError: the content does not give valid data (``err.attempts``,
                ``err.raw``; ``err.partial`` is this response), or the model refused.
        """
        if self.response_format is None:
            return None
        failure = self.__dict__.get("_structured_failure")
        if failure is not None:  # settled by healing that failed: its attempts, the healer's included
            raise failure
        return self.parse()

    def _settle_structured_output(self, value: Any = None, failure: Exception | None = None) -> None:
        """Fix what :attr:`structured_output` gives (a healed value) or raises (the error of healing
        that failed, with every attempt); for the code that healed this response."""
        if failure is not None:
            self.__dict__["_structured_failure"] = failure
        else:
            self.__dict__["structured_output"] = value  # the cached_property's slot

    def parse(self, fmt: Any = None, *, repair: bool = True, choice: int = 0) -> Any:
        """Choice ``choice``'s content as the data ``fmt`` describes (default: the request's
        ``response_format``); ``fmt`` is anything :meth:`ResponseFormat.coerce
        <openrouter_rx.ResponseFormat.coerce>` takes (a marshmallow schema, a format, a dict).

        Raises:
            StructuredOutputError: as :attr:`structured_output`.
            ValueError: no ``fmt`` and no ``response_format`` attached.
        """
        from ._structured_value import structured_value  # these import this module
        from .structured import ResponseFormat

        given = fmt if fmt is not None else self.response_format
        if given is None:
            raise ValueError("this response has no response_format: pass one, e.g. response.parse(MySchema)")
        return structured_value(ResponseFormat.coerce(given), self, choice=choice, repair=repair)

    def with_pricing(self, pricing: Pricing | None) -> Response:
        """A copy of this response with ``pricing`` attached (e.g. ``client.pricing_for(response.model)``)."""
        return replace(self, pricing=pricing)

    def to_message(self) -> dict[str, Any]:
        """Choice 0 as the assistant message to append for the next turn."""
        return self.choice(0).to_message()

    def _meta(self, kind: str) -> dict[str, Any]:
        body: dict[str, Any] = {"object": kind}
        for name in META_FIELDS:
            value = getattr(self, name)
            if value is not None:
                body[name] = value
        return body

    def to_dict(self) -> dict[str, Any]:
        """This response as a JSON-ready ``chat.completion`` body (the shape ``complete()`` receives).

        Handy for storing or logging an accumulated response; ``raw`` keeps the body exactly as
        received for responses from ``complete()`` and is ``None`` for accumulated ones.
        """
        body = self._meta("chat.completion")
        body["choices"] = []
        for choice in self.choices:
            message = choice.to_message()
            if choice.tool_calls:  # with the stream's indexes, which need not run 0..n-1
                message["tool_calls"] = [{**call.to_dict(), "index": call.index} for call in choice.tool_calls]
            if choice.reasoning:
                message["reasoning"] = choice.reasoning
            if choice.refusal is not None:
                message["refusal"] = choice.refusal
            body["choices"].append(
                {
                    "index": choice.index,
                    "message": message,
                    "finish_reason": choice.finish_reason,
                    "native_finish_reason": choice.native_finish_reason,
                }
            )
        if self.usage is not None:
            body["usage"] = self.usage.to_dict()
        return body

    def to_chunks(self) -> list[Chunk]:
        """Chunks that accumulate back into this response, shaped like a real stream.

        Per choice: one chunk with the whole delta (role, reasoning, content, refusal, tool calls),
        then one with the ``finish_reason``; then a usage chunk when there is usage. Used by
        ``fallback_to_non_streaming`` so operators downstream see a stream either way.
        """
        meta = self._meta("chat.completion.chunk")
        wire: list[dict[str, Any]] = []
        for choice in self.choices:
            delta: dict[str, Any] = {"role": choice.role, "content": choice.content}
            if choice.reasoning:
                delta["reasoning"] = choice.reasoning
            if choice.reasoning_details:
                delta["reasoning_details"] = [dict(d) for d in choice.reasoning_details]
            if choice.refusal is not None:
                delta["refusal"] = choice.refusal
            if choice.tool_calls:
                delta["tool_calls"] = [call.to_delta() for call in choice.tool_calls]
            wire.append({**meta, "choices": [{"index": choice.index, "delta": delta, "finish_reason": None}]})
            finish = {"index": choice.index, "delta": {}, "finish_reason": choice.finish_reason}
            if choice.native_finish_reason is not None:
                finish["native_finish_reason"] = choice.native_finish_reason
            wire.append({**meta, "choices": [finish]})
        if self.usage is not None:
            wire.append({**meta, "choices": [], "usage": self.usage.to_dict()})
        return [Chunk.from_dict(item) for item in wire]

    @classmethod
    def from_chunks(cls, chunks: Iterable[Chunk]) -> Response:
        """Accumulate chunks into a response (see :class:`ResponseAccumulator`)."""
        from ._accumulator import ResponseAccumulator

        acc = ResponseAccumulator()
        for chunk in chunks:
            acc.add(chunk)
        return acc.response()

    @classmethod
    def from_completion(cls, body: Mapping[str, Any]) -> Response:
        """Build from a non-streaming ``chat.completion`` body (already validated)."""
        choices = []
        for position, item in enumerate(body.get("choices") or ()):
            message = item.get("message") or {}
            calls = tuple(
                ToolCall(
                    id=call.get("id"),
                    name=(call.get("function") or {}).get("name"),
                    arguments_json=(call.get("function") or {}).get("arguments") or "",
                    type=call.get("type") or "function",
                    index=call.get("index", i) if isinstance(call.get("index", i), int) else i,
                )
                for i, call in enumerate(message.get("tool_calls") or ())
            )
            index = item.get("index")
            choices.append(
                ResponseChoice(
                    index=index if isinstance(index, int) else position,
                    role=message.get("role") or "assistant",
                    content=message.get("content") or "",
                    reasoning=message.get("reasoning") or "",
                    reasoning_details=tuple(message.get("reasoning_details") or ()),
                    refusal=message.get("refusal") or None,  # "" is no refusal, as in streams
                    tool_calls=calls,
                    finish_reason=item.get("finish_reason"),
                    native_finish_reason=item.get("native_finish_reason"),
                )
            )
        usage = body.get("usage")
        return cls(
            id=body.get("id"),
            model=body.get("model"),
            provider=body.get("provider"),
            created=body.get("created"),
            system_fingerprint=body.get("system_fingerprint"),
            choices=tuple(choices),
            usage=Usage.from_dict(usage) if isinstance(usage, Mapping) else None,
            raw=body,
        )
