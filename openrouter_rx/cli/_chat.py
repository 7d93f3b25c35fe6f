"""``openrouter-rx chat``: one prompt, streamed (or not) through the Rx pipeline to a renderer.

The pipeline is the library's: ``client.stream(...)`` shared (``ops.publish``) between
``accumulate()`` (the Response, with ``err.partial`` on errors), the chunks themselves, the
``meter()`` operator (the footer's numbers) and, with ``--json-schema``, ``partial_json()``.
The merged events are handed to the main thread by ``openrouter_rx.blocking.iterate``, where the
renderer draws them; leaving the loop (the end, an error, Ctrl-C) disposes the subscription,
which closes the connection.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from typing import Any

import reactivex
from reactivex import Observable
from reactivex import operators as ops

from ..blocking import iterate, wait
from ..chunk import Chunk
from ..client import Client
from ..errors import OpenRouterError
from ..metrics import StreamMetrics
from ..operators import accumulate, meter, partial_json, retry_with_backoff
from ..response import Response
from ._render import NOTHING, Renderer, Summary
from ._session import load_response_format

__all__ = [
    "Progress",
    "build_messages",
    "chat_events",
    "consume",
    "draw_whole",
    "request_params",
    "run_chat",
    "run_guarded",
    "stream_summary",
]

Event = tuple[str, Any]
"""``("chunk", Chunk)``, ``("metrics", StreamMetrics)``, ``("partial", value)``, ``("response", Response)``."""


@dataclass
class Progress:
    """What the main thread has seen of the current command (for the cancel note and the end)."""

    metrics: StreamMetrics | None = None
    response: Response | None = None


def build_messages(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The conversation: ``--system`` then the prompt."""
    messages: list[dict[str, Any]] = []
    if args.system:
        messages.append({"role": "system", "content": args.system})
    messages.append({"role": "user", "content": args.prompt})
    return messages


def request_params(args: argparse.Namespace) -> dict[str, Any]:
    """The optional body fields given on the command line (``None`` ones are not sent)."""
    params: dict[str, Any] = {"temperature": args.temperature, "max_tokens": args.max_tokens}
    if args.json_schema:
        params["response_format"] = load_response_format(args.json_schema)
    return params


def chat_events(stream: Observable[Chunk], *, json_mode: bool, retries: int = 0) -> Observable[Event]:
    """One observable of everything the renderer needs, from one subscription to ``stream``.

    ``accumulate()`` is subscribed first, so that an error reaches the merge with ``err.partial``
    already attached.
    """
    if retries > 0:
        stream = stream.pipe(retry_with_backoff(max_retries=retries))

    def tag(kind: str) -> Callable[[Any], Event]:
        return lambda value: (kind, value)

    def select(shared: Observable[Chunk]) -> Observable[Event]:
        parts: list[Observable[Event]] = [
            shared.pipe(accumulate(), ops.map(tag("response"))),
            shared.pipe(meter(), ops.map(tag("metrics"))),  # a chunk's metrics come just before it
            shared.pipe(ops.map(tag("chunk"))),
        ]
        if json_mode:
            parts.append(shared.pipe(partial_json(), ops.map(tag("partial"))))
        return reactivex.merge(*parts)

    return stream.pipe(ops.publish(select))


def consume(events: Observable[Event], renderer: Renderer, progress: Progress) -> None:
    """Draw ``events`` on the calling thread until they complete (errors are raised)."""
    with closing(iterate(events)) as values:  # closed at once on any exit: the connection too
        for kind, value in values:
            if kind == "chunk":
                renderer.chunk(value)
            elif kind == "metrics":
                progress.metrics = value
                renderer.metrics(value)
            elif kind == "partial":
                renderer.partial_json(value)
            elif kind == "response":
                progress.response = value


def run_guarded(renderer: Renderer, progress: Progress, body: Callable[[], Summary]) -> int:
    """Run ``body`` and end the renderer: 0 done, 1 a typed library error, 130 Ctrl-C."""
    try:
        try:
            summary = body()
        except KeyboardInterrupt:
            renderer.cancelled(progress.metrics)
            return 130
        except OpenRouterError as error:
            renderer.failed(error)
            return 1
        renderer.finish(summary)
        return 0
    finally:
        renderer.close()


def _structured(response: Response, json_mode: bool) -> Any:
    """The validated value (``StructuredOutputError``, exit 1, when the reply is not JSON)."""
    return response.structured_output if json_mode else NOTHING


def stream_summary(
    stream: Observable[Chunk], renderer: Renderer, progress: Progress, *, json_mode: bool, retries: int = 0
) -> Summary:
    """Stream, draw, and sum up."""
    consume(chat_events(stream, json_mode=json_mode, retries=retries), renderer, progress)
    response = progress.response
    if response is None:  # pragma: no cover - accumulate always emits one Response on completion
        raise RuntimeError("the stream completed without a response")
    return Summary(response, progress.metrics, _structured(response, json_mode))


def run_chat(args: argparse.Namespace, client: Client, renderer: Renderer) -> int:
    """``chat`` (without ``--tools-demo``): streamed, or ``--no-stream``."""
    messages = build_messages(args)
    params = request_params(args)  # a bad --json-schema file is a UsageError before anything is sent
    json_mode = "response_format" in params
    progress = Progress()

    def body() -> Summary:
        renderer.start(args.model, "json" if json_mode else "chat")
        if args.no_stream:
            response = wait(client.complete(messages, args.model, **params))
            progress.response = response
            draw_whole(renderer, response, content=not json_mode)
            return Summary(response, None, _structured(response, json_mode))
        stream = client.stream(messages, args.model, **params)
        return stream_summary(stream, renderer, progress, json_mode=json_mode, retries=args.retries)

    return run_guarded(renderer, progress, body)


def draw_whole(renderer: Renderer, response: Response, *, content: bool = True) -> None:
    """A non-streamed answer drawn like a stream: its reasoning, then its content (one chunk each)."""
    for field, show in (("reasoning", True), ("content", content)):
        text = getattr(response, field)
        if show and text:
            delta = {field: text}
            renderer.chunk(Chunk.from_dict({"model": response.model, "choices": [{"index": 0, "delta": delta}]}))
