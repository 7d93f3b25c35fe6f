"""The arguments of a call to a tool: parsed, checked, validated (used by :class:`openrouter_rx.tools.Tool`).

:func:`load_arguments` parses the JSON text the model sent (or takes an already-parsed
mapping), checks that it is a JSON object and loads it through the tool's schema, raising
:class:`~openrouter_rx.errors.ToolArgumentsError` with a short summary of what failed (the
field paths and messages, never the values). :func:`renames` gives the ``data_key →
attribute`` renames a call by keyword needs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, NoReturn

from marshmallow import Schema, ValidationError

from ._repair import json_error, loads_strict
from .errors import ToolArgumentsError
from .json_schema import load_data

__all__ = ["load_arguments", "renames"]

_SHOWN_ERRORS = 5
"""How many field errors the message of a ToolArgumentsError spells out (all are in ``messages``)."""


def load_arguments(name: str, schema: Schema | None, strict: bool, arguments: str | Mapping[str, Any]) -> Any:
    """What :meth:`Tool.load_arguments <openrouter_rx.tools.Tool.load_arguments>` returns for the tool ``name``."""
    raw, data = _parse(name, arguments)
    if schema is None:
        return data
    try:
        return load_data(schema, data, strict=strict)
    except ValidationError as error:
        raise ToolArgumentsError(
            f"arguments for tool {name!r} do not match its schema: {_summarise(error.messages)}",
            raw=raw,
            name=name,
            messages=error.messages,
        ) from error


def _parse(name: str, arguments: Any) -> tuple[str, Any]:
    """(the raw text, the parsed object), checked to be a JSON object."""
    if isinstance(arguments, str):
        raw = arguments
        try:
            data = loads_strict(arguments) if arguments.strip() else {}
        except ValueError as error:  # also NaN/Infinity and JSON nested too deeply
            _fail_json(name, raw, f"not valid JSON ({error})")
    else:
        data = dict(arguments) if isinstance(arguments, Mapping) else arguments
        raw = json.dumps(data, default=repr)
    if not isinstance(data, dict):
        _fail_json(name, raw, f"not a JSON object but {_json_kind(data)}")
    return raw, data


def _fail_json(name: str, raw: str, why: str) -> NoReturn:
    raise ToolArgumentsError(f"arguments for tool {name!r} are {why}", raw=raw, name=name, messages=json_error(why))


def renames(schema: Schema | None) -> dict[str, str]:
    """``data_key → attribute`` for the fields whose JSON name differs from their loaded name."""
    if schema is None:
        return {}
    found: dict[str, str] = {}
    attributes = {field.attribute or name for name, field in schema.fields.items()}
    for name, field in schema.fields.items():
        attribute = field.attribute or name
        if field.data_key and field.data_key != attribute and field.data_key not in attributes:
            found[field.data_key] = attribute
    return found


_JSON_KINDS: tuple[tuple[type | tuple[type, ...], str], ...] = (
    (type(None), "null"),
    (bool, "a boolean"),
    ((int, float), "a number"),
    (str, "a string"),
    ((list, tuple), "an array"),
)


def _json_kind(value: Any) -> str:
    return next((word for kinds, word in _JSON_KINDS if isinstance(value, kinds)), type(value).__name__)


def _summarise(messages: Any) -> str:
    """``"city: Missing data for required field.; unit: Must be one of: C, F."`` (the first few)."""
    flat: list[str] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                walk(value, f"{path}.{key}" if path else str(key))
        elif isinstance(node, list | tuple) and not all(isinstance(item, str) for item in node):
            for item in node:
                walk(item, path)
        elif isinstance(node, list | tuple):
            flat.append(f"{path or '_schema'}: {' '.join(node)}")
        else:
            flat.append(f"{path or '_schema'}: {node}")

    walk(messages, "")
    shown = "; ".join(flat[:_SHOWN_ERRORS])
    more = len(flat) - _SHOWN_ERRORS
    return f"{shown} (and {more} more)" if more > 0 else shown
