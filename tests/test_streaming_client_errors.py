"""StreamingClient failures over loopback: typed errors with their partial, on_error, the
callback policy in both modes, Ctrl-C, and the request timeout."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

import openrouter_rx as orx
from openrouter_rx.config import configure
from openrouter_rx.errors import CallbackError
from openrouter_rx.streaming_client import StreamingClient
from openrouter_rx.testing import ChunkFactory, ErrorReply, FakeOpenRouter, StreamReply, text_chunks

KEY = "sk-or-v1-streaming-errors-0123456789"


@pytest.fixture(autouse=True)
def default_settings() -> Iterator[None]:
    configure(reset=True)
    yield
    configure(reset=True)


def make(fake: FakeOpenRouter, **options: Any) -> StreamingClient:
    return StreamingClient(api_key=KEY, base_url=fake.base_url, request_timeout=5, **options)


@pytest.fixture
def sc(fake_openrouter: FakeOpenRouter) -> Iterator[StreamingClient]:
    with make(fake_openrouter) as client:
        yield client


@pytest.fixture
def lenient(fake_openrouter: FakeOpenRouter) -> Iterator[StreamingClient]:
    with make(fake_openrouter, callback_errors="log") as client:
        yield client


def stalling(text: str = "one two three four") -> StreamReply:
    """Sends the role chunk and the words, then holds the connection open until the client leaves."""
    wire = text_chunks(text)
    return StreamReply(wire, stall_after=len(wire) - 2, stall_keepalive=0.05)


# -- typed errors ---------------------------------------------------------------------


def test_401_goes_to_on_error_then_is_raised_and_is_not_retried(
    fake_openrouter: FakeOpenRouter, sc: StreamingClient
) -> None:
    fake_openrouter.enqueue(ErrorReply(401, "No auth credentials found"))
    errors: list[Exception] = []
    finished: list[Any] = []
    sc.on_stream("on_error", errors.append).on_stream("on_finish", finished.append)
    with pytest.raises(orx.AuthenticationError) as raised:
        sc.stream_complete("hi")
    assert errors == [raised.value] and finished == []
    assert raised.value.partial is None and raised.value.chunk_count == 0
    assert len(fake_openrouter.requests) == 1


def test_500_is_retried_then_succeeds(fake_openrouter: FakeOpenRouter, sc: StreamingClient) -> None:
    fake_openrouter.enqueue(
        ErrorReply(500, "oops", headers={"Retry-After": "0"}),
        ErrorReply(503, "still", headers={"Retry-After": "0"}),
        StreamReply(text_chunks("third")),
    )
    errors: list[Exception] = []
    sc.on_stream("on_error", errors.append)
    response = sc.stream_complete("hi")
    assert response is not None and response.content == "third" and errors == []
    assert len(fake_openrouter.wait_for_requests(3)) == 3


def test_500_beyond_the_retries_is_raised(fake_openrouter: FakeOpenRouter) -> None:
    with make(fake_openrouter, retries=1) as sc:
        fake_openrouter.enqueue(*[ErrorReply(500, "down", headers={"Retry-After": "0"})] * 2)
        with pytest.raises(orx.ServerError):
            sc.stream_complete("hi")
    assert len(fake_openrouter.requests) == 2


def test_mid_stream_error_chunk_carries_the_partial(fake_openrouter: FakeOpenRouter, sc: StreamingClient) -> None:
    factory = ChunkFactory()
    fake_openrouter.enqueue(StreamReply([factory.role(), *factory.text("half an answer"), factory.error(502)]))
    errors: list[Exception] = []
    chunks: list[orx.Chunk] = []
    sc.on_stream("on_error", errors.append).on_stream("on_chunk", chunks.append)
    with pytest.raises(orx.StreamError) as raised:
        sc.stream_complete("hi")
    error = raised.value
    assert errors == [error]
    assert error.partial is not None and error.partial.content == "half an answer"
    assert error.chunk_count == len(chunks) == 4  # role + 3 words; the error chunk is not a chunk
    assert len(fake_openrouter.requests) == 1  # after output: never re-sent


def test_mid_stream_error_keeps_the_structured_format_in_the_partial(
    fake_openrouter: FakeOpenRouter, sc: StreamingClient
) -> None:
    factory = ChunkFactory()
    fake_openrouter.enqueue(StreamReply([factory.role(), *factory.text('{"a": 1'), factory.error(502)]))
    with pytest.raises(orx.StreamError) as raised:
        sc.stream_complete("hi", response_format={"type": "json_object"})
    assert raised.value.partial is not None and raised.value.partial.response_format is not None


def test_request_timeout_number_is_the_idle_timeout(fake_openrouter: FakeOpenRouter) -> None:
    with StreamingClient(api_key=KEY, base_url=fake_openrouter.base_url, request_timeout=0.3, retries=0) as sc:
        assert sc.client.timeout.idle == 0.3
        fake_openrouter.enqueue(stalling("stalls after some words"))
        errors: list[Exception] = []
        sc.on_stream("on_error", errors.append)
        with pytest.raises(orx.IdleTimeout) as raised:
            sc.stream_complete("hi")
    assert errors == [raised.value]
    assert raised.value.partial is not None and raised.value.partial.content == "stalls after some words"


def test_invalid_arguments_fail_before_on_start(fake_openrouter: FakeOpenRouter, sc: StreamingClient) -> None:
    starts: list[Any] = []
    errors: list[Any] = []
    sc.on_stream("on_start", starts.append).on_stream("on_error", errors.append)
    with pytest.raises(TypeError):
        sc.stream_complete([42])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="callable"):
        sc.stream_complete("hi", callback="print")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="callback"):
        sc.stream("hi", None)  # type: ignore[arg-type]
    assert starts == [] and errors == [] and fake_openrouter.requests == []


# -- the callback policy: "raise" -------------------------------------------------------


def test_raise_mode_a_chunk_callback_stops_the_request(fake_openrouter: FakeOpenRouter, sc: StreamingClient) -> None:
    fake_openrouter.enqueue(stalling())
    seen: list[orx.Chunk] = []
    errors: list[Exception] = []
    skipped: list[orx.Chunk] = []

    def picky(chunk: orx.Chunk) -> None:
        seen.append(chunk)
        if chunk.content == "two ":
            raise ValueError("I do not like two")

    sc.on_stream("on_chunk", picky).on_stream("on_chunk", skipped.append).on_stream("on_error", errors.append)
    with pytest.raises(CallbackError) as raised:
        sc.stream_complete("hi")
    error = raised.value
    assert error.event == "on_chunk" and isinstance(error.__cause__, ValueError)
    assert errors == [error]
    assert error.chunk_count == len(seen) == 3
    assert error.partial is not None and error.partial.content == "one two "
    assert len(skipped) == 2  # the later callback of the failing chunk was skipped
    assert fake_openrouter.wait_for_requests(1)[0].wait_disconnected(5), "the connection was not closed"


def test_raise_mode_on_start_failure_sends_nothing(fake_openrouter: FakeOpenRouter, sc: StreamingClient) -> None:
    sc.on_stream("on_start", lambda _: 1 / 0)
    with pytest.raises(CallbackError) as raised:
        sc.stream_complete("hi")
    assert raised.value.event == "on_start" and isinstance(raised.value.__cause__, ZeroDivisionError)
    assert raised.value.partial is None and fake_openrouter.requests == []


def test_raise_mode_on_finish_failure_carries_the_whole_response(
    fake_openrouter: FakeOpenRouter, sc: StreamingClient
) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks("all of it")))
    errors: list[Exception] = []
    sc.on_stream("on_finish", lambda _: {}["missing"]).on_stream("on_error", errors.append)
    with pytest.raises(CallbackError) as raised:
        sc.stream_complete("hi")
    assert raised.value.event == "on_finish" and isinstance(raised.value.__cause__, KeyError)
    assert raised.value.partial is not None and raised.value.partial.content == "all of it"
    assert raised.value.partial.usage is not None
    assert errors == [raised.value]


def test_raise_mode_per_call_callback_is_event_callback(fake_openrouter: FakeOpenRouter, sc: StreamingClient) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks("x y z")))

    def broken(_: orx.Chunk) -> None:
        raise RuntimeError("bad callback")

    with pytest.raises(CallbackError) as raised:
        sc.stream_complete("hi", callback=broken)
    assert raised.value.event == "callback" and "RuntimeError: bad callback" in str(raised.value)
    assert raised.value.chunk_count == 1


def test_raise_mode_not_accumulating_has_no_partial(fake_openrouter: FakeOpenRouter, sc: StreamingClient) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks("x y z")))
    sc.on_stream("on_tool_call_chunk", print)
    with pytest.raises(CallbackError) as raised:
        sc.stream("hi", lambda text: int(text))
    assert raised.value.partial is None and raised.value.chunk_count == 2  # the role chunk, then "x "


def test_an_on_error_callback_that_raises_is_logged_and_the_error_still_raised(
    fake_openrouter: FakeOpenRouter, sc: StreamingClient, caplog: pytest.LogCaptureFixture
) -> None:
    fake_openrouter.enqueue(ErrorReply(400, "bad request"))
    later: list[Exception] = []
    sc.on_stream("on_error", lambda _: [][0]).on_stream("on_error", later.append)
    with caplog.at_level(logging.ERROR, logger="openrouter_rx"), pytest.raises(orx.BadRequestError) as raised:
        sc.stream_complete("hi")
    assert later == [raised.value]  # the next on_error callback still ran
    failures = [r for r in caplog.records if r.levelno == logging.ERROR and "on_error callback" in r.getMessage()]
    assert len(failures) == 1 and failures[0].exc_info is not None and failures[0].exc_info[0] is IndexError


# -- the callback policy: "log" ---------------------------------------------------------


def test_log_mode_logs_reports_and_goes_on(
    fake_openrouter: FakeOpenRouter, lenient: StreamingClient, caplog: pytest.LogCaptureFixture
) -> None:
    wire = text_chunks("keeps going anyway")
    fake_openrouter.enqueue(StreamReply(wire))
    errors: list[Exception] = []
    after: list[orx.Chunk] = []
    lenient.on_stream("on_chunk", lambda _: 1 / 0).on_stream("on_chunk", after.append)
    lenient.on_stream("on_error", errors.append)
    with caplog.at_level(logging.WARNING, logger="openrouter_rx"):
        response = lenient.stream_complete("hi")
    assert response is not None and response.content == "keeps going anyway"
    assert len(after) == len(wire)  # the other callbacks of the event still ran
    assert len(errors) == len(wire) and all(isinstance(e, CallbackError) and e.event == "on_chunk" for e in errors)
    assert [e.chunk_count for e in errors] == list(range(1, len(wire) + 1))
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "on_chunk callback" in r.getMessage()]
    assert len(warnings) == len(wire) and all(r.exc_info and r.exc_info[0] is ZeroDivisionError for r in warnings)


def test_log_mode_on_finish_and_per_call_failures_are_reported(
    fake_openrouter: FakeOpenRouter, lenient: StreamingClient
) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks("fine")))
    errors: list[CallbackError] = []
    lenient.on_stream("on_finish", lambda _: 1 / 0).on_stream("on_error", errors.append)

    def broken(chunk: orx.Chunk) -> None:
        raise LookupError(chunk.id)

    response = lenient.stream_complete("hi", callback=broken)
    assert response is not None and response.content == "fine"
    events = [e.event for e in errors]
    assert events.count("callback") == len(text_chunks("fine")) and events[-1] == "on_finish"
    assert errors[-1].partial is response


def test_log_mode_an_on_error_failure_never_recurses(fake_openrouter: FakeOpenRouter, lenient: StreamingClient) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks("a b")))
    calls: list[Exception] = []

    def failing_reporter(error: Exception) -> None:
        calls.append(error)
        raise RuntimeError("reporter broken")

    lenient.on_stream("on_chunk", lambda _: 1 / 0).on_stream("on_error", failing_reporter)
    assert lenient.stream_complete("hi") is not None
    assert len(calls) == len(text_chunks("a b"))  # once per chunk failure, no more


# -- Ctrl-C -----------------------------------------------------------------------------


def test_keyboard_interrupt_closes_the_connection_and_propagates(
    fake_openrouter: FakeOpenRouter, sc: StreamingClient
) -> None:
    fake_openrouter.enqueue(stalling())
    errors: list[Exception] = []

    def ctrl_c(chunk: orx.Chunk) -> None:
        if chunk.content == "two ":
            raise KeyboardInterrupt

    sc.on_stream("on_chunk", ctrl_c).on_stream("on_error", errors.append)
    with pytest.raises(KeyboardInterrupt):
        sc.stream_complete("hi")
    assert errors == []  # never wrapped, never reported
    assert fake_openrouter.wait_for_requests(1)[0].wait_disconnected(5), "the connection was not closed"
    fake_openrouter.enqueue(StreamReply(text_chunks("usable again")))
    sc.clear_callbacks()
    assert sc.stream_complete("hi").content == "usable again"  # type: ignore[union-attr]


def test_keyboard_interrupt_in_log_mode_is_not_swallowed(
    fake_openrouter: FakeOpenRouter, lenient: StreamingClient
) -> None:
    fake_openrouter.enqueue(stalling())

    def ctrl_c(_: orx.Chunk) -> None:
        raise KeyboardInterrupt

    lenient.on_stream("on_chunk", ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        lenient.stream_complete("hi")
    assert fake_openrouter.wait_for_requests(1)[0].wait_disconnected(5)
