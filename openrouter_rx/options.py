"""Reusable request options (:class:`CompletionOptions`) and the ``on_start`` payload (:class:`StreamStart`).

::

    opts = orx.CompletionOptions(model="openai/gpt-4o-mini", temperature=0.8, max_tokens=2000)
    client.stream(messages, **opts.to_params())                  # the Rx way
    sc.stream_complete(messages, opts, temperature=0.2)           # the callback way; per-call wins
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CompletionOptions", "StreamStart", "check_model", "check_names"]

_RUBY_NAMES = {
    "providers": "provider={'order': [...]}",
    "extras": "extra={...}",
}
"""Option names of the Ruby gem that are no OpenRouter body field: sent, they would be ignored."""


def check_names(names: Iterable[str]) -> None:
    """``TypeError`` naming the Python option when ``names`` holds one of the Ruby gem's own
    (``providers``, ``extras``), which OpenRouter would silently ignore. Put a field of that name
    in ``extra=`` to send it anyway."""
    for name in names:
        if name in _RUBY_NAMES:
            raise TypeError(f"{name!r} is the Ruby gem's option name; here it is {_RUBY_NAMES[name]}")


def check_model(model: object) -> None:
    """``TypeError`` unless ``model`` is a str or ``None`` (a list of fallback models is ``models=``)."""
    if model is not None and not isinstance(model, str):
        hint = "; for fallback models use models=[...]" if isinstance(model, list | tuple) else ""
        raise TypeError(f"model must be a model id (str) or None, not {type(model).__name__}{hint}")


@dataclass(frozen=True)
class CompletionOptions:
    """OpenRouter body fields kept together, to reuse across requests.

    Every field defaults to ``None`` (not set: not sent). Values are passed to
    :meth:`Client.stream <openrouter_rx.Client.stream>` as they are, so ``tools`` may hold
    :class:`~openrouter_rx.Tool` objects, ``@tool`` functions or dicts, and ``response_format`` a
    marshmallow schema, an :class:`~openrouter_rx.ResponseFormat` or a dict. ``extra`` carries any
    other body field (new or provider-specific ones); it wins over a field of the same name.

    Example::

        base = orx.CompletionOptions(model="openai/gpt-4o-mini", temperature=0.5)
        creative = base.merge(temperature=0.9, top_k=40)
        client.stream(messages, **creative.to_params())

    Attributes:
        model: the model id (``models`` lists fallbacks, tried in order by OpenRouter).
        temperature, top_p, top_k, min_p, top_a, seed: sampling.
        frequency_penalty, presence_penalty, repetition_penalty: repetition control.
        max_tokens, max_completion_tokens, stop: output length and stop sequences.
        logprobs, top_logprobs, logit_bias: token probabilities and biases.
        tools, tool_choice, parallel_tool_calls: tool calling.
        response_format: structured outputs.
        verbosity: the output verbosity some models accept (``"low"``, ``"medium"``, ``"high"``).
        provider, models, route, transforms, plugins, prediction, reasoning, usage: OpenRouter's
            routing and features.
        metadata, user, session_id: tracking fields.
        extra: any other body field, by its wire name.

    Raises:
        TypeError: ``model`` is not a str (fallback models go in ``models``).
    """

    model: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    top_p: float | None = None
    top_k: int | None = None
    min_p: float | None = None
    top_a: float | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    repetition_penalty: float | None = None
    seed: int | None = None
    stop: str | Sequence[str] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    logit_bias: Mapping[str, float] | None = None
    tools: Sequence[Any] | None = None
    tool_choice: Any = None
    parallel_tool_calls: bool | None = None
    response_format: Any = None
    verbosity: str | None = None
    provider: Mapping[str, Any] | None = None
    models: Sequence[str] | None = None
    route: str | None = None
    transforms: Sequence[str] | None = None
    plugins: Sequence[Mapping[str, Any]] | None = None
    prediction: Mapping[str, Any] | None = None
    reasoning: Mapping[str, Any] | None = None
    usage: Mapping[str, Any] | None = None
    metadata: Mapping[str, Any] | None = None
    user: str | None = None
    session_id: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_model(self.model)
        if not isinstance(self.extra, Mapping):
            raise TypeError(f"extra must be a mapping of body fields, not {type(self.extra).__name__}")
        object.__setattr__(self, "extra", dict(self.extra))  # a copy: the caller's dict may change later

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """The names of the body fields this class knows (``extra`` not included)."""
        return _FIELDS

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> CompletionOptions:
        """Options from a dict of body fields: known names become fields, the others go to ``extra``.

        Raises:
            TypeError: a name of the Ruby gem (``providers``, ``extras``), or a ``model`` that is no str.
        """
        return cls()._with(values)

    def to_params(self) -> dict[str, Any]:
        """The fields that are set (not ``None``), then ``extra``: keyword arguments for
        ``client.stream(messages, **opts.to_params())`` (``model`` included when set)."""
        params = {name: getattr(self, name) for name in _FIELDS if getattr(self, name) is not None}
        params.update(self.extra)
        return params

    def merge(self, **overrides: Any) -> CompletionOptions:
        """A copy with ``overrides`` applied; this object is not changed.

        Known field names replace the field (``None`` unsets it); any other name is added to
        ``extra``, and ``extra=`` is merged into the current ``extra``.

        Raises:
            TypeError: as :meth:`from_mapping`.
        """
        return self._with(overrides)

    def _with(self, values: Mapping[str, Any]) -> CompletionOptions:
        """A copy with ``values`` applied: known names replace fields, ``extra`` and the other names
        are merged into this object's ``extra``."""
        check_names(values)
        known = {name: value for name, value in values.items() if name in _FIELDS}
        extra = {**self.extra, **dict(values.get("extra") or {})}
        extra.update({name: value for name, value in values.items() if name not in _FIELDS and name != "extra"})
        return dataclasses.replace(self, **known, extra=extra)


_FIELDS = tuple(f.name for f in dataclasses.fields(CompletionOptions) if f.name != "extra")


@dataclass(frozen=True)
class StreamStart:
    """What ``on_start`` callbacks get: the request about to be sent.

    Attributes:
        model: the model id (``None`` when left to ``models=`` / the account default).
        messages: the conversation, as the list of message dicts that is sent.
        params: the other body fields of the request (as given: Tool objects, schemas, ...).
    """

    model: str | None
    messages: list[dict[str, Any]]
    params: dict[str, Any]
