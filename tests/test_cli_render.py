"""The CLI's renderers: the rich live view, the plain text and the footer."""

from __future__ import annotations

import io
import re
from decimal import Decimal
from typing import Any

import pytest
from rich.console import Console

from openrouter_rx.chunk import Chunk, Usage
from openrouter_rx.cli import main
from openrouter_rx.cli._render import PlainRenderer, Summary, footer_text
from openrouter_rx.cli._rich import FOOTER_STYLE, REASONING_STYLE, RichRenderer, _Tail
from openrouter_rx.errors import RateLimitError
from openrouter_rx.metrics import StreamMetrics
from openrouter_rx.response import Response, ResponseChoice, ToolCall
from openrouter_rx.testing import FakeOpenRouter, StreamReply, text_chunks

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class FakeTTY(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def chunk(**delta: Any) -> Chunk:
    return Chunk.from_dict({"model": "acme/m", "choices": [{"index": 0, "delta": delta}]})


def response(content: str = "Hello.", *, cost: str | None = "0.0002", usage: bool = True) -> Response:
    used = Usage(prompt_tokens=5, completion_tokens=7, total_tokens=12, cost=Decimal(cost) if cost else None)
    return Response(model="acme/m", choices=(ResponseChoice(content=content),), usage=used if usage else None)


METRICS = StreamMetrics(
    chunks=4, elapsed=0.5, time_to_first_token=0.125, completion_tokens=7, estimated=False, tokens_per_second=14.0
)


def styles_of(console: Console, renderable: Any, text: str) -> list[Any]:
    """The styles of the segments that draw ``text``."""
    return [seg.style for seg in console.render(renderable) if text in seg.text and seg.style is not None]


@pytest.fixture
def rich_view() -> tuple[RichRenderer, io.StringIO, io.StringIO]:
    screen, err = io.StringIO(), io.StringIO()
    console = Console(file=screen, force_terminal=True, width=80, color_system="standard")
    return RichRenderer(console, err, auto_refresh=False), screen, err


# -- rich -------------------------------------------------------------------------------------


def test_rich_spinner_until_the_first_token(rich_view: tuple[RichRenderer, io.StringIO, io.StringIO]) -> None:
    view, screen, _ = rich_view
    view.start("acme/m", "chat")
    view.chunk(chunk(role="assistant", content=""))  # a role chunk is not output
    assert view.spinner is not None
    assert "waiting for the first token" in ANSI.sub("", screen.getvalue())
    view.chunk(chunk(content="Hi"))
    assert view.spinner is None
    shown = Console(file=io.StringIO(), width=80)
    with shown.capture() as capture:
        shown.print(view.renderable())
    assert "waiting" not in capture.get() and "Hi" in capture.get()
    view.close()


def test_rich_reasoning_is_dim_and_content_is_not(rich_view: tuple[RichRenderer, io.StringIO, io.StringIO]) -> None:
    view, screen, _ = rich_view
    view.start("acme/m", "chat")
    view.chunk(chunk(reasoning="pondering deeply"))
    view.chunk(chunk(content="The answer"))
    reasoning_styles = styles_of(view.console, view.renderable(), "pondering")
    content_styles = styles_of(view.console, view.renderable(), "The answer")
    assert reasoning_styles and all(style.dim for style in reasoning_styles)
    assert all(not style.dim for style in content_styles)
    view.finish(Summary(response("The answer"), METRICS))
    drawn = screen.getvalue()
    assert re.search(r"\x1b\[2;3mpondering deeply", drawn)  # dim italic on the terminal
    assert REASONING_STYLE == "dim italic"


def test_rich_footer_has_every_field(rich_view: tuple[RichRenderer, io.StringIO, io.StringIO]) -> None:
    view, screen, err = rich_view
    view.start("acme/m", "chat")
    view.chunk(chunk(content="Hello."))
    view.metrics(METRICS)
    assert "7 tokens" in str(view.footer) and "first token 125 ms" in str(view.footer)
    view.finish(Summary(response(), METRICS))
    footer = str(view.footer)
    for field in ("7 tokens", "14.0 tok/s", "first token 125 ms", "cost $0.0002", "acme/m"):
        assert field in footer
    assert view.live is None  # the view is stopped
    final = ANSI.sub("", screen.getvalue())
    assert final.rstrip().endswith("acme/m") and "cost $0.0002" in final
    assert all(style.dim for style in styles_of(view.console, view.renderable(), "tok/s"))
    assert FOOTER_STYLE == "dim" and err.getvalue() == ""


def test_rich_live_region_shows_the_newest_lines_and_the_end_prints_all_once() -> None:
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=40, height=10)
    view = RichRenderer(console, io.StringIO(), auto_refresh=False)
    view.start("acme/m", "chat")
    view.chunk(chunk(content="".join(f"line {n:02d}\n" for n in range(48))))  # taller than the terminal at once
    view.chunk(chunk(content="line 48\nline 49\n"))
    live_lines = [ANSI.sub("", "".join(seg.text for seg in line)) for line in console.render_lines(_Tail(view))]
    assert len(live_lines) <= 9 and "line 49" in "".join(live_lines) and "line 00" not in "".join(live_lines)
    view.finish(Summary(response("".join(f"line {n:02d}\n" for n in range(50))), METRICS))
    drawn = ANSI.sub("", screen.getvalue())
    assert drawn.count("line 00") == 1  # never in the live region (too old), printed once at the end
    assert drawn.index("line 00") < drawn.index("line 49", drawn.index("line 00")) < drawn.rindex("tok/s")


def test_rich_json_mode_draws_the_partial_then_the_final_value(
    rich_view: tuple[RichRenderer, io.StringIO, io.StringIO],
) -> None:
    view, screen, _ = rich_view
    view.start("acme/m", "json")
    view.chunk(chunk(content='{"city": "Os'))
    view.partial_json({"city": "Os"})
    assert '"Os"' in ANSI.sub("", _render_text(view))
    view.finish(Summary(response('{"city": "Oslo"}'), METRICS, structured={"city": "Oslo"}))
    assert '"city": "Oslo"' in ANSI.sub("", _render_text(view))
    assert '"city": "Oslo"' in ANSI.sub("", screen.getvalue())


def _render_text(view: RichRenderer) -> str:
    console = Console(file=io.StringIO(), width=80)
    with console.capture() as capture:
        console.print(view.renderable())
    return capture.get()


def test_rich_tool_lines_and_errors(rich_view: tuple[RichRenderer, io.StringIO, io.StringIO]) -> None:
    view, screen, err = rich_view
    view.start("acme/m", "tools")
    call = ToolCall(id="call_1", name="calculator", arguments_json='{"expression": "1+1"}')
    view.tool_call(call, None)
    view.tool_result(call, 2.0, None)
    view.tool_result(call, None, ValueError("bad input"))
    drawn = _render_text(view)
    assert '→ calculator({"expression": "1+1"})' in drawn
    assert "↳ calculator: 2.0" in drawn and "↳ calculator: error: ValueError: bad input" in drawn
    view.failed(RateLimitError("slow down", status=429))
    assert err.getvalue() == "openrouter-rx: RateLimitError: 429: slow down\n"
    assert view.live is None and "calculator" in ANSI.sub("", screen.getvalue())


def test_rich_renderer_through_main(fake_openrouter: FakeOpenRouter) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks("Rich hello.", reasoning="Thinking.")))
    out, err = io.StringIO(), io.StringIO()
    assert main(["chat", "hi", "--rich", "--base-url", fake_openrouter.base_url], out=out, err=err) == 0
    text = out.getvalue()  # not a terminal: rich draws the final view once, without styles
    assert text.endswith("\n") and "\x1b" not in text
    assert "Thinking." in text and "Rich hello." in text and "tok/s" in text and "cost $" in text
    assert "waiting for the first token" not in text


# -- plain ------------------------------------------------------------------------------------


def test_plain_dims_reasoning_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    out, err = FakeTTY(), FakeTTY()
    view = PlainRenderer(out, err)
    view.start("acme/m", "chat")
    view.chunk(chunk(reasoning="hmm"))
    view.chunk(chunk(content="Yes."))
    view.finish(Summary(response("Yes."), METRICS))
    assert out.getvalue() == "\x1b[2mhmm\x1b[0m\nYes.\n"
    assert err.getvalue().startswith("\x1b[2m[7 tokens | 14.0 tok/s | first token 125 ms | cost $0.0002")


def test_plain_respects_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    out, err = FakeTTY(), FakeTTY()
    view = PlainRenderer(out, err)
    view.chunk(chunk(reasoning="hmm"))
    view.chunk(chunk(content="Yes."))
    view.finish(Summary(response("Yes."), METRICS))
    assert "\x1b" not in out.getvalue() + err.getvalue()
    assert out.getvalue() == "hmm\nYes.\n"


# -- the footer -------------------------------------------------------------------------------


def test_footer_cost_na_when_unknown() -> None:
    assert "cost n/a" in footer_text(Summary(response(cost=None), METRICS))


def test_footer_marks_estimated_tokens() -> None:
    estimated = StreamMetrics(chunks=3, completion_tokens=9, estimated=True, tokens_per_second=None)
    text = footer_text(Summary(response(usage=False), estimated))
    assert text.startswith("~9 tokens | n/a tok/s | first token n/a | cost n/a")


def test_footer_without_streaming_uses_the_response_time() -> None:
    whole = Response(
        model="acme/m",
        choices=(ResponseChoice(content="x"),),
        usage=Usage(prompt_tokens=1, completion_tokens=10, total_tokens=11, cost=Decimal("0.001")),
        response_time=0.5,
    )
    assert footer_text(Summary(whole, None)) == "10 tokens | 20.0 tok/s | response 500 ms | cost $0.001 | acme/m"


def test_footer_of_several_requests_sums_their_cost() -> None:
    text = footer_text(Summary(response(), METRICS, turns=2, total_cost=Decimal("0.0005")))
    assert "cost $0.0005" in text and "2 requests" in text


def test_rich_tools_demo_through_main_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    from openrouter_rx.cli import _session

    monkeypatch.delenv("OPENROUTER_API_KEY", raising=False)
    monkeypatch.setattr(_session, "DEMO_DELAY", 0.0)
    monkeypatch.setenv("FORCE_COLOR", "1")  # rich then treats the StringIO as a terminal: the live view runs
    out, err = io.StringIO(), io.StringIO()
    assert main(["chat", "x", "--tools-demo", "--rich"], out=out, err=err) == 0
    drawn = out.getvalue()
    assert "waiting for the first token" in ANSI.sub("", drawn)  # the spinner was shown
    final = ANSI.sub("", drawn.rsplit("\x1b[2K", 1)[-1])  # what is left once the live region is erased
    assert "waiting" not in final
    assert final.count("→ get_weather(") == 1 and "↳ calculator: 6.0" in final
    assert "calculator answered 6.0" in final.replace("\n", " ")
    assert "2 requests" in final and "tok/s" in final
