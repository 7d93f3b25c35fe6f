"""@tool: docstrings → descriptions, signatures → marshmallow schemas, and the errors at definition time."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import functools
import inspect
import json
import uuid
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Annotated, Any, Literal, NewType, Optional

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import Schema, ValidationError, fields, validate

from openrouter_rx._docstrings import parse_docstring
from openrouter_rx._signature import dataclass_schema, function_schema
from openrouter_rx.errors import ToolArgumentsError
from openrouter_rx.tools import Tool, tool

# -- docstrings ----------------------------------------------------------------


def google(city: str, unit: str = "C") -> str:
    """Current weather
    for a city.

    Looks the city up first; this paragraph is not part of the summary.

    Args:
        city (str): The city name,
            e.g. "Oslo".
        unit: Temperature unit: C or F.

    Returns:
        str: a sentence; never a description.

    Raises:
        KeyError: unknown city.
    """
    return city + unit


def sphinx(city: str, unit: str = "C") -> str:
    """Current weather for a city.

    :param city: The city name,
        e.g. "Oslo".
    :param str unit: Temperature unit.
    :type unit: str
    :returns: a sentence.
    :raises KeyError: unknown city.
    """
    return city + unit


def numpy(city: str, unit: str = "C") -> str:
    """Current weather for a city.

    Parameters
    ----------
    city : str
        The city name,
        e.g. "Oslo".
    unit : {"C", "F"}, optional
        Temperature unit.

    Returns
    -------
    str
        a sentence.
    """
    return city + unit


def test_google_docstring() -> None:
    doc = parse_docstring(google.__doc__)
    assert doc.summary == "Current weather for a city."
    assert doc.params == {"city": 'The city name, e.g. "Oslo".', "unit": "Temperature unit: C or F."}


def test_sphinx_docstring() -> None:
    doc = parse_docstring(sphinx.__doc__)
    assert doc.summary == "Current weather for a city."
    assert doc.params == {"city": 'The city name, e.g. "Oslo".', "unit": "Temperature unit."}


def test_numpy_docstring() -> None:
    doc = parse_docstring(numpy.__doc__)
    assert doc.summary == "Current weather for a city."
    assert doc.params == {"city": 'The city name, e.g. "Oslo".', "unit": "Temperature unit."}


EXPECTED_WEATHER = {
    "type": "function",
    "function": {
        "description": "Current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": 'The city name, e.g. "Oslo".'},
                "unit": {"type": "string", "description": "Temperature unit.", "default": "C"},
            },
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}


@pytest.mark.parametrize("fn", [google, sphinx, numpy], ids=["google", "sphinx", "numpy"])
def test_decorated_function_to_dict_per_docstring_style(fn: Any) -> None:
    made = tool(fn)
    expected = json.loads(json.dumps(EXPECTED_WEATHER))
    expected["function"] = {"name": fn.__name__, **expected["function"]}
    if fn is google:
        expected["function"]["parameters"]["properties"]["unit"]["description"] = "Temperature unit: C or F."
    assert made.to_dict() == expected
    assert made.name == fn.__name__ and made.function is fn and made("Oslo") == "OsloC"
    assert "Returns" not in json.dumps(made.to_dict()) and "a sentence" not in json.dumps(made.to_dict())


def test_decorator_options() -> None:
    made = tool(name="weather-now", description="Given description.", strict=True)(google)
    function = made.to_dict()["function"]
    assert (function["name"], function["description"], function["strict"]) == (
        "weather-now",
        "Given description.",
        True,
    )
    assert function["parameters"]["required"] == ["city", "unit"]
    assert function["parameters"]["properties"]["unit"]["type"] == ["string", "null"]
    assert made.load_arguments('{"city": "Oslo", "unit": null}') == {"city": "Oslo", "unit": "C"}
    assert tool()(google).to_dict() == tool(google).to_dict()


@pytest.mark.parametrize(
    ("text", "summary", "params"),
    [
        (None, "", {}),
        ("   ", "", {}),
        ("One line.", "One line.", {}),
        ("Summary.\n    Args:\n        x: the x.\n", "Summary.", {"x": "the x."}),  # no blank line before Args
        ("Summary.\n\n    Arguments:\n        *names: all of them.\n        **extra: more.\n", "Summary.",
         {"names": "all of them.", "extra": "more."}),
        ("Summary.\n\n    :param x: ex\n    :returns: nothing\n", "Summary.", {"x": "ex"}),
        ("S.\n\n    Args:\n        pair (tuple(int, int)): two (a: b).\n        n (int, optional): count.\n", "S.",
         {"pair": "two (a: b).", "n": "count."}),
        ("Summary.\n\n    Parameters\n    ----------\n    a, b : int\n        Both.\n", "Summary.",
         {"a": "Both.", "b": "Both."}),
        ("Summary.\n\n    Returns:\n        x: not a parameter.\n", "Summary.", {}),
        ("Fetches the following:\n    the weather.\n\n    Args:\n        x: the x.\n",
         "Fetches the following: the weather.", {"x": "the x."}),
        ("Summary.\n\n    Args:\n        x: the x.\n\n    Note:\n        y: not a parameter.\n", "Summary.",
         {"x": "the x."}),
    ],
    ids=[
        "none", "blank", "one-line", "no-gap", "stars", "sphinx-returns", "nested-parens", "numpy-two-names",
        "returns-only", "colon", "note",
    ],
)
def test_docstring_shapes(text: str | None, summary: str, params: dict[str, str]) -> None:
    doc = parse_docstring(text)
    assert (doc.summary, doc.params) == (summary, params)


# -- type mapping ----------------------------------------------------------------


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Level(enum.Enum):
    LOW = 1
    HIGH = 2


@dataclasses.dataclass
class Point:
    """A point.

    Attributes:
        x: across.
        y: up.
    """

    x: float
    y: float = 0.0


@dataclasses.dataclass
class Node:
    name: str
    children: list[Node] = dataclasses.field(default_factory=list)


class PetSchema(Schema):
    name = fields.String(required=True)


def field_of(annotation: Any, default: Any = dataclasses.MISSING) -> fields.Field[Any]:
    """The field built for one parameter annotated ``annotation``."""

    def fn(value: Any) -> None: ...

    fn.__annotations__ = {"value": annotation}
    if default is not dataclasses.MISSING:
        fn.__defaults__ = (default,)
    return function_schema(fn, name="S")().fields["value"]


def load(annotation: Any, value: Any) -> Any:
    def fn(value: Any) -> None: ...

    fn.__annotations__ = {"value": annotation}
    return function_schema(fn, name="S")().load({"value": value})["value"]


def rejects(annotation: Any, value: Any) -> bool:
    try:
        load(annotation, value)
    except ValidationError:
        return True
    return False


@pytest.mark.parametrize(
    ("annotation", "kind", "good", "loaded", "bad"),
    [
        (str, fields.String, "x", "x", [1, None, True]),
        (int, fields.Integer, 3, 3, ["3", 3.5, True, None]),
        (int, fields.Integer, 3.0, 3, []),  # 3.0 is an integer in JSON Schema too
        (float, fields.Float, 3, 3.0, ["1.5", True, None]),
        (float, fields.Float, 1.5, 1.5, [[1.5]]),
        (bool, fields.Boolean, True, True, ["yes", "true", 1, 0, None]),
        (bool, fields.Boolean, False, False, ["no"]),
        (Decimal, fields.Decimal, 0.1, Decimal("0.1"), ["0.1", True]),
        (dt.datetime, fields.DateTime, "2024-05-01T10:00:00+00:00",
         dt.datetime(2024, 5, 1, 10, tzinfo=dt.UTC), [1714557600, "soon"]),
        (dt.date, fields.Date, "2024-05-01", dt.date(2024, 5, 1), ["May 1st", 20240501]),
        (dt.time, fields.Time, "10:30:00", dt.time(10, 30), ["half past ten"]),
        (uuid.UUID, fields.UUID, "12345678-1234-5678-1234-567812345678",
         uuid.UUID("12345678-1234-5678-1234-567812345678"), ["nope", 5]),
        (Any, fields.Raw, {"any": ["thing"]}, {"any": ["thing"]}, []),
        (Literal["a", "b"], fields.String, "b", "b", ["c", 1]),
        (Literal[1, 2], fields.Integer, 2, 2, [3, "1", True, 1.5]),
        (Literal["a", 1], fields.Raw, 1, 1, ["1", 2]),
        (Color, fields.Enum, "blue", Color.BLUE, ["BLUE", 1]),
        (Level, fields.Enum, 2, Level.HIGH, ["HIGH", 3]),
        (list[int], fields.List, [1, 2], [1, 2], [[1, "2"], "12", {"a": 1}]),
        (Sequence[str], fields.List, ["a"], ["a"], [[1]]),
        (tuple[int, str], fields.Tuple, [1, "a"], (1, "a"), [[1], [1, "a", 2], ["a", 1]]),
        (tuple[int, ...], fields.List, [1, 2, 3], (1, 2, 3), [[1, "a"]]),
        (dict[str, int], fields.Dict, {"a": 1}, {"a": 1}, [{"a": "1"}, [1]]),
        (Mapping[str, float], fields.Dict, {"a": 1.5}, {"a": 1.5}, [{"a": "x"}]),
        (Point, fields.Nested, {"x": 1}, Point(1.0, 0.0), [{"y": 1}, {"x": 1, "z": 2}, [1, 2]]),
        (PetSchema, fields.Nested, {"name": "Rex"}, {"name": "Rex"}, [{}]),
        (Optional[int], fields.Integer, None, None, ["x"]),  # noqa: UP045 - Optional is a supported spelling
        (int | None, fields.Integer, 4, 4, ["4"]),
    ],
    ids=lambda value: getattr(value, "__name__", None) or repr(value)[:30],
)
def test_type_mapping(annotation: Any, kind: type, good: Any, loaded: Any, bad: list[Any]) -> None:
    assert type(field_of(annotation)) is kind
    assert load(annotation, good) == loaded
    for value in bad:
        assert rejects(annotation, value), value


def test_recursive_dataclass_loads_instances() -> None:
    tree = {"name": "root", "children": [{"name": "a", "children": [{"name": "a1"}]}, {"name": "b"}]}
    assert load(Node, tree) == Node("root", [Node("a", [Node("a1")]), Node("b")])
    assert rejects(Node, {"name": "root", "children": [{"name": 1}]})


def test_dataclass_schema_reads_defaults_factories_and_attribute_docs() -> None:
    @dataclasses.dataclass
    class Config:
        tags: list[str] = dataclasses.field(default_factory=list, metadata={"description": "labels"})
        point: Point | None = None
        hidden: int = dataclasses.field(default=0, init=False)

    schema = dataclass_schema(Config)()
    assert set(schema.fields) == {"tags", "point"}  # init=False fields are not arguments
    assert schema.fields["tags"].metadata == {"description": "labels"}
    first, second = schema.load({}), schema.load({})
    assert first == Config() and first.tags is not second.tags  # the factory runs per load
    nested = dataclass_schema(Point)().fields
    assert nested["x"].metadata == {"description": "across."} and nested["y"].load_default == 0.0
    with pytest.raises(TypeError, match="not a dataclass"):
        dataclass_schema(PetSchema)


def test_defaults_optional_and_required() -> None:
    def fn(a: int, b: int = 2, c: str | None = None, d: int | None = 5, e: Optional[str] = None) -> None: ...  # noqa: UP045

    schema = function_schema(fn, name="S")()
    a, b, c, d, e = (schema.fields[n] for n in "abcde")
    assert a.required and not a.allow_none
    assert not b.required and b.load_default == 2 and not b.allow_none
    assert not c.required and c.load_default is None and c.allow_none
    assert not d.required and d.load_default == 5 and d.allow_none
    assert e.allow_none and e.load_default is None
    assert schema.load({"a": 1}) == {"a": 1, "b": 2, "c": None, "d": 5, "e": None}
    with pytest.raises(ValidationError) as caught:
        schema.load({"b": None})
    assert caught.value.messages == {"a": ["Missing data for required field."], "b": ["Field may not be null."]}


def test_optional_without_default_is_required_but_nullable() -> None:
    def fn(a: int | None) -> None: ...

    field = function_schema(fn, name="S")().fields["a"]
    assert field.required and field.allow_none


def test_unknown_keys_are_errors() -> None:
    def fn(a: int) -> None: ...

    with pytest.raises(ValidationError) as caught:
        function_schema(fn, name="S")().load({"a": 1, "b": 2})
    assert caught.value.messages == {"b": ["Unknown field."]}


def test_annotated_description_validators_and_fields() -> None:
    def fn(
        city: Annotated[str, "The city"],
        count: Annotated[int, validate.Range(min=1, max=5), "How many"] = 1,
        code: Annotated[str, fields.String(validate=validate.Length(equal=2))] = "NO",
        note: Annotated[str | None, "A note"] = None,
    ) -> None:
        """Doc.

        Args:
            city: loses to Annotated.
            count: also loses.
        """

    doc = parse_docstring(fn.__doc__)
    schema = function_schema(fn, name="S", descriptions=doc.params)()
    assert schema.fields["city"].metadata == {"description": "The city"}
    assert schema.fields["count"].metadata == {"description": "How many"}
    assert schema.fields["note"].metadata == {"description": "A note"} and schema.fields["note"].allow_none
    assert schema.fields["code"].load_default == "NO" and not schema.fields["code"].required
    assert schema.load({"city": "x"}) == {"city": "x", "count": 1, "code": "NO", "note": None}
    with pytest.raises(ValidationError) as caught:
        schema.load({"city": "x", "count": 6, "code": "NOR"})
    assert set(caught.value.messages) == {"count", "code"}


def test_keyword_names_and_meta_keep_their_json_names() -> None:
    def fn(from_: str, Meta: int = 0) -> tuple[str, int]:
        return from_, Meta

    schema = function_schema(fn, name="S")()
    assert schema.load({"from": "Oslo", "Meta": 2}) == {"from_": "Oslo", "Meta": 2}
    with pytest.raises(ValidationError):
        schema.load({"from_": "Oslo"})


def test_new_type_is_its_supertype() -> None:
    user_id = NewType("user_id", int)
    assert type(field_of(user_id)) is fields.Integer and load(user_id, 7) == 7 and rejects(user_id, "7")


@dataclasses.dataclass
class Span:
    start: int
    end: int

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError("end is before start")


def test_dataclass_post_init_errors_are_validation_errors() -> None:
    def fn(span: Span) -> None: ...

    made = tool(fn)
    assert made.load_arguments('{"span": {"start": 1, "end": 2}}') == {"span": Span(1, 2)}
    with pytest.raises(ToolArgumentsError) as caught:
        made.load_arguments('{"span": {"start": 2, "end": 1}}')
    assert caught.value.messages == {"span": {"_schema": ["Span: end is before start"]}}


# -- errors at definition time ------------------------------------------------------


def test_var_args_and_kwargs_are_refused() -> None:
    def star(*values: int) -> None: ...

    def double_star(a: int, **options: str) -> None: ...

    with pytest.raises(TypeError, match=r"'values' .*\*values"):
        tool(star)
    with pytest.raises(TypeError, match=r"'options' .*\*\*options"):
        tool(double_star)


def test_missing_annotation_is_refused() -> None:
    def fn(city: str, unit) -> None: ...  # type: ignore[no-untyped-def]

    with pytest.raises(TypeError, match=r"parameter 'unit' of function .*fn has no type annotation"):
        tool(fn)


def test_an_unbound_method_gets_a_hint() -> None:
    class Service:
        def lookup(self, city: str) -> str:
            return city

    with pytest.raises(TypeError, match=r"parameter 'self' .* decorate a module-level function or a bound method"):
        tool(Service.lookup)
    bound = tool(Service().lookup)
    assert list(bound.json_schema["properties"]) == ["city"] and bound.invoke({"city": "Oslo"}) == "Oslo"


def test_positional_only_is_refused() -> None:
    def fn(a: int, /) -> None: ...

    with pytest.raises(TypeError, match=r"'a' .* positional-only"):
        tool(fn)


class Opaque:
    pass


@pytest.mark.parametrize(
    ("annotation", "shown"),
    [
        (Opaque, "Opaque"),
        (set[int], "set"),
        (int | str, "unions other than X | None"),
        (dict[int, str], "JSON object keys are strings"),
        (list[Opaque], "Opaque"),
        (Literal[Color.RED], "Literal values must be strings, numbers or booleans"),
    ],
)
def test_unsupported_types_are_refused_naming_the_parameter(annotation: Any, shown: str) -> None:
    def fn(thing: Any) -> None: ...

    fn.__annotations__ = {"thing": annotation}
    with pytest.raises(TypeError, match="parameter 'thing'") as caught:
        tool(fn)
    assert shown in str(caught.value)


def test_unresolvable_annotation_is_a_type_error() -> None:
    def fn(thing: NoSuchType) -> None: ...  # type: ignore[name-defined]  # noqa: F821

    with pytest.raises(TypeError, match="cannot read the type annotations"):
        tool(fn)


@pytest.mark.parametrize("name", ["", "has space", "dots.not.allowed", "x" * 65, "ünïcode", "<lambda>"])
def test_bad_names_are_refused_at_definition(name: str) -> None:
    def fn(a: int) -> None: ...

    with pytest.raises(ValueError, match="invalid tool name"):
        tool(name=name)(fn)
    with pytest.raises(ValueError, match="invalid tool name"):
        Tool(name)


def test_lambda_needs_a_name() -> None:
    with pytest.raises(ValueError, match="invalid tool name '<lambda>'"):
        tool(lambda a: a)
    assert tool(name="echo")(lambda: "hi")() == "hi"


def test_a_callable_without_name_needs_one() -> None:
    def add(a: int, b: int) -> int:
        return a + b

    with pytest.raises(ValueError, match=r"has no __name__: give the tool a name with @tool\(name=...\)"):
        tool(functools.partial(add, b=1))
    plus_one = tool(name="plus_one")(functools.partial(add, b=1))
    assert plus_one.invoke(plus_one.load_arguments('{"a": 2}')) == 3
    assert list(plus_one.json_schema["properties"]) == ["a", "b"]  # b stays an (optional) argument


def test_the_tool_keeps_the_function_signature() -> None:
    assert str(inspect.signature(tool(google))) == "(city: 'str', unit: 'str' = 'C') -> 'str'"


def test_a_class_is_not_a_tool_function() -> None:
    with pytest.raises(TypeError, match="needs a function"):
        tool(Point)


class Greeter:
    def __call__(self, who: str) -> str:
        return f"hello {who}"


def test_a_callable_object_is_read_through_its_call_method() -> None:
    greet = tool(name="greet")(Greeter())
    assert list(greet.json_schema["properties"]) == ["who"]
    assert greet.invoke(greet.load_arguments('{"who": "Ada"}')) == "hello Ada"


DOC_PIECES = st.sampled_from(
    ["Args:", "Returns:", "Parameters", "----------", ":param x:", ":param int y: why", "x (int): the x", "x : int",
     "    ", "", "text: with colon", "*args: more", "(a)", "Note:", "a, b : str"]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 8), DOC_PIECES | st.text(max_size=12)), max_size=12))
def test_any_docstring_parses_to_one_line_texts(lines: list[tuple[int, str]]) -> None:
    doc = parse_docstring("\n".join(" " * indent + text for indent, text in lines))
    assert "\n" not in doc.summary and all("\n" not in text and text for text in doc.params.values())
    assert all(name.isidentifier() for name in doc.params)
