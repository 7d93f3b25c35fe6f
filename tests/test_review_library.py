"""Review of library behaviour found while documenting: regression tests for the bugs found.

Every wait is bounded (``WAIT``) so that a regression fails instead of hanging; nothing depends
on timing.
"""

from __future__ import annotations

import importlib.util
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import reactivex
from marshmallow import Schema, fields
from reactivex import Observable
from reactivex import operators as ops
from reactivex.notification import OnCompleted, OnError, OnNext
from reactivex.observable.marbles import parse
from support import outcome

import openrouter_rx as orx
from openrouter_rx.errors import (
    APIConnectionError,
    BadRequestError,
    CallbackError,
    ConnectTimeout,
    IdleTimeout,
    InsecureTransportError,
    InvalidHeaderError,
    OpenRouterError,
    ProtocolError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    StreamError,
    TotalTimeout,
    TruncatedStreamError,
)
from openrouter_rx.operators._accumulate import accumulate, snapshots
from openrouter_rx.operators._fallback import fallback_to_non_streaming, should_fall_back
from openrouter_rx.operators._meter import meter
from openrouter_rx.operators._retry import is_retryable
from openrouter_rx.operators._structured_output import structured_output
from openrouter_rx.operators._tool_calls import tool_call_deltas
from openrouter_rx.structured import HealAttempt
from openrouter_rx.testing import (
    ChunkFactory,
    CompletionReply,
    FakeOpenRouter,
    StreamReply,
    chunk_lookup,
    chunk_marbles,
    run_marbles,
    text_chunks,
)
from openrouter_rx.testing._replies import Reply
from openrouter_rx.testing._wire import ResponseWriter
from openrouter_rx.tool_call import ToolCall

F = ChunkFactory()


@pytest.fixture
def client(fake_openrouter: FakeOpenRouter) -> Any:
    with orx.Client(base_url=fake_openrouter.base_url, timeout=orx.Timeout(connect=2, idle=5)) as c:
        yield c


# -- 1. snapshots(): the conflation it recommends must show text while the stream runs ----------


def test_snapshots_docstring_recommends_sample_not_a_debounce() -> None:
    doc = snapshots.__doc__ or ""
    assert "ops.sample(" in doc
    if "throttle_with_timeout" in doc:  # only ever named as what not to use
        assert doc.index("ops.sample(") < doc.index("throttle_with_timeout")
        assert "not ``ops.throttle_with_timeout``" in doc


def test_snapshots_with_sample_redraw_during_the_stream_and_keep_the_final_text() -> None:
    marbles, lookup = chunk_marbles(text_chunks("one two three four five six seven eight"))
    redraws = run_marbles(lambda s: s.pipe(snapshots(), ops.sample(4.0)), marbles, lookup)
    last_chunk_frame = marbles.rindex("-") - 1
    assert redraws.frames()[0] < last_chunk_frame  # something is shown while chunks keep coming
    assert redraws.values[-1].content == "one two three four five six seven eight" and redraws.completed


# -- 2. should_fall_back: consistent with is_retryable and the same-request rule -------------------


def stream_error(code: int | str) -> StreamError:
    return StreamError("failed mid-stream", code=code)


def status(cls: type[Any], code: int) -> Any:
    return cls("failed", status=code)


@pytest.mark.parametrize(
    "error",
    [
        InvalidHeaderError("the API key has surrounding whitespace"),
        TotalTimeout("the request took longer than 30s", timeout=30.0),
        stream_error(400),
        stream_error(401),
        stream_error(402),
        stream_error(403),
        stream_error(404),
        stream_error(413),
        stream_error(422),
        stream_error("429"),
        stream_error(409),
        InsecureTransportError("http"),
        CallbackError("on_start callback raised", event="on_start"),
        status(BadRequestError, 400),
        status(RateLimitError, 429),
        ValueError("user code"),
    ],
    ids=lambda e: f"{type(e).__name__}:{getattr(e, 'code', '')}",
)
def test_no_fallback_when_the_same_request_would_fail_again(error: BaseException) -> None:
    assert should_fall_back(error) is False


@pytest.mark.parametrize(
    "error",
    [
        stream_error(408),
        stream_error(502),
        stream_error("502"),
        stream_error("server_error"),
        StreamError("finish_reason error"),
        TruncatedStreamError("cut"),
        ProtocolError("not SSE"),
        APIConnectionError("reset"),
        ConnectTimeout("slow connect", timeout=1.0),
        IdleTimeout("silent", timeout=1.0),
        status(ServerError, 500),
        status(RequestTimeoutError, 408),
    ],
    ids=lambda e: f"{type(e).__name__}:{getattr(e, 'code', '')}",
)
def test_fallback_on_errors_a_non_streaming_request_may_not_hit(error: BaseException) -> None:
    assert should_fall_back(error) is True


def test_every_retryable_error_but_a_rate_limit_falls_back() -> None:
    samples: list[BaseException] = [
        *(stream_error(code) for code in (400, 401, 403, 404, 408, 409, 422, 429, 500, 502, 503, "x")),
        *(status(orx.errors.status_error_class(code), code) for code in (400, 401, 403, 404, 408, 409, 429, 500, 503)),
        TruncatedStreamError("cut"),
        APIConnectionError("reset"),
        ConnectTimeout("c", timeout=1.0),
        IdleTimeout("i", timeout=1.0),
        TotalTimeout("t", timeout=1.0),
        InvalidHeaderError("h"),
    ]
    for error in samples:
        limited = isinstance(error, RateLimitError) or getattr(error, "status", None) == 429
        if is_retryable(error) and not limited:
            assert should_fall_back(error), error


def test_an_invalid_key_is_not_sent_again_unstreamed(fake_openrouter: FakeOpenRouter) -> None:
    with orx.Client(base_url=fake_openrouter.base_url, api_key="sk-or-v1-abc\n") as sloppy:
        _, error = outcome(sloppy.stream("Hi").pipe(fallback_to_non_streaming()))
    assert type(error) is InvalidHeaderError and error.__cause__ is None  # the fallback was not tried
    assert fake_openrouter.requests == []


def test_a_client_error_chunk_before_output_is_not_sent_again(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    fake_openrouter.enqueue(StreamReply([F.role(), F.error(400, "context too long")], done=False))
    fake_openrouter.enqueue(CompletionReply({"choices": [{"message": {"content": "never"}}]}))
    _, error = outcome(client.stream("Hi").pipe(fallback_to_non_streaming()))
    assert isinstance(error, StreamError) and error.status == 400
    assert len(fake_openrouter.requests) == 1


# -- 3. StreamError.chunk_count / partial count what was delivered ---------------------------------


def test_an_error_chunk_first_has_no_partial_and_counts_nothing(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    fake_openrouter.enqueue(StreamReply([F.error(502)], done=False))
    items, error = outcome(client.stream("Hi"))
    assert items == [] and isinstance(error, StreamError)
    assert error.chunk_count == 0 and error.partial is None
    assert error.chunk is not None and error.chunk.finish_reason == "error"  # the error chunk itself


def test_chunk_count_is_the_chunks_delivered_before_the_error_chunk(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    fake_openrouter.enqueue(StreamReply([F.role(), *F.text("The answer is"), F.error(502)], done=False))
    items, error = outcome(client.stream("Hi"))
    assert isinstance(error, StreamError) and error.partial is not None
    assert error.chunk_count == len(items) == 4 and error.partial.content == "The answer is"
    assert error.partial.finish_reason == "error"


def test_text_on_a_first_error_chunk_is_kept_but_not_counted(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    chunk = F.error("server_error", "boom")
    chunk["choices"][0]["delta"] = {"content": "tail"}
    fake_openrouter.enqueue(StreamReply([chunk], done=False))
    items, error = outcome(client.stream("Hi"))
    assert items == [] and isinstance(error, StreamError)
    assert error.chunk_count == 0 and error.partial is not None and error.partial.content == "tail"


def test_accumulate_and_the_transport_agree_on_the_count(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    for _ in range(2):
        fake_openrouter.enqueue(StreamReply([F.role(), *F.text("Half an"), F.error(502)], done=False))
    _, raw = outcome(client.stream("Hi"))
    _, folded = outcome(client.stream("Hi").pipe(accumulate()))
    assert isinstance(raw, StreamError) and isinstance(folded, StreamError)
    assert raw.chunk_count == folded.chunk_count == 3


# -- 4. TruncatedStreamError: a readable message, the low-level exception as __cause__ --------------


@pytest.mark.parametrize("cut", [0, 3])
def test_a_dropped_stream_says_what_happened_in_plain_words(
    fake_openrouter: FakeOpenRouter, client: orx.Client, cut: int
) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks("one two three four"), disconnect_after=cut))
    items, error = outcome(client.stream("Hi"))
    assert isinstance(error, TruncatedStreamError) and len(items) == error.chunk_count == cut
    text = str(error)
    assert "IncompleteRead" not in text and "Connection broken" not in text
    assert text.startswith("the connection was lost")
    assert f"after {cut} chunk" in text and "bytes" in text
    assert isinstance(error.__cause__, Exception) and not isinstance(error.__cause__, OpenRouterError)


class _CutCompletion(Reply):
    """A non-streaming reply whose body stops mid-way (chunked framing, then the socket drops)."""

    def write(self, out: ResponseWriter) -> None:
        out.begin(200, [("Content-Type", "application/json")], framing="chunked")
        out.write(b'{"id": "gen-1", "choi')
        out.abort()


def test_a_dropped_completion_says_how_many_bytes_came(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(_CutCompletion())
    _, error = outcome(client.complete("Hi"))
    assert isinstance(error, TruncatedStreamError)
    assert "IncompleteRead" not in str(error) and "Connection broken" not in str(error)
    assert "21 bytes" in str(error)
    assert isinstance(error.__cause__, Exception) and not isinstance(error.__cause__, OpenRouterError)


# -- 5. ToolCall.arguments: messages say why, like every other ToolArgumentsError -------------------


@pytest.mark.parametrize(
    ("text", "why"), [('{"city": "Os', "not valid JSON"), ("[1, 2]", "not a JSON object but an array")]
)
def test_tool_call_arguments_that_are_not_an_object_say_why(text: str, why: str) -> None:
    call = ToolCall(id="call_1", name="get_weather", arguments_json=text)
    with pytest.raises(orx.ToolArgumentsError) as raised:
        _ = call.arguments
    error = raised.value
    assert isinstance(error.messages, dict) and list(error.messages) == ["_json"]
    assert len(error.messages["_json"]) == 1 and error.messages["_json"][0].startswith(why)
    assert error.raw == text and error.name == "get_weather" and error.call is call


# -- 6. operator docstring marbles: what a user copying them into run_marbles gets -----------------


def shape(diagram: str) -> list[tuple[float, str, Any]]:
    """The events a marble diagram stands for: (frame, kind, letter)."""
    events: list[tuple[float, str, Any]] = []
    for time, note in parse(diagram, timespan=1.0):
        assert isinstance(time, float | int)
        frame = int(time) if float(time).is_integer() else float(time)
        if isinstance(note, OnNext):
            events.append((frame, "N", note.value))
        elif isinstance(note, OnError):
            events.append((frame, "E", None))
        elif isinstance(note, OnCompleted):
            events.append((frame, "C", None))
    return events


def diagram_of(function: Any, label: str, number: int = 1) -> str:
    """The ``number``-th line of ``function``'s docstring marble labelled ``label``."""
    lines = [line.strip() for line in (function.__doc__ or "").splitlines()]
    found = [line[len(label) :].strip().split("  ")[0] for line in lines if line.startswith(label)]
    return found[number - 1].replace(" ", "")


def kinds_and_frames(events: Sequence[tuple[float, str, Any]]) -> list[tuple[float, str]]:
    return [(frame, kind) for frame, kind, _ in events]


def test_docstring_groups_read_as_separate_values() -> None:
    for function, label, number in [
        (accumulate, "accumulate():", 1),
        (meter, "meter():", 1),
        (structured_output, "structured_output:", 1),
        (structured_output, "structured_output:", 2),
        (structured_output, "structured_output:", 4),
        (fallback_to_non_streaming, "fallback():", 1),
        (fallback_to_non_streaming, "completion:", 1),
        (tool_call_deltas, "tool_call_deltas():", 1),
    ]:
        diagram = diagram_of(function, label, number)
        assert all(len(name) == 1 for _, kind, name in shape(diagram) if kind == "N"), diagram


def test_accumulate_marble() -> None:
    lookup = chunk_lookup(a="a", b="b", c="c", u=F.usage())
    run = run_marbles(accumulate(), diagram_of(accumulate, "chunks:"), lookup)
    assert kinds_and_frames(run.events) == kinds_and_frames(shape(diagram_of(accumulate, "accumulate():")))
    assert run.values[0].content == "abc" and run.values[0].usage is not None


def test_meter_marble() -> None:
    run = run_marbles(meter(), diagram_of(meter, "chunks:"), chunk_lookup(a="a", b="b", c="c"))
    assert kinds_and_frames(run.events) == kinds_and_frames(shape(diagram_of(meter, "meter():")))
    assert [m.final for m in run.values] == [False, False, False, True]


class Place(Schema):
    city = fields.String(required=True)


class _Healer:
    """Replies ``--v|`` (its call takes 2 frames) with a good attempt."""

    def heal(self, raw: str, fmt: Any, messages: Any) -> Observable[HealAttempt]:
        good = HealAttempt("healer", '{"city": "Oslo"}', True, value={"city": "Oslo"}, model="m")
        return reactivex.from_marbles("--v|", timespan=1.0, lookup={"v": good})


@pytest.mark.parametrize(
    ("number", "pieces", "heal"),
    [
        (1, ['{"ci', 'ty": "Os', 'lo"}'], None),
        (2, ['{"city": "Os', F.finish("length")], None),
        (4, ["bad", F.finish("stop")], _Healer()),
    ],
)
def test_structured_output_marbles(number: int, pieces: list[Any], heal: Any) -> None:
    chunks = diagram_of(structured_output, "chunks:", number)
    lookup = chunk_lookup(**dict(zip("abc", pieces, strict=False)))
    run = run_marbles(structured_output(Place, heal=heal), chunks, lookup)
    expected = diagram_of(structured_output, "structured_output:", number)
    assert kinds_and_frames(run.events) == kinds_and_frames(shape(expected))
    assert run.values[0] in ({"city": "Oslo"}, {"city": "Os"})


def test_fallback_marble() -> None:
    answer = orx.Response.from_chunks([orx.Chunk.from_dict(c) for c in text_chunks("Hi")])
    completion = reactivex.from_marbles(
        diagram_of(fallback_to_non_streaming, "completion:"), timespan=1.0, lookup={"R": answer}
    )
    run = run_marbles(
        fallback_to_non_streaming(completion),
        diagram_of(fallback_to_non_streaming, "chunks:"),
        chunk_lookup(r={"choices": [{"index": 0, "delta": {"role": "assistant"}}]}),
        error=ServerError("Bad gateway", status=502),
    )
    assert kinds_and_frames(run.events) == kinds_and_frames(shape(diagram_of(fallback_to_non_streaming, "fallback():")))
    assert len(run.values) == 3 and run.values[-1].usage is not None


def test_tool_call_deltas_marble() -> None:
    def delta(index: int, name: str) -> dict[str, Any]:
        return {"index": index, "id": f"call_{index}", "type": "function", "function": {"name": name}}

    lookup = chunk_lookup(
        a={"choices": [{"index": 0, "delta": {"tool_calls": [delta(0, "add"), delta(1, "shout")]}}]},
        b={"choices": [{"index": 0, "delta": {"tool_calls": [delta(2, "time")]}}]},
    )
    run = run_marbles(tool_call_deltas(), diagram_of(tool_call_deltas, "chunks:"), lookup)
    expected = shape(diagram_of(tool_call_deltas, "tool_call_deltas():"))
    assert kinds_and_frames(run.events) == kinds_and_frames(expected)
    assert [d.name for d in run.values] == ["add", "shout", "time"]


def test_the_copyable_example_operator_marble() -> None:
    path = Path(__file__).resolve().parent.parent / "examples" / "test_my_operator.py"
    spec = importlib.util.spec_from_file_location("example_words_operator", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    words = module.words
    run = run_marbles(words(), diagram_of(words, "chunks:"), chunk_lookup(a="Hel", b="lo wor", c="ld"))
    assert kinds_and_frames(run.events) == kinds_and_frames(shape(diagram_of(words, "words():")))
    assert run.values == ["Hello", "world"]


def test_the_tool_loop_marble_names_one_event_per_letter() -> None:
    diagram = diagram_of(orx.tool_loop, "tool_loop:")
    assert [name for _, kind, name in shape(diagram) if kind == "N"] == list("SABCFQRSDEFL")
    assert shape(diagram)[-1][1] == "C"


def test_a_refused_connection_says_so_in_plain_words() -> None:
    # urllib3 nests the OS error's text inside "HTTPConnectionPool(...): Max retries exceeded ...
    # (Caused by NewConnectionError(...))"; the message now keeps only the reason.
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with orx.Client(base_url=f"http://127.0.0.1:{port}/api/v1") as client:
        with pytest.raises(orx.APIConnectionError) as caught:
            client.complete_sync("hi", timeout=5)
    assert str(caught.value) == f"connection to http://127.0.0.1:{port} failed: Connection refused"
