"""The rich renderer: a live view (import this module only when ``rich`` is importable).

Until the first token a spinner turns; then reasoning is shown dimmed, the content as it
streams (or, with ``--json-schema``, the JSON received so far, pretty-printed), tool calls and
their results, and a footer with the live numbers of the ``meter()`` operator. Errors and the
cancel note go to ``err`` as plain lines, as with the plain renderer. The model's text is shown
without control characters (:func:`~._render.terminal_safe`): rich would pass an escape sequence
through to the terminal.
"""

from __future__ import annotations

import json
from typing import Any, TextIO

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.json import JSON
from rich.live import Live
from rich.segment import Segment
from rich.spinner import Spinner
from rich.text import Text

from ..chunk import Chunk
from ..metrics import StreamMetrics
from ..response import Response, ToolCall
from ._render import (
    NOTHING,
    Renderer,
    Summary,
    call_text,
    cancel_note,
    error_line,
    footer_text,
    terminal_safe,
    value_text,
)

__all__ = ["RichRenderer", "REASONING_STYLE", "FOOTER_STYLE"]

REASONING_STYLE = "dim italic"
FOOTER_STYLE = "dim"
_TOOL_STYLE = "cyan"


def _live_footer(metrics: StreamMetrics) -> str:
    approx = "~" if metrics.estimated else ""
    parts = [f"{approx}{metrics.completion_tokens} tokens"]
    if metrics.tokens_per_second is not None:
        parts.append(f"{metrics.tokens_per_second:.1f} tok/s")
    if metrics.time_to_first_token is not None:
        parts.append(f"first token {metrics.time_to_first_token * 1000:.0f} ms")
    return " | ".join(parts)


class _Tail:
    """The live view, as tall as the terminal at most: its last lines (the newest text).

    Rendered by rich's refresh thread from the renderer's current state, which the main thread
    only changes by appending to lists and replacing whole objects (never mutating one in place).
    """

    def __init__(self, view: RichRenderer) -> None:
        self.view = view

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        lines = console.render_lines(self.view.renderable(), options, pad=False)
        budget = max(1, options.size.height - 1)
        for line in lines[-budget:]:
            yield from line
            yield Segment.line()


class RichRenderer(Renderer):
    """A live view on ``console`` (injectable: tests pass ``Console(file=StringIO(),
    force_terminal=True)``), then the whole answer printed once.

    While streaming, a :class:`rich.live.Live` region shows the spinner, the reasoning (dimmed),
    the content or the partial JSON, tool lines and the live footer, cut to the terminal's height
    (the newest lines); at the end the region is replaced by the whole answer, printed normally,
    so the scrollback holds it once. On a console that is not a terminal only the end is printed.

    Args:
        console: where the view is drawn.
        err: where errors and the cancel note are written.
        auto_refresh: redraw on a timer (animates the spinner); ``False`` redraws on each event.
    """

    def __init__(self, console: Console, err: TextIO, *, auto_refresh: bool = True) -> None:
        self.console = console
        self.err = err
        self.auto_refresh = auto_refresh
        self.mode = "chat"
        self.spinner: Spinner | None = Spinner("dots", text=Text(" waiting for the first token", style=FOOTER_STYLE))
        self.reasoning: list[str] = []
        self.content: list[str] = []
        self.partial: Any = NOTHING
        self.final: Any = NOTHING
        self.tools: list[Text] = []
        self.footer = Text(style=FOOTER_STYLE)
        self.live: Live | None = None
        self.printed = False

    # -- the view ---------------------------------------------------------------------
    def renderable(self) -> RenderableType:
        """What the view shows now (whole; the live region shows its last lines)."""
        parts: list[RenderableType] = []
        spinner = self.spinner
        if spinner is not None:
            parts.append(spinner)
        if self.reasoning:
            parts.append(Text("".join(self.reasoning), style=REASONING_STYLE))
        parts.extend(list(self.tools))
        final, partial = self.final, self.partial
        if final is not NOTHING:
            parts.append(JSON(json.dumps(final, ensure_ascii=False, default=str)))
        elif self.mode == "json" and partial is not NOTHING:
            parts.append(JSON(json.dumps(partial, ensure_ascii=False, default=str)))
        elif self.content:
            parts.append(Text("".join(self.content)))
        footer = self.footer
        if footer:
            parts.append(footer)
        return Group(*parts)

    def _redraw(self) -> None:
        if self.live is not None and not self.auto_refresh:
            self.live.refresh()

    def _stop(self) -> None:
        """End the live region (it disappears) and print the whole view once."""
        if self.live is not None:
            self.live.stop()
            self.live = None
        if not self.printed:
            self.printed = True
            self.console.print(self.renderable())

    def _output_arrived(self) -> None:
        self.spinner = None

    # -- events -----------------------------------------------------------------------
    def start(self, model: str | None, mode: str) -> None:
        """Start the live region with the spinner (on a terminal)."""
        self.mode = mode
        if self.live is None and self.console.is_terminal:
            self.live = Live(
                _Tail(self),
                console=self.console,
                auto_refresh=self.auto_refresh,
                refresh_per_second=12,
                transient=True,
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self.live.start(refresh=True)

    def chunk(self, chunk: Chunk) -> None:
        """Append reasoning (dimmed) and content; the spinner goes at the first output."""
        reasoning, content = chunk.reasoning, chunk.content
        if reasoning or content or chunk.tool_calls:
            self._output_arrived()
        if reasoning:
            self.reasoning.append(terminal_safe(reasoning))
        if content:
            self.content.append(terminal_safe(content))
        self._redraw()

    def metrics(self, metrics: StreamMetrics) -> None:
        """The live footer."""
        self.footer = Text(_live_footer(metrics), style=FOOTER_STYLE)  # a new object: never changed in place
        self._redraw()

    def partial_json(self, value: Any) -> None:
        """The JSON received so far."""
        self._output_arrived()
        self.partial = value
        self._redraw()

    def tool_call(self, call: ToolCall, error: Exception | None) -> None:
        """A line per tool call."""
        self._output_arrived()
        note = f"  (invalid: {error})" if error is not None else ""
        self.tools.append(Text(terminal_safe(f"→ {call_text(call)}{note}"), style=_TOOL_STYLE))
        self._redraw()

    def tool_result(self, call: ToolCall, value: Any, error: Exception | None) -> None:
        """A line per tool result."""
        shown = f"error: {type(error).__name__}: {error}" if error is not None else value_text(value)
        self.tools.append(Text(terminal_safe(f"  ↳ {call.name}: {shown}"), style=_TOOL_STYLE))
        self._redraw()

    def turn_finished(self, response: Response) -> None:
        """A new request follows: the spinner again, the reasoning of this turn kept."""
        if self.content:
            self.content.append("\n")  # this turn's text apart from the next one's
        self.spinner = Spinner("dots", text=Text(" waiting for the answer", style=FOOTER_STYLE))
        self._redraw()

    def finish(self, summary: Summary) -> None:
        """The final view: no spinner, the final value, the tool calls asked for, the footer."""
        self._output_arrived()
        if summary.structured is not NOTHING:
            self.final = summary.structured
        elif summary.response.has_tool_calls and not self.tools:
            calls = summary.response.tool_calls
            self.tools = [Text(terminal_safe(f"→ {call_text(call)}"), style=_TOOL_STYLE) for call in calls]
        if summary.response.refusal:
            refused = Text(terminal_safe(f"the model refused: {summary.response.refusal}"), style="yellow")
            self.tools = [*self.tools, refused]
        self.footer = Text(terminal_safe(footer_text(summary)), style=FOOTER_STYLE)
        self._stop()

    def failed(self, error: Exception) -> None:
        """Stop the view (what arrived stays on screen, as text: the partial JSON of a failed
        ``--json-schema`` request would hide a value cut in the middle), then the typed error on
        ``err``."""
        self.spinner = None
        if self.content:
            self.partial = NOTHING
        self._stop()
        self.err.write(error_line(error) + "\n")
        self.err.flush()

    def cancelled(self, metrics: StreamMetrics | None) -> None:
        """Stop the view, then the cancel note on ``err``."""
        self.spinner = None
        self._stop()
        self.err.write(cancel_note(metrics) + "\n")
        self.err.flush()

    def close(self) -> None:
        """Stop the view if still running."""
        self._stop()
