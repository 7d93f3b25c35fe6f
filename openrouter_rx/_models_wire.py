"""The wire side of ``GET /models`` (used by :mod:`openrouter_rx.models`).

The marshmallow schemas that check the body (:class:`ModelsBodySchema`) and each entry
(:class:`ModelEntrySchema`) at the boundary, and the tolerant readers that turn one wire value
(a price, an integer, a list of strings, a nested object) into the value a
:class:`~openrouter_rx.models.Model` or :class:`~openrouter_rx.models.Pricing` field holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from marshmallow import EXCLUDE, Schema, fields, validate

from .chunk import to_decimal

__all__ = [
    "ModelEntrySchema",
    "ModelsBodySchema",
    "as_mapping",
    "discount_fraction",
    "opt_int",
    "price_or",
    "tuple_of_str",
]

_ZERO = Decimal(0)


def price_or(value: Any, default: Decimal) -> Decimal:
    """A wire price (string or number) as a Decimal; ``default`` when absent or not a finite number."""
    price = to_decimal(value)
    return price if price is not None else default


def discount_fraction(value: Any) -> Decimal:
    """A discount fraction in [0, 1); anything else (missing, odd, out of range) is no discount."""
    fraction = to_decimal(value)
    return fraction if fraction is not None and 0 <= fraction < 1 else _ZERO


def tuple_of_str(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        return ()
    return tuple(item for item in value if isinstance(item, str))


def opt_int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return None
    return None


def as_mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


class _Lenient(Schema):
    class Meta:
        unknown = EXCLUDE


class _PricingSchema(_Lenient):
    prompt = fields.Decimal(required=True, allow_nan=False)
    completion = fields.Decimal(required=True, allow_nan=False)
    request = fields.Decimal(allow_none=True, allow_nan=False)
    image = fields.Decimal(allow_none=True, allow_nan=False)
    web_search = fields.Decimal(allow_none=True, allow_nan=False)
    internal_reasoning = fields.Decimal(allow_none=True, allow_nan=False)
    input_cache_read = fields.Decimal(allow_none=True, allow_nan=False)
    input_cache_write = fields.Decimal(allow_none=True, allow_nan=False)
    audio = fields.Decimal(allow_none=True, allow_nan=False)


class _ArchitectureSchema(_Lenient):
    modality = fields.String(allow_none=True)
    input_modalities = fields.List(fields.String(), allow_none=True)
    output_modalities = fields.List(fields.String(), allow_none=True)
    tokenizer = fields.String(allow_none=True)
    instruct_type = fields.String(allow_none=True)


class _TopProviderSchema(_Lenient):
    context_length = fields.Integer(allow_none=True)
    max_completion_tokens = fields.Integer(allow_none=True)
    is_moderated = fields.Boolean(allow_none=True)


class ModelEntrySchema(_Lenient):
    """One entry of ``GET /models``: an entry that does not fit is skipped (with a WARNING)."""

    id = fields.String(required=True, validate=validate.Length(min=1))
    canonical_slug = fields.String(allow_none=True)
    name = fields.String(allow_none=True)
    created = fields.Integer(allow_none=True)
    description = fields.String(allow_none=True)
    context_length = fields.Integer(allow_none=True)
    architecture = fields.Nested(_ArchitectureSchema, allow_none=True)
    pricing = fields.Nested(_PricingSchema, required=True)
    top_provider = fields.Nested(_TopProviderSchema, allow_none=True)
    per_request_limits = fields.Dict(allow_none=True)
    supported_parameters = fields.List(fields.String(), allow_none=True)
    default_parameters = fields.Dict(allow_none=True)


class ModelsBodySchema(_Lenient):
    """The body of ``GET /models``: ``{"data": [...]}`` (entries checked one by one)."""

    data = fields.List(fields.Raw(allow_none=True), required=True)  # a null entry is skipped, not fatal
