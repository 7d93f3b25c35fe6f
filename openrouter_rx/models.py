"""The model catalog (``GET /models``): :class:`Model`, its :class:`Pricing`, and cost estimates.

OpenRouter states prices in USD **per token** (per request for ``request``, per image for
``image``, per search for ``web_search``) as decimal strings; they are kept as exact
:class:`~decimal.Decimal` values, never floats. A price OpenRouter cannot state in advance
(the router models ``openrouter/auto`` and friends send ``"-1"``) is kept as ``-1`` and makes the
pricing *variable*: :attr:`Pricing.is_variable`, and :meth:`Pricing.cost` refuses to guess.

The body is checked at the boundary with marshmallow (:class:`ModelsBodySchema`, then
:class:`ModelEntrySchema` per entry): a body that is not ``{"data": [...]}`` is a
:class:`~openrouter_rx.errors.ProtocolError`; one malformed entry (not an object, no string
``id``, no ``pricing`` with numeric ``prompt`` and ``completion``, a field of the wrong type) is
skipped with a WARNING on the ``openrouter_rx`` logger, so the rest of the catalog survives.
The client side (cache, single flight) is :class:`~openrouter_rx.model_catalog.ModelCatalog`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from typing import Any

from marshmallow import ValidationError

from ._decode import decode_body
from ._models_wire import (
    ModelEntrySchema,
    ModelsBodySchema,
    as_mapping,
    discount_fraction,
    opt_int,
    price_or,
    tuple_of_str,
)
from .chunk import Usage, _int, to_decimal
from .errors import ProtocolError

__all__ = [
    "Model",
    "ModelEntrySchema",
    "ModelsBodySchema",
    "Pricing",
    "VARIABLE_PRICE",
    "cache_write_tokens",
    "decode_models_body",
    "parse_models",
]

log = logging.getLogger("openrouter_rx")

_ZERO = Decimal(0)
_MILLION = Decimal(1_000_000)
_PRECISION = 60
VARIABLE_PRICE = Decimal(-1)
"""The price OpenRouter sends (``"-1"``) when it cannot state one in advance (router models)."""


def _tidy(value: Decimal) -> Decimal:
    """``value`` without trailing zeros (``0.01000000`` -> ``0.01``), integers without an exponent."""
    tidy = value.normalize()
    if tidy == tidy.to_integral_value() and tidy.adjusted() < 28:  # quantize fails beyond the default precision
        return tidy.quantize(Decimal(1))
    return tidy


def cache_write_tokens(usage: Usage) -> int:
    """Prompt tokens written to the provider's cache, from ``usage.prompt_tokens_details.cache_write_tokens``.

    OpenRouter counts them inside ``prompt_tokens`` (as it does ``cached_tokens``, the tokens *read*
    from the cache); 0 when the usage does not report them.
    """
    details = usage.raw.get("prompt_tokens_details") if usage.raw else None
    return _int(details.get("cache_write_tokens")) if isinstance(details, Mapping) else 0


@dataclass(frozen=True)
class Pricing:
    """A model's prices in USD credits per token (``request``: per request; ``image``: per image;
    ``web_search``: per search), exact Decimals.

    ``input_cache_read`` / ``input_cache_write`` are ``None`` when the model lists no cache price
    (cached tokens are then priced as ordinary prompt tokens). ``internal_reasoning`` 0 means
    reasoning tokens cost the ordinary ``completion`` price.
    """

    prompt: Decimal
    completion: Decimal
    request: Decimal = _ZERO
    image: Decimal = _ZERO
    web_search: Decimal = _ZERO
    internal_reasoning: Decimal = _ZERO
    input_cache_read: Decimal | None = None
    input_cache_write: Decimal | None = None
    audio: Decimal = _ZERO
    discount: Decimal = _ZERO
    """A fraction taken off every price this endpoint lists (``0.25``: a quarter off)."""

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Pricing:
        """Build from the wire ``pricing`` object (strings or numbers).

        Tolerant: a missing or non-numeric ``prompt``/``completion`` becomes :data:`VARIABLE_PRICE`
        (unknown), any other missing or non-numeric price its default.
        """
        d = d if isinstance(d, Mapping) else {}
        return cls(
            prompt=price_or(d.get("prompt"), VARIABLE_PRICE),
            completion=price_or(d.get("completion"), VARIABLE_PRICE),
            request=price_or(d.get("request"), _ZERO),
            image=price_or(d.get("image"), _ZERO),
            web_search=price_or(d.get("web_search"), _ZERO),
            internal_reasoning=price_or(d.get("internal_reasoning"), _ZERO),
            input_cache_read=to_decimal(d.get("input_cache_read")),
            input_cache_write=to_decimal(d.get("input_cache_write")),
            audio=price_or(d.get("audio"), _ZERO),
            discount=discount_fraction(d.get("discount")),
        )

    @property
    def is_variable(self) -> bool:
        """True when a price :meth:`cost` applies is not known in advance (sent as ``"-1"``): the
        prompt or completion price (router models), or any negative request, reasoning or cache price."""
        others = (self.request, self.internal_reasoning, self.input_cache_read, self.input_cache_write)
        return self.prompt < 0 or self.completion < 0 or any(p is not None and p < 0 for p in others)

    @property
    def is_free(self) -> bool:
        """True when prompts, completions and requests all cost nothing (``:free`` models)."""
        return self.prompt == 0 and self.completion == 0 and self.request == 0

    def cost(self, usage: Usage) -> Decimal:
        """The estimated cost in USD credits of one request with this ``usage``, exact.

        * prompt: ``(prompt_tokens - cached - cache_write) * prompt + cached * input_cache_read
          + cache_write * input_cache_write`` (a missing cache price: the ``prompt`` price), where
          ``cached`` is ``usage.cached_tokens`` and ``cache_write`` :func:`cache_write_tokens`;
        * completion: ``(completion_tokens - reasoning) * completion + reasoning *
          internal_reasoning`` (``completion`` when ``internal_reasoning`` is 0). OpenRouter's
          ``completion_tokens`` *include* the reasoning tokens ("reasoning tokens are considered
          output tokens and charged accordingly", OpenRouter's reasoning-tokens guide; the same
          convention as OpenAI's ``completion_tokens_details``);
        * plus the ``request`` fee.

        Computed with 60 significant digits whatever the current decimal context says (exact for
        any real price and token count); the result has no trailing zeros (``Decimal("0.01")``,
        not ``Decimal("0.01000000")``).

        A listed ``discount`` is applied to the whole (the price "multiplied by (1 - discount)", as
        OpenRouter documents it). Image, audio and web-search charges are not included (the usage
        does not count them): prefer ``usage.cost`` when it was sent.

        Raises:
            ValueError: the pricing is variable (:attr:`is_variable`): there is no price to apply.
        """
        if self.is_variable:
            raise ValueError("this model's pricing is variable (OpenRouter sent -1): no cost can be estimated")
        prompt_tokens = max(usage.prompt_tokens, 0)
        cached = min(max(usage.cached_tokens, 0), prompt_tokens)
        written = min(max(cache_write_tokens(usage), 0), prompt_tokens - cached)
        fresh = prompt_tokens - cached - written
        read_price = self.input_cache_read if self.input_cache_read is not None else self.prompt
        write_price = self.input_cache_write if self.input_cache_write is not None else self.prompt
        completion_tokens = max(usage.completion_tokens, 0)
        reasoning = min(max(usage.reasoning_tokens, 0), completion_tokens)
        reasoning_price = self.internal_reasoning if self.internal_reasoning > 0 else self.completion
        with localcontext(prec=_PRECISION):  # exact whatever precision the caller's context has
            listed = (
                fresh * self.prompt
                + cached * read_price
                + written * write_price
                + (completion_tokens - reasoning) * self.completion
                + reasoning * reasoning_price
                + self.request
            )
            return _tidy(listed * (1 - self.discount))

    def per_million(self) -> dict[str, Decimal]:
        """The per-token prices in USD per million tokens, for display (``{"prompt": Decimal("0.15"), ...}``).

        Only the per-token prices that are known: ``prompt``, ``completion``, ``internal_reasoning``
        (when set), ``input_cache_read`` / ``input_cache_write`` (when listed) and ``audio`` (when
        set); variable prices (-1) are left out. Values are normalized (``Decimal("0.15")``, not
        ``Decimal("0.1500000")``).
        """
        out: dict[str, Decimal] = {}
        for name in ("prompt", "completion", "internal_reasoning", "input_cache_read", "input_cache_write", "audio"):
            value: Decimal | None = getattr(self, name)
            if value is None or value < 0 or (value == 0 and name in ("internal_reasoning", "audio")):
                continue
            out[name] = _tidy(value * _MILLION)
        return out


@dataclass(frozen=True)
class Model:
    """One entry of OpenRouter's model list.

    Attributes:
        id: the id to send as ``model`` (``"openai/gpt-4o-mini"``).
        name: the display name.
        context_length: the context window in tokens (``None`` when not stated).
        pricing: the :class:`Pricing`.
        supported_parameters: the request parameters the model accepts (``"tools"``,
            ``"response_format"``, ``"structured_outputs"``, ``"reasoning"``, ...).
        description: the catalog description.
        created: when the model was added (Unix seconds).
        max_completion_tokens: the top provider's output limit (``None`` when not stated).
        input_modalities / output_modalities: ``("text", "image", ...)``.
        canonical_slug: the dated id responses may report (``"openai/gpt-4o-mini-2024-07-18"``).
        raw: the entry exactly as received (unknown fields included).
    """

    id: str
    name: str
    context_length: int | None
    pricing: Pricing
    supported_parameters: tuple[str, ...] = ()
    description: str = field(default="", repr=False)
    created: int | None = None
    max_completion_tokens: int | None = None
    input_modalities: tuple[str, ...] = ()
    output_modalities: tuple[str, ...] = ()
    canonical_slug: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Model:
        """Build from one wire entry of ``GET /models``.

        Tolerant: a missing or odd field (wrong type) takes its default; a missing pricing is
        variable (see :meth:`Pricing.from_dict`).

        Raises:
            ValueError: ``d`` is not an object with a non-empty string ``id`` (nothing to name it by).
        """
        if not isinstance(d, Mapping) or not isinstance(d.get("id"), str) or not d["id"]:
            raise ValueError("a model entry needs a non-empty string 'id'")
        model_id: str = d["id"]
        architecture = as_mapping(d.get("architecture"))
        top = as_mapping(d.get("top_provider"))
        name = d.get("name")
        description = d.get("description")
        slug = d.get("canonical_slug")
        context = opt_int(d.get("context_length"))
        return cls(
            id=model_id,
            name=name if isinstance(name, str) and name else model_id,
            context_length=context if context is not None else opt_int(top.get("context_length")),
            pricing=Pricing.from_dict(as_mapping(d.get("pricing"))),
            supported_parameters=tuple_of_str(d.get("supported_parameters")),
            description=description if isinstance(description, str) else "",
            created=opt_int(d.get("created")),
            max_completion_tokens=opt_int(top.get("max_completion_tokens")),
            input_modalities=tuple_of_str(architecture.get("input_modalities")),
            output_modalities=tuple_of_str(architecture.get("output_modalities")),
            canonical_slug=slug if isinstance(slug, str) and slug else None,
            raw=d,
        )

    def supports(self, parameter: str) -> bool:
        """Whether the model lists ``parameter`` in ``supported_parameters`` (e.g. ``"tools"``)."""
        return parameter in self.supported_parameters


_BODY_SCHEMA = ModelsBodySchema()
_ENTRY_SCHEMA = ModelEntrySchema()


def parse_models(decoded: Any) -> tuple[Model, ...]:
    """The models of a decoded ``GET /models`` body, in the order listed.

    Malformed entries are skipped, each with a WARNING naming its position (and id, when it has
    one) and what was wrong; a repeated id keeps the first entry.

    Raises:
        ProtocolError: ``decoded`` is not ``{"data": [...]}``.
    """
    if not isinstance(decoded, Mapping):
        raise ProtocolError("invalid model list: the body is not an object", data=repr(decoded)[:200])
    try:
        _BODY_SCHEMA.load(decoded)
    except ValidationError as exc:
        raise ProtocolError(f"invalid model list: {exc.messages}", data=repr(decoded)[:200]) from None
    models: list[Model] = []
    seen: set[str] = set()
    for position, entry in enumerate(decoded["data"]):
        entry_id = entry.get("id") if isinstance(entry, Mapping) else None
        label = f"#{position}" + (f" ({entry_id!r})" if isinstance(entry_id, str) else "")
        try:
            if not isinstance(entry, Mapping):
                raise ValidationError("not an object")
            _ENTRY_SCHEMA.load(entry)
            model = Model.from_dict(entry)
        except ValidationError as exc:
            log.warning("skipping model entry %s of the model list: %s", label, exc.messages)
            continue
        if model.id in seen:
            log.warning("skipping model entry %s of the model list: the id is listed twice", label)
            continue
        seen.add(model.id)
        models.append(model)
    return tuple(models)


def decode_models_body(body: bytes, limit: int) -> tuple[Model, ...]:
    """The models of a ``GET /models`` reply body (``limit + 1`` bytes read at most).

    Raises:
        ProtocolError: too large, not JSON, or not ``{"data": [...]}``.
        TruncatedStreamError: the body was empty.
        StreamError: a 200 reply whose body reports an ``error``.
    """
    return parse_models(decode_body(body, limit, "the model list body", "the model list request failed"))
