"""The JSON Schema of one marshmallow field (used by :mod:`openrouter_rx.json_schema`).

One function per field kind, found by walking the field class's MRO (so a custom
``class Slug(fields.String)`` converts as a string); the validators, nullability,
annotations, default and the ``metadata={"json_schema": {...}}`` override are then
applied in that order by :func:`~openrouter_rx._json_schema_keywords.field_schema`.
Objects (nested schemas) and the recursion bookkeeping belong to the caller, reached
through :class:`Context`.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import math
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from marshmallow import Schema, fields, validate

from .errors import SchemaConversionError

__all__ = ["STRICT_FORMATS", "Context", "Node", "base_schema", "json_value", "plain"]

Node = dict[str, Any]

#: The ``format`` values OpenAI's strict mode accepts; any other format is left out there.
STRICT_FORMATS = frozenset({"date-time", "time", "date", "duration", "email", "hostname", "ipv4", "ipv6", "uuid"})

_DECIMAL_PATTERN = r"^-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$"
_ISO_FORMATS = {None, "iso", "iso8601"}


class Context(Protocol):
    """What a field conversion needs from the schema-level converter."""

    strict: bool

    def value(self, field: fields.Field[Any], path: str) -> Node:
        """The schema of a value held by a container (a list item, a tuple slot, ...)."""

    def nested(self, schema: Schema, unknown: str | None, path: str) -> Node:
        """The object schema of a nested schema, or a ``$ref`` to it when recursive."""


def plain(value: Any) -> Any:
    """``value`` as plain JSON data: Enum → its value, Decimal → number, date/time → ISO
    string, UUID → string, tuple → list.

    Raises:
        ValueError: the value has no JSON form (an object, NaN, a dict with non-string keys).
    """
    if isinstance(value, enum.Enum):
        return plain(value.value)
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float | decimal.Decimal):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} has no JSON form")
        if isinstance(value, decimal.Decimal) and value == value.to_integral_value():
            return int(value)
        return float(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, Mapping) and all(isinstance(key, str) for key in value):
        return {key: plain(item) for key, item in value.items()}
    raise ValueError(f"{value!r} has no JSON form")


def json_value(field: fields.Field[Any] | None, value: Any) -> Any:
    """The JSON form of a Python ``value`` as ``field`` would dump it.

    Raises:
        ValueError: the value has no JSON form.
    """
    if field is not None and not isinstance(field, fields.Nested | fields.Raw | fields.Constant):
        try:
            value = field._serialize(value, None, None)
        except Exception:  # a value the field cannot dump is used as it is
            pass
    return plain(value)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _types_of(values: list[Any]) -> str | list[str]:
    types: list[str] = []
    for value in values:
        kind = _json_type(value)
        if kind not in types:
            types.append(kind)
    if "number" in types and "integer" in types:
        types.remove("integer")
    return types[0] if len(types) == 1 else types


def _error(path: str, reason: str) -> SchemaConversionError:
    return SchemaConversionError(f"{path}: {reason}")


# --- one function per field kind ---------------------------------------------------------------


def _choice_types(field: Any) -> str | list[str] | None:
    """The JSON types of a field's ``OneOf`` choices (``None`` without a usable ``OneOf``)."""
    for validator in field.validators:
        if isinstance(validator, validate.OneOf):
            try:
                values = [plain(choice) for choice in validator.choices]
            except ValueError:
                return None
            return _types_of(values) if values else None
    return None


def _raw(field: Any, ctx: Context, path: str) -> Node:
    if ctx.strict:
        kinds = _choice_types(field)  # Raw + OneOf (a mixed Literal): typed by its choices
        if kinds is None:
            raise _error(path, "fields.Raw has no strict-mode form (strict schemas need a type)")
        return {"type": kinds}
    return {}


def _url(field: Any, ctx: Context, path: str) -> Node:
    return {"type": "string", "format": "uri-reference" if field.relative else "uri"}


def _decimal(field: Any, ctx: Context, path: str) -> Node:
    if field.as_string:
        return {"type": "string", "pattern": _DECIMAL_PATTERN}
    return {"type": "number"}


def _datetime(field: Any, ctx: Context, path: str) -> Node:
    if field.format in _ISO_FORMATS:
        return {"type": "string", "format": "date-time"}
    if field.format in ("timestamp", "timestamp_ms"):
        return {"type": "number", "minimum": 0}
    return {"type": "string"}  # RFC 822 or a strftime format: no JSON Schema format


def _temporal(fmt: str) -> Callable[[Any, Context, str], Node]:
    def convert(field: Any, ctx: Context, path: str) -> Node:
        return {"type": "string", "format": fmt} if field.format in _ISO_FORMATS else {"type": "string"}

    return convert


def _enum(field: Any, ctx: Context, path: str) -> Node:
    if field.by_value is False:
        values: list[Any] = list(field.enum.__members__)
    else:
        try:
            values = [json_value(field.field, member.value) for member in field.enum]
        except ValueError as exc:
            raise _error(path, f"enum {field.enum.__name__}: {exc}") from None
        values = [value for value in values if value is not None]  # null: see allow_none
    if not values:
        return {"type": "null"}
    return {"type": _types_of(values), "enum": values}


def _constant(field: Any, ctx: Context, path: str) -> Node:
    try:
        value = json_value(None, field.constant)
    except ValueError as exc:
        raise _error(path, f"constant {exc}") from None
    if ctx.strict:
        return {"type": _json_type(value), "enum": [value]}  # strict mode: no const
    return {"type": _json_type(value), "const": value}


def _list(field: Any, ctx: Context, path: str) -> Node:
    return {"type": "array", "items": ctx.value(field.inner, f"{path}[]")}


def _tuple(field: Any, ctx: Context, path: str) -> Node:
    slots = [ctx.value(inner, f"{path}[{index}]") for index, inner in enumerate(field.tuple_fields)]
    size = len(slots)
    if ctx.strict:
        if size and any(slot != slots[0] for slot in slots):
            raise _error(path, "a fields.Tuple of different types has no strict-mode form (no prefixItems)")
        return {"type": "array", "items": slots[0] if slots else {}, "minItems": size, "maxItems": size}
    return {"type": "array", "prefixItems": slots, "minItems": size, "maxItems": size, "items": False}


def _mapping(field: Any, ctx: Context, path: str) -> Node:
    if ctx.strict:
        raise _error(path, f"fields.{type(field).__name__} has no strict-mode form (strict schemas need "
                     "fixed property names)")
    node: Node = {"type": "object"}
    if field.key_field is not None:
        keys = ctx.value(field.key_field, f"{path}{{key}}")
        if keys.get("type") == "string" and len(keys) > 1:
            node["propertyNames"] = keys
    if field.value_field is not None:
        node["additionalProperties"] = ctx.value(field.value_field, f"{path}{{}}")
    return node


def _nested(field: Any, ctx: Context, path: str) -> Node:
    schema = field.schema
    many = bool(field.many or schema.many)
    unknown = field.unknown or schema.unknown
    if many:
        return {"type": "array", "items": ctx.nested(schema, unknown, f"{path}[]")}
    return ctx.nested(schema, unknown, path)


def _pluck(field: Any, ctx: Context, path: str) -> Node:
    plucked = field.schema.fields[field.field_name]
    if field.many:
        return {"type": "array", "items": ctx.value(plucked, f"{path}[]")}
    return ctx.value(plucked, path)


def _fixed(node: Node) -> Callable[[Any, Context, str], Node]:
    def convert(field: Any, ctx: Context, path: str) -> Node:
        return dict(node)

    return convert


_HANDLERS: dict[type, Callable[[Any, Context, str], Node]] = {
    fields.Raw: _raw,
    fields.String: _fixed({"type": "string"}),
    fields.UUID: _fixed({"type": "string", "format": "uuid"}),
    fields.Email: _fixed({"type": "string", "format": "email"}),
    fields.Url: _url,
    fields.Number: _fixed({"type": "number"}),
    fields.Integer: _fixed({"type": "integer"}),
    fields.Float: _fixed({"type": "number"}),
    fields.Decimal: _decimal,
    fields.Boolean: _fixed({"type": "boolean"}),
    fields.DateTime: _datetime,
    fields.Date: _temporal("date"),
    fields.Time: _temporal("time"),
    fields.TimeDelta: _fixed({"type": "number"}),
    fields.IP: _fixed({"type": "string"}),
    fields.IPv4: _fixed({"type": "string", "format": "ipv4"}),
    fields.IPv6: _fixed({"type": "string", "format": "ipv6"}),
    fields.IPInterface: _fixed({"type": "string"}),
    fields.Enum: _enum,
    fields.Constant: _constant,
    fields.List: _list,
    fields.Tuple: _tuple,
    fields.Mapping: _mapping,
    fields.Nested: _nested,
    fields.Pluck: _pluck,
}


def base_schema(field: fields.Field[Any], ctx: Context, path: str) -> Node:
    """The schema of ``field``'s kind (its nearest known class), before validators and the rest.

    Raises:
        SchemaConversionError: no known base class and no ``json_schema`` metadata, or no
            form in strict mode.
    """
    for klass in type(field).__mro__:
        handler = _HANDLERS.get(klass)
        if handler is not None:
            return handler(field, ctx, path)
    if isinstance(field.metadata.get("json_schema"), Mapping):
        return {}  # the override describes it
    raise _error(path, f"no JSON Schema for {type(field).__name__} (subclass a known field or give "
                 "metadata={'json_schema': {...}})")
