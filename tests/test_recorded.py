"""Check the library against real OpenRouter traffic recorded by a third party.

The recordings live in ``../shared/recorded`` (next to the repository), or where
``OPENROUTER_RX_RECORDED`` points; the tests skip cleanly when they are absent.
They are read in place, never copied into the project.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from reactivex import operators as ops
from support import recorded_root

import openrouter_rx as orx
from openrouter_rx.testing import FakeOpenRouter, RecordedFolderReply

ROOT = recorded_root()
pytestmark = pytest.mark.skipif(ROOT is None, reason="../shared/recorded is not present")
STREAMS = [
    "streaming_simple_completion",
    "streaming_with_system",
    "streaming_max_tokens",
    "streaming_temperature",
    "streaming_tool_single",
    "streaming_tool_required",
    "streaming_tool_none",
]


def _events(folder: Path) -> list[dict]:  # type: ignore[type-arg]
    """The chunks of a recorded body, decoded independently of the library."""
    events = []
    for block in (folder / "body.sse").read_text("utf-8").split("\n\n"):
        for line in block.splitlines():
            if line.startswith("data: ") and line != "data: [DONE]":
                events.append(json.loads(line[len("data: ") :]))
    return events


@pytest.mark.parametrize("name", STREAMS)
def test_recorded_stream_fidelity(fake_openrouter: FakeOpenRouter, name: str) -> None:
    assert ROOT is not None
    folder = ROOT / name
    if not folder.is_dir():
        pytest.skip(f"{name} not recorded")
    expected = _events(folder)
    request = json.loads((folder / "request.json").read_text())
    fake_openrouter.enqueue(RecordedFolderReply(folder))
    with orx.Client(api_key="sk-test", base_url=fake_openrouter.base_url) as client:
        params = {k: v for k, v in request.items() if k not in ("messages", "model", "stream")}
        chunks = client.stream(request["messages"], model=request["model"], **params).pipe(ops.to_list()).run()
    assert [c.raw for c in chunks] == expected
    response = orx.Response.from_chunks(chunks)
    content = "".join(
        (choice.get("delta") or {}).get("content") or "" for event in expected for choice in event.get("choices", [])
    )
    assert response.content == content
    finishes = [c["finish_reason"] for e in expected for c in e.get("choices", []) if c.get("finish_reason")]
    assert response.finish_reason == finishes[-1]
    usage = [e["usage"] for e in expected if e.get("usage")][-1]
    assert response.usage is not None
    assert response.usage.completion_tokens == usage["completion_tokens"]
    assert response.usage.total_tokens == usage["total_tokens"]
    assert float(response.usage.cost or 0) == pytest.approx(usage["cost"])
    if name.startswith("streaming_tool") and name != "streaming_tool_none":
        assert response.has_tool_calls and response.finish_reason == "tool_calls"
        for call in response.tool_calls:
            assert call.id and call.id.startswith("call_")
            assert isinstance(call.arguments, dict) and call.arguments
    assert fake_openrouter.last_request is not None
    assert fake_openrouter.last_request.json["tools" if "tools" in request else "model"] == request.get(
        "tools", request["model"]
    )


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("streaming_auth_error", orx.AuthenticationError),
        ("streaming_invalid_model", orx.BadRequestError),
        ("error_handling_parameter_validation-6", orx.BadRequestError),
    ],
)
def test_recorded_status_errors(fake_openrouter: FakeOpenRouter, name: str, cls: type[orx.APIStatusError]) -> None:
    assert ROOT is not None
    folder = ROOT / name
    if not folder.is_dir():
        pytest.skip(f"{name} not recorded")
    body = json.loads((folder / "body.json").read_text())
    fake_openrouter.enqueue(RecordedFolderReply(folder))
    with orx.Client(api_key="sk-test", base_url=fake_openrouter.base_url) as client:
        with pytest.raises(cls) as info:
            client.stream("Hello").run()
    assert info.value.message == body["error"]["message"]
    assert info.value.code == body["error"]["code"]


@pytest.mark.parametrize("name", ["tool_calling_multiple_calls-1", "structured_outputs_simple"])
def test_recorded_non_streaming(fake_openrouter: FakeOpenRouter, name: str) -> None:
    assert ROOT is not None
    folder = ROOT / name
    if not folder.is_dir():
        pytest.skip(f"{name} not recorded")
    meta = json.loads((folder / "meta.json").read_text())
    fake_openrouter.enqueue(RecordedFolderReply(folder))
    raw = (folder / "body.json").read_bytes()
    with orx.Client(api_key="sk-test", base_url=fake_openrouter.base_url) as client:
        if meta["status"] >= 400:
            with pytest.raises(orx.APIStatusError):
                client.complete("hi").run()
            return
        response = client.complete("hi").run()
    body = json.loads(raw)
    message = body["choices"][0]["message"]
    assert response.content == (message.get("content") or "")
    assert [c.name for c in response.tool_calls] == [c["function"]["name"] for c in message.get("tool_calls") or []]
    for call in response.tool_calls:
        assert isinstance(call.arguments, dict)
