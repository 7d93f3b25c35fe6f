"""meter(): exact figures in virtual time (one frame = one second), errors, disposal, loopback."""

from __future__ import annotations

import json
import threading
from decimal import Decimal
from typing import Any

import pytest
import reactivex
from reactivex import operators as ops
from reactivex.testing import TestScheduler

import openrouter_rx as orx
from openrouter_rx.metrics import StreamMetrics
from openrouter_rx.operators._idle_timeout import idle_timeout
from openrouter_rx.operators._meter import meter
from openrouter_rx.operators._track_usage import track_usage
from openrouter_rx.testing import ChunkFactory, FakeOpenRouter, StreamReply, chunk_lookup, run_marbles, text_chunks
from openrouter_rx.usage import UsageTracker


def choice(index: int = 0, **delta: Any) -> dict[str, Any]:
    return {"index": index, "delta": delta}


def tool(arguments: str, name: str | None = None) -> dict[str, Any]:
    function: dict[str, Any] = {"arguments": arguments}
    if name is not None:
        function["name"] = name
    return {"choices": [choice(tool_calls=[{"index": 0, "function": function}])]}


# -- normal flow, exact figures ---------------------------------------------------


def test_one_snapshot_per_chunk_then_a_final_one_with_exact_figures() -> None:
    f = ChunkFactory(model="m/x")
    u = f.usage(10, 3, cost=0.0001)
    lookup = chunk_lookup(r=f.role(), a="Hell", b="o world", u=u)
    run = run_marbles(meter(window=2), "-r-a--b-(u,|)", lookup)
    usage = lookup["u"].usage
    assert run.events == [
        (1, "N", StreamMetrics(chunks=1, elapsed=1.0)),
        (
            3,
            "N",
            StreamMetrics(
                chunks=2, elapsed=3.0, time_to_first_token=3.0, completion_tokens=1,
                gap_min=2.0, gap_median=2.0, gap_p90=2.0, gap_max=2.0,
            ),
        ),
        (
            6,
            "N",
            StreamMetrics(
                chunks=3, elapsed=6.0, time_to_first_token=3.0, completion_tokens=3,  # ceil(11 bytes / 4)
                tokens_per_second=1.0, rolling_tokens_per_second=1.0,  # 3 tokens in the 3 s since the first
                gap_min=2.0, gap_median=2.5, gap_p90=2.9, gap_max=3.0,
            ),
        ),
        (
            8,
            "N",
            StreamMetrics(
                chunks=4, elapsed=8.0, time_to_first_token=3.0, completion_tokens=3, estimated=False,
                tokens_per_second=0.6, rolling_tokens_per_second=0.0,  # nothing generated in (6, 8]
                gap_min=2.0, gap_median=2.0, gap_p90=2.8, gap_max=3.0,
                prompt_tokens=10, cost=Decimal("0.0001"), usage=usage,
            ),
        ),
        (
            8,
            "N",
            StreamMetrics(
                chunks=4, elapsed=8.0, time_to_first_token=3.0, completion_tokens=3, estimated=False,
                tokens_per_second=0.6, rolling_tokens_per_second=0.0,
                gap_min=2.0, gap_median=2.0, gap_p90=2.8, gap_max=3.0,
                prompt_tokens=10, cost=Decimal("0.0001"), usage=usage, final=True,
            ),
        ),
        (8, "C", None),
    ]  # fmt: skip


def test_final_snapshot_is_taken_at_completion_time() -> None:
    run = run_marbles(meter(), "-a-b----|", chunk_lookup(a="abcd", b="efgh"))
    last = run.values[-1]
    assert run.frames() == [1, 3, 8, 8]
    assert last.final and last.elapsed == 8.0 and last.chunks == 2
    assert last.time_to_first_token == 1.0
    assert last.tokens_per_second == 2 / 7  # 2 estimated tokens over the 7 s since the first one
    assert [m.final for m in run.values] == [False, False, True]


def test_time_to_first_token_skips_chunks_without_output() -> None:
    f = ChunkFactory()
    lookup = chunk_lookup(
        r=f.role(),
        e={"choices": [choice(content="")]},
        n={"choices": []},
        t={"choices": [choice(reasoning="hmm")]},
    )
    run = run_marbles(meter(), "-r-e-n---t-|", lookup)
    assert [m.time_to_first_token for m in run.values] == [None, None, None, 9.0, 9.0]
    assert [m.tokens_per_second for m in run.values] == [None, None, None, None, 1 / 2]


@pytest.mark.parametrize(
    ("wire", "tokens"),
    [
        ({"choices": [choice(content="abcd")]}, 1),
        ({"choices": [choice(content="abcde")]}, 2),  # rounded up
        ({"choices": [choice(content="你好世界")]}, 3),  # 12 UTF-8 bytes: CJK is not 1/4 token per character
        ({"choices": [choice(reasoning="12345678")]}, 2),
        ({"choices": [choice(refusal="no no no")]}, 2),
        (tool('{"city":"Paris"}', name="get_weather"), 7),  # 11 + 16 bytes
        ({"choices": [choice(0, content="abcd"), choice(1, content="efgh")]}, 2),  # every choice counts
        ({"choices": [choice(reasoning_details=[{"type": "reasoning.encrypted", "data": "xyz"}])]}, 0),
    ],
)
def test_the_token_estimate_counts_utf8_bytes_of_generated_text(wire: dict[str, Any], tokens: int) -> None:
    run = run_marbles(meter(), "-a-|", chunk_lookup(a=wire))
    first = run.values[0]
    assert first.estimated and first.completion_tokens == tokens
    assert first.time_to_first_token == 1.0  # all of these are output


def test_the_estimate_is_of_the_total_not_rounded_per_chunk() -> None:
    run = run_marbles(meter(), "-a-b-c-d-|", chunk_lookup(a="a", b="b", c="c", d="d"))
    assert [m.completion_tokens for m in run.values] == [1, 1, 1, 1, 1]


def test_usage_makes_the_counts_exact_and_the_rolling_rate_is_rescaled() -> None:
    f = ChunkFactory()
    lookup = chunk_lookup(a="abcdefgh", b="abcdefgh", u=f.usage(7, 8, cost=0.00003, reasoning_tokens=2))
    run = run_marbles(meter(window=10), "-a-b-u-|", lookup)
    before, after = run.values[1], run.values[2]
    assert (before.completion_tokens, before.estimated, before.prompt_tokens, before.cost) == (4, True, None, None)
    assert (after.completion_tokens, after.estimated, after.prompt_tokens) == (8, False, 7)
    assert after.cost == Decimal("0.00003") and after.usage is not None and after.usage.reasoning_tokens == 2
    assert after.tokens_per_second == 8 / 4
    assert after.rolling_tokens_per_second == 8 / 4  # the window holds everything: equals the overall rate


def marbles_at(*frames: int, end: int) -> str:
    """A marble string with ``a`` at each frame and ``|`` at ``end``."""
    cells = ["-"] * end + ["|"]
    for frame in frames:
        cells[frame] = "a"
    return "".join(cells)


def test_rolling_rate_follows_the_recent_window_while_the_overall_rate_lags() -> None:
    # half-second frames: one 1-token chunk per second for 4 s, then one every 4 s
    marbles = marbles_at(1, 3, 5, 7, 9, 17, 25, end=27)
    run = run_marbles(meter(window=4), marbles, chunk_lookup(a="abcd"), timespan=0.5)
    rates = [(m.elapsed, m.tokens_per_second, m.rolling_tokens_per_second) for m in run.values]
    assert rates == [
        (0.5, None, None),
        (1.5, 2 / 1, 2 / 1),
        (2.5, 3 / 2, 3 / 2),
        (3.5, 4 / 3, 4 / 3),
        (4.5, 5 / 4, 4 / 4),  # window (0.5, 4.5]: the first chunk has left it
        (8.5, 6 / 8, 1 / 4),  # (4.5, 8.5]
        (12.5, 7 / 12, 1 / 4),  # (8.5, 12.5]
        (13.5, 7 / 13, 1 / 4),  # final, at completion: (9.5, 13.5]
    ]


def test_gap_statistics_are_exact_and_interpolated() -> None:
    # half-second frames: gaps of 1, 2, 3, 4, 5 and 10 seconds
    run = run_marbles(meter(), marbles_at(1, 3, 7, 13, 21, 31, 51, end=52), chunk_lookup(a="x"), timespan=0.5)
    last = run.values[-1]
    assert (last.gap_min, last.gap_max) == (1.0, 10.0)
    assert last.gap_median == 3.5
    assert last.gap_p90 == 7.5  # rank 4.5 of [1, 2, 3, 4, 5, 10]
    assert [m.gap_max for m in run.values[:3]] == [None, 1.0, 2.0]


def test_a_tool_call_stream_is_metered() -> None:
    lookup = chunk_lookup(a=tool("", name="f"), b=tool('{"x":'), c=tool(" 1}"))
    run = run_marbles(meter(), "-a-b-c-|", lookup)
    assert [m.completion_tokens for m in run.values] == [1, 2, 3, 3]  # 1, 6, 9 bytes
    assert run.values[0].time_to_first_token == 1.0


# -- errors, disposal, subscriptions -----------------------------------------------


def test_source_error_is_forwarded_untouched_and_no_final_is_emitted() -> None:
    error = orx.StreamError("boom", code=502)
    run = run_marbles(meter(), "-a-b-#", chunk_lookup(a="x", b="y"), error=error)
    assert run.frames() == [1, 3, 5]
    assert run.error is error and error.partial is None
    assert not any(m.final for m in run.values)


def test_early_dispose_stops_everything() -> None:
    run = run_marbles(meter(), "-a-b-c-d-|", chunk_lookup(a="x", b="y", c="z", d="w"), dispose_at=4)
    assert run.frames() == [1, 3]
    assert run.disposals == [4]
    assert not run.completed


def test_an_empty_stream_gives_one_final_snapshot() -> None:
    run = run_marbles(meter(), "---|", {})
    assert run.events == [(3, "N", StreamMetrics(elapsed=3.0, final=True)), (3, "C", None)]


def test_state_is_per_subscription() -> None:
    operator = meter()
    lookup = chunk_lookup(a="abcd", b="efgh")
    first = run_marbles(operator, "-a-b-|", lookup)
    second = run_marbles(operator, "-a-b-|", lookup)
    assert first.events == second.events
    assert second.values[-1].chunks == 2


def test_two_concurrent_subscriptions_of_one_metered_observable_are_separate() -> None:
    scheduler = TestScheduler()
    lookup = chunk_lookup(a="abcd")
    metered = reactivex.from_marbles("-a-a-a|", timespan=1.0, lookup=lookup).pipe(meter())  # a at 1, 3, 5; | at 6
    seen: dict[str, list[StreamMetrics]] = {"x": [], "y": []}
    scheduler.schedule_absolute(0.0, lambda *_: metered.subscribe(seen["x"].append, scheduler=scheduler))
    scheduler.schedule_absolute(2.0, lambda *_: metered.subscribe(seen["y"].append, scheduler=scheduler))
    scheduler.start()
    assert [m.chunks for m in seen["x"]] == [1, 2, 3, 3]
    assert [m.elapsed for m in seen["x"]] == [1.0, 3.0, 5.0, 6.0]
    assert [m.elapsed for m in seen["y"]] == [1.0, 3.0, 5.0, 6.0]


def test_an_explicit_scheduler_is_the_clock() -> None:
    frozen = TestScheduler()  # never advanced: every reading is 0
    run = run_marbles(meter(scheduler=frozen), "-a-b-|", chunk_lookup(a="x", b="y"))
    assert [m.elapsed for m in run.values] == [0.0, 0.0, 0.0]
    assert run.values[-1].gap_max == 0.0


def test_a_bad_item_becomes_an_error() -> None:
    run = run_marbles(meter(), "-a-b-|", {"a": orx.Chunk(), "b": "not a chunk"})
    assert run.frames() == [1, 3]
    assert isinstance(run.error, AttributeError)


@pytest.mark.parametrize("window", [0, -1.0])
def test_window_must_be_positive(window: float) -> None:
    with pytest.raises(ValueError, match="window"):
        meter(window=window)


def test_to_dict_is_json_friendly() -> None:
    f = ChunkFactory()
    run = run_marbles(meter(), "-a-u-|", chunk_lookup(a="abcd", u=f.usage(3, 1, cost=1e-7)))
    data = run.values[-1].to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["cost"] == "0.0000001" and data["final"] is True and "usage" not in data


def test_wall_clock_without_any_scheduler() -> None:
    chunks = [orx.Chunk.from_dict(c) for c in text_chunks("one two three")]
    values = reactivex.from_iterable(chunks).pipe(meter(), ops.to_list()).run()
    assert len(values) == len(chunks) + 1
    elapsed = [m.elapsed for m in values]
    assert elapsed == sorted(elapsed) and elapsed[0] >= 0
    assert values[-1].final and not values[-1].estimated


# -- loopback against the fake server --------------------------------------------


def test_loopback_stream_is_metered(fake_openrouter: FakeOpenRouter) -> None:
    wire = text_chunks("Streams are sequences of events over time", reasoning="short thought", cost=0.00042)
    fake_openrouter.enqueue(StreamReply(wire, delay=0.005))
    with orx.Client(api_key="sk-test", base_url=fake_openrouter.base_url) as client:
        values = client.stream("hi").pipe(meter(), ops.to_list()).run()
    assert [m.chunks for m in values] == [*range(1, len(wire) + 1), len(wire)]
    assert [m.final for m in values] == [False] * len(wire) + [True]
    elapsed = [m.elapsed for m in values]
    assert elapsed == sorted(elapsed)
    last = values[-1]
    usage = wire[-1]["usage"]
    assert not last.estimated and last.completion_tokens == usage["completion_tokens"]
    assert last.prompt_tokens == 10 and last.cost == Decimal("0.00042")
    assert last.time_to_first_token is not None and 0 < last.time_to_first_token <= last.elapsed
    assert values[0].time_to_first_token is None  # the role chunk carries no output
    assert last.gap_min is not None and last.gap_median is not None and last.gap_p90 is not None
    assert last.gap_max is not None and 0 <= last.gap_min <= last.gap_median <= last.gap_p90 <= last.gap_max
    assert last.tokens_per_second is not None and last.tokens_per_second > 0


def test_loopback_all_three_operators_together(fake_openrouter: FakeOpenRouter) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks("a b c d", prompt_tokens=21, cost=0.5), delay=0.002))
    tracker = UsageTracker()
    done = threading.Event()
    values: list[StreamMetrics] = []
    errors: list[Exception] = []
    with orx.Client(api_key="sk-test", base_url=fake_openrouter.base_url) as client:
        client.stream("hi").pipe(idle_timeout(10), track_usage(tracker), meter()).subscribe(
            values.append, lambda e: (errors.append(e), done.set()), done.set
        )
        assert done.wait(10)
    assert not errors
    assert values[-1].final and values[-1].prompt_tokens == tracker.prompt_tokens == 21
    assert values[-1].cost == tracker.cost == Decimal("0.5")
    assert values[-1].completion_tokens == tracker.completion_tokens
