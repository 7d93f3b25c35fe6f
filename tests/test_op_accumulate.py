"""Marble tests for accumulate() and snapshots(): every correctness rule, errors, disposal."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

import openrouter_rx as orx
from openrouter_rx import operators as orx_ops
from openrouter_rx.testing import ChunkFactory, chunk_lookup, chunk_marbles, run_marbles, text_chunks


def choice(index: int = 0, finish: str | None = None, **delta: Any) -> dict[str, Any]:
    return {"index": index, "delta": delta, "finish_reason": finish}


def wire(*choices: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"choices": list(choices), **top}


def test_emits_one_response_at_completion_with_text_joined_in_order() -> None:
    marbles, lookup = chunk_marbles(text_chunks("The quick brown fox", reasoning="think first"))
    run = run_marbles(orx_ops.accumulate(), marbles, lookup)
    assert [kind for _, kind, _ in run.events] == ["N", "C"]
    response = run.values[0]
    assert isinstance(response, orx.Response)
    assert response.content == "The quick brown fox"
    assert response.reasoning == "think first"
    assert run.events[0][0] == run.events[1][0] == 2 * len(lookup) + 1  # emitted at the completion frame


def test_finish_reason_comes_from_the_chunk_that_carries_it_not_the_last() -> None:
    f = ChunkFactory()
    lookup = chunk_lookup(a=f.text("Hi")[0], f=f.finish("length"), u=f.usage(5, 2, cost=0.0004))
    response = run_marbles(orx_ops.accumulate(), "-a-f-u-|", lookup).values[0]
    assert response.finish_reason == "length"
    assert response.usage is not None and response.usage.completion_tokens == 2
    assert response.prompt_tokens == 5 and response.completion_tokens == 2 and response.total_tokens == 7
    assert response.cost_estimate == Decimal("0.0004")


def test_no_usage_means_zero_tokens_and_no_cost() -> None:
    response = run_marbles(orx_ops.accumulate(), "-a-|", chunk_lookup(a="x")).values[0]
    assert response.usage is None
    assert (response.prompt_tokens, response.completion_tokens, response.total_tokens) == (0, 0, 0)
    assert response.cost_estimate is None


def test_every_choice_index_is_kept_and_choice_zero_is_the_shortcut() -> None:
    lookup = chunk_lookup(
        a=wire(choice(1, content="B1"), choice(0, content="A1")),
        b=wire(choice(0, content="A2")),
        c=wire(choice(1, content="B2", finish="stop")),
        d=wire(choice(0, finish="length")),
    )
    response = run_marbles(orx_ops.accumulate(), "-a-b-c-d-|", lookup).values[0]
    assert [c.index for c in response.choices] == [0, 1]
    assert response.content == "A1A2" and response.finish_reason == "length"
    assert response.choice(1).content == "B1B2" and response.choice(1).finish_reason == "stop"


def test_reasoning_details_merge_by_index_and_type_and_encrypted_stays_opaque() -> None:
    lookup = chunk_lookup(
        a=wire(choice(reasoning_details=[{"type": "reasoning.text", "index": 0, "text": "Let me "}])),
        b=wire(choice(reasoning_details=[{"type": "reasoning.text", "index": 0, "text": "think", "signature": None}])),
        c=wire(choice(reasoning_details=[{"type": "reasoning.encrypted", "index": 1, "data": "gAAA=="}])),
        d=wire(choice(reasoning_details=[{"type": "reasoning.text", "index": 0, "signature": "sig-1"}])),
    )
    response = run_marbles(orx_ops.accumulate(), "-a-b-c-d-|", lookup).values[0]
    details = response.choice(0).reasoning_details
    assert details[0] == {"type": "reasoning.text", "index": 0, "text": "Let me think", "signature": "sig-1"}
    assert details[1] == {"type": "reasoning.encrypted", "index": 1, "data": "gAAA=="}
    assert response.to_message()["reasoning_details"] == [dict(d) for d in details]


def test_refusal_is_kept() -> None:
    lookup = chunk_lookup(a=wire(choice(refusal="I can't ")), b=wire(choice(refusal="help with that.", finish="stop")))
    response = run_marbles(orx_ops.accumulate(), "-a-b-|", lookup).values[0]
    assert response.refusal == "I can't help with that."
    assert response.content == ""


def test_metadata_comes_from_the_first_chunk_that_has_it() -> None:
    lookup = chunk_lookup(
        a=wire(choice(role="assistant")),
        b=wire(choice(content="x"), id="gen-1", model="m/one"),
        c=wire(choice(content="y"), id="gen-2", model="m/two", provider="P", created=7),
    )
    response = run_marbles(orx_ops.accumulate(), "-a-b-c-|", lookup).values[0]
    assert (response.id, response.model, response.provider, response.created) == ("gen-1", "m/one", "P", 7)


def test_tool_calls_and_to_message_for_the_next_turn() -> None:
    f = ChunkFactory()
    chunks = [
        *f.tool_calls([{"name": "get_weather", "arguments": {"city": "Oslo"}, "id": "call_1"}]),
        f.finish("tool_calls"),
    ]
    marbles, lookup = chunk_marbles(chunks)
    response = run_marbles(orx_ops.accumulate(), marbles, lookup).values[0]
    assert response.has_tool_calls and response.finish_reason == "tool_calls"
    assert response.tool_calls[0].arguments == {"city": "Oslo"}
    assert response.to_message() == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}
        ],
    }


def test_timing_is_measured_on_the_scheduler() -> None:
    f = ChunkFactory()
    lookup = chunk_lookup(r=f.role(), a=f.text("Hi")[0], u=f.usage())
    response = run_marbles(orx_ops.accumulate(), "--r---a--u-|", lookup, timespan=0.5).values[0]
    assert response.time_to_first_token == 3.0  # frame 6 (the first content, not the role chunk) x 0.5 s
    assert response.response_time == 5.5


def test_source_error_carries_the_partial_response() -> None:
    boom = orx.TruncatedStreamError("connection lost")
    run = run_marbles(orx_ops.accumulate(), "-a-b-#", chunk_lookup(a="Hel", b="lo"), error=boom)
    assert run.values == []
    assert run.error is boom
    assert boom.partial is not None and boom.partial.content == "Hello"
    assert boom.chunk_count == 2
    assert boom.partial.response_time == 5.0


def test_non_library_errors_get_the_partial_too() -> None:
    boom = RuntimeError("user code failed")
    run = run_marbles(orx_ops.accumulate(), "-a-#", chunk_lookup(a="kept"), error=boom)
    assert run.error is boom
    assert boom.partial.content == "kept"  # type: ignore[attr-defined]


def test_an_upstream_partial_is_kept_when_this_operator_saw_nothing() -> None:
    upstream = orx.Response(choices=(orx.ResponseChoice(content="from the transport"),))
    boom = orx.StreamError("provider failed", code=502)
    boom.partial = upstream
    run = run_marbles(orx_ops.accumulate(), "-#", {}, error=boom)
    assert run.error is boom and boom.partial is upstream


def test_early_dispose_emits_nothing_and_unsubscribes() -> None:
    run = run_marbles(orx_ops.accumulate(), "-a-b-c-|", chunk_lookup(a="x", b="y", c="z"), dispose_at=4)
    assert run.events == []
    assert run.disposals == [4]


def test_each_subscription_has_its_own_state() -> None:
    operator = orx_ops.accumulate()
    lookup = chunk_lookup(a="one")
    first = run_marbles(operator, "-a-|", lookup).values[0]
    second = run_marbles(operator, "-a-|", lookup).values[0]
    assert first.content == second.content == "one"


def test_long_streams_accumulate_exactly() -> None:
    pieces = [f"w{i} " for i in range(20_000)]
    response = orx.Response.from_chunks(orx.Chunk.from_dict(wire(choice(content=p))) for p in pieces)
    assert response.content == "".join(pieces)


# -- snapshots ----------------------------------------------------------------


def test_snapshots_emit_the_running_response_after_every_chunk() -> None:
    f = ChunkFactory()
    lookup = chunk_lookup(a="Hel", b="lo", f=f.finish("stop"))
    run = run_marbles(orx_ops.snapshots(), "-a-b-f-|", lookup)
    assert run.frames() == [1, 3, 5, 7]
    assert [r.content for r in run.values] == ["Hel", "Hello", "Hello"]
    assert [r.finish_reason for r in run.values] == [None, None, "stop"]
    final = run_marbles(orx_ops.accumulate(), "-a-b-f-|", lookup).values[0]
    assert run.values[-1] == final


def test_snapshots_error_carries_the_partial() -> None:
    boom = orx.IdleTimeout("no data", timeout=1.0)
    run = run_marbles(orx_ops.snapshots(), "-a-#", chunk_lookup(a="so far"), error=boom)
    assert [r.content for r in run.values] == ["so far"]
    assert run.error is boom and boom.partial is not None and boom.partial.content == "so far"


@pytest.mark.parametrize("operator", [orx_ops.accumulate, orx_ops.snapshots])
def test_usage_only_stream_still_completes(operator: Any) -> None:
    f = ChunkFactory()
    run = run_marbles(operator(), "-u-|", chunk_lookup(u=f.usage(3, 0)))
    assert run.completed and run.values[-1].usage.prompt_tokens == 3
    assert run.values[-1].time_to_first_token is None


def test_an_error_before_any_chunk_leaves_partial_none() -> None:
    boom = orx.APIConnectionError("refused")
    run = run_marbles(orx_ops.accumulate(), "-#", {}, error=boom)
    assert run.error is boom and boom.partial is None and boom.chunk_count == 0


def test_snapshots_conflated_with_sample_still_end_on_the_whole_text() -> None:
    from reactivex import operators as ops

    lookup = chunk_lookup(a="a", b="b", c="c", d="d", e="e")
    run = run_marbles(lambda s: s.pipe(orx_ops.snapshots(), ops.sample(3.0)), "-a-b-c-d-e|", lookup)
    assert [(frame, kind, getattr(v, "content", None)) for frame, kind, v in run.events] == [
        (3, "N", "ab"),
        (6, "N", "abc"),
        (9, "N", "abcde"),
        (12, "C", None),  # sample completes on its next tick after the source: the last text was kept
    ]
    assert run.completed
