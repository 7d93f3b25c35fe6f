"""client.stream(): cold semantics, fidelity, disposal, timeouts, errors — real HTTP over loopback."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import reactivex
from reactivex import operators as ops
from reactivex.scheduler import CurrentThreadScheduler, ImmediateScheduler, NewThreadScheduler
from support import outcome

import openrouter_rx as orx
from openrouter_rx.testing import (
    ChunkFactory,
    ErrorReply,
    FakeOpenRouter,
    KeepAlive,
    RawReply,
    StreamReply,
    sse_bytes,
    text_chunks,
    tool_call_chunks,
)

KEY = "sk-or-v1-SUPERSECRET-0123456789"
WAIT = 10.0


@pytest.fixture
def client(fake_openrouter: FakeOpenRouter) -> Iterator[orx.Client]:
    with orx.Client(api_key=KEY, base_url=fake_openrouter.base_url, timeout=orx.Timeout(connect=2, idle=5)) as c:
        yield c




# -- cold semantics ------------------------------------------------------------


def test_nothing_is_sent_before_subscribe_and_each_subscription_sends(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks("one")), StreamReply(text_chunks("two")))
    stream = client.stream("hi")
    time.sleep(0.2)
    assert fake_openrouter.requests == []
    first = stream.pipe(ops.to_list()).run()
    second = stream.pipe(ops.to_list()).run()
    assert orx.Response.from_chunks(first).content == "one"
    assert orx.Response.from_chunks(second).content == "two"
    assert len(fake_openrouter.requests) == 2


def test_retry_resubscribes_and_resends(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(ErrorReply(502, "provider down"), StreamReply(text_chunks("ok now")))
    chunks = client.stream("hi").pipe(ops.retry(2), ops.to_list()).run()
    assert orx.Response.from_chunks(chunks).content == "ok now"
    assert len(fake_openrouter.requests) == 2


def test_subscribe_returns_at_once_and_run_blocks(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks("a b c d"), delay=0.1))
    started = time.monotonic()
    items, error = [], []
    done = threading.Event()
    client.stream("hi").subscribe(items.append, error.append, done.set)
    assert time.monotonic() - started < 0.1  # the read runs on the client's pool
    assert done.wait(WAIT) and not error


# -- fidelity -------------------------------------------------------------------


def test_chunks_match_what_was_sent_and_keepalives_are_ignored(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    wire = text_chunks("Hello streaming world", reasoning="Let me think", cost=0.00042)
    events: list[Any] = [KeepAlive(), *wire[:2], KeepAlive(), KeepAlive(), *wire[2:]]
    fake_openrouter.enqueue(StreamReply(events))
    chunks = client.stream("hi").pipe(ops.to_list()).run()
    assert [c.raw for c in chunks] == wire
    assert chunks == [orx.Chunk.from_dict(w) for w in wire]
    response = orx.Response.from_chunks(chunks)
    assert response.content == "Hello streaming world"
    assert response.reasoning == "Let me think"
    assert response.usage is not None and str(response.usage.cost) == "0.00042"


def test_tool_call_stream(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    calls = [{"name": "get_weather", "arguments": {"location": "Tokyo", "units": "celsius"}}]
    fake_openrouter.enqueue(StreamReply(tool_call_chunks(calls, fragments=5)))
    chunks = client.stream("weather?").pipe(ops.to_list()).run()
    response = orx.Response.from_chunks(chunks)
    assert response.tool_calls[0].name == "get_weather"
    assert response.tool_calls[0].arguments == {"location": "Tokyo", "units": "celsius"}
    assert sum(1 for c in chunks if c.tool_calls) >= 5


@pytest.mark.parametrize("size", [1, 2, 3, 7])
def test_utf8_and_lines_split_across_writes(fake_openrouter: FakeOpenRouter, client: orx.Client, size: int) -> None:
    text = "Grüße 🌍 — 中文 ok"
    fake_openrouter.enqueue(StreamReply(text_chunks(text, pieces=2), fragment_size=size))
    chunks = client.stream("hi").pipe(ops.to_list()).run()
    assert orx.Response.from_chunks(chunks).content == text


def test_each_event_is_delivered_as_soon_as_it_arrives(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks("first second"), stall_after=2))
    got = threading.Event()
    arrivals: list[orx.Chunk] = []

    def on_next(chunk: orx.Chunk) -> None:
        arrivals.append(chunk)
        if chunk.content:
            got.set()

    subscription = client.stream("hi").subscribe(on_next)
    try:
        # The server wrote two events and then went silent: both must arrive without waiting for more bytes.
        assert got.wait(WAIT)
        deadline = time.monotonic() + WAIT
        while len(arrivals) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(arrivals) == 2
    finally:
        subscription.dispose()


def test_request_headers_and_body(fake_openrouter: FakeOpenRouter) -> None:
    with orx.Client(
        api_key=KEY, base_url=fake_openrouter.base_url, site_url="https://example.app", site_name="Example App"
    ) as c:
        c.stream(
            [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
            model="anthropic/claude-3.5-sonnet",
            temperature=0.2,
            max_tokens=50,
            models=["a/b", "c/d"],
            provider={"order": ["OpenAI"], "allow_fallbacks": False},
            reasoning={"effort": "high"},
            plugins=[{"id": "web"}],
            transforms=["middle-out"],
            response_format={"type": "json_object"},
            tool_choice="auto",
            top_p=None,
        ).run()
    request = fake_openrouter.last_request
    assert request is not None
    assert request.method == "POST" and request.path.endswith("/chat/completions")
    assert request.header("Authorization") == f"Bearer {KEY}"
    assert request.header("HTTP-Referer") == "https://example.app"
    assert request.header("X-Title") == "Example App"
    assert request.header("Content-Type") == "application/json"
    body = request.json
    assert body["stream"] is True and body["model"] == "anthropic/claude-3.5-sonnet"
    assert body["messages"][0] == {"role": "system", "content": "be brief"}
    for name in ("temperature", "max_tokens", "models", "provider", "reasoning", "plugins", "transforms"):
        assert name in body
    assert "top_p" not in body  # None values are dropped


def test_no_key_means_no_authorization_header(fake_openrouter: FakeOpenRouter, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENROUTER_API_KEY", raising=False)
    with orx.Client(base_url=fake_openrouter.base_url) as c:
        assert not c.has_api_key
        c.stream("hi").run()
    assert fake_openrouter.last_request is not None
    assert fake_openrouter.last_request.header("Authorization") is None


def test_key_from_environment(fake_openrouter: FakeOpenRouter, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-env-key")
    with orx.Client(base_url=fake_openrouter.base_url) as c:
        c.stream("hi").run()
    assert fake_openrouter.last_request is not None
    assert fake_openrouter.last_request.header("Authorization") == "Bearer sk-env-key"


# -- disposal -------------------------------------------------------------------


def test_dispose_while_server_is_silent_closes_the_socket(fake_openrouter: FakeOpenRouter) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks("a b c d e"), stall_after=2))
    with orx.Client(api_key=KEY, base_url=fake_openrouter.base_url, pool_size=1) as c:
        got = threading.Event()
        items: list[orx.Chunk] = []
        subscription = c.stream("hi").subscribe(lambda chunk: (items.append(chunk), got.set()))
        assert got.wait(WAIT)
        request = fake_openrouter.wait_for_requests(1)[0]
        time.sleep(0.1)
        started = time.monotonic()
        subscription.dispose()
        assert time.monotonic() - started < 0.1  # dispose never blocks
        assert request.wait_disconnected(2.0), "the server did not see the client go away"
        count = len(items)
        # The single reader thread is free again: a second request completes promptly.
        fake_openrouter.enqueue(StreamReply(text_chunks("again")))
        again = c.stream("hi").pipe(ops.to_list()).run()
        assert orx.Response.from_chunks(again).content == "again"
        assert len(items) == count  # no on_next after dispose


def test_dispose_from_another_thread_while_keepalives_flow(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks("x y"), stall_after=1, stall_keepalive=0.05))
    subscription = client.stream("hi").subscribe(lambda _: None)
    request = fake_openrouter.wait_for_requests(1)[0]
    time.sleep(0.3)
    threading.Thread(target=subscription.dispose).start()
    assert request.wait_disconnected(2.0)


def test_take_closes_the_connection(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks("one two three four five six seven eight"), delay=0.05))
    chunks = client.stream("hi").pipe(ops.take(3), ops.to_list()).run()
    assert len(chunks) == 3
    request = fake_openrouter.wait_for_requests(1)[0]
    assert request.wait_disconnected(2.0)  # went away before the reply was finished: the rest was never read


def test_synchronous_scheduler_runs_inside_subscribe(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    for scheduler in (CurrentThreadScheduler(), ImmediateScheduler()):
        fake_openrouter.enqueue(StreamReply(text_chunks("sync read")))
        items: list[orx.Chunk] = []
        threads: set[str] = set()

        def on_next(chunk: orx.Chunk, items: list[orx.Chunk] = items, threads: set[str] = threads) -> None:
            items.append(chunk)
            threads.add(threading.current_thread().name)

        client.stream("hi", scheduler=scheduler).subscribe(on_next)
        assert orx.Response.from_chunks(items).content == "sync read"  # done when subscribe() returned
        assert threads == {threading.current_thread().name}


def test_synchronous_take_stops_reading_early(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks("a b c d e f g h i j"), delay=0.05))
    started = time.monotonic()
    items: list[orx.Chunk] = []
    client.stream("hi", scheduler=ImmediateScheduler()).pipe(ops.take(2)).subscribe(items.append)
    assert len(items) == 2 and time.monotonic() - started < 0.4
    assert fake_openrouter.wait_for_requests(1)[0].wait_disconnected(2.0)


def test_subscribe_scheduler_is_honoured(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks("threaded")))
    names: list[str] = []
    done = threading.Event()
    client.stream("hi").subscribe(
        lambda _: names.append(threading.current_thread().name), on_completed=done.set, scheduler=NewThreadScheduler()
    )
    assert done.wait(WAIT)
    assert names and "ThreadPoolExecutor" not in names[0] and names[0] != threading.current_thread().name


def test_exception_in_on_next_closes_and_is_reported(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks("a b c d e f"), delay=0.05))

    def boom(_: orx.Chunk) -> None:
        raise ValueError("bug in my callback")

    _, error = outcome(client.stream("hi").pipe(ops.do_action(boom)))
    assert isinstance(error, ValueError) and "bug in my callback" in str(error)
    assert fake_openrouter.wait_for_requests(1)[0].wait_disconnected(2.0)


# -- timeouts -------------------------------------------------------------------


def test_idle_timeout_fires_on_a_keepalive_only_stall(fake_openrouter: FakeOpenRouter) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks("partial text here"), stall_after=3, stall_keepalive=0.05))
    with orx.Client(base_url=fake_openrouter.base_url, timeout=orx.Timeout(idle=0.5)) as c:
        started = time.monotonic()
        items, error = outcome(c.stream("hi"))
        elapsed = time.monotonic() - started
    assert isinstance(error, orx.IdleTimeout) and error.timeout == 0.5
    assert 0.4 < elapsed < 3.0
    assert len(items) == 3
    assert error.partial is not None and error.partial.content == "partial text "
    assert fake_openrouter.wait_for_requests(1)[0].wait_disconnected(2.0)


def test_idle_timeout_before_headers(fake_openrouter: FakeOpenRouter) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    port = listener.getsockname()[1]
    try:
        with orx.Client(base_url=f"http://127.0.0.1:{port}/api/v1", timeout=orx.Timeout(idle=0.3)) as c:
            _, error = outcome(c.stream("hi"))
        assert isinstance(error, orx.IdleTimeout)
    finally:
        listener.close()


def test_total_timeout(fake_openrouter: FakeOpenRouter) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks(" ".join(["word"] * 50)), delay=0.05))
    with orx.Client(base_url=fake_openrouter.base_url, timeout=orx.Timeout(idle=1, total=0.4)) as c:
        items, error = outcome(c.stream("hi"))
    assert isinstance(error, orx.TotalTimeout) and error.timeout == 0.4
    assert 0 < len(items) < 50
    assert error.partial is not None and error.partial.content.startswith("word")


def test_connect_timeout() -> None:
    # A listener whose accept queue is full: the kernel drops further SYNs, so connect() hangs.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(8):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            fillers.append(s)
        time.sleep(0.1)
        with orx.Client(base_url=f"http://127.0.0.1:{port}/api/v1", timeout=orx.Timeout(connect=0.3, idle=5)) as c:
            _, error = outcome(c.stream("hi"))
        assert type(error) is orx.ConnectTimeout, error
        assert error.timeout == 0.3 and isinstance(error, orx.APIConnectionError)
    finally:
        for s in fillers:
            s.close()
        listener.close()


def test_connection_refused() -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with orx.Client(api_key=KEY, base_url=f"http://127.0.0.1:{port}/api/v1") as c:
        _, error = outcome(c.stream("hi"))
    assert type(error) is orx.APIConnectionError and isinstance(error, orx.errors.ConnectionError)
    assert KEY not in str(error)


# -- errors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, orx.BadRequestError),
        (401, orx.AuthenticationError),
        (402, orx.InsufficientCreditsError),
        (403, orx.PermissionDeniedError),
        (404, orx.NotFoundError),
        (408, orx.RequestTimeoutError),
        (413, orx.PayloadTooLargeError),
        (422, orx.UnprocessableEntityError),
        (429, orx.RateLimitError),
        (500, orx.ServerError),
        (502, orx.BadGatewayError),
        (503, orx.ServiceUnavailableError),
    ],
)
def test_status_errors_over_http(
    fake_openrouter: FakeOpenRouter, client: orx.Client, status: int, cls: type[orx.APIStatusError]
) -> None:
    fake_openrouter.enqueue(
        ErrorReply(status, "something went wrong", metadata={"error_type": "some_kind"}, headers={"Retry-After": "3"})
    )
    items, error = outcome(client.stream("hi"))
    assert items == [] and type(error) is cls
    assert isinstance(error, orx.APIStatusError)
    assert (error.status, error.code, error.message, error.error_type, error.retry_after) == (
        status,
        status,
        "something went wrong",
        "some_kind",
        3.0,
    )
    assert KEY not in str(error) and KEY not in repr(error.body)


def test_html_error_page_from_a_proxy(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(
        ErrorReply(502, html="<html><head><title>502 Bad Gateway</title></head><body><h1>nginx</h1></body></html>")
    )
    _, error = outcome(client.stream("hi"))
    assert isinstance(error, orx.BadGatewayError)
    assert "502 Bad Gateway" in error.message and "<" not in error.message


def test_moderation_error_over_http(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(ErrorReply(403, "flagged", metadata={"reasons": ["harassment"], "flagged_input": "..."}))
    _, error = outcome(client.stream("hi"))
    assert isinstance(error, orx.ModerationError) and error.reasons == ["harassment"]


@pytest.mark.parametrize("code", [502, "server_error"])
def test_mid_stream_error_chunk(fake_openrouter: FakeOpenRouter, client: orx.Client, code: int | str) -> None:
    factory = ChunkFactory()
    events = [
        factory.role(),
        *factory.text("Half an ans", pieces="words"),
        factory.error(code, "Provider disconnected"),
    ]
    fake_openrouter.enqueue(StreamReply(events, done=False))
    items, error = outcome(client.stream("hi"))
    assert isinstance(error, orx.StreamError)
    assert error.code == code and error.message == "Provider disconnected"
    assert [c.content for c in items] == ["", "Half ", "an ", "ans"]  # everything before the error was emitted
    assert error.partial is not None and error.partial.content == "Half an ans"
    assert error.chunk is not None and error.chunk.finish_reason == "error"


def test_finish_reason_error_without_error_object(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    factory = ChunkFactory()
    fake_openrouter.enqueue(StreamReply([*factory.text("abc"), factory.finish("error")]))
    _, error = outcome(client.stream("hi"))
    assert isinstance(error, orx.StreamError) and error.partial is not None and error.partial.content == "abc"


@pytest.mark.parametrize("framing", ["close", "chunked"])
def test_eof_without_done_or_finish_is_truncated(
    fake_openrouter: FakeOpenRouter, client: orx.Client, framing: str
) -> None:
    factory = ChunkFactory()
    fake_openrouter.enqueue(StreamReply([factory.role(), *factory.text("cut short")], done=False, framing=framing))
    items, error = outcome(client.stream("hi"))
    assert isinstance(error, orx.TruncatedStreamError)
    assert len(items) == 3 and error.partial is not None and error.partial.content == "cut short"


def test_finish_reason_without_done_completes(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks("fine"), done=False, framing="close"))
    items, error = outcome(client.stream("hi"))
    assert error is None and orx.Response.from_chunks(items).content == "fine"


def test_disconnect_mid_stream_is_truncated_with_partial(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks("one two three four"), disconnect_after=3))
    items, error = outcome(client.stream("hi"))
    assert isinstance(error, orx.TruncatedStreamError)
    assert len(items) == 3 and error.partial is not None and error.chunk_count == 3


def test_event_cut_off_by_eof_is_truncated(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    first = text_chunks("ok")[0]
    body = sse_bytes([first], done=False) + b'data: {"id": "gen-x", "choi'
    fake_openrouter.enqueue(RawReply([body], framing="close"))
    items, error = outcome(client.stream("hi"))
    assert isinstance(error, orx.TruncatedStreamError) and len(items) == 1


def test_malformed_json_is_a_protocol_error(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    first = text_chunks("ok")[0]
    fake_openrouter.enqueue(RawReply([sse_bytes([first], done=False), b"data: {not json}\n\n", b"data: [DONE]\n\n"]))
    items, error = outcome(client.stream("hi"))
    assert isinstance(error, orx.ProtocolError) and error.data == "{not json}"
    assert len(items) == 1 and error.partial is not None


def test_oversized_event_is_a_protocol_error(fake_openrouter: FakeOpenRouter) -> None:
    fake_openrouter.enqueue(RawReply([b"data: " + b"a" * 5000, b"a" * 5000, b"\n\n"]))
    with orx.Client(base_url=fake_openrouter.base_url, max_event_bytes=4096) as c:
        _, error = outcome(c.stream("hi"))
    assert isinstance(error, orx.ProtocolError) and "limit" in str(error)


def test_non_sse_200_reply(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    from openrouter_rx.testing import JSONReply

    fake_openrouter.enqueue(JSONReply({"error": {"code": 500, "message": "Internal"}}))
    _, error = outcome(client.stream("hi"))
    assert isinstance(error, orx.StreamError) and error.message == "Internal"


def test_validate_chunks_mode_rejects_wrong_types(fake_openrouter: FakeOpenRouter) -> None:
    bad = {"id": "g", "choices": [{"index": "zero", "delta": {"content": 5}}]}
    fake_openrouter.enqueue(StreamReply([bad]), StreamReply([bad, *text_chunks("x")]))
    with orx.Client(base_url=fake_openrouter.base_url, validate_chunks=True) as c:
        _, error = outcome(c.stream("hi"))
    assert isinstance(error, orx.ProtocolError) and "invalid chunk" in str(error)


# -- secrets --------------------------------------------------------------------


def test_key_never_appears_in_repr_errors_or_logs(
    fake_openrouter: FakeOpenRouter, client: orx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake_openrouter.enqueue(
        ErrorReply(401, "No auth credentials found"), StreamReply(text_chunks("x"), disconnect_after=1)
    )
    assert KEY not in repr(client) and KEY not in str(vars(client))
    _, first = outcome(client.stream("hi"))
    _, second = outcome(client.stream("hi"))
    for error in (first, second):
        assert error is not None
        assert KEY not in str(error) and KEY not in repr(error) and KEY not in repr(vars(error))
    assert KEY not in caplog.text
    assert "chat/completions" in caplog.text  # the log did record the requests


def test_key_is_refused_over_plain_http_to_a_remote_host() -> None:
    with pytest.raises(orx.InsecureTransportError) as info:
        orx.Client(api_key=KEY, base_url="http://openrouter.example.com/api/v1")
    assert KEY not in str(info.value)
    orx.Client(base_url="http://openrouter.example.com/api/v1").close()  # no key: nothing to leak
    orx.Client(api_key=KEY, base_url="http://[::1]:1/api/v1").close()
    orx.Client(api_key=KEY, base_url="http://localhost:1/api/v1").close()


def test_timeout_validation() -> None:
    with pytest.raises(ValueError):
        orx.Timeout(idle=0)
    assert orx.Client(timeout=3).timeout == orx.Timeout(idle=3.0)


def test_body_json_is_compact_utf8(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    client.stream("héllo 🌍").run()
    request = fake_openrouter.last_request
    assert request is not None and json.loads(request.body.decode("utf-8"))["messages"][0]["content"] == "héllo 🌍"


def test_connection_is_reused_after_done(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    for _ in range(3):
        client.stream("hi").run()
    ports = {request.client_port for request in fake_openrouter.requests}
    assert len(fake_openrouter.requests) == 3 and len(ports) == 1  # the tail after [DONE] was drained


def test_connection_is_not_reused_after_dispose(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks("a b c d e f"), delay=0.05))
    client.stream("hi").pipe(ops.take(1)).run()
    client.stream("hi").run()
    first, second = fake_openrouter.wait_for_requests(2)
    assert first.client_port != second.client_port  # a half-read connection is never handed to another request


def test_dispose_before_headers_emits_nothing_and_closes_when_they_arrive(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks("never seen"), headers_delay=0.3, stall_after=1))
    items: list[Any] = []
    terminal: list[str] = []
    subscription = client.stream("hi").subscribe(
        items.append, lambda e: terminal.append("error"), lambda: terminal.append("completed")
    )
    request = fake_openrouter.wait_for_requests(1)[0]
    subscription.dispose()
    assert request.wait_disconnected(3.0)
    time.sleep(0.1)
    assert items == [] and terminal == []


def test_queued_subscription_disposed_before_it_starts_sends_nothing(fake_openrouter: FakeOpenRouter) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks("slow one"), stall_after=1))
    with orx.Client(base_url=fake_openrouter.base_url, pool_size=1) as c:
        first = c.stream("hi").subscribe(lambda _: None)
        fake_openrouter.wait_for_requests(1)
        queued = c.stream("hi").subscribe(lambda _: None)  # waits for the only reader thread
        queued.dispose()
        first.dispose()
        time.sleep(0.3)
        assert len(fake_openrouter.requests) == 1


def test_closing_the_client_ends_requests_in_flight(fake_openrouter: FakeOpenRouter) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks("a b c"), stall_after=2))
    c = orx.Client(base_url=fake_openrouter.base_url, pool_size=1)
    results: list[Exception] = []
    done = threading.Event()

    def on_error(exc: Exception) -> None:
        results.append(exc)
        if len(results) == 2:
            done.set()

    got = threading.Event()
    c.stream("hi").subscribe(lambda _: got.set(), on_error=on_error)  # running
    assert got.wait(WAIT)
    c.stream("hi").subscribe(on_error=on_error)  # queued behind it
    c.close()
    assert done.wait(WAIT), "a subscriber was left without a terminal event"
    assert all(type(e) is orx.APIConnectionError and "closed" in str(e) for e in results)
    assert results[0].partial is not None or results[1].partial is not None  # the running one kept its chunks
    assert fake_openrouter.requests[0].wait_disconnected(2.0)
    with pytest.raises(RuntimeError, match="closed"):
        c.stream("hi").run()


def test_time_queued_for_a_reader_thread_does_not_count_as_idle(fake_openrouter: FakeOpenRouter) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks("one two three four five six"), delay=0.1))
    with orx.Client(base_url=fake_openrouter.base_url, pool_size=1, timeout=orx.Timeout(idle=0.4)) as c:
        first = c.stream("hi").pipe(ops.to_list())
        second = c.stream("hi").pipe(ops.to_list())
        results = reactivex.merge(first, second).pipe(ops.to_list()).run()  # the second waits ~0.8 s in the queue
    contents = sorted(orx.Response.from_chunks(r).content for r in results)
    assert contents[0] == "Hello from the fake OpenRouter server. You said: hi"
    assert contents[1] == "one two three four five six"


def test_run_uses_the_bounded_pool(fake_openrouter: FakeOpenRouter) -> None:
    with orx.Client(base_url=fake_openrouter.base_url, pool_size=2) as c:
        names = set()
        c.stream("hi").pipe(ops.do_action(lambda _: names.add(threading.current_thread().name))).run()
    assert len(names) == 1 and next(iter(names)).startswith("ThreadPoolExecutor")


@pytest.mark.parametrize(
    "variant",
    ["no_space", "crlf", "other_fields", "bom", "done_without_blank_line", "empty_data", "multi_line_data"],
)
def test_legal_sse_variants(fake_openrouter: FakeOpenRouter, client: orx.Client, variant: str) -> None:
    chunks = text_chunks("hi there")
    encoded = [json.dumps(c).encode() for c in chunks]
    bodies = {
        "no_space": b"".join(b"data:" + e + b"\n\n" for e in encoded) + b"data:[DONE]\n\n",
        "crlf": b"".join(b"data: " + e + b"\r\n\r\n" for e in encoded) + b"data: [DONE]\r\n\r\n",
        "other_fields": b"".join(b"event: message\nid: 7\nretry: 10\ndata: " + e + b"\n\n" for e in encoded)
        + b"data: [DONE]\n\n",
        "bom": b"\xef\xbb\xbf" + sse_bytes(chunks),
        "done_without_blank_line": sse_bytes(chunks, done=False) + b"data: [DONE]",
        "empty_data": b"data:\n\n" + sse_bytes(chunks),
        "multi_line_data": b"".join(
            b"data: " + json.dumps(c, indent=1).replace("\n", "\ndata: ").encode() + b"\n\n" for c in chunks
        )
        + b"data: [DONE]\n\n",
    }
    fake_openrouter.enqueue(RawReply([bodies[variant]], framing="close"))
    items, error = outcome(client.stream("hi"))
    assert error is None
    response = orx.Response.from_chunks(items)
    assert (response.content, response.finish_reason) == ("hi there", "stop")


def test_reader_thread_ends_after_dispose_while_stalled(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks("a b c"), stall_after=1))
    readers: list[threading.Thread] = []
    got = threading.Event()

    def on_next(_: orx.Chunk) -> None:
        readers.append(threading.current_thread())
        got.set()

    subscription = client.stream("hi", scheduler=NewThreadScheduler()).subscribe(on_next)
    assert got.wait(WAIT)
    assert readers[0] is not threading.current_thread()
    subscription.dispose()
    readers[0].join(timeout=2.0)
    assert not readers[0].is_alive(), "the reader thread is still blocked after dispose"


def test_any_text_in_any_fragmentation_round_trips(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(text=st.text(min_size=1, max_size=60), size=st.integers(min_value=1, max_value=40))
    def check(text: str, size: int) -> None:
        fake_openrouter.enqueue(StreamReply(text_chunks(text, pieces=3), fragment_size=size))
        items, error = outcome(client.stream("hi"))
        assert error is None
        assert orx.Response.from_chunks(items).content == text

    check()


def test_oserror_raised_downstream_is_not_mistaken_for_a_network_error(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks("a b c d"), delay=0.02))

    def broken_pipe(_: orx.Chunk) -> None:
        raise BrokenPipeError("my stdout went away")

    _, error = outcome(client.stream("hi").pipe(ops.do_action(broken_pipe)))
    assert type(error) is BrokenPipeError and "my stdout" in str(error)


def test_text_carried_by_the_error_chunk_is_kept_in_the_partial(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    factory = ChunkFactory()
    error_chunk = factory.error("server_error", "boom")
    error_chunk["choices"][0]["delta"] = {"content": " tail"}
    fake_openrouter.enqueue(StreamReply([*factory.text("head"), error_chunk], done=False))
    items, error = outcome(client.stream("hi"))
    assert isinstance(error, orx.StreamError) and [c.content for c in items] == ["head"]
    assert error.partial is not None and error.partial.content == "head tail"
    assert error.partial.finish_reason == "error"


def test_many_concurrent_streams_on_a_small_pool_stay_separate(fake_openrouter: FakeOpenRouter) -> None:
    def reply(request: Any) -> StreamReply:
        prompt = request.json["messages"][0]["content"]
        return StreamReply(text_chunks(f"answer to {prompt} " * 5), delay=0.005)

    fake_openrouter.responder = reply
    with orx.Client(base_url=fake_openrouter.base_url, pool_size=4) as c:
        streams = [c.stream(f"q{i}").pipe(ops.to_list(), ops.map(orx.Response.from_chunks)) for i in range(20)]
        responses = reactivex.merge(*streams).pipe(ops.to_list()).run()
    assert sorted(r.content for r in responses) == sorted(f"answer to q{i} " * 5 for i in range(20))
    assert len({r.client_port for r in fake_openrouter.requests}) <= 4  # pooled connections reused


@pytest.mark.timeout(10)  # without the fix the read ends only at the 30 s idle timeout
def test_take_with_a_fresh_current_thread_scheduler_disposes_mid_read(fake_openrouter: FakeOpenRouter) -> None:
    # A new CurrentThreadScheduler() runs its action inside schedule(): the read must still be
    # queued behind the subscription, or take(2) could not reach it before the idle timeout.
    fake_openrouter.enqueue(StreamReply(text_chunks("a b c d e"), stall_after=2))
    with orx.Client(api_key=KEY, base_url=fake_openrouter.base_url, timeout=orx.Timeout(idle=30)) as c:
        items: list[Any] = []
        errors: list[Exception] = []
        c.stream("hi").pipe(ops.take(2)).subscribe(items.append, errors.append, scheduler=CurrentThreadScheduler())
    assert errors == [] and len(items) == 2
    request = fake_openrouter.wait_for_requests(1)[0]
    assert request.wait_disconnected(timeout=WAIT)


def test_exceptions_raised_in_on_completed_or_on_error_are_logged_not_lost(
    fake_openrouter: FakeOpenRouter, client: orx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks("ok")), ErrorReply(500, "boom"))
    done = threading.Event()

    def bad_completed() -> None:
        done.set()
        raise RuntimeError("on_completed bug")

    def bad_error(_: Exception) -> None:
        done.set()
        raise RuntimeError("on_error bug")

    with caplog.at_level(logging.ERROR, logger="openrouter_rx"):
        client.stream("a").subscribe(lambda _: None, bad_error, bad_completed)
        assert done.wait(WAIT)
        done.clear()
        client.stream("b").subscribe(lambda _: None, bad_error, bad_completed)
        assert done.wait(WAIT)
        deadline = time.monotonic() + WAIT
        while len([r for r in caplog.records if r.exc_info]) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    logged = [str(r.exc_info[1]) for r in caplog.records if r.exc_info]
    assert logged == ["on_completed bug", "on_error bug"]


def test_credentials_in_the_base_url_never_reach_logs_or_repr(
    fake_openrouter: FakeOpenRouter, caplog: pytest.LogCaptureFixture
) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks("ok")))
    url = fake_openrouter.base_url.replace("http://", "http://proxyuser:proxy-pass-9876@")
    with caplog.at_level(logging.DEBUG), orx.Client(api_key=KEY, base_url=url) as c:
        outcome(c.stream("hi"))
        assert "proxy-pass-9876" not in repr(c)
    assert caplog.records and not any("proxy-pass-9876" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("value", ["tok\n", " tok", "t\x01k", "tok…"])
def test_an_unsendable_extra_header_is_named_never_quoted(
    fake_openrouter: FakeOpenRouter, client: orx.Client, value: str
) -> None:
    items, error = outcome(client.stream("hi", extra_headers={"X-Trace": value + "SECRET-VALUE"}))
    assert isinstance(error, orx.InvalidHeaderError)
    assert "X-Trace" in str(error) and "SECRET-VALUE" not in str(error)
    assert items == [] and fake_openrouter.requests == []
