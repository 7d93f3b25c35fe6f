"""Structured outputs: the ``response_format`` a request asks for, and turning the model's text
into loaded data (with local repairs) or a :class:`~openrouter_rx.errors.StructuredOutputError`.

::

    class City(Schema):
        name = fields.String(required=True)
        population = fields.Integer(required=True)

    fmt = ResponseFormat(City)
    stream = client.stream(messages, response_format=fmt)   # the body carries fmt.to_dict()
    city = stream.pipe(orx_ops.structured_output(fmt)).run()

A :class:`ResponseFormat` sends the marshmallow schema as JSON Schema and loads what comes back
with the same schema; a :class:`JSONFormat` wraps a raw ``response_format`` dict (``json_object``
mode, or a JSON Schema written by hand) and only checks that the reply is JSON.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from marshmallow import Schema, ValidationError

from ._repair import json_error, loads_strict, repair_json
from .errors import StructuredOutputError
from .json_schema import load_data, schema_name, to_json_schema

__all__ = ["HealAttempt", "JSONFormat", "ResponseFormat", "parse", "summarize_messages"]

_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True)
class HealAttempt:
    """One try at turning text into valid data.

    Attributes:
        source: ``"model"`` (the text as received), ``"repair"`` (after local repairs) or
            ``"healer"`` (the reply of a healer-model call).
        text: the text this attempt parsed.
        ok: whether it produced valid data.
        value: the loaded data, when ``ok``.
        messages: why it failed: marshmallow's messages, ``{"_json": [why]}`` when the text is
            not JSON, ``{"_request": [why]}`` when a healer request failed, ``{"_refusal":
            [text]}`` when the healer model refused.
        model: the healer model, for ``source == "healer"``.
        response: the healer call's whole :class:`~openrouter_rx.Response` (its ``usage`` and
            ``cost_estimate``: healing is billed too), for ``source == "healer"`` when a reply came.
    """

    source: str
    text: str
    ok: bool
    value: Any = None
    messages: Any = None
    model: str | None = None
    response: Any = field(default=None, compare=False, repr=False)


def summarize_messages(messages: Any, limit: int = 300) -> str:
    """``messages`` as compact JSON, cut to ``limit`` characters (for error messages and logs)."""
    try:
        text = json.dumps(messages, ensure_ascii=False, default=str, sort_keys=True)
    except TypeError:  # int keys (list items) beside str keys ("_schema") cannot be sorted
        text = json.dumps(messages, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class JSONFormat:
    """A raw ``response_format`` dict, such as ``{"type": "json_object"}`` or a ``json_schema``
    entry written by hand: sent unchanged; a reply passes when it is JSON (any JSON value; no
    JSON Schema validation happens here).

    Args:
        response_format: the dict sent as ``response_format``.
    """

    def __init__(self, response_format: Mapping[str, Any]) -> None:
        if not isinstance(response_format, Mapping) or not isinstance(response_format.get("type"), str):
            raise TypeError("a response_format dict needs a string 'type', e.g. {'type': 'json_object'}")
        self._format: dict[str, Any] = copy.deepcopy(dict(response_format))

    @property
    def name(self) -> str:
        """``json_schema.name`` when the dict has one, else its ``type``."""
        entry = self._format.get("json_schema")
        name = entry.get("name") if isinstance(entry, Mapping) else None
        return name if isinstance(name, str) else str(self._format["type"])

    def to_dict(self) -> dict[str, Any]:
        """The ``response_format`` body field (a copy: changing it changes nothing here)."""
        return copy.deepcopy(self._format)

    def load(self, data: Any) -> Any:
        """Validate and load decoded JSON (here: returned as it is).

        Raises:
            marshmallow.ValidationError: the data does not pass.
        """
        return data

    def attempt(self, text: str, *, source: str, repair: bool) -> HealAttempt:
        """Parse and load ``text`` once; never raises.

        Args:
            text: the text to parse.
            source: what the text is (``"model"``, ``"repair"``, ``"healer"``).
            repair: apply :func:`~openrouter_rx._repair.repair_json` first (a no-op on valid JSON);
                the attempt's ``text`` is then the repaired text.
        """
        if repair:
            fixed = repair_json(text)
            if fixed is None:
                return HealAttempt(source, text, False, messages=json_error(self._json_problem(text)))
            text = fixed
        try:
            data = loads_strict(text)
        except ValueError as exc:
            return HealAttempt(source, text, False, messages=json_error(f"not valid JSON: {exc}"))
        try:
            value = self.load(data)
        except ValidationError as exc:
            return HealAttempt(source, text, False, messages=exc.messages)
        return HealAttempt(source, text, True, value=value)

    @staticmethod
    def _json_problem(text: str) -> str:
        if not text.strip():
            return "empty text, and no local repair applies"
        try:
            loads_strict(text)
        except ValueError as exc:
            return f"not valid JSON ({exc}), and no local repair applies"
        return "no local repair applies"

    def attempts(self, text: str, *, repair: bool = True) -> list[HealAttempt]:
        """The model's text as received, then (when that fails and ``repair``) the locally
        repaired text, when a repair changes it; stops at the first success."""
        first = self.attempt(text, source="model", repair=False)
        if first.ok or not repair:
            return [first]
        fixed = repair_json(text)
        if fixed is None or fixed == text.strip(" \t\r\n"):  # the same text (JSON whitespace aside) would fail again
            return [first]
        return [first, self.attempt(fixed, source="repair", repair=False)]

    def parse(self, text: str, *, repair: bool = True) -> Any:
        """The loaded data of ``text`` (with local repairs when the text fails as it is).

        Raises:
            StructuredOutputError: no attempt produced valid data (``err.attempts`` lists them).
        """
        attempts = self.attempts(text, repair=repair)
        last = attempts[-1]
        if last.ok:
            return last.value
        raise self.error(text, attempts)

    def error(self, raw: str, attempts: list[HealAttempt], reason: str = "") -> StructuredOutputError:
        """The :class:`StructuredOutputError` for failed ``attempts`` on ``raw``.

        ``reason`` (e.g. "the reply was cut off by max_tokens") is put first in the message.
        """
        last = attempts[-1].messages if attempts else None
        tried = ", ".join(attempt.source for attempt in attempts) or "nothing"
        message = f"the reply does not match {self.name!r} (tried: {tried}): {summarize_messages(last)}"
        if reason:
            message = f"{reason}; {message}"
        return StructuredOutputError(message, raw=raw, messages=last, attempts=attempts)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._format!r})"


class ResponseFormat(JSONFormat):
    """A structured output described by a marshmallow schema.

    :meth:`to_dict` is the ``response_format`` body field (``client.stream(...,
    response_format=fmt)`` converts it), with the schema as JSON Schema; :meth:`parse` loads
    the reply with the same schema.

    Args:
        schema: a marshmallow Schema class or instance.
        name: the ``json_schema.name`` (``[A-Za-z0-9_-]{1,64}``); default
            :func:`~openrouter_rx.json_schema.schema_name` of the schema.
        strict: ask for strict schema adherence (``"strict": true``) and convert/load the
            schema in strict mode (every property required, optional ones nullable).
        description: an optional ``json_schema.description`` for the model.

    Raises:
        SchemaConversionError: the schema has no JSON Schema form (in this mode).
        ValueError: ``name`` is not ``[A-Za-z0-9_-]{1,64}``.
    """

    schema: Schema
    strict: bool

    def __init__(
        self,
        schema: type[Schema] | Schema,
        name: str | None = None,
        strict: bool = True,
        description: str | None = None,
    ) -> None:
        if not (isinstance(schema, Schema) or (isinstance(schema, type) and issubclass(schema, Schema))):
            raise TypeError(f"a marshmallow Schema class or instance is needed, not {type(schema).__name__}")
        if name is not None and not _NAME.fullmatch(name):
            raise ValueError("name must be 1 to 64 characters of A-Z, a-z, 0-9, '_' and '-'")
        self.schema = schema() if isinstance(schema, type) else schema
        self.strict = strict
        entry: dict[str, Any] = {
            "name": name or schema_name(schema),
            "strict": strict,
            "schema": to_json_schema(self.schema, strict=strict),
        }
        if description is not None:
            entry["description"] = description
        super().__init__({"type": "json_schema", "json_schema": entry})

    @property
    def name(self) -> str:
        """The ``json_schema.name`` sent."""
        return str(self._format["json_schema"]["name"])

    def load(self, data: Any) -> Any:
        """Load decoded JSON with the schema (strict-mode ``null`` handling when ``strict``).

        Raises:
            marshmallow.ValidationError: the data does not pass the schema.
        """
        return load_data(self.schema, data, strict=self.strict)

    @classmethod
    def coerce(
        cls, value: ResponseFormat | JSONFormat | type[Schema] | Schema | Mapping[str, Any]
    ) -> ResponseFormat | JSONFormat:
        """A format from what a caller gave: a format is returned as it is, a marshmallow schema
        (class or instance) becomes a :class:`ResponseFormat`, a dict a :class:`JSONFormat`.

        Raises:
            TypeError: ``value`` is none of these.
        """
        if isinstance(value, JSONFormat):
            return value
        if isinstance(value, Schema) or (isinstance(value, type) and issubclass(value, Schema)):
            return cls(value)
        if isinstance(value, Mapping):
            return JSONFormat(value)
        raise TypeError(
            f"a response format is a ResponseFormat, a marshmallow Schema or a response_format dict, "
            f"not {type(value).__name__}"
        )

    def __repr__(self) -> str:
        return f"ResponseFormat({type(self.schema).__name__}, name={self.name!r}, strict={self.strict})"


def parse(fmt: JSONFormat | type[Schema] | Schema | Mapping[str, Any], text: str, *, repair: bool = True) -> Any:
    """``ResponseFormat.coerce(fmt).parse(text, repair=repair)``: the loaded data of ``text``.

    Raises:
        StructuredOutputError: the text does not give valid data, even after local repairs.
    """
    return ResponseFormat.coerce(fmt).parse(text, repair=repair)
