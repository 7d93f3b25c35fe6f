"""The desktop UI examples: the Rx wiring of examples/tk_app.py without a display, and the Tk and
Qt apps themselves in their ``--self-test`` mode where a display (or Xvfb, or Qt's offscreen
platform) is available.

``ChatStreamer`` is driven by the real ``TkinterScheduler`` over a stand-in for the Tk root whose
``after()`` queue the test pumps on its own thread, as Tk's main loop would: so the tests see
that the view is only called from the UI loop, and that Stop closes the connection.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from reactivex.scheduler.mainloop import TkinterScheduler
from support import WAIT

import openrouter_rx as orx
from openrouter_rx.testing import FakeOpenRouter, RecordedRequest, StreamReply, text_chunks

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def tk_app() -> Iterator[ModuleType]:
    """examples/tk_app.py as a module (importing it needs no display: Tk is imported by the window)."""
    sys.path.insert(0, str(EXAMPLES))
    try:
        yield importlib.import_module("tk_app")
    finally:
        sys.path.remove(str(EXAMPLES))
        sys.modules.pop("tk_app", None)


class PumpedRoot:
    """What ``TkinterScheduler`` uses of a Tk root (``after``, ``after_cancel``); the test runs
    the queued callbacks on its own thread with :meth:`pump_until`, like Tk's main loop."""

    def __init__(self) -> None:
        self._queue: list[tuple[str, Callable[[], None]]] = []
        self._cond = threading.Condition()
        self._ids = 0

    def after(self, ms: int, callback: Callable[[], None]) -> str:
        with self._cond:
            self._ids += 1
            ident = f"after#{self._ids}"
            self._queue.append((ident, callback))
            self._cond.notify_all()
            return ident

    def after_cancel(self, ident: str) -> None:
        with self._cond:
            self._queue = [(i, c) for i, c in self._queue if i != ident]

    def wait_queued(self, timeout: float = WAIT) -> None:
        """Wait (without running anything) until a callback is queued."""
        with self._cond:
            assert self._cond.wait_for(lambda: bool(self._queue), timeout), "nothing was handed to the UI loop"

    def pump(self) -> None:
        """Run what is queued now (and what that queues), in order."""
        while True:
            with self._cond:
                if not self._queue:
                    return
                _, callback = self._queue.pop(0)
            callback()

    def pump_until(self, condition: Callable[[], bool], timeout: float = WAIT) -> None:
        deadline = threading.Event()
        timer = threading.Timer(timeout, deadline.set)
        timer.start()
        try:
            while True:
                self.pump()
                if condition():
                    return
                with self._cond:
                    if not self._queue:
                        self._cond.wait(0.05)
                assert not deadline.is_set(), "the UI loop waited in vain"
        finally:
            timer.cancel()


class ThreadCheckingView:
    """A ChatView that records the thread of every call (on top of tk_app.RecordingView)."""

    def __init__(self, tk_app: ModuleType) -> None:
        self.threads: set[int] = set()
        self.recorder = tk_app.RecordingView(self)

    def append(self, text: str, *, reasoning: bool) -> None:
        self.threads.add(threading.get_ident())

    def finish(self, response: orx.Response | None) -> None:
        self.threads.add(threading.get_ident())

    def error(self, error: Exception) -> None:
        self.threads.add(threading.get_ident())


@pytest.fixture
def client(fake_openrouter: FakeOpenRouter) -> Iterator[orx.Client]:
    # The idle timeout is longer than WAIT: a stalled stream ends only by a dispose.
    timeout = orx.Timeout(connect=2, idle=3 * WAIT)
    with orx.Client(base_url=fake_openrouter.base_url, timeout=timeout) as c:
        yield c


def wiring(tk_app: ModuleType, client: orx.Client) -> tuple[Any, PumpedRoot, ThreadCheckingView]:
    root = PumpedRoot()
    view = ThreadCheckingView(tk_app)
    return tk_app.ChatStreamer(client, TkinterScheduler(root), view.recorder), root, view


def first_request(fake: FakeOpenRouter) -> RecordedRequest:
    return fake.wait_for_requests(1, WAIT)[0]


# -- ChatStreamer, no display ----------------------------------------------------------------------


def test_the_answer_reaches_the_view_only_through_the_ui_loop(
    tk_app: ModuleType, fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks("Streams are lazy.", reasoning="Think about Rx first.")))
    streamer, root, view = wiring(tk_app, client)
    streamer.send("What are streams?")
    assert streamer.running
    assert first_request(fake_openrouter).wait_finished(WAIT)  # the whole reply was read...
    root.wait_queued()  # (the hand-over to the UI loop may trail the read)
    assert view.recorder.pieces == []  # ...but nothing reached the view outside the UI loop
    root.pump_until(lambda: bool(view.recorder.outcomes))
    response = view.recorder.outcomes[0]
    assert isinstance(response, orx.Response) and not streamer.running
    assert view.recorder.text(reasoning=True) == response.reasoning == "Think about Rx first."
    assert view.recorder.text() == response.content == "Streams are lazy."
    kinds = [piece.reasoning for piece in view.recorder.pieces]
    assert kinds == sorted(kinds, reverse=True)  # all the reasoning, then the content
    assert view.threads == {threading.get_ident()}  # the thread that pumps the UI loop
    assert fake_openrouter.requests[0].json["messages"] == [{"role": "user", "content": "What are streams?"}]


def test_stop_closes_the_connection_and_nothing_reaches_the_view_after_it(
    tk_app: ModuleType, fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks("one two three four five"), stall_after=4))
    streamer, root, view = wiring(tk_app, client)
    streamer.send("count")
    root.pump_until(lambda: len(view.recorder.pieces) >= 1)
    streamer.stop()  # what may still be queued on the UI loop must not reach the view
    assert view.recorder.outcomes == [None] and not streamer.running
    assert first_request(fake_openrouter).wait_disconnected(WAIT), "Stop did not close the connection"
    stopped_at = len(view.recorder.pieces)
    root.pump()
    assert len(view.recorder.pieces) == stopped_at and view.recorder.outcomes == [None]
    streamer.stop()  # idle: nothing to stop, the view is not told twice
    assert view.recorder.outcomes == [None]


def test_an_error_reaches_the_view_with_the_partial_answer(
    tk_app: ModuleType, fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks("cut short here"), disconnect_after=3))
    streamer, root, view = wiring(tk_app, client)
    streamer.send("go")
    root.pump_until(lambda: bool(view.recorder.outcomes))
    error = view.recorder.outcomes[0]
    assert isinstance(error, orx.TruncatedStreamError)
    assert error.partial is not None and error.partial.content == view.recorder.text() == "cut short "
    assert not streamer.running


def test_send_while_streaming_stops_the_running_answer(
    tk_app: ModuleType, fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    fake_openrouter.enqueue(StreamReply(text_chunks("never finished"), stall_after=2), StreamReply(text_chunks("fine")))
    streamer, root, view = wiring(tk_app, client)
    streamer.send("first")
    first_request(fake_openrouter)
    streamer.send("second")
    assert fake_openrouter.requests[0].wait_disconnected(WAIT)
    root.pump_until(lambda: len(view.recorder.outcomes) == 2)
    stopped, answer = view.recorder.outcomes
    assert stopped is None and isinstance(answer, orx.Response) and answer.content == "fine"
    assert view.recorder.text() == "fine"  # nothing of the first answer got in after it was stopped


def test_the_offline_reply_streams_reasoning_then_an_answer_naming_the_prompt(
    tk_app: ModuleType, fake_openrouter: FakeOpenRouter, client: orx.Client
) -> None:
    fake_openrouter.responder = lambda request: tk_app.slow_answer(request, delay=0.0)
    response = client.stream("Why Rx?").pipe(orx.operators.accumulate()).run()
    assert response.reasoning and "You asked: 'Why Rx?'" in response.content
    assert len(response.content.split()) > 100  # long enough for Stop to be seen working


# -- the apps themselves ---------------------------------------------------------------------------


def _offline_env(**extra: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name != "OPENROUTER_API_KEY"}
    env.update(extra)
    return env


def _run_example(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=90, check=False)


def _self_test_passed(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stdout + result.stderr
    assert "self-test: passed" in result.stdout
    assert "the fake server saw the client go away" in result.stdout


def test_the_tk_app_self_test_on_a_display_or_under_xvfb() -> None:
    pytest.importorskip("tkinter", reason="this Python has no tkinter")
    command = [sys.executable, str(EXAMPLES / "tk_app.py"), "--self-test"]
    if os.environ.get("DISPLAY"):
        _self_test_passed(_run_example(command, _offline_env()))
    elif shutil.which("xvfb-run"):
        _self_test_passed(_run_example(["xvfb-run", "-a", *command], _offline_env()))
    elif shutil.which("Xvfb"):
        _self_test_passed(_run_under_xvfb(command))
    else:
        pytest.skip("no display and no Xvfb: DISPLAY is unset and neither xvfb-run nor Xvfb is installed")


def _run_under_xvfb(command: list[str]) -> subprocess.CompletedProcess[str]:
    """Start ``Xvfb`` on a free display (it writes the number to ``-displayfd``), run, stop it."""
    read_end, write_end = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_end), "-screen", "0", "1024x768x24", "-nolisten", "tcp"],
        pass_fds=(write_end,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_end)
    try:
        with os.fdopen(read_end) as display_number:
            number = display_number.readline().strip()
        assert number, "Xvfb did not start"
        return _run_example(command, _offline_env(DISPLAY=f":{number}"))
    finally:
        server.terminate()
        server.wait(WAIT)


def test_the_qt_app_self_test_offscreen() -> None:
    pyside6 = pytest.importorskip("PySide6", reason="PySide6 is not installed (pip install 'openrouter-rx[qt]')")
    if sys.version_info < (3, 12) and pyside6.__version__ == "6.12.0":
        result = _run_example([sys.executable, str(EXAMPLES / "qt_app.py"), "--self-test"], _offline_env())
        assert result.returncode == 1 and "reference-counting bug" in result.stderr
        pytest.skip("PySide6 6.12.0 aborts Python 3.11 (qt_app.py says so and exits 1)")
    env = _offline_env(QT_QPA_PLATFORM="offscreen")
    _self_test_passed(_run_example([sys.executable, str(EXAMPLES / "qt_app.py"), "--self-test"], env))


def test_the_qt_app_without_pyside6_says_how_to_install_it() -> None:
    if importlib.util.find_spec("PySide6") is not None:
        pytest.skip("PySide6 is installed here")
    result = _run_example([sys.executable, str(EXAMPLES / "qt_app.py")], _offline_env())
    assert result.returncode == 1
    assert "PySide6" in result.stderr and "pip install" in result.stderr
    assert "Traceback" not in result.stderr
