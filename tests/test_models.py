"""The model catalog: Model/Pricing parsing (recorded list included), and client.models() over loopback.

Loopback tests check what the fake server saw (its request log), never durations; the TTL is
driven by replacing the catalog's clock. A gated reply holds a fetch open so that concurrent
subscriptions provably overlap it.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import reactivex
from hypothesis import given, settings
from hypothesis import strategies as st
from reactivex import operators as ops
from reactivex.scheduler import CurrentThreadScheduler
from support import WAIT, Sink, outcome, recorded_root

import openrouter_rx as orx
from openrouter_rx.errors import (
    AuthenticationError,
    NotFoundError,
    ProtocolError,
    ServerError,
    StreamError,
    TruncatedStreamError,
)
from openrouter_rx.model_catalog import ModelCatalog
from openrouter_rx.models import Model, Pricing, decode_models_body, parse_models
from openrouter_rx.testing import ErrorReply, FakeOpenRouter, JSONReply, Reply, ResponseWriter, models_body

KEY = "sk-or-v1-models-secret-0123456789abcdef"
DEFAULT_IDS = ["openai/gpt-4o-mini", "anthropic/claude-3.5-sonnet", "meta-llama/llama-3.1-8b-instruct"]


def recorded_models() -> dict[str, Any]:
    root = recorded_root()
    path = root / "models" / "body.json" if root is not None else None
    if path is None or not path.is_file():
        pytest.skip("the recorded model list (../shared/recorded/models) is not available")
    body: dict[str, Any] = json.loads(path.read_bytes())
    return body


class Clock:
    """A settable monotonic clock for the catalog's TTL."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class GatedReply(Reply):
    """Holds the reply until ``gate`` is set (bounded by WAIT), then sends ``reply``."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.gate = threading.Event()

    def write(self, out: ResponseWriter) -> None:
        self.gate.wait(WAIT)
        self.reply.write(out)


@pytest.fixture
def client(fake_openrouter: FakeOpenRouter) -> Iterator[orx.Client]:
    with orx.Client(api_key=KEY, base_url=fake_openrouter.base_url, timeout=orx.Timeout(connect=2, idle=5)) as c:
        yield c


def ids(models: list[Model]) -> list[str]:
    return [model.id for model in models]


def model_requests(fake: FakeOpenRouter) -> int:
    return sum(1 for request in fake.requests if request.path.endswith("/models"))


def run_list(observable: reactivex.Observable[Model]) -> list[Model]:
    items, error = outcome(observable)
    assert error is None, f"unexpected error: {error!r}"
    return items


# -- parsing ----------------------------------------------------------------------------------------


def test_model_from_dict_reads_every_field() -> None:
    entry = models_body()["data"][1]
    model = Model.from_dict(entry)
    assert (model.id, model.name, model.context_length, model.max_completion_tokens) == (
        "anthropic/claude-3.5-sonnet",
        "Anthropic: Claude 3.5 Sonnet",
        200000,
        16384,
    )
    assert model.pricing == Pricing(
        prompt=Decimal("0.000003"),
        completion=Decimal("0.000015"),
        input_cache_read=Decimal("0.0000003"),
        input_cache_write=Decimal("0.00000375"),
    )
    assert model.input_modalities == ("image", "text") and model.output_modalities == ("text",)
    assert model.supports("tools") and model.supports("structured_outputs") and not model.supports("logprobs")
    assert model.raw is entry and model.created == 1721260800 and model.description.startswith("Anthropic")


def test_model_from_dict_is_tolerant_of_odd_fields() -> None:
    model = Model.from_dict(
        {
            "id": "odd/model",
            "name": 7,
            "context_length": "lots",
            "created": "1700000000",
            "architecture": ["text"],
            "pricing": {"prompt": "0.000001"},
            "top_provider": {"context_length": 4096, "max_completion_tokens": 1.0},
            "supported_parameters": ["tools", 3, None],
        }
    )
    assert (model.name, model.context_length, model.created) == ("odd/model", 4096, 1700000000)
    assert model.max_completion_tokens == 1 and model.input_modalities == ()
    assert model.supported_parameters == ("tools",) and model.pricing.is_variable  # no completion price
    bare = Model.from_dict({"id": "bare/model"})
    assert bare.context_length is None and bare.pricing.is_variable and bare.supported_parameters == ()
    for bad in ({}, {"id": ""}, {"id": 5}, ["id"]):
        with pytest.raises(ValueError, match="id"):
            Model.from_dict(bad)  # type: ignore[arg-type]


def test_recorded_model_list_parses_completely() -> None:
    body = recorded_models()
    models = [Model.from_dict(entry) for entry in body["data"]]
    assert len(models) == len(body["data"]) == 353
    assert len({model.id for model in models}) == len(models)
    for model, entry in zip(models, body["data"], strict=True):
        for name, text in entry["pricing"].items():
            value = getattr(model.pricing, name)
            assert isinstance(value, Decimal) and value == Decimal(text), (model.id, name)
        assert model.context_length == entry["context_length"]
    by_id = {model.id: model for model in models}
    opus = by_id["anthropic/claude-opus-4.5"]
    assert opus.supports("tools") and "tools" in opus.raw["supported_parameters"]
    assert opus.pricing.per_million()["prompt"] == Decimal(5) and opus.pricing.web_search == Decimal("0.01")
    assert opus.canonical_slug == "anthropic/claude-4.5-opus-20251124"
    assert {model.id for model in models if model.pricing.is_variable} == {"openrouter/auto", "openrouter/bodybuilder"}
    assert not by_id["openrouter/auto"].supports("tools")


def test_recorded_model_list_decodes_without_warnings(caplog: pytest.LogCaptureFixture) -> None:
    body = recorded_models()
    raw = json.dumps(body).encode()
    with caplog.at_level(logging.WARNING, logger="openrouter_rx"):
        models = decode_models_body(b"\n\n" + raw, len(raw) + 2)
    assert ids(list(models)) == [entry["id"] for entry in body["data"]]
    assert not caplog.records


def test_malformed_entries_are_skipped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    good = models_body()["data"]
    broken = [
        "not an object",
        {"name": "no id", "pricing": {"prompt": "0", "completion": "0"}},
        {"id": "no/pricing"},
        {"id": "bad/price", "pricing": {"prompt": "cheap", "completion": "0"}},
        {"id": "bad/params", "pricing": {"prompt": "0", "completion": "0"}, "supported_parameters": "tools"},
        dict(good[0]),  # a repeated id keeps the first
    ]
    with caplog.at_level(logging.WARNING, logger="openrouter_rx"):
        models = parse_models({"data": [good[0], *broken, good[1]]})
    assert ids(list(models)) == DEFAULT_IDS[:2]
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == len(broken)
    assert "#0" not in " ".join(messages) and "#1" in messages[0] and "'no/pricing'" in messages[2]
    assert "listed twice" in messages[-1] and all(r.levelno == logging.WARNING for r in caplog.records)


@pytest.mark.parametrize(
    ("body", "error", "text"),
    [
        (b"<html>Bad gateway</html>", ProtocolError, "not valid JSON"),
        (b"[1, 2]", ProtocolError, "not an object"),
        (b'{"data": {"id": "x"}}', ProtocolError, "invalid model list"),
        (b'{"models": []}', ProtocolError, "invalid model list"),
        (b"  \n ", TruncatedStreamError, "empty"),
        (b'{"error": {"code": 502, "message": "upstream down"}}', StreamError, "upstream down"),
    ],
)
def test_bodies_that_are_not_a_model_list(body: bytes, error: type[Exception], text: str) -> None:
    with pytest.raises(error, match=text):
        decode_models_body(body, 1000)
    with pytest.raises(ProtocolError, match="exceeded 3 bytes"):
        decode_models_body(b'{"data": []}', 3)


# -- client.models() over loopback -----------------------------------------------------------------


def test_models_lists_the_catalog_with_the_auth_header(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    models = run_list(client.models())
    assert ids(models) == DEFAULT_IDS
    assert models[0].pricing.prompt == Decimal("0.00000015") and models[0].supports("response_format")
    (request,) = fake_openrouter.requests
    assert (request.method, request.path, request.body) == ("GET", "/api/v1/models", b"")
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert request.headers["Accept"] == "application/json" and "Content-Type" not in request.headers


def test_recorded_list_over_loopback(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    body = recorded_models()
    fake_openrouter.enqueue(JSONReply(json.dumps(body).encode()))
    models = run_list(client.models())
    assert len(models) == 353 and client.pricing_for("openrouter/auto") is None
    assert client.pricing_for("anthropic/claude-opus-4.5") == client.pricing_for("anthropic/claude-4.5-opus-20251124")


def test_cache_hit_within_ttl_and_refetch_after(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    clock = Clock()
    client.model_catalog.clock = clock
    assert client.model_catalog.ttl == 300.0
    first = run_list(client.models())
    clock.now += 299.9
    assert run_list(client.models()) == first and client.model_catalog.is_fresh
    assert ids(run_list(client.model_info("openai/gpt-4o-mini"))) == ["openai/gpt-4o-mini"]
    assert model_requests(fake_openrouter) == 1  # within the TTL: no request
    clock.now += 0.1
    assert not client.model_catalog.is_fresh
    fake_openrouter.enqueue(JSONReply(models_body(["new/model"])))
    assert ids(run_list(client.models())) == ["new/model"]
    assert model_requests(fake_openrouter) == 2
    assert ids(run_list(client.models())) == ["new/model"] and model_requests(fake_openrouter) == 2


def test_refresh_forces_a_request(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    run_list(client.models())
    fake_openrouter.enqueue(JSONReply(models_body(["fresh/model"])))
    assert ids(run_list(client.models(refresh=True))) == ["fresh/model"]
    assert ids(run_list(client.models())) == ["fresh/model"]  # the refreshed list is the cache now
    assert model_requests(fake_openrouter) == 2


def test_models_ttl_argument(fake_openrouter: FakeOpenRouter) -> None:
    with orx.Client(api_key=KEY, base_url=fake_openrouter.base_url, models_ttl=0) as uncached:
        run_list(uncached.models())
        run_list(uncached.models())
        assert model_requests(fake_openrouter) == 2
    with orx.Client(base_url=fake_openrouter.base_url, models_ttl=None) as forever:
        forever.model_catalog.clock = clock = Clock()
        run_list(forever.models())
        clock.now += 10**9
        run_list(forever.models())
        assert model_requests(fake_openrouter) == 3
        forever.model_catalog.invalidate()
        run_list(forever.models())
        assert model_requests(fake_openrouter) == 4
    with pytest.raises(ValueError, match="models_ttl"):
        orx.Client(base_url=fake_openrouter.base_url, models_ttl=-1)


def test_concurrent_subscribers_share_one_request(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    gated = GatedReply(JSONReply(models_body()))
    fake_openrouter.enqueue(gated)
    first = Sink().subscribe_to(client.models())
    fake_openrouter.wait_for_requests(1, WAIT)  # the fetch is in flight, held by the gate
    second = Sink().subscribe_to(client.models())
    third = Sink().subscribe_to(client.models(refresh=True))  # joins the running fetch too
    gated.gate.set()
    for sink in (first, second, third):
        assert ids(sink.ok()) == DEFAULT_IDS
    assert model_requests(fake_openrouter) == 1
    assert first.items[0] is second.items[0]  # the same parsed list


def test_an_error_reaches_every_waiter_and_is_not_cached(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    gated = GatedReply(ErrorReply(500, "database on fire"))
    fake_openrouter.enqueue(gated)
    first = Sink().subscribe_to(client.models())
    fake_openrouter.wait_for_requests(1, WAIT)
    second = Sink().subscribe_to(client.models())
    gated.gate.set()
    for sink in (first.wait(), second.wait()):
        assert isinstance(sink.error, ServerError) and sink.error.status == 500
        assert "database on fire" in str(sink.error) and not sink.items
    assert client.pricing_for("openai/gpt-4o-mini") is None
    assert ids(run_list(client.models())) == DEFAULT_IDS  # the next subscription fetches again
    assert model_requests(fake_openrouter) == 2


def test_disposing_one_waiter_keeps_the_fetch_for_the_other(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    gated = GatedReply(JSONReply(models_body()))
    fake_openrouter.enqueue(gated)
    leaving = Sink()
    handle = client.models().subscribe(leaving.on_next, leaving.on_error, leaving.on_completed)
    fake_openrouter.wait_for_requests(1, WAIT)
    staying = Sink().subscribe_to(client.models())
    handle.dispose()
    gated.gate.set()
    assert ids(staying.ok()) == DEFAULT_IDS
    assert leaving.items == [] and not leaving.done.is_set()
    assert model_requests(fake_openrouter) == 1


def test_disposing_every_waiter_cancels_the_fetch(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    gated = GatedReply(JSONReply(models_body()))
    fake_openrouter.enqueue(gated)
    sink = Sink()
    handle = client.models().subscribe(sink.on_next, sink.on_error, sink.on_completed)
    (request,) = fake_openrouter.wait_for_requests(1, WAIT)
    handle.dispose()
    gated.gate.set()
    assert request.finished.wait(WAIT)
    assert not sink.items and not sink.done.is_set() and client.model_catalog.cached() is None
    assert ids(run_list(client.models())) == DEFAULT_IDS  # a new subscription starts a new fetch
    assert model_requests(fake_openrouter) == 2


def test_take_from_the_cache_and_a_raising_subscriber(client: orx.Client) -> None:
    run_list(client.models())
    assert ids(run_list(client.models().pipe(ops.take(1)))) == DEFAULT_IDS[:1]
    sync = Sink().subscribe_to(client.models(), scheduler=CurrentThreadScheduler())
    assert ids(sync.ok()) == DEFAULT_IDS

    def boom(_: Model) -> None:
        raise RuntimeError("subscriber bug")

    for source in (client.models(), client.models(refresh=True)):  # from the cache, from a fetch
        raising = Sink()
        source.subscribe(boom, raising.on_error, raising.on_completed)
        assert isinstance(raising.wait().error, RuntimeError) and str(raising.error) == "subscriber bug"


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (ErrorReply(404, "Not Found"), NotFoundError),
        (ErrorReply(401, "No auth credentials found"), AuthenticationError),
        (ErrorReply(500), ServerError),
        (JSONReply(b"<html>Bad gateway</html>"), ProtocolError),
        (JSONReply({"data": "nope"}), ProtocolError),
    ],
)
def test_typed_errors_never_show_the_key(
    fake_openrouter: FakeOpenRouter, client: orx.Client, reply: Reply, error: type[Exception]
) -> None:
    fake_openrouter.enqueue(reply)
    items, failure = outcome(client.models())
    assert items == [] and isinstance(failure, error)
    for text in (str(failure), repr(failure), repr(vars(failure)), repr(client), repr(client.model_catalog)):
        assert KEY not in text and KEY[-12:] not in text


def test_model_info_hit_and_miss(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    (hit,) = run_list(client.model_info("anthropic/claude-3.5-sonnet"))
    assert hit.id == "anthropic/claude-3.5-sonnet"
    items, error = outcome(client.model_info("openai/gpt-4o-mimi"))
    assert items == [] and isinstance(error, NotFoundError) and error.status == 404
    assert "'openai/gpt-4o-mimi'" in str(error) and "close matches: openai/gpt-4o-mini" in str(error)
    _, short = outcome(client.model_info("claude-3.5-sonnet"))
    assert isinstance(short, NotFoundError) and "anthropic/claude-3.5-sonnet" in str(short)
    _, nothing = outcome(client.model_info("zzzzzz"))
    assert isinstance(nothing, NotFoundError) and "close matches" not in str(nothing)
    assert model_requests(fake_openrouter) == 1


def test_pricing_for_reads_the_cache_only(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    assert client.pricing_for("openai/gpt-4o-mini") is None
    client.models(), client.model_info("openai/gpt-4o-mini")  # cold: nothing is sent before subscribe
    assert fake_openrouter.requests == []  # pricing_for never fetches
    run_list(client.models())
    pricing = client.pricing_for("openai/gpt-4o-mini")
    assert pricing is not None and pricing.completion == Decimal("0.0000006")
    assert pricing.input_cache_read == Decimal("0.000000075")
    assert client.pricing_for("unknown/model") is None
    client.model_catalog.invalidate()  # stale, yet still answers without a request
    assert client.pricing_for("openai/gpt-4o-mini") == pricing and model_requests(fake_openrouter) == 1


def test_catalog_with_a_closed_client(fake_openrouter: FakeOpenRouter) -> None:
    closed = orx.Client(base_url=fake_openrouter.base_url)
    closed.close()
    items, error = outcome(closed.models())
    assert items == [] and isinstance(error, RuntimeError) and "closed" in str(error)


def test_catalog_on_its_own() -> None:
    fetched: list[int] = []

    def fetch() -> reactivex.Observable[tuple[Model, ...]]:
        fetched.append(1)
        return reactivex.just(parse_models(models_body(["a/one", "b/two"])))

    catalog = ModelCatalog(fetch, ttl=10, clock=Clock())
    assert "cached=None" in repr(catalog) and catalog.get("a/one") is None
    assert ids(run_list(catalog.models())) == ["a/one", "b/two"]
    assert ids(run_list(catalog.models())) == ["a/one", "b/two"] and len(fetched) == 1
    assert catalog.get("b/two") is not None and "cached=2" in repr(catalog)


# -- robustness ---------------------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=12,
)
FIELDS = [
    "id", "name", "created", "description", "context_length", "architecture", "pricing",
    "top_provider", "supported_parameters", "canonical_slug",
]  # fmt: skip
ENTRY = st.fixed_dictionaries(
    {},
    optional={
        **{name: JSON for name in FIELDS},
        "id": st.text(min_size=1, max_size=8) | JSON,
        "pricing": st.dictionaries(st.sampled_from(["prompt", "completion", "request", "input_cache_read"]), JSON),
        "supported_parameters": st.lists(st.text(max_size=6) | JSON, max_size=3),
    },
)


@settings(max_examples=100, deadline=None, derandomize=True, database=None)
@given(entries=st.lists(ENTRY | JSON, max_size=6))
def test_odd_entries_never_break_the_list(entries: list[Any]) -> None:
    models = parse_models({"data": entries})  # malformed entries are skipped, never raised
    listed = [e["id"] for e in entries if isinstance(e, dict) and isinstance(e.get("id"), str) and e["id"]]
    assert {model.id for model in models} <= set(listed)
    for entry in entries:
        if isinstance(entry, dict) and isinstance(entry.get("id"), str) and entry["id"]:
            model = Model.from_dict(entry)  # tolerant: any odd field takes its default
            assert model.id == entry["id"] and all(isinstance(p, str) for p in model.supported_parameters)
            assert isinstance(model.pricing.prompt, Decimal) and model.pricing.prompt.is_finite()
