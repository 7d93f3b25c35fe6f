"""``openrouter-rx``: stream a chat completion to the terminal.

With no API key it says so in one line and answers from the embedded fake
OpenRouter server, so it works offline.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections.abc import Sequence
from contextlib import ExitStack
from decimal import Decimal
from typing import Any, TextIO

from ._version import __version__
from .chunk import Chunk, Usage
from .client import DEFAULT_MODEL, Client, Timeout
from .errors import OpenRouterError

__all__ = ["main"]

DEMO_TEXT = (
    "Server-sent events let a server push a stream of small text events over one HTTP response. "
    "openrouter_rx reads them as they arrive and hands each chunk to a cold RxPY observable: "
    "subscribe to start the request, dispose to close the connection, and compose operators "
    "for everything else."
)


class _Printer:
    """Writes content as it arrives; reasoning dimmed when the output is a terminal."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.color = out.isatty() and os.environ.get("NO_COLOR") is None
        self.in_reasoning = False
        self.started = time.monotonic()
        self.first_token: float | None = None
        self.usage: Usage | None = None
        self.pieces = 0
        self.model: str | None = None

    def chunk(self, chunk: Chunk) -> None:
        self.model = self.model or chunk.model
        if chunk.usage is not None:
            self.usage = chunk.usage
        text, reasoning = chunk.content, chunk.reasoning
        if (text or reasoning) and self.first_token is None:
            self.first_token = time.monotonic()
        if reasoning:
            self.pieces += 1
            self._write(reasoning, dim=True)
        if text:
            self.pieces += 1
            self._write(text, dim=False)

    def _write(self, text: str, dim: bool) -> None:
        if dim and self.color:
            text = f"\x1b[2m{text}\x1b[0m"
        self.out.write(text)
        self.out.flush()

    def footer(self) -> str:
        elapsed = time.monotonic() - self.started
        tokens = self.usage.completion_tokens if self.usage else self.pieces
        approx = "" if self.usage else "~"
        generating = elapsed - ((self.first_token or self.started) - self.started)
        rate = tokens / generating if generating > 0 else 0.0
        parts = [f"{approx}{tokens} tokens", f"{rate:.1f} tok/s"]
        if self.first_token is not None:
            parts.append(f"first token {(self.first_token - self.started) * 1000:.0f} ms")
        if self.usage is not None and self.usage.cost is not None:
            parts.append(f"cost ${_fmt_cost(self.usage.cost)}")
        if self.model:
            parts.append(self.model)
        return " | ".join(parts)


def _fmt_cost(cost: Decimal) -> str:
    return f"{cost:.8f}".rstrip("0").rstrip(".") if cost else "0"


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="openrouter-rx", description="Stream OpenRouter chat completions.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    chat = sub.add_parser("chat", help="stream an answer to the terminal")
    chat.add_argument("prompt", help="the user message")
    chat.add_argument("-m", "--model", default=DEFAULT_MODEL, help=f"model id (default {DEFAULT_MODEL})")
    chat.add_argument("--system", help="a system message")
    chat.add_argument("--temperature", type=float)
    chat.add_argument("--max-tokens", type=int)
    chat.add_argument("--offline", action="store_true", help="use the embedded fake server even with a key")
    chat.add_argument("--base-url", default=None, help="API root (default: OpenRouter)")
    chat.add_argument("--idle-timeout", type=float, default=120.0, help="seconds without data before giving up")
    return parser


def _chat(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    messages: list[dict[str, Any]] = []
    if args.system:
        messages.append({"role": "system", "content": args.system})
    messages.append({"role": "user", "content": args.prompt})
    with ExitStack() as stack:
        base_url = args.base_url
        api_key = os.environ.get("OPENROUTER_API_KEY") or None
        if args.offline or (api_key is None and base_url is None):
            from .testing import FakeOpenRouter

            reason = "--offline given" if args.offline else "no OPENROUTER_API_KEY set"
            err.write(f"openrouter-rx: {reason}; answering from the embedded fake OpenRouter server (offline demo).\n")
            fake = stack.enter_context(FakeOpenRouter(default_text=DEMO_TEXT, default_delay=0.03))
            base_url, api_key = fake.base_url, None
        client = stack.enter_context(
            Client(
                api_key=api_key,
                base_url=base_url or "https://openrouter.ai/api/v1",
                timeout=Timeout(idle=args.idle_timeout),
            )
        )
        printer = _Printer(out)
        done = threading.Event()
        failure: list[BaseException] = []

        def on_error(exc: Exception) -> None:
            failure.append(exc)
            done.set()

        subscription = client.stream(
            messages, model=args.model, temperature=args.temperature, max_tokens=args.max_tokens
        ).subscribe(printer.chunk, on_error, done.set)
        try:
            while not done.wait(0.1):
                pass
        except KeyboardInterrupt:
            subscription.dispose()
            out.write("\n")
            err.write("openrouter-rx: cancelled; the stream was closed.\n")
            return 130
        out.write("\n")
        if failure:
            exc = failure[0]
            kind = type(exc).__name__
            err.write(f"openrouter-rx: {kind}: {exc}\n")
            return 1
        err.write(f"[{printer.footer()}]\n")
        return 0


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Entry point of the ``openrouter-rx`` console script."""
    args = _build_parser().parse_args(argv)
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        if args.command == "chat":
            return _chat(args, out, err)
    except OpenRouterError as exc:  # pragma: no cover - errors arrive through on_error
        err.write(f"openrouter-rx: {type(exc).__name__}: {exc}\n")
        return 1
    return 2


def console_main() -> None:
    """``console_scripts`` wrapper: exit with :func:`main`'s status."""
    sys.exit(main())
