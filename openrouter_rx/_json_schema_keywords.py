"""The keywords that refine a field's base JSON Schema (used by :mod:`openrouter_rx.json_schema`).

:func:`field_schema` takes the base schema of the field's kind (from
:mod:`openrouter_rx._json_schema_fields`) and applies, in order: the validators that have a
JSON Schema form, nullability, the annotations from ``metadata``, the ``default`` and the
``metadata={"json_schema": {...}}`` override.
"""

from __future__ import annotations

import decimal
import re
from collections.abc import Mapping
from typing import Any

from marshmallow import fields, missing, validate

from ._json_schema_fields import STRICT_FORMATS, Context, Node, base_schema, json_value, plain

__all__ = ["field_schema", "make_nullable", "regexp_pattern"]

_PY_FLAGS_OK = re.UNICODE  # set on every str pattern; any other flag has no JSON Schema form

# --- validators --------------------------------------------------------------------------------


def _validators(field: fields.Field[Any]) -> list[Any]:
    found: list[Any] = []
    pending = list(field.validators)
    while pending:
        validator = pending.pop(0)
        if isinstance(validator, validate.And):
            pending[:0] = validator.validators
        else:
            found.append(validator)
    return found


def _tighten(node: Node, key: str, value: Any, *, larger: bool) -> None:
    old = node.get(key)
    if old is None or (value > old if larger else value < old):
        node[key] = value


def _bound(value: Any) -> int | float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | decimal.Decimal):
        return None  # a date or another comparable: no JSON Schema keyword
    try:
        number = plain(value)
    except ValueError:
        return None  # infinite: no bound
    return number if isinstance(number, int | float) else None


def _range(node: Node, validator: validate.Range) -> None:
    low, high = _bound(validator.min), _bound(validator.max)
    if low is not None:
        _tighten(node, "minimum" if validator.min_inclusive else "exclusiveMinimum", low, larger=True)
    if high is not None:
        _tighten(node, "maximum" if validator.max_inclusive else "exclusiveMaximum", high, larger=False)


_LENGTH_KEYS = {"string": ("minLength", "maxLength"), "array": ("minItems", "maxItems")}


def _length(node: Node, validator: validate.Length, kind: Any) -> None:
    if kind == "object" and "properties" not in node:
        keys: tuple[str, str] | None = ("minProperties", "maxProperties")
    else:
        keys = _LENGTH_KEYS.get(kind) if isinstance(kind, str) else None
    if keys is None:
        return
    low = validator.equal if validator.equal is not None else validator.min
    high = validator.equal if validator.equal is not None else validator.max
    if low is not None:
        _tighten(node, keys[0], low, larger=True)
    if high is not None:
        _tighten(node, keys[1], high, larger=False)


def _unescape_anchors(source: str) -> str:
    """Python's ``\\A``/``\\Z`` as ECMA-262's ``^``/``$`` (the same meaning without multiline)."""
    out: list[str] = []
    index = 0
    while index < len(source):
        char = source[index]
        if char == "\\" and index + 1 < len(source):
            pair = source[index : index + 2]
            out.append({"\\A": "^", "\\Z": "$"}.get(pair, pair))
            index += 2
            continue
        out.append(char)
        index += 1
    return "".join(out)


def regexp_pattern(regex: re.Pattern[Any]) -> str | None:
    """The JSON Schema ``pattern`` for a marshmallow Regexp, or None when it has no faithful form.

    marshmallow uses ``regex.match`` (anchored at the start); JSON Schema searches, so the
    pattern is anchored with ``^``. Flags (``re.I``, ``re.M``, ``re.S``, ``re.X``, inline
    ``(?i)``...) and Python-only syntax (``(?P<name>``, ``(?P=name)``, ``(?#...)``) have no
    ECMA-262 form: those patterns are left out (marshmallow still checks them on load).
    """
    if not isinstance(regex.pattern, str) or regex.flags & ~_PY_FLAGS_OK:
        return None
    source = _unescape_anchors(regex.pattern)
    if "(?P" in source or "(?#" in source:
        return None
    if source.startswith("^") and "|" not in source:
        return source
    return f"^(?:{source})"


def _pattern(node: Node, validator: validate.Regexp, ctx: Context) -> None:
    pattern = regexp_pattern(validator.regex)
    if pattern is None:
        return
    if "pattern" not in node:
        node["pattern"] = pattern
    elif not ctx.strict:  # strict mode has no allOf: a second pattern is left to marshmallow
        node.setdefault("allOf", []).append({"pattern": pattern})


def _json_values(field: fields.Field[Any] | None, values: Any) -> list[Any] | None:
    try:
        return [json_value(field, value) for value in values]
    except (TypeError, ValueError):
        return None


def _restrict_enum(node: Node, values: list[Any]) -> None:
    if "enum" in node:
        allowed = {repr(value) for value in values}
        node["enum"] = [value for value in node["enum"] if repr(value) in allowed]
    else:
        node["enum"] = values


def _items_validator(node: Node, field: fields.Field[Any], validator: Any, ctx: Context) -> None:
    inner = field.inner if isinstance(field, fields.List) else None
    items = node.get("items")
    if inner is None or not isinstance(items, dict):
        return
    values = _json_values(inner, validator.iterable if isinstance(validator, validate.NoneOf) else validator.choices)
    if values is None:
        return
    if isinstance(validator, validate.ContainsOnly):
        _restrict_enum(items, values)
    elif not ctx.strict:
        items["not"] = {"enum": values}


def _apply_validators(node: Node, field: fields.Field[Any], ctx: Context) -> None:
    kind = node.get("type")
    for validator in _validators(field):
        if isinstance(validator, validate.Range) and kind in ("number", "integer"):
            _range(node, validator)
        elif isinstance(validator, validate.Length) and not (ctx.strict and kind == "string"):
            _length(node, validator, kind)  # strict: OpenAI lists no string length keyword
        elif isinstance(validator, validate.Regexp) and kind == "string":
            _pattern(node, validator, ctx)
        elif isinstance(validator, validate.Email) and kind == "string":
            node.setdefault("format", "email")
        elif isinstance(validator, validate.URL) and kind == "string":
            node.setdefault("format", "uri-reference" if validator.relative else "uri")
        elif isinstance(validator, validate.ContainsOnly | validate.ContainsNoneOf):
            if kind == "array":
                _items_validator(node, field, validator, ctx)
        elif isinstance(validator, validate.OneOf):
            values = _json_values(field, validator.choices)
            if values is not None:
                _restrict_enum(node, values)
        elif isinstance(validator, validate.NoneOf) and not ctx.strict:
            values = _json_values(field, validator.iterable)
            if values is not None:
                node["not"] = {"enum": values}
        elif isinstance(validator, validate.Equal):
            values = _json_values(field, [validator.comparable])
            if values is not None:
                if ctx.strict:
                    _restrict_enum(node, values)
                else:
                    node["const"] = values[0]


# --- the whole field ---------------------------------------------------------------------------


def make_nullable(node: Node) -> Node:
    """``node`` that also accepts ``null`` (``type: [T, "null"]``, or ``anyOf`` with null)."""
    if not node:
        return node  # {} already accepts null
    kind = node.get("type")
    if kind is None or kind == "object" or "const" in node or "$ref" in node:
        return {"anyOf": [node, {"type": "null"}]}
    if isinstance(kind, list):
        if "null" not in kind:
            node["type"] = [*kind, "null"]
    elif kind != "null":
        node["type"] = [kind, "null"]
    if "enum" in node and None not in node["enum"]:
        node["enum"] = [*node["enum"], None]
    return node


def _annotate(node: Node, field: fields.Field[Any], ctx: Context) -> None:
    metadata = field.metadata
    for key in ("title", "description"):
        if isinstance(metadata.get(key), str):
            node[key] = metadata[key]
    if ctx.strict:
        return  # examples and deprecated are not in OpenAI's strict subset
    if "examples" in metadata:
        examples = metadata["examples"]
        values = _json_values(field, examples if isinstance(examples, list | tuple) else [examples])
        if values is not None:
            node["examples"] = values
    if metadata.get("deprecated") is True:
        node["deprecated"] = True


def _default(node: Node, field: fields.Field[Any]) -> None:
    default = field.load_default
    if default is missing or callable(default) or isinstance(field, fields.Constant):
        return
    values = _json_values(field, [default])
    if values is not None:
        node["default"] = values[0]


def field_schema(field: fields.Field[Any], ctx: Context, path: str, *, optional: bool) -> Node:
    """The JSON Schema of ``field``.

    Args:
        field: a bound marshmallow field.
        ctx: the schema-level converter.
        path: the field's JSON path, for error messages (``"items[].name"``).
        optional: True for an object property that is not required: nullable in strict
            mode (the model must send every property), else it may carry ``default``.

    Raises:
        SchemaConversionError: the field has no JSON Schema form in this mode.
    """
    node = base_schema(field, ctx, path)
    _apply_validators(node, field, ctx)
    if ctx.strict and node.get("format") not in (None, *STRICT_FORMATS):
        del node["format"]
    strict_optional = optional and ctx.strict and not isinstance(field, fields.Constant)
    if field.allow_none or strict_optional:
        node = make_nullable(node)
    _annotate(node, field, ctx)
    if optional and not ctx.strict:
        _default(node, field)
    override = field.metadata.get("json_schema")
    if isinstance(override, Mapping):
        node.update(override)
    return node
