"""Tool objects: construction, to_dict, load_arguments, invoke, coerce; the JSON Schema oracle; one loopback run."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import uuid
from collections.abc import Iterator
from typing import Annotated, Any, Literal

import jsonschema  # type: ignore[import-untyped]
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import Schema, fields, post_load, validate
from reactivex import operators as ops

import openrouter_rx as orx
from openrouter_rx import operators as orx_ops
from openrouter_rx.errors import SchemaConversionError, ToolArgumentsError
from openrouter_rx.testing import FakeOpenRouter, StreamReply, tool_call_chunks
from openrouter_rx.tools import Tool, tool


class Unit(enum.Enum):
    CELSIUS = "C"
    FAHRENHEIT = "F"


@dataclasses.dataclass
class Place:
    city: str
    country: str | None = None


@tool
def get_weather(place: Place, unit: Unit = Unit.CELSIUS, days: Annotated[int, validate.Range(min=1, max=7)] = 1) -> str:
    """Weather forecast for a place.

    Args:
        place: where.
        unit: temperature unit.
        days: how many days ahead.
    """
    return f"{days}d in {place.city} ({unit.value})"


class WeatherSchema(Schema):
    city = fields.String(required=True, metadata={"description": "City name"})
    from_date = fields.Date(data_key="from", load_default=None, allow_none=True)


class QuerySchema(Schema):
    text = fields.String(required=True)

    @post_load
    def build(self, data: dict[str, Any], **kwargs: Any) -> str:
        return str(data["text"]).upper()


# -- construction ----------------------------------------------------------------


def test_tool_from_a_schema_class_and_instance() -> None:
    by_class = Tool("weather", "Weather by city.", WeatherSchema)
    by_instance = Tool("weather", "Weather by city.", WeatherSchema())
    assert isinstance(by_class.parameters_schema, WeatherSchema)
    assert by_class.to_dict() == by_instance.to_dict() == {
        "type": "function",
        "function": {
            "name": "weather",
            "description": "Weather by city.",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string", "description": "City name"},
                    "from": {"type": ["string", "null"], "format": "date", "default": None},
                },
                "required": ["city"],
                "additionalProperties": False,
            },
        },
    }
    assert repr(by_class) == "Tool(name='weather', parameters=['city', 'from'])"


def test_tool_without_parameters_and_without_description() -> None:
    bare = Tool("ping")
    assert bare.parameters_schema is None and bare.function is None and not bare.strict
    assert bare.json_schema == {"type": "object", "properties": {}}
    assert bare.to_dict() == {"type": "function", "function": {"name": "ping", "parameters": bare.json_schema}}
    assert bare.load_arguments("") == {} and bare.load_arguments('{"x": 1}') == {"x": 1}
    assert repr(bare) == "Tool(name='ping', parameters=[])"


def test_strict_tool_dict() -> None:
    strict = Tool("weather", "", WeatherSchema, strict=True)
    function = strict.to_dict()["function"]
    assert function["strict"] is True and "description" not in function
    assert function["parameters"] == {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "City name"},
            "from": {"type": ["string", "null"], "format": "date"},
        },
        "required": ["city", "from"],
        "additionalProperties": False,
    }


def test_strict_tool_with_an_unsupported_field_fails_at_definition() -> None:
    def tagged(tags: dict[str, str]) -> None: ...

    with pytest.raises(SchemaConversionError, match="tags"):
        tool(strict=True)(tagged)
    assert tool(tagged).to_dict()["function"]["parameters"]["properties"]["tags"]["type"] == "object"


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"parameters": 42}, TypeError),
        ({"parameters": [("city", "string")]}, TypeError),
        ({"function": "not callable"}, TypeError),
        ({"description": None}, TypeError),
    ],
)
def test_bad_constructor_arguments(kwargs: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error, match="tool 'x'"):
        Tool("x", **kwargs)


def test_tool_is_immutable_and_json_schema_is_a_copy() -> None:
    made = Tool("weather", "d", WeatherSchema)
    with pytest.raises(AttributeError, match="immutable"):
        made.name = "other"
    with pytest.raises(AttributeError, match="immutable"):
        del made.description
    made.json_schema["properties"].clear()
    made.to_dict()["function"]["parameters"]["required"].append("x")
    assert list(made.json_schema["properties"]) == ["city", "from"]
    assert made.json_schema["required"] == ["city"]


def test_raw_dict_parameters_are_sent_as_given() -> None:
    parameters: dict[str, Any] = {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}
    made = Tool("search", "Search.", parameters)
    parameters["required"].append("mutated-after")
    assert made.json_schema == {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}
    assert made.parameters_schema is None
    assert made.load_arguments('{"anything": [1]}') == {"anything": [1]}  # only checked to be an object


# -- load_arguments -------------------------------------------------------------------


def test_load_arguments_builds_dataclasses_and_enums() -> None:
    loaded = get_weather.load_arguments('{"place": {"city": "Oslo"}, "unit": "F"}')
    assert loaded == {"place": Place("Oslo"), "unit": Unit.FAHRENHEIT, "days": 1}
    assert get_weather.load_arguments({"place": {"city": "Oslo", "country": "NO"}, "days": 3}) == {
        "place": Place("Oslo", "NO"),
        "unit": Unit.CELSIUS,
        "days": 3,
    }


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ('{"place": ', "not valid JSON"),
        ("{'place': {}}", "not valid JSON"),
        ('{"place": {"city": "Oslo"}, "days": NaN}', "not valid JSON"),
        ("[1, 2]", "not a JSON object but an array"),
        ('"Oslo"', "not a JSON object but a string"),
        ("null", "not a JSON object but null"),
        ("3", "not a JSON object but a number"),
    ],
)
def test_arguments_that_are_not_a_json_object(text: str, why: str) -> None:
    with pytest.raises(ToolArgumentsError) as caught:
        get_weather.load_arguments(text)
    error = caught.value
    assert error.raw == text and error.name == "get_weather" and error.call is None
    assert list(error.messages) == ["_json"] and why in error.messages["_json"][0]
    assert str(error).startswith(f"arguments for tool 'get_weather' are {why}")


def test_schema_errors_are_reported_by_field_without_values() -> None:
    text = '{"place": {"country": "SECRET-COUNTRY"}, "unit": "kelvin", "days": 9, "extra": "SECRET-EXTRA"}'
    with pytest.raises(ToolArgumentsError) as caught:
        get_weather.load_arguments(text)
    error = caught.value
    assert error.raw == text and error.name == "get_weather"
    assert error.messages == {
        "place": {"city": ["Missing data for required field."]},
        "unit": ["Must be one of: C, F."],
        "days": ["Must be greater than or equal to 1 and less than or equal to 7."],
        "extra": ["Unknown field."],
    }
    message = str(error)
    assert message.startswith("arguments for tool 'get_weather' do not match its schema: ")
    for part in ("place.city: Missing data", "unit: Must be one of", "days: Must be", "extra: Unknown field"):
        assert part in message
    assert "SECRET" not in message


def test_empty_text_is_an_empty_object_then_validated() -> None:
    with pytest.raises(ToolArgumentsError) as caught:
        get_weather.load_arguments("  ")
    assert caught.value.messages == {"place": ["Missing data for required field."]}

    @tool
    def now() -> str:
        return "noon"

    assert now.load_arguments("") == {} and now.load_arguments("{}") == {}
    with pytest.raises(ToolArgumentsError, match="Unknown field"):
        now.load_arguments('{"tz": "UTC"}')


def test_long_error_lists_are_summarised() -> None:
    def wide(a: int, b: int, c: int, d: int, e: int, f: int, g: int) -> None: ...

    with pytest.raises(ToolArgumentsError) as caught:
        tool(wide).load_arguments("{}")
    assert str(caught.value).endswith("(and 2 more)") and len(caught.value.messages) == 7


def test_strict_tools_drop_nulls_of_optional_fields() -> None:
    strict = tool(strict=True)(get_weather.function)  # type: ignore[arg-type]
    text = '{"place": {"city": "Oslo", "country": null}, "unit": null, "days": null}'
    assert strict.load_arguments(text) == {"place": Place("Oslo", None), "unit": Unit.CELSIUS, "days": 1}
    with pytest.raises(ToolArgumentsError) as caught:
        get_weather.load_arguments(text)  # not strict: null is not a unit
    assert set(caught.value.messages) == {"unit", "days"}


# -- invoke, __call__ --------------------------------------------------------------------


def test_invoke_passes_keyword_arguments() -> None:
    assert get_weather.invoke(get_weather.load_arguments('{"place": {"city": "Oslo"}, "days": 2}')) == "2d in Oslo (C)"
    assert get_weather(Place("Bergen"), Unit.FAHRENHEIT) == "1d in Bergen (F)"  # still the function
    assert get_weather.__name__ == "get_weather" and get_weather.__wrapped__ is get_weather.function  # type: ignore[attr-defined]


def test_invoke_maps_data_keys_back() -> None:
    seen: list[dict[str, Any]] = []

    def run(city: str, from_date: Any = None) -> str:
        seen.append({"city": city, "from_date": from_date})
        return city

    made = Tool("weather", "", WeatherSchema, function=run)
    loaded = made.load_arguments('{"city": "Oslo", "from": "2024-05-01"}')
    assert made.invoke(loaded) == "Oslo"
    assert made.invoke({"city": "Bergen", "from": None}) == "Bergen"  # JSON names are mapped too
    assert [s["city"] for s in seen] == ["Oslo", "Bergen"] and str(seen[0]["from_date"]) == "2024-05-01"

    @tool
    def route(from_: str, to: str) -> str:
        return f"{from_}->{to}"

    assert route.to_dict()["function"]["parameters"]["required"] == ["from", "to"]
    assert route.invoke(route.load_arguments('{"from": "Oslo", "to": "Rome"}')) == "Oslo->Rome"


def test_invoke_passes_a_post_load_object_positionally() -> None:
    made = Tool("shout", "", QuerySchema, function=lambda text: text + "!")
    assert made.invoke(made.load_arguments('{"text": "hi"}')) == "HI!"


def test_a_tool_without_function_cannot_run() -> None:
    with pytest.raises(TypeError, match="tool 'weather' has no function"):
        Tool("weather", "", WeatherSchema).invoke({"city": "Oslo"})
    with pytest.raises(TypeError, match="no function"):
        Tool("weather")()


# -- coerce ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "wire",
    [
        {
            "type": "function",
            "function": {
                "name": "get_time",
                "description": "Time in a zone.",
                "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}, "required": ["tz"]},
            },
        },
        {"type": "function", "function": {"name": "ping"}},
        {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}, "strict": False}},
        {"type": "function", "function": {"name": "s", "description": "", "parameters": {}, "strict": True}},
    ],
    ids=["full", "name-only", "strict-false", "strict-true"],
)
def test_coerce_a_tool_dict_round_trips(wire: dict[str, Any]) -> None:
    original = json.loads(json.dumps(wire))
    made = Tool.coerce(wire)
    assert made.to_dict() == original
    assert made.name == wire["function"]["name"] and made.parameters_schema is None
    assert made.strict is (wire["function"].get("strict") is True)
    made.to_dict()["function"]["name"] = "changed"
    assert made.to_dict() == original


def test_coerce_a_tool_a_function_and_refusals() -> None:
    assert Tool.coerce(get_weather) is get_weather

    def get_time(tz: Literal["UTC", "CET"] = "UTC") -> str:
        """Time now."""
        return tz

    made = Tool.coerce(get_time)
    assert made.name == "get_time" and made.description == "Time now." and made() == "UTC"
    for value in (42, "get_time", Place, None):
        with pytest.raises(TypeError, match="cannot make a tool"):
            Tool.coerce(value)  # type: ignore[arg-type]
    for wire in ({"name": "x"}, {"type": "function"}, {"type": "function", "function": {"description": "no name"}}):
        with pytest.raises(TypeError, match="a tool dict looks like"):
            Tool.coerce(wire)
    with pytest.raises(ValueError, match="invalid tool name"):
        Tool.coerce({"type": "function", "function": {"name": "bad name"}})


# -- the sent JSON Schema accepts what load_arguments accepts --------------------------------


@tool
def book(
    place: Place,
    nights: Annotated[int, validate.Range(min=1)],
    unit: Unit = Unit.CELSIUS,
    tags: list[str] | None = None,
    note: Annotated[str, validate.Length(max=10)] = "",
    mode: Literal["fast", "cheap"] = "fast",
) -> None:
    """Book a stay."""


VALID: list[dict[str, Any]] = [
    {"place": {"city": "Oslo"}, "nights": 1},
    {"place": {"city": "Oslo", "country": None}, "nights": 3, "unit": "F", "tags": ["a"], "note": "short",
     "mode": "cheap"},
    {"place": {"city": "Oslo"}, "nights": 2, "tags": None},
    {"place": {"city": "Oslo"}, "nights": 2.0},  # an integer in JSON Schema, loaded as 2
]
INVALID: list[dict[str, Any]] = [
    {},
    {"nights": 1},
    {"place": {"city": "Oslo"}, "nights": 0},
    {"place": {"city": "Oslo"}, "nights": "2"},
    {"place": {"city": "Oslo"}, "nights": 1.5},
    {"place": {"city": "Oslo"}, "nights": True},
    {"place": {"city": "Oslo"}, "nights": 1, "unit": "K"},
    {"place": {"city": "Oslo"}, "nights": 1, "tags": [1]},
    {"place": {"city": "Oslo"}, "nights": 1, "note": "far too long"},
    {"place": {"city": "Oslo"}, "nights": 1, "mode": "slow"},
    {"place": {"city": "Oslo", "zip": "0150"}, "nights": 1},
    {"place": {"city": "Oslo"}, "nights": 1, "extra": 1},
    {"place": "Oslo", "nights": 1},
]


def accepted(made: Tool, document: dict[str, Any]) -> bool:
    try:
        made.load_arguments(json.dumps(document))
    except ToolArgumentsError:
        return False
    return True


def strict_form(document: dict[str, Any]) -> dict[str, Any]:
    """A document as a strict-mode model sends it: every optional property present, null when unused."""
    full = {**dict.fromkeys(("unit", "tags", "note", "mode")), **document}
    if isinstance(full.get("place"), dict):
        full["place"] = {"country": None, **full["place"]}
    return full


@pytest.mark.parametrize("strict", [False, True], ids=["normal", "strict"])
def test_sent_schema_agrees_with_load_arguments(strict: bool) -> None:
    made = tool(strict=True)(book.function) if strict else book  # type: ignore[arg-type]
    parameters = made.to_dict()["function"]["parameters"]
    jsonschema.Draft202012Validator.check_schema(parameters)
    validator = jsonschema.Draft202012Validator(parameters)
    documents = VALID + INVALID
    if strict:  # the required keys stay missing in {} and {"nights": 1}, so skip those two
        documents = [strict_form(d) for d in documents if "place" in d]
    if strict:  # strict schemas have no string length keywords (OpenAI lists none): only marshmallow checks
        documents = [d for d in documents if d.get("note") != "far too long"]
    verdicts = [(accepted(made, d), validator.is_valid(d)) for d in documents]
    assert all(mine == theirs for mine, theirs in verdicts), list(zip(documents, verdicts, strict=True))
    assert sum(mine for mine, _ in verdicts) == len(VALID)  # the valid ones stay valid, the others invalid


@tool
def measure(
    value: float,
    exact: bool,
    at: dt.date,
    span: tuple[int, str] = (1, "d"),
    labels: dict[str, int] | None = None,
    level: Literal[1, 2, 3] = 1,
) -> None:
    """Record a measurement."""


@pytest.mark.parametrize(
    ("document", "valid"),
    [
        ({"value": 1, "exact": True, "at": "2024-05-01"}, True),
        ({"value": 1.5, "exact": False, "at": "2024-05-01", "span": [2, "h"], "labels": {"a": 1}, "level": 3}, True),
        ({"value": "1.5", "exact": True, "at": "2024-05-01"}, False),
        ({"value": 1, "exact": 1, "at": "2024-05-01"}, False),
        ({"value": 1, "exact": "true", "at": "2024-05-01"}, False),
        ({"value": 1, "exact": True, "at": "2024-13-01"}, False),
        ({"value": 1, "exact": True, "at": "May 1st"}, False),
        ({"value": 1, "exact": True, "at": "2024-05-01", "span": [2]}, False),
        ({"value": 1, "exact": True, "at": "2024-05-01", "span": ["h", 2]}, False),
        ({"value": 1, "exact": True, "at": "2024-05-01", "span": [2, "h", 3]}, False),
        ({"value": 1, "exact": True, "at": "2024-05-01", "labels": {"a": "1"}}, False),
        ({"value": 1, "exact": True, "at": "2024-05-01", "level": 4}, False),
        ({"value": 1, "exact": True, "at": "2024-05-01", "level": True}, False),
    ],
)
def test_scalar_kinds_agree_with_the_format_checking_validator(document: dict[str, Any], valid: bool) -> None:
    parameters = measure.to_dict()["function"]["parameters"]
    checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
    validator = jsonschema.Draft202012Validator(parameters, format_checker=checker)
    assert validator.is_valid(document) is valid
    assert accepted(measure, document) is valid


@tool
def kitchen_sink(
    n: int,
    x: float,
    flag: bool,
    name: str,
    mode: Literal["a", "b"],
    unit: Unit,
    ids: list[int],
    span: tuple[int, str],
    weights: dict[str, float],
    place: Place,
    day: dt.date,
    key: uuid.UUID,
    level: Literal[1, 2] = 1,
    note: str | None = None,
) -> None:
    """Every kind of parameter at once."""


SINK_BASE = {
    "n": 1, "x": 1.5, "flag": True, "name": "n", "mode": "a", "unit": "C", "ids": [1], "span": [1, "a"],
    "weights": {"a": 1.0}, "place": {"city": "Oslo"}, "day": "2024-05-01",
    "key": "12345678-1234-5678-1234-567812345678",
}  # a valid document; the test replaces one key at a time
TRICKY = [0, 1, 2.0, "1", "1.5", "true", "a", "b", "C", "F", "2024-05-01", "2024-02-30", SINK_BASE["key"]]
JSON_SCALARS = (
    st.sampled_from(TRICKY)
    | st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5)
)
JSON_VALUES = JSON_SCALARS | st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from(["city", "country", "a"]), inner, max_size=3),
    max_leaves=6,
)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([*SINK_BASE, "level", "note", "extra"]), JSON_VALUES)
def test_random_arguments_get_the_same_verdict_from_both(key: str, value: Any) -> None:
    parameters = kitchen_sink.to_dict()["function"]["parameters"]
    checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
    validator = jsonschema.Draft202012Validator(parameters, format_checker=checker)
    document = {**SINK_BASE, key: value}
    assert accepted(kitchen_sink, document) is validator.is_valid(document)


# -- loopback ------------------------------------------------------------------------


@pytest.fixture
def client(fake_openrouter: FakeOpenRouter) -> Iterator[orx.Client]:
    timeout = orx.Timeout(connect=2, idle=5)
    with orx.Client(api_key="sk-or-v1-tools", base_url=fake_openrouter.base_url, timeout=timeout) as c:
        yield c


def test_stream_sends_the_tool_dict_and_its_call_loads(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    call = {"id": "call_1", "name": "get_weather", "arguments": {"place": {"city": "Oslo"}, "unit": "F"}}
    fake_openrouter.enqueue(StreamReply(tool_call_chunks([call])))
    calls = client.stream("Weather in Oslo?", tools=[get_weather]).pipe(orx_ops.tool_calls(), ops.to_list()).run()
    request = fake_openrouter.last_request
    assert request is not None
    assert request.json["tools"] == [get_weather.to_dict()]
    assert [c.name for c in calls] == ["get_weather"]
    assert get_weather.invoke(get_weather.load_arguments(calls[0].arguments_json)) == "1d in Oslo (F)"
