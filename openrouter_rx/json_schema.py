"""marshmallow schemas as JSON Schema (draft 2020-12), for tool parameters and ``response_format``.

One marshmallow schema both describes the JSON sent to the model and validates what comes
back::

    class Weather(Schema):
        city = fields.String(required=True, metadata={"description": "City name"})
        unit = fields.Enum(Unit, load_default=Unit.celsius)

    to_json_schema(Weather)               # the tool's "parameters" / the response schema
    to_json_schema(Weather, strict=True)  # OpenAI-style strict structured outputs
    load_data(Weather, {"city": "Oslo", "unit": None}, strict=True)   # → {"city": "Oslo", "unit": Unit.celsius}
    schema_name(Weather)                  # "Weather"

The output is deterministic (properties in field declaration order), JSON-serialisable,
without ``$schema`` and without ``title`` unless a field's metadata gives one.

What is converted:

* Properties are the fields that load (``load_only`` included, ``dump_only`` left out), named
  by ``data_key``; ``required=True`` fields are in ``required``. ``Meta.unknown = RAISE``
  (marshmallow's default) gives ``additionalProperties: false``; ``INCLUDE``/``EXCLUDE``
  allow other properties.
* Nested schemas are inlined (``only``/``exclude``/``many`` respected). A schema that contains
  itself, directly or through a cycle (``Nested(lambda: TreeSchema(), many=True)``), goes to
  ``$defs`` at the root and is referred to as ``{"$ref": "#/$defs/<Name>"}``; a reference to
  the root schema itself is ``{"$ref": "#"}`` (the root stays an inline object, as OpenAI
  requires).
* ``allow_none`` → ``type: [T, "null"]`` (``enum`` gets ``null``; objects, ``$ref`` and
  ``const`` become ``anyOf: [..., {"type": "null"}]``). A JSON-serialisable, non-callable
  ``load_default`` → ``default`` (in its JSON form). Field ``metadata`` gives ``description``,
  ``title``, ``examples`` and ``deprecated``; ``metadata={"json_schema": {...}}`` is merged
  last (its keys replace the generated ones) and may describe a custom field class that
  has no known base class (otherwise such a field raises SchemaConversionError).
* Validators: OneOf → ``enum``, Range → ``minimum``/``exclusiveMinimum``/..., Length → string
  or array (or Dict) bounds, Regexp → ``pattern``, ContainsOnly/ContainsNoneOf → ``items``
  ``enum`` / ``not``, NoneOf → ``not``, Equal → ``const``, Email/URL → ``format``. Several
  bounds of one kind keep the tightest. A Regexp with flags or Python-only
  syntax is left out (see :func:`~openrouter_rx._json_schema_keywords.regexp_pattern`), as are
  other validators: marshmallow still runs all of them in :func:`load_data`.

Strict mode (``strict=True``) follows OpenAI's structured-outputs subset: every object has
``additionalProperties: false`` and lists every property in ``required``; fields that were
optional become nullable, and :func:`load_data` turns their ``null`` back into "absent" so
``load_default`` applies. Left out in strict mode: ``default``, ``examples``, ``deprecated``,
``not`` (NoneOf/ContainsNoneOf), a second ``pattern`` on one field, and ``format`` values
outside OpenAI's list (``uri``/``uri-reference`` are dropped; ``date-time``, ``date``,
``time``, ``duration``, ``email``, ``hostname``, ``ipv4``, ``ipv6``, ``uuid`` stay); ``const``
is written as a one-value ``enum``; a homogeneous Tuple is ``items`` with
``minItems = maxItems``. Kept: ``pattern``, ``minimum``/``maximum`` (and exclusive),
``minItems``/``maxItems`` (OpenAI's "supported properties"); string ``minLength``/``maxLength``
are left out, as that list does not name them (marshmallow's Length still runs on load).
Refused with :class:`~openrouter_rx.errors.SchemaConversionError`
(naming the field path): Dict/Mapping (no fixed keys), Raw (no type; a Raw with a OneOf
is typed by its choices), a Tuple of different
types (OpenAI rejects ``prefixItems``), ``INCLUDE`` of unknown fields. OpenAI's size limits
(number of properties, nesting depth, enum sizes) are not checked here.

Conversions of a schema class (or of an instance of a class that does not override
``__init__``) are cached per (class, only, exclude, load_only, dump_only, unknown, the nested
fields' only/exclude, strict): a schema class is taken as unchanging once converted. Every call
returns a fresh copy.
"""

from __future__ import annotations

import re
import threading
import weakref
from collections.abc import Mapping
from typing import Any

from marshmallow import INCLUDE, RAISE, Schema, fields

from ._json_schema_fields import Node
from ._json_schema_keywords import field_schema
from .errors import SchemaConversionError

__all__ = ["to_json_schema", "load_data", "schema_name"]

_Key = tuple[Any, ...]


def _instance(schema: type[Schema] | Schema) -> Schema:
    if isinstance(schema, Schema):
        return schema
    if isinstance(schema, type) and issubclass(schema, Schema):
        return schema()
    raise TypeError(f"expected a marshmallow Schema class or instance, got {type(schema).__name__}")


def _nested_options(declared: Mapping[str, fields.Field[Any]]) -> _Key:
    """The ``only``/``exclude`` of the Nested (and List of Nested) fields: ``Schema(only=("inner.a",))``
    puts its dotted names there (and keeps only ``"inner"`` in the schema's own ``only``)."""
    found: list[tuple[Any, ...]] = []
    for name in sorted(declared):
        only, exclude = getattr(declared[name], "only", None), getattr(declared[name], "exclude", None)
        if only is not None or exclude:
            found.append((name, None if only is None else tuple(sorted(only)), tuple(sorted(exclude or ()))))
    return tuple(found)


def _options_key(schema: Schema, unknown: str | None) -> _Key:
    only = None if schema.only is None else tuple(sorted(schema.only))
    return (
        only,
        tuple(sorted(schema.exclude)),
        tuple(sorted(schema.load_only)),
        tuple(sorted(schema.dump_only)),
        unknown or schema.unknown,
        _nested_options(schema.declared_fields),
    )


def _class_options_key(cls: type[Schema]) -> _Key:
    """What :func:`_options_key` gives for ``cls()``, without building the instance."""
    opts = cls.opts
    return (
        None,
        tuple(sorted(set(opts.exclude))),
        tuple(sorted(set(opts.load_only))),
        tuple(sorted(set(opts.dump_only))),
        opts.unknown,
        _nested_options(cls._declared_fields),
    )


def _load_fields(schema: Schema) -> list[tuple[str, fields.Field[Any]]]:
    """The loading fields, in declaration order (``only`` does not reorder them)."""
    loading = schema.load_fields
    ordered = [name for name in schema.declared_fields if name in loading]
    ordered += [name for name in loading if name not in ordered]
    return [(name, loading[name]) for name in ordered]


def _json_name(name: str, field: fields.Field[Any]) -> str:
    return field.data_key if field.data_key is not None else name


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


class _Converter:
    """One conversion: objects, recursion (``$defs``) and the field converter's callbacks."""

    def __init__(self, root: Schema, *, strict: bool) -> None:
        self.strict = strict
        self._root_key = (type(root), *_options_key(root, None))
        self._stack: list[_Key] = []
        self._recursive: set[_Key] = set()
        self._names: dict[_Key, str] = {}
        self.defs: dict[str, Node] = {}

    def convert(self, root: Schema) -> Node:
        node = self.nested(root, None, "")
        if self.defs:
            node["$defs"] = dict(sorted(self.defs.items()))
        return node

    def value(self, field: fields.Field[Any], path: str) -> Node:
        return field_schema(field, self, path, optional=False)

    def nested(self, schema: Schema, unknown: str | None, path: str) -> Node:
        key = (type(schema), *_options_key(schema, unknown))
        if key in self._stack:
            if key == self._root_key:
                return {"$ref": "#"}
            self._recursive.add(key)
            return self._ref(key)
        if key in self._names and self._names[key] in self.defs:
            return self._ref(key)
        self._stack.append(key)
        try:
            node = self._object(schema, unknown or schema.unknown, path)
        finally:
            self._stack.pop()
        if key in self._recursive:
            self.defs[self._names[key]] = node
            return self._ref(key)
        return node

    def _ref(self, key: _Key) -> Node:
        if key not in self._names:
            base = schema_name(key[0])
            name, count = base, 1
            while name in self._names.values():
                count += 1
                name = f"{base}_{count}"
            self._names[key] = name
        return {"$ref": f"#/$defs/{self._names[key]}"}

    def _object(self, schema: Schema, unknown: str, path: str) -> Node:
        if self.strict and unknown == INCLUDE:
            where = path or type(schema).__name__
            raise SchemaConversionError(
                f"{where}: unknown=INCLUDE has no strict-mode form (strict objects allow no other properties)"
            )
        properties: Node = {}
        required: list[str] = []
        for name, field in _load_fields(schema):
            key = _json_name(name, field)
            properties[key] = field_schema(field, self, _join(path, key), optional=not field.required)
            if field.required or self.strict:
                required.append(key)
        node: Node = {"type": "object", "properties": properties}
        if required:
            node["required"] = required
        if self.strict or unknown == RAISE:
            node["additionalProperties"] = False
        return node


# --- cache -------------------------------------------------------------------------------------

_cache: weakref.WeakKeyDictionary[type[Schema], dict[_Key, Node]] = weakref.WeakKeyDictionary()
_cache_lock = threading.Lock()


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy(item) for item in value]
    return value


def _check_not_many(schema: Schema) -> None:
    if schema.many:
        raise SchemaConversionError(
            f"{type(schema).__name__}: a many=True schema is a JSON array; the root must be an object "
            "(wrap it: a schema with one fields.Nested(..., many=True) field)"
        )


def to_json_schema(schema: type[Schema] | Schema, *, strict: bool = False) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the data ``schema`` loads.

    Args:
        schema: a marshmallow Schema class or instance (its ``only``/``exclude``/
            ``load_only``/``dump_only``/``unknown`` options are respected).
        strict: produce OpenAI-style strict structured-output schemas (see the module
            documentation for what changes).

    Returns:
        A new ``{"type": "object", "properties": {...}, ...}`` dict; the caller may modify it.

    Raises:
        SchemaConversionError: a field has no JSON Schema form (in strict mode), a custom
            field class has no known base class, or the schema loads a list (``many=True``:
            wrap it in an object schema with a ``Nested(..., many=True)`` field).
        TypeError: ``schema`` is not a marshmallow schema.
    """
    if isinstance(schema, Schema):
        cls, options = type(schema), _options_key(schema, None)
        _check_not_many(schema)  # before the cache: the cached class schema is an object
    elif isinstance(schema, type) and issubclass(schema, Schema):
        cls, options = schema, _class_options_key(schema)
    else:
        raise TypeError(f"expected a marshmallow Schema class or instance, got {type(schema).__name__}")
    key = (*options, strict)
    cacheable = cls.__init__ is Schema.__init__
    if cacheable:
        with _cache_lock:
            cached = _cache.get(cls, {}).get(key)
        if cached is not None:
            return _copy(cached)  # type: ignore[no-any-return]
    instance = _instance(schema)
    _check_not_many(instance)
    result = _Converter(instance, strict=strict).convert(instance)
    if cacheable:
        with _cache_lock:
            _cache.setdefault(cls, {})[key] = _copy(result)
    return result


# --- loading -----------------------------------------------------------------------------------


def _without_optional_nulls(schema: Schema, data: Any) -> Any:
    """``data`` without the ``null`` of optional, non-nullable fields, recursively."""
    if not isinstance(data, Mapping):
        return data
    by_key = {_json_name(name, field): field for name, field in schema.load_fields.items()}
    out: dict[Any, Any] = {}
    for key, value in data.items():
        field = by_key.get(key)
        if field is None:
            out[key] = value
        elif value is None:
            if field.required or field.allow_none:
                out[key] = value
        else:
            out[key] = _normalise_value(field, value)
    return out


def _normalise_value(field: fields.Field[Any], value: Any) -> Any:
    if isinstance(field, fields.Pluck):
        return value
    if isinstance(field, fields.Nested):
        nested = field.schema
        if field.many or nested.many:
            return [_without_optional_nulls(nested, item) for item in value] if isinstance(value, list) else value
        return _without_optional_nulls(nested, value)
    if isinstance(field, fields.List) and isinstance(value, list):
        return [None if item is None else _normalise_value(field.inner, item) for item in value]
    if isinstance(field, fields.Tuple) and isinstance(value, list) and len(value) == len(field.tuple_fields):
        return [None if item is None else _normalise_value(inner, item)
                for inner, item in zip(field.tuple_fields, value, strict=True)]
    return value


def load_data(schema: type[Schema] | Schema, data: Any, *, strict: bool = False) -> Any:
    """Load ``data`` (decoded JSON from the model) with ``schema``.

    In strict mode the model sends ``null`` for a field it would have left out (strict
    schemas make every property required and the optional ones nullable); such a ``null``
    is removed first when the field does not allow ``None``, so its ``load_default``
    applies (recursively through Nested, ``many`` and lists/tuples of Nested).
    Without ``strict`` the data is loaded as it is.

    Args:
        schema: a marshmallow Schema class (instantiated here) or instance.
        data: the decoded JSON value.
        strict: whether the data was produced under :func:`to_json_schema(..., strict=True)`.

    Returns:
        What ``schema.load`` returns.

    Raises:
        marshmallow.ValidationError: the data does not pass the schema (unchanged).
    """
    instance = _instance(schema)
    if strict:
        if instance.many and isinstance(data, list):
            data = [_without_optional_nulls(instance, item) for item in data]
        else:
            data = _without_optional_nulls(instance, data)
    return instance.load(data)


# --- names -------------------------------------------------------------------------------------

_NAME_INVALID = re.compile(r"[^A-Za-z0-9_-]+")


def schema_name(schema: type[Schema] | Schema) -> str:
    """A name for ``response_format.json_schema.name`` or a tool: ``[A-Za-z0-9_-]{1,64}``.

    It is ``Meta.name`` when the schema class itself defines one (a ``Meta`` inherited from a
    base class is not used for this), else the class name; other characters become ``_``,
    and the result is cut to 64 characters (``"schema"`` if nothing is left).
    """
    cls = schema if isinstance(schema, type) else type(schema)
    meta = cls.__dict__.get("Meta")
    given = getattr(meta, "name", None)
    raw = given if isinstance(given, str) and given.strip() else cls.__name__
    name = _NAME_INVALID.sub("_", raw.strip())[:64]
    return name or "schema"
