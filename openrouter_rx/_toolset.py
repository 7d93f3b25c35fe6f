"""``ToolSet``: the tools offered in a request, by name; validates the calls the model makes.

One job: given a complete :class:`~openrouter_rx.ToolCall`, find its tool and load its arguments
with the tool's schema, or say precisely why not. No Rx, no network.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from .errors import ToolArgumentsError, UnknownToolError
from .response import ToolCall

if TYPE_CHECKING:
    from .tools import Tool

__all__ = ["ToolSet"]


class ToolSet:
    """The tools of one request, by name (``Tool`` objects, tool dicts or ``@tool`` functions)."""

    __slots__ = ("_by_name",)

    def __init__(self, tools: Iterable[Any]) -> None:
        from .tools import Tool  # tools.py imports the schema converter; keep this module light

        by_name: dict[str, Tool] = {}
        for item in tools:
            tool = Tool.coerce(item)
            if tool.name in by_name:
                raise ValueError(f"two tools are named {tool.name!r}: tool names must be unique")
            by_name[tool.name] = tool
        self._by_name = by_name

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._by_name.values())

    def __repr__(self) -> str:
        return f"ToolSet({list(self._by_name)!r})"

    @property
    def names(self) -> tuple[str, ...]:
        """The tool names, in the order given."""
        return tuple(self._by_name)

    def get(self, name: str | None) -> Tool | None:
        """The tool called ``name``, or ``None``."""
        return self._by_name.get(name) if name is not None else None

    def to_wire(self) -> list[dict[str, Any]]:
        """The request's ``tools`` list."""
        return [tool.to_dict() for tool in self._by_name.values()]

    def validate(self, call: ToolCall) -> ToolCall:
        """``call`` with its arguments loaded by its tool's schema (``call.arguments``, ``call.tool``).

        Raises:
            UnknownToolError: the model called a tool that was not offered.
            ToolArgumentsError: the arguments are not JSON, or fail the tool's schema; ``raw`` is
                the text as sent, ``messages`` marshmallow's messages, ``call`` the call. A schema
                hook that raises anything else is one too (``messages={"_schema": [...]}``, the
                hook's exception as ``__cause__``).
        """
        tool = self.get(call.name)
        if tool is None:
            offered = ", ".join(repr(name) for name in self._by_name) or "none"
            raise UnknownToolError(
                f"the model called tool {call.name!r}, which was not offered (offered: {offered})",
                raw=call.arguments_json,
                name=call.name,
                messages={"_tool": [f"unknown tool {call.name!r}; offered: {offered}"]},
                call=call,
            )
        try:
            loaded = tool.load_arguments(call.arguments_json)
        except ToolArgumentsError as error:
            error.call = call
            raise
        except Exception as error:  # a schema hook (post_load, a validator) raised: typed like bad arguments
            raise ToolArgumentsError(
                f"validating the arguments of tool {call.name!r} raised {error!r}",
                raw=call.arguments_json,
                name=call.name,
                messages={"_schema": [repr(error)]},
                call=call,
            ) from error
        return call.with_arguments(loaded, tool)

    def handlers(self, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Name → callable: ``extra``'s entries, else each tool's own function (``@tool``)."""
        table: dict[str, Any] = {}
        for tool in self._by_name.values():
            if tool.function is not None:
                table[tool.name] = tool.function
        for name, fn in (extra or {}).items():
            if name not in self._by_name:
                raise ValueError(f"a handler is given for {name!r}, which is not among the tools {list(self._by_name)}")
            if not callable(fn):
                raise TypeError(f"the handler for {name!r} is not callable")
            table[name] = fn
        return table
