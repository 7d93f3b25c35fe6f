"""Review regressions (R3): model catalog lookups, pricing, cost and usage totals."""

from __future__ import annotations

import json
import logging
from decimal import Decimal, localcontext
from typing import Any

import pytest
import reactivex
from reactivex import operators as ops
from support import WAIT, Sink, recorded_root

import openrouter_rx as orx
from openrouter_rx._params import finisher
from openrouter_rx.chunk import Usage
from openrouter_rx.errors import IdleTimeout
from openrouter_rx.model_catalog import ModelCatalog
from openrouter_rx.models import Model, Pricing, parse_models
from openrouter_rx.response import Response
from openrouter_rx.testing import FakeOpenRouter, JSONReply, RawReply, completion_body, models_body, usage_dict
from openrouter_rx.usage import UsageTracker

D = Decimal


def entry(model_id: str, slug: str, prompt: str, completion: str) -> dict[str, Any]:
    return {
        "id": model_id,
        "canonical_slug": slug,
        "name": model_id,
        "pricing": {"prompt": prompt, "completion": completion},
    }


def catalog_of(models: tuple[Model, ...]) -> ModelCatalog:
    catalog = ModelCatalog(lambda: reactivex.just(models), ttl=None)
    assert len(catalog.models().pipe(ops.to_list()).run()) == len(models)
    return catalog


# A dated canonical slug that is no model's id, shared by a ":free" variant listed first and the
# paid model (as "arcee-ai/trinity-mini-20251201" is in the recorded list).
SHARED = parse_models(
    {
        "data": [
            entry("vendor/model:free", "vendor/model-20251201", "0", "0"),
            entry("vendor/model", "vendor/model-20251201", "0.000001", "0.000002"),
            entry("vendor/model:exacto", "vendor/model-20251201", "0.000003", "0.000004"),
        ]
    }
)


def test_a_shared_canonical_slug_names_the_base_model_not_a_variant() -> None:
    catalog = catalog_of(SHARED)
    base = catalog.get("vendor/model")
    assert base is not None
    assert catalog.get("vendor/model-20251201") is base
    assert catalog.pricing_for("vendor/model-20251201") == base.pricing  # not the ":free" price 0
    (info,) = catalog.model_info("vendor/model-20251201").pipe(ops.to_list()).run()
    assert info.id == "vendor/model"
    assert catalog.get("vendor/model:free") is not None and catalog.get("vendor/model:free") is not base


def test_a_slug_shared_only_by_variants_still_names_the_first() -> None:
    variants = parse_models(
        {"data": [entry("v/m:free", "v/m-1", "0", "0"), entry("v/m:thinking", "v/m-1", "0.000001", "0.000001")]}
    )
    catalog = catalog_of(variants)
    first = catalog.get("v/m-1")
    assert first is not None and first.id == "v/m:free"
    (info,) = catalog.model_info("v/m-1").pipe(ops.to_list()).run()
    assert info.id == "v/m:free"


def test_finisher_prices_a_response_reporting_the_canonical_slug_at_the_paid_price() -> None:
    catalog = catalog_of(SHARED)
    body = completion_body("hi", model="vendor/model-20251201")
    body["usage"] = usage_dict(1000, 100)
    del body["usage"]["cost"]
    finished = finisher(None, "vendor/model", catalog.pricing_for)(Response.from_completion(body))
    assert finished.cost_source == "pricing"
    assert finished.cost_estimate == 1000 * D("0.000001") + 100 * D("0.000002")


def test_recorded_canonical_slugs_never_price_a_paid_model_as_free() -> None:
    root = recorded_root()
    path = root / "models" / "body.json" if root is not None else None
    if path is None or not path.is_file():
        pytest.skip("the recorded model list (../shared/recorded/models) is not available")
    models = parse_models(json.loads(path.read_bytes()))
    catalog = catalog_of(models)
    checked = 0
    for model in models:
        slug = model.canonical_slug
        if slug is None or ":" in model.id or any(other.id == slug for other in models):
            continue
        found = catalog.get(slug)
        assert found is not None and ":" not in found.id, (slug, found)
        checked += 1
    assert checked > 0
    trinity = catalog.pricing_for("arcee-ai/trinity-mini-20251201")
    assert trinity is not None and trinity == catalog.pricing_for("arcee-ai/trinity-mini") and not trinity.is_free


def test_tracker_sums_exactly_under_a_low_precision_context() -> None:
    tracker = UsageTracker(pricing={"m/x": Pricing(prompt=D("0.000000123456789"), completion=D("0"))})
    with localcontext(prec=4):
        tracker.record(Usage(prompt_tokens=1, completion_tokens=0, cost=D("0.000123456")), "m/x")
        tracker.record(Usage(prompt_tokens=1, completion_tokens=0, cost=D("1000.000001")), "m/x")
        tracker.record(Usage(prompt_tokens=3, completion_tokens=0), "m/x")  # estimated: 3 x 0.000000123456789
        totals = tracker.totals()
        assert totals.cost == D("1000.000124826370367")
        assert totals.estimated_cost == D("0.000000370370367")
        assert totals.reported_cost == D("1000.000124456")
    assert tracker.summary()["cost"] == "1000.000124826370367"


def test_a_negative_secondary_price_gives_no_negative_estimate() -> None:
    odd = Pricing.from_dict({"prompt": "0.000001", "completion": "0.000002", "request": "-1"})
    assert odd.is_variable
    with pytest.raises(ValueError, match="variable"):
        odd.cost(Usage(prompt_tokens=10, completion_tokens=10))
    cache = Pricing.from_dict({"prompt": "0.000001", "completion": "0.000002", "input_cache_read": "-1"})
    assert cache.is_variable
    tracker = UsageTracker(pricing={"m/x": odd})
    tracker.record(Usage(prompt_tokens=10, completion_tokens=10), "m/x")
    assert tracker.cost == 0 and tracker.totals().unpriced_requests == 1


def test_a_negative_cache_write_count_is_ignored_like_the_other_counts() -> None:
    price = Pricing(prompt=D("0.000001"), completion=D("0.000002"), input_cache_write=D("0.00000125"))
    odd = Usage.from_dict(
        {"prompt_tokens": 100, "completion_tokens": 0, "prompt_tokens_details": {"cache_write_tokens": -50}}
    )
    assert price.cost(odd) == 100 * D("0.000001")  # not 150 fresh tokens minus 50 written
    negative_cached = Usage.from_dict({"prompt_tokens": 100, "prompt_tokens_details": {"cached_tokens": -50}})
    assert price.cost(negative_cached) == 100 * D("0.000001")


def test_a_subscriber_raising_in_on_completed_after_a_fetch_is_logged_not_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    catalog = ModelCatalog(lambda: reactivex.just(SHARED), ttl=0)  # every subscription fetches
    seen: list[str] = []
    errors: list[Exception] = []

    def on_completed() -> None:
        raise RuntimeError("completion bug")

    with caplog.at_level(logging.ERROR, logger="openrouter_rx"):
        catalog.models().subscribe(lambda model: seen.append(model.id), errors.append, on_completed)
    assert seen == [model.id for model in SHARED] and errors == []  # the sequence had completed
    (record,) = [r for r in caplog.records if r.exc_info is not None]
    assert "on_completed" in record.getMessage() and "completion bug" in str(record.exc_info[1])


KEY = "sk-or-v1-review-models-0123456789abcdef"


def test_a_stalled_model_list_times_out_for_every_waiter_without_showing_the_key(
    fake_openrouter: FakeOpenRouter, caplog: pytest.LogCaptureFixture
) -> None:
    body = json.dumps(models_body()).encode()
    fake_openrouter.enqueue(RawReply([body[:40], body[40:]], delay=WAIT, headers={"Content-Type": "application/json"}))
    fake_openrouter.enqueue(JSONReply(body))
    timeout = orx.Timeout(connect=2, idle=0.3)
    with caplog.at_level(logging.DEBUG, logger="openrouter_rx"):
        with orx.Client(api_key=KEY, base_url=fake_openrouter.base_url, timeout=timeout) as client:
            first = Sink().subscribe_to(client.models())
            fake_openrouter.wait_for_requests(1, WAIT)
            second = Sink().subscribe_to(client.models())  # joins the stalled fetch
            for sink in (first.wait(), second.wait()):
                assert isinstance(sink.error, IdleTimeout) and not sink.items
                assert KEY not in str(sink.error) and KEY not in repr(sink.error)
            assert client.pricing_for("openai/gpt-4o-mini") is None  # nothing cached
            again = Sink().subscribe_to(client.models()).ok()  # the next subscription fetches again
            assert again[0].id == "openai/gpt-4o-mini"
    assert len([r for r in fake_openrouter.requests if r.path.endswith("/models")]) == 2
    assert caplog.records and not any(KEY in record.getMessage() for record in caplog.records)
