"""Adversarial tests of the transport and client layers: races, Rx grammar, odd-but-legal SSE,
unusual chunk shapes, complete() edge cases, secrecy and retry. Real HTTP over loopback against
the fake server; nothing in requests/urllib3 is mocked.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import random
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import reactivex
from reactivex import operators as ops
from reactivex.scheduler import CurrentThreadScheduler, NewThreadScheduler

import openrouter_rx as orx
from openrouter_rx.testing import (
    ChunkFactory,
    CompletionReply,
    ErrorReply,
    FakeOpenRouter,
    KeepAlive,
    RawReply,
    Reply,
    ResponseWriter,
    StreamReply,
    completion_body,
    sse_bytes,
    text_chunks,
)

KEY = "sk-or-v1-ADVERSARIAL-SECRET-5550123"
WAIT = 8.0


# -- helpers ---------------------------------------------------------------------------------


@pytest.fixture
def client(fake_openrouter: FakeOpenRouter) -> Iterator[orx.Client]:
    with orx.Client(api_key=KEY, base_url=fake_openrouter.base_url, timeout=orx.Timeout(connect=2, idle=5)) as c:
        yield c


class Recorder:
    """An observer that records every event and notices grammar violations.

    Violations: a second terminal event, anything after a terminal event, and two
    callbacks running at the same time (Rx requires serialized notifications).
    """

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []
        self.violations: list[str] = []
        self.done = threading.Event()
        self._busy = threading.Lock()
        self._lock = threading.Lock()

    def _record(self, kind: str, value: Any) -> None:
        if not self._busy.acquire(blocking=False):
            self.violations.append(f"overlapping {kind}")
            with self._lock:
                self.events.append((kind, value))
            return
        try:
            with self._lock:
                if any(k in ("error", "completed") for k, _ in self.events):
                    self.violations.append(f"{kind} after a terminal event")
                self.events.append((kind, value))
            if kind != "next":
                self.done.set()
        finally:
            self._busy.release()

    def on_next(self, value: Any) -> None:
        self._record("next", value)

    def on_error(self, error: Exception) -> None:
        self._record("error", error)

    def on_completed(self) -> None:
        self._record("completed", None)

    @property
    def kinds(self) -> list[str]:
        with self._lock:
            return [k for k, _ in self.events]

    @property
    def items(self) -> list[Any]:
        with self._lock:
            return [v for k, v in self.events if k == "next"]

    @property
    def error(self) -> Exception | None:
        with self._lock:
            return next((v for k, v in self.events if k == "error"), None)

    def subscribe(self, observable: reactivex.Observable[Any], **kwargs: Any) -> Any:
        return observable.subscribe(self.on_next, self.on_error, self.on_completed, **kwargs)

    def assert_grammar(self) -> None:
        kinds = self.kinds
        assert not self.violations, self.violations
        terminals = kinds.count("error") + kinds.count("completed")
        assert terminals <= 1, kinds
        if terminals:
            assert kinds[-1] in ("error", "completed"), kinds


def collect(observable: reactivex.Observable[Any], timeout: float = WAIT) -> tuple[list[Any], Exception | None]:
    recorder = Recorder()
    subscription = recorder.subscribe(observable)
    try:
        assert recorder.done.wait(timeout), "the stream did not end in time"
    finally:
        subscription.dispose()
    recorder.assert_grammar()
    return recorder.items, recorder.error


def wait_until(predicate: Callable[[], bool], timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def open_fds() -> int | None:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:  # pragma: no cover - not Linux
        return None


class HeadersThenDrop(Reply):
    """Sends the status line and headers (and optionally some body bytes), then drops the connection."""

    def __init__(self, status: int = 200, content_type: str = "application/json", body: bytes = b"") -> None:
        self.status, self.content_type, self.body = status, content_type, body

    def write(self, out: ResponseWriter) -> None:
        out.begin(self.status, [("Content-Type", self.content_type)], framing="chunked")
        if self.body:
            out.write(self.body)
        out.abort()


def sse(chunk: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


# -- races and disposal ----------------------------------------------------------------------


def test_subscribe_dispose_tight_loop_leaks_no_threads_sockets_or_exchanges(fake_openrouter: FakeOpenRouter) -> None:
    fake_openrouter.responder = lambda _: StreamReply(text_chunks("a b c d e f g h i j " * 3), delay=0.002)
    threads_before, fds_before = threading.active_count(), open_fds()
    hook_errors: list[Any] = []
    old_hook = threading.excepthook
    threading.excepthook = hook_errors.append
    try:
        with orx.Client(api_key=KEY, base_url=fake_openrouter.base_url, pool_size=4) as c:
            recorders = []
            for i in range(200):
                recorder = Recorder()
                subscription = recorder.subscribe(c.stream("hi"))
                if i % 3 == 1:
                    time.sleep(0.001)
                elif i % 3 == 2:
                    recorder.done.wait(0.003)
                subscription.dispose()
                subscription.dispose()  # twice: harmless
                count = len(recorder.items)
                recorders.append((recorder, count))
            assert wait_until(lambda: not c._active), "exchanges were left registered after dispose"
            time.sleep(0.1)
            for recorder, count in recorders:
                recorder.assert_grammar()
                assert len(recorder.items) == count, "on_next after dispose() returned"
                assert recorder.kinds.count("error") == 0, recorder.error
            requests = fake_openrouter.requests
            assert all(r.wait_finished(3.0) for r in requests)
            # a disposed request is never left half-read on the server side, and the client still works
            fake_openrouter.responder = None
            assert orx.Response.from_chunks(c.stream("hi").pipe(ops.to_list()).run()).content.endswith("hi")
        assert wait_until(lambda: threading.active_count() <= threads_before, 5.0), [
            t.name for t in threading.enumerate()
        ]
        if fds_before is not None:
            assert wait_until(lambda: (open_fds() or 0) <= fds_before + 2, 5.0), (fds_before, open_fds())
    finally:
        threading.excepthook = old_hook
    assert hook_errors == []
    assert fake_openrouter.errors == []


def test_dispose_from_many_threads_at_once_while_chunks_flow(fake_openrouter: FakeOpenRouter) -> None:
    with orx.Client(api_key=KEY, base_url=fake_openrouter.base_url, pool_size=3) as c:
        for _ in range(10):
            fake_openrouter.enqueue(StreamReply(text_chunks("tick " * 400), delay=0.001))
            recorder = Recorder()
            got = threading.Event()
            subscription = c.stream("hi").subscribe(
                lambda ch, r=recorder, g=got: (r.on_next(ch), len(r.items) >= 3 and g.set()),
                recorder.on_error,
                recorder.on_completed,
            )
            assert got.wait(WAIT)
            barrier = threading.Barrier(8)
            errors: list[BaseException] = []
            counts: list[int] = []

            def hammer(
                barrier: threading.Barrier = barrier,
                sub: Any = subscription,
                rec: Recorder = recorder,
                counts: list[int] = counts,
                errors: list[BaseException] = errors,
            ) -> None:
                try:
                    barrier.wait(2)
                    sub.dispose()
                    counts.append(len(rec.items))
                except BaseException as exc:
                    errors.append(exc)

            workers = [threading.Thread(target=hammer) for _ in range(8)]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join(3)
            assert errors == [] and len(counts) == 8
            request = fake_openrouter.requests[-1]
            assert request.wait_disconnected(2.0), "the server did not see the client go away"
            time.sleep(0.05)
            assert len(recorder.items) == max(counts), "on_next after every dispose() returned"
            assert recorder.kinds.count("error") + recorder.kinds.count("completed") == 0
            recorder.assert_grammar()
        assert wait_until(lambda: not c._active)


def test_dispose_at_random_moments_races_with_the_terminal_event(fake_openrouter: FakeOpenRouter) -> None:
    rng = random.Random(1234)
    faults: list[Callable[[], Reply]] = [
        lambda: StreamReply(text_chunks("x y z")),
        lambda: ErrorReply(503, "busy"),
        lambda: StreamReply([*ChunkFactory().text("a b"), ChunkFactory().error(502, "gone")], done=False),
        lambda: StreamReply(text_chunks("a b c"), disconnect_after=2),
        lambda: RawReply([b"data: {nope\n\n"]),
    ]
    fake_openrouter.responder = lambda _: rng.choice(faults)()
    with orx.Client(api_key=KEY, base_url=fake_openrouter.base_url, pool_size=4) as c:
        recorders = []
        for _ in range(60):
            recorder = Recorder()
            subscription = recorder.subscribe(c.stream("hi"))
            time.sleep(rng.random() * 0.004)
            threading.Thread(target=subscription.dispose).start()
            recorders.append(recorder)
        time.sleep(0.3)
        for recorder in recorders:
            recorder.assert_grammar()
            error = recorder.error
            assert error is None or isinstance(error, orx.OpenRouterError), repr(error)
        assert wait_until(lambda: not c._active)


def test_dispose_inside_on_completed_and_inside_on_next(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    # dispose inside on_completed
    fake_openrouter.enqueue(StreamReply(text_chunks("done soon")))
    holder: dict[str, Any] = {}
    done = threading.Event()
    errors: list[Exception] = []

    def on_completed() -> None:
        holder["sub"].dispose()
        done.set()

    holder["sub"] = client.stream("hi").subscribe(lambda _: None, errors.append, on_completed)
    assert done.wait(WAIT) and errors == []
    # dispose inside on_next, synchronous read: nothing more is delivered, the server sees it
    fake_openrouter.enqueue(StreamReply(text_chunks("one two three four five six"), delay=0.02))
    recorder = Recorder()
    sub_holder: dict[str, Any] = {}

    def on_next(chunk: orx.Chunk) -> None:
        recorder.on_next(chunk)
        if len(recorder.items) == 2:
            sub_holder["sub"].dispose()

    sub_holder["sub"] = client.stream("hi", scheduler=NewThreadScheduler()).subscribe(
        on_next, recorder.on_error, recorder.on_completed
    )
    request = fake_openrouter.wait_for_requests(2)[1]
    assert request.wait_disconnected(2.0)
    time.sleep(0.1)
    assert len(recorder.items) == 2 and recorder.kinds == ["next", "next"]


def test_take_while_with_synchronous_scheduler_nested_in_a_merge(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    fake_openrouter.enqueue(
        StreamReply(text_chunks("a b c d e f g h"), delay=0.01), StreamReply(text_chunks("p q r s t"), delay=0.01)
    )
    scheduler = CurrentThreadScheduler()
    first = client.stream("1", scheduler=scheduler).pipe(ops.take(2))
    second = client.stream("2", scheduler=scheduler).pipe(ops.take(3))
    items = reactivex.concat(first, second).pipe(ops.to_list()).run()
    assert len(items) == 5
    for request in fake_openrouter.wait_for_requests(2):
        assert request.wait_finished(2.0)


# -- Rx grammar in every fault mode ----------------------------------------------------------


GRAMMAR_FAULTS: dict[str, tuple[Callable[[], Reply], type[BaseException] | None, orx.Timeout]] = {
    "ok": (lambda: StreamReply(text_chunks("fine")), None, orx.Timeout(idle=2)),
    "status_429": (lambda: ErrorReply(429, "slow", headers={"Retry-After": "2"}), orx.RateLimitError, orx.Timeout()),
    "status_html_502": (lambda: ErrorReply(502, html="<h1>bad</h1>"), orx.BadGatewayError, orx.Timeout()),
    "error_chunk": (
        lambda: StreamReply([*ChunkFactory().text("x y"), ChunkFactory().error("server_error", "gone")], done=False),
        orx.StreamError,
        orx.Timeout(),
    ),
    "error_then_done": (
        lambda: StreamReply([*ChunkFactory().text("x"), ChunkFactory().error(500, "bad")], done=True),
        orx.StreamError,
        orx.Timeout(),
    ),
    "truncated_eof": (
        lambda: StreamReply(ChunkFactory().text("x y"), done=False, framing="close"),
        orx.TruncatedStreamError,
        orx.Timeout(),
    ),
    "disconnect": (
        lambda: StreamReply(text_chunks("a b c"), disconnect_after=1),
        orx.TruncatedStreamError,
        orx.Timeout(),
    ),
    "bad_json_mid": (
        lambda: StreamReply([*ChunkFactory().text("x y"), "data: {oops}\n\n"]),
        orx.ProtocolError,
        orx.Timeout(),
    ),
    "chunk_not_object": (lambda: RawReply([b"data: [1, 2]\n\n"]), orx.ProtocolError, orx.Timeout()),
    "choices_not_list": (lambda: RawReply([b'data: {"choices": 5}\n\n']), orx.ProtocolError, orx.Timeout()),
    "delta_not_object": (
        lambda: RawReply([b'data: {"choices": [{"delta": "hi"}]}\n\n']),
        orx.ProtocolError,
        orx.Timeout(),
    ),
    "idle_keepalives": (
        lambda: StreamReply(text_chunks("a b"), stall_after=1, stall_keepalive=0.05),
        orx.IdleTimeout,
        orx.Timeout(idle=0.3),
    ),
    "idle_headers": (
        lambda: StreamReply(text_chunks("a"), headers_delay=3),
        orx.IdleTimeout,
        orx.Timeout(idle=0.3),
    ),
    "total_trickle": (
        lambda: StreamReply(text_chunks("a b c d e f g h i j k l m n o p"), delay=0.1),
        orx.TotalTimeout,
        orx.Timeout(idle=2, total=0.35),
    ),
    "total_before_headers": (
        lambda: StreamReply(text_chunks("a"), headers_delay=3),
        orx.TotalTimeout,
        orx.Timeout(idle=None, total=0.3),
    ),
    "non_sse_200": (lambda: CompletionReply(completion_body("hi")), orx.ProtocolError, orx.Timeout()),
    "non_sse_200_error_json": (
        lambda: CompletionReply({"error": {"code": 502, "message": "down"}}),
        orx.StreamError,
        orx.Timeout(),
    ),
}


@pytest.mark.parametrize("fault", sorted(GRAMMAR_FAULTS))
def test_grammar_and_secrecy_in_every_fault_mode(
    fake_openrouter: FakeOpenRouter, fault: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # root: every logger, urllib3 included
    make, expected, timeout = GRAMMAR_FAULTS[fault]
    fake_openrouter.enqueue(make())
    with orx.Client(api_key=KEY, base_url=fake_openrouter.base_url, timeout=timeout) as c:
        recorder = Recorder()
        recorder.subscribe(c.stream("hi"))
        assert recorder.done.wait(WAIT)
        time.sleep(0.05)  # anything late would show up now
        assert KEY not in repr(c) and KEY not in str(vars(c))
    recorder.assert_grammar()
    kinds = recorder.kinds
    assert kinds.count("error") + kinds.count("completed") == 1
    error = recorder.error
    if expected is None:
        assert error is None and kinds[-1] == "completed"
    else:
        assert type(error) is expected, repr(error)
        assert error is not None
        text = f"{error} {error!r} {vars(error)!r} {error.__cause__!r}"
        assert KEY not in text
        if error.partial is not None:
            assert error.chunk_count == len(recorder.items)  # the chunks delivered (never the error chunk)
    assert KEY not in caplog.text
    assert any(r.name.startswith("urllib3") for r in caplog.records)  # really captured every logger


def test_client_close_with_many_streams_in_every_stage(fake_openrouter: FakeOpenRouter) -> None:
    def reply(request: Any) -> Reply:
        n = int(request.json["messages"][0]["content"])
        if n % 3 == 0:
            return StreamReply(text_chunks("quick"))
        if n % 3 == 1:
            return StreamReply(text_chunks("a b c d"), stall_after=2)
        return StreamReply(text_chunks("late"), headers_delay=0.3)

    fake_openrouter.responder = reply
    c = orx.Client(api_key=KEY, base_url=fake_openrouter.base_url, pool_size=4, timeout=orx.Timeout(idle=3))
    recorders = []
    for i in range(14):
        recorder = Recorder()
        recorder.subscribe(c.stream(str(i)))
        recorders.append(recorder)
    time.sleep(0.15)
    closers = [threading.Thread(target=c.close) for _ in range(3)]  # concurrent close() is idempotent
    for closer in closers:
        closer.start()
    for closer in closers:
        closer.join(3)
    for recorder in recorders:
        assert recorder.done.wait(WAIT), "a subscriber was left without a terminal event"
    time.sleep(0.1)
    for recorder in recorders:
        recorder.assert_grammar()
        assert recorder.kinds.count("error") + recorder.kinds.count("completed") == 1
        error = recorder.error
        assert error is None or type(error) is orx.APIConnectionError, repr(error)
    assert any(r.error is not None for r in recorders)
    with pytest.raises(RuntimeError):
        c.stream("x").run()


def test_exception_in_on_error_or_on_completed_does_not_cause_a_second_terminal(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks("ok")), ErrorReply(500, "x"), StreamReply(text_chunks("after")))
    calls: list[str] = []
    done = threading.Event()

    def on_completed() -> None:
        calls.append("completed")
        done.set()
        raise RuntimeError("bug in on_completed")

    client.stream("hi").subscribe(on_error=lambda e: calls.append(f"error {e!r}"), on_completed=on_completed)
    assert done.wait(WAIT)
    done.clear()

    def on_error(_: Exception) -> None:
        calls.append("error")
        done.set()
        raise RuntimeError("bug in on_error")

    client.stream("hi").subscribe(on_error=on_error, on_completed=lambda: calls.append("completed"))
    assert done.wait(WAIT)
    time.sleep(0.1)
    assert calls == ["completed", "error"]
    # the client is unharmed and the next request works
    assert orx.Response.from_chunks(client.stream("hi").pipe(ops.to_list()).run()).content == "after"


# -- the pool never mixes streams -------------------------------------------------------------


def test_many_concurrent_mixed_outcomes_on_a_small_pool(fake_openrouter: FakeOpenRouter) -> None:
    def reply(request: Any) -> Reply:
        prompt = request.json["messages"][0]["content"]
        n = int(prompt[1:])
        if n % 5 == 1:
            return ErrorReply(502, f"fail {prompt}")
        if n % 5 == 2:
            return StreamReply(text_chunks(f"cut {prompt} " * 4), disconnect_after=2)
        if n % 5 == 3:
            return StreamReply(text_chunks(f"slow {prompt} " * 20), delay=0.01)  # disposed after 2 chunks
        return StreamReply(text_chunks(f"answer to {prompt} " * 8, pieces=2), delay=0.002)

    fake_openrouter.responder = reply
    with orx.Client(api_key=KEY, base_url=fake_openrouter.base_url, pool_size=4) as c:
        results: dict[int, Recorder] = {}
        subscriptions = {}
        for n in range(24):
            recorder = Recorder()
            results[n] = recorder
            if n % 5 == 3:
                subscriptions[n] = (
                    c.stream(f"q{n}")
                    .pipe(ops.take(2))
                    .subscribe(recorder.on_next, recorder.on_error, recorder.on_completed)
                )
            else:
                subscriptions[n] = recorder.subscribe(c.stream(f"q{n}"))
        for n, recorder in results.items():
            assert recorder.done.wait(WAIT), n
        time.sleep(0.05)
        for n, recorder in results.items():
            recorder.assert_grammar()
            prompt = f"q{n}"
            text = orx.Response.from_chunks(recorder.items).content if recorder.items else ""
            if n % 5 == 1:
                assert type(recorder.error) is orx.BadGatewayError and prompt in str(recorder.error)
            elif n % 5 == 2:
                assert type(recorder.error) is orx.TruncatedStreamError
                assert text == f"cut {prompt} " or text == f"cut {prompt} "[: len(text)], text
            elif n % 5 == 3:
                assert recorder.kinds == ["next", "next", "completed"]
            else:
                assert recorder.error is None and text == f"answer to {prompt} " * 8, (n, text)
        # after all that, sequential requests on the same pool are still clean
        fake_openrouter.responder = None
        for i in range(6):
            chunks = c.stream(f"again {i}").pipe(ops.to_list()).run()
            assert orx.Response.from_chunks(chunks).content.endswith(f"You said: again {i}")


def test_error_body_larger_than_the_read_limit_does_not_poison_the_pool(fake_openrouter: FakeOpenRouter) -> None:
    big = {"error": {"code": 500, "message": "x" * (200 * 1024)}}
    with orx.Client(api_key=KEY, base_url=fake_openrouter.base_url, pool_size=1) as c:
        fake_openrouter.enqueue(ErrorReply(500, body=big), StreamReply(text_chunks("clean")))
        _, error = collect(c.stream("hi"))
        assert isinstance(error, orx.ServerError)
        items, error = collect(c.stream("hi"))
        assert error is None and orx.Response.from_chunks(items).content == "clean"


# -- weird but legal SSE ------------------------------------------------------------------------


def _variant_bodies() -> dict[str, bytes]:
    chunks = ChunkFactory().text("hi there")  # content in the very first event
    chunks.append(ChunkFactory().finish())
    encoded = [json.dumps(c).encode() for c in chunks]
    return {
        "cr_only": b"".join(b"data: " + e + b"\r\r" for e in encoded) + b"data: [DONE]\r\r",
        "crlf_then_lf_blank": b"".join(b"data: " + e + b"\r\n\n" for e in encoded) + b"data: [DONE]\r\n\n",
        "long_keepalive_run": b": OPENROUTER PROCESSING\n\n" * 20000 + sse_bytes(chunks),
        "comment_without_space": b":ping\n\n"
        + b"".join(b":x\ndata: " + e + b"\n\n" for e in encoded)
        + b"data: [DONE]",
        "all_fields": b"".join(
            b"event: message\nid: " + str(i).encode() + b"\nretry: 1000\nunknown: x\ndata: " + e + b"\n\n"
            for i, e in enumerate(encoded)
        )
        + b"id: 99\n\ndata: [DONE]\n\n",
        "data_split_at_every_comma": b"".join(b"data:" + e.replace(b", ", b",\ndata:") + b"\n\n" for e in encoded)
        + b"data: [DONE]\n\n",
        "empty_data_lines_between": b"".join(b"data:\n\ndata: \n\n" + b"data: " + e + b"\n\n" for e in encoded)
        + b"data: [DONE]\n\n",
        "done_without_newline_after_keepalive": sse_bytes(chunks, done=False) + b": bye\n\ndata: [DONE]",
        "no_done_but_finish": sse_bytes(chunks, done=False),
        "whitespace_only_lines": b"".join(b"   \ndata: " + e + b"\n\n" for e in encoded) + b"data: [DONE]\n\n",
    }


@pytest.mark.parametrize("variant", sorted(_variant_bodies()))
@pytest.mark.parametrize("fragment", [None, 1, 5])
def test_odd_but_legal_sse(
    fake_openrouter: FakeOpenRouter, client: orx.Client, variant: str, fragment: int | None
) -> None:
    body = _variant_bodies()[variant]
    if fragment and len(body) > 20000:
        fragment *= 997  # a big body in 1- or 5-byte writes would take too long: still odd-sized pieces
    pieces = [body] if fragment is None else [body[i : i + fragment] for i in range(0, len(body), fragment)]
    fake_openrouter.enqueue(RawReply(pieces, framing="close"))
    items, error = collect(client.stream("hi"))
    assert error is None, repr(error)
    response = orx.Response.from_chunks(items)
    assert (response.content, response.finish_reason) == ("hi there", "stop")


def test_utf8_bom_does_not_swallow_the_first_event(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    chunks = ChunkFactory().text("hello world")  # the first event carries "hello "
    fake_openrouter.enqueue(RawReply([b"\xef\xbb\xbf" + sse_bytes([*chunks, ChunkFactory().finish()])]))
    items, error = collect(client.stream("hi"))
    assert error is None
    assert orx.Response.from_chunks(items).content == "hello world"


def test_lf_line_then_crlf_blank_line_ends_an_event(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    chunks = [*ChunkFactory().text("hi there"), ChunkFactory().finish()]
    body = b"".join(b"data: " + json.dumps(c).encode() + b"\n\r\n" for c in chunks) + b"data: [DONE]\n\r\n"
    fake_openrouter.enqueue(RawReply([body]))
    items, error = collect(client.stream("hi"))
    assert error is None, repr(error)
    assert orx.Response.from_chunks(items).content == "hi there"


def test_content_type_is_case_insensitive(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks("hi there"), headers={"Content-Type": "Text/Event-Stream"}))
    items, error = collect(client.stream("hi"))
    assert error is None, repr(error)
    assert orx.Response.from_chunks(items).content == "hi there"


def test_invalid_utf8_in_the_stream_is_a_protocol_error(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(RawReply([sse_bytes(ChunkFactory().text("ok"), done=False), b"data: \xff\xfe{}\n\n"]))
    items, error = collect(client.stream("hi"))
    assert [c.content for c in items] == ["ok"]
    assert isinstance(error, orx.OpenRouterError), repr(error)


# -- content-encoding -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["completion", "stream", "error"])
def test_gzip_encoded_replies_are_decoded(fake_openrouter: FakeOpenRouter, client: orx.Client, kind: str) -> None:
    gz = {"Content-Encoding": "gzip"}
    if kind == "completion":
        fake_openrouter.enqueue(
            CompletionReply(gzip.compress(json.dumps(completion_body("zipped")).encode()), headers=gz)
        )
        items, error = collect(client.complete("hi"))
        assert "gzip" in (fake_openrouter.last_request.header("Accept-Encoding") or "")  # type: ignore[union-attr]
        assert error is None, repr(error)
        assert items[0].content == "zipped"
    elif kind == "stream":
        fake_openrouter.enqueue(RawReply([gzip.compress(sse_bytes(text_chunks("zipped stream")))], headers=gz))
        items, error = collect(client.stream("hi"))
        assert error is None, repr(error)
        assert orx.Response.from_chunks(items).content == "zipped stream"
    else:
        body = gzip.compress(json.dumps({"error": {"code": 429, "message": "slow down"}}).encode())
        fake_openrouter.enqueue(ErrorReply(429, body=body, headers=gz))
        _, error = collect(client.stream("hi"))
        assert type(error) is orx.RateLimitError and error.message == "slow down", repr(error)


# -- unusual chunk shapes ---------------------------------------------------------------------


def test_unusual_but_real_chunk_shapes(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    events: list[Any] = [
        {"id": "gen-1", "choices": [{"index": 0, "delta": None}]},
        {"id": "gen-1", "choices": [{"index": 0, "delta": {"role": "assistant", "content": None}}]},
        {"id": "gen-1", "choices": [{"index": 0, "delta": {"content": "He", "tool_calls": None}}], "usage": None},
        {"id": "gen-1", "choices": None},
        {"id": "gen-1", "choices": [{"delta": {"content": "llo"}}]},  # index missing
        {"id": "gen-1", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop", "logprobs": None}]},
        {
            "id": "gen-1",
            "choices": [{"index": 0, "delta": {}, "finish_reason": None}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5, "cost": "0.0001"},
        },
    ]
    fake_openrouter.enqueue(StreamReply(events))
    items, error = collect(client.stream("hi"))
    assert error is None and len(items) == len(events)
    response = orx.Response.from_chunks(items)
    assert (response.content, response.finish_reason) == ("Hello", "stop")
    assert response.usage is not None and response.usage.total_tokens == 5 and str(response.usage.cost) == "0.0001"
    assert items[-1].is_usage_only and items[3].content == "" and items[3].finish_reason is None


def test_n_greater_than_one_interleaved_choices(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    events = [
        {"choices": [{"index": 1, "delta": {"content": "B"}}, {"index": 0, "delta": {"content": "A"}}]},
        {"choices": [{"index": 1, "delta": {"content": "b"}, "finish_reason": "length"}]},
        {"choices": [{"index": 0, "delta": {"content": "a"}}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": {"prompt_tokens": 1}},
    ]
    fake_openrouter.enqueue(StreamReply(events))
    items, error = collect(client.stream("hi"))
    assert error is None
    response = orx.Response.from_chunks(items)
    assert [(ch.index, ch.content, ch.finish_reason) for ch in response.choices] == [
        (0, "Aa", "stop"),
        (1, "Bb", "length"),
    ]
    assert items[1].finish_reason == "length" and items[1].content == ""


def test_usage_token_counts_as_numeric_strings(fake_openrouter: FakeOpenRouter) -> None:
    usage = {"prompt_tokens": "12", "completion_tokens": "3", "total_tokens": "15", "cost": "0.001"}
    events = [*ChunkFactory().text("x"), ChunkFactory().finish(), {"choices": [], "usage": usage}]
    fake_openrouter.enqueue(StreamReply(events))
    # validate_chunks=True accepts these (marshmallow Integer takes "12"), so they are legal input
    with orx.Client(base_url=fake_openrouter.base_url, validate_chunks=True) as c:
        items, error = collect(c.stream("hi"))
    assert error is None
    final = orx.Response.from_chunks(items).usage
    assert final is not None and str(final.cost) == "0.001"
    assert (final.prompt_tokens, final.completion_tokens, final.total_tokens) == (12, 3, 15)


# -- complete() --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (lambda: CompletionReply(b"\n" * (2 * 1024 * 1024) + json.dumps(completion_body("ws")).encode()), None),
        (lambda: CompletionReply(completion_body("ws"), leading_whitespace=300), None),
        (lambda: CompletionReply(b" \r\n\t" * 1000 + json.dumps(completion_body("ws")).encode() + b"\n\n"), None),
        (lambda: CompletionReply({"error": {"code": 502, "message": "provider down"}}), orx.StreamError),
        (
            lambda: CompletionReply({"error": {"code": "rate_limited", "message": "x"}}, leading_whitespace=3),
            orx.StreamError,
        ),
        (lambda: CompletionReply(b"<html><title>oops</title></html>"), orx.ProtocolError),
        (lambda: CompletionReply(b"[1, 2, 3]"), orx.ProtocolError),
        (lambda: CompletionReply(b"\n\n\n"), orx.TruncatedStreamError),
        (lambda: CompletionReply({"choices": "nope"}), orx.ProtocolError),
        (lambda: ErrorReply(400, "bad model", metadata={"provider_name": "x"}), orx.BadRequestError),
    ],
    ids=[
        "2MiB-ws",
        "keepalives",
        "mixed-ws",
        "200-error",
        "200-error-str-code",
        "html",
        "array",
        "only-ws",
        "bad-shape",
        "400",
    ],
)
def test_complete_edge_cases(
    fake_openrouter: FakeOpenRouter,
    client: orx.Client,
    reply: Callable[[], Reply],
    expected: type[BaseException] | None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    fake_openrouter.enqueue(reply())
    items, error = collect(client.complete("hi"))
    if expected is None:
        assert error is None, repr(error)
        assert len(items) == 1 and items[0].content == "ws"
    else:
        assert type(error) is expected, repr(error)
        assert items == [] and KEY not in f"{error!r} {vars(error)!r}"
    assert KEY not in caplog.text


def test_complete_body_over_the_limit_is_a_protocol_error(fake_openrouter: FakeOpenRouter) -> None:
    with orx.Client(base_url=fake_openrouter.base_url, max_event_bytes=1024) as c:
        fake_openrouter.enqueue(CompletionReply(completion_body("y" * 20000)))
        _, error = collect(c.complete("hi"))
    assert type(error) is orx.ProtocolError and "exceeded" in str(error)


@pytest.mark.parametrize("status", [200, 500])
def test_connection_dropped_before_the_body_is_a_typed_error(
    fake_openrouter: FakeOpenRouter, client: orx.Client, status: int
) -> None:
    fake_openrouter.enqueue(HeadersThenDrop(status))
    _, error = collect(client.complete("hi") if status == 200 else client.stream("hi"))
    assert isinstance(error, orx.OpenRouterError), repr(error)


def test_connection_dropped_mid_completion_is_truncated(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(HeadersThenDrop(200, body=json.dumps(completion_body("cut"))[:40].encode()))
    _, error = collect(client.complete("hi"))
    assert isinstance(error, orx.TruncatedStreamError | orx.APIConnectionError), repr(error)


def test_connection_dropped_mid_sse_is_truncated(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(
        HeadersThenDrop(200, "text/event-stream", sse_bytes(ChunkFactory().text("a b"), done=False))
    )
    items, error = collect(client.stream("hi"))
    assert type(error) is orx.TruncatedStreamError and len(items) == 2
    assert error.partial is not None and error.partial.content == "a b"


# -- after [DONE] -------------------------------------------------------------------------------


def test_completion_is_not_held_back_by_a_server_that_stalls_after_done(fake_openrouter: FakeOpenRouter) -> None:
    chunks = text_chunks("all here")
    fake_openrouter.enqueue(StreamReply([*chunks, "data: [DONE]\n\n"], done=False, stall_after=len(chunks) + 1))
    with orx.Client(base_url=fake_openrouter.base_url, timeout=orx.Timeout(connect=2, idle=4)) as c:
        recorder = Recorder()
        started = time.monotonic()
        subscription = recorder.subscribe(c.stream("hi"))
        finished = recorder.done.wait(2.0)  # _DRAIN_SECONDS is 1.0
        elapsed = time.monotonic() - started
        subscription.dispose()
    assert finished, f"on_completed not delivered within 2 s of [DONE] (waited {elapsed:.1f}s)"
    assert recorder.kinds[-1] == "completed"


def test_trailing_bytes_after_done_are_ignored_and_the_connection_reused(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    chunks = text_chunks("tail")
    junk = [KeepAlive(), "data: " + json.dumps(ChunkFactory().text("ignored")[0]) + "\n\n"]
    fake_openrouter.enqueue(
        StreamReply([*chunks, "data: [DONE]\n\n", *junk], done=False), StreamReply(text_chunks("2"))
    )
    items, error = collect(client.stream("hi"))
    assert error is None and orx.Response.from_chunks(items).content == "tail"
    items, error = collect(client.stream("hi"))
    assert error is None and orx.Response.from_chunks(items).content == "2"
    first, second = fake_openrouter.requests
    assert first.client_port == second.client_port


# -- secrets --------------------------------------------------------------------------------------


def test_api_key_with_a_trailing_newline_never_appears_in_the_error(
    fake_openrouter: FakeOpenRouter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with orx.Client(api_key=KEY + "\n", base_url=fake_openrouter.base_url) as c:  # e.g. read from a file
        _, error = collect(c.stream("hi"))
    assert error is not None
    assert KEY not in caplog.text
    assert KEY not in str(error) and KEY not in repr(error), str(error)


def test_non_latin1_api_key_never_appears_in_the_error_or_the_log(
    fake_openrouter: FakeOpenRouter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    key = KEY + "\u2026"  # a pasted ellipsis
    with orx.Client(api_key=key, base_url=fake_openrouter.base_url) as c:
        _, error = collect(c.stream("hi"))
    assert error is not None
    leaks = [where for where, text in (("log", caplog.text), ("repr", repr(error))) if KEY in text]
    assert leaks == [], leaks
    assert isinstance(error, orx.OpenRouterError), type(error)


def test_exchange_state_does_not_reveal_the_key(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks("a b"), stall_after=1))
    got = threading.Event()
    subscription = client.stream("hi").subscribe(lambda _: got.set())
    try:
        assert got.wait(WAIT)
        exchanges = list(client._active)
        assert len(exchanges) == 1
        exchange = exchanges[0]
        assert KEY not in repr(exchange)
        assert KEY not in repr(vars(exchange))  # e.g. a traceback with locals, a debugger, an error reporter
    finally:
        subscription.dispose()


def test_no_secret_anywhere_when_the_connection_is_refused(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with orx.Client(api_key=KEY, base_url=f"http://127.0.0.1:{port}/api/v1", timeout=orx.Timeout(connect=1)) as c:
        _, error = collect(c.stream("hi"))
    assert type(error) is orx.APIConnectionError
    assert KEY not in f"{error} {error!r} {vars(error)!r} {error.__cause__!r}"
    assert KEY not in caplog.text


# -- retry ----------------------------------------------------------------------------------------


def test_retry_resends_the_request_every_time(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(
        ErrorReply(503, "busy"),
        StreamReply(text_chunks("partial answer"), disconnect_after=1),
        RawReply([b"data: {bad\n\n"]),
        StreamReply(text_chunks("third time lucky")),
    )
    recorder = Recorder()
    recorder.subscribe(client.stream("hi").pipe(ops.retry(4)))
    assert recorder.done.wait(WAIT)
    recorder.assert_grammar()
    assert recorder.error is None
    requests = fake_openrouter.requests
    assert len(requests) == 4
    assert len({r.body for r in requests}) == 1 and all(r.header("Authorization") == f"Bearer {KEY}" for r in requests)
    texts = [c.content for c in recorder.items]
    assert "".join(texts).endswith("third time lucky")


def test_retry_gives_up_with_the_last_error_and_sends_exactly_n(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    fake_openrouter.responder = lambda _: ErrorReply(502, "still down")
    _, error = collect(client.stream("hi").pipe(ops.retry(3)))
    assert type(error) is orx.BadGatewayError
    time.sleep(0.1)
    assert len(fake_openrouter.requests) == 3


def test_retry_of_complete_with_a_synchronous_scheduler(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(ErrorReply(429, "slow"), CompletionReply(completion_body("finally")))
    results: list[orx.Response] = []
    client.complete("hi", scheduler=CurrentThreadScheduler()).pipe(ops.retry(2)).subscribe(results.append)
    assert [r.content for r in results] == ["finally"]
    assert len(fake_openrouter.requests) == 2


# -- before the headers, after [DONE], and other review points ------------------------------------


def test_client_close_ends_a_request_waiting_for_headers_without_an_idle_limit(fake_openrouter: FakeOpenRouter) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks("late"), headers_delay=30))
    c = orx.Client(api_key=KEY, base_url=fake_openrouter.base_url, timeout=orx.Timeout(idle=None))
    recorder = Recorder()
    recorder.subscribe(c.stream("hi"))
    request = fake_openrouter.wait_for_requests(1)[0]
    c.close()
    assert recorder.done.wait(WAIT), "close() left the request waiting for the headers"
    recorder.assert_grammar()
    assert type(recorder.error) is orx.APIConnectionError and "closed" in str(recorder.error)
    assert request.wait_disconnected(WAIT)


def test_dispose_while_waiting_for_headers_disconnects_at_once(fake_openrouter: FakeOpenRouter) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks("late"), headers_delay=30))
    recorder = Recorder()
    readers: list[threading.Thread] = []
    reader = NewThreadScheduler(lambda target: _remember(readers, target))
    with orx.Client(base_url=fake_openrouter.base_url, timeout=orx.Timeout(connect=2, idle=None)) as c:
        subscription = recorder.subscribe(c.stream("hi", scheduler=reader))
        request = fake_openrouter.wait_for_requests(1)[0]
        subscription.dispose()
        assert request.wait_disconnected(WAIT), "the server did not see the client go away before the headers"
        assert readers and wait_until(lambda: not readers[0].is_alive()), "the reader thread is still blocked"
    assert recorder.kinds == []


def _remember(threads: list[threading.Thread], target: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    threads.append(thread)
    return thread


def test_tls_handshake_that_never_finishes_is_a_connect_timeout(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)  # the kernel completes the TCP handshake; nobody ever answers the TLS hello
    port = listener.getsockname()[1]
    try:
        base_url = f"https://127.0.0.1:{port}/api/v1"
        with orx.Client(api_key=KEY, base_url=base_url, timeout=orx.Timeout(connect=0.3, idle=30)) as c:
            _, error = collect(c.stream("hi"))
    finally:
        listener.close()
    assert type(error) is orx.ConnectTimeout and error.timeout == 0.3, repr(error)
    assert KEY not in f"{error!r} {vars(error)!r}" and KEY not in caplog.text


def test_the_tail_after_done_is_bounded_without_any_timeout(fake_openrouter: FakeOpenRouter) -> None:
    chunks = text_chunks("all here")
    fake_openrouter.enqueue(
        StreamReply([*chunks, "data: [DONE]\n\n"], done=False, stall_after=len(chunks) + 1),
        StreamReply(text_chunks("next")),
    )
    with orx.Client(base_url=fake_openrouter.base_url, timeout=orx.Timeout(connect=2, idle=None)) as c:
        items, error = collect(c.stream("hi"))
        assert error is None and orx.Response.from_chunks(items).content == "all here"
        first = fake_openrouter.requests[0]
        assert first.wait_disconnected(WAIT), "a connection whose tail never ended was kept"
        items, error = collect(c.stream("hi"))
        assert error is None and orx.Response.from_chunks(items).content == "next"
    first, second = fake_openrouter.requests
    assert first.client_port != second.client_port


class GzipThenStall(Reply):
    """SSE events gzip-compressed with a sync flush after each one, then the connection held open."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.events = events

    def write(self, out: ResponseWriter) -> None:
        out.begin(200, [("Content-Type", "text/event-stream"), ("Content-Encoding", "gzip")], framing="chunked")
        compressor = zlib.compressobj(wbits=31)
        for event in self.events:
            out.write(compressor.compress(sse(event)) + compressor.flush(zlib.Z_SYNC_FLUSH))
        out.stall()


def test_a_gzip_stream_is_decoded_as_it_arrives(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    chunks = ChunkFactory().text("one two three")
    fake_openrouter.enqueue(GzipThenStall(chunks))
    items: list[orx.Chunk] = []
    got = threading.Event()

    def on_next(chunk: orx.Chunk) -> None:
        items.append(chunk)
        if len(items) == len(chunks):
            got.set()

    subscription = client.stream("hi").subscribe(on_next)
    try:
        assert got.wait(WAIT), f"events were held back until more compressed bytes came ({len(items)} seen)"
        assert "".join(c.content for c in items) == "one two three"
    finally:
        subscription.dispose()
    assert fake_openrouter.wait_for_requests(1)[0].wait_disconnected(WAIT)


def test_streaming_requests_ask_for_an_uncompressed_reply(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks("s")), CompletionReply(completion_body("c")))
    client.stream("hi").run()
    client.complete("hi").run()
    stream, complete = fake_openrouter.requests
    assert stream.header("Accept-Encoding") == "identity"  # no compressor may hold events back
    assert "gzip" in (complete.header("Accept-Encoding") or "")


@pytest.mark.parametrize("where", ["stream", "completion", "non_sse_200"])
def test_an_error_given_as_a_bare_string_is_a_stream_error(
    fake_openrouter: FakeOpenRouter, client: orx.Client, where: str
) -> None:
    first = ChunkFactory().text("so far")
    if where == "stream":
        fake_openrouter.enqueue(StreamReply([*first, {"error": "upstream overloaded"}], done=False))
        items, error = collect(client.stream("hi"))
        assert len(items) == len(first)
        assert error is not None and error.partial is not None and error.partial.content == "so far"
    else:
        fake_openrouter.enqueue(CompletionReply({"error": "upstream overloaded"}))
        items, error = collect(client.complete("hi") if where == "completion" else client.stream("hi"))
        assert items == []
    assert type(error) is orx.StreamError and error.message == "upstream overloaded", repr(error)


def test_a_null_or_empty_error_member_is_not_an_error(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    events = [{**c, "error": value} for c, value in zip(ChunkFactory().text("a b"), [None, ""], strict=True)]
    fake_openrouter.enqueue(StreamReply([*events, ChunkFactory().finish()]))
    items, error = collect(client.stream("hi"))
    assert error is None and orx.Response.from_chunks(items).content == "a b"


def test_a_chunk_that_trips_the_parser_is_a_protocol_error_with_the_partial(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    odd = {"choices": [{"index": 0, "delta": {"tool_calls": 1}}]}  # not a list
    fake_openrouter.enqueue(StreamReply([*ChunkFactory().text("kept"), odd]))
    items, error = collect(client.stream("hi"))
    assert isinstance(error, orx.ProtocolError), repr(error)
    assert error.partial is not None and error.partial.content == "kept" and error.chunk_count == len(items)


def test_exception_in_on_next_of_complete_is_delivered_as_itself(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    fake_openrouter.enqueue(CompletionReply(completion_body("x")))

    def boom(_: orx.Response) -> None:
        raise KeyError("my bug")

    _, error = collect(client.complete("hi").pipe(ops.do_action(boom)))
    assert type(error) is KeyError


@pytest.mark.parametrize(
    "key",
    [" " + KEY, KEY + "\r\n", KEY + "\t", KEY[:10] + "\x00" + KEY[10:], KEY[:10] + " " + KEY[10:], KEY + "\u201d"],
)
def test_an_api_key_that_cannot_be_sent_is_refused_without_quoting_it(
    fake_openrouter: FakeOpenRouter, key: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with orx.Client(api_key=key, base_url=fake_openrouter.base_url) as c:
        assert KEY[10:] not in repr(c)
        _, error = collect(c.stream("hi"))
    assert type(error) is orx.errors.InvalidHeaderError and "API key" in str(error)
    assert isinstance(error, ValueError) and isinstance(error, orx.OpenRouterError)
    text = f"{error} {error!r} {vars(error)!r} {error.__cause__!r} {error.__context__!r}"
    assert KEY[10:] not in text and KEY[10:] not in caplog.text
    assert fake_openrouter.requests == []  # nothing was sent


def test_a_non_str_api_key_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="bytes") as info:
        orx.Client(api_key=KEY.encode())  # type: ignore[arg-type]
    assert KEY not in str(info.value)


@pytest.mark.parametrize("value", ["hidden-value\n", "hidden-value\u2026"])
def test_an_extra_header_that_cannot_be_sent_is_reported_without_its_value(
    fake_openrouter: FakeOpenRouter, client: orx.Client, value: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    _, error = collect(client.stream("hi", extra_headers={"X-Custom": value}))
    assert type(error) is orx.errors.InvalidHeaderError, repr(error)
    text = f"{error} {error!r} {vars(error)!r} {error.__cause__!r} {error.__context__!r}"
    assert "hidden-value" not in text and "hidden-value" not in caplog.text
    assert fake_openrouter.requests == []
