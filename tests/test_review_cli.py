"""Review of the ``openrouter-rx`` command line as a user meets it: in a real pseudo-terminal,
piped, with odd arguments, odd recordings and hostile model output."""

from __future__ import annotations

import io
import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from openrouter_rx.cli import _session, main
from openrouter_rx.testing import (
    FakeOpenRouter,
    JSONReply,
    RecordedRequest,
    Reply,
    StreamReply,
    models_body,
    text_chunks,
)
from tests.support import WAIT, recorded_root

SECRET = "sk-or-v1-secret-review-0123456789"
HOSTILE = "safe \x1b]52;c;cm0gLXJmIH4=\x07text\x1b[2J here\rX\x9b31m end"
"""Model output that tries to act on the terminal: an OSC 52 clipboard write, a screen clear, a
carriage return and an 8-bit CSI."""
INJECTED = ("\x1b]52", "\x1b[2J", "\x07", "\r", "\x9b")


class FakeTTY(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def run(*argv: str, out: io.StringIO | None = None, err: io.StringIO | None = None) -> tuple[int, str, str]:
    out = out if out is not None else io.StringIO()
    err = err if err is not None else io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def quick_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENROUTER_API_KEY", raising=False)
    monkeypatch.setattr(_session, "DEMO_DELAY", 0.0)


# -- model output that would act on the terminal ---------------------------------------------


def test_plain_on_a_terminal_strips_control_sequences_from_the_answer(fake_openrouter: FakeOpenRouter) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks(HOSTILE, pieces=3)))
    code, out, err = run("chat", "hi", "--plain", "--base-url", fake_openrouter.base_url, out=FakeTTY())
    assert code == 0, err
    for sequence in INJECTED:
        assert sequence not in out
    assert "safe " in out and "text" in out and " end" in out


def test_plain_piped_keeps_the_answer_byte_for_byte(fake_openrouter: FakeOpenRouter) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks(HOSTILE, pieces=3)))
    code, out, _ = run("chat", "hi", "--plain", "--base-url", fake_openrouter.base_url)
    assert code == 0
    assert out == HOSTILE + "\n"  # a file gets what the model sent


def test_rich_view_strips_control_sequences(fake_openrouter: FakeOpenRouter, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("rich")
    monkeypatch.setenv("FORCE_COLOR", "1")  # rich treats the StringIO as a terminal: the live view runs
    fake_openrouter.enqueue(StreamReply(text_chunks(HOSTILE, pieces=3, model="acme/\x1b[2Jm")))
    code, out, err = run("chat", "hi", "--rich", "--base-url", fake_openrouter.base_url)
    assert code == 0, err
    for sequence in INJECTED:
        if sequence != "\r":  # rich's own cursor moves use \r
            assert sequence not in out
    assert "safe " in out and "hereX" in out and " end" in out


def test_an_error_message_from_the_server_is_written_without_control_sequences(
    fake_openrouter: FakeOpenRouter,
) -> None:
    from openrouter_rx.testing import ErrorReply

    fake_openrouter.enqueue(ErrorReply(400, "bad \x1b]0;pwned\x07 request"))
    code, _, err = run("chat", "hi", "--plain", "--retries", "0", "--base-url", fake_openrouter.base_url)
    assert code == 1
    assert "BadRequestError" in err and "\x1b" not in err and "\x07" not in err


def test_rich_json_view_keeps_the_text_that_arrived_when_the_stream_fails(
    fake_openrouter: FakeOpenRouter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("rich")
    monkeypatch.setenv("FORCE_COLOR", "1")
    schema = tmp_path / "person.json"
    schema.write_text('{"type": "object", "properties": {"name": {"type": "string"}}}')
    cut = StreamReply(text_chunks('{"name": "Alice Liddell', pieces=3), done=False, disconnect_after=6)
    fake_openrouter.enqueue(cut)
    argv = ["chat", "hi", "--rich", "--json-schema", str(schema), "--retries", "0"]
    code, out, err = run(*argv, "--base-url", fake_openrouter.base_url)
    assert code == 1 and "TruncatedStreamError" in err
    final = out.rsplit("\x1b[2K", 1)[-1]  # what stays once the live region is gone
    assert re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", final).count('{"name": "Alice') == 1


def test_offline_json_schema_demo_follows_local_refs() -> None:
    """Schemas exported by pydantic or marshmallow put nested objects in ``$defs``."""
    schema = {
        "type": "object",
        "properties": {
            "owner": {"$ref": "#/$defs/person"},
            "pets": {"type": "array", "items": {"$ref": "#/definitions/pet"}},
        },
        "$defs": {"person": {"type": "object", "properties": {"name": {"type": "string"}}}},
        "definitions": {"pet": {"type": "object", "properties": {"kind": {"enum": ["cat", "dog"]}}}},
    }
    assert _session.sample_for(schema) == {"owner": {"name": "example"}, "pets": [{"kind": "cat"}]}
    looping = {"type": "object", "properties": {"next": {"$ref": "#"}}}
    assert isinstance(_session.sample_for(looping), dict)  # a recursive schema ends (depth limit)


def test_a_dumb_terminal_gets_no_ansi_styles(fake_openrouter: FakeOpenRouter, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "dumb")  # e.g. Emacs' M-x shell: plain text, and no escape codes either
    monkeypatch.delenv("NO_COLOR", raising=False)
    fake_openrouter.enqueue(StreamReply(text_chunks("Hello.", reasoning="Thinking.")))
    code, out, err = run("chat", "hi", "--base-url", fake_openrouter.base_url, out=FakeTTY(), err=FakeTTY())
    assert code == 0, err
    assert "Thinking." in out and "Hello." in out
    assert "\x1b" not in out + err


# -- the key ----------------------------------------------------------------------------------


def test_offline_with_a_key_does_not_send_the_key_to_the_embedded_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", SECRET)
    monkeypatch.setattr(_session, "DEMO_DELAY", 0.0)
    seen: list[RecordedRequest] = []
    script = _session.offline_responder

    def recording(request: RecordedRequest) -> Reply | None:
        seen.append(request)
        return script(request)

    monkeypatch.setattr(_session, "offline_responder", recording)
    code, out, err = run("chat", "hi", "--offline", "--jsonl", "--tools-demo")
    assert code == 0, err
    assert len(seen) == 2
    for request in seen:
        assert SECRET not in json.dumps(request.headers)
        assert request.header("Authorization") is None
    assert SECRET not in out + err


def test_jsonl_ends_with_an_error_line_when_the_client_refuses_before_any_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", SECRET)
    code, out, err = run("chat", "hi", "--jsonl", "--base-url", "http://example.com/api/v1")  # no request is made
    assert code == 1
    last = json.loads(out.splitlines()[-1])
    assert last["type"] == "error" and last["error"] == "InsecureTransportError"
    assert err.count("InsecureTransportError") == 1 and SECRET not in out + err


def test_chat_with_a_key_uses_openrouter_base_url_from_the_environment_like_the_library(
    fake_openrouter: FakeOpenRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", SECRET)
    monkeypatch.setenv("OPENROUTER_BASE_URL", fake_openrouter.base_url)  # e.g. a company proxy
    fake_openrouter.enqueue(StreamReply(text_chunks("via the proxy")))
    code, out, err = run("chat", "hi", "--plain", "--retries", "0", "--idle-timeout", "5")
    assert code == 0, err
    assert out.strip() == "via the proxy"
    assert fake_openrouter.requests[0].header("Authorization") == f"Bearer {SECRET}"
    assert SECRET not in out + err


# -- models -------------------------------------------------------------------------------------


def test_models_search_without_a_match_says_so(quick_demo: None) -> None:
    code, out, err = run("models", "--search", "no-such-model-zzz", "--plain", "--offline")
    assert code == 0, err
    assert out.split() == ["id", "context", "prompt", "$/M", "completion", "$/M"]
    assert "no model" in err and "no-such-model-zzz" in err


def test_models_rich_table_on_a_narrow_terminal_shows_whole_ids(
    fake_openrouter: FakeOpenRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("rich")
    monkeypatch.setenv("COLUMNS", "40")
    ids = ["meta-llama/llama-3.1-405b-instruct", "vendor/[/odd]-model"]  # long; brackets are not markup
    fake_openrouter.enqueue(JSONReply(models_body(ids)))
    code, out, err = run("models", "--rich", "--base-url", fake_openrouter.base_url)
    assert code == 0, err
    cells = "".join(line.split("│")[1].strip() for line in out.splitlines() if line.startswith("│"))
    assert cells == "".join(sorted(ids))  # folded over lines, not cut with an ellipsis


# -- arguments that cannot make a valid request --------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["chat", "hi", "--max-tokens", "0"],
        ["chat", "hi", "--max-tokens", "-5"],
        ["chat", "hi", "--temperature", "nan"],
        ["chat", "hi", "--temperature", "inf"],
        ["chat", "hi", "--temperature", "-1"],
        ["replay", __file__, "--delay", "nan"],
        ["replay", __file__, "--delay", "-1"],
        ["chat", "hi", "--base-url", "http://127.0.0.1:9/api/v1?key=abc"],
        ["chat", "hi", "--base-url", "http://127.0.0.1:9/api/v1#frag"],
    ],
)
def test_values_that_cannot_make_a_valid_request_are_usage_errors(argv: list[str]) -> None:
    code, out, err = run(*argv, "--offline") if argv[0] == "chat" else run(*argv)
    assert code == 2, err
    assert out == "" and "Traceback" not in err


# -- replay of odd recordings ---------------------------------------------------------------


def _folder(tmp_path: Path, meta: str, body: bytes | None = None) -> Path:
    folder = tmp_path / "rec"
    folder.mkdir()
    (folder / "meta.json").write_text(meta)
    if body is not None:
        (folder / "body.sse").write_bytes(body)
    return folder


@pytest.mark.parametrize(
    ("meta", "body", "says"),
    [
        ("{oops", b"data: [DONE]\n\n", "meta.json"),
        ("[1, 2]", b"data: [DONE]\n\n", "meta.json"),
        ('{"status": "abc"}', b"data: [DONE]\n\n", "meta.json"),
        ('{"status": 200, "content_type": "text/event-stream"}', None, "body"),
    ],
)
def test_replay_of_a_broken_folder_is_a_usage_error(tmp_path: Path, meta: str, body: bytes | None, says: str) -> None:
    code, _, err = run("replay", str(_folder(tmp_path, meta, body)), "--plain")
    assert code == 2, err
    assert says in err and "Traceback" not in err


@pytest.mark.parametrize(
    "text", ["interactions:\n- request: {uri: x\n", "\x00\x01\x02", "http_interactions: [{request: 1}]\n"]
)
def test_replay_of_a_broken_cassette_is_a_usage_error(tmp_path: Path, text: str) -> None:
    pytest.importorskip("yaml")
    cassette = tmp_path / "broken.yml"
    cassette.write_text(text)
    code, _, err = run("replay", str(cassette), "--plain")
    assert code == 2, err
    assert "cannot read the cassette" in err


@pytest.mark.parametrize("request_body", ['{"messages": [1, 2], "model": "a/b"}', "{broken", '{"messages": "hi"}'])
def test_replay_with_an_odd_recorded_request_still_replays_the_reply(tmp_path: Path, request_body: str) -> None:
    sse = b'data: {"choices": [{"index": 0, "delta": {"content": "ok"}, "finish_reason": "stop"}]}\n\ndata: [DONE]\n\n'
    folder = _folder(tmp_path, '{"status": 200, "content_type": "text/event-stream"}', sse)
    (folder / "request.json").write_text(request_body)
    code, out, err = run("replay", str(folder), "--plain")
    assert code == 0, err
    assert out.strip() == "ok"


def test_replay_of_a_recording_that_is_not_a_chat_completion_is_a_usage_error(tmp_path: Path) -> None:
    meta = {"status": 200, "content_type": "application/json", "uri": "https://openrouter.ai/api/v1/models",
            "method": "GET", "body_file": "body.json"}  # fmt: skip
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "meta.json").write_text(json.dumps(meta))
    (folder / "body.json").write_text(json.dumps(models_body()))
    code, _, err = run("replay", str(folder), "--plain")
    assert code == 2, err
    assert "/models" in err and "chat/completions" in err


@pytest.mark.parametrize(
    ("folder", "code"),
    [
        ("models", 2),
        ("structured_outputs_simple", 2),
        ("tool_calling_multiple_calls-1", 0),
        ("streaming_invalid_model", 1),
    ],
)
def test_replay_of_every_kind_of_shared_recording(folder: str, code: int) -> None:
    root = recorded_root()
    if root is None or not (root / folder).is_dir():
        pytest.skip("../shared/recorded is not present")
    got, _, err = run("replay", str(root / folder), "--plain")
    assert got == code, err
    assert "Traceback" not in err


def test_replay_a_truncated_or_garbled_sse_file_exits_1_with_the_typed_error(tmp_path: Path) -> None:
    cut = tmp_path / "cut.sse"
    cut.write_bytes(b'data: {"choices": [{"index": 0, "delta": {"content": "Hel"}}]}\n\ndata: {"choi')
    code, out, err = run("replay", str(cut), "--plain")
    assert code == 1 and out.startswith("Hel") and "TruncatedStreamError" in err
    garbled = tmp_path / "garbled.sse"
    garbled.write_bytes(b"data: " + bytes(range(128, 256)) + b"\n\n")
    code, _, err = run("replay", str(garbled), "--plain")
    assert code == 1 and "ProtocolError" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "content",
    [bytes(range(256)) * 4, b"hello\nthis is not a recording\n", b"", b'{"choices": [{"message": {"content": "x"}}]}'],
)
def test_replay_a_file_that_is_not_a_recorded_sse_body_is_a_usage_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "reply.json"
    path.write_bytes(content)
    code, out, err = run("replay", str(path), "--plain")
    assert code == 2, err
    assert "no SSE" in err and "meta.json" in err and out == ""


def test_replay_reads_a_recorded_body_from_a_pipe() -> None:
    """``curl ... | openrouter-rx replay /dev/stdin``: a pipe can be read once only."""
    if not Path("/dev/stdin").exists():  # pragma: no cover - not on Linux/macOS
        pytest.skip("no /dev/stdin")
    body = (
        b'data: {"choices": [{"index": 0, "delta": {"content": "piped"}, "finish_reason": "stop"}]}\n\ndata: [DONE]\n\n'
    )
    command = [sys.executable, "-m", "openrouter_rx", "replay", "/dev/stdin", "--plain"]
    done = subprocess.run(command, input=body, capture_output=True, timeout=WAIT, env=_env())
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().strip() == "piped"


# -- a real terminal ----------------------------------------------------------------------------


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENROUTER_API_KEY", "NO_COLOR", "FORCE_COLOR")}
    env.update(TERM="xterm-256color", COLUMNS="60", LINES="12")
    return env


@pytest.fixture
def terminal() -> Iterator[tuple[int, int]]:
    """A pseudo-terminal: ``(master, slave)`` file descriptors."""
    master, slave = os.openpty()
    try:
        yield master, slave
    finally:
        for fd in (master, slave):
            try:
                os.close(fd)
            except OSError:
                pass


def _read_until(master: int, process: subprocess.Popen[bytes], marker: bytes | None) -> bytes:
    """What the terminal shows until ``marker`` appears (``None``: until the process ends)."""
    seen = b""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if marker is not None and marker in seen:
            return seen
        ready, _, _ = select.select([master], [], [], 0.05)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # the slave side is gone
                data = b""
            seen += data
            if not data and process.poll() is not None:
                return seen
        elif process.poll() is not None and marker is None:
            return seen
    return seen


def _run_in_terminal(
    terminal: tuple[int, int],
    argv: list[str],
    interrupt_at: bytes | None = None,
    before_interrupt: Callable[[], object] | None = None,
    sig: signal.Signals = signal.SIGINT,
) -> tuple[int, str]:
    master, slave = terminal
    command = [sys.executable, "-m", "openrouter_rx", *argv]
    process = subprocess.Popen(command, env=_env(), stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    try:
        seen = b""
        if interrupt_at is not None:
            seen = _read_until(master, process, interrupt_at)
            assert interrupt_at in seen, seen.decode(errors="replace")
            if before_interrupt is not None:
                before_interrupt()
            process.send_signal(sig)
        process.wait(WAIT)
        os.close(slave)
        seen += _read_until(master, process, None)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(WAIT)
    return process.returncode, seen.decode("utf-8", errors="replace")


def test_rich_view_in_a_terminal_prints_the_answer_once_and_shows_the_cursor(terminal: tuple[int, int]) -> None:
    pytest.importorskip("rich")
    code, screen = _run_in_terminal(terminal, ["chat", "Say hello", "--offline"])
    assert code == 0, screen
    assert "\x1b[?25l" in screen  # the live view hid the cursor ...
    assert screen.rindex("\x1b[?25h") > screen.rindex("\x1b[?25l")  # ... and showed it again
    final = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.rsplit("\x1b[2K", 1)[-1])
    words = " ".join(final.split())
    assert words.count("Server-sent events let a server") == 1
    assert "for everything else." in words and "cost $" in words


def test_ctrl_c_in_a_terminal_mid_stream_exits_130_and_shows_the_cursor(terminal: tuple[int, int]) -> None:
    pytest.importorskip("rich")
    code, screen = _run_in_terminal(terminal, ["chat", "Say hello", "--offline"], interrupt_at=b"push a")
    assert code == 130, screen
    assert screen.rindex("\x1b[?25h") > screen.rindex("\x1b[?25l")
    assert "cancelled after" in screen and "the stream was closed" in screen and "Traceback" not in screen


def test_sigterm_in_a_terminal_mid_stream_shows_the_cursor_again(terminal: tuple[int, int]) -> None:
    """``timeout 10 openrouter-rx chat ...``, a task runner stopping it: the live view is closed."""
    pytest.importorskip("rich")
    code, screen = _run_in_terminal(
        terminal, ["chat", "Say hello", "--offline"], interrupt_at=b"push a", sig=signal.SIGTERM
    )
    assert code == 128 + signal.SIGTERM, screen
    assert screen.rindex("\x1b[?25h") > screen.rindex("\x1b[?25l")
    assert "Traceback" not in screen


def test_ctrl_c_in_a_terminal_before_the_first_token(
    terminal: tuple[int, int], fake_openrouter: FakeOpenRouter
) -> None:
    pytest.importorskip("rich")
    fake_openrouter.enqueue(StreamReply(text_chunks("late"), stall_after=0, stall_keepalive=0.05))
    argv = ["chat", "hi", "--base-url", fake_openrouter.base_url]
    sent = lambda: fake_openrouter.wait_for_requests(1, timeout=WAIT)  # noqa: E731 - the spinner comes first
    code, screen = _run_in_terminal(terminal, argv, interrupt_at=b"waiting for the first token", before_interrupt=sent)
    assert code == 130, screen
    assert screen.rindex("\x1b[?25h") > screen.rindex("\x1b[?25l")
    assert "cancelled before any chunk arrived" in screen
    assert fake_openrouter.wait_for_requests(1)[0].wait_disconnected(WAIT)


def test_jsonl_into_a_consumer_that_exits_early() -> None:
    env = {k: v for k, v in os.environ.items() if k != "OPENROUTER_API_KEY"}
    command = f"{sys.executable} -m openrouter_rx chat hi --jsonl | head -1"
    done = subprocess.run(["bash", "-o", "pipefail", "-c", command], env=env, capture_output=True, timeout=WAIT)
    assert json.loads(done.stdout)["type"] == "start"
    assert b"Traceback" not in done.stderr and b"Exception ignored" not in done.stderr
    assert done.returncode == 1
