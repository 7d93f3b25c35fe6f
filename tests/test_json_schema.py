"""openrouter_rx.json_schema: expected outputs for each field and validator kind, strict mode,
recursion, load_data and schema_name. The oracle (marshmallow vs jsonschema on the same
documents) is in tests/test_json_schema_oracle.py."""

from __future__ import annotations

import enum
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from marshmallow import Schema, fields, validate

from openrouter_rx.errors import SchemaConversionError
from openrouter_rx.json_schema import load_data, schema_name, to_json_schema


def prop(field: fields.Field[Any], *, strict: bool = False) -> dict[str, Any]:
    """The JSON Schema of one field, as the property ``x`` of a one-field schema."""
    schema_cls = Schema.from_dict({"x": field})
    out = to_json_schema(schema_cls, strict=strict)
    Draft202012Validator.check_schema(out)
    return out["properties"]["x"]  # type: ignore[no-any-return]


class Tree(Schema):
    name = fields.String(required=True)
    children = fields.List(fields.Nested(lambda: Tree()), load_default=list)


def test_flat_schema_exact() -> None:
    class Weather(Schema):
        city = fields.String(required=True, metadata={"description": "City name"})
        days = fields.Integer(load_default=1, validate=validate.Range(1, 7))

    assert to_json_schema(Weather) == {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "City name"},
            "days": {"type": "integer", "minimum": 1, "maximum": 7, "default": 1},
        },
        "required": ["city"],
        "additionalProperties": False,
    }


def test_recursive_tree_loads_three_levels() -> None:
    out = to_json_schema(Tree)
    assert out["properties"]["children"] == {"type": "array", "items": {"$ref": "#"}}  # callable default: none
    tree = {"name": "a", "children": [{"name": "b", "children": [{"name": "c"}]}]}
    Draft202012Validator(out).validate(tree)
    assert not Draft202012Validator(out).is_valid({"name": "a", "children": [{"children": []}]})
    assert load_data(Tree, tree)["children"][0]["children"][0] == {"name": "c", "children": []}


def test_strict_dict_raises_with_path() -> None:
    class Outer(Schema):
        inner = fields.Nested(Schema.from_dict({"tags": fields.Dict()}))

    with pytest.raises(SchemaConversionError, match=r"^inner\.tags: fields\.Dict"):
        to_json_schema(Outer, strict=True)


def test_schema_name() -> None:
    class Weather(Schema):
        pass

    assert schema_name(Weather) == "Weather"
    assert schema_name(Weather()) == "Weather"


def test_enum_by_value_mixed() -> None:
    class E(enum.Enum):
        a = 1
        b = "x"

    assert prop(fields.Enum(E, by_value=True)) == {"type": ["integer", "string"], "enum": [1, "x"]}
