"""The StreamingClient's callback registry: valid events, registration, and the raise/log policy."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Final, Literal, TypeVar

from .errors import CallbackError

__all__ = ["EVENTS", "CallbackPolicy", "CallbackRegistry", "describe"]

EVENTS: Final = ("on_start", "on_chunk", "on_tool_call_chunk", "on_finish", "on_error")
"""The events a :class:`~openrouter_rx.StreamingClient` fires, in the order of one request."""

CallbackPolicy = Literal["raise", "log"]

logger = logging.getLogger("openrouter_rx")

_F = TypeVar("_F", bound=Callable[..., Any])


def describe(fn: Callable[..., Any]) -> str:
    """A callback's name for messages (its qualified name, else its repr)."""
    return str(getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn))


def _label(event: str) -> str:
    return "the per-call" if event == "callback" else event


class CallbackRegistry:
    """Callbacks by event, and what happens when one raises.

    ``"raise"``: the first failure is wrapped (``wrap``) and raised, the remaining callbacks of
    that event are skipped. ``"log"``: each failure is logged at WARNING with its traceback,
    wrapped and reported to the ``on_error`` callbacks, and the next callback runs. A failure
    inside an ``on_error`` callback is logged at ERROR and never reported again.
    ``KeyboardInterrupt`` and ``SystemExit`` always propagate, unwrapped.
    """

    def __init__(self, policy: CallbackPolicy = "raise") -> None:
        if policy not in ("raise", "log"):
            raise ValueError(f"callback_errors must be 'raise' or 'log', not {policy!r}")
        self.policy: CallbackPolicy = policy
        # Copy on write: registering replaces an event's tuple (under the lock), so a reader takes
        # the tuple as it is, without a lock or a copy, and an event in progress keeps its own.
        self._callbacks: dict[str, tuple[Callable[[Any], Any], ...]] = dict.fromkeys(EVENTS, ())
        self._lock = threading.Lock()

    @staticmethod
    def check(event: str) -> str:
        """``event`` when it is valid, else ``ValueError`` listing the valid ones."""
        if event not in EVENTS:
            raise ValueError(f"unknown streaming event {event!r}; valid events: {', '.join(EVENTS)}")
        return event

    def add(self, event: str, fn: _F) -> _F:
        """Register ``fn`` for ``event`` (after those already there); returns ``fn``."""
        self.check(event)
        if not callable(fn):
            raise TypeError(f"a {event} callback must be callable, not {type(fn).__name__}")
        with self._lock:
            self._callbacks[event] += (fn,)
        return fn

    def clear(self, event: str | None = None) -> None:
        """Forget the callbacks of ``event``, or of every event when ``None``."""
        with self._lock:
            for name in EVENTS if event is None else (self.check(event),):
                self._callbacks[name] = ()

    def of(self, event: str) -> tuple[Callable[[Any], Any], ...]:
        """The callbacks of ``event`` now (a snapshot: registering meanwhile is safe)."""
        return self._callbacks[event]

    def fire(self, event: str, payload: Any, wrap: Callable[[str, Exception], CallbackError]) -> None:
        """Call every ``event`` callback with ``payload``, applying the policy to failures."""
        for fn in self._callbacks[event]:
            try:
                fn(payload)
            except Exception as raised:
                self._failed(event, fn, raised, wrap)

    def call(
        self, event: str, fn: Callable[[Any], Any], payload: Any, wrap: Callable[[str, Exception], CallbackError]
    ) -> None:
        """Call one callback (``event`` names it in errors, e.g. ``"callback"``) under the policy."""
        try:
            fn(payload)
        except Exception as raised:
            self._failed(event, fn, raised, wrap)

    def _failed(
        self, event: str, fn: Callable[[Any], Any], raised: Exception, wrap: Callable[[str, Exception], CallbackError]
    ) -> None:
        """Apply the policy to ``fn`` (of ``event``) having raised ``raised``."""
        error = wrap(event, raised)
        error.__cause__ = raised
        if self.policy == "raise":
            raise error from raised
        logger.warning("%s callback %s raised; the stream goes on", _label(event), describe(fn), exc_info=raised)
        self.report(error)

    def report(self, error: Exception) -> None:
        """Call every ``on_error`` callback with ``error``; their own failures are logged (ERROR)."""
        for fn in self._callbacks["on_error"]:
            try:
                fn(error)
            except Exception as raised:
                logger.error(
                    "on_error callback %s raised while reporting %s",
                    describe(fn),
                    type(error).__name__,
                    exc_info=raised,
                )
