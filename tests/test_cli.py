"""The ``openrouter-rx`` command line, offline: every command and flag against the fake server."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from openrouter_rx.cli import _session, main
from openrouter_rx.testing import (
    CompletionReply,
    ErrorReply,
    FakeOpenRouter,
    JSONReply,
    StreamReply,
    completion_body,
    models_body,
    sse_bytes,
    text_chunks,
    tool_call_chunks,
)
from tests.support import recorded_root

SECRET = "sk-or-cli-secret-0123456789"


@pytest.fixture
def quick_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    """Offline mode without a key, and the demo's chunks without the pause between them."""
    monkeypatch.delenv("OPENROUTER_API_KEY", raising=False)
    monkeypatch.setattr(_session, "DEMO_DELAY", 0.0)


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def jsonl(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def _offline_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("OPENROUTER_API_KEY", None)
    return env


# -- chat, offline ------------------------------------------------------------------------


def test_chat_offline_streams_the_demo_text_and_a_footer(quick_demo: None) -> None:
    code, out, err = run("chat", "Say hello", "-m", "openai/gpt-4o-mini")
    assert code == 0
    assert out.strip() == _session.DEMO_TEXT
    first, *rest = err.splitlines()
    assert "no OPENROUTER_API_KEY set" in first and "fake OpenRouter server" in first
    footer = rest[-1]
    for field in ("tokens", "tok/s", "first token", "cost $", "openai/gpt-4o-mini"):
        assert field in footer


def test_offline_flag_wins_over_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", SECRET)
    monkeypatch.setattr(_session, "DEMO_DELAY", 0.0)
    code, out, err = run("chat", "hi", "--offline", "--max-tokens", "3")
    assert code == 0
    assert "--offline given" in err.splitlines()[0]
    assert out.strip() == "Server-sent events let"  # the fake server honours max_tokens
    assert "finish_reason length" in err.splitlines()[-1]
    assert SECRET not in out + err


def test_python_dash_m_entry_point() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "openrouter_rx", "chat", "hi", "--max-tokens", "4"],
        env=_offline_env(), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "openrouter_rx" not in result.stdout  # cut after four words
    assert result.stdout.strip() == "Server-sent events let a"
    assert "tok/s" in result.stderr


# -- chat against a scripted server ----------------------------------------------------------


def test_chat_sends_the_options(fake_openrouter: FakeOpenRouter) -> None:
    code, _, _ = run(
        "chat", "the prompt", "-m", "some/model", "--system", "be brief", "--temperature", "0.25",
        "--max-tokens", "9", "--base-url", fake_openrouter.base_url, "--plain",
    )  # fmt: skip
    assert code == 0
    body = fake_openrouter.requests[0].json
    assert body["model"] == "some/model"
    assert body["messages"] == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "the prompt"}]
    assert body["temperature"] == 0.25 and body["max_tokens"] == 9 and body["stream"] is True


def test_plain_output_keeps_reasoning_apart_and_says_cost_na_without_a_cost(fake_openrouter: FakeOpenRouter) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks("The answer.", reasoning="Let me think.", usage=False)))
    code, out, err = run("chat", "q", "--base-url", fake_openrouter.base_url, "--plain")
    assert code == 0
    assert out == "Let me think.\nThe answer.\n"  # not a terminal: no ANSI
    footer = err.splitlines()[-1]
    assert "cost n/a" in footer and "~" in footer  # no usage: the token count is the meter's estimate


def test_no_stream_uses_one_completion_request(fake_openrouter: FakeOpenRouter) -> None:
    code, out, err = run("chat", "hello there", "--no-stream", "--base-url", fake_openrouter.base_url)
    assert code == 0
    request = fake_openrouter.requests[0]
    assert request.json["stream"] is False
    assert out.strip() == "Hello from the fake OpenRouter server. You said: hello there"
    footer = err.splitlines()[-1]
    assert "tokens" in footer and "tok/s" in footer and "response " in footer and "cost $" in footer


def test_typed_error_exits_1_without_the_secret(
    fake_openrouter: FakeOpenRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", SECRET)
    fake_openrouter.enqueue(ErrorReply(401, "No auth credentials found"))
    code, out, err = run("chat", "hi", "--base-url", fake_openrouter.base_url)
    assert code == 1
    assert "openrouter-rx: AuthenticationError: 401: No auth credentials found" in err
    assert fake_openrouter.requests[0].header("Authorization") == f"Bearer {SECRET}"  # it was sent ...
    assert SECRET not in out + err  # ... and never shown


def test_error_after_output_keeps_what_arrived(fake_openrouter: FakeOpenRouter) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks("one two three four five"), disconnect_after=3))
    code, out, err = run("chat", "hi", "--base-url", fake_openrouter.base_url, "--plain")
    assert code == 1
    assert out == "one two \n"
    assert "openrouter-rx: " in err and "Error" in err.splitlines()[-1]


def test_retries_resend_a_retryable_error_before_output(fake_openrouter: FakeOpenRouter) -> None:
    fake_openrouter.enqueue(ErrorReply(503, headers={"Retry-After": "0"}), StreamReply(text_chunks("fine now")))
    code, out, _ = run("chat", "hi", "--base-url", fake_openrouter.base_url, "--plain")
    assert code == 0 and out.strip() == "fine now"
    assert len(fake_openrouter.requests) == 2


def test_retries_0_reports_the_first_error(fake_openrouter: FakeOpenRouter) -> None:
    fake_openrouter.enqueue(ErrorReply(503), StreamReply(text_chunks("unused")))
    code, _, err = run("chat", "hi", "--retries", "0", "--base-url", fake_openrouter.base_url)
    assert code == 1 and "ServiceUnavailableError" in err
    assert len(fake_openrouter.requests) == 1


# -- --jsonl ----------------------------------------------------------------------------------


def test_jsonl_lines_have_the_documented_fields(fake_openrouter: FakeOpenRouter) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks("alpha beta", reasoning="hmm", cost=0.0005)))
    code, out, _ = run("chat", "hi", "--jsonl", "--base-url", fake_openrouter.base_url)
    assert code == 0
    lines = jsonl(out)
    assert [line["type"] for line in lines[:2]] == ["start", "chunk"]
    assert lines[0] == {"type": "start", "model": "openai/gpt-4o-mini", "mode": "chat"}
    chunks = [line for line in lines if line["type"] == "chunk"]
    for chunk in chunks:
        assert set(chunk) >= {"index", "content", "reasoning", "tool_calls", "finish_reason"}
    assert "".join(c["content"] for c in chunks) == "alpha beta"
    assert "".join(c["reasoning"] for c in chunks) == "hmm"
    assert [c["index"] for c in chunks] == list(range(len(chunks)))
    assert [c["finish_reason"] for c in chunks if c["finish_reason"]] == ["stop"]
    (usage,) = [line for line in lines if line["type"] == "usage"]
    assert usage["cost"] == "0.0005" and usage["completion_tokens"] == 3
    finish = lines[-1]
    assert finish["type"] == "finish"
    assert finish["content"] == "alpha beta" and finish["reasoning"] == "hmm"
    assert finish["cost"] == "0.0005" and finish["cost_source"] == "usage"
    assert finish["usage"]["prompt_tokens"] == 10
    assert finish["metrics"]["final"] is True and finish["metrics"]["completion_tokens"] == 3
    assert finish["metrics"]["time_to_first_token"] is not None
    assert "tok/s" not in out  # the footer is not mixed into the JSON lines


def test_jsonl_error_line(fake_openrouter: FakeOpenRouter, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", SECRET)
    fake_openrouter.enqueue(ErrorReply(429, "Rate limit exceeded"))
    code, out, err = run("chat", "hi", "--jsonl", "--retries", "0", "--base-url", fake_openrouter.base_url)
    assert code == 1
    error = jsonl(out)[-1]
    assert error == {
        "type": "error",
        "error": "RateLimitError",
        "message": "429: Rate limit exceeded",
        "status": 429,
        "partial": None,
    }
    assert "RateLimitError" in err
    assert SECRET not in out + err


def test_jsonl_error_carries_the_partial(fake_openrouter: FakeOpenRouter) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks("one two three four"), disconnect_after=3))
    code, out, _ = run("chat", "hi", "--jsonl", "--base-url", fake_openrouter.base_url)
    assert code == 1
    error = jsonl(out)[-1]
    assert error["type"] == "error" and error["partial"]["content"] == "one two "


def test_jsonl_tool_call_deltas(fake_openrouter: FakeOpenRouter) -> None:
    calls = [{"name": "lookup", "arguments": {"q": "x"}, "id": "call_1"}]
    fake_openrouter.enqueue(StreamReply(tool_call_chunks(calls)))
    code, out, _ = run("chat", "hi", "--jsonl", "--base-url", fake_openrouter.base_url)
    assert code == 0
    lines = jsonl(out)
    deltas = [d for line in lines if line["type"] == "chunk" for d in line["tool_calls"]]
    assert deltas[0]["id"] == "call_1" and deltas[0]["name"] == "lookup"
    assert json.loads("".join(d["arguments"] or "" for d in deltas)) == {"q": "x"}
    assert lines[-1]["tool_calls"] == [{"id": "call_1", "name": "lookup", "arguments": '{"q": "x"}'}]
    assert lines[-1]["finish_reason"] == "tool_calls"


# -- --json-schema ----------------------------------------------------------------------------

CITY_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
    "required": ["city", "population"],
}


@pytest.fixture
def schema_file(tmp_path: Path) -> Path:
    path = tmp_path / "city.json"
    path.write_text(json.dumps(CITY_SCHEMA), encoding="utf-8")
    return path


def test_json_schema_is_sent_and_the_value_printed(fake_openrouter: FakeOpenRouter, schema_file: Path) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks('{"city": "Oslo", "population": 709000}', pieces=5)))
    code, out, _ = run("chat", "a city", "--json-schema", str(schema_file), "--base-url", fake_openrouter.base_url)
    assert code == 0
    assert json.loads(out) == {"city": "Oslo", "population": 709000}
    sent = fake_openrouter.requests[0].json["response_format"]
    # not strict: the schema leaves additionalProperties open, which strict mode refuses with a 400
    assert sent == {"type": "json_schema", "json_schema": {"name": "city", "strict": False, "schema": CITY_SCHEMA}}


def test_json_schema_is_strict_when_the_schema_is_strict_ready(fake_openrouter: FakeOpenRouter, tmp_path: Path) -> None:
    closed = {**CITY_SCHEMA, "additionalProperties": False}
    nested_open = {
        **closed,
        "properties": {
            **closed["properties"],
            "tags": {"type": "array", "items": {"type": "object", "properties": {}}},
        },
        "required": ["city", "population", "tags"],
    }
    for schema, strict in ((closed, True), (nested_open, False)):
        path = tmp_path / "city.json"
        path.write_text(json.dumps(schema), encoding="utf-8")
        fake_openrouter.enqueue(CompletionReply(completion_body('{"city": "Oslo", "population": 1, "tags": []}')))
        code, _, err = run(
            "chat", "c", "--json-schema", str(path), "--no-stream", "--base-url", fake_openrouter.base_url
        )
        assert code == 0, err
        assert fake_openrouter.requests[-1].json["response_format"]["json_schema"]["strict"] is strict


def test_json_schema_jsonl_shows_the_partial_values(fake_openrouter: FakeOpenRouter, schema_file: Path) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks('{"city": "Oslo", "population": 709000}', pieces=5)))
    code, out, _ = run(
        "chat", "c", "--json-schema", str(schema_file), "--jsonl", "--base-url", fake_openrouter.base_url
    )
    assert code == 0
    lines = jsonl(out)
    partials = [line["value"] for line in lines if line["type"] == "partial_json"]
    assert len(partials) >= 3
    assert partials[-1] == {"city": "Oslo", "population": 709000}
    assert any(p.get("city") not in (None, "Oslo") for p in partials)  # a string seen while it grew
    assert lines[-1]["structured"] == {"city": "Oslo", "population": 709000}


def test_json_schema_reply_that_is_not_json_exits_1(fake_openrouter: FakeOpenRouter, schema_file: Path) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks("Sorry, I cannot answer in JSON today.")))
    code, out, err = run("chat", "c", "--json-schema", str(schema_file), "--base-url", fake_openrouter.base_url)
    assert code == 1
    assert "StructuredOutputError" in err and "city" in err
    assert "Sorry, I cannot" in err  # the reply is shown, so the user sees what came back
    assert out == ""


def test_a_whole_response_format_file_is_sent_as_is(fake_openrouter: FakeOpenRouter, tmp_path: Path) -> None:
    path = tmp_path / "format.json"
    path.write_text('{"type": "json_object"}', encoding="utf-8")
    fake_openrouter.enqueue(StreamReply(text_chunks('{"ok": true}')))
    code, out, _ = run("chat", "c", "--json-schema", str(path), "--base-url", fake_openrouter.base_url)
    assert code == 0 and json.loads(out) == {"ok": True}
    assert fake_openrouter.requests[0].json["response_format"] == {"type": "json_object"}


def test_json_schema_offline_demo_answers_in_the_schema_shape(quick_demo: None, schema_file: Path) -> None:
    code, out, _ = run("chat", "a city", "--json-schema", str(schema_file))
    assert code == 0
    assert json.loads(out) == {"city": "example", "population": 1}


# -- --tools-demo -----------------------------------------------------------------------------


def test_tools_demo_offline_makes_a_real_round_trip(quick_demo: None) -> None:
    code, out, err = run("chat", "weather and maths", "--tools-demo", "--jsonl")
    assert code == 0
    lines = jsonl(out)
    calls = [line for line in lines if line["type"] == "tool_call"]
    results = {line["name"]: line["value"] for line in lines if line["type"] == "tool_result"}
    assert [c["name"] for c in calls] == ["get_weather", "calculator"]
    assert results == {
        "get_weather": {"city": "Paris", "temperature": 18, "unit": "C", "sky": "light rain"},
        "calculator": 6.0,
    }
    finish = lines[-1]
    assert finish["type"] == "finish" and finish["requests"] == 2
    assert "calculator answered 6.0" in finish["content"]  # the answer was built from what the tools returned
    assert "fake OpenRouter server" in err.splitlines()[0]


def test_tools_demo_sends_the_tool_results_back(fake_openrouter: FakeOpenRouter) -> None:
    calls = [{"name": "calculator", "arguments": {"expression": "2 ** 10"}, "id": "call_c"}]
    fake_openrouter.enqueue(StreamReply(tool_call_chunks(calls)), StreamReply(text_chunks("It is 1024.")))
    code, out, err = run("chat", "2^10?", "--tools-demo", "--plain", "--base-url", fake_openrouter.base_url)
    assert code == 0
    first, second = (r.json for r in fake_openrouter.requests)
    assert {t["function"]["name"] for t in first["tools"]} == {"get_weather", "calculator"}
    tool_message = second["messages"][-1]
    assert (tool_message["role"], tool_message["tool_call_id"], tool_message["content"]) == ("tool", "call_c", "1024.0")
    assert "[tool] calculator" in out and "1024.0" in out and out.rstrip().endswith("It is 1024.")
    assert "2 requests" in err.splitlines()[-1]


def test_tools_demo_shows_a_failing_tool_and_goes_on(fake_openrouter: FakeOpenRouter) -> None:
    calls = [{"name": "calculator", "arguments": {"expression": "__import__('os')"}, "id": "call_x"}]
    fake_openrouter.enqueue(StreamReply(tool_call_chunks(calls)), StreamReply(text_chunks("Cannot do that.")))
    code, out, _ = run("chat", "x", "--tools-demo", "--jsonl", "--base-url", fake_openrouter.base_url)
    assert code == 0
    (result,) = [line for line in jsonl(out) if line["type"] == "tool_result"]
    assert result["error"].startswith("ValueError: unsupported expression element")
    assert "ValueError" in fake_openrouter.requests[1].json["messages"][-1]["content"]


# -- usage errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["chat"],
        ["chat", "x", "--tools-demo", "--json-schema", "s.json"],
        ["chat", "x", "--jsonl", "--plain"],
        ["chat", "x", "--base-url", "ftp://nowhere"],
        ["chat", "x", "--idle-timeout", "0"],
        ["nope"],
    ],
    ids=["no-prompt", "tools-and-schema", "jsonl-and-plain", "bad-url", "zero-timeout", "unknown-command"],
)
def test_usage_errors_exit_2(argv: list[str]) -> None:
    code, out, err = run(*argv)
    assert code == 2
    assert "usage: openrouter-rx" in err and out == ""


def test_help_exits_0() -> None:
    code, out, _ = run("chat", "--help")
    assert code == 0 and "--json-schema FILE" in out and "--tools-demo" in out


@pytest.mark.parametrize("content", [None, "{not json", "[1, 2]"], ids=["missing", "not-json", "not-an-object"])
def test_a_bad_schema_file_is_a_usage_error(
    fake_openrouter: FakeOpenRouter, tmp_path: Path, content: str | None
) -> None:
    path = tmp_path / "schema.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    code, _, err = run("chat", "x", "--json-schema", str(path), "--base-url", fake_openrouter.base_url)
    assert code == 2 and "JSON Schema file" in err
    assert fake_openrouter.requests == []  # nothing was sent


# -- models -----------------------------------------------------------------------------------


def test_models_offline_lists_the_fake_servers_models(quick_demo: None) -> None:
    code, out, _ = run("models", "--plain")
    assert code == 0
    header, *rows = out.splitlines()
    assert header.split() == ["id", "context", "prompt", "$/M", "completion", "$/M"]
    ids = [row.split()[0] for row in rows]
    assert ids == sorted(ids) and "openai/gpt-4o-mini" in ids
    (mini,) = [row.split() for row in rows if row.startswith("openai/gpt-4o-mini ")]
    assert mini[1:] == ["128,000", "0.15", "0.6"]


def test_models_search_and_json(fake_openrouter: FakeOpenRouter) -> None:
    entries: list[dict[str, Any]] = [
        {"id": "zeta/alpha-chat", "name": "Alpha Chat", "context_length": 8192,
         "pricing": {"prompt": "0.000002", "completion": "0.000004"}},
        {"id": "acme/beta", "name": "Beta (ALPHA edition)", "context_length": None,
         "pricing": {"prompt": "-1", "completion": "-1"}},
        {"id": "acme/gamma", "name": "Gamma", "context_length": 4096, "pricing": {"prompt": "0", "completion": "0"}},
    ]  # fmt: skip
    fake_openrouter.enqueue(JSONReply(models_body(entries)))
    code, out, _ = run("models", "--search", "alpha", "--json", "--base-url", fake_openrouter.base_url)
    assert code == 0
    assert json.loads(out) == [
        {"id": "acme/beta", "name": "Beta (ALPHA edition)", "context_length": None,
         "prompt_per_million": None, "completion_per_million": None},
        {"id": "zeta/alpha-chat", "name": "Alpha Chat", "context_length": 8192,
         "prompt_per_million": "2", "completion_per_million": "4"},
    ]  # fmt: skip
    assert fake_openrouter.requests[0].path.endswith("/models")


def test_models_plain_marks_variable_prices(fake_openrouter: FakeOpenRouter) -> None:
    entries = [{"id": "openrouter/auto", "name": "Auto", "pricing": {"prompt": "-1", "completion": "-1"}}]
    fake_openrouter.enqueue(JSONReply(models_body(entries)))
    code, out, _ = run("models", "--plain", "--base-url", fake_openrouter.base_url)
    assert code == 0
    assert out.splitlines()[1].split() == ["openrouter/auto", "?", "variable", "variable"]


def test_models_rich_table(fake_openrouter: FakeOpenRouter) -> None:
    code, out, _ = run("models", "--rich", "--search", "claude", "--base-url", fake_openrouter.base_url)
    assert code == 0
    assert "1 models" in out and "anthropic/claude-3.5-sonnet" in out and "200,000" in out
    assert "openai/gpt-4o-mini" not in out


def test_models_error_exits_1(fake_openrouter: FakeOpenRouter) -> None:
    fake_openrouter.enqueue(ErrorReply(500, "boom"))
    code, _, err = run("models", "--base-url", fake_openrouter.base_url)
    assert code == 1 and "ServerError: 500: boom" in err


# -- replay -----------------------------------------------------------------------------------

REPLAY_CHUNKS = text_chunks("Replayed words, as recorded.", reasoning="Thinking first.", model="acme/recorded-1")


@pytest.fixture
def sse_file(tmp_path: Path) -> Path:
    path = tmp_path / "reply.sse"
    path.write_bytes(b": OPENROUTER PROCESSING\n\n" + sse_bytes(REPLAY_CHUNKS))
    return path


def _cassette(tmp_path: Path, *responses: tuple[int, str, str]) -> Path:
    interactions = [
        {
            "request": {
                "method": "post",
                "uri": "https://openrouter.ai/api/v1/chat/completions",
                "body": {"encoding": "UTF-8", "string": json.dumps({"model": "acme/recorded-1", "stream": True,
                                                                    "messages": [{"role": "user", "content": "hi"}]})},
            },
            "response": {
                "status": {"code": status, "message": "OK"},
                "headers": {"Content-Type": [content_type]},
                "body": {"encoding": "UTF-8", "string": body},
            },
        }
        for status, content_type, body in responses
    ]  # fmt: skip
    path = tmp_path / "cassette.yml"
    path.write_text(yaml.safe_dump({"http_interactions": interactions}), encoding="utf-8")
    return path


def test_replay_an_sse_file(sse_file: Path) -> None:
    code, out, err = run("replay", str(sse_file), "--plain")
    assert code == 0
    assert out == "Thinking first.\nReplayed words, as recorded.\n"
    assert "replaying reply.sse" in err.splitlines()[0]
    assert "acme/recorded-1" in err.splitlines()[-1] and "cost $" in err.splitlines()[-1]


def test_replay_jsonl_with_a_delay(sse_file: Path) -> None:
    code, out, _ = run("replay", str(sse_file), "--jsonl", "--delay", "0.001")
    assert code == 0
    lines = jsonl(out)
    assert lines[0]["mode"] == "replay"
    assert lines[-1]["content"] == "Replayed words, as recorded."
    assert lines[-1]["metrics"]["chunks"] == len(REPLAY_CHUNKS)


def test_replay_a_cassette(tmp_path: Path) -> None:
    path = _cassette(tmp_path, (200, "text/event-stream", sse_bytes(REPLAY_CHUNKS).decode()))
    code, out, _ = run("replay", str(path), "--plain")
    assert code == 0
    assert out.endswith("Replayed words, as recorded.\n")


def test_replay_a_cassette_interaction_by_number(tmp_path: Path) -> None:
    error = json.dumps({"error": {"code": 402, "message": "Insufficient credits"}})
    path = _cassette(
        tmp_path,
        (200, "text/event-stream", sse_bytes(REPLAY_CHUNKS).decode()),
        (402, "application/json", error),
    )
    code, _, err = run("replay", str(path), "--interaction", "1")
    assert code == 1 and "InsufficientCreditsError: 402: Insufficient credits" in err
    code, _, err = run("replay", str(path), "--interaction", "2")
    assert code == 2 and "has 2 interactions" in err


def test_replay_a_cassette_without_pyyaml_says_how_to_get_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _cassette(tmp_path, (200, "text/event-stream", sse_bytes(REPLAY_CHUNKS).decode()))
    monkeypatch.setitem(sys.modules, "yaml", None)  # import yaml now raises ImportError
    code, _, err = run("replay", str(path))
    assert code == 2 and "openrouter-rx[yaml]" in err


def test_replay_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    code, _, err = run("replay", str(tmp_path / "nothing.sse"))
    assert code == 2 and "no such file" in err


@pytest.mark.parametrize(
    ("folder", "code", "expected"),
    [
        ("streaming_simple_completion", 0, None),
        ("streaming_tool_required", 0, "[tool call] "),
        ("streaming_auth_error", 1, "AuthenticationError"),
    ],
)
def test_replay_the_shared_recordings(folder: str, code: int, expected: str | None) -> None:
    root = recorded_root()
    if root is None or not (root / folder).is_dir():
        pytest.skip("../shared/recorded is not present")
    got, out, err = run("replay", str(root / folder), "--plain")
    assert got == code, err
    if expected is not None:
        assert expected in out + err
    if code == 0:
        assert "cost $" in err.splitlines()[-1]


def test_rich_forced_without_rich_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import openrouter_rx.cli as cli

    monkeypatch.setattr(cli, "rich_available", lambda: False)
    code, out, err = run("chat", "hi", "--offline", "--rich")
    assert code == 2 and "pip install 'openrouter-rx[cli]'" in err and out == ""


def test_without_rich_a_terminal_gets_the_plain_renderer(monkeypatch: pytest.MonkeyPatch) -> None:
    import openrouter_rx.cli as cli
    from openrouter_rx.cli._render import PlainRenderer

    class TTY(io.StringIO):
        def isatty(self) -> bool:
            return True

    args = cli.build_parser().parse_args(["chat", "hi"])
    monkeypatch.setenv("TERM", "xterm")
    assert type(cli.make_renderer(args, TTY(), io.StringIO())).__name__ == "RichRenderer"
    assert type(cli.make_renderer(args, io.StringIO(), io.StringIO())) is PlainRenderer  # not a terminal
    monkeypatch.setattr(cli, "rich_available", lambda: False)
    assert type(cli.make_renderer(args, TTY(), io.StringIO())) is PlainRenderer


def test_no_stream_with_a_json_schema(fake_openrouter: FakeOpenRouter, schema_file: Path) -> None:
    fake_openrouter.enqueue(CompletionReply(completion_body('{"city": "Oslo", "population": 709000}')))
    code, out, _ = run(
        "chat", "c", "--no-stream", "--json-schema", str(schema_file), "--base-url", fake_openrouter.base_url
    )
    assert code == 0 and json.loads(out) == {"city": "Oslo", "population": 709000}
    body = fake_openrouter.requests[0].json
    assert body["stream"] is False and body["response_format"]["json_schema"]["schema"] == CITY_SCHEMA


def test_no_stream_json_schema_offline_demo(quick_demo: None, schema_file: Path) -> None:
    code, out, _ = run("chat", "a city", "--no-stream", "--json-schema", str(schema_file))
    assert code == 0 and json.loads(out) == {"city": "example", "population": 1}


def test_tools_demo_does_not_take_no_stream(fake_openrouter: FakeOpenRouter) -> None:
    code, _, err = run("chat", "x", "--tools-demo", "--no-stream", "--base-url", fake_openrouter.base_url)
    assert code == 2 and "--tools-demo" in err and fake_openrouter.requests == []


def test_tools_demo_retries_a_request_before_output(fake_openrouter: FakeOpenRouter) -> None:
    calls = [{"name": "calculator", "arguments": {"expression": "1 + 1"}, "id": "call_r"}]
    fake_openrouter.enqueue(
        ErrorReply(503, headers={"Retry-After": "0"}),
        StreamReply(tool_call_chunks(calls)),
        StreamReply(text_chunks("2")),
    )
    code, out, _ = run("chat", "x", "--tools-demo", "--plain", "--base-url", fake_openrouter.base_url)
    assert code == 0 and out.rstrip().endswith("2")
    assert len(fake_openrouter.requests) == 3


def test_prompt_from_stdin(fake_openrouter: FakeOpenRouter, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("a prompt\nover two lines\n"))
    code, out, _ = run("chat", "-", "--plain", "--base-url", fake_openrouter.base_url)
    assert code == 0
    assert fake_openrouter.requests[0].json["messages"] == [{"role": "user", "content": "a prompt\nover two lines\n"}]
    assert "over two lines" in out


def test_a_refusal_is_shown(fake_openrouter: FakeOpenRouter) -> None:
    refusal = [
        {"id": "gen-r", "model": "acme/m", "choices": [{"index": 0, "delta": {"role": "assistant", "refusal": "No."}}]},
        {"id": "gen-r", "model": "acme/m", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
    ]
    fake_openrouter.enqueue(StreamReply(refusal), StreamReply(refusal))
    code, out, err = run("chat", "x", "--plain", "--base-url", fake_openrouter.base_url)
    assert code == 0 and out == "" and "openrouter-rx: the model refused: No." in err
    code, out, _ = run("chat", "x", "--jsonl", "--base-url", fake_openrouter.base_url)
    assert code == 0 and jsonl(out)[-1]["refusal"] == "No."
