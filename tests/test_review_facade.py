"""Review of the StreamingClient facade (issue 5): regression tests for the bugs found.

Each test names the bug it pins; all run over loopback against the fake server.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from marshmallow import Schema, fields
from support import WAIT

import openrouter_rx as orx
from openrouter_rx import operators as orx_ops
from openrouter_rx.config import configure, settings
from openrouter_rx.errors import CallbackError
from openrouter_rx.options import CompletionOptions, StreamStart
from openrouter_rx.streaming_client import StreamingClient
from openrouter_rx.testing import (
    ChunkFactory,
    CompletionReply,
    ErrorReply,
    FakeOpenRouter,
    StreamReply,
    completion_body,
    text_chunks,
    tool_call_chunks,
)

KEY = "sk-or-v1-review-facade-0123456789"


@pytest.fixture(autouse=True)
def default_settings() -> Iterator[None]:
    configure(reset=True)
    yield
    configure(reset=True)


# -- Client.complete_sync -------------------------------------------------------------


def test_complete_sync_inside_an_rx_on_error_does_not_wait_for_its_own_busy_pool(
    fake_openrouter: FakeOpenRouter,
) -> None:
    """The documented fallback (a ``complete_sync`` inside ``on_error``), the Rx way: the
    callback runs on the client's pool; with every pool thread busy the request used to wait
    for a free thread forever (the pool's only thread was the one waiting)."""
    fake_openrouter.enqueue(ErrorReply(500, "down"), CompletionReply(completion_body("from the fallback")))
    answers: list[str] = []
    failures: list[BaseException] = []
    done = threading.Event()
    with orx.Client(base_url=fake_openrouter.base_url, pool_size=1) as client:

        def on_error(_: Exception) -> None:
            try:
                answers.append(client.complete_sync("hi", timeout=5).content)
            except BaseException as error:  # reported below
                failures.append(error)
            finally:
                done.set()

        client.stream("hi").subscribe(on_error=on_error)
        assert done.wait(WAIT), "complete_sync waited for the pool thread it runs on"
    assert failures == [] and answers == ["from the fallback"]


# -- reuse after close ----------------------------------------------------------------


def test_a_closed_streaming_client_raises_before_on_start_and_sends_nothing(fake_openrouter: FakeOpenRouter) -> None:
    """After ``close()`` a call used to fire ``on_start`` for a request that was never sent, then
    report an anonymous RuntimeError to ``on_error``."""
    sc = StreamingClient(api_key=KEY, base_url=fake_openrouter.base_url)
    events: list[str] = []
    sc.on_stream("on_start", lambda _: events.append("on_start")).on_stream(
        "on_error", lambda _: events.append("on_error")
    )
    sc.close()
    with pytest.raises(RuntimeError, match="StreamingClient is closed"):
        sc.stream_complete("hi")
    with pytest.raises(RuntimeError, match="StreamingClient is closed"):
        sc.stream("hi", print)
    with pytest.raises(RuntimeError, match="StreamingClient is closed"):
        sc.complete_sync("hi")
    assert events == [] and fake_openrouter.requests == []
    sc.close()  # still idempotent


# -- registration ---------------------------------------------------------------------


def test_on_stream_with_none_is_a_type_error_not_a_silent_decorator(fake_openrouter: FakeOpenRouter) -> None:
    """``on_stream("on_chunk", handler)`` with a handler that is ``None`` by mistake used to return
    a decorator and register nothing: the callback silently never fired."""
    with StreamingClient(api_key=KEY, base_url=fake_openrouter.base_url) as sc:
        with pytest.raises(TypeError, match="callable"):
            sc.on_stream("on_chunk", None)  # type: ignore[call-overload]
        decorate = sc.on_stream("on_finish")  # the decorator form still works
        seen: list[Any] = []
        assert decorate(seen.append) == seen.append
        fake_openrouter.enqueue(StreamReply(text_chunks("ok")))
        sc.stream_complete("hi")
        assert len(seen) == 1


# -- construction ---------------------------------------------------------------------


def test_max_heal_attempts_below_one_is_refused_at_construction(fake_openrouter: FakeOpenRouter) -> None:
    """``max_heal_attempts=0`` used to be accepted, then made every structured-output call fail
    after a successful stream (the Healer refused it only then), even a valid one."""
    with pytest.raises(ValueError, match="max_heal_attempts"):
        StreamingClient(api_key=KEY, base_url=fake_openrouter.base_url, max_heal_attempts=0)
    with pytest.raises(ValueError, match="max_heal_attempts"):
        StreamingClient(api_key=KEY, base_url=fake_openrouter.base_url, max_heal_attempts=True)
    assert fake_openrouter.requests == []


@pytest.mark.parametrize(
    "changes",
    [
        {"base_url": 8080},  # None is valid (OPENROUTER_BASE_URL, else OpenRouter); a number is not
        {"healer_model": None},
        {"default_model": 3},
        {"site_name": 7},
        {"track_usage": "no"},  # a truthy string used to turn tracking on
        {"auto_heal_responses": "false"},
        {"max_heal_attempts": True},
    ],
)
def test_configure_refuses_values_of_the_wrong_type(changes: dict[str, Any]) -> None:
    with pytest.raises(TypeError):
        configure(**changes)
    assert settings() == configure(reset=True)


# -- usage ----------------------------------------------------------------------------


class City(Schema):
    name = fields.String(required=True)
    population = fields.Integer(required=True)


def test_auto_heal_requests_are_recorded_in_the_usage_tracker(fake_openrouter: FakeOpenRouter) -> None:
    """Healing is billed: the healer's calls used to be missing from ``sc.usage_tracker`` (it only
    saw the stream), so ``track_usage=True`` under-reported tokens and cost."""
    with StreamingClient(
        api_key=KEY, base_url=fake_openrouter.base_url, track_usage=True, auto_heal_responses=True,
        healer_model="healer/model", max_heal_attempts=2,
    ) as sc:  # fmt: skip
        fake_openrouter.enqueue(
            StreamReply(text_chunks('{"name": "Oslo"}', prompt_tokens=5)),
            CompletionReply(completion_body('{"name": "still no population"}', model="healer/model", prompt_tokens=7)),
            CompletionReply(
                completion_body('{"name": "Oslo", "population": 1}', model="healer/model", prompt_tokens=9)
            ),
        )
        response = sc.stream_complete("a city", response_format=City)
        assert response is not None and response.structured_output == {"name": "Oslo", "population": 1}
        tracker = sc.usage_tracker
        assert tracker is not None
        assert tracker.requests == 3 and tracker.prompt_tokens == 5 + 7 + 9
        assert tracker.by_model["healer/model"].requests == 2
        fake_openrouter.enqueue(
            CompletionReply(completion_body('{"name": "Oslo"}', prompt_tokens=11)),
            CompletionReply(
                completion_body('{"name": "Oslo", "population": 2}', model="healer/model", prompt_tokens=13)
            ),
        )
        assert sc.complete_sync("a city", response_format=City).structured_output["population"] == 2
        assert tracker.requests == 5 and tracker.prompt_tokens == 5 + 7 + 9 + 11 + 13


# -- options --------------------------------------------------------------------------


def test_an_explicit_none_unsets_an_option_and_is_not_in_the_on_start_params(fake_openrouter: FakeOpenRouter) -> None:
    """Per-call ``temperature=None`` unsets the options' temperature (as ``merge`` does); the
    ``on_start`` payload used to list it as ``None`` although it is not sent."""
    with StreamingClient(api_key=KEY, base_url=fake_openrouter.base_url) as sc:
        starts: list[StreamStart] = []
        sc.on_stream("on_start", starts.append)
        fake_openrouter.enqueue(StreamReply(text_chunks("ok")))
        sc.stream_complete("hi", CompletionOptions(temperature=0.5, max_tokens=9), temperature=None)
    body = fake_openrouter.wait_for_requests(1)[0].json
    assert "temperature" not in body and body["max_tokens"] == 9
    assert starts[0].params == {"max_tokens": 9}


def test_on_start_params_are_body_fields_only_never_extra_headers(fake_openrouter: FakeOpenRouter) -> None:
    """``extra_headers=`` (request headers, maybe an ``Authorization``) used to appear in the
    ``on_start`` payload's ``params`` ("the other body fields"), where callbacks log them."""
    secret = "Bearer sk-or-v1-per-request-override"
    with StreamingClient(api_key=KEY, base_url=fake_openrouter.base_url) as sc:
        starts: list[StreamStart] = []
        sc.on_stream("on_start", starts.append)
        fake_openrouter.enqueue(StreamReply(text_chunks("ok")))
        sc.stream_complete("hi", temperature=0.1, extra_headers={"Authorization": secret, "X-Trace": "t1"})
    request = fake_openrouter.wait_for_requests(1)[0]
    assert request.headers["X-Trace"] == "t1" and "extra_headers" not in request.json
    assert starts[0].params == {"temperature": 0.1} and secret not in repr(starts[0])


# -- the callback policy, every event, both modes (coverage the facade's tests lacked) -----


@pytest.mark.parametrize("event", ["on_start", "on_chunk", "callback", "on_tool_call_chunk", "on_finish"])
@pytest.mark.parametrize("policy", ["raise", "log"])
def test_every_event_under_both_policies(fake_openrouter: FakeOpenRouter, event: str, policy: str) -> None:
    wire = tool_call_chunks([{"name": "f", "arguments": {"a": 1}}], text="Calling.")
    fake_openrouter.enqueue(StreamReply(wire))
    reported: list[Exception] = []
    finished: list[Any] = []

    def broken(_: Any) -> None:
        raise LookupError(event)

    with StreamingClient(api_key=KEY, base_url=fake_openrouter.base_url, callback_errors=policy) as sc:  # type: ignore[arg-type]
        sc.on_stream("on_error", reported.append).on_stream("on_finish", finished.append)
        if event != "callback":
            sc.on_stream(event, broken)
        call = {"callback": broken} if event == "callback" else {}
        if policy == "raise":
            with pytest.raises(CallbackError) as raised:
                sc.stream_complete("hi", **call)
            assert raised.value.event == event and isinstance(raised.value.__cause__, LookupError)
            assert reported == [raised.value] and (finished == [] or event == "on_finish")
            sent = len(fake_openrouter.requests)
            assert sent == (0 if event == "on_start" else 1)  # on_start raising: nothing is sent
        else:
            response = sc.stream_complete("hi", **call)
            assert response is not None and response.tool_calls[0].arguments == {"a": 1}
            assert finished[-1] is response and reported
            assert all(isinstance(e, CallbackError) and e.event == event for e in reported)
            assert len(fake_openrouter.wait_for_requests(1)) == 1  # on_start raising: still sent


# -- porting from the Ruby gem: options that used to be sent and silently ignored ------------


def test_a_list_of_models_as_model_is_a_type_error_naming_models(fake_openrouter: FakeOpenRouter) -> None:
    """Ruby's ``model: ["a", "b"]`` (fallback models) used to be sent as a JSON list in ``model``."""
    with pytest.raises(TypeError, match="models="):
        CompletionOptions(model=["a/one", "b/two"])  # type: ignore[arg-type]
    with StreamingClient(api_key=KEY, base_url=fake_openrouter.base_url) as sc:
        with pytest.raises(TypeError, match="models="):
            sc.stream_complete("hi", model=["a/one", "b/two"])  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="models="):
            sc.stream_complete("hi", {"model": ["a/one", "b/two"]})
    assert fake_openrouter.requests == []


@pytest.mark.parametrize(("name", "hint"), [("providers", "provider="), ("extras", "extra=")])
def test_the_ruby_only_option_names_are_type_errors_with_the_python_name(
    fake_openrouter: FakeOpenRouter, name: str, hint: str
) -> None:
    """``providers:``/``extras:`` are the gem's names; given here (a dict of options, ``merge`` or a
    keyword) they used to go out as unknown body fields that OpenRouter ignores."""
    value: Any = ["anthropic"] if name == "providers" else {"foo": 1}
    with pytest.raises(TypeError, match=hint):
        CompletionOptions.from_mapping({name: value})
    with pytest.raises(TypeError, match=hint):
        CompletionOptions().merge(**{name: value})
    with StreamingClient(api_key=KEY, base_url=fake_openrouter.base_url) as sc:
        with pytest.raises(TypeError, match=hint):
            sc.stream_complete("hi", **{name: value})
    assert fake_openrouter.requests == []
    assert CompletionOptions(extra={name: value}).to_params() == {name: value}  # explicit extra: sent as asked


# -- exactly once, concurrency (coverage) ----------------------------------------------------


def test_retries_after_a_role_chunk_then_an_error_chunk_or_a_stall_deliver_each_chunk_once(
    fake_openrouter: FakeOpenRouter,
) -> None:
    factory = ChunkFactory()
    final = text_chunks("third time")
    fake_openrouter.enqueue(
        StreamReply([factory.role(), factory.error(502)]),  # an error chunk before any output
        StreamReply([factory.role()], stall_after=1, stall_keepalive=0.05, done=False),  # a stall before output
        StreamReply(final),
    )
    with StreamingClient(api_key=KEY, base_url=fake_openrouter.base_url, request_timeout=0.3, retries=2) as sc:
        log: list[tuple[str, Any]] = []
        for event in ("on_start", "on_chunk", "on_finish", "on_error"):
            sc.on_stream(event, lambda payload, event=event: log.append((event, payload)))
        response = sc.stream_complete("hi")
    assert response is not None and response.content == "third time"
    names = [name for name, _ in log]
    assert names == ["on_start"] + ["on_chunk"] * len(final) + ["on_finish"]
    assert [chunk.id for name, chunk in log if name == "on_chunk"] == [c["id"] for c in final]
    assert len(fake_openrouter.wait_for_requests(3)) == 3


def test_one_streaming_client_from_several_threads(fake_openrouter: FakeOpenRouter) -> None:
    count = 8
    fake_openrouter.enqueue(
        *[StreamReply(text_chunks(f"answer {i}", prompt_tokens=3), delay=0.002) for i in range(count)]
    )
    results: dict[str, str] = {}
    own_chunks: dict[str, int] = {}
    shared: list[str] = []
    lock = threading.Lock()
    with StreamingClient(api_key=KEY, base_url=fake_openrouter.base_url, track_usage=True, pool_size=3) as sc:
        sc.on_stream("on_chunk", lambda _: shared.append(threading.current_thread().name))

        def run(name: str) -> None:
            seen: list[orx.Chunk] = []
            response = sc.stream_complete(name, callback=seen.append)
            with lock:
                results[name] = response.content if response is not None else ""
                own_chunks[name] = len(seen)

        threads = [threading.Thread(target=run, args=(f"t{i}",), name=f"t{i}") for i in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(WAIT)
        assert not any(thread.is_alive() for thread in threads)
        tracker = sc.usage_tracker
        assert tracker is not None and tracker.requests == count and tracker.prompt_tokens == 3 * count
    assert sorted(results.values()) == sorted(f"answer {i}" for i in range(count))
    per_stream = len(text_chunks("answer 0"))
    assert set(own_chunks.values()) == {per_stream}  # each call's callback saw its own chunks only
    assert len(shared) == per_stream * count and {shared.count(f"t{i}") for i in range(count)} == {per_stream}


def test_callbacks_that_register_or_clear_callbacks_while_running(fake_openrouter: FakeOpenRouter) -> None:
    """Each event fires the callbacks registered when it starts: one added during ``on_chunk`` runs
    from the next chunk on; ``clear_callbacks()`` during an event stops the later events."""
    wire = text_chunks("a b c")
    fake_openrouter.enqueue(StreamReply(wire), StreamReply(wire))
    with StreamingClient(api_key=KEY, base_url=fake_openrouter.base_url) as sc:
        got: list[str] = []

        def adder(_: orx.Chunk) -> None:
            got.append("adder")
            if got.count("adder") == 1:
                sc.on_stream("on_chunk", lambda _: got.append("added"))

        sc.on_stream("on_chunk", adder)
        sc.stream_complete("hi")
        assert got.count("adder") == len(wire) and got.count("added") == len(wire) - 1
        assert got[:2] == ["adder", "adder"]  # not during the chunk that registered it

        got.clear()
        sc.clear_callbacks().on_stream("on_chunk", lambda _: (got.append("clearer"), sc.clear_callbacks()))
        sc.on_stream("on_chunk", lambda _: got.append("same event")).on_stream("on_finish", lambda _: got.append("end"))
        response = sc.stream_complete("hi")
    assert response is not None and response.content == "a b c"
    assert got == ["clearer", "same event"]  # the event in progress completes; nothing after it


def test_stream_complete_inside_an_rx_callback_of_its_own_full_pool_does_not_wait_for_itself(
    fake_openrouter: FakeOpenRouter,
) -> None:
    """A blocking facade call made from an Rx callback of the same client, whose pool's only
    thread is the one running that callback: the inner request reads on a thread of its own."""
    fake_openrouter.enqueue(StreamReply(text_chunks("outer")), StreamReply(text_chunks("inner")))
    answers: list[str] = []
    failures: list[BaseException] = []
    done = threading.Event()
    with StreamingClient(base_url=fake_openrouter.base_url, pool_size=1, retries=0) as sc:

        def on_next(_: orx.Response) -> None:
            try:
                response = sc.stream_complete("again")
                assert response is not None
                answers.append(response.content)
            except BaseException as error:  # reported below
                failures.append(error)
            finally:
                done.set()

        sc.client.stream("hi").pipe(orx_ops.accumulate()).subscribe(on_next, failures.append)
        assert done.wait(WAIT), "stream_complete waited for the pool thread it runs on"
    assert failures == [] and answers == ["inner"]


def test_configure_takes_access_token_as_an_alias_of_api_key() -> None:
    try:
        assert configure(access_token=KEY).api_key == KEY
        assert KEY not in repr(settings())
        with pytest.raises(TypeError, match="alias"):
            configure(api_key=KEY, access_token="sk-or-v1-other")
    finally:
        configure(reset=True)


def test_auto_heal_that_fails_raises_the_error_with_the_healer_attempts(fake_openrouter: FakeOpenRouter) -> None:
    """Reading ``structured_output`` after healing failed used to raise an error listing only the
    model's own attempts: the healer's (and its billed reply) were only in a WARNING log."""
    fake_openrouter.enqueue(
        StreamReply(text_chunks('{"name": "Oslo"}')),
        CompletionReply(completion_body('{"name": "still no population"}')),
    )
    with StreamingClient(
        api_key=KEY, base_url=fake_openrouter.base_url, auto_heal_responses=True, max_heal_attempts=1
    ) as sc:
        response = sc.stream_complete("a city", response_format=City)
    assert response is not None
    with pytest.raises(orx.StructuredOutputError) as caught:
        _ = response.structured_output
    sources = [attempt.source for attempt in caught.value.attempts]
    assert sources[0] == "model" and sources[-1] == "healer"
    healer_attempt = caught.value.attempts[-1]
    assert healer_attempt.text == '{"name": "still no population"}' and healer_attempt.response is not None
    assert caught.value.partial is response
    with pytest.raises(orx.StructuredOutputError) as again:  # the same answer every time it is read
        _ = response.structured_output
    assert again.value is caught.value
