"""ResponseFormat, JSONFormat, HealAttempt and parse(): the request side (to_dict) and the
parsing side (plain, repaired, failed)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from marshmallow import Schema, fields, post_load, validate

import openrouter_rx as orx
from openrouter_rx.errors import SchemaConversionError, StructuredOutputError
from openrouter_rx.json_schema import to_json_schema
from openrouter_rx.structured import HealAttempt, JSONFormat, ResponseFormat, parse


class City(Schema):
    name = fields.String(required=True)
    population = fields.Integer(required=True, validate=validate.Range(min=0))
    nickname = fields.String(load_default="none")


class Tagged(Schema):
    tags = fields.Dict(keys=fields.String(), values=fields.String())


class Point(Schema):
    x = fields.Float(required=True)
    y = fields.Float(required=True)

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> tuple[float, float]:
        return (data["x"], data["y"])


OSLO = {"name": "Oslo", "population": 709037, "nickname": "none"}


# -- the request side ------------------------------------------------------------------------------


def test_to_dict_is_the_response_format_body_field() -> None:
    fmt = ResponseFormat(City)
    assert fmt.to_dict() == {
        "type": "json_schema",
        "json_schema": {"name": "City", "strict": True, "schema": to_json_schema(City, strict=True)},
    }
    assert fmt.name == "City" and fmt.strict is True and isinstance(fmt.schema, City)


def test_name_description_and_non_strict() -> None:
    fmt = ResponseFormat(City(), name="city-v2", strict=False, description="A city and its population")
    entry = fmt.to_dict()["json_schema"]
    assert entry == {
        "name": "city-v2",
        "strict": False,
        "schema": to_json_schema(City, strict=False),
        "description": "A city and its population",
    }
    assert "nickname" not in entry["schema"]["required"]  # non-strict: optional fields stay optional


@pytest.mark.parametrize("name", ["", "has space", "x" * 65, "dots.not.allowed"])
def test_invalid_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="name"):
        ResponseFormat(City, name=name)


def test_a_schema_without_a_strict_form_fails_at_construction() -> None:
    with pytest.raises(SchemaConversionError, match="tags"):
        ResponseFormat(Tagged)
    assert ResponseFormat(Tagged, strict=False).parse('{"tags": {"a": "b"}}') == {"tags": {"a": "b"}}


def test_to_dict_returns_a_copy() -> None:
    fmt = ResponseFormat(City)
    body = fmt.to_dict()
    body["json_schema"]["schema"]["properties"].clear()
    assert fmt.to_dict()["json_schema"]["schema"]["properties"]


def test_the_client_sends_to_dict() -> None:
    fmt = ResponseFormat(City)
    with orx.Client(api_key="sk-or-v1-structured-test") as client:
        body = client.build_body("hi", "openai/gpt-4o-mini", True, {"response_format": fmt})
    assert body["response_format"] == fmt.to_dict()


def test_not_a_schema_is_refused() -> None:
    with pytest.raises(TypeError):
        ResponseFormat(dict)  # type: ignore[arg-type]


# -- coerce ----------------------------------------------------------------------------------------


def test_coerce() -> None:
    fmt = ResponseFormat(City)
    assert ResponseFormat.coerce(fmt) is fmt
    assert isinstance(ResponseFormat.coerce(City), ResponseFormat)
    assert ResponseFormat.coerce(City()).name == "City"
    raw = {"type": "json_object"}
    coerced = ResponseFormat.coerce(raw)
    assert type(coerced) is JSONFormat
    assert coerced.to_dict() == raw and coerced.name == "json_object"
    hand_written = {"type": "json_schema", "json_schema": {"name": "thing", "schema": {"type": "object"}}}
    assert ResponseFormat.coerce(hand_written).to_dict() == hand_written
    assert ResponseFormat.coerce(hand_written).name == "thing"
    with pytest.raises(TypeError):
        ResponseFormat.coerce(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ResponseFormat.coerce({"no": "type"})


def test_a_json_format_only_checks_json() -> None:
    fmt = JSONFormat({"type": "json_object"})
    assert fmt.parse('{"anything": [1, 2]}') == {"anything": [1, 2]}
    assert fmt.parse('```json\n{"a": 1,}\n```') == {"a": 1}
    with pytest.raises(StructuredOutputError) as caught:
        fmt.parse("no json")
    assert "_json" in caught.value.messages


# -- parsing ---------------------------------------------------------------------------------------


def test_parse_plain_text() -> None:
    fmt = ResponseFormat(City)
    assert fmt.parse('{"name": "Oslo", "population": 709037, "nickname": null}') == OSLO  # strict null → default
    assert parse(City, '{"name": "Oslo", "population": 709037, "nickname": null}') == OSLO
    assert parse(Point, '{"x": 1, "y": 2.5}', repair=False) == (1.0, 2.5)  # post_load result


def test_a_model_attempt_that_works_is_the_only_attempt() -> None:
    attempts = ResponseFormat(City).attempts('{"name": "Oslo", "population": 709037, "nickname": "Tigerstaden"}')
    assert [(a.source, a.ok) for a in attempts] == [("model", True)]
    assert attempts[0].value["nickname"] == "Tigerstaden"


def test_repaired_text_is_the_second_attempt() -> None:
    text = 'Here:\n```json\n{"name": "Oslo", "population": 709037, "nickname": null,}\n```'
    attempts = ResponseFormat(City).attempts(text)
    assert [(a.source, a.ok) for a in attempts] == [("model", False), ("repair", True)]
    assert attempts[0].text == text and "_json" in attempts[0].messages
    assert attempts[1].text == '{"name": "Oslo", "population": 709037, "nickname": null}'
    assert attempts[1].value == OSLO
    assert ResponseFormat(City).parse(text) == OSLO


def test_without_repair_a_fenced_reply_fails() -> None:
    with pytest.raises(StructuredOutputError) as caught:
        ResponseFormat(City).parse('```json\n{"name": "Oslo", "population": 1, "nickname": null}\n```', repair=False)
    assert [a.source for a in caught.value.attempts] == ["model"]


def test_validation_errors_are_marshmallows_messages() -> None:
    text = '{"name": "Oslo", "population": -5, "nickname": null}'
    with pytest.raises(StructuredOutputError) as caught:
        ResponseFormat(City).parse(text)
    error = caught.value
    assert error.raw == text
    assert error.messages == {"population": ["Must be greater than or equal to 0."]}
    assert [(a.source, a.ok) for a in error.attempts] == [("model", False)]  # nothing to repair: valid JSON
    assert "'City'" in str(error) and "population" in str(error)
    assert isinstance(error, ValueError)


def test_a_truncated_reply_is_repaired_then_validated() -> None:
    text = '{"name": "Oslo", "population": 709037, "nick'
    attempts = ResponseFormat(City).attempts(text)
    assert [(a.source, a.ok) for a in attempts] == [("model", False), ("repair", True)]
    assert attempts[1].text == '{"name": "Oslo", "population": 709037}'
    assert attempts[1].value == OSLO  # the cut-off optional field gets its default
    with pytest.raises(StructuredOutputError) as caught:
        ResponseFormat(City).parse('{"name": "Oslo", "popul')
    assert [(a.source, a.ok) for a in caught.value.attempts] == [("model", False), ("repair", False)]
    assert caught.value.attempts[1].text == '{"name": "Oslo"}'
    assert caught.value.messages == {"population": ["Missing data for required field."]}


def test_unrepairable_text() -> None:
    with pytest.raises(StructuredOutputError) as caught:
        ResponseFormat(City).parse("I am sorry, I cannot do that.")
    assert [a.source for a in caught.value.attempts] == ["model"]
    assert list(caught.value.messages) == ["_json"]


def test_nan_and_infinity_are_not_json() -> None:
    fmt = JSONFormat({"type": "json_object"})
    for text in ('{"x": NaN}', '{"x": Infinity}', '{"x": -Infinity}'):
        attempt = fmt.attempt(text, source="model", repair=False)
        assert not attempt.ok and "_json" in attempt.messages


def test_attempt_never_raises_and_records_what_it_parsed() -> None:
    fmt = ResponseFormat(City)
    plain = fmt.attempt('{"name": "A", "population": 1, "nickname": "b"}', source="healer", repair=False)
    assert plain == HealAttempt("healer", plain.text, True, {"name": "A", "population": 1, "nickname": "b"})
    repaired = fmt.attempt('```\n{"name": "A", "population": 1, "nickname": "b"}\n```', source="healer", repair=True)
    assert repaired.ok and repaired.text == '{"name": "A", "population": 1, "nickname": "b"}'
    hopeless = fmt.attempt("", source="healer", repair=True)
    assert not hopeless.ok and hopeless.messages == {"_json": ["empty text, and no local repair applies"]}
    wrong = fmt.attempt('{"name": 5}', source="model", repair=True)
    assert not wrong.ok and wrong.messages == {
        "name": ["Not a valid string."],
        "population": ["Missing data for required field."],
    }


def test_heal_attempt_is_frozen() -> None:
    attempt = HealAttempt("model", "{}", False, messages={"_json": ["x"]})
    with pytest.raises(dataclasses.FrozenInstanceError):
        attempt.ok = True  # type: ignore[misc]
    assert attempt.model is None and attempt.value is None


def test_error_helper_puts_the_reason_first() -> None:
    fmt = ResponseFormat(City)
    attempts = fmt.attempts("nope")
    error = fmt.error("nope", attempts, "the reply was truncated by max_tokens")
    assert str(error).startswith("the reply was truncated by max_tokens; ")
    assert error.attempts == attempts and error.attempts is not attempts
