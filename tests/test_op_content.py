"""Marble tests for content() and reasoning()."""

from __future__ import annotations

from typing import Any

import openrouter_rx as orx
from openrouter_rx import operators as orx_ops
from openrouter_rx.testing import ChunkFactory, chunk_lookup, run_marbles

F = ChunkFactory()
LOOKUP = chunk_lookup(
    r=F.role(),
    p=F.reasoning("Hmm, ")[0],
    a=F.text("Hello")[0],
    b=F.text(" world")[0],
    e={"choices": [{"index": 0, "delta": {"content": ""}}]},
    f=F.finish("stop"),
    u=F.usage(),
)


def test_content_emits_text_deltas_and_drops_empty_ones() -> None:
    run = run_marbles(orx_ops.content(), "-r-p-a-e-b-f-u-|", LOOKUP)
    assert run.events == [(5, "N", "Hello"), (9, "N", " world"), (15, "C", None)]


def test_reasoning_emits_reasoning_deltas_only() -> None:
    run = run_marbles(orx_ops.reasoning(), "-r-p-a-b-|", LOOKUP)
    assert run.events == [(3, "N", "Hmm, "), (9, "C", None)]


def test_content_of_another_choice() -> None:
    def wire(index: int, text: str) -> dict[str, Any]:
        return {"choices": [{"index": index, "delta": {"content": text}}]}

    lookup = chunk_lookup(
        a=wire(0, "zero"),
        b=wire(1, "one"),
        c={"choices": [{"index": 1, "delta": {"content": "+"}}, {"index": 0, "delta": {"content": "-"}}]},
    )
    assert run_marbles(orx_ops.content(1), "-a-b-c-|", lookup).values == ["one", "+"]
    assert run_marbles(orx_ops.content(), "-a-b-c-|", lookup).values == ["zero", "-"]


def test_errors_pass_through_unchanged() -> None:
    boom = orx.StreamError("provider failed", code=502)
    run = run_marbles(orx_ops.content(), "-a-#", LOOKUP, error=boom)
    assert run.events == [(1, "N", "Hello"), (3, "E", boom)]
    assert isinstance(run.error, orx.StreamError)


def test_early_dispose_unsubscribes_the_source() -> None:
    run = run_marbles(orx_ops.content(), "-a-b-a-|", LOOKUP, dispose_at=4)
    assert run.values == ["Hello", " world"]
    assert run.disposals == [4]


def test_joined_content_equals_accumulated_content() -> None:
    marbles = "-r-p-a-e-b-f-u-|"
    joined = "".join(run_marbles(orx_ops.content(), marbles, LOOKUP).values)
    assert joined == run_marbles(orx_ops.accumulate(), marbles, LOOKUP).values[0].content == "Hello world"
