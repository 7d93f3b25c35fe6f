"""Request fields in their wire form, and what a request adds to the Responses it produces.

``tools`` entries may be :class:`~openrouter_rx.Tool` objects, ``@tool`` functions, plain
functions or tool dicts; ``response_format`` may be a
:class:`~openrouter_rx.ResponseFormat`, a marshmallow schema (class or instance) or a dict.
Dicts are sent exactly as given.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any

from .response import Response
from .structured import JSONFormat, ResponseFormat
from .tools import Tool

__all__ = ["finisher", "response_format_of", "weakly", "wire_value"]


def _generic(value: Any) -> Any:
    """Objects that know their wire form (``to_dict()``) are converted, recursively."""
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict) and not isinstance(value, type):
        return to_dict()
    if isinstance(value, list | tuple):
        return [_generic(item) for item in value]
    return value


def wire_value(name: str, value: Any) -> Any:
    """The JSON form of the body field ``name`` (``None``: leave the field out; an empty
    ``tools`` list is left out, as providers with OpenAI-style validation refuse it)."""
    if name == "tools" and isinstance(value, Iterable) and not isinstance(value, str | bytes | Mapping):
        # any iterable (dict.values(), a generator, a ToolSet), not only a list
        return [dict(item) if isinstance(item, Mapping) else Tool.coerce(item).to_dict() for item in value] or None
    if name == "response_format" and not isinstance(value, Mapping):
        return ResponseFormat.coerce(value).to_dict()
    if name == "tool_choice" and not isinstance(value, str | Mapping):
        # a Tool or a @tool / plain function: force a call to that tool
        return {"type": "function", "function": {"name": Tool.coerce(value).name}}
    return _generic(value)


def response_format_of(params: Mapping[str, Any]) -> JSONFormat | None:
    """The request's ``response_format`` as a format object (``None`` when there is none, or
    when it is ``{"type": "text"}``, which asks for no structure)."""
    value = params.get("response_format")
    if value is None or (isinstance(value, Mapping) and value.get("type") == "text"):
        return None
    return ResponseFormat.coerce(value)


def weakly(method: Callable[[str], Any]) -> Callable[[str], Any]:
    """``method`` (a bound method, e.g. ``client.pricing_for``) without keeping its object alive:
    chunks a user keeps must not keep the client (its session, its pool) alive; once the
    object is gone the call answers ``None``."""
    ref = weakref.WeakMethod(method)

    def call(name: str) -> Any:
        bound = ref()
        return bound(name) if bound is not None else None

    return call


def finisher(
    form: JSONFormat | None, model: str | None, pricing_for: Callable[[str], Any]
) -> Callable[[Response], Response]:
    """How a request completes the Responses made from it: its format attached (for
    ``response.structured_output``), and the model's cached pricing when OpenRouter sent no
    ``usage.cost`` (for ``cost_estimate``). Never does I/O."""

    def finish(response: Response) -> Response:
        changes: dict[str, Any] = {}
        if form is not None and response.response_format is None:
            changes["response_format"] = form
        usage = response.usage
        if response.pricing is None and usage is not None and usage.cost is None:
            name = response.model or model
            pricing = pricing_for(name) if name else None
            if pricing is not None:
                changes["pricing"] = pricing
        return replace(response, **changes) if changes else response

    return finish
