"""openrouter_rx.json_schema: the expected output of each field and validator kind, strict
mode, recursion, caching, load_data and schema_name. The oracle tests (marshmallow and
jsonschema judging the same documents) are in tests/test_json_schema_oracle.py."""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from marshmallow import EXCLUDE, INCLUDE, RAISE, Schema, ValidationError, fields, validate

from openrouter_rx.errors import SchemaConversionError
from openrouter_rx.json_schema import load_data, schema_name, to_json_schema


def prop(field: fields.Field[Any], *, strict: bool = False) -> dict[str, Any]:
    """The JSON Schema of one field, as property ``x`` of a one-field schema (checked as a schema)."""
    out = to_json_schema(Schema.from_dict({"x": field}), strict=strict)
    Draft202012Validator.check_schema(out)
    json.dumps(out)  # JSON-serialisable
    return out["properties"]["x"]  # type: ignore[no-any-return]


def objects(node: Any) -> Iterator[dict[str, Any]]:
    """Every object schema (with ``properties``) inside ``node``, ``$defs`` included."""
    if isinstance(node, dict):
        if "properties" in node:
            yield node
        for value in node.values():
            yield from objects(value)
    elif isinstance(node, list):
        for item in node:
            yield from objects(item)


def keywords(node: Any) -> set[str]:
    """Every keyword used anywhere in ``node`` (property names excluded)."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            found.add(key)
            if key in ("properties", "$defs"):
                for sub in value.values():
                    found |= keywords(sub)
            elif key not in ("enum", "const", "default", "examples"):
                found |= keywords(value)
    elif isinstance(node, list):
        for item in node:
            found |= keywords(item)
    return found


class Color(enum.Enum):
    red = 1
    green = 2


class Letter(enum.Enum):
    a = "A"
    b = "B"


class Mixed(enum.Enum):
    one = 1
    two = "two"


# --- fields ------------------------------------------------------------------------------------

SCALARS = [
    (fields.String(), {"type": "string"}),
    (fields.Integer(), {"type": "integer"}),
    (fields.Integer(strict=True), {"type": "integer"}),
    (fields.Float(), {"type": "number"}),
    (fields.Decimal(), {"type": "number"}),
    (fields.Boolean(), {"type": "boolean"}),
    (fields.DateTime(), {"type": "string", "format": "date-time"}),
    (fields.NaiveDateTime(), {"type": "string", "format": "date-time"}),
    (fields.DateTime(format="%Y-%m-%d %H:%M"), {"type": "string"}),
    (fields.DateTime(format="rfc"), {"type": "string"}),
    (fields.DateTime(format="timestamp"), {"type": "number", "minimum": 0}),
    (fields.Date(), {"type": "string", "format": "date"}),
    (fields.Date(format="%d/%m/%Y"), {"type": "string"}),
    (fields.Time(), {"type": "string", "format": "time"}),
    (fields.TimeDelta(), {"type": "number"}),
    (fields.Email(), {"type": "string", "format": "email"}),
    (fields.URL(), {"type": "string", "format": "uri"}),
    (fields.Url(relative=True), {"type": "string", "format": "uri-reference"}),
    (fields.UUID(), {"type": "string", "format": "uuid"}),
    (fields.IPv4(), {"type": "string", "format": "ipv4"}),
    (fields.IPv6(), {"type": "string", "format": "ipv6"}),
    (fields.IP(), {"type": "string"}),
    (fields.Raw(), {}),
    (fields.Enum(Color), {"type": "string", "enum": ["red", "green"]}),
    (fields.Enum(Color, by_value=True), {"type": "integer", "enum": [1, 2]}),
    (fields.Enum(Letter, by_value=True), {"type": "string", "enum": ["A", "B"]}),
    (fields.Enum(Mixed, by_value=True), {"type": ["integer", "string"], "enum": [1, "two"]}),
    (fields.Enum(Color, by_value=fields.String), {"type": "string", "enum": ["1", "2"]}),
    (fields.Constant("v1"), {"type": "string", "const": "v1"}),
    (fields.Constant(3), {"type": "integer", "const": 3}),
]


@pytest.mark.parametrize(("field", "expected"), SCALARS, ids=[repr(f) [:40] for f, _ in SCALARS])
def test_scalar_fields(field: fields.Field[Any], expected: dict[str, Any]) -> None:
    assert prop(field) == expected


def test_decimal_as_string_is_a_pattern_checked_string() -> None:
    node = prop(fields.Decimal(as_string=True))
    assert node["type"] == "string"
    pattern = re.compile(node["pattern"])
    assert all(pattern.search(text) for text in ("1", "-1.50", "0.5", ".5", "1e-3", "12.", "3E+2"))
    assert not any(pattern.search(text) for text in ("", "1.2.3", "abc", "1 ", "- 1", "NaN"))


def test_list_tuple_dict() -> None:
    assert prop(fields.List(fields.String())) == {"type": "array", "items": {"type": "string"}}
    assert prop(fields.Tuple((fields.Integer(), fields.String()))) == {
        "type": "array",
        "prefixItems": [{"type": "integer"}, {"type": "string"}],
        "minItems": 2,
        "maxItems": 2,
        "items": False,
    }
    assert prop(fields.Dict()) == {"type": "object"}
    assert prop(fields.Dict(keys=fields.String(validate=validate.Regexp(r"[a-z]+\Z")), values=fields.Float())) == {
        "type": "object",
        "propertyNames": {"type": "string", "pattern": "^(?:[a-z]+$)"},
        "additionalProperties": {"type": "number"},
    }
    assert prop(fields.Dict(keys=fields.String(), values=fields.Integer(allow_none=True))) == {
        "type": "object",
        "additionalProperties": {"type": ["integer", "null"]},
    }


class Point(Schema):
    x = fields.Float(required=True)
    y = fields.Float(required=True)
    label = fields.String()


POINT = {
    "type": "object",
    "properties": {"x": {"type": "number"}, "y": {"type": "number"}, "label": {"type": "string"}},
    "required": ["x", "y"],
    "additionalProperties": False,
}


def test_nested_variants() -> None:
    assert prop(fields.Nested(Point)) == POINT
    assert prop(fields.Nested(Point, many=True)) == {"type": "array", "items": POINT}
    assert prop(fields.Nested(Point(many=True))) == {"type": "array", "items": POINT}
    assert prop(fields.List(fields.Nested(Point))) == {"type": "array", "items": POINT}
    only = prop(fields.Nested(Point, only=("y", "x")))
    assert list(only["properties"]) == ["x", "y"]  # declaration order, not the order of only
    assert prop(fields.Nested(Point, exclude=("label",)))["properties"] == {
        "x": {"type": "number"},
        "y": {"type": "number"},
    }
    assert prop(fields.Nested(lambda: Point(only=("label",)))) == {
        "type": "object",
        "properties": {"label": {"type": "string"}},
        "additionalProperties": False,
    }
    open_point = {k: v for k, v in POINT.items() if k != "additionalProperties"}
    assert prop(fields.Nested(Point, unknown=EXCLUDE)) == open_point


def test_pluck() -> None:
    assert prop(fields.Pluck(Point, "x")) == {"type": "number"}
    assert prop(fields.Pluck(Point, "label", many=True)) == {"type": "array", "items": {"type": "string"}}


def test_custom_field_uses_nearest_known_base() -> None:
    class Slug(fields.String):
        pass

    class Positive(fields.Integer):
        pass

    assert prop(Slug()) == {"type": "string"}
    assert prop(Positive(validate=validate.Range(min=1))) == {"type": "integer", "minimum": 1}


def test_unknown_field_class_raises_with_path_unless_described() -> None:
    class Anything(fields.Field[Any]):
        pass

    class Inner(Schema):
        thing = Anything()

    class Outer(Schema):
        inner = fields.List(fields.Nested(Inner))

    with pytest.raises(SchemaConversionError, match=r"^inner\[\]\.thing: no JSON Schema for Anything"):
        to_json_schema(Outer)
    described = Anything(metadata={"json_schema": {"type": "string", "format": "hostname"}})
    assert prop(described) == {"type": "string", "format": "hostname"}

    class WithMethod(Schema):
        x = fields.Method(deserialize="load_x")
        shown = fields.Method(serialize="dump_shown")  # dump-only: not a property

        def load_x(self, value: Any) -> Any:
            return value

        def dump_shown(self, obj: Any) -> Any:
            return 1

    with pytest.raises(SchemaConversionError, match=r"^x: no JSON Schema for Method"):
        to_json_schema(WithMethod)

    class Described(WithMethod):
        x = fields.Method(deserialize="load_x", metadata={"json_schema": {"type": "integer"}})

    assert to_json_schema(Described)["properties"] == {"x": {"type": "integer"}}


def test_metadata_annotations_and_override() -> None:
    field = fields.String(
        metadata={
            "description": "A city",
            "title": "City",
            "examples": ["Oslo"],
            "deprecated": True,
            "json_schema": {"minLength": 2, "description": "The city"},
        }
    )
    assert prop(field) == {
        "type": "string",
        "title": "City",
        "description": "The city",
        "examples": ["Oslo"],
        "deprecated": True,
        "minLength": 2,
    }
    assert prop(fields.Integer(metadata={"examples": 3})) == {"type": "integer", "examples": [3]}
    assert prop(field, strict=True) == {
        "type": ["string", "null"],
        "title": "City",
        "description": "The city",
        "minLength": 2,
    }


# --- validators --------------------------------------------------------------------------------


def test_one_of_and_equal_and_none_of() -> None:
    assert prop(fields.String(validate=validate.OneOf(["a", "b"]))) == {"type": "string", "enum": ["a", "b"]}
    # OneOf on an enum field: the choices are members, written in the field's JSON form
    assert prop(fields.Enum(Color, validate=validate.OneOf([Color.green]))) == {"type": "string", "enum": ["green"]}
    assert prop(fields.Integer(validate=validate.Equal(3))) == {"type": "integer", "const": 3}
    assert prop(fields.Integer(validate=validate.NoneOf([0]))) == {"type": "integer", "not": {"enum": [0]}}
    assert prop(fields.Date(validate=validate.OneOf([dt.date(2020, 1, 2)]))) == {
        "type": "string",
        "format": "date",
        "enum": ["2020-01-02"],
    }


def test_range() -> None:
    one_to_nine = {"type": "integer", "minimum": 1, "maximum": 9}
    assert prop(fields.Integer(validate=validate.Range(min=1, max=9))) == one_to_nine
    assert prop(fields.Float(validate=validate.Range(0, 1, min_inclusive=False, max_inclusive=False))) == {
        "type": "number",
        "exclusiveMinimum": 0,
        "exclusiveMaximum": 1,
    }
    assert prop(fields.Decimal(validate=validate.Range(min=decimal.Decimal("0.5")))) == {
        "type": "number",
        "minimum": 0.5,
    }
    assert prop(fields.Float(validate=validate.Range(min=float("-inf"), max=2))) == {"type": "number", "maximum": 2}
    two = validate.And(validate.Range(min=1, max=10), validate.Range(min=3, max=20))  # the tighter bounds win
    assert prop(fields.Integer(validate=two)) == {"type": "integer", "minimum": 3, "maximum": 10}
    # a Range on dates has no JSON Schema keyword: left to marshmallow
    assert prop(fields.Date(validate=validate.Range(min=dt.date(2020, 1, 1)))) == {"type": "string", "format": "date"}


def test_length() -> None:
    assert prop(fields.String(validate=validate.Length(min=1, max=5))) == {
        "type": "string",
        "minLength": 1,
        "maxLength": 5,
    }
    assert prop(fields.String(validate=validate.Length(equal=3))) == {"type": "string", "minLength": 3, "maxLength": 3}
    assert prop(fields.List(fields.Integer(), validate=validate.Length(max=4))) == {
        "type": "array",
        "items": {"type": "integer"},
        "maxItems": 4,
    }
    assert prop(fields.Nested(Point, many=True, validate=validate.Length(min=1)))["minItems"] == 1
    assert prop(fields.Dict(validate=validate.Length(min=1))) == {"type": "object", "minProperties": 1}


def test_regexp_anchoring_and_what_is_left_out() -> None:
    def pattern(validator: validate.Regexp) -> Any:
        return prop(fields.String(validate=validator)).get("pattern")

    assert pattern(validate.Regexp(r"^[a-z]+$")) == "^[a-z]+$"  # already anchored
    assert pattern(validate.Regexp(r"[a-z]+")) == "^(?:[a-z]+)"  # marshmallow matches at the start
    assert pattern(validate.Regexp(r"^a|b")) == "^(?:^a|b)"
    assert pattern(validate.Regexp(r"\Aab\Z")) == "^ab$"
    assert pattern(validate.Regexp(r"a\\Z")) == r"^(?:a\\Z)"  # an escaped backslash, not \Z
    # flags and Python-only syntax have no ECMA-262 form: no pattern
    assert pattern(validate.Regexp(r"abc", flags=re.IGNORECASE)) is None
    assert pattern(validate.Regexp(r"(?i)abc")) is None
    assert pattern(validate.Regexp(r"(?P<word>a)(?P=word)")) is None
    assert pattern(validate.Regexp(re.compile(r"x", re.MULTILINE))) is None
    both = fields.String(validate=[validate.Regexp(r"^a"), validate.Regexp(r"^.b")])
    assert prop(both) == {"type": "string", "pattern": "^a", "allOf": [{"pattern": "^.b"}]}
    assert prop(both, strict=True) == {"type": ["string", "null"], "pattern": "^a"}


def test_email_and_url_validators_give_formats() -> None:
    assert prop(fields.String(validate=validate.Email())) == {"type": "string", "format": "email"}
    assert prop(fields.String(validate=validate.URL())) == {"type": "string", "format": "uri"}
    assert prop(fields.String(validate=validate.URL(relative=True))) == {"type": "string", "format": "uri-reference"}
    assert prop(fields.String(validate=validate.URL()), strict=True) == {"type": ["string", "null"]}
    email = {"type": ["string", "null"], "format": "email"}
    assert prop(fields.String(validate=validate.Email()), strict=True) == email


def test_contains_only_and_none_of() -> None:
    assert prop(fields.List(fields.String(), validate=validate.ContainsOnly(["a", "b"]))) == {
        "type": "array",
        "items": {"type": "string", "enum": ["a", "b"]},
    }
    assert prop(fields.List(fields.Enum(Color), validate=validate.ContainsOnly([Color.red]))) == {
        "type": "array",
        "items": {"type": "string", "enum": ["red"]},
    }
    assert prop(fields.List(fields.Integer(), validate=validate.ContainsNoneOf([0]))) == {
        "type": "array",
        "items": {"type": "integer", "not": {"enum": [0]}},
    }


def test_callable_validators_are_ignored_but_still_run() -> None:
    def even(value: int) -> None:
        if value % 2:
            raise ValidationError("odd")

    schema_cls = Schema.from_dict({"n": fields.Integer(required=True, validate=even)})
    assert to_json_schema(schema_cls)["properties"]["n"] == {"type": "integer"}
    with pytest.raises(ValidationError):
        load_data(schema_cls, {"n": 3})


# --- properties, required, defaults, null ------------------------------------------------------


def test_defaults_in_json_form() -> None:
    assert prop(fields.Enum(Color, load_default=Color.green))["default"] == "green"
    assert prop(fields.Enum(Color, by_value=True, load_default=Color.green))["default"] == 2
    assert prop(fields.Decimal(load_default=decimal.Decimal("1.25")))["default"] == 1.25
    assert prop(fields.Date(load_default=dt.date(2020, 1, 2)))["default"] == "2020-01-02"
    assert prop(fields.UUID(load_default=uuid.UUID(int=1)))["default"] == "00000000-0000-0000-0000-000000000001"
    assert prop(fields.List(fields.Integer(), load_default=(1, 2)))["default"] == [1, 2]
    assert prop(fields.String(load_default=None)) == {"type": ["string", "null"], "default": None}
    assert "default" not in prop(fields.List(fields.String(), load_default=list))  # callable
    assert "default" not in prop(fields.Raw(load_default=object()))  # no JSON form
    assert "default" not in prop(fields.Integer(load_default=5), strict=True)


def test_allow_none_forms() -> None:
    assert prop(fields.String(allow_none=True)) == {"type": ["string", "null"]}
    assert prop(fields.Enum(Color, allow_none=True)) == {"type": ["string", "null"], "enum": ["red", "green", None]}
    assert prop(fields.Nested(Point, allow_none=True)) == {"anyOf": [POINT, {"type": "null"}]}
    constant = {"type": "string", "const": "k"}
    assert prop(fields.Constant("k", allow_none=True)) == {"anyOf": [constant, {"type": "null"}]}
    assert prop(fields.Raw(allow_none=True)) == {}
    described = prop(fields.Nested(Point, allow_none=True, metadata={"description": "where"}))
    assert described["description"] == "where" and "anyOf" in described


class Account(Schema):
    class Meta:
        unknown = RAISE

    user_name = fields.String(data_key="userName", required=True)
    password = fields.String(load_only=True)
    created = fields.DateTime(dump_only=True)
    role = fields.String(load_default="user")


def test_data_key_load_only_dump_only_required() -> None:
    assert to_json_schema(Account) == {
        "type": "object",
        "properties": {
            "userName": {"type": "string"},
            "password": {"type": "string"},
            "role": {"type": "string", "default": "user"},
        },
        "required": ["userName"],
        "additionalProperties": False,
    }


def test_unknown_options() -> None:
    class Open(Schema):
        class Meta:
            unknown = INCLUDE

        a = fields.String()

    class Loose(Schema):
        class Meta:
            unknown = EXCLUDE

        a = fields.String()

    assert "additionalProperties" not in to_json_schema(Open)
    assert "additionalProperties" not in to_json_schema(Loose)
    assert "additionalProperties" not in to_json_schema(Point(unknown=EXCLUDE))
    assert to_json_schema(Loose, strict=True)["additionalProperties"] is False
    with pytest.raises(SchemaConversionError, match=r"^Open: unknown=INCLUDE"):
        to_json_schema(Open, strict=True)
    with pytest.raises(SchemaConversionError, match=r"^p: unknown=INCLUDE"):
        to_json_schema(Schema.from_dict({"p": fields.Nested(Point, unknown=INCLUDE)}), strict=True)


def test_root_must_be_an_object() -> None:
    with pytest.raises(SchemaConversionError, match="wrap it"):
        to_json_schema(Point(many=True))

    class Many(Schema):
        class Meta:
            many = True

        a = fields.String()

    with pytest.raises(SchemaConversionError, match=r"^Many: a many=True schema"):
        to_json_schema(Many)
    with pytest.raises(TypeError):
        to_json_schema(dict)  # type: ignore[arg-type]


def test_instance_options_respected() -> None:
    assert list(to_json_schema(Point(only=("label", "x")))["properties"]) == ["x", "label"]
    assert list(to_json_schema(Point(exclude=("x",)))["properties"]) == ["y", "label"]
    assert list(to_json_schema(Point(dump_only=("x",)))["properties"]) == ["y", "label"]
    assert list(to_json_schema(Point(), strict=True)["properties"]) == ["x", "y", "label"]


def test_output_is_deterministic_and_json() -> None:
    class Big(Schema):
        z = fields.String()
        a = fields.Nested(Point)
        m = fields.Integer()

    first = json.dumps(to_json_schema(Big))
    assert list(json.loads(first)["properties"]) == ["z", "a", "m"]
    assert json.dumps(to_json_schema(Big)) == first
    assert "$schema" not in first and "title" not in first


def test_cache_returns_fresh_copies() -> None:
    first = to_json_schema(Point)
    first["properties"]["x"]["type"] = "changed"
    first["required"].append("oops")
    assert to_json_schema(Point) == POINT
    assert to_json_schema(Point, strict=True) != POINT


def test_class_and_instance_share_the_cache_correctly() -> None:
    class Configured(Schema):
        class Meta:
            exclude = ("b",)
            dump_only = ("c",)
            unknown = EXCLUDE

        a = fields.String()
        b = fields.String()
        c = fields.String()
        d = fields.String()

    from_class = to_json_schema(Configured)  # keyed from Meta, without an instance
    assert from_class == {"type": "object", "properties": {"a": {"type": "string"}, "d": {"type": "string"}}}
    assert to_json_schema(Configured()) == from_class
    assert list(to_json_schema(Configured(exclude=("a",)))["properties"]) == ["d"]
    assert to_json_schema(Configured(unknown=RAISE))["additionalProperties"] is False
    assert to_json_schema(Configured) == from_class


def test_schema_with_own_init_is_not_cached() -> None:
    class Dynamic(Schema):
        def __init__(self, extra: str = "", **kwargs: Any) -> None:
            super().__init__(**kwargs)
            if extra:
                self.fields[extra] = self.load_fields[extra] = fields.String()
                self.fields[extra]._bind_to_schema(extra, self)

        a = fields.Integer()

    assert list(to_json_schema(Dynamic())["properties"]) == ["a"]
    assert list(to_json_schema(Dynamic(extra="b"))["properties"]) == ["a", "b"]


# --- recursion ---------------------------------------------------------------------------------


class Tree(Schema):
    name = fields.String(required=True)
    children = fields.Nested(lambda: Tree(), many=True, load_default=list)


class Forest(Schema):
    trees = fields.List(fields.Nested(Tree))
    biggest = fields.Nested(Tree, allow_none=True)


class Person(Schema):
    name = fields.String(required=True)
    pets = fields.List(fields.Nested(lambda: Pet()))


class Pet(Schema):
    name = fields.String(required=True)
    owner = fields.Nested(Person, only=("name",))
    best_friend = fields.Nested(lambda: Person())


TREE_DOC = {"name": "root", "children": [{"name": "a", "children": [{"name": "b", "children": [{"name": "c"}]}]}]}


def test_root_recursion_uses_hash_ref() -> None:
    out = to_json_schema(Tree)
    assert out == {
        "type": "object",
        "properties": {"name": {"type": "string"}, "children": {"type": "array", "items": {"$ref": "#"}}},
        "required": ["name"],
        "additionalProperties": False,
    }
    validator = Draft202012Validator(out)
    validator.validate(TREE_DOC)
    assert not validator.is_valid({"name": "root", "children": [{"name": "a", "children": [{"name": 3}]}]})
    assert load_data(Tree, TREE_DOC)["children"][0]["children"][0]["children"][0] == {"name": "c", "children": []}


def test_nested_recursion_goes_to_defs() -> None:
    out = to_json_schema(Forest)
    assert out["properties"] == {
        "trees": {"type": "array", "items": {"$ref": "#/$defs/Tree"}},
        "biggest": {"anyOf": [{"$ref": "#/$defs/Tree"}, {"type": "null"}]},
    }
    assert out["$defs"]["Tree"]["properties"]["children"] == {"type": "array", "items": {"$ref": "#/$defs/Tree"}}
    validator = Draft202012Validator(out)
    validator.validate({"trees": [TREE_DOC], "biggest": TREE_DOC})
    assert not validator.is_valid({"trees": [{"name": "x", "children": [{"children": []}]}]})


def test_cycle_through_two_schemas() -> None:
    out = to_json_schema(Person)
    Draft202012Validator.check_schema(out)
    # Person → Pet → Person: the root cycle is "#"; Pet's owner is a Person restricted to name
    pet = out["properties"]["pets"]["items"]
    assert pet["properties"]["best_friend"] == {"$ref": "#"}
    assert pet["properties"]["owner"]["properties"] == {"name": {"type": "string"}}
    rex = {"name": "rex", "owner": {"name": "ann"}, "best_friend": {"name": "bob", "pets": []}}
    doc = {"name": "ann", "pets": [rex]}
    Draft202012Validator(out).validate(doc)
    assert not Draft202012Validator(out).is_valid({"name": "ann", "pets": [{"name": "rex", "best_friend": {}}]})
    load_data(Person, doc)
    strict = to_json_schema(Schema.from_dict({"p": fields.Nested(Person)}), strict=True)
    Draft202012Validator.check_schema(strict)
    assert set(strict["$defs"]) == {"Person"}
    assert strict["$defs"]["Person"]["properties"]["pets"]["type"] == ["array", "null"]


def test_defs_names_stay_apart() -> None:
    def recursive(name: str, field: fields.Field[Any]) -> type[Schema]:
        cls: type[Schema] = type(name, (Schema,), {"v": field, "next": fields.Nested(lambda: cls())})
        return cls

    first, second = recursive("Node", fields.String()), recursive("Node", fields.Integer())
    out = to_json_schema(Schema.from_dict({"a": fields.Nested(first), "b": fields.Nested(second)}))
    assert out["properties"] == {"a": {"$ref": "#/$defs/Node"}, "b": {"$ref": "#/$defs/Node_2"}}
    assert out["$defs"]["Node"]["properties"]["v"] == {"type": "string"}
    assert out["$defs"]["Node_2"]["properties"]["v"] == {"type": "integer"}
    assert out["$defs"]["Node_2"]["properties"]["next"] == {"$ref": "#/$defs/Node_2"}
    validator = Draft202012Validator(out)
    assert validator.is_valid({"a": {"v": "x", "next": {"v": "y"}}, "b": {"v": 1, "next": {"v": 2}}})
    assert not validator.is_valid({"b": {"v": 1, "next": {"v": "two"}}})


# --- strict mode -------------------------------------------------------------------------------


class Order(Schema):
    class Meta:
        unknown = EXCLUDE

    id = fields.UUID(required=True)
    note = fields.String(validate=validate.Length(max=200))
    site = fields.URL()
    count = fields.Integer(load_default=1, validate=validate.Range(min=1))
    color = fields.Enum(Color, load_default=Color.red)
    shipping = fields.Nested(Point)
    points = fields.Nested(Point, many=True)
    pair = fields.Tuple((fields.Integer(), fields.Integer()))
    kind = fields.Constant("order")
    not_zero = fields.Integer(validate=validate.NoneOf([0]))
    examples = fields.String(metadata={"examples": ["x"], "deprecated": True})


def test_strict_shape() -> None:
    out = to_json_schema(Order, strict=True)
    Draft202012Validator.check_schema(out)
    for node in objects(out):
        assert node["additionalProperties"] is False
        assert node["required"] == list(node["properties"])
    used = keywords(out)
    assert not used & {"default", "examples", "deprecated", "not", "prefixItems", "const", "propertyNames"}
    props = out["properties"]
    assert props["id"] == {"type": "string", "format": "uuid"}  # required: not nullable
    assert props["note"] == {"type": ["string", "null"]}  # no string length keywords in strict mode
    assert props["site"] == {"type": ["string", "null"]}  # uri is not in OpenAI's format list
    assert props["count"] == {"type": ["integer", "null"], "minimum": 1}
    assert props["color"] == {"type": ["string", "null"], "enum": ["red", "green", None]}
    assert props["shipping"]["anyOf"][1] == {"type": "null"}
    assert props["points"]["type"] == ["array", "null"]
    assert props["pair"] == {"type": ["array", "null"], "items": {"type": "integer"}, "minItems": 2, "maxItems": 2}
    assert props["kind"] == {"type": "string", "enum": ["order"]}  # constant: required, never null


@pytest.mark.parametrize(
    ("field", "message"),
    [
        (fields.Dict(), r"^outer\.bad: fields\.Dict has no strict-mode form"),
        (fields.Raw(), r"^outer\.bad: fields\.Raw has no strict-mode form"),
        (fields.List(fields.Raw()), r"^outer\.bad\[\]: fields\.Raw"),
        (fields.Tuple((fields.Integer(), fields.String())), r"^outer\.bad: a fields\.Tuple of different types"),
    ],
)
def test_strict_refusals_name_the_path(field: fields.Field[Any], message: str) -> None:
    inner = Schema.from_dict({"ok": fields.String(), "bad": field})
    outer = Schema.from_dict({"outer": fields.Nested(inner)})
    to_json_schema(outer)  # fine without strict
    with pytest.raises(SchemaConversionError, match=message):
        to_json_schema(outer, strict=True)


def test_strict_null_loads_to_load_default() -> None:
    doc = {
        "id": "6f1c2a9e-7a6b-4c55-9d1e-2d1b1b0c1a11",
        "note": None,
        "site": None,
        "count": None,
        "color": None,
        "shipping": {"x": 1, "y": 2, "label": None},
        "points": [{"x": 0, "y": 0, "label": None}],
        "pair": None,
        "kind": "order",
        "not_zero": None,
        "examples": None,
    }
    Draft202012Validator(to_json_schema(Order, strict=True)).validate(doc)
    loaded = load_data(Order, doc, strict=True)
    assert loaded == {
        "id": uuid.UUID("6f1c2a9e-7a6b-4c55-9d1e-2d1b1b0c1a11"),
        "count": 1,
        "color": Color.red,
        "shipping": {"x": 1.0, "y": 2.0},
        "points": [{"x": 0.0, "y": 0.0}],
        "kind": "order",
    }
    with pytest.raises(ValidationError) as caught:
        load_data(Order, doc)  # not strict: the nulls are errors
    assert set(caught.value.messages) >= {"note", "count", "color"}


def test_load_data_keeps_meaningful_nulls_and_errors() -> None:
    class S(Schema):
        need = fields.String(required=True)
        maybe = fields.String(allow_none=True, load_default="d")
        items = fields.List(fields.Nested(Point))

    assert load_data(S, {"need": "n", "maybe": None, "items": None}, strict=True) == {"need": "n", "maybe": None}
    assert load_data(S(), {"need": "n", "items": [{"x": 1, "y": 1, "label": None}]}, strict=True) == {
        "need": "n",
        "maybe": "d",
        "items": [{"x": 1.0, "y": 1.0}],
    }
    with pytest.raises(ValidationError) as caught:
        load_data(S, {"need": None}, strict=True)  # required: the null stays, and is an error
    assert caught.value.messages == {"need": ["Field may not be null."]}
    with pytest.raises(ValidationError):
        load_data(S, ["not", "an", "object"], strict=True)
    original = {"need": "n", "maybe": None, "items": [{"x": 1, "y": 2, "label": None}]}
    snapshot = json.loads(json.dumps(original))
    load_data(S, original, strict=True)
    assert original == snapshot  # the caller's data is not modified


def test_load_data_recursive_strict() -> None:
    b = {"name": "b", "children": [{"name": "c", "children": None}]}
    doc = {"name": "r", "children": [{"name": "a", "children": None}, b]}
    assert load_data(Tree, doc, strict=True) == {
        "name": "r",
        "children": [{"name": "a", "children": []}, {"name": "b", "children": [{"name": "c", "children": []}]}],
    }


# --- names -------------------------------------------------------------------------------------


def test_schema_name() -> None:
    class WeatherReport(Schema):
        pass

    class Named(Schema):
        class Meta:
            name = "get weather!"

    class Child(Named):
        pass

    assert schema_name(WeatherReport) == "WeatherReport"
    assert schema_name(WeatherReport()) == "WeatherReport"
    assert schema_name(Named) == "get_weather_"
    assert schema_name(Child) == "Child"  # an inherited Meta.name is not this schema's name
    long_cls = type("L" * 100, (Schema,), {})
    assert schema_name(long_cls) == "L" * 64
    odd = type("Ünïcode Schema", (Schema,), {})
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", schema_name(odd))
    empty = type("Named", (Schema,), {"Meta": type("Meta", (), {"name": "  "})})
    assert schema_name(empty) == "Named"
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", schema_name(Schema.from_dict({})))
