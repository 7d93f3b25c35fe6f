"""The JSON Schema of one marshmallow field (used by :mod:`openrouter_rx.json_schema`).

One function per field kind, found by walking the field class's MRO (so a custom
``class Slug(fields.String)`` converts as a string); the validators, nullability,
annotations, default and the ``metadata={"json_schema": {...}}`` override are then
applied in that order by :func:`field_schema`. Objects (nested schemas) and the
recursion bookkeeping belong to the caller, reached through :class:`Context`.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import math
import re
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from marshmallow import Schema, fields, missing, validate

from .errors import SchemaConversionError

__all__ = ["Context", "field_schema", "json_value", "make_nullable"]

Node = dict[str, Any]

#: The ``format`` values OpenAI's strict mode accepts; any other format is left out there.
STRICT_FORMATS = frozenset({"date-time", "time", "date", "duration", "email", "hostname", "ipv4", "ipv6", "uuid"})

_DECIMAL_PATTERN = r"^-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$"
_ISO_FORMATS = {None, "iso", "iso8601"}
_PY_FLAGS_OK = re.UNICODE  # set on every str pattern; anything else has no JSON Schema form


class Context(Protocol):
    """What a field conversion needs from the schema-level converter."""

    strict: bool

    def value(self, field: fields.Field[Any], path: str) -> Node:
        """The schema of a value held by a container (a list item, a tuple slot, ...)."""

    def nested(self, schema: Schema, unknown: str | None, path: str) -> Node:
        """The object schema of a nested schema, or a ``$ref`` to it when recursive."""


class _NotJSON(Exception):
    """A Python value has no JSON form."""


def _plain(value: Any) -> Any:
    """``value`` as plain JSON data (Decimal → number, date → ISO string, ...), or _NotJSON."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, enum.Enum):
        return _plain(value.value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float | decimal.Decimal):
        if not math.isfinite(value):
            raise _NotJSON
        if isinstance(value, decimal.Decimal) and value == value.to_integral_value():
            return int(value)
        return float(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, Mapping) and all(isinstance(key, str) for key in value):
        return {key: _plain(item) for key, item in value.items()}
    raise _NotJSON


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
    try:
        return _plain(value)
    except _NotJSON:
        raise ValueError(f"{value!r} has no JSON form") from None


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


def _raw(field: Any, ctx: Context, path: str) -> Node:
    if ctx.strict:
        raise _error(path, "fields.Raw has no strict-mode form (strict schemas need a type)")
    return {}


def _string_format(fmt: str) -> Callable[[Any, Context, str], Node]:
    def convert(field: Any, ctx: Context, path: str) -> Node:
        return {"type": "string", "format": fmt}

    return convert


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
    return {"type": _json_type(value), "enum" if ctx.strict else "const": [value] if ctx.strict else value}


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
    fields.UUID: _string_format("uuid"),
    fields.Email: _string_format("email"),
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
    fields.IPv4: _string_format("ipv4"),
    fields.IPv6: _string_format("ipv6"),
    fields.IPInterface: _fixed({"type": "string"}),
    fields.Enum: _enum,
    fields.Constant: _constant,
    fields.List: _list,
    fields.Tuple: _tuple,
    fields.Mapping: _mapping,
    fields.Nested: _nested,
    fields.Pluck: _pluck,
}


def _base_schema(field: fields.Field[Any], ctx: Context, path: str) -> Node:
    for klass in type(field).__mro__:
        handler = _HANDLERS.get(klass)
        if handler is not None:
            return handler(field, ctx, path)
    if isinstance(field.metadata.get("json_schema"), Mapping):
        return {}  # the override describes it
    raise _error(path, f"no JSON Schema for {type(field).__name__} (subclass a known field or give "
                 "metadata={'json_schema': {...}})")


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
    plain = _plain(value)
    return plain if isinstance(plain, int | float) else None


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
        elif isinstance(validator, validate.Length):
            _length(node, validator, kind)
        elif isinstance(validator, validate.Regexp) and kind == "string":
            _pattern(node, validator, ctx)
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
    node = _base_schema(field, ctx, path)
    _apply_validators(node, field, ctx)
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
