"""Tools the model may call: one definition for what is sent and what comes back.

A :class:`Tool` pairs a name and a description with a marshmallow schema. The same schema
becomes the JSON Schema in the request's ``tools`` entry (:meth:`Tool.to_dict`) and
validates the arguments the model sends back (:meth:`Tool.load_arguments`), so the two
cannot drift apart. :func:`tool` builds one from a plain annotated function, its
docstring giving the descriptions::

    @tool
    def get_weather(city: str, unit: Literal["C", "F"] = "C") -> str:
        '''Current weather for a city.

        Args:
            city: the city name, e.g. "Oslo".
            unit: the temperature unit.
        '''
        return f"12 degrees {unit} in {city}"

    client.stream(messages, tools=[get_weather])
    arguments = get_weather.load_arguments(call_arguments_text)  # ToolArgumentsError if bad
    result = get_weather.invoke(arguments)
    get_weather("Oslo")  # still the function

See :mod:`openrouter_rx._signature` for the type mapping and
:mod:`openrouter_rx._docstrings` for the docstring styles read.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from typing import Any, NoReturn, overload

from marshmallow import Schema

from ._docstrings import parse_docstring
from ._signature import function_schema
from ._tool_arguments import load_arguments, renames
from .json_schema import to_json_schema

__all__ = ["Tool", "tool", "check_tool_name"]

_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_NO_PARAMETERS: dict[str, Any] = {"type": "object", "properties": {}}


def check_tool_name(name: Any) -> str:
    """Return ``name`` if OpenRouter accepts it as a function name, else raise.

    Args:
        name: the candidate name.

    Returns:
        The name, unchanged.

    Raises:
        ValueError: unless it matches ``^[a-zA-Z0-9_-]{1,64}$``.
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(
            f"invalid tool name {name!r}: use 1 to 64 characters among letters, digits, '_' and '-'"
        )
    return name


class Tool:
    """A function the model may call: name, description, parameters schema, and the code.

    Args:
        name: the function name the model sees (``^[a-zA-Z0-9_-]{1,64}$``, checked here).
        description: what the tool does, for the model ("" sends none).
        parameters: a marshmallow Schema (class or instance), which both describes and
            validates the arguments; or a raw JSON Schema dict (sent as is, arguments only
            checked to be a JSON object); or ``None`` for a tool without parameters.
        function: the code to run (:meth:`invoke`, :meth:`__call__`), if any.
        strict: ask for OpenAI-style strict arguments (``"strict": true``; every property
            required, optional ones nullable; nulls of optional fields dropped on load).

    Raises:
        ValueError: for an invalid name.
        TypeError: for parameters of another kind, a non-callable function.
        SchemaConversionError: when the schema has no JSON Schema form (in strict mode:
            ``Dict`` or ``Raw`` fields, for instance).

    A tool is immutable; equality is identity. Attributes: ``name``, ``description``,
    ``strict``, ``parameters_schema`` (the marshmallow schema instance, ``None`` for a raw
    dict or no parameters), ``json_schema`` (a fresh copy each time) and ``function``.
    """

    name: str
    description: str
    strict: bool
    parameters_schema: Schema | None
    function: Callable[..., Any] | None
    _json_schema: dict[str, Any]
    _wire: dict[str, Any] | None
    _renames: dict[str, str]

    def __init__(
        self,
        name: str,
        description: str = "",
        parameters: type[Schema] | Schema | Mapping[str, Any] | None = None,
        *,
        function: Callable[..., Any] | None = None,
        strict: bool = False,
    ) -> None:
        check_tool_name(name)
        if not isinstance(description, str):
            raise TypeError(f"tool {name!r}: description must be a string, not {type(description).__name__}")
        if function is not None and not callable(function):
            raise TypeError(f"tool {name!r}: function must be callable, not {type(function).__name__}")
        schema: Schema | None = None
        if parameters is None:
            json_schema = copy.deepcopy(_NO_PARAMETERS)
            if strict:  # strict mode: every object says additionalProperties false, even an empty one
                json_schema["additionalProperties"] = False
        elif isinstance(parameters, type) and issubclass(parameters, Schema):
            schema = parameters()
        elif isinstance(parameters, Schema):
            schema = parameters
        elif isinstance(parameters, Mapping):
            json_schema = copy.deepcopy(dict(parameters))
        else:
            raise TypeError(
                f"tool {name!r}: parameters must be a marshmallow Schema, a JSON Schema dict or None,"
                f" not {type(parameters).__name__}"
            )
        if schema is not None:
            json_schema = to_json_schema(schema, strict=bool(strict))
        fields = {
            "name": name,
            "description": description,
            "strict": bool(strict),
            "parameters_schema": schema,
            "function": function,
            "_json_schema": json_schema,
            "_wire": None,
            "_renames": renames(schema),
        }
        for key, value in fields.items():
            object.__setattr__(self, key, value)

    def __setattr__(self, key: str, value: Any) -> NoReturn:
        raise AttributeError(f"Tool is immutable (cannot set {key!r}); build a new one")

    def __delattr__(self, key: str) -> NoReturn:
        raise AttributeError(f"Tool is immutable (cannot delete {key!r})")

    @property
    def json_schema(self) -> dict[str, Any]:
        """The JSON Schema of the parameters (a copy; ``{"type": "object", "properties": {}}`` if none)."""
        return copy.deepcopy(self._json_schema)

    def to_dict(self) -> dict[str, Any]:
        """The entry for the request's ``tools`` list.

        Returns:
            ``{"type": "function", "function": {"name", "description", "parameters"[, "strict"]}}``
            (no ``description`` key when it is empty). A tool made by :meth:`coerce` from a
            dict returns an equal copy of that dict.
        """
        if self._wire is not None:
            return copy.deepcopy(self._wire)
        function: dict[str, Any] = {"name": self.name}
        if self.description:
            function["description"] = self.description
        function["parameters"] = self.json_schema
        if self.strict:
            function["strict"] = True
        return {"type": "function", "function": function}

    def load_arguments(self, arguments: str | Mapping[str, Any]) -> Any:
        """Parse and validate the arguments of a call to this tool.

        Args:
            arguments: the JSON text the model sent (blank text means ``{}``), or an
                already-parsed mapping.

        Returns:
            What the schema loads (a dict keyed by parameter/attribute names, dataclass
            instances and Enum members inside, or the object a ``post_load`` builds).
            A raw-dict tool returns the parsed object.

        Raises:
            ToolArgumentsError: when the text is not JSON or not an object
                (``messages={"_json": [why]}``), or does not pass the schema
                (``messages`` as marshmallow gives them, keyed by field). The message
                names the tool and the failing fields, never the values.
        """
        return load_arguments(self.name, self.parameters_schema, self.strict, arguments)

    def invoke(self, arguments: Any) -> Any:
        """Run the tool's function with loaded arguments (what :meth:`load_arguments` returns).

        Args:
            arguments: a mapping is passed as keyword arguments (a key that is a field's
                ``data_key`` is renamed to the field's attribute name); anything else is
                passed as the one positional argument.

        Returns:
            What the function returns.

        Raises:
            TypeError: when the tool has no function.
        """
        function = self._require_function()
        if isinstance(arguments, Mapping):
            keywords = {self._renames.get(str(key), str(key)): value for key, value in arguments.items()}
            return function(**keywords)
        return function(arguments)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the function directly, as if it had not been decorated."""
        return self._require_function()(*args, **kwargs)

    @classmethod
    def coerce(cls, value: Tool | Mapping[str, Any] | Callable[..., Any]) -> Tool:
        """Make a tool of what a ``tools=`` list may hold.

        Args:
            value: a :class:`Tool` (returned as is); an OpenRouter tool dict
                ``{"type": "function", "function": {"name": ..., ...}}`` (its
                ``parameters`` kept as raw JSON Schema, ``to_dict()`` gives an equal dict);
                or a plain annotated function (passed through :func:`tool`).

        Returns:
            The tool.

        Raises:
            TypeError: for anything else, including dicts of another shape.
            ValueError: for an invalid function name.
        """
        if isinstance(value, Tool):
            return value
        if isinstance(value, Mapping):
            return cls._from_wire(value)
        if callable(value) and not isinstance(value, type):
            return tool(value)
        raise TypeError(f"cannot make a tool from {type(value).__name__}: pass a Tool, a tool dict or a function")

    @classmethod
    def _from_wire(cls, value: Mapping[str, Any]) -> Tool:
        function = value.get("function")
        if value.get("type") != "function" or not isinstance(function, Mapping) or "name" not in function:
            raise TypeError("a tool dict looks like {'type': 'function', 'function': {'name': ..., 'parameters': ...}}")
        description = function.get("description") or ""
        parameters = function.get("parameters")
        if parameters is not None and not isinstance(parameters, Mapping):
            raise TypeError(f"tool {function['name']!r}: 'parameters' must be a JSON Schema object")
        made = cls(function["name"], description, parameters, strict=function.get("strict") is True)
        wire = copy.deepcopy(dict(value))
        wire["function"] = dict(wire["function"])
        object.__setattr__(made, "_wire", wire)
        return made

    def __repr__(self) -> str:
        properties = self._json_schema.get("properties")
        names = list(properties) if isinstance(properties, Mapping) else []
        return f"Tool(name={self.name!r}, parameters={names!r})"

    def _require_function(self) -> Callable[..., Any]:
        if self.function is None:
            raise TypeError(f"tool {self.name!r} has no function to run")
        return self.function


@overload
def tool(
    fn: Callable[..., Any], *, name: str | None = None, description: str | None = None, strict: bool = False
) -> Tool: ...


@overload
def tool(
    fn: None = None, *, name: str | None = None, description: str | None = None, strict: bool = False
) -> Callable[[Callable[..., Any]], Tool]: ...


def tool(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    description: str | None = None,
    strict: bool = False,
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Make a :class:`Tool` of an annotated function (``@tool`` or ``@tool(name=..., strict=True)``).

    The parameters become a marshmallow schema (see :mod:`openrouter_rx._signature`:
    unknown keys rejected, defaults make parameters optional); the docstring's first
    paragraph becomes the description and its Google, Sphinx or NumPy parameter
    sections the parameter descriptions (``Annotated[X, "text"]`` wins over them).
    The tool still calls like the function.

    Args:
        fn: the function (given when used as a bare ``@tool``).
        name: the tool name (default: the function's ``__name__``).
        description: the description (default: the docstring's first paragraph).
        strict: OpenAI-style strict arguments (see :class:`Tool`).

    Returns:
        The tool, or a decorator making one.

    Raises:
        ValueError: for an invalid tool name.
        TypeError: for ``*args``/``**kwargs``, positional-only or unannotated
            parameters, unsupported types (naming the parameter), or a class.
    """

    def build(function: Callable[..., Any]) -> Tool:
        if not callable(function) or isinstance(function, type):
            raise TypeError(f"@tool needs a function, not {type(function).__name__}")
        tool_name = name if name is not None else getattr(function, "__name__", None)
        if tool_name is None:
            raise ValueError(f"{function!r} has no __name__: give the tool a name with @tool(name=...)")
        check_tool_name(tool_name)
        doc = parse_docstring(getattr(function, "__doc__", None))
        schema = function_schema(function, name=_schema_class_name(tool_name), descriptions=doc.params)
        made = Tool(
            tool_name, doc.summary if description is None else description, schema, function=function, strict=strict
        )
        for attribute in ("__module__", "__name__", "__qualname__", "__doc__"):
            if hasattr(function, attribute):
                made.__dict__[attribute] = getattr(function, attribute)
        made.__dict__["__wrapped__"] = function
        return made

    return build if fn is None else build(fn)


def _schema_class_name(tool_name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[_-]+", tool_name) if part) + "Arguments"
