"""``openrouter-rx replay FILE``: a recorded reply through the fake server and the whole pipeline.

``FILE`` is a recorded SSE body (``data: ...`` lines), a VCR-style YAML cassette (``.yml`` /
``.yaml``, needs PyYAML: ``pip install openrouter-rx[yaml]``) or a folder of recorded files
(``meta.json`` plus ``body.sse`` / ``body.json``). The fake server serves it byte for byte
(SSE event by event, ``--delay`` seconds apart) to a real client, and the reply is drawn by the
same renderer as ``chat``: handy to attach to a bug report and to see what the library makes
of a stream.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any, TextIO

from ..blocking import wait
from ..client import DEFAULT_MODEL, Client, Timeout
from ..testing import (
    CassetteReply,
    FakeOpenRouter,
    RecordedFolderReply,
    RecordedInteraction,
    Reply,
    SSEFileReply,
    load_cassette,
)
from ._chat import Progress, draw_whole, run_guarded, stream_summary
from ._render import Renderer, Summary
from ._session import UsageError

__all__ = ["load_recording", "run_replay"]


def _pick(interactions: list[RecordedInteraction], wanted: int | None, path: str) -> int:
    if not interactions:
        raise UsageError(f"the cassette {path!r} has no interactions")
    if wanted is not None:
        if not 0 <= wanted < len(interactions):
            raise UsageError(
                f"the cassette {path!r} has {len(interactions)} interactions (0 to {len(interactions) - 1})"
            )
        return wanted
    chat = [n for n, i in enumerate(interactions) if "chat/completions" in i.uri]
    return chat[0] if chat else 0


def load_recording(
    path: str, *, delay: float | None, interaction: int | None
) -> tuple[Reply, RecordedInteraction | None]:
    """The reply that serves ``path`` and, when known, the recorded interaction (its request).

    Raises:
        UsageError: the file is missing or unreadable, holds no SSE ``data:`` line, PyYAML is
            needed and missing, or the recording is not of a chat completion (e.g. ``GET /models``).
    """
    target = Path(path)
    if not target.exists():
        raise UsageError(f"no such file or folder: {path!r}")
    if target.is_dir():
        if not (target / "meta.json").is_file():
            raise UsageError(f"{path!r} is a folder without meta.json (expected a recorded-interaction folder)")
        folder = RecordedFolderReply(target, pace=delay)
        try:
            recorded = folder.load()
        except Exception as exc:  # any fault of a hand-edited file: one line, no traceback
            raise UsageError(f"cannot read {path!r}/meta.json: {type(exc).__name__}: {exc}") from None
        if not recorded.body and recorded.status < 400:
            raise UsageError(f"{path!r} has no recorded body (body.sse or body.json)")
        return folder, _chat_only(recorded, path)
    if target.suffix.lower() in (".yml", ".yaml"):
        try:
            interactions = load_cassette(target)
        except ImportError as exc:
            raise UsageError(str(exc)) from None
        except Exception as exc:  # YAML syntax, bad encodings, odd entries
            raise UsageError(f"cannot read the cassette: {type(exc).__name__}: {exc}") from None
        number = _pick(interactions, interaction, path)
        return CassetteReply(target, interaction=number, pace=delay), _chat_only(interactions[number], path)
    if not target.is_file():  # a pipe (/dev/stdin) can be read once only: by the fake server
        return SSEFileReply(target, pace=delay), None
    try:
        raw = target.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path!r}: {exc.strerror or exc}") from None
    if not re.search(rb"^data:", raw, re.MULTILINE):
        raise UsageError(
            f"{path!r} holds no SSE 'data:' line: replay takes a recorded SSE body, a YAML cassette, or a "
            "recorded folder (meta.json plus body.sse or body.json; a JSON body needs its meta.json)"
        )
    return SSEFileReply(target, pace=delay), None


def _chat_only(recorded: RecordedInteraction, path: str) -> RecordedInteraction:
    """``recorded``, when it is a chat completion (or its URI is unknown)."""
    if recorded.uri and "/chat/completions" not in recorded.uri:
        where = recorded.uri.split("?", 1)[0]
        raise UsageError(
            f"{path!r} records {recorded.method} {where}, not a chat completion: replay takes "
            "recordings of POST .../chat/completions"
        )
    return recorded


def _request_of(recorded: RecordedInteraction | None, path: str) -> tuple[list[dict[str, Any]], str]:
    body = recorded.request_json if recorded is not None else None
    messages = body.get("messages") if isinstance(body, dict) else None
    model = body.get("model") if isinstance(body, dict) else None
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        messages = [{"role": "user", "content": f"(replayed from {Path(path).name})"}]  # the reply is what counts
    return messages, model if isinstance(model, str) and model else DEFAULT_MODEL


def _streams(recorded: RecordedInteraction | None) -> bool:
    """Replay through the streaming pipeline unless the recording is a JSON completion body."""
    if recorded is None or recorded.status >= 400:
        return True
    return "event-stream" in recorded.content_type or not recorded.content_type


def run_replay(args: argparse.Namespace, err: TextIO, renderer: Renderer) -> int:
    """``replay FILE [--delay S] [--interaction N]``."""
    reply, recorded = load_recording(args.file, delay=args.delay, interaction=args.interaction)
    messages, model = _request_of(recorded, args.file)
    err.write(f"openrouter-rx: replaying {Path(args.file).name} through the embedded fake OpenRouter server.\n")
    err.flush()
    progress = Progress()
    # api_key="": the key (if any) is not sent to the local server
    with (
        FakeOpenRouter() as fake,
        Client(api_key="", base_url=fake.base_url, timeout=Timeout(idle=args.idle_timeout)) as client,
    ):
        fake.enqueue(reply)

        def body() -> Summary:
            renderer.start(model, "replay")
            if _streams(recorded):
                return stream_summary(client.stream(messages, model), renderer, progress, json_mode=False)
            response = wait(client.complete(messages, model))
            progress.response = response
            draw_whole(renderer, response)
            return Summary(response, None)

        return run_guarded(renderer, progress, body)
