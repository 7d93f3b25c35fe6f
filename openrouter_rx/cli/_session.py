"""Where the CLI's requests go: OpenRouter with a key, else the embedded fake server (one place).

Offline, the fake server is scripted so every feature shows something real: the default answer
streams a short text about openrouter_rx, ``--tools-demo`` gets a tool-call stream and then an
answer built from the tool results it was sent, and ``--json-schema`` gets JSON shaped like the
schema.
"""

from __future__ import annotations

import argparse
import io
import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from ..client import Client, Timeout
from ..testing import (
    CompletionReply,
    FakeOpenRouter,
    RecordedRequest,
    Reply,
    StreamReply,
    completion_body,
    demo_client,
    text_chunks,
    tool_call_chunks,
)

__all__ = ["DEMO_TEXT", "UsageError", "load_response_format", "offline_responder", "open_client", "sample_for"]

DEMO_TEXT = (
    "Server-sent events let a server push a stream of small text events over one HTTP response. "
    "openrouter_rx reads them as they arrive and hands each chunk to a cold RxPY observable: "
    "subscribe to start the request, dispose to close the connection, and compose operators "
    "for everything else."
)
DEMO_DELAY = 0.03
"""Seconds between the offline demo's chunks (so the streaming can be seen)."""


class UsageError(Exception):
    """A command line that cannot run (a bad file, a missing optional dependency): exit status 2."""


@contextmanager
def open_client(args: argparse.Namespace, err: TextIO) -> Iterator[tuple[Client, FakeOpenRouter | None]]:
    """The client for ``args``: the fake server when ``--offline`` is given, or when there is
    neither ``OPENROUTER_API_KEY`` nor ``--base-url`` (said in one line on ``err``). The fake
    server never gets the key. Online, ``--base-url`` wins over ``$OPENROUTER_BASE_URL``, as
    ``base_url=`` does for :class:`~openrouter_rx.Client`."""
    key = os.environ.get("OPENROUTER_API_KEY") or None
    offline = bool(args.offline) or (key is None and args.base_url is None)
    options: dict[str, Any] = {"timeout": Timeout(idle=args.idle_timeout)}
    if offline:
        options["api_key"] = ""  # a key in the environment is not sent to the embedded server
    elif args.base_url:
        options["base_url"] = args.base_url  # else the Client's default: $OPENROUTER_BASE_URL, else OpenRouter's
    with demo_client(offline=offline, announce=io.StringIO(), **options) as (client, fake):
        if fake is not None:
            reason = "--offline given" if args.offline else "no OPENROUTER_API_KEY set"
            err.write(f"openrouter-rx: {reason}; answering from the embedded fake OpenRouter server (offline demo).\n")
            err.flush()
            fake.default_text = DEMO_TEXT
            fake.default_delay = DEMO_DELAY
            fake.responder = offline_responder
        yield client, fake


# -- --json-schema ---------------------------------------------------------------------


def load_response_format(path: str) -> dict[str, Any]:
    """The ``response_format`` for a ``--json-schema`` file.

    The file holds either a JSON Schema (wrapped as ``{"type": "json_schema", "json_schema":
    {"name": <file stem>, "strict": ..., "schema": ...}}``) or a whole ``response_format``
    object (``{"type": "json_schema", ...}`` or ``{"type": "json_object"}``), sent as is.
    ``strict`` is true only for a schema that strict mode accepts (every object closed with
    ``additionalProperties: false`` and all its properties required): OpenAI's models answer 400
    to ``strict: true`` with any other schema.

    Raises:
        UsageError: the file cannot be read or is not a JSON object.
    """
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read the JSON Schema file {path!r}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise UsageError(f"the JSON Schema file {path!r} is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise UsageError(f"the JSON Schema file {path!r} must hold a JSON object")
    if document.get("type") in ("json_schema", "json_object") and "properties" not in document:
        return document
    name = "".join(c if c.isalnum() or c in "_-" else "_" for c in Path(path).stem)[:64] or "response"
    return {"type": "json_schema", "json_schema": {"name": name, "strict": strict_ready(document), "schema": document}}


def strict_ready(schema: Any) -> bool:
    """Whether strict structured outputs accept ``schema``: every object schema in it has
    ``additionalProperties: false`` and lists all its properties in ``required``."""
    if isinstance(schema, list):
        return all(strict_ready(item) for item in schema)
    if not isinstance(schema, dict):
        return True
    properties = schema.get("properties")
    is_object = schema.get("type") == "object" or (isinstance(schema.get("type"), list) and "object" in schema["type"])
    if is_object or isinstance(properties, dict):
        if schema.get("additionalProperties") is not False:
            return False
        if isinstance(properties, dict) and set(schema.get("required") or ()) != set(properties):
            return False
    children = [v for k, v in schema.items() if k in ("properties", "$defs", "definitions") and isinstance(v, dict)]
    nested = [value for group in children for value in group.values()]
    nested += [schema[k] for k in ("items", "anyOf", "oneOf", "allOf", "prefixItems") if k in schema]
    return all(strict_ready(item) for item in nested)


def _resolve(ref: Any, root: Any) -> Any:
    """The target of a local ``$ref`` (``#/$defs/name``, ``#/definitions/name``, ``#``), else ``None``."""
    if not isinstance(ref, str) or not ref.startswith("#"):
        return None
    target = root
    for part in filter(None, ref[1:].split("/")):
        part = part.replace("~1", "/").replace("~0", "~")
        target = target.get(part) if isinstance(target, Mapping) else None
    return target


def sample_for(schema: Any, depth: int = 0, root: Any = None) -> Any:
    """A small value shaped like a JSON Schema (for the offline demo): first enum/const/default/
    example values, ``"example"`` strings, ``1`` and ``1.5``, ``true``, one-item arrays. A local
    ``$ref`` (into ``$defs`` or ``definitions`` of ``root``, the whole schema) is followed."""
    if not isinstance(schema, Mapping) or depth > 8:
        return None
    root = schema if root is None else root
    if "$ref" in schema:
        return sample_for(_resolve(schema["$ref"], root), depth + 1, root)
    for key in ("const", "default"):
        if key in schema:
            return schema[key]
    for key in ("enum", "examples"):
        values = schema.get(key)
        if isinstance(values, list) and values:
            return values[0]
    for key in ("anyOf", "oneOf", "allOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            return sample_for(options[0], depth + 1, root)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    properties = schema.get("properties")
    if kind == "object" or isinstance(properties, Mapping):
        props = properties if isinstance(properties, Mapping) else {}
        return {name: sample_for(sub, depth + 1, root) for name, sub in props.items()}
    if kind == "array":
        item = sample_for(schema.get("items"), depth + 1, root)
        return [item] if item is not None else []
    samples: dict[Any, Any] = {"string": "example", "integer": 1, "number": 1.5, "boolean": True}
    return samples.get(kind)


# -- the offline script ----------------------------------------------------------------


def _schema_of(response_format: Any) -> Any:
    if isinstance(response_format, Mapping):
        entry = response_format.get("json_schema")
        if isinstance(entry, Mapping):
            return entry.get("schema")
        return {"type": "object", "properties": {"answer": {"type": "string"}}}
    return None


def _tool_answer(messages: list[Any]) -> str:
    names: dict[str, str] = {}
    for message in messages:
        for call in (message.get("tool_calls") or []) if isinstance(message, Mapping) else []:
            names[str(call.get("id"))] = str((call.get("function") or {}).get("name"))
    results = [
        f"{names.get(str(m.get('tool_call_id')), 'a tool')} answered {m.get('content')}"
        for m in messages
        if isinstance(m, Mapping) and m.get("role") == "tool"
    ]
    return "The tools ran on your machine and openrouter_rx sent their results back: " + "; ".join(results) + "."


def offline_responder(request: RecordedRequest) -> Reply | None:
    """The fake server's script for the offline demo (``None``: its default answer)."""
    body = request.json
    if not request.path.endswith("/chat/completions") or not isinstance(body, dict):
        return None
    model = str(body.get("model") or "openai/gpt-4o-mini")
    messages = body.get("messages") or []
    if not request.stream:  # --no-stream: only the JSON answer needs a script
        schema = _schema_of(body.get("response_format"))
        if schema is None:
            return None
        return CompletionReply(completion_body(json.dumps(sample_for(schema), indent=2), model=model))
    if body.get("tools"):
        if any(isinstance(m, Mapping) and m.get("role") == "tool" for m in messages):
            return StreamReply(text_chunks(_tool_answer(messages), model=model), delay=DEMO_DELAY)
        calls = [
            {"name": "get_weather", "arguments": {"city": "Paris"}},
            {"name": "calculator", "arguments": {"expression": "(21 * 2) / 7"}},
        ]
        return StreamReply(tool_call_chunks(calls, model=model), delay=DEMO_DELAY)
    schema = _schema_of(body.get("response_format"))
    if schema is not None:
        text = json.dumps(sample_for(schema), indent=2, ensure_ascii=False)
        return StreamReply(text_chunks(text, model=model, pieces=6), delay=DEMO_DELAY)
    return None
