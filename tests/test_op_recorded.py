"""The RxPY operators against real OpenRouter traffic recorded by a third party.

Each recorded streaming interaction in ``../shared/recorded`` (or ``$OPENROUTER_RX_RECORDED``) is
served byte for byte by FakeOpenRouter and read through ``client.stream(...)`` and the operators.
The expected values come from a small SSE/JSON parser written here, independent of the library.
The module skips when the recordings are absent; they are read in place, never copied.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from reactivex import operators as ops
from support import fan_out, recorded_root

import openrouter_rx as orx
from openrouter_rx import operators as orx_ops
from openrouter_rx.testing import ErrorReply, FakeOpenRouter, RecordedFolderReply

ROOT = recorded_root()
if ROOT is None:
    pytest.skip("../shared/recorded is not present", allow_module_level=True)
assert ROOT is not None

KEY = "sk-or-v1-op-recorded-0123456789"
FAST = {"base": 0.01, "jitter": False}


def _meta(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "meta.json").read_text("utf-8"))


def _streaming_folders() -> tuple[list[str], list[str]]:
    """Recorded streamed requests: those answered with an SSE body, and those refused with a status."""
    ok, refused = [], []
    for folder in sorted(ROOT.iterdir()) if ROOT is not None else ():
        if not (folder / "meta.json").is_file() or not (folder / "request.json").is_file():
            continue
        meta = _meta(folder)
        request = json.loads((folder / "request.json").read_text("utf-8"))
        if not isinstance(request, dict) or request.get("stream") is not True:
            continue
        if meta.get("status") == 200 and (folder / "body.sse").is_file():
            ok.append(folder.name)
        elif int(meta.get("status", 200)) >= 400:
            refused.append(folder.name)
    return ok, refused


STREAMS, REFUSED = _streaming_folders()
MULTIPLE_CALLS = "tool_calling_multiple_calls-1"


# -- an SSE parser independent of the library ----------------------------------------------------


def sse_chunks(raw: bytes) -> list[dict[str, Any]]:
    """The JSON ``data:`` events of an SSE body (comments and ``[DONE]`` skipped), per the SSE spec."""
    text = raw.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    chunks = []
    for block in text.split("\n\n"):
        data_lines = []
        for line in block.split("\n"):
            if not line or line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            if name == "data":
                data_lines.append(value[1:] if value.startswith(" ") else value)
        if not data_lines:
            continue
        data = "\n".join(data_lines)
        if data.strip() == "[DONE]":
            continue
        chunks.append(json.loads(data))
    return chunks


def choices0(chunks: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for chunk in chunks:
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) == 0:
                yield choice


def joined_content(chunks: list[dict[str, Any]]) -> str:
    return "".join((c.get("delta") or {}).get("content") or "" for c in choices0(chunks))


def joined_tool_calls(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tool-call deltas joined by index: id/name from the first delta that has them, arguments concatenated."""
    calls: dict[int, dict[str, Any]] = {}
    for choice in choices0(chunks):
        for entry in (choice.get("delta") or {}).get("tool_calls") or ():
            index = entry["index"]
            call = calls.setdefault(index, {"index": index, "id": None, "name": None, "arguments": ""})
            function = entry.get("function") or {}
            call["id"] = call["id"] or entry.get("id")
            call["name"] = call["name"] or function.get("name")
            call["arguments"] += function.get("arguments") or ""
    return list(calls.values())


# -- plumbing --------------------------------------------------------------------------------------


@pytest.fixture
def client(fake_openrouter: FakeOpenRouter) -> Iterator[orx.Client]:
    with orx.Client(api_key=KEY, base_url=fake_openrouter.base_url, timeout=orx.Timeout(connect=2, idle=5)) as c:
        yield c


def recorded_request(name: str) -> dict[str, Any]:
    assert ROOT is not None
    return json.loads((ROOT / name / "request.json").read_text("utf-8"))


def stream_for(client: orx.Client, request: dict[str, Any]) -> orx.ChunkStream:
    """``client.stream`` with exactly the recorded request's fields."""
    params = {k: v for k, v in request.items() if k not in ("messages", "model", "stream")}
    return client.stream(request["messages"], model=request["model"], **params)


# -- streaming recordings through the operators ----------------------------------------------------


@pytest.mark.parametrize("name", STREAMS)
def test_recorded_stream_through_the_operators(fake_openrouter: FakeOpenRouter, client: orx.Client, name: str) -> None:
    assert ROOT is not None
    folder = ROOT / name
    expected = sse_chunks((folder / "body.sse").read_bytes())
    assert expected, f"{name}: no data events"
    request = recorded_request(name)
    fake_openrouter.enqueue(RecordedFolderReply(folder))
    source = stream_for(client, request).pipe(orx_ops.retry_with_backoff(**FAST), orx_ops.fallback_to_non_streaming())
    chunks, final, texts, calls, deltas, shots = fan_out(
        source,
        ops.to_list(),
        orx_ops.accumulate(),
        orx_ops.content(),
        orx_ops.tool_calls(),
        orx_ops.tool_call_deltas(),
        orx_ops.snapshots(),
    )

    # One request, the recorded one; the retry and fallback operators pass a good stream through untouched.
    [sent] = fake_openrouter.requests
    assert sent.json == request
    [received] = chunks.ok()
    assert [c.raw for c in received] == expected

    [response] = final.ok()
    assert response.content == joined_content(expected)
    assert "".join(texts.ok()) == response.content
    finishes = [c["finish_reason"] for c in choices0(expected) if c.get("finish_reason")]
    assert len(finishes) == 1
    assert response.finish_reason == finishes[0]
    assert response.id == expected[0]["id"] and response.model == expected[0]["model"]

    [usage] = [c["usage"] for c in expected if c.get("usage")]
    assert response.usage is not None
    assert response.usage.prompt_tokens == usage["prompt_tokens"]
    assert response.usage.completion_tokens == usage["completion_tokens"]
    assert response.usage.total_tokens == usage["total_tokens"]
    assert response.usage.cost == Decimal(repr(usage["cost"]))
    assert response.time_to_first_token is not None and response.response_time is not None
    assert 0 <= response.time_to_first_token <= response.response_time

    want = joined_tool_calls(expected)
    got = calls.ok()
    assert [(c.index, c.id, c.name, c.arguments_json) for c in got] == [
        (w["index"], w["id"], w["name"], w["arguments"]) for w in want
    ]
    assert [c.arguments for c in got] == [json.loads(w["arguments"]) for w in want]
    assert response.tool_calls == got
    assert response.has_tool_calls == bool(want)
    if want:
        assert response.finish_reason == "tool_calls"
    served_deltas = [e for c in choices0(expected) for e in (c.get("delta") or {}).get("tool_calls") or ()]
    assert len(deltas.ok()) == len(served_deltas)
    assert "".join(d.arguments or "" for d in deltas.items) == "".join(w["arguments"] for w in want)

    snapshots = shots.ok()
    assert len(snapshots) == len(expected)
    assert snapshots[-1] == response
    for before, after in itertools.pairwise(snapshots):
        assert after.content.startswith(before.content)


@pytest.mark.parametrize("name", REFUSED)
def test_recorded_refusal_is_neither_retried_nor_fallen_back(
    fake_openrouter: FakeOpenRouter, client: orx.Client, name: str
) -> None:
    assert ROOT is not None
    folder = ROOT / name
    status = int(_meta(folder)["status"])
    error_body = json.loads((folder / "body.json").read_text("utf-8"))["error"]
    fake_openrouter.enqueue(RecordedFolderReply(folder))
    source = stream_for(client, recorded_request(name)).pipe(
        orx_ops.retry_with_backoff(**FAST), orx_ops.fallback_to_non_streaming()
    )
    [final] = fan_out(source, orx_ops.accumulate())
    assert final.done.is_set() and final.items == []
    assert isinstance(final.error, orx.APIStatusError)
    assert final.error.status == status
    expected_class = {400: orx.BadRequestError, 401: orx.AuthenticationError, 402: orx.InsufficientCreditsError}
    assert isinstance(final.error, expected_class.get(status, orx.APIStatusError))
    assert final.error.message == error_body["message"]
    assert len(fake_openrouter.requests) == 1


# -- the recorded non-streaming tool calls, reached through the fallback ---------------------------


def test_recorded_parallel_tool_calls_via_fallback(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    assert ROOT is not None
    folder = ROOT / MULTIPLE_CALLS
    if not folder.is_dir():
        pytest.skip(f"{MULTIPLE_CALLS} not recorded")
    body = json.loads((folder / "body.json").read_bytes())  # the body starts with keep-alive whitespace
    message = body["choices"][0]["message"]
    request = recorded_request(MULTIPLE_CALLS)
    fake_openrouter.enqueue(ErrorReply(502, "Provider returned error"), RecordedFolderReply(folder))
    source = stream_for(client, request).pipe(orx_ops.fallback_to_non_streaming())
    calls, final, texts = fan_out(source, orx_ops.tool_calls(), orx_ops.accumulate(), orx_ops.content())

    got = calls.ok()
    assert len(got) == 2
    assert [(c.index, c.id, c.name, c.arguments_json) for c in got] == [
        (w["index"], w["id"], w["function"]["name"], w["function"]["arguments"]) for w in message["tool_calls"]
    ]
    assert [c.arguments for c in got] == [
        {"operation": "add", "a": 10, "b": 5},
        {"operation": "multiply", "a": 20, "b": 3},
    ]
    [response] = final.ok()
    assert response.tool_calls == got
    assert response.finish_reason == body["choices"][0]["finish_reason"] == "tool_calls"
    assert response.content == (message["content"] or "") == "".join(texts.ok())
    assert response.id == body["id"] and response.model == body["model"]
    usage = body["usage"]
    assert response.usage is not None
    assert (response.usage.prompt_tokens, response.usage.completion_tokens, response.usage.total_tokens) == (
        usage["prompt_tokens"],
        usage["completion_tokens"],
        usage["total_tokens"],
    )
    assert response.usage.cost == Decimal(repr(usage["cost"]))

    streamed, unstreamed = fake_openrouter.requests
    assert streamed.json == {**request, "stream": True}
    assert unstreamed.json == {**request, "stream": False}
