"""client.complete(): one Response per subscription, over loopback."""

from __future__ import annotations

import time

import pytest

import openrouter_rx as orx
from openrouter_rx.testing import CompletionReply, ErrorReply, FakeOpenRouter, completion_body


@pytest.fixture
def client(fake_openrouter: FakeOpenRouter) -> orx.Client:
    return orx.Client(api_key="sk-test", base_url=fake_openrouter.base_url, timeout=orx.Timeout(idle=5))


def test_complete_emits_one_response(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(CompletionReply(completion_body("The answer is 4.", cost=0.0001)))
    observable = client.complete("2+2?", model="openai/gpt-4o-mini", temperature=0)
    time.sleep(0.1)
    assert fake_openrouter.requests == []  # cold
    responses = observable.pipe(__import__("reactivex").operators.to_list()).run()
    assert len(responses) == 1
    response = responses[0]
    assert isinstance(response, orx.Response)
    assert response.content == "The answer is 4." and response.finish_reason == "stop"
    assert response.usage is not None and str(response.usage.cost) == "0.0001"
    assert response.raw is not None and response.raw["object"] == "chat.completion"
    body = fake_openrouter.last_request.json  # type: ignore[union-attr]
    assert body["stream"] is False and body["temperature"] == 0


def test_leading_whitespace_keepalives(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(CompletionReply(completion_body("ok"), leading_whitespace=5, delay=0.05))
    assert client.complete("hi").run().content == "ok"


def test_tool_calls_in_completion(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(
        CompletionReply(
            completion_body(tool_calls=[{"name": "a", "arguments": {"x": 1}}, {"name": "b", "arguments": {}}])
        )
    )
    response = client.complete("hi").run()
    assert [c.name for c in response.tool_calls] == ["a", "b"]
    assert response.tool_calls[0].arguments == {"x": 1}


def test_complete_status_error(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(ErrorReply(429, "slow down", headers={"Retry-After": "1.5"}))
    with pytest.raises(orx.RateLimitError) as info:
        client.complete("hi").run()
    assert info.value.retry_after == 1.5


def test_complete_invalid_body_is_protocol_error(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(CompletionReply({"id": "x", "choices": "nope"}))
    with pytest.raises(orx.ProtocolError):
        client.complete("hi").run()


def test_complete_error_in_200_body(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(CompletionReply({"error": {"code": 502, "message": "upstream failed"}}))
    with pytest.raises(orx.StreamError, match="upstream failed"):
        client.complete("hi").run()


def test_complete_idle_timeout(fake_openrouter: FakeOpenRouter) -> None:
    fake_openrouter.enqueue(CompletionReply(completion_body("late"), delay=2.0))
    with (
        orx.Client(base_url=fake_openrouter.base_url, timeout=orx.Timeout(idle=0.3)) as c,
        pytest.raises(orx.IdleTimeout),
    ):
        c.complete("hi").run()


def test_complete_measures_response_time(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(CompletionReply(completion_body("slow"), delay=0.05))
    response = client.complete("hi").run()
    assert response.response_time is not None and response.response_time > 0
    assert response.time_to_first_token is None  # not a stream: no first token to time
