"""Oracle tests for openrouter_rx.json_schema: marshmallow (through ``load_data``) and the
``jsonschema`` validator (draft 2020-12, with its format checker) must accept and reject the
same documents, for representative schemas in normal and strict mode.

Documents come from three places: hand-written valid and invalid ones; the known
differences, each asserted as the exact (jsonschema, marshmallow) verdict pair with the
reason; and hypothesis, which generates documents from the JSON Schema itself and then
mutates them (replaces a value, deletes or adds a key).
"""

from __future__ import annotations

import copy
import enum
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from openrouter_rx.json_schema import load_data, to_json_schema

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class Size(enum.Enum):
    small = "S"
    large = "L"


class Level(enum.Enum):
    low = 1
    high = 2


# Integer(strict=True) in the generated-document schemas: a plain Integer truncates 1.5 to 1
# and coerces "5" (see KNOWN_DIFFERENCES), which JSON Schema's "integer" refuses.


class Flat(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=10))
    age = fields.Integer(strict=True, validate=validate.Range(min=0, max=130, max_inclusive=False))
    ratio = fields.Float(validate=validate.Range(min=0, max=1, min_inclusive=False))
    active = fields.Boolean(load_default=True)
    size = fields.Enum(Size, load_default=Size.small)
    size_code = fields.Enum(Size, by_value=True, data_key="sizeCode")
    tags = fields.List(fields.String(validate=validate.Regexp(r"^[a-z]+$")), validate=validate.Length(max=3))
    note = fields.String(allow_none=True)
    mode = fields.String(validate=validate.OneOf(["fast", "slow"]))


class Point(Schema):
    x = fields.Float(required=True)
    y = fields.Float(required=True)
    label = fields.String()


class LoosePoint(Point):
    class Meta:
        unknown = EXCLUDE


class Shape(Schema):
    center = fields.Nested(Point, required=True)
    corners = fields.Nested(LoosePoint, many=True, validate=validate.Length(min=1))
    anchor = fields.Nested(Point, only=("x",), allow_none=True)
    xs = fields.Pluck(Point, "x", many=True)


class Tree(Schema):
    name = fields.String(required=True)
    children = fields.Nested(lambda: Tree(), many=True, load_default=list)


class Pairs(Schema):
    pair = fields.Tuple((fields.Integer(strict=True), fields.String()), required=True)
    coords = fields.Tuple((fields.Float(), fields.Float()))


class Counts(Schema):
    counts = fields.Dict(
        keys=fields.String(validate=validate.Regexp(r"^[a-z]+$")),
        values=fields.Integer(strict=True, validate=validate.Range(min=0)),
    )


class Misc(Schema):
    kind = fields.Constant("misc")
    level = fields.Enum(Level, by_value=True)
    exact = fields.Integer(validate=validate.Equal(3))
    not_zero = fields.Integer(validate=validate.NoneOf([0]))
    colors = fields.List(fields.String(), validate=validate.ContainsOnly(["red", "blue"]))
    banned = fields.List(fields.String(), validate=validate.ContainsNoneOf(["x"]))
    when = fields.DateTime()
    day = fields.Date()
    at = fields.Time()
    email = fields.Email()
    ident = fields.UUID()
    price = fields.Decimal(as_string=True)
    strict_int = fields.Integer(strict=True)
    plain_int = fields.Integer()


SCHEMAS: list[type[Schema]] = [Flat, Shape, Tree, Pairs, Counts, Misc]
STRICT_OK: list[type[Schema]] = [Flat, Shape, Tree, Misc]  # Pairs (mixed tuple) and Counts (Dict) refuse strict


def verdicts(schema: type[Schema], doc: Any, *, strict: bool) -> tuple[bool, bool]:
    """(jsonschema accepts, marshmallow's load_data accepts) for ``doc``."""
    validator = Draft202012Validator(
        to_json_schema(schema, strict=strict), format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    try:
        load_data(schema, copy.deepcopy(doc), strict=strict)
        loads = True
    except ValidationError:
        loads = False
    return validator.is_valid(doc), loads


@pytest.mark.parametrize(
    ("schema", "strict"),
    [(schema, False) for schema in SCHEMAS] + [(schema, True) for schema in STRICT_OK],
    ids=lambda v: getattr(v, "__name__", str(v)),
)
def test_schemas_are_valid_draft_2020_12(schema: type[Schema], strict: bool) -> None:
    Draft202012Validator.check_schema(to_json_schema(schema, strict=strict))


# --- hand-written documents --------------------------------------------------------------------

UUID = "6f1c2a9e-7a6b-4c55-9d1e-2d1b1b0c1a11"
VALID: list[tuple[type[Schema], dict[str, Any]]] = [
    (Flat, {"name": "a"}),
    (Flat, {"name": "abcdefghij", "age": 0, "ratio": 1, "active": False, "size": "large", "sizeCode": "L"}),
    (Flat, {"name": "a", "age": 129, "ratio": 0.001, "tags": ["ab", "c"], "note": None, "mode": "slow"}),
    (Shape, {"center": {"x": 0, "y": 1.5}}),
    (Shape, {"center": {"x": 0, "y": 0, "label": "c"}, "corners": [{"x": 1, "y": 1, "extra": True}], "xs": [1, 2.5]}),
    (Shape, {"center": {"x": 0, "y": 0}, "anchor": {"x": 3}}),
    (Shape, {"center": {"x": 0, "y": 0}, "anchor": None, "xs": []}),
    (Tree, {"name": "r", "children": [{"name": "a", "children": [{"name": "b", "children": [{"name": "c"}]}]}]}),
    (Pairs, {"pair": [1, "a"], "coords": [0.5, -1]}),
    (Counts, {"counts": {"a": 0, "bc": 7}}),
    (Counts, {"counts": {}}),
    (Misc, {"kind": "misc", "level": 2, "exact": 3, "not_zero": -1, "colors": ["red", "red"], "banned": ["y"]}),
    (Misc, {"when": "2020-01-02T03:04:05+01:00", "day": "2020-02-29", "at": "10:00:00Z", "email": "a@example.com"}),
    (Misc, {"ident": UUID, "price": "-12.50", "strict_int": 4}),
]
INVALID: list[tuple[type[Schema], dict[str, Any]]] = [
    (Flat, {}),
    (Flat, {"name": ""}),
    (Flat, {"name": "abcdefghijk"}),
    (Flat, {"name": 5}),
    (Flat, {"name": "a", "age": 130}),
    (Flat, {"name": "a", "age": -1}),
    (Flat, {"name": "a", "age": 1.5}),
    (Flat, {"name": "a", "ratio": 0}),
    (Flat, {"name": "a", "ratio": 1.01}),
    (Flat, {"name": "a", "size": "S"}),
    (Flat, {"name": "a", "sizeCode": "small"}),
    (Flat, {"name": "a", "size_code": "S"}),  # the attribute name is not the JSON name
    (Flat, {"name": "a", "tags": ["a", "b", "c", "d"]}),
    (Flat, {"name": "a", "tags": ["Ab"]}),
    (Flat, {"name": "a", "mode": "medium"}),
    (Flat, {"name": "a", "active": None}),
    (Flat, {"name": "a", "other": 1}),
    (Shape, {"center": {"x": 0}}),
    (Shape, {"center": {"x": 0, "y": 0, "z": 0}}),
    (Shape, {"center": {"x": 0, "y": 0}, "corners": []}),
    (Shape, {"center": {"x": 0, "y": 0}, "corners": {"x": 1, "y": 1}}),
    (Shape, {"center": {"x": 0, "y": 0}, "anchor": {"x": 1, "y": 2}}),
    (Shape, {"center": {"x": 0, "y": 0}, "xs": ["a"]}),
    (Shape, {"center": None}),
    (Tree, {"name": "r", "children": [{"name": "a", "children": [{"children": []}]}]}),
    (Tree, {"name": "r", "children": [{"name": "a", "children": [{"name": "b", "leaf": True}]}]}),
    (Pairs, {"pair": [1]}),
    (Pairs, {"pair": [1, "a", 2]}),
    (Pairs, {"pair": ["a", 1]}),
    (Pairs, {"pair": {"0": 1, "1": "a"}}),
    (Counts, {"counts": {"A": 1}}),
    (Counts, {"counts": {"a": -1}}),
    (Counts, {"counts": {"a": None}}),
    (Misc, {"level": 3}),
    (Misc, {"level": "low"}),
    (Misc, {"exact": 4}),
    (Misc, {"not_zero": 0}),
    (Misc, {"colors": ["green"]}),
    (Misc, {"banned": ["y", "x"]}),
    (Misc, {"when": "yesterday"}),
    (Misc, {"day": "2021-02-29"}),
    (Misc, {"at": "25:00:00Z"}),
    (Misc, {"email": "no-at-sign"}),
    (Misc, {"ident": "not-a-uuid"}),
    (Misc, {"price": "abc"}),
    (Misc, {"strict_int": "4"}),
]


@pytest.mark.parametrize(("schema", "doc"), VALID, ids=lambda v: getattr(v, "__name__", None))
def test_valid_documents_pass_both(schema: type[Schema], doc: dict[str, Any]) -> None:
    assert verdicts(schema, doc, strict=False) == (True, True)


@pytest.mark.parametrize(("schema", "doc"), INVALID, ids=lambda v: getattr(v, "__name__", None))
def test_invalid_documents_fail_both(schema: type[Schema], doc: dict[str, Any]) -> None:
    assert verdicts(schema, doc, strict=False) == (False, False)


def complete(schema: type[Schema], doc: Any) -> Any:
    """``doc`` as a strict model sends it: every property it leaves out, at every level, is
    there as ``null`` (or as the only value of a one-value enum, e.g. a Constant)."""
    root = to_json_schema(schema, strict=True)

    def fill(node: dict[str, Any], value: Any) -> Any:
        if "$ref" in node:
            ref = node["$ref"]
            return fill(root if ref == "#" else root["$defs"][ref.rsplit("/", 1)[1]], value)
        if "anyOf" in node:
            return fill(node["anyOf"][0], value) if value is not None else value
        if isinstance(value, dict) and "properties" in node:
            out = {key: fill(sub, value[key]) for key, sub in node["properties"].items() if key in value}
            for key, sub in node["properties"].items():
                if key not in value:
                    out[key] = sub["enum"][0] if "null" not in sub.get("type", "") and "enum" in sub else None
            return out | {key: item for key, item in value.items() if key not in out}
        if isinstance(value, list) and isinstance(node.get("items"), dict):
            return [fill(node["items"], item) for item in value]
        return value

    return fill(root, doc)


@pytest.mark.parametrize(("schema", "doc"), [(s, d) for s, d in VALID if s in STRICT_OK and s is not Shape])
def test_strict_valid_documents_with_nulls_pass_both(schema: type[Schema], doc: dict[str, Any]) -> None:
    assert verdicts(schema, complete(schema, doc), strict=True) == (True, True)


def test_strict_nested_documents() -> None:
    doc = {"center": {"x": 0, "y": 0, "label": None}, "corners": None, "anchor": {"x": 1}, "xs": None}
    assert verdicts(Shape, doc, strict=True) == (True, True)
    corners = {**doc, "corners": [{"x": 1, "y": 2, "label": None}]}
    assert verdicts(Shape, corners, strict=True) == (True, True)
    assert verdicts(Shape, {**doc, "center": {"x": 0, "y": None, "label": None}}, strict=True) == (False, False)
    tree = {"name": "r", "children": [{"name": "a", "children": None}]}
    assert verdicts(Tree, tree, strict=True) == (True, True)


# Strict mode leaves out keywords OpenAI does not take; marshmallow still checks them.
STRICT_KNOWN_DIFFERENCES: list[tuple[type[Schema], dict[str, Any], bool, bool, str]] = [
    (Misc, {"not_zero": 0}, True, False, "NoneOf has no strict form (no 'not')"),
    (Misc, {"banned": ["y", "x"]}, True, False, "ContainsNoneOf has no strict form (no 'not')"),
    (Flat, {"name": "a", "active": None}, True, True, "null for an optional field means 'left out'"),
    (Flat, {"name": ""}, True, False, "string Length has no strict form (no minLength)"),
    (Flat, {"name": "abcdefghijk"}, True, False, "string Length has no strict form (no maxLength)"),
]
STRICT_INVALID = [
    (s, d)
    for s, d in INVALID
    if s in STRICT_OK and d and not any(d == known[1] for known in STRICT_KNOWN_DIFFERENCES)
]


@pytest.mark.parametrize(("schema", "doc"), STRICT_INVALID)
def test_strict_invalid_documents_fail_both(schema: type[Schema], doc: dict[str, Any]) -> None:
    assert verdicts(schema, complete(schema, doc), strict=True) == (False, False)


# Where the two legitimately disagree: (schema, document, jsonschema's verdict, marshmallow's
# verdict, why). Asserted exactly, so a change on either side is noticed.
KNOWN_DIFFERENCES: list[tuple[type[Schema], dict[str, Any], bool, bool, str]] = [
    (Misc, {"plain_int": "5"}, False, True, "marshmallow's Integer coerces numeric strings"),
    (Misc, {"plain_int": 1.5}, False, True, "marshmallow's Integer truncates 1.5 to 1 (unless strict=True)"),
    (Flat, {"name": "a", "age": "5"}, False, False, "Integer(strict=True) refuses numeric strings too"),
    (Flat, {"name": "a", "ratio": "0.5"}, False, True, "marshmallow's Float coerces numeric strings"),
    (Flat, {"name": "a", "active": "yes"}, False, True, "marshmallow's Boolean takes truthy strings"),
    (Flat, {"name": "a", "active": 1}, False, True, "marshmallow's Boolean takes 0 and 1"),
    (Misc, {"level": True}, False, True, "Level(True) is Level(1) in Python; JSON Schema enum keeps bool apart"),
    (Misc, {"strict_int": 4.0}, True, False, "4.0 is an integer to JSON Schema; Integer(strict=True) refuses floats"),
    (Misc, {"kind": "other"}, False, True, "fields.Constant loads any value as the constant"),
    (Misc, {"price": 12.5}, False, True, "Decimal(as_string=True) only dumps strings; it loads numbers too"),
    (Misc, {"price": " 12.5"}, False, True, "Python's Decimal() strips whitespace"),
    (Misc, {"when": "2020-01-02T03:04:05"}, False, True, "RFC 3339 needs an offset; marshmallow takes naive times"),
    (Misc, {"when": "2020-01-02 03:04:05+00:00"}, False, True, "fromisoformat takes a space for T"),
    (Misc, {"when": "2020-01-02t03:04:05z"}, True, False, "RFC 3339 allows lower-case t/z; fromisoformat does not"),
    (Misc, {"at": "10:00:00"}, False, True, "RFC 3339 full-time needs an offset; marshmallow's Time does not"),
    (Misc, {"email": "a@b"}, True, False, "the format checker only looks for an @; marshmallow wants a domain"),
    (Misc, {"ident": UUID.replace("-", "")}, False, True, "uuid.UUID() takes the hex form without dashes"),
]


@pytest.mark.parametrize(
    ("schema", "doc", "json_ok", "marshmallow_ok", "why"), KNOWN_DIFFERENCES, ids=[d[4] for d in KNOWN_DIFFERENCES]
)
def test_known_differences(schema: type[Schema], doc: Any, json_ok: bool, marshmallow_ok: bool, why: str) -> None:
    assert verdicts(schema, doc, strict=False) == (json_ok, marshmallow_ok), why


@pytest.mark.parametrize(
    ("schema", "doc", "json_ok", "marshmallow_ok", "why"),
    STRICT_KNOWN_DIFFERENCES,
    ids=[d[4] for d in STRICT_KNOWN_DIFFERENCES],
)
def test_strict_known_differences(
    schema: type[Schema], doc: Any, json_ok: bool, marshmallow_ok: bool, why: str
) -> None:
    assert verdicts(schema, complete(schema, doc), strict=True) == (json_ok, marshmallow_ok), why


# --- generated documents -----------------------------------------------------------------------

# Values a mutation puts in place of another. Kept clear of the coercions above: no 0/1
# (Boolean), no numeric or yes/no strings, no True where an int enum is (Flat has none).
POOL: list[Any] = [None, True, False, "", "zz", "abc", 7, -3, 0.5, -2.5, [], {}, ["zz"], {"zz": 7}]
MAX_DEPTH = 3


def from_schema(root: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Documents valid against ``root`` (this converter's output subset), most of the time."""

    def gen(node: dict[str, Any], depth: int) -> st.SearchStrategy[Any]:
        if "$ref" in node:
            ref = node["$ref"]
            target = root if ref == "#" else root["$defs"][ref.rsplit("/", 1)[1]]
            return gen(target, depth + 1)
        if "const" in node:
            return st.just(node["const"])
        if "enum" in node:
            return st.sampled_from(node["enum"])
        if "anyOf" in node:
            options = node["anyOf"]
            if depth >= MAX_DEPTH and {"type": "null"} in options:
                return st.none()
            return st.one_of([gen(option, depth) for option in options])
        kind = node.get("type")
        if isinstance(kind, list):
            if depth >= MAX_DEPTH and "null" in kind:
                return st.none()
            return st.one_of([gen({**node, "type": one}, depth) for one in kind])
        maker = TYPED.get(kind) if isinstance(kind, str) else None
        if maker is None:
            return st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=3))
        return maker(node, depth, gen)

    return gen(root, 0)


Gen = Callable[[dict[str, Any], int], st.SearchStrategy[Any]]


def _string(node: dict[str, Any], depth: int, gen: Gen) -> st.SearchStrategy[Any]:
    low, high = node.get("minLength", 0), node.get("maxLength", 12)
    if "pattern" in node:
        return st.from_regex(node["pattern"]).filter(lambda text: low <= len(text) <= high)
    return st.text(min_size=low, max_size=high)


def _integer(node: dict[str, Any], depth: int, gen: Gen) -> st.SearchStrategy[Any]:
    low = node.get("minimum", node.get("exclusiveMinimum", -(10**6) - 1) + 1)
    high = node.get("maximum", node.get("exclusiveMaximum", 10**6 + 1) - 1)
    return st.integers(low, high)


def _number(node: dict[str, Any], depth: int, gen: Gen) -> st.SearchStrategy[Any]:
    return st.floats(
        min_value=node.get("minimum", node.get("exclusiveMinimum", -1e9)),
        max_value=node.get("maximum", node.get("exclusiveMaximum", 1e9)),
        exclude_min="exclusiveMinimum" in node,
        exclude_max="exclusiveMaximum" in node,
        allow_nan=False,
        allow_subnormal=False,
    )


def _array(node: dict[str, Any], depth: int, gen: Gen) -> st.SearchStrategy[Any]:
    if "prefixItems" in node:
        return st.tuples(*(gen(item, depth + 1) for item in node["prefixItems"])).map(list)
    low = node.get("minItems", 0)
    high = max(low, min(node.get("maxItems", 3), 0 if depth >= MAX_DEPTH else 3))
    if high == 0:
        return st.just([])  # also ends a recursive schema
    return st.lists(gen(node["items"], depth + 1), min_size=low, max_size=high)


def _object(node: dict[str, Any], depth: int, gen: Gen) -> st.SearchStrategy[Any]:
    if "properties" not in node:  # a Dict
        keys = st.from_regex(node["propertyNames"]["pattern"]) if "propertyNames" in node else st.text(max_size=3)
        values = gen(node.get("additionalProperties", {}), depth + 1)
        return st.dictionaries(keys, values, max_size=3)
    required = set(node.get("required", ()))
    props = {key: gen(sub, depth + 1) for key, sub in node["properties"].items()}
    return st.fixed_dictionaries(
        {key: value for key, value in props.items() if key in required},
        optional={key: value for key, value in props.items() if key not in required},
    )


TYPED: dict[str, Callable[[dict[str, Any], int, Gen], st.SearchStrategy[Any]]] = {
    "string": _string,
    "integer": _integer,
    "number": _number,
    "boolean": lambda node, depth, gen: st.booleans(),
    "null": lambda node, depth, gen: st.none(),
    "array": _array,
    "object": _object,
}


def places(doc: Any) -> list[tuple[Any, Any]]:
    """Every (container, key) holding a value inside ``doc``."""
    found: list[tuple[Any, Any]] = []
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else []
    for key, value in items:
        found.append((doc, key))
        found.extend(places(value))
    return found


def mutate(doc: dict[str, Any], data: st.DataObject) -> tuple[dict[str, Any], str]:
    """``doc`` (a copy) with one random change, and which kind of change it was."""
    doc = copy.deepcopy(doc)
    op = data.draw(st.sampled_from(["none", "replace", "delete", "add"]))
    spots = places(doc)
    if op == "add":
        dicts = [doc, *(parent[key] for parent, key in spots if isinstance(parent[key], dict))]
        data.draw(st.sampled_from(dicts))["zz_extra"] = data.draw(st.sampled_from(POOL))
    elif op != "none" and spots:
        parent, key = data.draw(st.sampled_from(spots))
        if op == "replace":
            parent[key] = copy.deepcopy(data.draw(st.sampled_from(POOL)))
        else:
            del parent[key]
    return doc, op


@pytest.mark.parametrize("schema", SCHEMAS, ids=lambda s: s.__name__)
@SETTINGS
@given(data=st.data())
def test_generated_documents_agree(schema: type[Schema], data: st.DataObject) -> None:
    if schema is Misc:
        return  # formats, Constant, int enum: covered by the hand-written documents above
    doc, _ = mutate(data.draw(from_schema(to_json_schema(schema))), data)
    json_ok, marshmallow_ok = verdicts(schema, doc, strict=False)
    event(f"valid={json_ok}")  # pytest --hypothesis-show-statistics: both verdicts occur
    assert json_ok == marshmallow_ok, doc


def only_string_length_errors(schema: type[Schema], doc: Any) -> bool:
    """True when marshmallow refuses ``doc`` (strict) for string lengths alone: strict schemas
    leave minLength/maxLength out (OpenAI does not list them), so only marshmallow checks them."""
    try:
        load_data(schema, copy.deepcopy(doc), strict=True)
    except ValidationError as error:
        leaves: list[str] = []

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                for value in node.values():
                    walk(value)
            elif isinstance(node, list):
                for value in node:
                    walk(value) if isinstance(value, dict | list) else leaves.append(str(value))
            else:
                leaves.append(str(node))

        walk(error.messages)
        return bool(leaves) and all(m.startswith(("Shorter than", "Longer than", "Length must be")) for m in leaves)
    return False


@pytest.mark.parametrize("schema", [Flat, Shape, Tree], ids=lambda s: s.__name__)
@SETTINGS
@given(data=st.data())
def test_generated_documents_agree_strict(schema: type[Schema], data: st.DataObject) -> None:
    doc, op = mutate(data.draw(from_schema(to_json_schema(schema, strict=True))), data)
    json_ok, marshmallow_ok = verdicts(schema, doc, strict=True)
    if json_ok and not marshmallow_ok and only_string_length_errors(schema, doc):
        return  # the one thing a strict schema cannot say; marshmallow still checks it
    if json_ok:
        assert marshmallow_ok, doc  # whatever the strict schema lets the model send loads
    if op in ("delete", "add"):
        # a left-out property or an extra one: strict JSON Schema refuses it, marshmallow
        # may not (optional fields, EXCLUDE): only the direction above holds
        return
    assert json_ok == marshmallow_ok, doc
