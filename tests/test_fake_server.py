"""Tests of the fake OpenRouter server itself, over real HTTP on the loopback interface.

Clients here are plain ``requests``, ``http.client`` and raw sockets (never the library), and
every client call has a timeout.
"""

from __future__ import annotations

import base64
import http.client
import itertools
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from openrouter_rx.testing import (
    CassetteReply,
    ChunkFactory,
    CompletionReply,
    ErrorReply,
    FakeOpenRouter,
    JSONReply,
    KeepAlive,
    Pause,
    Pieces,
    RawReply,
    RecordedFolderReply,
    RecordedRequest,
    SSEFileReply,
    StreamReply,
    completion_body,
    load_cassette,
    models_body,
    sse_bytes,
    text_chunks,
    tool_call_chunks,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures"
T = 5.0  # timeout of every client call
CHAT = {"model": "openai/gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": "hi"}]}


def _recorded_root() -> Path | None:
    env = os.environ.get("OPENROUTER_RX_RECORDED")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[2] / "shared" / "recorded")
    return next((p for p in candidates if p.is_dir()), None)


@pytest.fixture
def fake() -> Iterator[FakeOpenRouter]:
    with FakeOpenRouter() as server:
        yield server


# -- small clients ------------------------------------------------------------------


def post(fake: FakeOpenRouter, body: Any = None, path: str = "/chat/completions", **kw: Any) -> requests.Response:
    return requests.post(fake.base_url + path, json=CHAT if body is None else body, timeout=T, **kw)


def data_events(text: str) -> list[Any]:
    """The ``data:`` payloads of an SSE text (JSON decoded, ``[DONE]`` kept as a string)."""
    out: list[Any] = []
    for block in text.split("\n\n"):
        for line in block.splitlines():
            if line.startswith("data: "):
                payload = line[len("data: ") :]
                out.append(payload if payload == "[DONE]" else json.loads(payload))
    return out


def raw_request(fake: FakeOpenRouter, body: Any = None, *, path: str = "/chat/completions") -> tuple[bytes, bytes]:
    """POST over a raw socket with ``Connection: close``; return (header block, body bytes as sent)."""
    payload = json.dumps(CHAT if body is None else body).encode()
    port = int(fake.base_url.split(":")[2].split("/")[0])
    with socket.create_connection(("127.0.0.1", port), timeout=T) as sock:
        sock.sendall(
            f"POST /api/v1{path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode()
            + payload
        )
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def dechunk(raw: bytes) -> tuple[list[bytes], bool]:
    """Parse a chunked body: (the chunks, whether the terminating zero chunk was there)."""
    chunks: list[bytes] = []
    while raw:
        size_line, sep, raw = raw.partition(b"\r\n")
        if not sep:
            return chunks, False
        size = int(size_line, 16)
        if size == 0:
            return chunks, True
        if len(raw) < size + 2:
            return chunks, False
        chunks.append(raw[:size])
        raw = raw[size + 2 :]
    return chunks, False


def open_stream(fake: FakeOpenRouter) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    port = int(fake.base_url.split(":")[2].split("/")[0])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=T)
    headers = {"Content-Type": "application/json"}
    conn.request("POST", "/api/v1/chat/completions", body=json.dumps(CHAT), headers=headers)
    return conn, conn.getresponse()


def timed_lines(response: http.client.HTTPResponse) -> list[tuple[float, bytes]]:
    """Read the body line by line, noting when each non-empty line arrived."""
    out = []
    while line := response.readline():
        if line.strip():
            out.append((time.monotonic(), line))
    return out


# -- default behaviour --------------------------------------------------------------


def test_default_stream_is_valid_sse(fake: FakeOpenRouter) -> None:
    body = {"model": "anthropic/claude-3.5-sonnet", "stream": True, "messages": [{"role": "user", "content": "ping"}]}
    response = post(fake, body)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/event-stream"
    assert response.headers["Transfer-Encoding"] == "chunked"
    assert response.text.startswith(": OPENROUTER PROCESSING\n\n")
    events = data_events(response.text)
    assert events[-1] == "[DONE]" and response.text.endswith("data: [DONE]\n\n")
    chunks = events[:-1]
    assert {c["model"] for c in chunks} == {"anthropic/claude-3.5-sonnet"}
    assert len({c["id"] for c in chunks}) == 1 and response.headers["X-Generation-Id"] == chunks[0]["id"]
    content = "".join(ch["delta"].get("content") or "" for c in chunks for ch in c["choices"])
    assert content == "Hello from the fake OpenRouter server. You said: ping"
    finish, usage = chunks[-2], chunks[-1]
    assert finish["choices"][0]["finish_reason"] == "stop" and "usage" not in finish
    assert usage["choices"] == [] and usage["usage"]["cost"] > 0
    assert usage["usage"]["total_tokens"] == usage["usage"]["prompt_tokens"] + usage["usage"]["completion_tokens"]


def test_default_text_delay_and_max_tokens() -> None:
    with FakeOpenRouter(default_text="a b c d e", default_delay=0.02, default_model="x/y") as fake:
        started = time.monotonic()
        response = post(fake, {"stream": True, "messages": [{"role": "user", "content": "q"}]})
        assert time.monotonic() - started >= 0.1  # 8 data events, 0.02 s apart
        chunks = data_events(response.text)[:-1]
        assert chunks[0]["model"] == "x/y"
        assert "".join(c["choices"][0]["delta"]["content"] for c in chunks if c["choices"]) == "a b c d e"
        limited = post(fake, {"stream": True, "max_tokens": 2, "messages": [{"role": "user", "content": "q"}]})
        chunks = data_events(limited.text)[:-1]
        assert "".join(c["choices"][0]["delta"]["content"] for c in chunks if c["choices"]) == "a b "
        assert chunks[-2]["choices"][0]["finish_reason"] == "length"


def test_default_completion_models_generation_and_404(fake: FakeOpenRouter) -> None:
    completion = post(fake, {"messages": [{"role": "user", "content": "yo"}]})
    assert completion.headers["Content-Type"] == "application/json"
    body = completion.json()
    assert body["object"] == "chat.completion" and body["model"] == "openai/gpt-4o-mini"
    assert body["choices"][0]["message"]["content"].endswith("You said: yo")
    assert body["choices"][0]["finish_reason"] == "stop" and body["usage"]["cost"] > 0

    models = requests.get(fake.base_url + "/models", timeout=T).json()["data"]
    assert len(models) == 3 and all(isinstance(v, str) for m in models for v in m["pricing"].values())
    assert models[0]["id"] == "openai/gpt-4o-mini" and models[0]["context_length"] == 128000

    stats = requests.get(fake.base_url + "/generation", params={"id": body["id"]}, timeout=T).json()["data"]
    assert stats["id"] == body["id"] and stats["tokens_completion"] == body["usage"]["completion_tokens"]

    missing = requests.get(fake.base_url + "/nowhere", timeout=T)
    assert missing.status_code == 404 and missing.json() == {"error": {"code": 404, "message": "Not Found"}}
    empty = post(fake, {"model": "a/b", "messages": []})
    assert empty.status_code == 400 and "messages" in empty.json()["error"]["message"]


# -- recording, queue, responder ----------------------------------------------------------


def test_requests_are_recorded(fake: FakeOpenRouter) -> None:
    assert fake.last_request is None and fake.requests == []
    post(fake, headers={"Authorization": "Bearer sk-x", "X-Title": "Tests"}, params={"a": "1"})
    request = fake.last_request
    assert isinstance(request, RecordedRequest)
    assert request.method == "POST" and request.path == "/api/v1/chat/completions" and request.query == {"a": "1"}
    assert request.header("authorization") == "Bearer sk-x" and request.header("X-TITLE") == "Tests"
    assert request.headers["Authorization"] == "Bearer sk-x"
    assert request.header("missing") is None
    assert request.json == CHAT and json.loads(request.body) == CHAT and request.stream
    assert request.received_at <= time.monotonic()
    assert request.wait_finished(T) and not request.disconnected.is_set()
    assert fake.wait_for_requests(1) == [request]
    with pytest.raises(TimeoutError):
        fake.wait_for_requests(2, timeout=0.1)
    fake.reset()
    assert fake.requests == [] and fake.last_request is None


def test_enqueue_is_fifo_then_responder_then_default(fake: FakeOpenRouter) -> None:
    assert fake.enqueue(JSONReply({"n": 1}), JSONReply({"n": 2})) is fake
    fake.enqueue(JSONReply({"n": 3}, 201))
    assert fake.pending == 3
    assert [requests.get(fake.base_url + "/any", timeout=T).json()["n"] for _ in range(3)] == [1, 2, 3]
    fake.responder = lambda request: JSONReply({"path": request.path}) if "echo" in request.path else None
    assert requests.get(fake.base_url + "/echo", timeout=T).json() == {"path": "/api/v1/echo"}
    assert requests.get(fake.base_url + "/other", timeout=T).status_code == 404  # responder said None
    fake.enqueue(JSONReply({"n": 4}))
    fake.reset()
    assert fake.pending == 0
    with pytest.raises(TypeError):
        fake.enqueue({"not": "a reply"})  # type: ignore[arg-type]


def test_a_failing_responder_gives_500(fake: FakeOpenRouter, capsys: pytest.CaptureFixture[str]) -> None:
    def broken(_: RecordedRequest) -> None:
        raise RuntimeError("boom")

    fake.responder = broken
    response = post(fake)
    assert response.status_code == 500 and "boom" in response.json()["error"]["message"]
    assert isinstance(fake.errors[0], RuntimeError)
    assert "boom" in capsys.readouterr().err


# -- StreamReply ----------------------------------------------------------------------


def test_stream_events_are_written_exactly(fake: FakeOpenRouter) -> None:
    factory = ChunkFactory(model="m/x")
    events: list[Any] = [KeepAlive(), factory.role(), ": custom comment\n\n", b'data: {"raw":1}\n\n', Pause(0.01)]
    events += [*factory.text("hi there"), KeepAlive("OTHER")]
    fake.enqueue(StreamReply(events))
    response = post(fake)
    assert response.content == sse_bytes(events)
    assert response.content.count(b": OPENROUTER PROCESSING\n\n") == 1 and b": OTHER\n\n" in response.content
    assert response.headers["X-Generation-Id"] == factory.id


def test_stream_delay_and_first_delay(fake: FakeOpenRouter) -> None:
    fake.enqueue(StreamReply(text_chunks("a b c"), delay=0.06, first_delay=0.1))
    started = time.monotonic()
    conn, response = open_stream(fake)
    lines = timed_lines(response)
    conn.close()
    times = [t - started for t, _ in lines]
    assert len(lines) == 7  # role, 3 pieces, finish, usage, [DONE]
    assert times[0] >= 0.09
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 0.04 and times[-1] - times[0] >= 0.3


def test_done_false(fake: FakeOpenRouter) -> None:
    fake.enqueue(StreamReply(text_chunks("no done"), done=False))
    response = post(fake)
    assert b"[DONE]" not in response.content and data_events(response.text)[-1]["usage"]
    _, raw = raw_request(fake)
    assert dechunk(raw)[1]  # a normal, complete chunked body


def test_disconnect_after_gives_an_incomplete_chunked_body(fake: FakeOpenRouter) -> None:
    fake.enqueue(StreamReply(text_chunks("one two three four"), disconnect_after=3))
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        post(fake)
    fake.enqueue(StreamReply(text_chunks("one two three four"), disconnect_after=3))
    conn, response = open_stream(fake)
    with pytest.raises(http.client.IncompleteRead) as info:
        response.read()
    conn.close()
    assert len(data_events(info.value.partial.decode())) == 3
    request = fake.wait_for_requests(2)[1]
    assert request.wait_finished(T) and not request.disconnected.is_set()


def test_stall_detects_the_client_leaving(fake: FakeOpenRouter) -> None:
    fake.enqueue(StreamReply(text_chunks("first second third"), stall_after=2))
    conn, response = open_stream(fake)
    assert len(data_events(response.readline().decode() + response.readline().decode())) == 1
    assert len(data_events(response.readline().decode() + response.readline().decode())) == 1
    request = fake.wait_for_requests(1)[0]
    assert not request.wait_disconnected(0.2) and not request.finished.is_set()
    assert conn.sock is not None
    conn.sock.shutdown(socket.SHUT_RDWR)
    conn.close()
    assert request.wait_disconnected(2)
    assert request.wait_finished(2)


def test_stall_keepalive_sends_comments(fake: FakeOpenRouter) -> None:
    fake.enqueue(StreamReply(text_chunks("x y"), stall_after=1, stall_keepalive=0.05))
    conn, response = open_stream(fake)
    lines = [response.readline() for _ in range(8)]
    conn.close()
    assert lines[0].startswith(b"data: ")
    assert lines[2:8:2] == [b": OPENROUTER PROCESSING\n"] * 3
    assert fake.wait_for_requests(1)[0].wait_disconnected(2)


def test_framing_close(fake: FakeOpenRouter) -> None:
    events = text_chunks("clean eof")
    fake.enqueue(StreamReply(events, framing="close", done=False))
    head, body = raw_request(fake)
    assert b"Connection: close" in head and b"Transfer-Encoding" not in head and b"Content-Length" not in head
    assert body == sse_bytes(events, done=False)
    fake.enqueue(StreamReply(events, framing="close"))
    assert post(fake).content == sse_bytes(events)


@pytest.mark.parametrize("size", [1, 3, 7])
def test_fragment_size_splits_utf8_characters(fake: FakeOpenRouter, size: int) -> None:
    events = text_chunks("Crème brûlée 🍮 ok", pieces=2)
    fake.enqueue(StreamReply(events, fragment_size=size))
    _, raw = raw_request(fake)
    chunks, complete = dechunk(raw)
    assert complete and b"".join(chunks) == sse_bytes(events)
    assert all(len(c) <= size for c in chunks) and len(chunks) >= len(sse_bytes(events)) // size
    if size > 1:
        undecodable = 0
        for chunk in chunks:
            try:
                chunk.decode("utf-8")
            except UnicodeDecodeError:
                undecodable += 1
        assert undecodable > 0  # some multi-byte character was cut across writes


def test_fragment_size_with_delay(fake: FakeOpenRouter) -> None:
    events = text_chunks("hi")
    total = len(sse_bytes(events))
    fake.enqueue(StreamReply(events, fragment_size=total // 4 + 1, delay=0.05))
    started = time.monotonic()
    assert post(fake).content == sse_bytes(events)
    assert time.monotonic() - started >= 0.14  # 4 pieces, 3 pauses


def test_raw_reply_pieces_are_separate_chunks(fake: FakeOpenRouter) -> None:
    pieces = [b'data: {"a"', b":1}\n", b"\n", b"data: [DONE]\n\n"]
    fake.enqueue(RawReply(pieces, delay=0.01))
    head, raw = raw_request(fake)
    assert b"Content-Type: text/event-stream" in head
    assert dechunk(raw) == (pieces, True)
    fake.enqueue(RawReply([b"partial"], framing="close", headers={"Content-Type": "text/plain"}))
    head, raw = raw_request(fake)
    assert raw == b"partial" and b"Content-Type: text/plain" in head


# -- other replies --------------------------------------------------------------------


def test_error_reply_json_with_retry_after(fake: FakeOpenRouter) -> None:
    fake.enqueue(
        ErrorReply(
            429,
            "slow down",
            metadata={"provider_name": "OpenAI"},
            headers={"Retry-After": "2"},
            error_extra={"availability": {"retry": True}},
        )
    )
    response = post(fake)
    assert response.status_code == 429 and response.headers["Retry-After"] == "2"
    assert response.headers["Content-Type"] == "application/json"
    error = {"code": 429, "message": "slow down", "metadata": {"provider_name": "OpenAI"}}
    error["availability"] = {"retry": True}
    assert response.json() == {"error": error}
    fake.enqueue(ErrorReply(502, code="server_error"), ErrorReply(500, body=b"not json"))
    assert post(fake).json() == {"error": {"code": "server_error", "message": "Bad Gateway"}}
    assert post(fake).content == b"not json"


def test_error_reply_html(fake: FakeOpenRouter) -> None:
    page = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
    fake.enqueue(ErrorReply(502, html=page))
    response = post(fake)
    assert response.status_code == 502 and response.text == page
    assert response.headers["Content-Type"].startswith("text/html")


def test_completion_reply_leading_whitespace(fake: FakeOpenRouter) -> None:
    body = completion_body("Hi!", tool_calls=[{"name": "f", "arguments": {"x": 1}}])
    fake.enqueue(CompletionReply(body, leading_whitespace=3, delay=0.03))
    started = time.monotonic()
    response = post(fake, {"messages": []})
    assert time.monotonic() - started >= 0.1
    assert response.content.startswith(b"\n\n\n{") and json.loads(response.content) == body
    fake.enqueue(CompletionReply(body, leading_whitespace=2))
    _, raw = raw_request(fake)
    chunks, complete = dechunk(raw)
    assert complete and chunks[:2] == [b"\n", b"\n"]


def test_json_reply(fake: FakeOpenRouter) -> None:
    fake.enqueue(JSONReply(models_body(["a/b"]), 203, {"X-Extra": "1"}))
    response = requests.get(fake.base_url + "/models", timeout=T)
    assert response.status_code == 203 and response.headers["X-Extra"] == "1"
    assert response.headers["Content-Length"] == str(len(response.content))
    assert response.json()["data"][0]["id"] == "a/b"


def test_sse_file_reply(fake: FakeOpenRouter) -> None:
    path = FIXTURES / "fake_stream.sse"
    fake.enqueue(SSEFileReply(path))
    _, raw = raw_request(fake)
    chunks, complete = dechunk(raw)
    assert complete and b"".join(chunks) == path.read_bytes()
    assert all(c.endswith(b"\n\n") for c in chunks) and len(chunks) == path.read_bytes().count(b"\n\n")
    fake.enqueue(SSEFileReply(path, pace=0.02))
    started = time.monotonic()
    response = post(fake)
    assert time.monotonic() - started >= 0.02 * (len(chunks) - 2)
    events = [c for c in data_events(response.content.decode())[:-1] if c["choices"]]
    text = "".join(c["choices"][0]["delta"]["content"] for c in events)
    assert text == "Crème brûlée is sweet 🍮"


def test_cassette_reply(fake: FakeOpenRouter) -> None:
    path = FIXTURES / "fake_cassette.yml"
    interactions = load_cassette(path)
    assert [i.status for i in interactions] == [200, 429, 200]
    assert json.loads(interactions[0].request_body or b"")["stream"] is True
    assert interactions[1].headers["Retry-After"] == ["7"] and interactions[2].method == "GET"

    cassette = CassetteReply(path)
    fake.enqueue(cassette, cassette, cassette, cassette)
    stream = post(fake)
    assert stream.headers["Content-Type"] == "text/event-stream" and stream.headers["X-Fixture"] == "stream"
    assert stream.content == interactions[0].body and data_events(stream.text)[-1] == "[DONE]"
    limited = post(fake)
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "7"
    assert limited.json()["error"]["message"] == "Rate limit exceeded: fake/tiny-model"
    models = requests.get(fake.base_url + "/models", timeout=T)
    assert models.content == interactions[2].body and models.json()["data"][0]["pricing"]["prompt"] == "0.000001"
    assert cassette.remaining == 0
    exhausted = post(fake)  # the fourth use: nothing left
    assert exhausted.status_code == 500 and isinstance(fake.errors[-1], IndexError)

    fake.enqueue(CassetteReply(path, interaction=1))
    assert post(fake).status_code == 429


def test_cassette_needs_pyyaml(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "yaml", None)
    with pytest.raises(ImportError, match=r"pip install 'openrouter-rx\[yaml\]'"):
        load_cassette(FIXTURES / "fake_cassette.yml")


def test_cassette_binary_and_plain_bodies(tmp_path: Path) -> None:
    encoded = base64.b64encode(b"\x00\xffbin").decode()
    (tmp_path / "c.yml").write_text(
        "interactions:\n"
        "- request: {method: GET, uri: 'http://x/', body: null}\n"
        f"  response: {{status: {{code: 201}}, headers: {{A: b}}, body: {{string: !binary '{encoded}'}}}}\n"
    )
    [interaction] = load_cassette(tmp_path / "c.yml")
    assert interaction.status == 201 and interaction.body == b"\x00\xffbin" and interaction.headers == {"A": ["b"]}


def test_recorded_folder_reply(fake: FakeOpenRouter) -> None:
    root = _recorded_root()
    if root is None or not (root / "streaming_simple_completion").is_dir():
        pytest.skip("recorded OpenRouter traffic (../shared/recorded) is not available")
    folder = root / "streaming_simple_completion"
    fake.enqueue(RecordedFolderReply(folder))
    head, raw = raw_request(fake)
    chunks, complete = dechunk(raw)
    assert complete and b"".join(chunks) == (folder / "body.sse").read_bytes()
    assert head.startswith(b"HTTP/1.1 200 OK") and b"Content-Type: text/event-stream" in head
    assert head.count(b"Transfer-Encoding") == 1 and b"keep-alive" not in head and b"Cf-Ray" in head
    error_folder = root / "streaming_auth_error"
    if error_folder.is_dir():
        fake.enqueue(RecordedFolderReply(error_folder))
        response = post(fake)
        assert response.status_code == 401 and response.content == (error_folder / "body.json").read_bytes()


# -- builders ---------------------------------------------------------------------------


def test_text_chunks_are_consistent() -> None:
    text = "Hello there,  world! "
    all_pieces: list[Pieces] = ["words", "chars", 3, ["Hello ", "there,  world! "]]
    for pieces in all_pieces:
        chunks = text_chunks(text, pieces=pieces, reasoning="think hard")
        contents = [c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]]
        assert "".join(contents) == text
        assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
        assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
        usage = chunks[-1]
        assert usage["choices"] == [] and usage["usage"]["completion_tokens"] == len(chunks) - 3
        reasoning = "".join(c["choices"][0]["delta"].get("reasoning") or "" for c in chunks if c["choices"])
        assert reasoning == "think hard"
    words = [c["choices"][0]["delta"]["content"] for c in text_chunks("a b  c")[1:-2]]
    assert words == ["a ", "b  ", "c"]
    with pytest.raises(ValueError):
        text_chunks("abc", pieces=["x"])


def test_tool_call_builders() -> None:
    calls: list[dict[str, Any]] = [
        {"name": "get_weather", "arguments": {"city": "Tokyo"}},
        {"name": "noop", "arguments": "{}", "id": "call_1"},
    ]
    all_options: list[dict[str, Any]] = [{}, {"repeat_id": True}, {"first_without_name": True}, {"one_chunk": True}]
    for options in all_options:
        chunks = tool_call_chunks(calls, fragments=4, start_index=2, **options)
        deltas = [tc for c in chunks if c["choices"] for tc in c["choices"][0]["delta"].get("tool_calls") or []]
        for offset, call in enumerate(calls):
            mine = [d for d in deltas if d["index"] == 2 + offset]
            joined = "".join(d["function"].get("arguments", "") for d in mine)
            expected = call["arguments"] if isinstance(call["arguments"], str) else json.dumps(call["arguments"])
            assert joined == expected, options
            assert [d["function"]["name"] for d in mine if "name" in d["function"]] == [call["name"]], options
            ids = {d["id"] for d in mine if "id" in d}
            assert len(ids) == 1 and ids.pop().startswith("call_"), options
            if options.get("repeat_id") or options.get("one_chunk"):
                assert all("id" in d for d in mine)
            if options.get("first_without_name"):
                assert "name" not in mine[0]["function"] and mine[1]["function"]["name"] == call["name"]
        assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls" and chunks[-1]["choices"] == []
    first = ChunkFactory().tool_calls(calls[:1])[0]["choices"][0]["delta"]
    assert first["content"] is None and first["tool_calls"][0]["function"] == {"name": "get_weather", "arguments": ""}
    with_text = tool_call_chunks(calls, text="Let me check.")
    assert with_text[1]["choices"][0]["delta"]["content"] == "Let "


def test_factory_error_usage_and_bodies() -> None:
    factory = ChunkFactory(model="m/x", provider="P", id="gen-1", created=5)
    error = factory.error("server_error", "Provider disconnected", metadata={"raw": "x"})
    assert error["error"] == {"code": "server_error", "message": "Provider disconnected", "metadata": {"raw": "x"}}
    assert error["choices"][0]["finish_reason"] == "error" and error["choices"][0]["delta"] == {"content": ""}
    assert factory.error(with_choice=False)["choices"] == []
    usage = factory.usage(14, 15, cost=0.0000295, cached_tokens=2)["usage"]
    assert usage["total_tokens"] == 29 and usage["prompt_tokens_details"]["cached_tokens"] == 2
    reasoning = factory.reasoning("ab", pieces="chars", details=True)
    assert reasoning[1]["choices"][0]["delta"]["reasoning_details"] == [
        {"type": "reasoning.text", "text": "b", "index": 0, "format": "unknown"}
    ]
    chunk = factory.chunk({"content": "x"}, finish_reason="length", native_finish_reason="max_tokens", extra=1)
    assert chunk["extra"] == 1 and chunk["choices"][0]["native_finish_reason"] == "max_tokens"
    assert (chunk["id"], chunk["model"], chunk["provider"], chunk["created"]) == ("gen-1", "m/x", "P", 5)

    body = completion_body(tool_calls=[{"name": "f", "arguments": {"x": 1}}], reasoning="hmm")
    message = body["choices"][0]["message"]
    assert body["choices"][0]["finish_reason"] == "tool_calls" and message["reasoning"] == "hmm"
    assert message["tool_calls"][0]["function"]["arguments"] == '{"x": 1}'
    assert message["tool_calls"][0]["id"].startswith("call_")
    assert completion_body("x", usage=False).get("usage") is None
    assert models_body()["data"][0]["pricing"]["prompt"] == "0.00000015"
    expected = 'data: {"a":"é"}\n\n: OPENROUTER PROCESSING\n\nx'.encode()
    assert sse_bytes([{"a": "é"}, KeepAlive(), Pause(1), "x"], done=False) == expected


# -- lifecycle --------------------------------------------------------------------------


def test_stop_is_prompt_with_a_stalled_handler() -> None:
    fake = FakeOpenRouter().start()
    fake.enqueue(StreamReply(text_chunks("a b"), stall_after=1), StreamReply(text_chunks("c"), stall_after=0))
    conns = [open_stream(fake) for _ in range(2)]
    assert conns[0][1].readline().startswith(b"data: ")
    idle = http.client.HTTPConnection("127.0.0.1", int(fake.url.rsplit(":", 1)[1]), timeout=T)
    idle.request("GET", "/api/v1/models")
    idle.getresponse().read()  # a kept-alive idle connection: its handler waits for the next request
    requests_seen = fake.wait_for_requests(3)
    started = time.monotonic()
    fake.stop()
    assert time.monotonic() - started < 1.0
    assert all(r.wait_finished(1.0) for r in requests_seen)
    for conn, response in conns:
        with pytest.raises((http.client.IncompleteRead, OSError)):
            response.read()
        conn.close()
    idle.close()
    fake.stop()  # idempotent
    with pytest.raises(RuntimeError):
        _ = fake.base_url


def test_concurrent_streams(fake: FakeOpenRouter) -> None:
    for n in range(4):
        fake.enqueue(StreamReply(text_chunks(f"stream {n}"), delay=0.05))
    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(post(fake).text)) for _ in range(4)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(T)
    assert len(results) == 4 and time.monotonic() - started < 0.9  # served in parallel (~0.3 s each)


def test_pytest_plugin_fixture(fake_openrouter: FakeOpenRouter) -> None:
    assert fake_openrouter.running and fake_openrouter.base_url.startswith("http://127.0.0.1:")
    assert fake_openrouter.base_url.endswith("/api/v1")
    assert post(fake_openrouter).status_code == 200


def test_demo_client_uses_the_fake_server_without_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from openrouter_rx import operators as orx_ops
    from openrouter_rx.testing import StreamReply, demo_client, text_chunks

    monkeypatch.delenv("OPENROUTER_API_KEY", raising=False)
    said = io.StringIO()
    with demo_client(announce=said) as (client, fake):
        assert fake is not None and client.base_url == fake.base_url
        fake.enqueue(StreamReply(text_chunks("hi there")))
        assert client.stream("x").pipe(orx_ops.accumulate()).run().content == "hi there"
    assert "offline" in said.getvalue()
    assert not fake.running
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-v1-demo-0123456789")
    with demo_client(announce=said) as (live, none):
        assert none is None and live.base_url.startswith("https://openrouter.ai")
