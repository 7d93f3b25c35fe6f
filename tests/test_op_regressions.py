"""Review of the commits after 9083ac0: regressions and new bugs, and what held.

Each bug found had a test marked ``xfail(strict=True, reason="BUG: ...")``; all are fixed and stand
as regression tests. The other tests pin
behaviour these commits introduced (disposal read from the serial disposable, guarded callbacks,
held chunks delivered through the gate, ToolCallTracker splitting by id, immutable usage totals).
Real HTTP over loopback against FakeOpenRouter, or marbles in virtual time; assertions on values,
counts and orderings, never on durations; every blocking wait has a timeout.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import reactivex
from reactivex import operators as ops
from reactivex.subject import Subject
from support import WAIT, Sink, outcome

import openrouter_rx as orx
from openrouter_rx import operators as orx_ops
from openrouter_rx._status import status_error
from openrouter_rx.chunk_stream import ChunkStream
from openrouter_rx.testing import (
    ChunkFactory,
    CompletionReply,
    FakeOpenRouter,
    StreamReply,
    chunk_lookup,
    completion_body,
    run_marbles,
    text_chunks,
)

KEY = "sk-or-v1-op-regressions-0123456789"
F = ChunkFactory()
README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture
def client(fake_openrouter: FakeOpenRouter) -> Iterator[orx.Client]:
    with orx.Client(api_key=KEY, base_url=fake_openrouter.base_url, timeout=orx.Timeout(connect=2, idle=5)) as c:
        yield c


def _tool_delta(index: int, call_id: str | None = None, name: str | None = None, args: str | None = None) -> Any:
    function: dict[str, Any] = {}
    if name is not None:
        function["name"] = name
    if args is not None:
        function["arguments"] = args
    entry: dict[str, Any] = {"index": index, "function": function}
    if call_id is not None:
        entry["id"] = call_id
    return F.chunk({"role": "assistant", "content": None, "tool_calls": [entry]})


def _calls(chunks: list[Any]) -> tuple[list[orx.ToolCall], Exception | None]:
    got: list[orx.ToolCall] = []
    errors: list[Exception] = []
    reactivex.from_iterable(orx.Chunk.from_dicts(chunks)).pipe(orx_ops.tool_calls()).subscribe(
        got.append, errors.append
    )
    return got, errors[0] if errors else None


# -- retry: the first subscription is queued on the trampoline ------------------------------------


def test_retry_subscribed_and_awaited_inside_a_trampoline_action_is_not_deadlocked(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks("pong")))
    finished: list[bool] = []
    got: dict[str, Any] = {}

    def job(_: Any) -> bool:  # what `.run()` does, but with a bounded wait (.run() would hang forever)
        done = threading.Event()
        client.stream("ping").pipe(orx_ops.retry_with_backoff(), orx_ops.accumulate()).subscribe(
            lambda r: got.setdefault("content", r.content), lambda e: got.setdefault("error", e), done.set
        )
        return done.wait(2.0)

    reactivex.of(1).pipe(ops.map(job)).subscribe(finished.append)  # map runs inside a trampoline action
    assert finished == [True]
    assert got == {"content": "pong"}


@pytest.mark.parametrize(
    "operator",
    [lambda: orx_ops.fallback_to_non_streaming(), lambda: orx_ops.idle_timeout(5), lambda: lambda s: s],
    ids=["fallback", "idle_timeout", "plain"],
)
def test_other_operators_awaited_inside_a_trampoline_action_still_work(
    fake_openrouter: FakeOpenRouter, client: orx.Client, operator: Any
) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks("pong")))
    finished: list[bool] = []

    def job(_: Any) -> bool:
        done = threading.Event()
        client.stream("ping").pipe(operator(), orx_ops.accumulate()).subscribe(on_completed=done.set)
        return done.wait(WAIT)

    reactivex.of(1).pipe(ops.map(job)).subscribe(finished.append)
    assert finished == [True]


# -- retry / fallback over loopback: what held --------------------------------------------------


def test_retry_then_fallback_then_accumulate_over_loopback(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    # two 502s before any output (the role chunk held and dropped each time), then the fallback request
    role_then_error = [F.role(), F.error(502, "upstream down")]
    fake_openrouter.enqueue(
        StreamReply(role_then_error), StreamReply(role_then_error), CompletionReply(completion_body("fell back"))
    )
    tries: list[int] = []
    items, error = outcome(
        client.stream("hi").pipe(
            orx_ops.retry_with_backoff(max_retries=1, base=0.0, jitter=False, on_retry=lambda n, e, d: tries.append(n)),
            orx_ops.fallback_to_non_streaming(),
        )
    )
    assert error is None
    assert tries == [1]
    assert len(fake_openrouter.wait_for_requests(3, timeout=WAIT)) == 3
    assert [r.json["stream"] for r in fake_openrouter.requests] == [True, True, False]
    assert sum(1 for c in items if any(ch.delta.role for ch in c.choices)) == 1  # the role chunk once
    assert orx.Response.from_chunks(items).content == "fell back"


# -- retry / fallback marbles: the guarded callbacks and the gate ---------------------------------


def test_on_retry_that_raises_delivers_the_held_role_chunk_then_its_own_error_chained() -> None:
    class Boom(Exception):
        pass

    def on_retry(attempt: int, error: BaseException, delay: float) -> None:
        raise Boom("ui gone")

    err = orx.ServerError("502", status=502)
    run = run_marbles(
        orx_ops.retry_with_backoff(on_retry=on_retry, jitter=False), "-r-#", chunk_lookup(r=F.role()), error=err
    )
    assert [kind for _, kind, _ in run.events] == ["N", "E"]  # held chunk first, then the error
    assert isinstance(run.error, Boom)
    assert run.error.__cause__ is err
    assert run.subscriptions == [0]  # no retry


def test_fallback_when_false_delivers_the_held_chunk_then_the_stream_error() -> None:
    err = orx.ServerError("502", status=502)
    run = run_marbles(
        orx_ops.fallback_to_non_streaming(reactivex.of(orx.Response()), when=lambda e: False),
        "-r-#",
        chunk_lookup(r=F.role()),
        error=err,
    )
    assert [kind for _, kind, _ in run.events] == ["N", "E"]
    assert run.error is err


def test_retry_resubscribes_after_the_backoff_in_virtual_time() -> None:
    err = orx.RateLimitError("slow down", status=429)
    run = run_marbles(orx_ops.retry_with_backoff(max_retries=2, base=2.0, jitter=False), "-#", {}, error=err)
    assert run.subscriptions == [0, 3, 8]  # 2 frames after the 1st error, then 4 after the 2nd
    assert run.error is err


def test_dispose_during_the_retry_wait_in_virtual_time_never_resubscribes() -> None:
    err = orx.ServerError("502", status=502)
    run = run_marbles(orx_ops.retry_with_backoff(base=5.0, jitter=False), "-#", {}, error=err, dispose_at=3)
    assert run.subscriptions == [0]
    assert run.events == []


def test_fallback_never_makes_an_error_its_own_cause() -> None:
    err = orx.ServerError("boom", status=502)
    run = run_marbles(orx_ops.fallback_to_non_streaming(reactivex.throw(err)), "-#", {}, error=err)
    assert run.error is err
    assert err.__cause__ is not err


def test_a_non_streaming_factory_that_raises_still_ends_the_subscription() -> None:
    source: Subject[orx.Chunk] = Subject()

    def non_streaming() -> reactivex.Observable[orx.Response]:
        raise RuntimeError("cannot build the request")

    sink = Sink()
    ChunkStream.of(source, non_streaming).pipe(orx_ops.fallback_to_non_streaming()).subscribe(
        sink.on_next, sink.on_error, sink.on_completed
    )
    try:
        source.on_error(orx.ServerError("502", status=502))
    except RuntimeError:
        pass  # escaped to the emitter: the subscriber below is the one that must hear of it
    assert sink.error is not None


# -- tool calls: the tracker split by id -----------------------------------------------------------


def test_two_ids_at_index_zero_are_two_calls_and_accumulate_agrees() -> None:
    chunks = [
        _tool_delta(0, "a", "f", '{"x":'),
        _tool_delta(0, None, None, "1}"),
        _tool_delta(0, "b", "g", "{}"),
        F.finish("tool_calls"),
    ]
    calls, error = _calls(chunks)
    assert error is None
    assert [(c.id, c.name, c.arguments_json) for c in calls] == [("a", "f", '{"x":1}'), ("b", "g", "{}")]
    response = orx.Response.from_chunks(orx.Chunk.from_dicts(chunks))
    assert [(c.id, c.arguments_json) for c in response.choice(0).tool_calls] == [("a", '{"x":1}'), ("b", "{}")]
    # and the round trip through to_chunks (used by the fallback) keeps them apart
    again = orx.Response.from_chunks(response.to_chunks())
    assert [(c.id, c.index) for c in again.choice(0).tool_calls] == [("a", 0), ("b", 0)]


def test_late_arguments_with_an_id_for_an_emitted_id_less_call_are_not_lost() -> None:
    chunks = [
        _tool_delta(0, None, "f", '{"a":'),
        _tool_delta(1, None, "g", "{}"),  # call 0 is emitted here
        _tool_delta(0, "late", None, "1}"),  # more arguments for call 0, now with an id
        F.finish("tool_calls"),
    ]
    calls, error = _calls(chunks)
    accumulated = orx.Response.from_chunks(orx.Chunk.from_dicts(chunks)).choice(0).tool_calls
    # either reported as a ProtocolError (as before), or delivered: never silently different from accumulate
    assert isinstance(error, orx.ProtocolError) or [c.arguments_json for c in calls] == [
        c.arguments_json for c in accumulated
    ]


def test_arguments_for_an_emitted_call_without_a_new_id_are_still_a_protocol_error() -> None:
    chunks = [_tool_delta(0, "a", "f", "{}"), _tool_delta(1, "b", "g", "{}"), _tool_delta(0, "a", None, "x")]
    calls, error = _calls(chunks)
    assert [c.id for c in calls] == ["a"]
    assert isinstance(error, orx.ProtocolError)


# -- response / usage / chunk -------------------------------------------------------------------


def test_response_to_dict_is_json_ready_with_decimal_usage() -> None:
    wire = json.loads(json.dumps([*text_chunks("hi")]), parse_float=Decimal)
    response = orx.Response.from_chunks(orx.Chunk.from_dicts(wire))
    assert isinstance(response.usage, orx.Usage)
    json.dumps(response.to_dict())


def test_usage_to_dict_is_a_copy_of_raw() -> None:
    response = orx.Response.from_chunks(orx.Chunk.from_dicts(text_chunks("hi")))
    assert response.usage is not None
    wire = response.usage.to_dict()
    wire["prompt_tokens_details"]["cached_tokens"] = 999
    assert response.usage.raw["prompt_tokens_details"]["cached_tokens"] == 0


def test_a_token_count_string_is_parsed_exactly() -> None:
    usage = orx.Usage.from_dict({"prompt_tokens": "9007199254740993", "completion_tokens": 0})
    assert usage.prompt_tokens == 9007199254740993


def test_has_output_counts_refusal_and_reasoning_details_and_is_usage_only_agrees() -> None:
    refusal = orx.Chunk.from_dict(F.chunk({"refusal": "no"}, usage={"prompt_tokens": 1, "completion_tokens": 1}))
    details = orx.Chunk.from_dict(F.chunk({"reasoning_details": [{"type": "reasoning.encrypted", "data": "x"}]}))
    role = orx.Chunk.from_dict(F.role())
    assert refusal.has_output and not refusal.is_usage_only
    assert details.has_output
    assert not role.has_output


def test_usage_tracker_snapshots_are_immutable_and_totals_are_exact_across_threads() -> None:
    tracker = orx.UsageTracker()
    before = tracker.totals()
    usage = orx.Usage.from_dict({"prompt_tokens": 1, "completion_tokens": 2, "cost": 0.1})

    def record() -> None:
        for _ in range(200):
            tracker.record(usage, "m")

    threads = [threading.Thread(target=record) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
    assert before == orx.UsageTotals()
    totals = tracker.totals()
    assert (totals.requests, totals.total_tokens, totals.cost) == (800, 2400, Decimal("80.0"))
    assert tracker.by_model["m"] == totals
    with pytest.raises(AttributeError):
        totals.requests = 0  # type: ignore[misc]


# -- errors: the one normalisation of the error member --------------------------------------------


def test_a_string_error_on_an_http_error_is_its_message() -> None:
    error = status_error(503, {}, b'{"error": "overloaded"}', "Service Unavailable")
    assert str(error).endswith("overloaded") and "{" not in str(error)


def test_an_integer_error_with_a_top_level_message_keeps_the_message() -> None:
    error = status_error(503, {}, b'{"error": 503, "message": "upstream overloaded"}', "Service Unavailable")
    assert "upstream overloaded" in str(error)
    assert "{" not in str(error)


def test_a_string_error_chunk_mid_stream_is_a_stream_error(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(StreamReply([F.role(), *F.text("a b"), F.chunk(error="overloaded")]))
    _items, error = outcome(client.stream("hi"))
    assert isinstance(error, orx.StreamError)
    assert str(error).endswith("overloaded")
    assert error.partial is not None and error.partial.content == "a b"


# -- headers and URLs ----------------------------------------------------------------------------


@pytest.mark.parametrize("extra", [{"X-Title": None}, {"X-Title": b"my app"}], ids=["none", "bytes"])
def test_header_values_requests_accepts_still_work(
    fake_openrouter: FakeOpenRouter, client: orx.Client, extra: dict[str, Any]
) -> None:
    items, error = outcome(client.complete("hi", extra_headers=extra))
    assert error is None, repr(error)
    assert len(items) == 1


def test_a_bad_header_is_named_and_never_quoted(client: orx.Client) -> None:
    secret = "value-with-newline\n"
    _items, error = outcome(client.stream("hi", extra_headers={"X-Custom": secret}))
    assert isinstance(error, orx.InvalidHeaderError)
    assert "X-Custom" in str(error) and secret.strip() not in str(error)


def test_repr_of_a_client_never_raises() -> None:
    with orx.Client(base_url="http://localhost:99999/api") as c:
        assert "localhost" in repr(c)


def test_repr_hides_url_credentials_and_query() -> None:
    with orx.Client(base_url="http://user:pw@localhost:8080/api/v1?key=zzz") as c:
        text = repr(c)
    assert "pw" not in text and "zzz" not in text and "localhost:8080/api/v1" in text


# -- docs ----------------------------------------------------------------------------------------


def test_readme_quick_start_defines_every_name_it_uses() -> None:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Quick start") :]
    block = re.findall(r"```python\n(.*?)```", section, re.S)[0]
    uses_messages = re.search(r"\bmessages\.", block) is not None
    defines_messages = re.search(r"^\s*messages\s*=", block, re.M) is not None
    assert defines_messages or not uses_messages


# -- completion-time downstream exceptions (complete_with) ---------------------------------------


def test_an_exception_on_the_accumulated_response_reaches_on_error(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks("hi")))
    errors: list[Exception] = []
    done = threading.Event()

    def on_next(_: Any) -> None:
        raise KeyError("user code")

    client.stream("hi").pipe(orx_ops.accumulate()).subscribe(
        on_next, lambda e: (errors.append(e), done.set()), done.set
    )
    assert done.wait(WAIT)
    assert len(errors) == 1 and isinstance(errors[0], KeyError)
