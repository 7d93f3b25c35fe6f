"""marshmallow schemas of OpenRouter's wire format.

They define and validate the JSON at the boundaries: error bodies and
non-streaming completions (once per request), and, when a client is created with
``validate_chunks=True``, every chunk. The per-chunk hot path otherwise builds
:class:`~openrouter_rx.Chunk` directly: a ``Schema.load`` costs 13-20x a
``json.loads`` of the same chunk (``bench/bench_chunk_parse.py`` measures it).

Unknown fields are excluded from the loaded result but never an error; the
objects built keep the whole decoded dict in ``raw``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields

from .errors import ProtocolError

__all__ = [
    "WireSchema",
    "ErrorObjectSchema",
    "ErrorBodySchema",
    "ToolCallFunctionSchema",
    "ToolCallSchema",
    "DeltaSchema",
    "ChunkChoiceSchema",
    "UsageSchema",
    "ChunkSchema",
    "MessageSchema",
    "CompletionChoiceSchema",
    "CompletionSchema",
    "validate",
]


class WireSchema(Schema):
    """Base of every wire schema: unknown fields are ignored (marshmallow 4 needs
    this on the base class, ``load(unknown=...)`` does not reach nested schemas)."""

    class Meta:
        unknown = EXCLUDE


class IntOrString(fields.Field[Any]):
    """``error.code`` is an int in some documents and a string in others."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValidationError("must be an integer or a string")
        return value


class ErrorObjectSchema(WireSchema):
    """The ``error`` object of an error body or a mid-stream error chunk."""

    code = IntOrString(allow_none=True)
    message = fields.String(allow_none=True)
    type = fields.String(allow_none=True)
    metadata = fields.Dict(allow_none=True)
    availability = fields.Dict(allow_none=True)


class ErrorBodySchema(WireSchema):
    """``{"error": {...}}``, the body of a status error."""

    error = fields.Nested(ErrorObjectSchema, required=True)


class ToolCallFunctionSchema(WireSchema):
    name = fields.String(allow_none=True)
    arguments = fields.String(allow_none=True)


class ToolCallSchema(WireSchema):
    index = fields.Integer(allow_none=True)
    id = fields.String(allow_none=True)
    type = fields.String(allow_none=True)
    function = fields.Nested(ToolCallFunctionSchema, allow_none=True)


class DeltaSchema(WireSchema):
    """What one chunk adds to a choice (also the shape of a whole ``message``)."""

    role = fields.String(allow_none=True)
    content = fields.String(allow_none=True)
    reasoning = fields.String(allow_none=True)
    reasoning_details = fields.List(fields.Dict(), allow_none=True)
    refusal = fields.String(allow_none=True)
    tool_calls = fields.List(fields.Nested(ToolCallSchema), allow_none=True)


class ChunkChoiceSchema(WireSchema):
    index = fields.Integer(required=True)
    delta = fields.Nested(DeltaSchema, allow_none=True)
    finish_reason = fields.String(allow_none=True)
    native_finish_reason = fields.String(allow_none=True)


class UsageSchema(WireSchema):
    prompt_tokens = fields.Integer(allow_none=True)
    completion_tokens = fields.Integer(allow_none=True)
    total_tokens = fields.Integer(allow_none=True)
    cost = fields.Decimal(allow_none=True)
    is_byok = fields.Boolean(allow_none=True)
    prompt_tokens_details = fields.Dict(allow_none=True)
    completion_tokens_details = fields.Dict(allow_none=True)
    cost_details = fields.Dict(allow_none=True)


class _CompletionBaseSchema(WireSchema):
    """Fields shared by chunks and whole completions."""

    id = fields.String(allow_none=True)
    object = fields.String(allow_none=True)
    created = fields.Integer(allow_none=True)
    model = fields.String(allow_none=True)
    provider = fields.String(allow_none=True)
    system_fingerprint = fields.String(allow_none=True)
    usage = fields.Nested(UsageSchema, allow_none=True)


class ChunkSchema(_CompletionBaseSchema):
    """One ``chat.completion.chunk``."""

    choices = fields.List(fields.Nested(ChunkChoiceSchema), required=True)
    error = fields.Nested(ErrorObjectSchema, allow_none=True)


class MessageSchema(DeltaSchema):
    """The assistant ``message`` of a non-streaming choice."""


class CompletionChoiceSchema(WireSchema):
    index = fields.Integer(allow_none=True)
    message = fields.Nested(MessageSchema, required=True)
    finish_reason = fields.String(allow_none=True)
    native_finish_reason = fields.String(allow_none=True)


class CompletionSchema(_CompletionBaseSchema):
    """A non-streaming ``chat.completion`` body."""

    choices = fields.List(fields.Nested(CompletionChoiceSchema), required=True)


_INSTANCES: dict[type[Schema], Schema] = {}


def validate(schema: type[Schema], data: Any, what: str) -> dict[str, Any]:
    """Load ``data`` with ``schema`` (instances are cached: creating one costs ~50 us).

    Raises:
        ProtocolError: with marshmallow's messages when ``data`` does not fit.
    """
    instance = _INSTANCES.get(schema)
    if instance is None:
        instance = _INSTANCES[schema] = schema()
    try:
        loaded = instance.load(data)
    except ValidationError as exc:
        raise ProtocolError(f"invalid {what}: {exc.messages}", data=repr(data)[:200]) from None
    assert isinstance(loaded, dict)
    return loaded
