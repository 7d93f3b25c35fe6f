"""Rx grammar and secrecy in every fault mode: exactly one terminal event, nothing after it,
and the API key nowhere in the error or the logs."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import pytest

import openrouter_rx as orx
from openrouter_rx.testing import (
    ChunkFactory,
    CompletionReply,
    ErrorReply,
    FakeOpenRouter,
    RawReply,
    Reply,
    StreamReply,
    text_chunks,
)

KEY = "sk-or-v1-GRAMMAR-SECRET-987654321"

FAULTS: dict[str, tuple[Callable[[], Reply], type[BaseException] | None]] = {
    "ok": (lambda: StreamReply(text_chunks("fine")), None),
    "status": (lambda: ErrorReply(503, "no provider"), orx.ServiceUnavailableError),
    "html": (lambda: ErrorReply(502, html="<title>Bad Gateway</title>"), orx.BadGatewayError),
    "error_chunk": (
        lambda: StreamReply([*ChunkFactory().text("x y"), ChunkFactory().error(502, "gone")], done=False),
        orx.StreamError,
    ),
    "truncated": (
        lambda: StreamReply(ChunkFactory().text("x y"), done=False, framing="close"),
        orx.TruncatedStreamError,
    ),
    "disconnect": (lambda: StreamReply(text_chunks("a b c"), disconnect_after=2), orx.TruncatedStreamError),
    "bad_json": (lambda: RawReply([b"data: {oops\n\n"]), orx.ProtocolError),
    "idle": (lambda: StreamReply(text_chunks("a b"), stall_after=1, stall_keepalive=0.05), orx.IdleTimeout),
    "non_sse": (lambda: CompletionReply({"id": "x"}), orx.ProtocolError),
}


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []
        self.done = threading.Event()
        self.lock = threading.Lock()

    def on_next(self, value: Any) -> None:
        with self.lock:
            self.events.append(("next", value))

    def on_error(self, error: Exception) -> None:
        with self.lock:
            self.events.append(("error", error))
        self.done.set()

    def on_completed(self) -> None:
        with self.lock:
            self.events.append(("completed", None))
        self.done.set()


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_one_terminal_event_and_no_secret(
    fake_openrouter: FakeOpenRouter, fault: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    make, expected = FAULTS[fault]
    fake_openrouter.enqueue(make())
    recorder = Recorder()
    with orx.Client(api_key=KEY, base_url=fake_openrouter.base_url, timeout=orx.Timeout(idle=0.4)) as client:
        client.stream("hi").subscribe(recorder.on_next, recorder.on_error, recorder.on_completed)
        assert recorder.done.wait(10)
        fake_openrouter.wait_for_requests(1)[0].finished.wait(3)
    kinds = [kind for kind, _ in recorder.events]
    assert kinds.count("error") + kinds.count("completed") == 1
    assert kinds[-1] in ("error", "completed")  # nothing after the terminal event
    terminal = recorder.events[-1][1]
    if expected is None:
        assert kinds[-1] == "completed"
    else:
        assert type(terminal) is expected
        text = f"{terminal} {terminal!r} {vars(terminal)!r} {terminal.partial!r}"
        assert KEY not in text
    assert KEY not in caplog.text


def test_client_close_is_also_one_terminal_event(fake_openrouter: FakeOpenRouter) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks("a b"), stall_after=1))
    recorder = Recorder()
    client = orx.Client(api_key=KEY, base_url=fake_openrouter.base_url)
    got = threading.Event()
    client.stream("hi").subscribe(lambda c: (recorder.on_next(c), got.set()), recorder.on_error, recorder.on_completed)
    assert got.wait(5)
    client.close()
    assert recorder.done.wait(5)
    kinds = [kind for kind, _ in recorder.events]
    assert kinds == ["next", "error"] and KEY not in repr(recorder.events[-1][1])
