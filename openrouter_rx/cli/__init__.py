"""``openrouter-rx``: chat with a model from the terminal, list models, replay recordings.

::

    openrouter-rx chat "Say hello" [-m MODEL] [--system TEXT] [--temperature T] [--max-tokens N]
                       [--json-schema FILE | --tools-demo] [--no-stream] [--jsonl | --plain | --rich]
                       [--offline] [--base-url URL] [--idle-timeout S] [--retries N]
    openrouter-rx models [--search TEXT] [--json] [--plain | --rich] [--offline] [--base-url URL]
    openrouter-rx replay FILE [--delay S] [--interaction N] [--jsonl | --plain | --rich]

Without ``OPENROUTER_API_KEY`` (or with ``--offline``) it says so in one line on stderr and
answers from the embedded fake OpenRouter server. Exit status: 0 ok, 1 a library or request
error (its type and message on stderr), 2 a usage error, 130 cancelled with Ctrl-C (and 143 for
a SIGTERM to the command).
See docs/cli.md.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import signal
import sys
from collections.abc import Sequence
from contextlib import redirect_stderr, redirect_stdout
from typing import TextIO
from urllib.parse import urlsplit

from .._version import __version__
from ..client import DEFAULT_MODEL
from ..errors import OpenRouterError
from ._render import PlainRenderer, Renderer, error_line
from ._session import UsageError, open_client

__all__ = ["build_parser", "console_main", "main", "make_renderer", "rich_available"]


def rich_available() -> bool:
    """Whether ``rich`` is installed (``pip install openrouter-rx[cli]``)."""
    return importlib.util.find_spec("rich") is not None


def _url(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(f"not an http(s) URL: {text!r}")
    if parts.query or parts.fragment:  # the request paths are appended to it
        raise argparse.ArgumentTypeError("the API root takes no '?query' or '#fragment'")
    return text


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def _finite(text: str) -> float:
    """A finite number, 0 or more (NaN or infinity cannot be sent as JSON)."""
    value = float(text)
    if not 0 <= value < math.inf:
        raise argparse.ArgumentTypeError(f"must be a finite number, 0 or more: {text!r}")
    return value


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more: {text!r}")
    return value


def _tokens(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more: {text!r}")
    return value


def _output_options(parser: argparse.ArgumentParser, *, jsonl: bool) -> None:
    group = parser.add_mutually_exclusive_group()
    if jsonl:
        group.add_argument("--jsonl", action="store_true", help="one JSON object per event on stdout (for piping)")
    group.add_argument("--plain", action="store_true", help="plain text even when rich is installed")
    group.add_argument("--rich", action="store_true", help="the rich view even when stdout is not a terminal")


def _connection_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--offline", action="store_true", help="use the embedded fake server even with a key")
    parser.add_argument(
        "--base-url", type=_url, default=None, help="API root (default: $OPENROUTER_BASE_URL, else OpenRouter's)"
    )
    parser.add_argument(
        "--idle-timeout", type=_positive, default=120.0, help="seconds without data before giving up (default 120)"
    )


def build_parser() -> argparse.ArgumentParser:
    """The command line (``chat``, ``models``, ``replay``)."""
    parser = argparse.ArgumentParser(
        prog="openrouter-rx", description="Stream OpenRouter chat completions (offline demo without a key)."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{chat,models,replay}")

    chat = sub.add_parser("chat", help="stream an answer to the terminal")
    chat.add_argument("prompt", help="the user message ('-' reads it from stdin)")
    chat.add_argument("-m", "--model", default=DEFAULT_MODEL, help=f"model id (default {DEFAULT_MODEL})")
    chat.add_argument("--system", help="a system message")
    chat.add_argument("--temperature", type=_finite)
    chat.add_argument("--max-tokens", type=_tokens)
    task = chat.add_mutually_exclusive_group()
    task.add_argument("--json-schema", metavar="FILE", help="a JSON Schema file: ask for JSON of that shape")
    task.add_argument(
        "--tools-demo", action="store_true", help="let the model call two demo tools (weather, calculator)"
    )
    chat.add_argument("--no-stream", action="store_true", help="one non-streaming request")
    chat.add_argument(
        "--retries", type=_count, default=2, help="re-send after a retryable error before any output (default 2)"
    )
    _output_options(chat, jsonl=True)
    _connection_options(chat)

    models = sub.add_parser("models", help="list models with prices per million tokens")
    models.add_argument("--search", help="only models whose id or name contains this text")
    models.add_argument("--json", action="store_true", help="a JSON array on stdout")
    _output_options(models, jsonl=False)
    _connection_options(models)

    replay = sub.add_parser("replay", help="stream a recorded SSE body, cassette or folder through the pipeline")
    replay.add_argument("file", help="a recorded SSE body, a VCR-style YAML cassette, or a recorded folder")
    replay.add_argument("--delay", type=_finite, default=None, help="seconds between the recorded events")
    replay.add_argument("--interaction", type=_count, default=None, help="which cassette interaction (from 0)")
    replay.add_argument("--idle-timeout", type=_positive, default=120.0, help=argparse.SUPPRESS)
    _output_options(replay, jsonl=True)
    return parser


def _wants_rich(args: argparse.Namespace, out: TextIO) -> bool:
    if args.plain:
        return False
    if args.rich:
        if not rich_available():
            raise UsageError("--rich needs rich: pip install 'openrouter-rx[cli]'")
        return True
    isatty = getattr(out, "isatty", None)
    return rich_available() and bool(isatty and isatty()) and os.environ.get("TERM") != "dumb"


def make_renderer(args: argparse.Namespace, out: TextIO, err: TextIO) -> Renderer:
    """``--jsonl``, else rich (forced with ``--rich``, or installed and stdout a terminal), else plain."""
    if getattr(args, "jsonl", False):
        from ._jsonl import JsonlRenderer

        return JsonlRenderer(out, err)
    if _wants_rich(args, out):
        from rich.console import Console

        from ._rich import RichRenderer

        return RichRenderer(Console(file=out), err)
    return PlainRenderer(out, err)


def _dispatch(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.command == "replay":
        from ._replay import run_replay

        return run_replay(args, err, make_renderer(args, out, err))
    if args.command == "models":
        from ._models import fetch_models, print_models

        use_rich = not args.json and _wants_rich(args, out)
        with open_client(args, err) as (client, _):
            models = fetch_models(client, args.search)
        print_models(models, args, out, use_rich)
        if args.search and not models:
            err.write(f"openrouter-rx: no model id or name contains {args.search!r}.\n")
        return 0
    if args.tools_demo and args.no_stream:
        raise UsageError("--tools-demo streams every request: drop --no-stream")
    if args.prompt == "-":
        args.prompt = sys.stdin.read()
    renderer = make_renderer(args, out, err)
    try:
        with open_client(args, err) as (client, _):
            if args.tools_demo:
                from ._demo_tools import run_tools_demo

                return run_tools_demo(args, client, renderer)
            from ._chat import run_chat

            return run_chat(args, client, renderer)
    except OpenRouterError as exc:  # refused before any request (e.g. a key over plain http): said as usual
        renderer.failed(exc)
        renderer.close()
        return 1


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run the ``openrouter-rx`` command line and return its exit status.

    Args:
        argv: the arguments (default ``sys.argv[1:]``).
        out: where answers go (default ``sys.stdout``).
        err: where notes, footers and errors go (default ``sys.stderr``).

    Returns:
        0 ok, 1 a library or request error, 2 a usage error, 130 cancelled (Ctrl-C).
    """
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    try:
        with redirect_stdout(out), redirect_stderr(err):  # argparse's help and usage errors
            args = build_parser().parse_args(argv)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 2
    try:
        return _dispatch(args, out, err)
    except UsageError as exc:
        err.write(f"openrouter-rx: {exc}\n")
        return 2
    except OpenRouterError as exc:  # e.g. models: the request failed
        err.write(error_line(exc) + "\n")
        return 1
    except KeyboardInterrupt:
        err.write("openrouter-rx: cancelled.\n")
        return 130


def _terminated(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds like Ctrl-C: the stream is closed, the live view ends (cursor shown)


def console_main() -> None:
    """``console_scripts`` entry point: exit with :func:`main`'s status (SIGTERM: 143, after the
    same clean-up as Ctrl-C, so a terminal is left with its cursor visible)."""
    try:
        signal.signal(signal.SIGTERM, _terminated)
    except ValueError:  # pragma: no cover - not the main thread (e.g. called from a test runner's thread)
        pass
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:  # e.g. `openrouter-rx chat ... --jsonl | head -3`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 1
    sys.exit(code)
