"""The arguments of one ``StreamingClient`` call: options merged with the call's own, and the
``on_start`` payload made from them."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from typing import Any

from .client import Client, Messages
from .options import CompletionOptions, StreamStart, check_model, check_names

__all__ = ["DEFAULT", "Default", "Options", "call_arguments", "stream_start"]


class Default(enum.Enum):
    """The type of :data:`DEFAULT`."""

    TOKEN = 0


DEFAULT = Default.TOKEN
"""An argument not given (``model=``: the options' model, else the client's)."""

Options = CompletionOptions | Mapping[str, Any] | None

_NOT_BODY = frozenset({"extra_headers", "scheduler"})
"""Keyword arguments of ``Client.stream`` that are not body fields (left out of ``StreamStart.params``)."""


def call_arguments(
    options: Options,
    model: str | Default | None,
    tools: Sequence[Any] | None,
    response_format: Any,
    params: Mapping[str, Any],
    default_model: str | None,
) -> tuple[str | None, dict[str, Any]]:
    """The model and the body fields of one call: ``options``, then the call's own arguments
    (a param given as ``None`` unsets the option); the model is ``model`` when given, else the
    options', else ``default_model``.

    Raises:
        TypeError: ``options`` of another type, a Ruby gem option name, a ``model`` that is no str.
    """
    if options is None:
        options = CompletionOptions()
    elif isinstance(options, Mapping):
        options = CompletionOptions.from_mapping(options)
    elif not isinstance(options, CompletionOptions):
        raise TypeError(f"options must be a CompletionOptions or a dict, not {type(options).__name__}")
    check_names(params)
    if not isinstance(model, Default):
        check_model(model)
    body = options.to_params()
    if tools is not None:
        body["tools"] = tools
    if response_format is not None:
        body["response_format"] = response_format
    body.update(params)
    body = {name: value for name, value in body.items() if value is not None}  # an explicit None unsets
    chosen = body.pop("model", default_model)
    return (chosen if model is DEFAULT else model), body


def stream_start(client: Client, messages: Messages, model: str | None, body: Mapping[str, Any]) -> StreamStart:
    """The ``on_start`` payload: the messages as sent, and the body fields (not ``extra_headers``
    nor ``scheduler``)."""
    fields = {name: value for name, value in body.items() if name not in _NOT_BODY}
    return StreamStart(model, client.build_body(messages, None, True, {})["messages"], fields)
