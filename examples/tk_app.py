# example: needs-display
"""A Tk chat window that streams the answer into a Text widget, with a Stop button that disposes.

Runs offline against the embedded fake OpenRouter server unless OPENROUTER_API_KEY is set (offline,
every answer streams slowly, reasoning first, so Stop can be seen working):
    python examples/tk_app.py                # needs a display
    python examples/tk_app.py --self-test    # sends a prompt, stops a second one, exits 0 if all went well

The Rx wiring is in :class:`ChatStreamer`, which knows nothing of Tk: it takes a scheduler and a
"view" (``append`` / ``finish`` / ``error``). The network read runs on the client's thread pool;
``observe_on(TkinterScheduler(root))`` hands every value to Tk's main loop, so the view only ever
runs on the UI thread. Stop disposes the subscription: the HTTP connection closes at once and
nothing more reaches the view. ``examples/qt_app.py`` reuses ``ChatStreamer`` with a Qt view.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any, Protocol

import reactivex
from reactivex import Observable, abc
from reactivex import operators as ops
from reactivex.scheduler.mainloop import TkinterScheduler

import openrouter_rx as orx
from openrouter_rx import operators as orx_ops
from openrouter_rx.testing import FakeOpenRouter, RecordedRequest, StreamReply, demo_client, text_chunks

# -- the Rx wiring, independent of the toolkit ----------------------------------------------------


class ChatView(Protocol):
    """What :class:`ChatStreamer` tells the window; always called on the scheduler's (UI) thread."""

    def append(self, text: str, *, reasoning: bool) -> None:
        """A piece of the answer (``reasoning=True``: the model's reasoning, shown in grey)."""

    def finish(self, response: orx.Response | None) -> None:
        """The stream ended: the whole ``Response``, or ``None`` when Stop ended it."""

    def error(self, error: Exception) -> None:
        """The stream failed with a typed ``orx.OpenRouterError`` (``error.partial``: what arrived)."""


@dataclass(frozen=True)
class Piece:
    """A text delta and whether it is reasoning."""

    text: str
    reasoning: bool


def pieces_and_response(chunks: Observable[orx.Chunk]) -> Observable[Piece | orx.Response]:
    """One request, three views of it: reasoning and content deltas as they arrive, then the
    accumulated ``Response`` (``publish(mapper)`` subscribes the branches before it connects)."""

    def thought(text: str) -> Piece:
        return Piece(text, reasoning=True)

    def said(text: str) -> Piece:
        return Piece(text, reasoning=False)

    def branches(shared: Observable[orx.Chunk]) -> Observable[Piece | orx.Response]:
        return reactivex.merge(
            shared.pipe(orx_ops.reasoning(), ops.map(thought)),
            shared.pipe(orx_ops.content(), ops.map(said)),
            shared.pipe(orx_ops.accumulate()),
        )

    return chunks.pipe(ops.publish(branches))


class ChatStreamer:
    """Streams one answer at a time into a :class:`ChatView` through a UI scheduler.

    Args:
        client: the ``orx.Client`` that sends the requests.
        scheduler: the UI's main-loop scheduler (``TkinterScheduler(root)``, a Qt one, ...): the
            view is only called there. The read itself stays on the client's pool.
        view: the window.
        **params: passed to ``client.stream`` (``model=``, ``temperature=``, ...).
    """

    def __init__(self, client: orx.Client, scheduler: abc.SchedulerBase, view: ChatView, **params: Any) -> None:
        self._client = client
        self._scheduler = scheduler
        self._view = view
        self._params = params
        self._subscription: abc.DisposableBase | None = None
        self._response: orx.Response | None = None

    @property
    def running(self) -> bool:
        """Whether an answer is streaming."""
        return self._subscription is not None

    def send(self, prompt: str) -> None:
        """Ask ``prompt``; a stream still running is stopped first."""
        self.stop()
        source = self._client.stream(prompt, **self._params).pipe(pieces_and_response, ops.observe_on(self._scheduler))
        handle: list[abc.DisposableBase] = []  # which subscription a callback belongs to

        def current() -> bool:  # a value queued on the UI thread before Stop is dropped
            return bool(handle) and self._subscription is handle[0]

        def on_next(item: Piece | orx.Response) -> None:
            if not current():
                return
            if isinstance(item, Piece):
                self._view.append(item.text, reasoning=item.reasoning)
            else:
                self._response = item

        def on_completed() -> None:
            if current():
                self._subscription = None
                self._view.finish(self._response)

        def on_error(error: Exception) -> None:
            if current():
                self._subscription = None
                self._view.error(error)

        self._response = None
        subscription = source.subscribe(on_next, on_error, on_completed)
        handle.append(subscription)
        self._subscription = subscription

    def stop(self) -> None:
        """Dispose the running stream (the connection closes at once) and tell the view. Never
        blocks: safe in a button's callback."""
        subscription, self._subscription = self._subscription, None
        if subscription is not None:
            subscription.dispose()
            self._view.finish(None)


# -- offline replies and the self-test, shared with qt_app.py ---------------------------------------


def slow_answer(request: RecordedRequest, delay: float = 0.05) -> StreamReply:
    """The fake server's reply to every prompt: some reasoning, then a long answer, streamed slowly."""
    messages = request.json.get("messages") if isinstance(request.json, dict) else None
    prompt = str(messages[-1].get("content", "")) if messages else ""
    answer = f"You asked: {prompt!r}. " + " ".join(
        f"This is sentence {i} of a long answer, streamed word by word so Stop has something to stop."
        for i in range(1, 9)
    )
    reasoning = "The user wants a long answer; I will write several sentences. "
    return StreamReply(text_chunks(answer, reasoning=reasoning), delay=delay)


class RecordingView:
    """A view that remembers what it was told (the self-tests and the unit tests look at it)."""

    def __init__(self, inner: ChatView | None = None) -> None:
        self.inner = inner
        self.pieces: list[Piece] = []
        self.outcomes: list[orx.Response | Exception | None] = []

    def append(self, text: str, *, reasoning: bool) -> None:
        self.pieces.append(Piece(text, reasoning))
        if self.inner is not None:
            self.inner.append(text, reasoning=reasoning)

    def finish(self, response: orx.Response | None) -> None:
        self.outcomes.append(response)
        if self.inner is not None:
            self.inner.finish(response)

    def error(self, error: Exception) -> None:
        self.outcomes.append(error)
        if self.inner is not None:
            self.inner.error(error)

    def text(self, *, reasoning: bool = False) -> str:
        return "".join(piece.text for piece in self.pieces if piece.reasoning == reasoning)


def self_test_steps(
    fake: FakeOpenRouter, view: RecordingView, send: Callable[[str], None], stop: Callable[[], None]
) -> Iterator[Callable[[], bool]]:
    """The self-test as steps: each ``yield`` is a condition the UI loop polls before going on.
    ``send`` and ``stop`` press the window's buttons. Raises ``AssertionError`` on a failure."""
    fake.responder = lambda request: slow_answer(request, delay=0.001)
    send("first prompt")
    yield lambda: len(view.outcomes) == 1
    answer = view.outcomes[0]
    assert isinstance(answer, orx.Response), f"the first answer failed: {answer!r}"
    assert answer.content == view.text() and "first prompt" in answer.content, "content differs from the view"
    assert view.text(reasoning=True), "no reasoning reached the view"
    print(f"self-test: streamed {len(view.pieces)} pieces, {answer.completion_tokens} tokens")

    fake.responder = slow_answer
    shown = len(view.pieces)
    send("second prompt")
    yield lambda: len(view.pieces) >= shown + 3
    stop()
    assert view.outcomes[-1] is None, "Stop did not end the stream"
    request = fake.wait_for_requests(2)[1]
    yield request.disconnected.is_set
    stopped_at = len(view.pieces)
    print(f"self-test: Stop after {stopped_at - shown} pieces; the fake server saw the client go away")
    yield lambda: True  # one more turn of the UI loop: nothing may arrive after Stop
    assert len(view.pieces) == stopped_at and len(view.outcomes) == 2, "the view changed after Stop"


def run_self_test(
    steps: Iterator[Callable[[], bool]], later: Callable[[int, Callable[[], None]], None], done: Callable[[int], None]
) -> None:
    """Drive ``steps`` from the UI loop: ``later(ms, fn)`` schedules on it, ``done(code)`` ends it."""
    waiting: list[Callable[[], bool]] = []
    polls = [0]

    def poll() -> None:
        try:
            if waiting and not waiting[0]():
                polls[0] += 1
                if polls[0] > 1000:  # 1000 polls of 20 ms: the stream should long be over
                    raise AssertionError("timed out waiting for the UI")
                later(20, poll)
                return
            waiting[:] = [next(steps)]
            polls[0] = 0
            later(20, poll)
        except StopIteration:
            print("self-test: passed")
            done(0)
        except AssertionError as failure:
            print(f"self-test: FAILED: {failure}", file=sys.stderr)
            done(1)

    later(0, poll)


# -- the Tk window ------------------------------------------------------------------------------------


class TkChatWindow:
    """The window: a prompt entry, Send and Stop buttons, the answer in a Text widget (reasoning
    in grey) and a status line. Implements :class:`ChatView` for :class:`ChatStreamer`."""

    def __init__(self, root: Any, client: orx.Client, **params: Any) -> None:
        import tkinter as tk  # here, so that importing this module needs no Tk (tests, qt_app.py)

        self.root = root
        root.title("openrouter_rx + Tk")
        bar = tk.Frame(root)
        bar.pack(fill="x", padx=6, pady=6)
        self.prompt = tk.StringVar(value="Tell me about reactive streams.")
        entry = tk.Entry(bar, textvariable=self.prompt)
        entry.pack(side="left", fill="x", expand=True)
        entry.bind("<Return>", lambda _event: self.on_send())
        self.send_button = tk.Button(bar, text="Send", command=self.on_send)
        self.send_button.pack(side="left", padx=(6, 0))
        self.stop_button = tk.Button(bar, text="Stop", command=self.on_stop, state="disabled")
        self.stop_button.pack(side="left", padx=(6, 0))
        self.text = tk.Text(root, wrap="word", height=20, width=80)
        self.text.tag_configure("reasoning", foreground="grey")
        self.text.tag_configure("error", foreground="red")
        self.text.pack(fill="both", expand=True, padx=6)
        self.status = tk.StringVar(value="ready")
        tk.Label(root, textvariable=self.status, anchor="w").pack(fill="x", padx=6, pady=(0, 6))
        self.recorder = RecordingView(self)
        self.streamer = ChatStreamer(client, TkinterScheduler(root), self.recorder, **params)

    def on_send(self) -> None:
        self.text.delete("1.0", "end")
        self.streamer.send(self.prompt.get())
        self.send_button.configure(text="Send again")
        self.stop_button.configure(state="normal")
        self.status.set("streaming...")

    def on_stop(self) -> None:
        self.streamer.stop()

    # ChatView
    def append(self, text: str, *, reasoning: bool) -> None:
        self.text.insert("end", text, ("reasoning",) if reasoning else ())
        self.text.see("end")

    def finish(self, response: orx.Response | None) -> None:
        self.stop_button.configure(state="disabled")
        if response is None:
            self.status.set("stopped (the connection was closed)")
        else:
            self.status.set(f"done: {response.finish_reason}, {response.completion_tokens} tokens")

    def error(self, error: Exception) -> None:
        self.stop_button.configure(state="disabled")
        self.text.insert("end", f"\n[{type(error).__name__}: {error}]", ("error",))
        self.status.set(f"failed: {type(error).__name__}")


def main(argv: list[str]) -> int:
    self_test = "--self-test" in argv
    import tkinter as tk

    with ExitStack() as stack:
        client, fake = stack.enter_context(demo_client(offline=True if self_test else None))
        if fake is not None:
            fake.responder = slow_answer
        try:
            root = tk.Tk()
        except tk.TclError as err:
            print(f"tk_app: cannot open a window ({err}); run it on a desktop or under xvfb-run", file=sys.stderr)
            return 1
        window = TkChatWindow(root, client)
        code = [0]
        if self_test and fake is not None:

            def send(prompt: str) -> None:
                window.prompt.set(prompt)
                window.send_button.invoke()

            def done(result: int) -> None:
                code[0] = result
                root.quit()

            def later(ms: int, fn: Callable[[], None]) -> None:
                root.after(ms, fn)

            steps = self_test_steps(fake, window.recorder, send, window.stop_button.invoke)
            run_self_test(steps, later, done)
        root.protocol("WM_DELETE_WINDOW", root.quit)  # leave the main loop first, destroy after
        root.mainloop()
        window.streamer.stop()  # closing the window while an answer streams closes its connection
        root.destroy()
        return code[0]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
