"""CompletionOptions: only what is set is sent, merging, dict conversion; StreamStart."""

from __future__ import annotations

import dataclasses

import pytest
from marshmallow import Schema, fields

import openrouter_rx as orx
from openrouter_rx.options import CompletionOptions, StreamStart
from openrouter_rx.testing import FakeOpenRouter, StreamReply, text_chunks


class Answer(Schema):
    text = fields.String(required=True)


def test_to_params_has_only_the_fields_that_are_set() -> None:
    assert CompletionOptions().to_params() == {}
    opts = CompletionOptions(model="m", temperature=0.0, max_tokens=0, stop=["\n"], seed=0, logprobs=False)
    assert opts.to_params() == {
        "model": "m",
        "temperature": 0.0,
        "max_tokens": 0,
        "stop": ["\n"],
        "seed": 0,
        "logprobs": False,
    }


def test_the_ruby_gems_body_fields_are_there() -> None:
    names = set(CompletionOptions.field_names())
    ruby = {
        "model", "tools", "tool_choice", "temperature", "top_p", "top_k", "frequency_penalty", "presence_penalty",
        "repetition_penalty", "min_p", "top_a", "seed", "max_tokens", "max_completion_tokens", "stop", "logprobs",
        "top_logprobs", "logit_bias", "response_format", "parallel_tool_calls", "verbosity", "provider",
        "transforms", "plugins", "prediction", "route", "metadata", "user", "session_id", "reasoning",
    }  # fmt: skip
    assert ruby <= names and {"models", "usage"} <= names and "extra" not in names


def test_extra_carries_any_other_field_and_wins() -> None:
    opts = CompletionOptions(temperature=0.1, extra={"web_search_options": {"x": 1}, "temperature": 0.3})
    assert opts.to_params() == {"temperature": 0.3, "web_search_options": {"x": 1}}
    source = {"custom": 1}
    copied = CompletionOptions(extra=source)
    source["custom"] = 2
    assert copied.extra == {"custom": 1}  # a copy, not the caller's dict
    with pytest.raises(TypeError):
        CompletionOptions(extra=["not", "a", "mapping"])  # type: ignore[arg-type]


def test_merge_returns_a_new_object_and_leaves_this_one() -> None:
    base = CompletionOptions(model="a", temperature=0.5, extra={"x": 1})
    merged = base.merge(temperature=0.9, top_k=40, transforms_v2=True, extra={"y": 2})
    assert base.to_params() == {"model": "a", "temperature": 0.5, "x": 1}
    assert merged.to_params() == {"model": "a", "temperature": 0.9, "top_k": 40, "x": 1, "y": 2, "transforms_v2": True}
    assert base.merge(model=None).to_params() == {"temperature": 0.5, "x": 1}  # None unsets
    with pytest.raises(dataclasses.FrozenInstanceError):
        base.temperature = 1.0  # type: ignore[misc]


def test_from_mapping_splits_known_fields_from_extra() -> None:
    opts = CompletionOptions.from_mapping({"model": "m", "max_tokens": 5, "foo": "bar", "extra": {"baz": 1}})
    assert (opts.model, opts.max_tokens, opts.extra) == ("m", 5, {"baz": 1, "foo": "bar"})


def test_unknown_constructor_names_are_a_type_error() -> None:
    with pytest.raises(TypeError):
        CompletionOptions(temprature=0.3)  # type: ignore[call-arg]


def test_to_params_feeds_client_stream(fake_openrouter: FakeOpenRouter) -> None:
    @orx.tool
    def lookup(word: str) -> str:
        """Look a word up.

        Args:
            word: the word.
        """
        return word

    opts = CompletionOptions(
        model="x/y", temperature=0.2, tools=[lookup], tool_choice="auto", response_format=Answer,
        provider={"order": ["OpenAI"]}, reasoning={"effort": "low"}, extra={"custom_field": [1, 2]},
    )  # fmt: skip
    fake_openrouter.enqueue(StreamReply(text_chunks('{"text": "hi"}')))
    with orx.Client(base_url=fake_openrouter.base_url) as client:
        chunks = client.stream("hi", **opts.to_params()).pipe(orx.operators.accumulate()).run()
    body = fake_openrouter.wait_for_requests(1)[0].json
    assert body["model"] == "x/y" and body["temperature"] == 0.2 and body["tool_choice"] == "auto"
    assert body["tools"][0]["function"]["name"] == "lookup"
    assert body["response_format"]["type"] == "json_schema"
    assert body["provider"] == {"order": ["OpenAI"]} and body["reasoning"] == {"effort": "low"}
    assert body["custom_field"] == [1, 2]
    assert chunks.structured_output == {"text": "hi"}


def test_stream_start_is_a_frozen_record() -> None:
    start = StreamStart("m", [{"role": "user", "content": "hi"}], {"temperature": 1})
    assert (start.model, start.messages[0]["content"], start.params) == ("m", "hi", {"temperature": 1})
    with pytest.raises(dataclasses.FrozenInstanceError):
        start.model = "other"  # type: ignore[misc]
