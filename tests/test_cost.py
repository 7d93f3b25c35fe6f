"""Cost estimates: Pricing.cost, Response.cost_estimate / cost_source, UsageTracker with pricing."""

from __future__ import annotations

import json
import threading
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reactivex import operators as ops
from support import WAIT

import openrouter_rx as orx
from openrouter_rx.chunk import Usage
from openrouter_rx.models import VARIABLE_PRICE, Pricing, cache_write_tokens
from openrouter_rx.operators._track_usage import track_usage
from openrouter_rx.response import Response
from openrouter_rx.testing import FakeOpenRouter, StreamReply, completion_body, text_chunks, usage_dict
from openrouter_rx.usage import UNKNOWN_MODEL, UsageTotals, UsageTracker

D = Decimal

# anthropic/claude-opus-4.5 as listed on 2025-12-28 (the recorded model list)
OPUS = Pricing.from_dict(
    {
        "prompt": "0.000005",
        "completion": "0.000025",
        "request": "0",
        "image": "0",
        "web_search": "0.01",
        "internal_reasoning": "0",
        "input_cache_read": "0.0000005",
        "input_cache_write": "0.00000625",
    }
)


def usage(
    prompt: int = 1000,
    completion: int = 200,
    *,
    cost: Any = None,
    cached: int = 0,
    reasoning: int = 0,
    cache_write: int | None = None,
) -> Usage:
    wire = usage_dict(prompt, completion, cached_tokens=cached, reasoning_tokens=reasoning)
    if cost is None:
        del wire["cost"], wire["cost_details"]
    else:
        wire["cost"] = cost
    if cache_write is not None:
        wire["prompt_tokens_details"]["cache_write_tokens"] = cache_write
    return Usage.from_dict(wire)


# -- Pricing.cost ---------------------------------------------------------------------------------


def test_plain_prompt_and_completion() -> None:
    assert OPUS.cost(usage(1000, 200)) == D("0.005") + D("0.005")
    mini = Pricing(prompt=D("0.00000015"), completion=D("0.0000006"))
    assert mini.cost(usage(14, 13)) == D("0.0000099")
    assert mini.cost(usage(0, 0)) == 0


def test_cached_prompt_tokens_use_the_cache_read_price() -> None:
    # 600 fresh at 5e-6, 400 read from the cache at 5e-7, 200 completion at 2.5e-5
    assert OPUS.cost(usage(1000, 200, cached=400)) == D("0.003") + D("0.0002") + D("0.005")
    without_cache_price = Pricing(prompt=D("0.000005"), completion=D("0.000025"))
    assert without_cache_price.cost(usage(1000, 200, cached=400)) == D("0.01")  # cached at the prompt price


def test_cache_write_tokens_use_the_cache_write_price() -> None:
    written = usage(1000, 0, cached=100, cache_write=300)
    assert cache_write_tokens(written) == 300
    # 600 fresh * 5e-6 + 100 read * 5e-7 + 300 written * 6.25e-6
    assert OPUS.cost(written) == D("0.003") + D("0.00005") + D("0.001875")
    no_write_price = Pricing(prompt=D("0.000005"), completion=D("0.000025"), input_cache_read=D("0.0000005"))
    assert no_write_price.cost(written) == D("0.0045") + D("0.00005")
    assert cache_write_tokens(usage()) == 0
    # counts that overlap more than the prompt holds are clamped, never negative
    assert OPUS.cost(usage(100, 0, cached=80, cache_write=50)) == 20 * D("0.0000005") * 4 + 20 * D("0.00000625")


def test_reasoning_tokens_are_part_of_completion_tokens() -> None:
    # internal_reasoning 0: reasoning tokens cost the completion price (they are inside completion_tokens)
    assert OPUS.cost(usage(0, 500, reasoning=300)) == 500 * D("0.000025")
    priced = Pricing(prompt=D("0.000001"), completion=D("0.000004"), internal_reasoning=D("0.000002"))
    # 200 visible at 4e-6 + 300 reasoning at 2e-6
    assert priced.cost(usage(0, 500, reasoning=300)) == D("0.0008") + D("0.0006")
    assert priced.cost(usage(0, 100, reasoning=300)) == 100 * D("0.000002")  # clamped to completion_tokens


def test_request_fee_is_added_once() -> None:
    search = Pricing(prompt=D("0.000001"), completion=D("0.000001"), request=D("0.005"))
    assert search.cost(usage(10, 10)) == D("0.00002") + D("0.005")
    assert search.cost(usage(0, 0)) == D("0.005")


def test_sums_of_many_small_costs_are_exact() -> None:
    tiny = Pricing(prompt=D("0.0000001"), completion=D("0.0000003"))
    one = tiny.cost(usage(1, 1))
    assert one == D("0.0000004")
    total = sum((tiny.cost(usage(1, 1)) for _ in range(10_000)), D(0))
    assert total == D("0.004")  # floats: 0.1e-6 + 0.3e-6 summed 10k times drifts
    assert sum([0.0000001 + 0.0000003] * 10_000) != 0.004


def test_variable_pricing_refuses_to_estimate() -> None:
    auto = Pricing.from_dict({"prompt": "-1", "completion": "-1"})
    assert auto.is_variable and auto.prompt == VARIABLE_PRICE
    with pytest.raises(ValueError, match="variable"):
        auto.cost(usage())
    assert auto.per_million() == {}


def test_pricing_from_dict_is_exact_and_tolerant() -> None:
    assert OPUS.prompt == D("0.000005") and isinstance(OPUS.web_search, Decimal)
    assert (OPUS.input_cache_read, OPUS.input_cache_write) == (D("0.0000005"), D("0.00000625"))
    odd = Pricing.from_dict({"prompt": 0.1, "completion": "abc", "request": None, "image": "NaN"})
    assert odd.prompt == D("0.1")  # a float through its shortest repr, not 0.1000000000000000055...
    assert odd.completion == VARIABLE_PRICE and odd.is_variable  # unknown: no guessing
    assert odd.request == 0 and odd.image == 0 and odd.input_cache_read is None
    assert Pricing.from_dict({}).is_variable
    free = Pricing.from_dict({"prompt": "0", "completion": "0", "request": "0"})
    assert free.is_free and free.cost(usage(10**6, 10**6)) == 0


def test_per_million_for_display() -> None:
    assert OPUS.per_million() == {
        "prompt": D("5"),
        "completion": D("25"),
        "input_cache_read": D("0.5"),
        "input_cache_write": D("6.25"),
    }
    assert str(OPUS.per_million()["prompt"]) == "5"
    reasoning = Pricing(prompt=D("0.00000015"), completion=D("0.0000006"), internal_reasoning=D("0.0000011"))
    assert reasoning.per_million() == {"prompt": D("0.15"), "completion": D("0.6"), "internal_reasoning": D("1.1")}


# -- Response.cost_estimate / cost_source ----------------------------------------------------------


def response(cost: Any = None, **kw: Any) -> Response:
    body = completion_body("hi", model="anthropic/claude-opus-4.5", prompt_tokens=1000)
    body["usage"] = usage_dict(1000, 200, **kw)
    if cost is None:
        del body["usage"]["cost"]
    else:
        body["usage"]["cost"] = cost
    return Response.from_completion(body)


def test_cost_from_usage_wins_even_with_pricing() -> None:
    reported = response(cost=0.0123)
    assert (reported.cost_estimate, reported.cost_source) == (D("0.0123"), "usage")
    priced = reported.with_pricing(OPUS)
    assert (priced.cost_estimate, priced.cost_source) == (D("0.0123"), "usage")
    assert priced.pricing is OPUS and reported.pricing is None  # a copy; the original is unchanged


def test_cost_from_pricing_when_usage_has_none() -> None:
    bare = response(cached_tokens=400)
    assert (bare.cost_estimate, bare.cost_source) == (None, None)
    priced = bare.with_pricing(OPUS)
    assert priced.cost_source == "pricing"
    assert priced.cost_estimate == D("0.003") + D("0.0002") + D("0.005")
    assert priced == bare  # pricing is not part of equality, nor of the repr
    assert "pricing" not in repr(priced)
    assert priced.with_pricing(None).cost_source is None


def test_no_usage_or_variable_pricing_gives_no_cost() -> None:
    no_usage = Response.from_completion(completion_body("hi", usage=False)).with_pricing(OPUS)
    assert (no_usage.cost_estimate, no_usage.cost_source) == (None, None)
    auto = response().with_pricing(Pricing.from_dict({"prompt": "-1", "completion": "-1"}))
    assert (auto.cost_estimate, auto.cost_source) == (None, None)


def test_accumulated_response_gets_a_cost_from_pricing() -> None:
    wire = text_chunks("one two three", model="m/x", prompt_tokens=5, cost=0.0)
    del wire[-1]["usage"]["cost"]
    accumulated = Response.from_chunks(orx.Chunk.from_dict(c) for c in wire)
    assert accumulated.cost_source is None and accumulated.usage is not None
    price = Pricing(prompt=D("0.000001"), completion=D("0.000002"))
    expected = 5 * D("0.000001") + accumulated.usage.completion_tokens * D("0.000002")
    assert accumulated.with_pricing(price).cost_estimate == expected


# -- UsageTracker with pricing -------------------------------------------------------------------


def test_tracker_estimates_missing_costs_from_a_mapping() -> None:
    tracker = UsageTracker(pricing={"anthropic/claude-opus-4.5": OPUS})
    tracker.record(usage(1000, 200, cost="0.02"), "anthropic/claude-opus-4.5")  # reported
    tracker.record(usage(1000, 200), "anthropic/claude-opus-4.5")  # estimated: 0.01
    tracker.record(usage(10, 10), "other/model")  # no price known
    tracker.record(usage(10, 10))  # no model
    assert tracker.cost == D("0.03") and tracker.estimated_cost == D("0.01")
    opus = tracker.by_model["anthropic/claude-opus-4.5"]
    assert (opus.requests, opus.cost, opus.estimated_cost, opus.estimated_requests) == (2, D("0.03"), D("0.01"), 1)
    assert opus.reported_cost == D("0.02") and opus.unpriced_requests == 0
    assert tracker.by_model["other/model"] == UsageTotals(1, 10, 10, 20, 0, 0, D(0), D(0), 0, 1)
    assert tracker.by_model[UNKNOWN_MODEL].unpriced_requests == 1
    totals = tracker.totals()
    assert (totals.requests, totals.estimated_requests, totals.unpriced_requests) == (4, 1, 2)


def test_tracker_takes_a_lookup_function_and_skips_variable_pricing() -> None:
    asked: list[str] = []
    auto = Pricing.from_dict({"prompt": "-1", "completion": "-1"})

    def lookup(model: str) -> Pricing | None:
        asked.append(model)
        return {"a/opus": OPUS, "openrouter/auto": auto}.get(model)

    tracker = UsageTracker(pricing=lookup)
    tracker.record(usage(1000, 200), "a/opus")
    tracker.record(usage(1000, 200), "openrouter/auto")
    tracker.record(usage(1000, 200, cost=0.5), "a/opus")  # has a cost: no lookup
    assert asked == ["a/opus", "openrouter/auto"]
    assert tracker.cost == D("0.51") and tracker.estimated_cost == D("0.01")
    assert tracker.by_model["openrouter/auto"].unpriced_requests == 1


def test_summary_lists_cost_sources_only_when_something_was_estimated_or_unpriced() -> None:
    tracker = UsageTracker(pricing={"a/opus": OPUS})
    tracker.record(usage(1000, 200, cost="0.02"), "a/exact")
    tracker.record(usage(1000, 200), "a/opus")
    summary = tracker.summary()
    assert json.loads(json.dumps(summary)) == summary
    assert "estimated_cost" not in summary["by_model"]["a/exact"]
    assert summary["by_model"]["a/opus"]["estimated_cost"] == "0.01"
    assert (summary["cost"], summary["estimated_cost"], summary["estimated_requests"]) == ("0.03", "0.01", 1)
    assert summary["unpriced_requests"] == 0
    assert UsageTracker().summary() == {**UsageTotals().to_dict(), "by_model": {}}


def test_tracker_without_pricing_keeps_its_old_behaviour() -> None:
    tracker = UsageTracker()
    tracker.record(usage(3, 4), "m/a")
    tracker.record(usage(1, 1, cost=0.5), "m/a")
    assert tracker.cost == D("0.5") and tracker.estimated_cost == 0
    assert tracker.by_model["m/a"].unpriced_requests == 1


def test_tracker_estimates_are_exact_across_threads() -> None:
    tiny = Pricing(prompt=D("0.0000001"), completion=D("0.0000003"))
    tracker = UsageTracker(pricing={"m/t": tiny})
    start = threading.Barrier(4)

    def worker() -> None:
        start.wait(WAIT)
        for _ in range(500):
            tracker.record(usage(1, 1), "m/t")

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert not any(thread.is_alive() for thread in threads)
    assert tracker.cost == tracker.estimated_cost == D("0.0008")
    assert tracker.totals().estimated_requests == 2000


def test_track_usage_with_pricing_for_over_loopback(fake_openrouter: FakeOpenRouter) -> None:
    wire = text_chunks("alpha beta gamma", model="openai/gpt-4o-mini", prompt_tokens=20, cost=0.0)
    del wire[-1]["usage"]["cost"]
    with orx.Client(api_key="sk-or-v1-cost", base_url=fake_openrouter.base_url) as client:
        tracker = UsageTracker(pricing=client.pricing_for)
        client.models().pipe(ops.to_list()).run()  # fills the cache pricing_for reads
        fake_openrouter.enqueue(StreamReply(wire))
        client.stream("hi", model="openai/gpt-4o-mini").pipe(track_usage(tracker), ops.to_list()).run()
        completion_tokens = wire[-1]["usage"]["completion_tokens"]
        expected = 20 * D("0.00000015") + completion_tokens * D("0.0000006")
        totals = tracker.by_model["openai/gpt-4o-mini"]
        assert (totals.cost, totals.estimated_cost, totals.estimated_requests) == (expected, expected, 1)
        pricing = client.pricing_for("openai/gpt-4o-mini")
        assert pricing is not None
        assert [r.path for r in fake_openrouter.requests] == ["/api/v1/models", "/api/v1/chat/completions"]


# -- properties -------------------------------------------------------------------------------------

PROPERTY = settings(max_examples=150, deadline=None, derandomize=True, database=None)
PRICES = st.decimals(min_value=0, max_value=Decimal("0.001"), places=10, allow_nan=False, allow_infinity=False)
TOKENS = st.integers(min_value=0, max_value=2_000_000)


@PROPERTY
@given(
    prices=st.tuples(PRICES, PRICES, PRICES, PRICES, st.none() | PRICES, st.none() | PRICES),
    tokens=st.tuples(TOKENS, TOKENS, TOKENS, TOKENS, TOKENS),
)
def test_cost_matches_a_rational_oracle(
    prices: tuple[Decimal, Decimal, Decimal, Decimal, Decimal | None, Decimal | None],
    tokens: tuple[int, int, int, int, int],
) -> None:
    prompt, completion, request, reasoning_price, read, write = prices
    prompt_tokens, completion_tokens, cached, reasoning, written = tokens
    pricing = Pricing(
        prompt=prompt,
        completion=completion,
        request=request,
        internal_reasoning=reasoning_price,
        input_cache_read=read,
        input_cache_write=write,
    )
    measured = usage(prompt_tokens, completion_tokens, cached=cached, reasoning=reasoning, cache_write=written)
    # the oracle: exact fractions, counts clamped into what the prompt and completion hold
    cached_n = min(cached, prompt_tokens)
    written_n = min(written, prompt_tokens - cached_n)
    reasoning_n = min(reasoning, completion_tokens)
    f = Fraction
    expected = (
        (prompt_tokens - cached_n - written_n) * f(prompt)
        + cached_n * f(read if read is not None else prompt)
        + written_n * f(write if write is not None else prompt)
        + (completion_tokens - reasoning_n) * f(completion)
        + reasoning_n * f(reasoning_price if reasoning_price > 0 else completion)
        + f(request)
    )
    cost = pricing.cost(measured)
    assert Fraction(cost) == expected and cost >= 0
    assert cost == cost.normalize() or cost == cost.to_integral_value()  # no trailing zeros


def test_cost_is_exact_under_a_low_precision_context() -> None:
    price = Pricing(prompt=D("0.0000003833"), completion=D("0.0000012345"))
    with localcontext(prec=4):
        cost = price.cost(usage(123_457, 98_765))
    assert cost == D("0.0473210681") + D("0.1219253925")
