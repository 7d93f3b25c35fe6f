"""The marshmallow field of one type hint (used by :mod:`openrouter_rx._signature`).

The leaf of the type mapping: ``Annotated`` and ``| None`` peeled off (:func:`unwrap`), the
scalar fields (:func:`scalar_field`), ``Literal`` (:func:`literal_field`), a field given in
``Annotated`` filled in from the signature (:func:`adapt`), and the JSON-type checks that make
every field accept only the JSON type its JSON Schema announces. Containers, enums, nested
schemas and dataclasses, which recurse, are built by the caller.
"""

from __future__ import annotations

import copy
import datetime as dt
import types
import typing
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from marshmallow import ValidationError, fields, missing
from marshmallow.validate import OneOf, Validator

__all__ = ["Unsupported", "adapt", "literal_field", "not_boolean", "scalar_field", "type_name", "unwrap"]


def _only(*kinds: type, message: str) -> Callable[[Any], Any]:
    """A field ``pre_load`` that lets through ``None`` and values of the JSON kinds, never bools
    unless asked (``bool`` is an ``int`` in Python, not a number in JSON)."""

    def check(value: Any) -> Any:
        if value is None or (isinstance(value, kinds) and (bool in kinds or not isinstance(value, bool))):
            return value
        raise ValidationError(message)

    return check


def _integral(value: Any) -> Any:
    """``3.0`` is an integer in JSON Schema: load it as ``3`` (``3.5`` still fails)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def not_boolean(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValidationError("Not a valid choice (a boolean).")
    return value


_NUMBER = _only(int, float, message="Not a valid number.")
_STRING = _only(str, message="Not a valid string.")
_BOOLEAN = _only(bool, message="Not a valid boolean.")


def scalar_field(tp: Any, kwargs: dict[str, Any]) -> fields.Field[Any] | None:
    if tp is str:
        return fields.String(**kwargs)
    if tp is bool:
        return fields.Boolean(truthy={True}, falsy={False}, pre_load=_BOOLEAN, **kwargs)
    if tp is int:
        return fields.Integer(strict=True, pre_load=_integral, **kwargs)
    if tp is float:
        return fields.Float(pre_load=_NUMBER, **kwargs)
    if tp is Decimal:
        return fields.Decimal(pre_load=_NUMBER, **kwargs)
    if tp is dt.datetime:
        return fields.DateTime(pre_load=_STRING, **kwargs)
    if tp is dt.date:
        return fields.Date(pre_load=_STRING, **kwargs)
    if tp is dt.time:
        return fields.Time(pre_load=_STRING, **kwargs)
    if tp is uuid.UUID:
        return fields.UUID(pre_load=_STRING, **kwargs)
    if tp is Any:
        return fields.Raw(**kwargs)
    return None


def unwrap(tp: Any) -> tuple[Any, list[Any], bool]:
    """``Annotated`` and ``| None`` peeled off: (the type, the Annotated extras, nullable)."""
    extras: list[Any] = []
    nullable = False
    while True:
        if typing.get_origin(tp) is typing.Annotated:
            extras.extend(tp.__metadata__)
            tp = tp.__origin__
            continue
        if isinstance(tp, typing.NewType):
            tp = tp.__supertype__
            continue
        if typing.get_origin(tp) in (typing.Union, types.UnionType):
            rest = [a for a in typing.get_args(tp) if a is not type(None)]
            nullable = nullable or len(rest) < len(typing.get_args(tp))
            if len(rest) != 1:
                raise Unsupported(tp, "unions other than X | None")
            tp = rest[0]
            continue
        return tp, extras, nullable


class Unsupported(Exception):
    def __init__(self, tp: Any, why: str = "") -> None:
        super().__init__(tp, why)
        self.tp, self.why = tp, why


def adapt(given: fields.Field[Any], kwargs: dict[str, Any], validators: list[Validator]) -> fields.Field[Any]:
    """A copy of a field given in ``Annotated``: what the signature says fills what the field left open."""
    field = copy.deepcopy(given)
    if field.load_default is missing and "load_default" in kwargs:
        field.load_default = kwargs["load_default"]
        field.required = False
    elif field.load_default is missing and kwargs.get("required"):
        field.required = True
    field.allow_none = field.allow_none or bool(kwargs.get("allow_none"))
    for name in ("data_key", "attribute"):
        if getattr(field, name) is None and name in kwargs:
            setattr(field, name, kwargs[name])
    if "metadata" in kwargs:
        field.metadata = {**kwargs["metadata"], **field.metadata}
    field.validators = [*field.validators, *validators]
    return field


def literal_field(values: tuple[Any, ...], kwargs: dict[str, Any]) -> fields.Field[Any]:
    choices = [v for v in values if v is not None]
    if not all(isinstance(v, str | int | float) for v in choices):  # bool is an int
        raise Unsupported(typing.Literal[values], "Literal values must be strings, numbers or booleans")
    if len(choices) < len(values):
        kwargs["allow_none"] = True
    kwargs["validate"] = [*kwargs.get("validate", []), OneOf(choices)]
    if all(isinstance(v, str) for v in choices):
        return fields.String(**kwargs)
    if all(isinstance(v, bool) for v in choices):
        return fields.Boolean(truthy={True}, falsy={False}, pre_load=_BOOLEAN, **kwargs)
    if all(isinstance(v, int) and not isinstance(v, bool) for v in choices):
        return fields.Integer(strict=True, pre_load=_integral, **kwargs)
    if not any(isinstance(v, bool) for v in choices):
        kwargs["pre_load"] = not_boolean  # true is not 1 in JSON
    return fields.Raw(**kwargs)


def type_name(tp: Any) -> str:
    return tp.__qualname__ if isinstance(tp, type) else repr(tp)
