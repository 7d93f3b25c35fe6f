"""A complete tool call requested by the model (part of a :class:`~openrouter_rx.Response`)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, NoReturn

from ._repair import json_error
from ._tool_arguments import _json_kind as json_kind
from .errors import ToolArgumentsError

__all__ = ["ToolCall"]


@dataclass(frozen=True)
class ToolCall:
    """A complete tool call requested by the model.

    ``arguments_json`` is the text exactly as the model produced it;
    :attr:`arguments` parses it on first access.
    """

    id: str | None
    name: str | None
    arguments_json: str = ""
    type: str = "function"
    index: int = 0
    tool: Any = field(default=None, compare=False, repr=False)
    """The :class:`~openrouter_rx.Tool` the arguments were validated by (``tool_calls(tools=...)``)."""

    @cached_property
    def arguments(self) -> Any:
        """The arguments: a dict parsed from the JSON text (``{}`` for empty text), or, for a call
        validated by its tool (``tool_calls(tools=...)``), the data the tool's schema loaded.

        Raises:
            ToolArgumentsError: the text is not a JSON object (``err.raw`` has it, ``err.messages``
                is ``{"_json": [why]}``, ``err.call`` is this call).
        """
        text = self.arguments_json.strip()
        if not text:
            return {}
        try:
            value = json.loads(text)
        except (ValueError, RecursionError) as exc:  # RecursionError: nested too deeply to parse
            self._fail(f"not valid JSON: {exc}")
        if not isinstance(value, dict):
            self._fail(f"not a JSON object but {json_kind(value)}")
        return value

    def _fail(self, why: str) -> NoReturn:
        """Raise the :class:`ToolArgumentsError` for arguments that are ``why`` (``messages``:
        ``{"_json": [why]}``, like every error about text that is not a JSON object)."""
        raise ToolArgumentsError(
            f"arguments of tool call {self.name!r} are {why}",
            raw=self.arguments_json,
            name=self.name,
            messages=json_error(why),
            call=self,
        ) from None

    def with_arguments(self, arguments: Any, tool: Any) -> ToolCall:
        """A copy whose :attr:`arguments` are ``arguments`` (already loaded by ``tool``'s schema)."""
        call = replace(self, tool=tool)
        call.__dict__["arguments"] = arguments  # the cached_property's slot: no re-parse
        return call

    def run(self) -> Any:
        """Run the tool's function with the loaded arguments (calls validated by ``tool_calls(tools=...)``).

        Raises:
            TypeError: the call was not validated by a tool, or its tool has no function.
        """
        if self.tool is None:
            raise TypeError(f"tool call {self.name!r} has no tool: validate it with tool_calls(tools=[...]) first")
        return self.tool.invoke(self.arguments)

    @property
    def wire_id(self) -> str:
        """The id to send back: :attr:`id`, or for a call that came without one (some providers)
        a stable ``call_…`` id made from its index, name and arguments, so the assistant message
        and the tool result still refer to each other (a null id is refused)."""
        if self.id:
            return self.id
        digest = hashlib.sha256(f"{self.index}\0{self.name}\0{self.arguments_json}".encode()).hexdigest()
        return f"call_{digest[:24]}"

    def to_dict(self) -> dict[str, Any]:
        """The wire form used in an assistant message's ``tool_calls`` (id: :attr:`wire_id`)."""
        return {
            "id": self.wire_id,
            "type": self.type,
            "function": {"name": self.name, "arguments": self.arguments_json or "{}"},
        }

    def to_delta(self) -> dict[str, Any]:
        """This whole call as one streamed ``delta.tool_calls`` entry (arguments text kept exactly)."""
        return {
            "index": self.index,
            "id": self.id,
            "type": self.type,
            "function": {"name": self.name, "arguments": self.arguments_json},
        }

    def to_result_message(self, content: Any) -> dict[str, Any]:
        """The ``role: tool`` message that answers this call (``tool_call_id``: :attr:`wire_id`;
        ``name`` only when the call has one).

        Non-string content is JSON-encoded.
        """
        text = content if isinstance(content, str) else json.dumps(content, default=str)
        message: dict[str, Any] = {"role": "tool", "tool_call_id": self.wire_id}
        if self.name is not None:
            message["name"] = self.name
        message["content"] = text
        return message
