"""Structured outputs end to end over loopback against FakeOpenRouter: the response_format round
trip (partial_json and structured_output on awkwardly split streams) and the Healer (its
requests, its attempts, its failures)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from marshmallow import Schema, fields
from support import collect, values

import openrouter_rx as orx
from openrouter_rx.errors import StructuredOutputError
from openrouter_rx.healer import HEALER_PROMPT, Healer
from openrouter_rx.operators._partial_json import partial_json
from openrouter_rx.operators._structured_output import structured_output
from openrouter_rx.structured import HealAttempt, ResponseFormat
from openrouter_rx.testing import CompletionReply, ErrorReply, FakeOpenRouter, StreamReply, completion_body, text_chunks

KEY = "sk-or-v1-healer-loopback-0123456789"
HEALER_MODEL = "openai/gpt-4o-mini-healer"


class Stop(Schema):
    name = fields.String(required=True)
    note = fields.String(required=True)


class Trip(Schema):
    title = fields.String(required=True)
    stops = fields.List(fields.Nested(Stop), required=True)
    distance_km = fields.Float(required=True)
    tags = fields.List(fields.String(), required=True)


TRIP = {
    "title": "Zürich → Genève 🚆 «express»",
    "stops": [
        {"name": "Bern", "note": 'He said "change here"\n\tthen left \\ quickly'},
        {"name": "Lausanne", "note": "日本語のメモ, emoji 👍🏽 and a tab\t"},
    ],
    "distance_km": 277.5,
    "tags": ["rail", "", "\u2028odd line separator"],
}


@pytest.fixture
def client(fake_openrouter: FakeOpenRouter) -> Iterator[orx.Client]:
    with orx.Client(api_key=KEY, base_url=fake_openrouter.base_url, timeout=orx.Timeout(connect=2, idle=5)) as c:
        yield c


# -- the response_format round trip ----------------------------------------------------------------


@pytest.mark.parametrize("ensure_ascii", [False, True], ids=["utf8", "escaped"])
@pytest.mark.parametrize("pieces", [3, 5], ids=["3-chars", "5-chars"])
def test_round_trip_through_awkward_splits(
    fake_openrouter: FakeOpenRouter, client: orx.Client, ensure_ascii: bool, pieces: int
) -> None:
    fmt = ResponseFormat(Trip)
    text = json.dumps(TRIP, ensure_ascii=ensure_ascii)
    # content pieces of 3-5 characters cut inside strings and escapes (\", \n, \\u...); the byte
    # stream is then cut every 7 bytes, inside multi-byte UTF-8 characters
    wire = text_chunks(text, pieces=pieces)
    fake_openrouter.enqueue(StreamReply(wire, fragment_size=7), StreamReply(wire, fragment_size=7))
    stream = client.stream("Plan a trip", response_format=fmt)

    [trip] = values(stream.pipe(structured_output(fmt)))
    assert trip == TRIP
    request = fake_openrouter.requests[0]
    assert request.json["response_format"] == fmt.to_dict()
    assert request.json["response_format"]["json_schema"]["name"] == "Trip"

    previews = values(stream.pipe(partial_json()))
    assert previews[-1] == TRIP
    assert len(previews) > 10  # it really streamed
    assert all(isinstance(p, dict) for p in previews)
    assert len(fake_openrouter.requests) == 2


def test_without_a_healer_no_other_request_is_made(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks('{"title": "x"}')))
    sink = collect(client.stream("hi").pipe(structured_output(Trip)))
    assert isinstance(sink.error, StructuredOutputError)
    assert len(fake_openrouter.requests) == 1


# -- healing ---------------------------------------------------------------------------------------

BROKEN = '{"title": "Zürich → Genève", "stops": [{"name": "Bern"}], "distance_km": "far", "tags": []}'
HEALED = {"title": "Zürich → Genève", "stops": [{"name": "Bern", "note": ""}], "distance_km": 120.0, "tags": []}


def test_a_healer_fixes_the_reply(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fmt = ResponseFormat(Trip)
    fake_openrouter.enqueue(
        StreamReply(text_chunks(BROKEN, pieces=4)),
        CompletionReply(completion_body(json.dumps(HEALED), model=HEALER_MODEL)),
    )
    seen: list[HealAttempt] = []
    healer = Healer(client, model=HEALER_MODEL)
    [trip] = values(
        client.stream("Plan", response_format=fmt).pipe(structured_output(fmt, heal=healer, on_attempt=seen.append))
    )
    assert trip == HEALED
    assert [(a.source, a.ok, a.model) for a in seen] == [("model", False, None), ("healer", True, HEALER_MODEL)]

    stream_request, heal_request = fake_openrouter.requests
    assert stream_request.stream and not heal_request.stream
    body = heal_request.json
    assert body["model"] == HEALER_MODEL
    assert body["temperature"] == 0
    assert body["response_format"] == fmt.to_dict()
    system, user = body["messages"]
    assert system == {"role": "system", "content": HEALER_PROMPT}
    assert user["role"] == "user"
    assert BROKEN in user["content"]  # the text to fix
    assert "Not a valid number." in user["content"]  # the errors
    assert "Missing data for required field." in user["content"]
    assert json.dumps(fmt.to_dict()["json_schema"]["name"]) in user["content"]  # the schema
    assert heal_request.header("Authorization") == f"Bearer {KEY}"


def test_run_blocks_until_healed(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(
        StreamReply(text_chunks(BROKEN)), CompletionReply(completion_body(json.dumps(HEALED), model=HEALER_MODEL))
    )
    healer = Healer(client, model=HEALER_MODEL)
    assert client.stream("Plan").pipe(structured_output(Trip, heal=healer)).run() == HEALED
    assert len(fake_openrouter.requests) == 2


def test_a_healer_that_fails_twice(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fmt = ResponseFormat(Trip)
    first = '{"title": "T", "stops": [], "distance_km": "still far", "tags": []}'
    second = "Sorry, I can only describe it: a long trip."
    fake_openrouter.enqueue(
        StreamReply(text_chunks(BROKEN)),
        CompletionReply(completion_body(first)),
        CompletionReply(completion_body(second)),
    )
    healer = Healer(client, model=HEALER_MODEL, max_attempts=2)
    sink = collect(client.stream("Plan", response_format=fmt).pipe(structured_output(fmt, heal=healer)))
    error = sink.error
    assert isinstance(error, StructuredOutputError)
    assert [(a.source, a.ok) for a in error.attempts] == [("model", False), ("healer", False), ("healer", False)]
    assert error.attempts[0].text == BROKEN
    assert error.attempts[1].text == first and error.attempts[1].messages == {"distance_km": ["Not a valid number."]}
    assert error.attempts[2].text == second and list(error.attempts[2].messages) == ["_json"]
    assert error.raw == BROKEN
    assert error.messages == error.attempts[2].messages
    assert error.partial is not None and error.partial.content == BROKEN
    # the second call fixes the first call's reply, with that reply's errors
    assert len(fake_openrouter.requests) == 3
    second_user = fake_openrouter.requests[2].json["messages"][1]["content"]
    assert first in second_user and "Not a valid number." in second_user
    assert BROKEN not in second_user


def test_a_failed_healer_request_stops_healing(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks(BROKEN)), ErrorReply(500, "healer provider down"))
    healer = Healer(client, model=HEALER_MODEL, max_attempts=3)
    sink = collect(client.stream("Plan").pipe(structured_output(Trip, heal=healer)))
    error = sink.error
    assert isinstance(error, StructuredOutputError)
    assert [(a.source, a.ok) for a in error.attempts] == [("model", False), ("healer", False)]
    [why] = error.attempts[1].messages["_request"]
    assert why.startswith("ServerError") and "healer provider down" in why
    assert KEY not in why
    assert len(fake_openrouter.requests) == 2  # no second healer call after a failed request


def test_a_fenced_healer_reply_is_repaired_locally(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(CompletionReply(completion_body("```json\n" + json.dumps(HEALED) + "\n```")))
    healer = Healer(client, model=HEALER_MODEL)
    attempts = values(healer.heal(BROKEN, ResponseFormat(Trip), {"distance_km": ["Not a valid number."]}))
    assert [(a.source, a.ok, a.model) for a in attempts] == [("healer", True, HEALER_MODEL)]
    assert attempts[0].value == HEALED
    assert attempts[0].text == json.dumps(HEALED)


def test_heal_is_cold(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(
        CompletionReply(completion_body(json.dumps(HEALED))), CompletionReply(completion_body(json.dumps(HEALED)))
    )
    healing = Healer(client, model=HEALER_MODEL).heal(BROKEN, ResponseFormat(Trip), {"x": ["y"]})
    assert fake_openrouter.requests == []
    assert [a.ok for a in values(healing)] == [True]
    assert [a.ok for a in values(healing)] == [True]
    assert len(fake_openrouter.requests) == 2


def test_extra_params_go_into_the_healer_request(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(CompletionReply(completion_body(json.dumps({"anything": 1}))))
    healer = Healer(client, model=HEALER_MODEL, temperature=0.2, max_tokens=300)
    attempts = values(healer.heal("{", ResponseFormat.coerce({"type": "json_object"}), {"_json": ["cut"]}))
    assert attempts[0].ok and attempts[0].value == {"anything": 1}
    body = fake_openrouter.requests[0].json
    assert (body["temperature"], body["max_tokens"], body["response_format"]) == (0.2, 300, {"type": "json_object"})


def test_max_attempts_must_be_positive(client: orx.Client) -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        Healer(client, max_attempts=0)
    assert repr(Healer(client, model=HEALER_MODEL)) == f"Healer(model='{HEALER_MODEL}', max_attempts=2)"
    assert KEY not in repr(Healer(client))
