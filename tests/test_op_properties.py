"""Property-based tests of the operators over generated, realistic chunk streams in virtual time.

Streams: arbitrary unicode text and reasoning split into arbitrary pieces, 0-4 tool calls with
arbitrary JSON-object arguments split into arbitrary fragments (every ``ChunkFactory`` variant),
optional finish and usage chunks, n=1 or 2 interleaved choices, and random frame gaps (chunks
sharing a frame included). Everything runs through ``run_marbles`` on a ``TestScheduler``.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import statistics
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import pytest
import reactivex
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from reactivex.observable.marbles import parse
from reactivex.testing import TestScheduler

import openrouter_rx as orx
from openrouter_rx import operators as orx_ops
from openrouter_rx.testing import ChunkFactory, chunk_marbles, run_marbles, to_chunk

SETTINGS = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
FEW = settings(SETTINGS, max_examples=80)

LETTERS = string.ascii_letters
FINISH_REASONS = ["stop", "length", "tool_calls", "content_filter"]


# ---------------------------------------------------------------------------------------------
# Generated streams


@dataclass
class Call:
    id: str
    name: str
    arguments: dict[str, Any]
    index: int
    positions: list[int] = field(default_factory=list)  # stream positions of its chunks


@dataclass
class Stream:
    chunks: list[orx.Chunk]
    n: int
    content: dict[int, str]
    reasoning: dict[int, str]
    calls: dict[int, list[Call]]
    finish: dict[int, str | None]
    finish_position: dict[int, int | None]
    usage: dict[str, Any] | None
    marbles: str
    lookup: dict[str | float, Any]
    frames: list[int]  # frame of each chunk
    end_frame: int  # frame of "|"
    gaps: list[int] = field(default_factory=list)
    end_gap: int = 1

    def first_output(self) -> int | None:
        """The position of the first chunk with output (content, reasoning, refusal, tool call)."""
        for position, chunk in enumerate(self.chunks):
            for choice in chunk.choices:
                delta = choice.delta
                if delta.content or delta.reasoning or delta.refusal or delta.tool_calls or delta.reasoning_details:
                    return position
        return None


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6)
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=6,
)
json_objects = st.dictionaries(st.text(max_size=6), json_values, max_size=4)
pieces = st.lists(st.text(max_size=6), max_size=6)


def build_marbles(count: int, gaps: list[int], end_gap: int, end: str) -> tuple[str, list[int], int]:
    """Marbles for ``count`` chunks named by letters; gap 0 puts a chunk in its predecessor's group."""
    groups: list[tuple[int, list[str]]] = []
    for position in range(count):
        if position > 0 and gaps[position] == 0:
            groups[-1][1].append(LETTERS[position])
        else:
            groups.append((gaps[position], [LETTERS[position]]))
    marbles = ""
    frames: list[int] = []
    for dashes, letters in groups:
        marbles += "-" * dashes
        frames += [len(marbles)] * len(letters)  # every character is one frame
        marbles += letters[0] if len(letters) == 1 else "(" + ",".join(letters) + ")"
    marbles += "-" * end_gap
    return marbles + end, frames, len(marbles)


@st.composite
def timing(draw: st.DrawFn, count: int) -> tuple[list[int], int]:
    gaps = draw(st.lists(st.integers(0, 3), min_size=count, max_size=count))
    return gaps, draw(st.integers(1, 3))


def with_timing(stream: Stream, gaps: list[int], end_gap: int, end: str = "|") -> Stream:
    stream.marbles, stream.frames, stream.end_frame = build_marbles(len(stream.chunks), gaps, end_gap, end)
    stream.gaps, stream.end_gap = gaps, end_gap
    stream.lookup = {LETTERS[i]: chunk for i, chunk in enumerate(stream.chunks)}
    return stream


@st.composite
def choice_items(draw: st.DrawFn, factory: ChunkFactory, choice: int, max_calls: int) -> dict[str, Any]:
    """The wire dicts of one choice (role, reasoning, text, tool calls, finish) and what they encode."""
    items: list[tuple[dict[str, Any], int | None]] = []  # (dict, tool-call ordinal or None)
    if draw(st.booleans()):
        items.append((factory.chunk({"role": "assistant", "content": ""}, index=choice), None))
    reasoning_pieces = draw(st.lists(st.text(max_size=6), max_size=4))
    details = draw(st.booleans())
    reasoning = "".join(reasoning_pieces)
    for item in factory.reasoning(reasoning, pieces=reasoning_pieces, details=details, index=choice):
        items.append((item, None))
    text_pieces = draw(pieces)
    text = "".join(text_pieces)
    for item in factory.text(text, pieces=text_pieces, index=choice):
        items.append((item, None))
    calls: list[Call] = []
    remaining = draw(st.integers(0, max_calls))
    next_index = draw(st.integers(0, 2))
    while remaining:
        batch = draw(st.integers(1, remaining))
        remaining -= batch
        specs = [
            {
                "name": draw(st.text(min_size=1, max_size=8)),
                "arguments": draw(json_objects),
                "id": f"call_{choice}_{len(calls) + k}_{draw(st.text(LETTERS, max_size=4))}",
            }
            for k in range(batch)
        ]
        options = {
            "fragments": draw(st.integers(1, 4)),
            "repeat_id": draw(st.booleans()),
            "first_without_name": draw(st.booleans()),
            "one_chunk": draw(st.booleans()),
        }
        for spec_number, spec in enumerate(specs):
            calls.append(Call(spec["id"], spec["name"], spec["arguments"], next_index + spec_number))
        for item in factory.tool_calls(specs, start_index=next_index, **options):
            item["choices"][0]["index"] = choice
            index = item["choices"][0]["delta"]["tool_calls"][0]["index"]
            ordinal = next(k for k, call in enumerate(calls) if call.index == index)
            items.append((item, ordinal))
        next_index += batch + draw(st.integers(0, 2))
    finish = draw(st.none() | st.sampled_from(FINISH_REASONS))
    if finish is not None:
        items.append((factory.finish(finish, index=choice), None))
    return {"items": items, "content": text, "reasoning": reasoning, "calls": calls, "finish": finish}


@st.composite
def streams(draw: st.DrawFn, *, choices: int | None = None) -> Stream:
    """A realistic stream (without timing: see :func:`timed_streams`)."""
    n = choices if choices is not None else draw(st.integers(1, 2))
    factory = ChunkFactory(
        model=draw(st.sampled_from(["openai/gpt-4o-mini", "anthropic/claude-x"])),
        provider="OpenAI",
        id="gen-1700000000-" + draw(st.text(LETTERS, min_size=1, max_size=6)),
        created=1_700_000_000,
    )
    per_choice = [draw(choice_items(factory, choice, 4 if choice == 0 else 1)) for choice in range(n)]
    # interleave the choices, each keeping its own order
    owners = [choice for choice in range(n) for _ in per_choice[choice]["items"]]
    order = draw(st.permutations(owners)) if n > 1 else owners
    cursors = [0] * n
    dicts: list[dict[str, Any]] = []
    calls = {choice: list(per_choice[choice]["calls"]) for choice in range(n)}
    finish_position: dict[int, int | None] = dict.fromkeys(range(n))
    for owner in order:
        item, ordinal = per_choice[owner]["items"][cursors[owner]]
        cursors[owner] += 1
        if ordinal is not None:
            calls[owner][ordinal].positions.append(len(dicts))
        if item["choices"][0]["finish_reason"] is not None:
            finish_position[owner] = len(dicts)
        dicts.append(item)
    usage = None
    if draw(st.booleans()):
        usage = factory.usage(
            draw(st.integers(0, 5000)),
            draw(st.integers(0, 5000)),
            cost=draw(st.sampled_from([0.0, 1e-05, 0.00123, 2.5])),
            cached_tokens=draw(st.integers(0, 10)),
            reasoning_tokens=draw(st.integers(0, 10)),
        )
        dicts.append(usage)
    assume(len(dicts) <= len(LETTERS))
    return Stream(
        chunks=[to_chunk(item) for item in dicts],
        n=n,
        content={c: per_choice[c]["content"] for c in range(n)},
        reasoning={c: per_choice[c]["reasoning"] for c in range(n)},
        calls=calls,
        finish={c: per_choice[c]["finish"] for c in range(n)},
        finish_position=finish_position,
        usage=usage["usage"] if usage is not None else None,
        marbles="",
        lookup={},
        frames=[],
        end_frame=0,
    )


@st.composite
def timed_streams(draw: st.DrawFn, *, choices: int | None = None) -> Stream:
    stream = draw(streams(choices=choices))
    gaps, end_gap = draw(timing(len(stream.chunks)))
    return with_timing(stream, gaps, end_gap)


@SETTINGS
@given(stream=timed_streams())
def test_the_marble_frames_used_as_reference_are_reactivex_frames(stream: Stream) -> None:
    messages = parse(stream.marbles, timespan=1.0, lookup=stream.lookup)
    assert [time for time, _ in messages] == [*stream.frames, stream.end_frame]
    assert [message.value for _, message in messages[:-1]] == stream.chunks  # type: ignore[attr-defined]
    for gap in (1, 2):  # uniform gaps: the same string as chunk_marbles
        assert build_marbles(len(stream.chunks), [gap] * len(stream.chunks), gap, "|")[0] == (
            chunk_marbles(stream.chunks, gap=gap)[0]
        )


def run(operator: Any, stream: Stream, **options: Any) -> Any:
    return run_marbles(operator, stream.marbles, stream.lookup, **options)


def the_response(stream: Stream) -> orx.Response:
    result = run(orx_ops.accumulate(), stream)
    assert result.completed and len(result.values) == 1
    response: orx.Response = result.values[0]
    return response


# ---------------------------------------------------------------------------------------------
# 1. accumulate (and content / reasoning)


@SETTINGS
@given(stream=timed_streams())
def test_accumulate_rebuilds_exactly_what_was_sent(stream: Stream) -> None:
    result = run(orx_ops.accumulate(), stream)
    assert result.events[-1] == (stream.end_frame, "C", None)
    assert [kind for _, kind, _ in result.events] == ["N", "C"]
    assert result.events[0][0] == stream.end_frame
    response: orx.Response = result.values[0]

    seen = sorted({choice.index for chunk in stream.chunks for choice in chunk.choices})
    assert [choice.index for choice in response.choices] == seen
    for index in range(stream.n):
        choice = response.choice(index)
        assert choice.content == stream.content[index]
        assert choice.reasoning == stream.reasoning[index]
        assert choice.finish_reason == stream.finish[index]
        assert choice.native_finish_reason == stream.finish[index]
        expected = stream.calls[index]
        assert [call.id for call in choice.tool_calls] == [call.id for call in expected]
        assert [call.name for call in choice.tool_calls] == [call.name for call in expected]
        assert [call.index for call in choice.tool_calls] == [call.index for call in expected]
        assert [call.arguments for call in choice.tool_calls] == [call.arguments for call in expected]
        assert all(call.type == "function" for call in choice.tool_calls)
    if stream.usage is None:
        assert response.usage is None
    else:
        assert response.usage is not None
        assert response.usage == orx.Usage.from_dict(stream.usage)
        assert response.completion_tokens == stream.usage["completion_tokens"]
        assert response.prompt_tokens == stream.usage["prompt_tokens"]
    assert response.id == (stream.chunks[0].id if stream.chunks else None)
    assert response.created == (1_700_000_000 if stream.chunks else None)

    assert response == orx.Response.from_chunks(stream.chunks)
    assert response.response_time == stream.end_frame
    first = stream.first_output()
    assert response.time_to_first_token == (stream.frames[first] if first is not None else None)

    for index in range(stream.n):
        texts = run(orx_ops.content(index), stream)
        assert "".join(texts.values) == response.choice(index).content
        assert all(texts.values) and texts.completed
        thoughts = run(orx_ops.reasoning(index), stream)
        assert "".join(thoughts.values) == response.choice(index).reasoning
        assert all(thoughts.values) and thoughts.completed


# ---------------------------------------------------------------------------------------------
# 2. snapshots


@SETTINGS
@given(stream=timed_streams())
def test_snapshots_grow_and_never_change(stream: Stream) -> None:
    taken: list[tuple[orx.Response, orx.Response, str]] = []

    def keep(response: orx.Response) -> orx.Response:
        taken.append((response, copy.deepcopy(response), json.dumps(response.to_dict(), sort_keys=True)))
        return response

    from reactivex import operators as ops

    result = run(lambda source: source.pipe(orx_ops.snapshots(), ops.map(keep)), stream)
    assert result.completed
    assert len(result.values) == len(stream.chunks)
    assert [frame for frame, kind, _ in result.events if kind == "N"] == stream.frames
    for position, snapshot in enumerate(result.values):
        assert snapshot == orx.Response.from_chunks(stream.chunks[: position + 1])
    for earlier, later in zip(result.values, result.values[1:], strict=False):
        for index in range(stream.n):
            assert later.choice(index).content.startswith(earlier.choice(index).content)
            assert later.choice(index).reasoning.startswith(earlier.choice(index).reasoning)
            assert later.choice(index).tool_calls[: len(earlier.choice(index).tool_calls) - 1] == (
                earlier.choice(index).tool_calls[:-1]
            )
    if result.values:
        assert result.values[-1] == the_response(stream)
    for snapshot, copied, as_json in taken:  # nothing emitted earlier changed afterwards
        assert snapshot == copied
        assert [c.reasoning_details for c in snapshot.choices] == [c.reasoning_details for c in copied.choices]
        assert json.dumps(snapshot.to_dict(), sort_keys=True) == as_json


# ---------------------------------------------------------------------------------------------
# 3. tool_calls


@SETTINGS
@given(stream=timed_streams())
def test_tool_calls_are_emitted_once_complete_in_order(stream: Stream) -> None:
    for index in range(stream.n):
        result = run(orx_ops.tool_calls(index), stream)
        assert result.completed
        expected = stream.calls[index]
        emitted = result.values
        assert [(c.id, c.name, c.index, c.arguments) for c in emitted] == [
            (c.id, c.name, c.index, c.arguments) for c in expected
        ]
        assert emitted == list(the_response(stream).choice(index).tool_calls)
        finish = stream.finish_position[index]
        deadline = stream.frames[finish] if finish is not None else stream.end_frame
        frames = [frame for frame, kind, _ in result.events if kind == "N"]
        for ordinal, (frame, call) in enumerate(zip(frames, expected, strict=True)):
            assert frame >= stream.frames[call.positions[-1]]  # never before its last fragment
            assert frame <= deadline  # no later than the finish chunk (or the completion)
            # exactly when the next call starts, the finish arrives or the stream ends
            starts = [stream.frames[expected[ordinal + 1].positions[0]]] if ordinal + 1 < len(expected) else []
            assert frame == min([*starts, deadline])


# ---------------------------------------------------------------------------------------------
# 4. round trips


def test_round_trip_through_a_completion_body_keeps_tool_call_indexes_from_zero() -> None:
    f = ChunkFactory(id="gen-1", created=1)
    chunks = [to_chunk(d) for d in f.tool_calls([{"name": "f", "arguments": {"a": 1}, "id": "c1"}])]
    response = orx.Response.from_chunks(chunks)
    assert orx.Response.from_completion(response.to_dict()) == response


@SETTINGS
@given(stream=streams())
def test_round_trip_through_chunks(stream: Stream) -> None:
    response = orx.Response.from_chunks(stream.chunks)
    again = orx.Response.from_chunks(response.to_chunks())
    assert again == response
    assert again.to_dict() == response.to_dict()


@SETTINGS
@given(stream=streams())
def test_round_trip_through_a_completion_body(stream: Stream) -> None:
    response = orx.Response.from_chunks(stream.chunks)
    body = json.loads(json.dumps(response.to_dict()))  # JSON-ready
    again = orx.Response.from_completion(body)
    assert again == response


def test_round_trip_through_a_completion_body_keeps_tool_call_indexes() -> None:
    # minimal example shrunk from the property: one call streamed at index 1
    f = ChunkFactory(id="gen-1", created=1)
    chunks = [to_chunk(d) for d in f.tool_calls([{"name": "f", "arguments": {}, "id": "c1"}], start_index=1)]
    response = orx.Response.from_chunks(chunks)
    assert response.tool_calls[0].index == 1
    assert orx.Response.from_completion(response.to_dict()) == response


# ---------------------------------------------------------------------------------------------
# 5. retry_with_backoff

RETRYABLE: list[Callable[[], Exception]] = [
    lambda: orx.RateLimitError("slow down", status=429),
    lambda: orx.RequestTimeoutError("timeout", status=408),
    lambda: orx.ServerError("oops", status=500),
    lambda: orx.BadGatewayError("bad gateway", status=502),
    lambda: orx.ServiceUnavailableError("down", status=503),
    lambda: orx.APIConnectionError("refused"),
    lambda: orx.ConnectTimeout("connect", timeout=1.0),
    lambda: orx.IdleTimeout("idle", timeout=1.0),
    lambda: orx.TruncatedStreamError("dropped"),
    lambda: orx.StreamError("provider", code=502),
]
FALLS_BACK: list[Callable[[], Exception]] = [
    lambda: orx.ServerError("oops", status=500),
    lambda: orx.BadGatewayError("bad gateway", status=502),
    lambda: orx.RequestTimeoutError("timeout", status=408),
    lambda: orx.APIConnectionError("refused"),
    lambda: orx.IdleTimeout("idle", timeout=1.0),
    lambda: orx.TruncatedStreamError("dropped"),
    lambda: orx.StreamError("provider", code=502),
    lambda: orx.ProtocolError("bad json"),
]
NO_OUTPUT = ChunkFactory(id="gen-held", created=1)


@dataclass
class Failure:
    """One attempt that fails before any output: held no-output chunks, then the error."""

    held: list[orx.Chunk]
    marbles: str
    lookup: dict[str | float, Any]
    error_frame: int
    error: Exception


@st.composite
def failures(draw: st.DrawFn, errors: list[Callable[[], Exception]]) -> Failure:
    kinds = draw(st.lists(st.sampled_from(["role", "empty", "blank"]), max_size=3))
    held = [
        to_chunk(
            NO_OUTPUT.role()
            if kind == "role"
            else NO_OUTPUT.chunk({"content": ""})
            if kind == "empty"
            else {"choices": [{"index": 0, "delta": {}}]}
        )
        for kind in kinds
    ]
    gaps = draw(st.lists(st.integers(1, 3), min_size=len(held), max_size=len(held)))
    marbles, _, error_frame = build_marbles(len(held), gaps, draw(st.integers(1, 3)), "#")
    lookup = {LETTERS[i]: chunk for i, chunk in enumerate(held)}
    return Failure(held, marbles, lookup, error_frame, draw(st.sampled_from(errors))())


def expected_delivery(stream: Stream, upto: int, base_frame: float) -> list[float | None]:
    """Frames at which an output gate delivers the first ``upto`` chunks (held until the first output;
    ``None``: held until the attempt ends, when none of them has output)."""
    first = stream.first_output()
    frames: list[float | None] = []
    for position in range(upto):
        if first is not None and first < upto:
            frames.append(base_frame + stream.frames[max(position, first)])
        else:
            frames.append(None)
    return frames


@FEW
@given(
    stream=timed_streams(),
    attempts=st.lists(failures(RETRYABLE), max_size=4),
    max_retries=st.integers(0, 3),
    base=st.sampled_from([0.5, 1.0, 2.0, 3.0]),
    max_delay=st.sampled_from([1.0, 4.0, 8.0]),
    cut=st.none() | st.integers(0, 60),
)
def test_retry_before_output_resubscribes_at_the_backoff_frames(
    stream: Stream,
    attempts: list[Failure],
    max_retries: int,
    base: float,
    max_delay: float,
    cut: int | None,
) -> None:
    first = stream.first_output()
    last_error = orx.ServerError("after output", status=500)  # retryable, but after output
    if cut is not None and first is not None:  # the good attempt fails after its first output chunk
        cut = first + 1 + cut % (len(stream.chunks) - first)
        marbles, _, end_frame = build_marbles(cut, stream.gaps[:cut], stream.end_gap, "#")
    else:
        cut = None
        marbles, end_frame = stream.marbles, stream.end_frame

    sched = TestScheduler()
    subscribed: list[float] = []

    def source(good: reactivex.Observable[Any]) -> reactivex.Observable[Any]:
        def factory(_: Any = None) -> reactivex.Observable[Any]:
            attempt = len(subscribed)
            subscribed.append(sched.clock - 200.0)
            if attempt < len(attempts):
                failure = attempts[attempt]
                return reactivex.from_marbles(failure.marbles, timespan=1.0, lookup=failure.lookup, error=failure.error)
            return good

        return reactivex.defer(factory)

    retry = orx_ops.retry_with_backoff(max_retries=max_retries, base=base, max_delay=max_delay, jitter=False)
    result = run_marbles(lambda good: retry(source(good)), marbles, stream.lookup, error=last_error, scheduler=sched)

    k = len(attempts)
    event("retries exhausted" if k > max_retries else "error after output" if cut is not None else "recovered")
    expected_subscriptions = [0.0]
    for number, failure in enumerate(attempts[: min(k, max_retries)], start=1):
        wait = min(max_delay, base * 2 ** (number - 1))
        expected_subscriptions.append(expected_subscriptions[-1] + failure.error_frame + wait)
    assert subscribed == expected_subscriptions

    if k > max_retries:  # retries exhausted: the last error, after only its held no-output chunks
        failure = attempts[max_retries]
        final = expected_subscriptions[-1] + failure.error_frame
        assert result.events == [(final, "N", chunk) for chunk in failure.held] + [(final, "E", failure.error)]
        assert result.subscriptions == []
        return

    start = expected_subscriptions[-1]
    assert result.subscriptions == [start]
    delivered = stream.chunks[:cut] if cut is not None else stream.chunks
    assert result.values == delivered  # the stream exactly once, nothing held from failed attempts
    assert all(a is b for a, b in zip(result.values, delivered, strict=True))
    frames = [frame for frame, kind, _ in result.events if kind == "N"]
    ending = start + end_frame
    assert frames == [f if f is not None else ending for f in expected_delivery(stream, len(delivered), start)]
    if cut is not None:  # an error after output is final, never retried
        assert result.events[-1] == (ending, "E", last_error)
    else:
        assert result.events[-1] == (ending, "C", None)


# ---------------------------------------------------------------------------------------------
# 6. fallback_to_non_streaming


@FEW
@given(stream=timed_streams(), failure=st.none() | failures(FALLS_BACK), delay=st.integers(0, 3))
def test_fallback_emits_the_completion_or_passes_the_stream_through(
    stream: Stream, failure: Failure | None, delay: int
) -> None:
    completion = orx.Response.from_chunks(stream.chunks)
    answer = reactivex.from_marbles("-" * delay + "R|", timespan=1.0, lookup={"R": completion})
    fallback = orx_ops.fallback_to_non_streaming(answer)
    event("passes through" if failure is None else "falls back")
    if failure is None:  # the stream itself: untouched (only held until its first output)
        result = run(fallback, stream)
        assert result.values == stream.chunks
        assert all(a is b for a, b in zip(result.values, stream.chunks, strict=True))
        frames = [frame for frame, kind, _ in result.events if kind == "N"]
        expected = expected_delivery(stream, len(stream.chunks), 0)
        assert frames == [f if f is not None else stream.end_frame for f in expected]
        assert result.events[-1] == (stream.end_frame, "C", None)
        return
    result = run_marbles(fallback, failure.marbles, failure.lookup, error=failure.error)
    assert result.completed
    at = failure.error_frame + delay
    assert result.frames() == [at] * len(result.values) + [at + 1]  # "R|": R, then the completion
    assert not any(chunk in failure.held for chunk in result.values)  # the held role chunks are dropped
    assert result.values == completion.to_chunks()
    assert orx.Response.from_chunks(result.values) == completion
    again = run_marbles(
        lambda source: orx_ops.accumulate()(fallback(source)), failure.marbles, failure.lookup, error=failure.error
    )
    assert again.values == [completion]


# ---------------------------------------------------------------------------------------------
# 7. meter


def _output_bytes(chunk: orx.Chunk) -> int:
    size = 0
    for choice in chunk.choices:
        delta = choice.delta
        for text in (delta.content, delta.reasoning, delta.refusal):
            size += len((text or "").encode("utf-8"))
        for call in delta.tool_calls:
            size += len((call.name or "").encode("utf-8")) + len((call.arguments or "").encode("utf-8"))
    return size


def _p90(gaps: list[int]) -> float:
    ordered = sorted(gaps)
    rank = Fraction(9, 10) * (len(ordered) - 1)
    low = math.floor(rank)
    value = Fraction(ordered[low])
    if rank > low:
        value += (ordered[low + 1] - ordered[low]) * (rank - low)
    return float(value)


@SETTINGS
@given(stream=timed_streams())
def test_meter_counts_and_times_exactly_in_virtual_time(stream: Stream) -> None:
    result = run(orx_ops.meter(), stream)
    assert result.completed
    snapshots = result.values
    assert len(snapshots) == len(stream.chunks) + 1
    assert [frame for frame, kind, _ in result.events if kind == "N"] == [*stream.frames, stream.end_frame]
    assert result.events[-2][2] is snapshots[-1] and snapshots[-1].final
    assert not any(m.final for m in snapshots[:-1])
    assert [m.chunks for m in snapshots] == [*range(1, len(stream.chunks) + 1), len(stream.chunks)]
    assert [m.elapsed for m in snapshots] == [*stream.frames, stream.end_frame]

    first = stream.first_output()
    size = 0
    usage = None
    for position, (chunk, metrics) in enumerate(zip(stream.chunks, snapshots, strict=False)):
        size += _output_bytes(chunk)
        usage = chunk.usage or usage
        if first is not None and position >= first:
            assert metrics.time_to_first_token == stream.frames[first]
        else:
            assert metrics.time_to_first_token is None
        if usage is None:
            assert metrics.estimated and metrics.completion_tokens == -(-size // 4)
        else:
            assert not metrics.estimated and metrics.completion_tokens == usage.completion_tokens
        gaps = [b - a for a, b in zip(stream.frames[:position], stream.frames[1 : position + 1], strict=True)]
        if gaps:
            assert metrics.gap_min == min(gaps) and metrics.gap_max == max(gaps)
            assert metrics.gap_median == statistics.median(gaps)
            assert metrics.gap_p90 == pytest.approx(_p90(gaps), abs=1e-12)
        else:
            assert metrics.gap_min is metrics.gap_max is metrics.gap_median is metrics.gap_p90 is None

    final = snapshots[-1]
    assert final.time_to_first_token == (stream.frames[first] if first is not None else None)
    if stream.usage is not None:
        assert final.completion_tokens == stream.usage["completion_tokens"] and not final.estimated
        assert final.prompt_tokens == stream.usage["prompt_tokens"]
    else:
        assert final.estimated and final.completion_tokens == -(-size // 4)
    if len(stream.chunks) > 1:
        gaps = [b - a for a, b in itertools.pairwise(stream.frames)]
        assert final.gap_min == min(gaps) and final.gap_max == max(gaps)


# ---------------------------------------------------------------------------------------------
# 8. errors carry the partial response


@SETTINGS
@given(
    stream=streams(),
    data=st.data(),
    error=st.sampled_from(
        [
            lambda: orx.StreamError("provider", code=502),
            lambda: orx.TruncatedStreamError("dropped"),
            lambda: orx.IdleTimeout("idle", timeout=1.0),
        ]
    ),
)
def test_an_error_carries_the_chunks_before_it(stream: Stream, data: st.DataObject, error: Any) -> None:
    cut = data.draw(st.integers(0, len(stream.chunks)), label="cut")
    gaps, end_gap = data.draw(timing(cut), label="timing")
    marbles, _, error_frame = build_marbles(cut, gaps, end_gap, "#")
    lookup = {LETTERS[i]: chunk for i, chunk in enumerate(stream.chunks[:cut])}
    expected = orx.Response.from_chunks(stream.chunks[:cut]) if cut else None
    for operator in (orx_ops.accumulate(), orx_ops.snapshots(), orx_ops.tool_calls()):
        failure = error()
        result = run_marbles(operator, marbles, lookup, error=failure)
        assert result.events[-1] == (error_frame, "E", failure)
        assert failure.partial == expected
        assert failure.chunk_count == cut
