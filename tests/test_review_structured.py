"""Review regressions for structured outputs, repairs, healing and partial JSON (issue 4)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from marshmallow import Schema, ValidationError, fields, validates_schema
from support import WAIT, Sink, collect

import openrouter_rx as orx
from openrouter_rx._repair import loads_strict, repair_json
from openrouter_rx.errors import StructuredOutputError
from openrouter_rx.healer import Healer
from openrouter_rx.operators._partial_json import partial_json
from openrouter_rx.operators._structured_output import structured_output
from openrouter_rx.structured import ResponseFormat, summarize_messages
from openrouter_rx.testing import (
    ChunkFactory,
    CompletionReply,
    FakeOpenRouter,
    StreamReply,
    chunk_marbles,
    completion_body,
    run_marbles,
    text_chunks,
)

KEY = "sk-or-v1-review-structured-0123456789"
GOOD = '{"name": "Oslo", "population": 709037}'


class Snippet(Schema):
    code = fields.String(required=True)


class City(Schema):
    name = fields.String(required=True)
    population = fields.Integer(required=True)


# --- repair_json -------------------------------------------------------------------------------


def test_a_fenced_reply_whose_json_holds_a_code_fence_keeps_the_string() -> None:
    # A model answering with code puts ``` inside a JSON string; the outer fence must not end there.
    text = '```json\n{"code": "```python\\nprint(1)\\n```"}\n```'
    assert repair_json(text) == '{"code": "```python\\nprint(1)\\n```"}'
    assert ResponseFormat(Snippet).parse(text) == {"code": "```python\nprint(1)\n```"}


def test_a_fenced_reply_with_inner_fence_and_prose_after_the_closing_fence() -> None:
    text = 'Here:\n```json\n{"code": "```sh\\nls\\n```"}\n```\nThat prints {the files}.'
    assert repair_json(text) == '{"code": "```sh\\nls\\n```"}'


def test_a_fenced_truncated_reply_is_still_closed_at_the_fence() -> None:
    assert repair_json('```json\n{"a": [1, 2\n```\n') == '{"a": [1, 2]}'
    assert repair_json('```json\n{"a": "x\n```') is None  # a raw newline in a string is no JSON


@pytest.mark.parametrize(
    "text",
    ["{" * 200_000, "x{" * 100_000, "[" * 200_000, "[1, " * 50_000, '{"a": ' * 50_000],
    ids=["braces", "prose-braces", "brackets", "nested-arrays", "nested-objects"],
)
def test_huge_nested_or_junk_inputs_are_linear_and_never_raise(text: str) -> None:
    # Each of these took minutes (quadratic bookkeeping at every bracket) or raised RecursionError.
    result = repair_json(text)
    assert result is None or isinstance(loads_strict(result), (dict, list))


def test_deeply_nested_valid_json_is_a_json_error_not_a_recursion_error() -> None:
    text = "[" * 5000 + "]" * 5000
    with pytest.raises(ValueError, match="nest"):
        loads_strict(text)
    assert repair_json(text) is None
    with pytest.raises(StructuredOutputError) as caught:
        ResponseFormat(Snippet).parse(text)
    assert caught.value.raw == text and caught.value.attempts


def test_deep_nesting_in_the_prose_after_the_document_does_not_raise() -> None:
    assert repair_json('{"a": 1} then x ' + '{"a":' * 100_000) == '{"a": 1}'


@pytest.mark.parametrize("unit", ['{"a": "', "{"], ids=["strings", "braces"])
def test_many_braces_in_the_prose_after_the_document_stay_linear(unit: str) -> None:
    # Each failed decode from a "{" raised a JSONDecodeError that counts the lines before it:
    # 160 000 of them took about 30 s.
    assert repair_json('{"a": 1} then x ' + unit * 160_000) == '{"a": 1}'


def test_an_object_after_the_document_is_still_seen_behind_some_code_braces() -> None:
    assert repair_json('{"a": 1}\nlike f() { g() } and {"b": 2}') is None


@pytest.mark.parametrize("space", ["\u00a0", "\u2028", "\u3000", "\x85"], ids=["nbsp", "ls", "ideographic", "nel"])
def test_unicode_space_around_the_json_is_repaired_away(space: str) -> None:
    # repair_json strips them (not JSON whitespace), but the repaired text was compared with
    # str.strip() of the text, found "unchanged", and never tried.
    fmt = ResponseFormat(City)
    for text in (GOOD + space, space + GOOD):
        assert fmt.parse(text) == HEALED
        assert [a.source for a in fmt.attempts(text)] == ["model", "repair"]


class Scores(Schema):
    scores = fields.List(fields.Integer(), required=True)

    @validates_schema(skip_on_field_errors=False)
    def _check(self, data: Any, **_: Any) -> None:
        raise ValidationError("scores must be rising", "scores")


def test_messages_with_index_and_string_keys_give_a_structured_output_error() -> None:
    # marshmallow mixes int keys (list items) and "_schema" in one dict; summarize_messages
    # sorted the keys and raised TypeError, so parse() raised TypeError instead.
    text = '{"scores": ["x", 2]}'
    with pytest.raises(StructuredOutputError) as caught:
        ResponseFormat(Scores).parse(text)
    assert caught.value.messages == {"scores": {0: ["Not a valid integer."], "_schema": ["scores must be rising"]}}
    assert "scores must be rising" in str(caught.value) and caught.value.raw == text
    assert "Not a valid integer." in summarize_messages(caught.value.messages)


def test_the_operator_fails_with_the_error_on_such_messages() -> None:
    marbles, lookup = chunk_marbles(['{"scores": ', '["x", 2]}'])
    run = run_marbles(structured_output(Scores), marbles, lookup)
    assert isinstance(run.error, StructuredOutputError)
    assert run.error.partial is not None and run.error.partial.content == '{"scores": ["x", 2]}'


# --- partial_json ----------------------------------------------------------------------------


def test_partial_json_ignores_reasoning_and_tool_calls_interleaved_with_the_content() -> None:
    f = ChunkFactory()
    items = [
        *f.reasoning('Plan: emit {"name": "Bergen"} maybe [1, 2'),
        *f.text('{"name": "Os', pieces=4),
        *f.reasoning("} still thinking {"),
        *f.tool_calls([{"name": "lookup", "arguments": {"city": "Oslo"}}]),
        *f.text('lo", "population": 709037}', pieces=5),
        f.finish(),
    ]
    marbles, lookup = chunk_marbles(items)
    run = run_marbles(partial_json(), marbles, lookup)
    assert run.values[-1] == HEALED and run.completed
    assert all(value.get("name", "Os").startswith("Os") for value in run.values)


def test_partial_json_of_choice_one_while_choice_zero_reasons_and_refuses() -> None:
    f = ChunkFactory()
    items = [
        *f.text('{"name": "Oslo", ', pieces=3, index=1),
        f.chunk({"role": "assistant", "content": "", "reasoning": "{not json"}, index=0),
        f.chunk({"role": "assistant", "content": "", "refusal": "no"}, index=0),
        *f.text('"population": 709037}', pieces=3, index=1),
    ]
    marbles, lookup = chunk_marbles(items)
    assert run_marbles(partial_json(1), marbles, lookup).values[-1] == HEALED
    assert run_marbles(partial_json(0), marbles, lookup).values == []


# --- Healer --------------------------------------------------------------------------------------


BROKEN = '{"name": "Oslo", "population": "many"}'
HEALED = {"name": "Oslo", "population": 709037}


@pytest.fixture
def client(fake_openrouter: FakeOpenRouter) -> Iterator[orx.Client]:
    with orx.Client(api_key=KEY, base_url=fake_openrouter.base_url, timeout=orx.Timeout(connect=2, idle=5)) as c:
        yield c


def test_a_prose_healer_reply_is_not_what_the_next_call_fixes(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    # The next call used to get the prose as "the text to fix": the model's data was gone.
    fake_openrouter.enqueue(
        StreamReply(text_chunks(BROKEN)),
        CompletionReply(completion_body("Sorry, I cannot help with that.")),
        CompletionReply(completion_body(json.dumps(HEALED))),
    )
    sink = collect(client.stream("Oslo?").pipe(structured_output(City, heal=Healer(client, max_attempts=2))))
    assert sink.ok() == [HEALED]
    second = fake_openrouter.requests[2].json["messages"][1]["content"]
    assert BROKEN in second and "Not a valid integer." in second
    assert "Sorry, I cannot" not in second


def test_a_healer_that_only_ever_replies_prose_fails_with_every_attempt(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    fake_openrouter.enqueue(
        StreamReply(text_chunks(BROKEN)),
        CompletionReply(completion_body("No.")),
        CompletionReply(completion_body("Still no.")),
    )
    sink = collect(client.stream("Oslo?").pipe(structured_output(City, heal=Healer(client, max_attempts=2))))
    error = sink.error
    assert isinstance(error, StructuredOutputError)
    tried = [(a.source, a.text) for a in error.attempts]
    assert tried == [("model", BROKEN), ("healer", "No."), ("healer", "Still no.")]
    assert error.raw == BROKEN and error.partial is not None and error.partial.content == BROKEN
    assert all(BROKEN in request.json["messages"][1]["content"] for request in fake_openrouter.requests[1:])
    assert all(KEY not in json.dumps(request.json) for request in fake_openrouter.requests)


@pytest.mark.parametrize(
    "prose",
    ["Here is the data for [Oslo]:\n", "Result (see [1]):\n", "Data {for you}:\n"],
    ids=["word", "cite", "brace"],
)
def test_a_fence_after_bracketed_prose_is_still_unwrapped(prose: str) -> None:
    assert repair_json(prose + '```json\n{"a": [1, 2]}\n```\nDone.') == '{"a": [1, 2]}'


def test_a_fence_inside_a_json_string_is_left_alone() -> None:
    assert repair_json('{"a": "```json\\n{}\\n```",}') == '{"a": "```json\\n{}\\n```"}'
    assert repair_json('{"a": "```json\\n{\\"b\\": 1}') == '{"a": "```json\\n{\\"b\\": 1}"}'


def test_a_hanging_healer_is_ended_by_the_clients_timeout(fake_openrouter: FakeOpenRouter) -> None:
    fake_openrouter.enqueue(
        StreamReply(text_chunks(BROKEN)), CompletionReply(completion_body(json.dumps(HEALED)), delay=5)
    )
    with orx.Client(api_key=KEY, base_url=fake_openrouter.base_url, timeout=orx.Timeout(connect=2, idle=0.3)) as c:
        sink = collect(c.stream("Oslo?").pipe(structured_output(City, heal=Healer(c, max_attempts=3))))
    error = sink.error
    assert isinstance(error, StructuredOutputError)
    assert [a.source for a in error.attempts] == ["model", "healer"]
    [why] = error.attempts[1].messages["_request"]
    assert "Timeout" in why and KEY not in why
    assert len(fake_openrouter.requests) == 2  # no second call after a failed request


def test_a_healer_may_ask_for_another_response_format(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    # A healer model without json_schema support needs json_object; passing it used to fail every
    # heal with "got multiple values for keyword argument 'response_format'".
    fake_openrouter.enqueue(StreamReply(text_chunks(BROKEN)), CompletionReply(completion_body(json.dumps(HEALED))))
    healer = Healer(client, response_format={"type": "json_object"}, temperature=0.1, timeout=orx.Timeout(idle=3))
    sink = collect(client.stream("Oslo?").pipe(structured_output(City, heal=healer)))
    assert sink.ok() == [HEALED]
    body = fake_openrouter.requests[1].json
    assert body["response_format"] == {"type": "json_object"} and body["temperature"] == 0.1
    assert "timeout" not in body
    assert '"name": "City"' in body["messages"][1]["content"]  # the schema is still in the prompt


def test_disposing_while_a_healer_request_is_in_flight_cancels_it(
    fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    fake_openrouter.enqueue(
        StreamReply(text_chunks(BROKEN)),
        CompletionReply(completion_body(json.dumps(HEALED)), delay=0.2, leading_whitespace=20),
    )
    sink = Sink()
    subscription = (
        client.stream("Oslo?")
        .pipe(structured_output(City, heal=Healer(client)))
        .subscribe(sink.on_next, sink.on_error, sink.on_completed)
    )
    healer_request = fake_openrouter.wait_for_requests(2, timeout=WAIT)[1]
    subscription.dispose()
    assert healer_request.wait_disconnected(WAIT)
    assert healer_request.wait_finished(WAIT)
    assert sink.items == [] and sink.error is None and not sink.completed


@pytest.mark.parametrize(
    ("tail", "kept"),
    [("x", "x"), ("", ""), ("\\", ""), ("\\u00", ""), ("\\ud83d", ""), ("\\ud83d\\ude", "")],
    ids=["letter", "even", "odd", "half-u", "high-surrogate", "half-pair"],
)
def test_a_cut_string_after_a_long_run_of_backslashes_is_closed_in_linear_time(tail: str, kept: str) -> None:
    # The escape patterns started with (\\+) and were searched over the whole token: quadratic
    # (40 000 backslashes took 30 s).
    run = "\\" * 200_000
    assert repair_json('{"a": "' + run + tail) == '{"a": "' + run + kept + '"}'


@pytest.mark.parametrize(
    ("text", "repaired"),
    [
        ('{"a": 1}\n\nTo use it:\n```python\nprint(data["a"])\n```', '{"a": 1}'),
        ("[12]\n```", "[12]"),
        ('{"a": 1}\n```json\n{"b": 2}\n```', None),  # two documents: which one was meant?
    ],
    ids=["code-after", "stray-fence", "two-documents"],
)
def test_json_followed_by_a_fence_in_the_prose(text: str, repaired: str | None) -> None:
    assert repair_json(text) == repaired


def test_a_broken_json_string_holding_a_fence_is_not_replaced_by_the_fence_body() -> None:
    # a raw newline makes the cut string invalid; the fence is inside it, not around the JSON
    assert repair_json('{"code": "```json\n{"x": 1') is None


@pytest.mark.parametrize("content", ["", " \n "], ids=["empty", "blank"])
def test_an_empty_reply_is_not_sent_to_the_healer(
    fake_openrouter: FakeOpenRouter, client: orx.Client, content: str
) -> None:
    # With nothing to fix, a healer model can only invent the data, which then passed as valid.
    f = ChunkFactory()
    chunks = [f.role(), *(f.text(content, pieces=[content]) if content else []), f.finish("stop")]
    fake_openrouter.enqueue(StreamReply(chunks), CompletionReply(completion_body(json.dumps(HEALED))))
    sink = collect(client.stream("Oslo?").pipe(structured_output(City, heal=Healer(client))))
    error = sink.wait().error
    assert isinstance(error, StructuredOutputError)
    assert [a.source for a in error.attempts] == ["model"]
    assert str(error).startswith("the reply has no content; ")
    assert len(fake_openrouter.requests) == 1


def test_response_parse_says_the_reply_had_no_content_but_tool_calls() -> None:
    f = ChunkFactory()
    items = [*f.tool_calls([{"name": "lookup", "arguments": {"city": "Oslo"}}]), f.finish("tool_calls")]
    marbles, lookup = chunk_marbles(items)
    run = run_marbles(structured_output(City), marbles, lookup)
    assert isinstance(run.error, StructuredOutputError)
    assert str(run.error).startswith("the reply has no content (the model asked for tool calls); ")
    assert run.error.partial is not None
    with pytest.raises(StructuredOutputError, match="asked for tool calls"):
        run.error.partial.parse(City)
