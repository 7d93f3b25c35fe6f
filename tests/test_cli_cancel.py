"""Ctrl-C cancels cleanly: the connection is closed, a one-line note, exit status 130."""

from __future__ import annotations

import io
import json
import os
import select
import signal
import subprocess
import sys
import time

import pytest

from openrouter_rx.chunk import Chunk
from openrouter_rx.cli import build_parser
from openrouter_rx.cli._chat import run_chat
from openrouter_rx.cli._jsonl import JsonlRenderer
from openrouter_rx.cli._render import PlainRenderer
from openrouter_rx.client import Client
from openrouter_rx.testing import FakeOpenRouter, StreamReply, text_chunks
from tests.support import WAIT


def stalling_reply() -> StreamReply:
    """Role chunk and two words, then the connection held open (keep-alives) until the client leaves."""
    return StreamReply(text_chunks("first second third fourth"), stall_after=3, stall_keepalive=0.05)


class InterruptAtSecondWord(PlainRenderer):
    """Ctrl-C pressed while the second word is drawn (KeyboardInterrupt on the main thread)."""

    def chunk(self, chunk: Chunk) -> None:
        super().chunk(chunk)
        if chunk.content.startswith("second"):
            raise KeyboardInterrupt


def test_interrupt_in_the_run_loop_closes_the_connection(fake_openrouter: FakeOpenRouter) -> None:
    fake_openrouter.enqueue(stalling_reply())
    args = build_parser().parse_args(["chat", "hi", "--base-url", fake_openrouter.base_url])
    out, err = io.StringIO(), io.StringIO()
    with Client(base_url=fake_openrouter.base_url) as client:
        code = run_chat(args, client, InterruptAtSecondWord(out, err))
        (request,) = fake_openrouter.wait_for_requests(1)
        assert request.wait_disconnected(WAIT)  # the client closed the connection, the server did not
        assert fake_openrouter.running
    assert code == 130
    assert out.getvalue() == "first second \n"
    assert err.getvalue() == "openrouter-rx: cancelled after 3 chunks (~4 tokens); the stream was closed.\n"


def test_interrupt_with_jsonl_ends_with_a_cancelled_line(fake_openrouter: FakeOpenRouter) -> None:
    class Interrupting(JsonlRenderer):
        def chunk(self, chunk: Chunk) -> None:
            super().chunk(chunk)
            if chunk.content:
                raise KeyboardInterrupt

    fake_openrouter.enqueue(stalling_reply())
    args = build_parser().parse_args(["chat", "hi", "--jsonl", "--base-url", fake_openrouter.base_url])
    out = io.StringIO()
    with Client(base_url=fake_openrouter.base_url) as client:
        assert run_chat(args, client, Interrupting(out, io.StringIO())) == 130
        assert fake_openrouter.wait_for_requests(1)[0].wait_disconnected(WAIT)
    last = json.loads(out.getvalue().splitlines()[-1])
    assert last["type"] == "cancelled" and last["metrics"]["chunks"] == 2


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process is POSIX")
def test_sigint_to_the_command_closes_the_stream(fake_openrouter: FakeOpenRouter) -> None:
    """The real thing, end to end (the in-process tests above show the disposal itself: there the
    process lives on, so only the subscription can have closed the connection)."""
    fake_openrouter.enqueue(stalling_reply())
    env = {k: v for k, v in os.environ.items() if k != "OPENROUTER_API_KEY"}
    command = [sys.executable, "-m", "openrouter_rx", "chat", "hi", "--plain", "--base-url", fake_openrouter.base_url]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert process.stdout is not None
        seen = b""
        deadline = time.monotonic() + WAIT
        while b"second" not in seen and time.monotonic() < deadline:  # the words arrived: the stream is open
            ready, _, _ = select.select([process.stdout], [], [], 0.1)
            if ready:
                seen += os.read(process.stdout.fileno(), 1024)
        assert b"first second" in seen
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=WAIT)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(WAIT)
    assert process.returncode == 130, err
    assert err.decode().splitlines()[-1].startswith("openrouter-rx: cancelled after")
    assert fake_openrouter.wait_for_requests(1)[0].wait_disconnected(WAIT)
