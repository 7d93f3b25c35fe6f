"""Function signature → marshmallow Schema (what ``@tool`` builds from a plain function).

Type mapping (``X | None`` adds ``allow_none``; ``Annotated[X, ...]`` may add a
description string, marshmallow validators, or a whole marshmallow field that replaces
the derived one):

====================================  ===============================================
annotation                            field
====================================  ===============================================
``str``                               ``String``
``int``                               ``Integer(strict=True)`` (no ``"3"``, no ``3.5``; ``3.0`` is 3)
``float``                             ``Float`` (JSON numbers only, ints accepted)
``bool``                              ``Boolean`` (``true``/``false`` only)
``Decimal``                           ``Decimal`` (JSON numbers only)
``datetime`` / ``date`` / ``time``    ``DateTime`` / ``Date`` / ``Time`` (ISO 8601 strings; a
                                      datetime without offset loads naive)
``uuid.UUID``                         ``UUID``
``Any``                               ``Raw``
``Literal["a", "b"]``                 ``String`` + ``OneOf`` (ints: ``Integer``; mixed: ``Raw``)
an ``Enum`` subclass                  ``Enum(by_value=True)`` (loads the member)
``list[X]`` / ``Sequence[X]``         ``List(X)``
``tuple[X, Y]`` / ``tuple[X, ...]``   ``Tuple((X, Y))`` / ``List(X)`` loaded as a tuple
``dict[str, X]`` / ``Mapping[str, X]``  ``Dict(keys=String, values=X)``
a dataclass                           ``Nested`` (its fields, same rules; loads an instance)
a marshmallow ``Schema`` subclass     ``Nested(it)``
====================================  ===============================================

Every field accepts only the JSON type its JSON Schema announces (marshmallow alone would
take ``"1.5"`` for a float or ``"yes"`` for a bool): what the model is told and what is
accepted stay the same. Unknown keys are an error (``Meta.unknown = RAISE``), matching the
``additionalProperties: false`` the converter sends for such schemas, so a misspelt
argument is reported back instead of silently dropped.

A parameter with a default is optional and loads to that default when absent (a ``None``
default also allows ``null``); one without a default is required. ``*args``,
``**kwargs``, positional-only parameters, missing annotations and unsupported types raise
:class:`TypeError` when the schema is built, naming the parameter. The function is
expected to be a plain function (or a bound method): an unbound ``self``/``cls`` first
parameter has no annotation and is refused like any other.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import keyword
import typing
from collections import abc
from collections.abc import Callable, Mapping
from enum import Enum
from typing import Any, ClassVar

from marshmallow import RAISE, Schema, ValidationError, fields, post_load
from marshmallow.validate import Validator

from ._docstrings import parse_docstring
from ._signature_fields import Unsupported, adapt, literal_field, not_boolean, scalar_field, type_name, unwrap

__all__ = ["ArgumentsSchema", "DataclassSchema", "function_schema", "dataclass_schema"]

_EMPTY = inspect.Parameter.empty
_SEQUENCES = (list, abc.Sequence, abc.MutableSequence)
_MAPPINGS = (dict, abc.Mapping, abc.MutableMapping)


class ArgumentsSchema(Schema):
    """Base of the generated schemas: unknown keys are a validation error."""

    class Meta:
        unknown = RAISE


class DataclassSchema(ArgumentsSchema):
    """Base of the schemas generated for dataclasses: loading builds the instance."""

    dataclass_type: ClassVar[type[Any]]

    @post_load
    def _build(self, data: dict[str, Any], **kwargs: Any) -> Any:
        cls = type(self).dataclass_type
        try:
            return cls(**data)
        except (TypeError, ValueError) as error:  # a __post_init__ check: reported like any other invalid value
            raise ValidationError(f"{cls.__name__}: {error}") from error


class _Builder:
    """Builds fields for annotations; remembers dataclass schemas (recursive dataclasses work)."""

    def __init__(self) -> None:
        self._dataclasses: dict[type[Any], type[Schema] | None] = {}

    def field(
        self,
        annotation: Any,
        *,
        default: Any = _EMPTY,
        description: str | None = None,
        data_key: str | None = None,
        attribute: str | None = None,
        inner: bool = False,
    ) -> fields.Field[Any]:
        tp, extras, nullable = unwrap(annotation)
        texts = [e for e in extras if isinstance(e, str)]
        description = texts[-1] if texts else description
        validators = [e for e in extras if isinstance(e, Validator)]
        given = [e for e in extras if isinstance(e, fields.Field)]
        kwargs: dict[str, Any] = {}
        if not inner:
            kwargs["required"] = default is _EMPTY
            if default is not _EMPTY:
                kwargs["load_default"] = default
        if nullable or (default is None and not inner):
            kwargs["allow_none"] = True
        if description:
            kwargs["metadata"] = {"description": description}
        if data_key is not None:
            kwargs["data_key"] = data_key
        if attribute is not None:
            kwargs["attribute"] = attribute
        if given:
            return adapt(given[-1], kwargs, validators)
        if validators:
            kwargs["validate"] = validators
        return self._make(tp, kwargs)

    def _make(self, tp: Any, kwargs: dict[str, Any]) -> fields.Field[Any]:
        made = scalar_field(tp, kwargs)
        if made is not None:
            return made
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if origin is typing.Literal:
            return literal_field(args, kwargs)
        if isinstance(tp, type) and issubclass(tp, Enum):
            if not any(isinstance(member.value, bool) for member in tp):  # true is not the member of value 1
                kwargs["pre_load"] = not_boolean
            return fields.Enum(tp, by_value=True, **kwargs)
        if isinstance(tp, type) and issubclass(tp, Schema):
            return fields.Nested(tp, **kwargs)
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            return self._nested_dataclass(tp, kwargs)
        if tp in _SEQUENCES or origin in _SEQUENCES:
            return fields.List(self._inner(args[0] if args else Any), **kwargs)
        if tp is tuple or origin is tuple:
            return self._tuple(args, kwargs)
        if tp in _MAPPINGS or origin in _MAPPINGS:
            key, value = args if args else (str, Any)
            if unwrap(key)[0] is not str:
                raise Unsupported(tp, "JSON object keys are strings: use dict[str, X]")
            return fields.Dict(keys=fields.String(), values=self._inner(value), **kwargs)
        raise Unsupported(tp)

    def _inner(self, tp: Any) -> fields.Field[Any]:
        return self.field(tp, inner=True)

    def _tuple(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> fields.Field[Any]:
        if not args or (len(args) == 2 and args[1] is Ellipsis):
            return fields.List(self._inner(args[0] if args else Any), post_load=tuple, **kwargs)
        return fields.Tuple([self._inner(a) for a in args], **kwargs)

    def _nested_dataclass(self, tp: type[Any], kwargs: dict[str, Any]) -> fields.Field[Any]:
        if tp in self._dataclasses and self._dataclasses[tp] is None:  # recursion: resolved later
            return fields.Nested(lambda: self._schema_of(tp)(), **kwargs)
        return fields.Nested(self.dataclass_schema(tp), **kwargs)

    def _schema_of(self, tp: type[Any]) -> type[Schema]:
        schema = self._dataclasses[tp]
        assert schema is not None
        return schema

    def dataclass_schema(self, tp: type[Any]) -> type[Schema]:
        """The schema of a dataclass (built once per builder)."""
        known = self._dataclasses.get(tp)
        if known is not None:
            return known
        self._dataclasses[tp] = None
        hints = _hints(tp, tp.__qualname__)
        described = parse_docstring(tp.__doc__).params
        declared: dict[str, fields.Field[Any]] = {}
        for item in dataclasses.fields(tp):
            if not item.init:
                continue
            default: Any = _EMPTY
            if item.default is not dataclasses.MISSING:
                default = item.default
            elif item.default_factory is not dataclasses.MISSING:
                default = item.default_factory
            description = item.metadata.get("description") or described.get(item.name)
            declared.update(self._declare(item.name, hints.get(item.name, _EMPTY), default, description, tp))
        schema = DataclassSchema.from_dict(declared, name=f"{tp.__name__}Schema")
        schema.dataclass_type = tp  # type: ignore[attr-defined]
        self._dataclasses[tp] = schema
        return schema

    def _declare(
        self, name: str, annotation: Any, default: Any, description: str | None, owner: Any
    ) -> dict[str, fields.Field[Any]]:
        """``{declared name: field}`` for one parameter, its JSON name fixed up when needed."""
        where = f"parameter {name!r} of {_describe(owner)}"
        if annotation is _EMPTY:
            hint = "; decorate a module-level function or a bound method" if name in ("self", "cls") else ""
            raise TypeError(f"{where} has no type annotation (tool arguments need one to build the schema){hint}")
        json_name = name[:-1] if name.endswith("_") and keyword.iskeyword(name[:-1]) else name
        declared = name if name != "Meta" else "Meta_"  # "Meta" is the one name a Schema class reserves
        renamed = declared != name or json_name != name
        try:
            field = self.field(
                annotation,
                default=default,
                description=description,
                data_key=json_name if renamed else None,
                attribute=name if renamed else None,
            )
        except Unsupported as error:
            why = f" ({error.why})" if error.why else ""
            raise TypeError(f"{where}: type {type_name(error.tp)} is not supported{why}") from None
        return {declared: field}


def _hints(owner: Any, label: str) -> dict[str, Any]:
    try:
        return typing.get_type_hints(owner, include_extras=True)
    except Exception as error:  # NameError for an unresolvable forward reference, and the like
        raise TypeError(f"cannot read the type annotations of {label}: {error}") from error


def _annotated(fn: Any) -> Any:
    """Where the annotations of a callable live (a partial's function, an object's ``__call__``)."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    if inspect.isfunction(fn) or inspect.ismethod(fn) or not callable(fn):
        return fn
    return type(fn).__call__


def _describe(owner: Any) -> str:
    kind = "dataclass" if isinstance(owner, type) else "function"
    return f"{kind} {getattr(owner, '__qualname__', None) or repr(owner)}"


def function_schema(
    fn: Callable[..., Any], *, name: str, descriptions: Mapping[str, str] | None = None
) -> type[Schema]:
    """Build the schema of a function's parameters.

    Args:
        fn: a plain function (or bound method) whose parameters are all annotated.
        name: the generated schema class's name.
        descriptions: parameter name → description (from the docstring); an
            ``Annotated[X, "text"]`` description wins over it.

    Returns:
        A :class:`ArgumentsSchema` subclass with one field per parameter, in order.

    Raises:
        TypeError: for ``*args``/``**kwargs``, positional-only parameters, a missing
            annotation or an unsupported type (the message names the parameter).
    """
    descriptions = descriptions or {}
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError) as error:
        raise TypeError(f"cannot read the signature of {fn!r}: {error}") from error
    hints = _hints(_annotated(fn), _describe(fn))
    builder = _Builder()
    declared: dict[str, fields.Field[Any]] = {}
    for parameter in signature.parameters.values():
        where = f"parameter {parameter.name!r} of {_describe(fn)}"
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            stars = "*" if parameter.kind is parameter.VAR_POSITIONAL else "**"
            raise TypeError(f"{where}: {stars}{parameter.name} cannot be described to a model (name each argument)")
        if parameter.kind is parameter.POSITIONAL_ONLY:
            raise TypeError(f"{where} is positional-only; tool arguments are passed by name")
        declared.update(
            builder._declare(
                parameter.name,
                hints.get(parameter.name, _EMPTY),
                parameter.default,
                descriptions.get(parameter.name),
                fn,
            )
        )
    return ArgumentsSchema.from_dict(declared, name=name)


def dataclass_schema(tp: type[Any]) -> type[Schema]:
    """Build the schema of a dataclass (loading it returns an instance of ``tp``).

    Args:
        tp: a dataclass type whose fields are all annotated with supported types.

    Returns:
        A :class:`DataclassSchema` subclass.

    Raises:
        TypeError: for an unsupported field type (naming the field).
    """
    if not (isinstance(tp, type) and dataclasses.is_dataclass(tp)):
        raise TypeError(f"{tp!r} is not a dataclass type")
    return _Builder().dataclass_schema(tp)
