"""structured_output(): marble tests in virtual time (model text, each local repair, refusal,
truncation, healing through a scripted healer, errors with err.partial, logging)."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import reactivex
from marshmallow import Schema, fields

import openrouter_rx as orx
from openrouter_rx.errors import StructuredOutputError
from openrouter_rx.operators._structured_output import structured_output
from openrouter_rx.structured import HealAttempt, JSONFormat, ResponseFormat
from openrouter_rx.testing import ChunkFactory, chunk_marbles, run_marbles


class City(Schema):
    name = fields.String(required=True)
    population = fields.Integer(required=True)


OSLO = {"name": "Oslo", "population": 709037}
GOOD = '{"name": "Oslo", "population": 709037}'
F = ChunkFactory()


def finish(reason: str) -> dict[str, Any]:
    return F.finish(reason)


def run_texts(*items: Any, operator: Any = None, end: str = "|", error: Exception | None = None) -> Any:
    marbles, lookup = chunk_marbles(list(items), end=end)
    return run_marbles(operator or structured_output(City), marbles, lookup, error=error)


def test_the_docstring_diagram() -> None:
    run = run_texts('{"na', 'me": "Os', 'lo", "population": 709037}')
    assert run.events == [(7, "N", OSLO), (7, "C", None)]


def test_a_whole_stream_with_role_finish_and_usage() -> None:
    run = run_texts(F.role(), *F.text(GOOD, pieces=7), finish("stop"), F.usage())
    assert run.values == [OSLO] and run.completed


@pytest.mark.parametrize(
    ("pieces", "repaired"),
    [
        (["```json\n", GOOD, "\n```"], GOOD),
        (["Sure! Here it is: ", GOOD, " Anything else?"], GOOD),
        (['{"name": "Oslo", ', '"population": 709037,}'], GOOD),
        (['{"name": "Oslo", "population": 709037, "note": "cut of', "f"], None),
    ],
    ids=["fence", "prose", "trailing-comma", "truncated"],
)
def test_each_local_repair(pieces: list[str], repaired: str | None) -> None:
    seen: list[HealAttempt] = []
    fmt = ResponseFormat(City, strict=False)
    run = run_texts(*pieces, operator=structured_output(fmt, on_attempt=seen.append))
    if repaired is None:  # truncated: the unknown "note" field fails, reported after the repair
        assert isinstance(run.error, StructuredOutputError)
        assert [(a.source, a.ok) for a in seen] == [("model", False), ("repair", False)]
        assert seen[1].text == '{"name": "Oslo", "population": 709037, "note": "cut off"}'
        assert run.error.messages == {"note": ["Unknown field."]}
        return
    assert run.values == [OSLO]
    assert [(a.source, a.ok) for a in seen] == [("model", False), ("repair", True)]
    assert seen[1].text == repaired and seen[1].value == OSLO


def test_repair_false_skips_local_repairs() -> None:
    seen: list[HealAttempt] = []
    run = run_texts("```json\n", GOOD, "\n```", operator=structured_output(City, repair=False, on_attempt=seen.append))
    assert isinstance(run.error, StructuredOutputError)
    assert [a.source for a in seen] == ["model"] == [a.source for a in run.error.attempts]


def test_a_failure_carries_the_partial_response() -> None:
    run = run_texts("not ", "json")
    error = run.error
    assert isinstance(error, StructuredOutputError)
    assert run.events[-1][0] == 5
    assert error.raw == "not json"
    assert error.partial is not None and error.partial.content == "not json"
    assert error.chunk_count == 2
    assert [a.source for a in error.attempts] == ["model"]


def test_truncated_by_max_tokens_is_said_in_the_message() -> None:
    run = run_texts('{"name": "Oslo", "popul', finish("length"))
    error = run.error
    assert isinstance(error, StructuredOutputError)
    assert "truncated by max_tokens" in str(error) and "length" in str(error)
    assert [(a.source, a.ok) for a in error.attempts] == [("model", False), ("repair", False)]
    assert error.messages == {"population": ["Missing data for required field."]}


def test_a_content_filter_stop_is_said_in_the_message() -> None:
    run = run_texts('{"name": "Oslo"', finish("content_filter"))
    assert isinstance(run.error, StructuredOutputError)
    assert "content filter" in str(run.error)
    assert "max_tokens" not in str(run.error)


def test_a_plain_failure_gives_no_reason() -> None:
    run = run_texts('{"name": "Oslo"}', finish("stop"))
    assert isinstance(run.error, StructuredOutputError)
    assert str(run.error).startswith("the reply does not match 'City'")


def test_a_truncated_reply_that_repairs_to_valid_data_is_emitted() -> None:
    run = run_texts('{"population": 709037, "name": "Oslo', finish("length"))
    assert run.values == [OSLO]  # the cut string is kept as far as it came


def test_a_refusal_fails_quoting_it() -> None:
    refusal = {"choices": [{"index": 0, "delta": {"refusal": "I can't help with that."}}]}
    run = run_texts(F.role(), refusal, finish("stop"))
    error = run.error
    assert isinstance(error, StructuredOutputError)
    assert "I can't help with that." in str(error)
    assert error.messages == {"_refusal": ["I can't help with that."]}
    assert error.attempts == []
    assert error.partial is not None and error.partial.refusal == "I can't help with that."


def test_stream_errors_pass_through_with_the_partial() -> None:
    boom = orx.StreamError("provider failed", code=502)
    run = run_texts('{"name": ', '"Os', end="#", error=boom)
    assert run.events == [(5, "E", boom)]
    assert boom.partial is not None and boom.partial.content == '{"name": "Os'


def test_another_choice() -> None:
    def wire(index: int, text: str) -> dict[str, Any]:
        return {"choices": [{"index": index, "delta": {"content": text}}]}

    run = run_texts(wire(0, "nope"), wire(1, GOOD), operator=structured_output(City, choice=1))
    assert run.values == [OSLO]


def test_a_raw_dict_format_only_needs_json() -> None:
    run = run_texts('{"any": ', "[1, 2]}", operator=structured_output({"type": "json_object"}))
    assert run.values == [{"any": [1, 2]}]
    assert isinstance(ResponseFormat.coerce({"type": "json_object"}), JSONFormat)


def test_on_attempt_raising_ends_the_stream_with_that_error() -> None:
    def explode(_: HealAttempt) -> None:
        raise RuntimeError("callback bug")

    run = run_texts(GOOD, operator=structured_output(City, on_attempt=explode))
    assert isinstance(run.error, RuntimeError) and str(run.error) == "callback bug"
    assert getattr(run.error, "partial", None) is not None


def test_a_schema_hook_raising_something_else_is_an_error_not_a_crash() -> None:
    class Fussy(Schema):
        name = fields.String(required=True)

        def load(self, *args: Any, **kwargs: Any) -> Any:
            raise KeyError("hook")

    run = run_texts('{"name": "x"}', operator=structured_output(ResponseFormat(Fussy)))
    assert isinstance(run.error, KeyError)


def test_a_subscriber_failing_on_the_value_gets_on_error() -> None:
    errors: list[Exception] = []

    def on_next(_: Any) -> None:
        raise RuntimeError("subscriber bug")

    chunks = [orx.Chunk.from_dict(c) for c in F.text(GOOD)]
    reactivex.from_iterable(chunks).pipe(structured_output(City)).subscribe(on_next, errors.append)
    assert [str(e) for e in errors] == ["subscriber bug"]


# -- healing (a scripted healer: marbles in the same virtual time) --------------------------------


class ScriptedHealer:
    """Answers ``heal`` with a marble string of attempts; records what it was asked."""

    def __init__(self, marbles: str, **attempts: HealAttempt) -> None:
        self.marbles = marbles
        self.attempts = attempts
        self.calls: list[tuple[str, Any]] = []
        self.disposed = 0

    def heal(self, raw: str, fmt: JSONFormat, messages: Any) -> reactivex.Observable[HealAttempt]:
        self.calls.append((raw, messages))
        lookup: dict[str | float, Any] = {name: attempt for name, attempt in self.attempts.items()}
        inner = reactivex.from_marbles(self.marbles, timespan=1.0, lookup=lookup)

        def subscribe(observer: Any, scheduler: Any = None) -> Any:
            subscription = inner.subscribe(observer, scheduler=scheduler)

            def dispose() -> None:
                self.disposed += 1
                subscription.dispose()

            return reactivex.disposable.Disposable(dispose)

        return reactivex.create(subscribe)


BAD_HEAL = HealAttempt("healer", "{}", False, messages={"name": ["Missing data for required field."]}, model="m")
GOOD_HEAL = HealAttempt("healer", GOOD, True, value=OSLO, model="m")


def test_healing_after_model_and_repair() -> None:
    healer = ScriptedHealer("--a--b|", a=BAD_HEAL, b=GOOD_HEAL)
    seen: list[HealAttempt] = []
    run = run_texts(
        '{"name": "Oslo", ',
        '"population": "many",}',
        operator=structured_output(City, heal=healer, on_attempt=seen.append),
    )
    assert run.events == [(10, "N", OSLO), (10, "C", None)]  # completion at 5, healer replies at +2 and +5
    assert [(a.source, a.ok) for a in seen] == [
        ("model", False),
        ("repair", False),
        ("healer", False),
        ("healer", True),
    ]
    # the healer gets the last attempt's text (the repaired one) and its errors
    assert healer.calls == [('{"name": "Oslo", "population": "many"}', {"population": ["Not a valid integer."]})]


def test_no_healer_call_when_the_model_text_is_fine() -> None:
    healer = ScriptedHealer("-a|", a=GOOD_HEAL)
    run = run_texts(GOOD, operator=structured_output(City, heal=healer))
    assert run.values == [OSLO] and healer.calls == []


def test_a_healer_that_fails_gives_every_attempt_in_order() -> None:
    healer = ScriptedHealer("-a-b|", a=BAD_HEAL, b=BAD_HEAL)
    run = run_texts("nope", finish("length"), operator=structured_output(City, heal=healer))
    error = run.error
    assert isinstance(error, StructuredOutputError)
    assert [a.source for a in error.attempts] == ["model", "healer", "healer"]
    assert error.messages == BAD_HEAL.messages
    assert error.raw == "nope"
    assert "truncated by max_tokens" in str(error)
    assert error.partial is not None and error.partial.content == "nope"


def test_a_healer_error_is_passed_on_with_the_partial() -> None:
    class Broken:
        def heal(self, raw: str, fmt: JSONFormat, messages: Any) -> reactivex.Observable[HealAttempt]:
            return reactivex.throw(RuntimeError("healer exploded"))

    run = run_texts("nope", operator=structured_output(City, heal=Broken()))
    assert isinstance(run.error, RuntimeError)
    assert getattr(run.error, "partial", None) is not None


def test_a_healer_raising_when_asked_is_an_error() -> None:
    class Raising:
        def heal(self, raw: str, fmt: JSONFormat, messages: Any) -> reactivex.Observable[HealAttempt]:
            raise RuntimeError("cannot heal")

    run = run_texts("nope", operator=structured_output(City, heal=Raising()))
    assert isinstance(run.error, RuntimeError) and str(run.error) == "cannot heal"
    assert getattr(run.error, "partial", None) is not None


def test_disposing_while_healing_disposes_the_healer() -> None:
    healer = ScriptedHealer("-----a|", a=GOOD_HEAL)
    marbles, lookup = chunk_marbles(["nope"])
    run = run_marbles(structured_output(City, heal=healer), marbles, lookup, dispose_at=5)
    assert run.events == []
    assert healer.disposed == 1


def test_on_attempt_raising_on_a_healer_attempt_stops_healing() -> None:
    def strict(attempt: HealAttempt) -> None:
        if attempt.source == "healer":
            raise RuntimeError("no healing allowed")

    healer = ScriptedHealer("-a-b|", a=BAD_HEAL, b=GOOD_HEAL)
    run = run_texts("nope", operator=structured_output(City, heal=healer, on_attempt=strict))
    assert isinstance(run.error, RuntimeError) and run.values == []
    assert healer.disposed == 1


# -- logging ---------------------------------------------------------------------------------------


def test_attempts_are_logged_with_the_text_cut(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="openrouter_rx")
    text = "x" * 500 + " " + GOOD
    run_texts(text)
    records = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "openrouter_rx"]
    assert [level for level, _ in records] == ["WARNING", "INFO"]
    assert "model attempt failed" in records[0][1] and f"({len(text)} characters)" in records[0][1]
    assert len(records[0][1]) < 400  # the text is cut to about 200 characters
    assert "repair succeeded" in records[1][1]


def test_a_plain_success_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="openrouter_rx")
    run_texts(GOOD)
    assert [r for r in caplog.records if r.name == "openrouter_rx"] == []
