# example: needs-display
"""The Tk chat window of ``tk_app.py`` in Qt (PySide6): stream into a text view, Stop disposes.

PySide6 is optional:  pip install 'openrouter-rx[qt]'   (or: pip install PySide6)
Runs offline against the embedded fake OpenRouter server unless OPENROUTER_API_KEY is set:
    python examples/qt_app.py                # needs a display
    python examples/qt_app.py --self-test    # headless too (Qt's "offscreen" platform)

The Rx wiring is ``tk_app.ChatStreamer`` (next to this file), unchanged: only the view and the
scheduler differ. Note the scheduler: reactivex's ``QtScheduler`` starts a ``QTimer`` on the
calling thread, and the values of a stream arrive on the client's reader threads, which run no
Qt event loop, so nothing would ever be delivered. :class:`QtMainThreadScheduler` first hops to
the GUI thread with a queued signal, then lets ``QtScheduler`` do the rest there.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any, NamedTuple, TypeVar

from reactivex import abc, typing
from reactivex.disposable import CompositeDisposable, Disposable, SingleAssignmentDisposable
from reactivex.scheduler.mainloop import QtScheduler
from tk_app import ChatStreamer, RecordingView, run_self_test, self_test_steps, slow_answer

import openrouter_rx as orx
from openrouter_rx.testing import demo_client

_TState = TypeVar("_TState")


class Qt(NamedTuple):
    """The PySide6 modules, imported when the app starts (so a missing PySide6 is a clear message)."""

    core: ModuleType
    gui: ModuleType
    widgets: ModuleType


BROKEN_ON_PYTHON_3_11 = {"6.12.0"}
"""PySide6 releases whose ``Signal.emit`` (and ``QTimer.singleShot`` with a callable) drop a
reference to ``True``/``None`` they never took: harmless from Python 3.12 on (those objects are
immortal there), on 3.11 the interpreter aborts ("deallocating True") after a few hundred values."""


def load_qt() -> Qt | None:
    """PySide6's modules, or ``None`` when PySide6 is not installed."""
    try:
        return Qt(*(importlib.import_module(f"PySide6.{name}") for name in ("QtCore", "QtGui", "QtWidgets")))
    except ImportError:
        return None


def unusable_pyside6() -> str | None:
    """Why the installed PySide6 cannot run this app on this Python, or ``None``."""
    version = str(getattr(importlib.import_module("PySide6"), "__version__", ""))
    if sys.version_info < (3, 12) and version in BROKEN_ON_PYTHON_3_11:
        return f"PySide6 {version} aborts Python 3.11 (a reference-counting bug): pip install 'PySide6!={version}'"
    return None


class QtMainThreadScheduler(QtScheduler):
    """A ``QtScheduler`` that may be called from any thread: every action is first handed to the
    GUI thread through a queued signal (to an object created on the GUI thread), so
    ``observe_on(QtMainThreadScheduler(QtCore))`` delivers values from the client's reader threads.
    Create it on the GUI thread."""

    def __init__(self, qtcore: Any) -> None:
        super().__init__(qtcore)

        class Invoker(qtcore.QObject):  # type: ignore[misc]  # Qt is imported at run time
            call = qtcore.Signal(object)

            def _run(self, function: Callable[[], None]) -> None:
                function()

            run = qtcore.Slot(object)(_run)  # a slot: queued calls run on this object's (the GUI) thread

        self._invoker = Invoker()
        self._invoker.call.connect(self._invoker.run, qtcore.Qt.ConnectionType.QueuedConnection)

    def _on_gui_thread(self, start: Callable[[], abc.DisposableBase]) -> abc.DisposableBase:
        """Run ``start`` on the GUI thread (later, through the event loop); dispose its result on dispose."""
        started = SingleAssignmentDisposable()
        cancelled = [False]

        def hop() -> None:
            if not cancelled[0]:
                started.disposable = start()

        def cancel() -> None:
            cancelled[0] = True

        self._invoker.call.emit(hop)
        return CompositeDisposable(started, Disposable(cancel))

    def schedule_relative(
        self, duetime: typing.RelativeTime, action: typing.ScheduledAction[_TState], state: _TState | None = None
    ) -> abc.DisposableBase:
        """Like ``QtScheduler.schedule_relative``, from any thread."""
        return self._on_gui_thread(lambda: super(QtMainThreadScheduler, self).schedule_relative(duetime, action, state))

    def schedule_periodic(
        self, period: typing.RelativeTime, action: typing.ScheduledPeriodicAction[_TState], state: _TState | None = None
    ) -> abc.DisposableBase:
        """Like ``QtScheduler.schedule_periodic``, from any thread."""
        return self._on_gui_thread(lambda: super(QtMainThreadScheduler, self).schedule_periodic(period, action, state))


class QtChatWindow:
    """The window: a prompt line, Send and Stop buttons, the answer (reasoning in grey) and a
    status line. Implements ``tk_app.ChatView`` for ``ChatStreamer``."""

    def __init__(self, qt: Qt, client: orx.Client, **params: Any) -> None:
        widgets = qt.widgets
        self.qt = qt
        self.widget = widgets.QWidget()
        self.widget.setWindowTitle("openrouter_rx + Qt")
        self.widget.resize(720, 480)
        self.prompt = widgets.QLineEdit("Tell me about reactive streams.")
        self.send_button = widgets.QPushButton("Send")
        self.stop_button = widgets.QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.text = widgets.QTextEdit()
        self.text.setReadOnly(True)
        self.status = widgets.QLabel("ready")
        bar = widgets.QHBoxLayout()
        for part in (self.prompt, self.send_button, self.stop_button):
            bar.addWidget(part)
        layout = widgets.QVBoxLayout(self.widget)
        layout.addLayout(bar)
        layout.addWidget(self.text)
        layout.addWidget(self.status)
        self.prompt.returnPressed.connect(self.on_send)
        self.send_button.clicked.connect(self.on_send)
        self.stop_button.clicked.connect(self.on_stop)
        self.recorder = RecordingView(self)
        self.streamer = ChatStreamer(client, QtMainThreadScheduler(qt.core), self.recorder, **params)

    def on_send(self) -> None:
        self.text.clear()
        self.streamer.send(self.prompt.text())
        self.stop_button.setEnabled(True)
        self.status.setText("streaming...")

    def on_stop(self) -> None:
        self.streamer.stop()

    def _insert(self, text: str, colour: str | None) -> None:
        gui = self.qt.gui
        cursor = self.text.textCursor()
        cursor.movePosition(gui.QTextCursor.MoveOperation.End)
        style = gui.QTextCharFormat()
        if colour is not None:
            style.setForeground(gui.QColor(colour))
        cursor.insertText(text, style)
        self.text.setTextCursor(cursor)
        self.text.ensureCursorVisible()

    # ChatView
    def append(self, text: str, *, reasoning: bool) -> None:
        self._insert(text, "grey" if reasoning else None)

    def finish(self, response: orx.Response | None) -> None:
        self.stop_button.setEnabled(False)
        if response is None:
            self.status.setText("stopped (the connection was closed)")
        else:
            self.status.setText(f"done: {response.finish_reason}, {response.completion_tokens} tokens")

    def error(self, error: Exception) -> None:
        self.stop_button.setEnabled(False)
        self._insert(f"\n[{type(error).__name__}: {error}]", "red")
        self.status.setText(f"failed: {type(error).__name__}")


def main(argv: list[str]) -> int:
    self_test = "--self-test" in argv
    qt = load_qt()
    if qt is None:
        print("qt_app needs PySide6: pip install 'openrouter-rx[qt]' (or pip install PySide6)", file=sys.stderr)
        return 1
    problem = unusable_pyside6()
    if problem is not None:
        print(f"qt_app: {problem}", file=sys.stderr)
        return 1
    has_screen = any(os.environ.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"))
    if self_test and not has_screen:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"  # the self-test needs no screen
    elif sys.platform.startswith("linux") and not has_screen:
        print("qt_app: no display (DISPLAY is not set); try --self-test", file=sys.stderr)
        return 1
    app = qt.widgets.QApplication.instance() or qt.widgets.QApplication(sys.argv[:1])
    with demo_client(offline=True if self_test else None) as (client, fake):
        if fake is not None:
            fake.responder = slow_answer
        window = QtChatWindow(qt, client)
        window.widget.show()
        code = [0]
        if self_test and fake is not None:

            def send(prompt: str) -> None:
                window.prompt.setText(prompt)
                window.send_button.click()

            def later(ms: int, function: Callable[[], None]) -> None:
                qt.core.QTimer.singleShot(ms, function)

            def done(result: int) -> None:
                code[0] = result
                app.quit()

            run_self_test(self_test_steps(fake, window.recorder, send, window.stop_button.click), later, done)
        app.exec()
        window.streamer.stop()
        return code[0]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
