"""Marble tests for ``tool_calls(tools=...)``: each call validated by its tool's marshmallow schema."""

from __future__ import annotations

import enum
import json
from typing import Any

import pytest
from marshmallow import Schema, fields, validate

import openrouter_rx as orx
from openrouter_rx import operators as orx_ops
from openrouter_rx.testing import chunk_marbles, run_marbles, tool_call_chunks
from openrouter_rx.tools import Tool, tool


class Unit(enum.Enum):
    C = "C"
    F = "F"


class WeatherArgs(Schema):
    city = fields.String(required=True, validate=validate.Length(min=1))
    unit = fields.Enum(Unit, by_value=True, load_default=Unit.C)


WEATHER = Tool("get_weather", "Current weather for a city.", WeatherArgs)


@tool
def get_time(tz: str) -> str:
    """The time in a time zone.

    Args:
        tz: an IANA zone name.
    """
    return f"12:00 in {tz}"


def run_calls(calls: list[dict[str, Any]], **options: Any) -> Any:
    marbles, lookup = chunk_marbles(tool_call_chunks(calls))
    return run_marbles(orx_ops.tool_calls(**options), marbles, lookup)


def test_valid_calls_carry_the_data_their_schema_loaded() -> None:
    run = run_calls(
        [
            {"id": "c1", "name": "get_weather", "arguments": {"city": "Oslo", "unit": "F"}},
            {"id": "c2", "name": "get_time", "arguments": {"tz": "Europe/Oslo"}},
        ],
        tools=[WEATHER, get_time],
    )
    assert run.completed
    weather, time = run.values
    assert weather.arguments == {"city": "Oslo", "unit": Unit.F}  # the Enum member, not "F"
    assert weather.tool is WEATHER
    assert json.loads(weather.arguments_json) == {"city": "Oslo", "unit": "F"}  # the raw text is kept
    assert time.arguments == {"tz": "Europe/Oslo"}
    assert time.run() == "12:00 in Europe/Oslo"


def test_load_default_applies_to_an_omitted_argument() -> None:
    run = run_calls([{"id": "c1", "name": "get_weather", "arguments": {"city": "Oslo"}}], tools=[WEATHER])
    assert run.values[0].arguments == {"city": "Oslo", "unit": Unit.C}


def test_invalid_arguments_end_the_stream_with_the_raw_text_messages_and_partial() -> None:
    run = run_calls(
        [
            {"id": "c1", "name": "get_time", "arguments": {"tz": "UTC"}},
            {"id": "c2", "name": "get_weather", "arguments": {"city": "", "unit": "K"}},
        ],
        tools=[WEATHER, get_time],
    )
    assert [call.name for call in run.values] == ["get_time"]  # the valid call before it still arrives
    error = run.error
    assert isinstance(error, orx.ToolArgumentsError) and not isinstance(error, orx.UnknownToolError)
    assert error.name == "get_weather"
    assert json.loads(error.raw) == {"city": "", "unit": "K"}
    assert set(error.messages) == {"city", "unit"}
    assert error.call is not None and error.call.id == "c2"
    assert error.partial is not None and len(error.partial.tool_calls) == 2


def test_arguments_that_are_not_json_are_a_tool_arguments_error() -> None:
    chunks = tool_call_chunks([{"id": "c1", "name": "get_time", "arguments": '{"tz": "UTC"'}])
    marbles, lookup = chunk_marbles(chunks)
    run = run_marbles(orx_ops.tool_calls(tools=[get_time]), marbles, lookup)
    assert isinstance(run.error, orx.ToolArgumentsError)
    assert run.error.raw == '{"tz": "UTC"'
    assert "_json" in run.error.messages


def test_an_unknown_tool_is_an_unknown_tool_error_naming_the_offered_ones() -> None:
    run = run_calls([{"id": "c1", "name": "delete_everything", "arguments": {}}], tools=[WEATHER, get_time])
    assert isinstance(run.error, orx.UnknownToolError)
    assert run.error.name == "delete_everything"
    assert "get_weather" in str(run.error) and "get_time" in str(run.error)


def test_errors_emit_puts_the_error_in_the_calls_place_and_goes_on() -> None:
    run = run_calls(
        [
            {"id": "c1", "name": "get_weather", "arguments": {"city": 3}},
            {"id": "c2", "name": "nope", "arguments": {}},
            {"id": "c3", "name": "get_time", "arguments": {"tz": "UTC"}},
        ],
        tools=[WEATHER, get_time],
        errors="emit",
    )
    assert run.completed
    first, second, third = run.values
    assert isinstance(first, orx.ToolArgumentsError) and first.messages == {"city": ["Not a valid string."]}
    assert isinstance(second, orx.UnknownToolError)
    assert isinstance(third, orx.ToolCall) and third.arguments == {"tz": "UTC"}


def test_plain_tool_dicts_validate_json_only() -> None:
    as_dict = {
        "type": "function",
        "function": {"name": "lookup", "description": "", "parameters": {"type": "object", "properties": {}}},
    }
    run = run_calls([{"id": "c1", "name": "lookup", "arguments": {"anything": [1, 2]}}], tools=[as_dict])
    assert run.values[0].arguments == {"anything": [1, 2]}


def test_calls_are_validated_as_they_complete_not_at_the_end() -> None:
    marbles, lookup = chunk_marbles(
        tool_call_chunks(
            [
                {"id": "c1", "name": "get_time", "arguments": {"tz": "UTC"}},
                {"id": "c2", "name": "get_time", "arguments": {"tz": "CET"}},
            ]
        )
    )
    plain = run_marbles(orx_ops.tool_calls(), marbles, lookup)
    checked = run_marbles(orx_ops.tool_calls(tools=[get_time]), marbles, lookup)
    assert [e[0] for e in checked.events] == [e[0] for e in plain.events]  # same frames


def test_bad_options_fail_at_pipe_time() -> None:
    with pytest.raises(ValueError, match="errors"):
        orx_ops.tool_calls(tools=[get_time], errors="ignore")  # type: ignore[call-overload]
    with pytest.raises(ValueError, match="unique"):
        orx_ops.tool_calls(tools=[get_time, get_time])
    with pytest.raises(TypeError):
        orx_ops.tool_calls(tools=[42])
