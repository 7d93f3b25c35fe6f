"""Review regressions (R1): schemas, tools, tool calls and the tool loop."""

from __future__ import annotations

import dataclasses
import enum
import json
from collections.abc import Iterator
from typing import Any, Literal

import jsonschema
import pytest
from marshmallow import Schema, fields
from marshmallow.validate import OneOf
from support import outcome

import openrouter_rx as orx
from openrouter_rx.errors import SchemaConversionError, ToolArgumentsError
from openrouter_rx.json_schema import to_json_schema
from openrouter_rx.testing import FakeOpenRouter, StreamReply, text_chunks, tool_call_chunks
from openrouter_rx.tool_loop import LoopFinished, ToolCallResult, tool_loop
from openrouter_rx.tools import Tool, tool

KEY = "sk-or-v1-review-tools-0123456789"


class SumArgs(Schema):
    numbers = fields.List(fields.Integer(), required=True)


ADD = Tool("add", "Add numbers.", SumArgs)


@dataclasses.dataclass
class Reading:
    city: str
    degrees: int


class Colour(enum.Enum):
    red = "r"


@pytest.fixture
def client(fake_openrouter: FakeOpenRouter) -> Iterator[orx.Client]:
    with orx.Client(api_key=KEY, base_url=fake_openrouter.base_url, timeout=orx.Timeout(connect=2, idle=5)) as c:
        yield c


def _one_add_call_then_text(fake_openrouter: FakeOpenRouter) -> None:
    fake_openrouter.enqueue(
        StreamReply(tool_call_chunks([{"id": "call_1", "name": "add", "arguments": {"numbers": [1, 2]}}])),
        StreamReply(text_chunks("Done.")),
    )


def _result(events: list[Any]) -> ToolCallResult:
    results = [e for e in events if isinstance(e, ToolCallResult)]
    assert len(results) == 1
    return results[0]


# --- tools --------------------------------------------------------------------------------------


def test_a_strict_tool_without_parameters_forbids_extra_properties() -> None:
    # OpenAI strict mode rejects any object schema without additionalProperties: false.
    strict = Tool("ping", "Ping.", strict=True).to_dict()["function"]
    assert strict["strict"] is True
    assert strict["parameters"] == {"type": "object", "properties": {}, "additionalProperties": False}
    loose = Tool("ping", "Ping.").to_dict()["function"]
    assert loose["parameters"] == {"type": "object", "properties": {}}


# --- tool loop: what a handler returns ----------------------------------------------------------


def test_a_handler_result_with_no_json_form_is_reported_to_the_model_not_a_crash(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    _one_add_call_then_text(fake_openrouter)
    value = {(1, 2): 3}  # json.dumps refuses tuple keys (a TypeError no default= can help)
    events, error = outcome(tool_loop(client, "add", tools=[ADD], handlers={"add": lambda numbers: value}))
    assert error is None
    result = _result(events)
    assert isinstance(result.error, TypeError) and result.value is value
    assert json.loads(result.message["content"])["error"]["type"] == "TypeError"
    assert isinstance(events[-1], LoopFinished)
    assert len(fake_openrouter.requests) == 2


def test_a_cyclic_handler_result_is_reported_to_the_model(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    _one_add_call_then_text(fake_openrouter)
    cycle: list[Any] = []
    cycle.append(cycle)
    events, error = outcome(tool_loop(client, "add", tools=[ADD], handlers={"add": lambda numbers: cycle}))
    assert error is None
    result = _result(events)
    assert isinstance(result.error, ValueError)
    assert json.loads(result.message["content"])["error"]["type"] == "ValueError"
    assert isinstance(events[-1], LoopFinished)


@pytest.mark.parametrize(
    ("value", "sent"),
    [
        (Reading("Oslo", 21), {"city": "Oslo", "degrees": 21}),
        (Colour.red, "r"),
        ({"at": Reading("Lima", 30), "colour": Colour.red}, {"at": {"city": "Lima", "degrees": 30}, "colour": "r"}),
        (None, None),
    ],
)
def test_dataclass_and_enum_results_are_sent_as_json_values(
    fake_openrouter: FakeOpenRouter, client: orx.Client, value: Any, sent: Any
) -> None:
    _one_add_call_then_text(fake_openrouter)
    events, error = outcome(tool_loop(client, "add", tools=[ADD], handlers={"add": lambda numbers: value}))
    assert error is None
    result = _result(events)
    assert result.error is None and result.value is value
    assert json.loads(result.message["content"]) == sent


def test_an_async_handler_is_an_error_the_model_sees_not_a_coroutine_repr(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    @tool
    async def add(numbers: list[int]) -> int:
        """Add numbers."""
        return sum(numbers)

    _one_add_call_then_text(fake_openrouter)
    events, error = outcome(tool_loop(client, "add", tools=[add]))
    assert error is None
    result = _result(events)
    assert isinstance(result.error, TypeError) and "async" in str(result.error)
    assert "coroutine object" not in result.message["content"]


# --- tool loop: BaseException is not swallowed --------------------------------------------------


@pytest.mark.parametrize("kind", [KeyboardInterrupt, SystemExit])
def test_a_handler_raising_a_base_exception_ends_the_loop_with_it(
    fake_openrouter: FakeOpenRouter, client: orx.Client, kind: type[BaseException]
) -> None:
    def handler(numbers: list[int]) -> int:
        raise kind()

    _one_add_call_then_text(fake_openrouter)
    events, error = outcome(tool_loop(client, "add", tools=[ADD], handlers={"add": handler}))
    assert isinstance(error, kind)  # delivered (no hang), not turned into a tool message
    assert not any(isinstance(e, ToolCallResult) for e in events)
    assert len(fake_openrouter.requests) == 1


# --- @tool: Literal and Enum parameters ---------------------------------------------------------


class Level(enum.IntEnum):
    low = 1
    high = 2


def _choose(kind: Literal["auto", 1, 2.5], level: Level = Level.low) -> str:
    """Choose.

    Args:
        kind: what to choose.
        level: how hard.
    """
    return f"{kind}/{level}"


def test_a_mixed_literal_has_a_strict_form_typed_by_its_values() -> None:
    chosen = tool(_choose, strict=True)  # was: SchemaConversionError (fields.Raw has no strict-mode form)
    schema = chosen.json_schema
    assert schema["properties"]["kind"] == {
        "type": ["string", "number"],
        "enum": ["auto", 1, 2.5],
        "description": "what to choose.",
    }
    jsonschema.Draft202012Validator.check_schema(schema)
    assert chosen.load_arguments('{"kind": 2.5, "level": null}') == {"kind": 2.5, "level": Level.low}
    strict = to_json_schema(Schema.from_dict({"x": fields.Raw(required=True, validate=OneOf(["a", 1]))}), strict=True)
    assert strict["properties"]["x"] == {"type": ["string", "integer"], "enum": ["a", 1]}
    with pytest.raises(SchemaConversionError, match=r"fields\.Raw has no strict-mode form"):
        to_json_schema(Schema.from_dict({"x": fields.Raw()}), strict=True)


@pytest.mark.parametrize("arguments", ['{"kind": true}', '{"kind": "auto", "level": true}'])
def test_booleans_are_not_taken_for_the_numbers_of_a_literal_or_an_int_enum(arguments: str) -> None:
    # JSON Schema says true is not 1; marshmallow alone would load true as 1 (== True) / Level.low.
    chosen = tool(_choose)
    document = json.loads(arguments)
    assert not jsonschema.Draft202012Validator(chosen.json_schema).is_valid(document)
    with pytest.raises(ToolArgumentsError) as caught:
        chosen.load_arguments(arguments)
    assert set(caught.value.messages) <= {"kind", "level"}
    assert chosen.load_arguments('{"kind": 1, "level": 2}') == {"kind": 1, "level": Level.high}


def test_a_loop_without_tools_sends_no_empty_tools_array(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    # OpenAI-style validators reject "tools": [] (an array needs at least one item).
    fake_openrouter.enqueue(StreamReply(text_chunks("Hello.")))
    events, error = outcome(tool_loop(client, "hi", tools=[]))
    assert error is None and isinstance(events[-1], LoopFinished)
    assert "tools" not in fake_openrouter.requests[0].json


def test_other_params_are_sent_on_every_turn_and_a_forced_tool_choice_only_first(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    _one_add_call_then_text(fake_openrouter)
    choice = {"type": "function", "function": {"name": "add"}}

    def sum_of(numbers: list[int]) -> int:
        return sum(numbers)

    events, error = outcome(
        tool_loop(client, "add", tools=[ADD], handlers={"add": sum_of}, tool_choice=choice, parallel_tool_calls=False)
    )
    assert error is None and isinstance(events[-1], LoopFinished)
    assert [r.json["tool_choice"] for r in fake_openrouter.requests] == [choice, "auto"]  # reset_tool_choice
    assert [r.json["parallel_tool_calls"] for r in fake_openrouter.requests] == [False, False]


def test_arguments_nested_too_deeply_are_a_tool_arguments_error() -> None:
    deep = '{"numbers": ' + "[" * 100_000 + "]" * 100_000 + "}"  # json.loads raises RecursionError
    with pytest.raises(ToolArgumentsError) as caught:
        ADD.load_arguments(deep)
    assert caught.value.raw == deep and set(caught.value.messages) == {"_json"}


# --- json_schema --------------------------------------------------------------------------------


def test_a_many_schema_is_refused_even_after_its_class_was_converted() -> None:
    class Item(Schema):
        name = fields.String(required=True)

    assert to_json_schema(Item)["type"] == "object"  # cached for the class
    with pytest.raises(SchemaConversionError, match="many=True"):
        to_json_schema(Item(many=True))  # was: the cached object schema, for a schema loading a list
    with pytest.raises(SchemaConversionError, match="many=True"):
        Tool("items", parameters=Item(many=True))


class _Pair(Schema):
    a = fields.String()
    b = fields.String()


class _Holder(Schema):
    inner = fields.Nested(_Pair)
    many = fields.List(fields.Nested(_Pair))


def _inner_names(schema: Schema | type[Schema]) -> list[str]:
    return list(to_json_schema(schema)["properties"]["inner"]["properties"])


def test_dotted_only_and_exclude_are_part_of_the_cache_key() -> None:
    # Schema(only=("inner.a",)) keeps only "inner" in its own `only`: the dotted part lives on the
    # Nested field, and the cache key ignored it (the next call got the first call's schema).
    assert _inner_names(_Holder(only=("inner.a",))) == ["a"]
    assert _inner_names(_Holder(only=("inner.b",))) == ["b"]
    assert _inner_names(_Holder(exclude=("inner.b",))) == ["a"]
    assert _inner_names(_Holder()) == ["a", "b"]
    assert _inner_names(_Holder) == ["a", "b"]
    assert set(_Holder(only=("inner.a",)).load({"inner": {"a": "x"}})["inner"]) == {"a"}
    items = to_json_schema(_Holder(exclude=("many.a",)))["properties"]["many"]["items"]
    assert list(items["properties"]) == ["b"]
    assert list(to_json_schema(_Holder())["properties"]["many"]["items"]["properties"]) == ["a", "b"]


@dataclasses.dataclass
class _Span:
    start: int
    end: int

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise TypeError("end before start")  # a TypeError check, as common as a ValueError one


def _measure(span: _Span) -> int:
    """Measure a span."""
    return span.end - span.start


def test_a_dataclass_post_init_type_error_is_an_invalid_argument_not_a_crash() -> None:
    measure = tool(_measure)
    assert measure.load_arguments('{"span": {"start": 1, "end": 3}}') == {"span": _Span(1, 3)}
    with pytest.raises(ToolArgumentsError) as caught:
        measure.load_arguments('{"span": {"start": 3, "end": 1}}')
    assert "end before start" in str(caught.value.messages)
