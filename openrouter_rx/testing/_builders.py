"""Builders for OpenRouter wire data (stream chunks, completion bodies, model lists, SSE bytes).

Everything here returns plain ``dict`` objects shaped exactly like what OpenRouter puts on the
wire, so tests can script a server reply without writing JSON by hand.
"""

from __future__ import annotations

import json
import math
import random
import re
import string
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "DONE_BYTES",
    "KEEPALIVE_BYTES",
    "ChunkFactory",
    "Event",
    "KeepAlive",
    "Pause",
    "Pieces",
    "encode_event",
    "is_data_event",
    "new_call_id",
    "new_generation_id",
    "split_pieces",
    "sse_bytes",
    "text_chunks",
    "tool_call_chunks",
    "usage_dict",
    "arguments_text",
]

KEEPALIVE_BYTES = b": OPENROUTER PROCESSING\n\n"
"""The SSE comment OpenRouter sends while it waits for the provider."""

DONE_BYTES = b"data: [DONE]\n\n"
"""The terminating SSE event of every successful OpenRouter stream."""

_ALPHABET = string.ascii_letters + string.digits
_random = random.Random()


@dataclass(frozen=True)
class KeepAlive:
    """An SSE comment event; by default ``: OPENROUTER PROCESSING``."""

    text: str = "OPENROUTER PROCESSING"

    def encode(self) -> bytes:
        """The exact bytes of this comment event."""
        return f": {self.text}\n\n".encode()


@dataclass(frozen=True)
class Pause:
    """A pause of ``seconds`` inside a scripted stream (writes nothing)."""

    seconds: float


Event = Mapping[str, Any] | str | bytes | KeepAlive | Pause
"""One item of a scripted stream: a chunk dict, raw SSE text/bytes, a keep-alive or a pause."""

Pieces = Literal["words", "chars"] | int | Sequence[str]
"""How to split text: ``"words"`` (spaces kept attached), ``"chars"``, N characters per piece, or explicit pieces."""


def new_generation_id() -> str:
    """A fresh OpenRouter-style generation id, ``gen-<unix time>-<20 random characters>``."""
    return f"gen-{int(time.time())}-" + "".join(_random.choices(_ALPHABET, k=20))


def new_call_id() -> str:
    """A fresh OpenAI-style tool call id, ``call_<24 random characters>``."""
    return "call_" + "".join(_random.choices(_ALPHABET, k=24))


def encode_event(event: Event) -> bytes:
    """The SSE bytes of one stream item (``b""`` for a :class:`Pause`).

    Dicts become ``data: <compact JSON>\\n\\n`` (UTF-8, non-ASCII left unescaped, as OpenRouter does);
    ``str`` and ``bytes`` are written verbatim.
    """
    if isinstance(event, Pause):
        return b""
    if isinstance(event, KeepAlive):
        return event.encode()
    if isinstance(event, bytes):
        return event
    if isinstance(event, str):
        return event.encode("utf-8")
    if isinstance(event, Mapping):
        text = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
        return b"data: " + text.encode("utf-8") + b"\n\n"
    raise TypeError(f"cannot encode a {type(event).__name__} as an SSE event")


def is_data_event(event: Event) -> bool:
    """Whether an item is a ``data:`` event (a chunk dict, or raw text starting with ``data:``)."""
    if isinstance(event, Mapping):
        return True
    if isinstance(event, (str, bytes)):
        raw = event.encode("utf-8") if isinstance(event, str) else event
        return raw.lstrip().startswith(b"data:")
    return False


def sse_bytes(events: Iterable[Event], *, done: bool = True) -> bytes:
    """Encode stream items to the exact SSE byte stream, optionally followed by ``data: [DONE]``."""
    out = b"".join(encode_event(event) for event in events)
    return out + DONE_BYTES if done else out


def split_pieces(text: str, pieces: Pieces = "words") -> list[str]:
    """Split ``text`` into stream pieces whose concatenation is exactly ``text``.

    ``"words"`` keeps whitespace attached to the preceding word (``"a b"`` -> ``["a ", "b"]``),
    ``"chars"`` yields single characters, an ``int`` yields pieces of that many characters and a
    sequence of strings is used as given (it must join to ``text``).
    """
    if isinstance(pieces, str) and pieces == "words":
        found = re.findall(r"\s*\S+\s*", text)
        return found if found else ([text] if text else [])
    if isinstance(pieces, str) and pieces == "chars":
        return list(text)
    if isinstance(pieces, int):
        if pieces < 1:
            raise ValueError("pieces must be at least 1 character")
        return [text[i : i + pieces] for i in range(0, len(text), pieces)]
    if isinstance(pieces, str):
        raise ValueError(f"unknown pieces mode {pieces!r}")
    given = list(pieces)
    if "".join(given) != text:
        raise ValueError("the given pieces do not join to the text")
    return given


def _split_even(text: str, count: int) -> list[str]:
    """Split ``text`` into at most ``count`` pieces of nearly equal length."""
    if not text:
        return []
    if count <= 1:
        return [text]
    size = math.ceil(len(text) / count)
    return [text[i : i + size] for i in range(0, len(text), size)]


def arguments_text(arguments: Any) -> str:
    """Tool-call arguments as the JSON string sent on the wire (strings are kept as they are)."""
    return arguments if isinstance(arguments, str) else json.dumps(arguments)


def usage_dict(
    prompt_tokens: int = 10,
    completion_tokens: int = 10,
    *,
    cost: float = 0.00001,
    cached_tokens: int = 0,
    reasoning_tokens: int = 0,
    is_byok: bool = False,
) -> dict[str, Any]:
    """An OpenRouter ``usage`` object (tokens, total, cost and the detail objects)."""
    total = prompt_tokens + completion_tokens
    prompt_cost = round(cost * prompt_tokens / total, 12) if total else 0.0
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": total,
        "cost": cost,
        "is_byok": is_byok,
        "prompt_tokens_details": {"cached_tokens": cached_tokens, "audio_tokens": 0, "video_tokens": 0},
        "cost_details": {
            "upstream_inference_cost": None,
            "upstream_inference_prompt_cost": prompt_cost,
            "upstream_inference_completions_cost": round(cost - prompt_cost, 12),
        },
        "completion_tokens_details": {"reasoning_tokens": reasoning_tokens, "image_tokens": 0},
    }


class ChunkFactory:
    """Makes ``chat.completion.chunk`` dicts that share one generation id, model and timestamp.

    The factory counts the content, reasoning and tool-argument pieces it produced so that
    :meth:`usage` can report a matching ``completion_tokens`` by default.
    """

    def __init__(
        self,
        model: str = "openai/gpt-4o-mini",
        provider: str = "OpenAI",
        id: str | None = None,  # noqa: A002 - the wire name
        created: int | None = None,
        system_fingerprint: str | None = None,
    ) -> None:
        self.model = model
        self.provider = provider
        self.id = id if id is not None else new_generation_id()
        self.created = created if created is not None else int(time.time())
        self.system_fingerprint = system_fingerprint
        self.pieces_emitted = 0

    def chunk(
        self,
        delta: Mapping[str, Any] | None = None,
        *,
        finish_reason: str | None = None,
        index: int = 0,
        usage: Mapping[str, Any] | None = None,
        native_finish_reason: str | None = None,
        **extra_top_level: Any,
    ) -> dict[str, Any]:
        """One chunk. With ``usage`` and neither ``delta`` nor ``finish_reason``, ``choices`` is ``[]``.

        ``native_finish_reason`` defaults to ``finish_reason``; extra keyword arguments are added as
        top-level keys (for instance ``error=...``).
        """
        body: dict[str, Any] = {
            "id": self.id,
            "provider": self.provider,
            "model": self.model,
            "object": "chat.completion.chunk",
            "created": self.created,
        }
        if delta is None and usage is not None and finish_reason is None:
            body["choices"] = []
        else:
            body["choices"] = [
                {
                    "index": index,
                    "delta": dict(delta) if delta is not None else {"role": "assistant", "content": ""},
                    "finish_reason": finish_reason,
                    "native_finish_reason": native_finish_reason if native_finish_reason is not None else finish_reason,
                    "logprobs": None,
                }
            ]
        body["system_fingerprint"] = self.system_fingerprint
        if usage is not None:
            body["usage"] = dict(usage)
        body.update(extra_top_level)
        return body

    def role(self) -> dict[str, Any]:
        """The opening chunk: ``delta {"role": "assistant", "content": ""}``."""
        return self.chunk({"role": "assistant", "content": ""})

    def text(self, text: str, *, pieces: Pieces = "words", index: int = 0) -> list[dict[str, Any]]:
        """Content deltas whose contents join to exactly ``text`` (see :func:`split_pieces`)."""
        parts = split_pieces(text, pieces)
        self.pieces_emitted += len(parts)
        return [self.chunk({"role": "assistant", "content": part}, index=index) for part in parts]

    def reasoning(
        self, text: str, *, pieces: Pieces = "words", details: bool = False, index: int = 0
    ) -> list[dict[str, Any]]:
        """Reasoning deltas (``delta.reasoning``), with ``reasoning_details`` entries if ``details``."""
        parts = split_pieces(text, pieces)
        self.pieces_emitted += len(parts)
        out = []
        for part in parts:
            delta: dict[str, Any] = {"role": "assistant", "content": "", "reasoning": part}
            if details:
                delta["reasoning_details"] = [{"type": "reasoning.text", "text": part, "index": 0, "format": "unknown"}]
            out.append(self.chunk(delta, index=index))
        return out

    def _tool_delta(self, entry: dict[str, Any]) -> dict[str, Any]:
        return self.chunk({"role": "assistant", "content": None, "tool_calls": [entry]})

    def tool_calls(
        self,
        calls: Sequence[Mapping[str, Any]],
        *,
        fragments: int = 3,
        start_index: int = 0,
        repeat_id: bool = False,
        first_without_name: bool = False,
        one_chunk: bool = False,
    ) -> list[dict[str, Any]]:
        """Tool-call deltas for ``calls`` (each ``{"name", "arguments" (dict or str), "id"?}``).

        Per call: a first delta with ``id``, ``type``, ``name`` and empty ``arguments``, then the
        JSON arguments split into ``fragments`` pieces. ``repeat_id`` repeats the id on every delta,
        ``first_without_name`` moves the name to the second delta, ``one_chunk`` sends each whole
        call in a single delta, and ``start_index`` offsets the ``index`` of the calls.
        """
        out: list[dict[str, Any]] = []
        for offset, call in enumerate(calls):
            index = start_index + offset
            name = str(call["name"])
            arguments = arguments_text(call.get("arguments", {}))
            call_id = str(call.get("id") or new_call_id())
            if one_chunk:
                function = {"name": name, "arguments": arguments}
                out.append(self._tool_delta({"index": index, "id": call_id, "type": "function", "function": function}))
                self.pieces_emitted += 1
                continue
            first: dict[str, Any] = {"arguments": ""} if first_without_name else {"name": name, "arguments": ""}
            out.append(self._tool_delta({"index": index, "id": call_id, "type": "function", "function": first}))
            parts = _split_even(arguments, fragments)
            if first_without_name and not parts:
                parts = [""]
            for number, part in enumerate(parts):
                entry: dict[str, Any] = {"index": index, "function": {"arguments": part}, "type": "function"}
                if first_without_name and number == 0:
                    entry["function"] = {"name": name, "arguments": part}
                if repeat_id:
                    entry["id"] = call_id
                out.append(self._tool_delta(entry))
            self.pieces_emitted += len(parts)
        return out

    def finish(self, reason: str = "stop", index: int = 0) -> dict[str, Any]:
        """The chunk carrying ``finish_reason`` (empty content), as OpenRouter sends before usage."""
        return self.chunk({"role": "assistant", "content": ""}, finish_reason=reason, index=index)

    def usage(
        self,
        prompt_tokens: int = 10,
        completion_tokens: int | None = None,
        *,
        cost: float = 0.00001,
        cached_tokens: int = 0,
        reasoning_tokens: int = 0,
        is_byok: bool = False,
    ) -> dict[str, Any]:
        """The final usage chunk (``choices: []``); ``completion_tokens`` defaults to the pieces emitted."""
        usage = usage_dict(
            prompt_tokens,
            self.pieces_emitted if completion_tokens is None else completion_tokens,
            cost=cost,
            cached_tokens=cached_tokens,
            reasoning_tokens=reasoning_tokens,
            is_byok=is_byok,
        )
        return self.chunk(usage=usage)

    def error(
        self,
        code: int | str = 502,
        message: str = "Provider returned error",
        *,
        metadata: Mapping[str, Any] | None = None,
        with_choice: bool = True,
    ) -> dict[str, Any]:
        """A mid-stream error chunk: top-level ``error`` and a choice with ``finish_reason: "error"``."""
        error: dict[str, Any] = {"code": code, "message": message}
        if metadata is not None:
            error["metadata"] = dict(metadata)
        if with_choice:
            return self.chunk({"content": ""}, finish_reason="error", error=error)
        body = self.chunk(error=error)
        body["choices"] = []
        return body


def text_chunks(
    text: str,
    *,
    model: str = "openai/gpt-4o-mini",
    provider: str = "OpenAI",
    reasoning: str | None = None,
    pieces: Pieces = "words",
    finish_reason: str | None = "stop",
    usage: bool = True,
    prompt_tokens: int = 10,
    cost: float = 0.00001,
    id: str | None = None,  # noqa: A002 - the wire name
) -> list[dict[str, Any]]:
    """A realistic whole text stream: role chunk, [reasoning], content pieces, finish chunk, usage chunk.

    ``completion_tokens`` in the usage is the number of content plus reasoning pieces. Explicit
    ``pieces`` (a list) apply to ``text``; the reasoning is then split into words.
    ``finish_reason=None`` leaves out the finish chunk.
    """
    factory = ChunkFactory(model=model, provider=provider, id=id)
    out = [factory.role()]
    if reasoning is not None:
        out += factory.reasoning(reasoning, pieces=pieces if isinstance(pieces, (str, int)) else "words")
    out += factory.text(text, pieces=pieces)
    if finish_reason is not None:
        out.append(factory.finish(finish_reason))
    if usage:
        out.append(factory.usage(prompt_tokens, cost=cost))
    return out


def tool_call_chunks(
    calls: Sequence[Mapping[str, Any]],
    *,
    model: str = "openai/gpt-4o-mini",
    provider: str = "OpenAI",
    fragments: int = 3,
    start_index: int = 0,
    text: str | None = None,
    usage: bool = True,
    prompt_tokens: int = 10,
    cost: float = 0.00001,
    **tool_call_options: bool,
) -> list[dict[str, Any]]:
    """A whole tool-calling stream: optional leading text, the calls, ``finish_reason: "tool_calls"``, usage.

    Extra options (``repeat_id``, ``first_without_name``, ``one_chunk``) go to :meth:`ChunkFactory.tool_calls`.
    """
    factory = ChunkFactory(model=model, provider=provider)
    out: list[dict[str, Any]] = []
    if text is not None:
        out.append(factory.role())
        out += factory.text(text)
    out += factory.tool_calls(calls, fragments=fragments, start_index=start_index, **tool_call_options)
    out.append(factory.finish("tool_calls"))
    if usage:
        out.append(factory.usage(prompt_tokens, cost=cost))
    return out
