"""A new user's journey through the docs and examples: what they are told must be true.

- every operator of ``openrouter_rx.operators`` has its section in docs/operators.md, and every
  marble diagram there is what ``run_marbles`` records (read from the page, so an edit that makes a
  diagram wrong fails here);
- the migration table names every method, option and event of the Ruby gem's streaming guide, and
  every section of the guide has its script in examples/guide/;
- docs and examples use the short public names (``orx.StreamingClient``, ...);
- examples/data_app.py refuses a CSV it cannot use with a clear message instead of a traceback.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest
import reactivex
from marshmallow import Schema, fields
from reactivex import Observable
from reactivex.observable.marbles import parse

import openrouter_rx as orx
from openrouter_rx import operators as orx_ops
from openrouter_rx.testing import ChunkFactory, MarbleRun, chunk_lookup, run_marbles

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
OPERATORS_PAGE = (DOCS / "operators.md").read_text(encoding="utf-8")
MIGRATION_PAGE = (DOCS / "migrating-from-ruby.md").read_text(encoding="utf-8")
GUIDE_README = (ROOT / "examples" / "guide" / "README.md").read_text(encoding="utf-8")

# -- the operator reference ------------------------------------------------------------------------


@pytest.mark.parametrize("name", orx_ops.__all__)
def test_every_operator_has_its_place_in_the_reference(name: str) -> None:
    table = [line for line in OPERATORS_PAGE.splitlines() if line.startswith("| [")]
    assert any(re.search(rf"`{name}[(`]", row) for row in table), f"{name} is not in the table"
    assert f"{name}(" in OPERATORS_PAGE, f"{name} has no signature or example on docs/operators.md"


def _text_blocks() -> list[list[str]]:
    return [block.splitlines() for block in re.findall(r"```text\n(.*?)```", OPERATORS_PAGE, re.S)]


def _diagram(label: str, occurrence: int = 0) -> tuple[list[str], str]:
    """The lines of a diagram up to its ``occurrence``-th line starting with ``label``, and that
    line's marbles."""
    seen = 0
    for block in _text_blocks():
        for number, line in enumerate(block):
            if line.startswith(label):
                if seen == occurrence:
                    return block[:number], line[len(label) :].split()[0]
                seen += 1
    raise AssertionError(f"no diagram line {label!r} (#{occurrence}) on docs/operators.md")


def _source(above: list[str], prefix: str = "chunks:") -> str:
    """The marbles of the nearest line starting with ``prefix`` among ``above``."""
    for line in reversed(above):
        if line.startswith(prefix):
            return line[len(prefix) :].split()[0]
    raise AssertionError(f"no {prefix!r} line in {above}")


def _shape(marbles: str) -> list[tuple[float, str]]:
    kinds = {"OnNext": "N", "OnError": "E", "OnCompleted": "C"}
    events = parse(marbles, timespan=1.0)  # times are floats here (a timedelta only for datetime timespans)
    return [(float(cast(float, time)), kinds[type(note).__name__]) for time, note in events]


def _recorded(run: MarbleRun) -> list[tuple[float, str]]:
    return [(float(frame), kind) for frame, kind, _ in run.events]


def _tool_delta(index: int, call_id: str | None = None, name: str | None = None, arguments: str = "") -> dict[str, Any]:
    delta: dict[str, Any] = {"index": index, "function": {"arguments": arguments}}
    if call_id is not None:
        delta.update(id=call_id, type="function")
        delta["function"]["name"] = name
    return delta


def _tool_chunk(*deltas: dict[str, Any]) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": {"tool_calls": list(deltas)}}]}


class _City(Schema):
    city = fields.String(required=True)


_F = ChunkFactory()
TEXT = chunk_lookup(a="Hel", b="lo", c="!", r=_F.role(), f=_F.finish("stop"), u=_F.usage(5, 2))
TOOLS = chunk_lookup(
    a=_tool_chunk(_tool_delta(0, "c1", "add")),
    b=_tool_chunk(_tool_delta(0, arguments='{"a": 1}')),
    c=_tool_chunk(_tool_delta(1, "c2", "shout")),
    d=_tool_chunk(_tool_delta(1, arguments="{}")),
    f={"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
    u=_F.usage(5, 2),
)
DELTAS = chunk_lookup(
    a=_tool_chunk(_tool_delta(0, "c1", "add"), _tool_delta(0, arguments="{}")), b=_tool_chunk(_tool_delta(1, "c2", "x"))
)
THINKING = chunk_lookup(p={"choices": [{"index": 0, "delta": {"reasoning": "Let me see."}}]}, a="Yes.")
JSON_PIECES = chunk_lookup(a='{"ci', b='ty": "Os', c='lo"}')
DOWN = orx.ServiceUnavailableError("no provider", status=503)

Operator = Callable[[Observable[Any]], Observable[Any]]
SIMPLE_DIAGRAMS: list[tuple[str, int, Callable[[], Operator], dict[str | float, Any], Exception | None]] = [
    ("accumulate():", 0, orx_ops.accumulate, TEXT, None),
    ("accumulate():", 1, orx_ops.accumulate, TEXT, orx.TruncatedStreamError("cut")),
    ("snapshots():", 0, orx_ops.snapshots, TEXT, None),
    ("content():", 0, orx_ops.content, TEXT, None),
    ("reasoning():", 0, orx_ops.reasoning, THINKING, None),
    ("tool_calls():", 0, orx_ops.tool_calls, TOOLS, None),
    ("tool_call_deltas():", 0, orx_ops.tool_call_deltas, DELTAS, None),
    ("partial_json:", 0, orx_ops.partial_json, JSON_PIECES, None),
    ("structured_output:", 0, lambda: orx_ops.structured_output(_City), JSON_PIECES, None),
    ("meter():", 0, orx_ops.meter, TEXT, None),
    ("track_usage(t):", 0, lambda: orx_ops.track_usage(orx.UsageTracker()), TEXT, None),
    ("idle_timeout(3):", 0, lambda: orx_ops.idle_timeout(3), TEXT, None),
    ("retry…():", 1, orx_ops.retry_with_backoff, TEXT, DOWN),
]


@pytest.mark.parametrize(
    ("label", "occurrence", "make", "lookup", "error"),
    SIMPLE_DIAGRAMS,
    ids=[f"{label}#{occurrence}" for label, occurrence, *_ in SIMPLE_DIAGRAMS],
)
def test_a_marble_diagram_of_the_operator_reference_is_true(
    label: str, occurrence: int, make: Callable[[], Operator], lookup: dict[str | float, Any], error: Exception | None
) -> None:
    block, expected = _diagram(label, occurrence)
    prefix = "source:" if label.startswith("retry") else "chunks:"
    run = run_marbles(make(), _source(block, prefix), lookup, error=error)
    assert _recorded(run) == _shape(expected), f"{label} {expected}"


def test_every_stream_operator_has_a_diagram_checked_here() -> None:
    checked = {label.split("(")[0].rstrip(":") for label, *_ in SIMPLE_DIAGRAMS}
    checked |= {"retry_with_backoff", "fallback_to_non_streaming"}  # the two tests below
    checked = {"retry_with_backoff" if name == "retry…" else name for name in checked}
    predicates = {"is_retryable", "should_fall_back"}  # functions of an error, shown in their sections
    assert checked == set(orx_ops.__all__) - predicates


def test_the_values_the_diagrams_name_are_the_values_emitted() -> None:
    block, _ = _diagram("partial_json:")
    run = run_marbles(orx_ops.partial_json(), _source(block), JSON_PIECES)
    assert run.values == [{}, {"city": "Os"}, {"city": "Oslo"}]  # x, y, z of the diagram
    block, _ = _diagram("idle_timeout(3):")
    run = run_marbles(orx_ops.idle_timeout(3), _source(block), TEXT)
    assert isinstance(run.error, orx.IdleTimeout) and run.error.partial is not None
    assert run.error.partial.content == "Hello"
    block, _ = _diagram("meter():")
    metrics = run_marbles(orx_ops.meter(), _source(block), TEXT).values
    assert metrics[-1].final and not any(m.final for m in metrics[:-1])


def test_the_retry_diagram_with_a_second_subscription_is_true() -> None:
    block, expected = _diagram("retry…():", 0)
    attempts = [_source(block, "source, 1st:"), _source(block, "source, 2nd:")]
    subscriptions = [0]

    def source(observer: Any, scheduler: Any = None) -> Any:
        marbles = attempts[min(subscriptions[0], 1)]
        subscriptions[0] += 1
        return reactivex.from_marbles(marbles, timespan=1.0, lookup=TEXT, error=DOWN).subscribe(
            observer, scheduler=scheduler
        )

    retry = orx_ops.retry_with_backoff(base=2.0, jitter=False)  # as the diagram says
    run = run_marbles(lambda _: Observable(source).pipe(retry), "|")
    assert _recorded(run) == _shape(expected)


def test_the_fallback_diagram_is_true() -> None:
    block, expected = _diagram("fallback():")
    answer = orx.Response.from_chunks([TEXT["a"], TEXT["b"], TEXT["f"], TEXT["u"]])
    completion = reactivex.from_marbles(_source(block, "completion:"), timespan=1.0, lookup={"R": answer})
    bad_gateway = orx.BadGatewayError("provider down", status=502)
    run = run_marbles(orx_ops.fallback_to_non_streaming(completion), _source(block), TEXT, error=bad_gateway)
    assert _recorded(run) == _shape(expected)
    assert [(c.content, c.finish_reason, c.usage is not None) for c in run.values] == [
        ("Hello", None, False),
        ("", "stop", False),
        ("", None, True),
    ]


def test_the_group_notation_the_reference_explains_is_the_one_rxpy_reads() -> None:
    assert "`(x,y,|)`" in OPERATORS_PAGE
    assert run_marbles(None, "-(a,b)-c|").frames() == [1, 1, 7, 8]


# -- the Ruby guide --------------------------------------------------------------------------------

# Every method, option, event and name the Ruby guide (estiens/open_router_enhanced docs/streaming.md)
# uses, as it appears in the left column of docs/migrating-from-ruby.md.
RUBY_NAMES = [
    "OpenRouter::StreamingClient.new",
    "access_token",
    "request_timeout",
    "site_name",
    "site_url",
    "track_usage",
    "pool_size",
    "stream_complete(messages, model: ..., accumulate_response: true)",
    "accumulate_response: false",
    "stream_complete(messages, stream_opts",
    "tools: [weather_tool]",
    "response_format: user_schema",
    "stream(messages) {",
    "stream(messages, stream_opts, temperature: 0.2)",
    "on_stream(:on_chunk)",
    "clear_callbacks",
    "fallback_client.complete(messages, model: ...)",
    ":on_start",
    ":on_chunk",
    ":on_tool_call_chunk",
    ":on_finish",
    ":on_error",
    "data[:model]",
    "data[:messages].size",
    "CompletionOptions.new(model: ..., temperature: 0.8, max_tokens: 2000)",
    "OpenRouter.configure",
    "config.auto_heal_responses",
    "config.healer_model",
    "response.content",
    "response.total_tokens",
    "response.cost_estimate",
    "response.model",
    "response.has_tool_calls?",
    "tc.name",
    'tc.arguments["location"]',
    "response.structured_output",
    "response.response_time",
    "chunk.content",
    "chunk.tool_calls",
    'chunk.usage["total_tokens"]',
    "OpenRouter::Tool.define",
    "OpenRouter::Schema.define",
    "OpenRouter::ServerError",
    "Faraday::TimeoutError",
    "error.message",
    "GC.start",
    "reset trackers periodically",
]


@pytest.mark.parametrize("name", RUBY_NAMES)
def test_the_migration_table_names_every_item_of_the_ruby_guide(name: str) -> None:
    assert name in MIGRATION_PAGE, f"{name!r} of the Ruby guide has no row on docs/migrating-from-ruby.md"


RUBY_SECTIONS = [
    "Quick Start",
    "Using CompletionOptions",
    "Streaming with Callbacks",
    "Streaming with Tool Calls",
    "Real-time Processing",
    "Error Handling and Fallbacks",
    "Performance Monitoring",
    "Response Accumulation",
    "Structured Outputs with Streaming",
    "Configuration Options",
    "Memory Management",
    "WebSocket Integration",
    "Background Job Integration",
    "Comparison: Streaming vs Regular Client",
    "Best Practices: Error Handling",
    "Best Practices: Performance Optimization",
    "Troubleshooting: Connection Timeouts",
    "Troubleshooting: Memory Leaks",
    "Troubleshooting: Missing Chunks",
    'Best Practices: "Clean up resources"',
]


@pytest.mark.parametrize("section", RUBY_SECTIONS)
def test_every_section_of_the_ruby_guide_has_a_guide_script(section: str) -> None:
    rows = [line for line in GUIDE_README.splitlines() if line.startswith("| ") and section in line]
    assert rows, f"the Ruby guide's {section!r} is not in examples/guide/README.md"
    for script in re.findall(r"\]\((\d\d_\w+\.py)\)", rows[0]):
        assert (ROOT / "examples" / "guide" / script).is_file(), script


def test_the_tracker_reset_the_guide_recommends_exists_and_is_shown() -> None:
    tracker = orx.UsageTracker()
    tracker.record(orx.Usage(prompt_tokens=3, completion_tokens=2, total_tokens=5), "m/x")
    tracker.reset()
    assert (tracker.requests, tracker.total_tokens, tracker.by_model) == (0, 0, {})
    assert "tracker.reset()" in (ROOT / "examples" / "guide" / "14_troubleshooting.py").read_text(encoding="utf-8")


# -- short public names ----------------------------------------------------------------------------

LONG_IMPORTS = re.compile(
    r"from openrouter_rx\.(streaming_client|options|config) import|from openrouter_rx\.errors import CallbackError"
    r"|from openrouter_rx\.(blocking|aio) import"
)
MY_PAGES = sorted(
    path
    for path in DOCS.glob("*.md")
    if path.name not in {"streaming-client.md", "cli.md", "asyncio-and-ui.md"}  # reviewed elsewhere
)
MY_SCRIPTS = (
    "data_app.py",
    "test_my_operator.py",
    "stream_basics.py",
    "operator_pipeline.py",
    "tools_and_structured.py",
)
MY_EXAMPLES = [*sorted((ROOT / "examples" / "guide").glob("*.py")), *(ROOT / "examples" / name for name in MY_SCRIPTS)]


@pytest.mark.parametrize("path", MY_PAGES + MY_EXAMPLES, ids=lambda path: path.name)
def test_docs_and_examples_use_the_short_public_names(path: Path) -> None:
    found = LONG_IMPORTS.findall(path.read_text(encoding="utf-8"))
    assert not found, f"{path.name}: import the public names from openrouter_rx (orx.StreamingClient, ...)"


def _tables(page: str) -> list[list[str]]:
    """Blocks of consecutive lines starting with ``|``, outside code fences."""
    tables: list[list[str]] = []
    block: list[str] = []
    fenced = False
    for line in [*page.splitlines(), ""]:
        if line.startswith("```"):
            fenced = not fenced
        if not fenced and line.startswith("|"):
            block.append(line)
            continue
        if block:
            tables.append(block)
            block = []
    return tables


@pytest.mark.parametrize(
    "path", [*sorted(DOCS.glob("*.md")), ROOT / "examples" / "guide" / "README.md"], ids=lambda path: path.name
)
def test_every_table_of_a_page_is_whole(path: Path) -> None:
    # A paragraph pasted inside a table leaves an orphan row that renders as plain text.
    for table in _tables(path.read_text(encoding="utf-8")):
        assert len(table) >= 2 and set(table[1]) <= set("|-: "), f"{path.name}: a row without its table: {table[0]}"
        width = len(re.split(r"(?<!\\)\|", table[0]))
        for row in table[2:]:
            assert len(re.split(r"(?<!\\)\|", row)) == width, f"{path.name}: {row}"


# -- the data app ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("text\nhello\n", "no 'prompt' column"),
        ("prompt,max_tokens\nhello,ten\n", "row 1: max_tokens must be a positive integer, not 'ten'"),
        ('prompt\nhello\n"  "\n', "row 2: the prompt is empty"),
    ],
)
def test_the_data_app_refuses_a_csv_it_cannot_use_with_a_clear_message(
    tmp_path: Path, content: str, message: str
) -> None:
    prompts = tmp_path / "prompts.csv"
    prompts.write_text(content, encoding="utf-8")
    env = {key: value for key, value in os.environ.items() if key != "OPENROUTER_API_KEY"}
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "data_app.py"), "--prompts", str(prompts)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert result.returncode == 2, result.stdout + result.stderr  # argparse's usage error
    assert message in result.stderr and "Traceback" not in result.stderr


# -- library bugs found on the way (max_event_bytes: fixed in _sse.ByteSource) ------------------------


def _pieces(*pieces: bytes) -> Callable[[int], bytes]:
    queue = list(pieces)

    def read1(size: int) -> bytes:
        return queue.pop(0) if queue else b""

    return read1


def test_an_event_over_max_event_bytes_inside_one_read_is_refused() -> None:
    # Client(max_event_bytes=...) promises "the largest SSE event accepted (ProtocolError beyond)"
    # (docs/errors.md: "an event over max_event_bytes"). A 5 KB event that arrives whole in one
    # read, followed by its blank line, passes a 1 KB limit.
    from openrouter_rx._sse import ByteSource, iter_event_data

    event = b'data: {"choices": [{"index": 0, "delta": {"content": "' + b"x" * 5000 + b'"}}]}\n\n'
    with pytest.raises(orx.ProtocolError, match="max_event_bytes"):
        list(iter_event_data(ByteSource(_pieces(event + b"data: [DONE]\n\n"), 1000)))


def test_an_event_over_max_event_bytes_completed_by_a_later_read_is_refused() -> None:
    # 900 bytes of an event (under the limit), then 5000 more and its blank line in the next read:
    # the event is 5.9 KB, over the 1 KB limit, and is accepted.
    from openrouter_rx._sse import ByteSource, iter_event_data

    read1 = _pieces(b"data: " + b"y" * 900, b"y" * 5000 + b"\n\n")
    with pytest.raises(orx.ProtocolError, match="max_event_bytes"):
        list(iter_event_data(ByteSource(read1, 1000)))


def test_an_event_over_max_event_bytes_spread_over_reads_is_refused() -> None:
    # What works today (the limit's purpose, bounded memory, holds within one read's size).
    from openrouter_rx._sse import ByteSource, iter_event_data

    read1 = _pieces(b"data: " + b"z" * 800, b"z" * 800, b"z" * 800 + b"\n\n")
    with pytest.raises(orx.ProtocolError, match="max_event_bytes"):
        list(iter_event_data(ByteSource(read1, 1000)))


def test_events_under_max_event_bytes_pass_in_every_arrangement() -> None:
    # The fix checks every event ending inside a read: events at the limit, many per read, and a
    # blank line split over two reads all pass.
    from openrouter_rx._sse import ByteSource, iter_event_data

    at_limit = b"data: " + b"a" * 993  # 1000 bytes with its line end, before the blank line
    body = (at_limit + b"\n\n") * 5 + b"data: [DONE]\n\n"
    for size in (1, 7, 999, 1000, 1001, 2002, len(body)):
        pieces = [body[i : i + size] for i in range(0, len(body), size)]
        events = list(iter_event_data(ByteSource(_pieces(*pieces), 1000)))
        assert len(events) == 6, size
    over = b"data: " + b"a" * 994 + b"\n\n"  # one byte more: refused however it arrives
    for size in (1, 999, 1000, 1001, len(over)):
        pieces = [over[i : i + size] for i in range(0, len(over), size)]
        with pytest.raises(orx.ProtocolError, match="max_event_bytes"):
            list(iter_event_data(ByteSource(_pieces(*pieces), 1000)))


def test_a_cassette_reply_without_pyyaml_fails_when_made_with_the_install_hint(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    # Without PyYAML a CassetteReply used to be accepted and then answered a 500 from the server.
    from openrouter_rx.testing import CassetteReply

    monkeypatch.setitem(sys.modules, "yaml", None)  # what an environment without PyYAML imports
    with pytest.raises(ImportError, match=r"pip install 'openrouter-rx\[yaml\]'"):
        CassetteReply(tmp_path / "cassette.yaml")
