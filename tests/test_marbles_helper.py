"""The marble helpers users get in openrouter_rx.testing."""

from __future__ import annotations

import pytest
from reactivex import operators as ops

import openrouter_rx as orx
from openrouter_rx import operators as orx_ops
from openrouter_rx.testing import chunk_lookup, chunk_marbles, run_marbles, text_chunks, to_chunk


def test_to_chunk_accepts_text_wire_dicts_and_chunks() -> None:
    assert to_chunk("Hi").content == "Hi"
    wire = {"id": "gen-1", "choices": [{"index": 0, "delta": {"reasoning": "hmm"}}]}
    assert to_chunk(wire).reasoning == "hmm" and to_chunk(wire).id == "gen-1"
    chunk = orx.Chunk.from_dict(wire)
    assert to_chunk(chunk) is chunk


def test_chunk_lookup_refuses_names_the_marble_parser_would_misread() -> None:
    with pytest.raises(ValueError, match="single non-digit"):
        chunk_lookup(**{"1": "x"})
    with pytest.raises(ValueError):
        chunk_lookup(ab="x")


def test_chunk_marbles_spaces_chunks_and_ends_as_asked() -> None:
    marbles, lookup = chunk_marbles(["a", "b", "c"], gap=2)
    assert marbles == "--a--b--c--|"
    assert [lookup[k].content for k in "abc"] == ["a", "b", "c"]
    assert chunk_marbles(["x"], end="#")[0] == "-a-#"
    with pytest.raises(ValueError):
        chunk_marbles(["x"] * 60)


def test_run_marbles_records_frames_kinds_values_and_subscriptions() -> None:
    marbles, lookup = chunk_marbles(text_chunks("one two", usage=False))
    run = run_marbles(orx_ops.content(), marbles, lookup)
    assert run.events == [(3, "N", "one "), (5, "N", "two"), (9, "C", None)]
    assert run.values == ["one ", "two"] and run.completed and run.error is None
    assert run.subscriptions == [0] and run.disposals == [9]


def test_run_marbles_keeps_the_error_object_for_type_checks() -> None:
    boom = orx.IdleTimeout("quiet", timeout=3.0)
    run = run_marbles(None, "-a-#", chunk_lookup(a="x"), error=boom)
    assert run.error is boom and isinstance(run.error, orx.APITimeoutError)
    assert not run.completed


def test_run_marbles_with_a_composed_pipeline_and_timespan() -> None:
    run = run_marbles(
        lambda s: s.pipe(orx_ops.content(), ops.map(str.upper)), "-a-b|", chunk_lookup(a="x", b="y"), timespan=0.5
    )
    assert run.events == [(1, "N", "X"), (3, "N", "Y"), (4, "C", None)]


def test_dispose_at() -> None:
    run = run_marbles(None, "-a-a-a-|", chunk_lookup(a="x"), dispose_at=4)
    assert len(run.values) == 2 and run.disposals == [4]
