"""The healer: asks a (small, cheap) model to fix a structured output that failed validation.

::

    healer = Healer(client, model="openai/gpt-4o-mini", max_attempts=2)
    value = client.stream(messages, response_format=fmt).pipe(
        orx_ops.structured_output(fmt, heal=healer)
    ).run()
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Protocol

from reactivex import Observable, abc
from reactivex.disposable import SerialDisposable, SingleAssignmentDisposable

from .operators._common import subscribe_queued
from .response import Response
from .structured import HealAttempt, JSONFormat, summarize_messages

if TYPE_CHECKING:
    from .client import Client

__all__ = ["HEALER_PROMPT", "Healer", "SupportsHeal"]

HEALER_PROMPT = (
    "You fix JSON so that it matches a JSON Schema. Reply with the corrected JSON only: no "
    "explanation, no Markdown code fence. Keep the data that is there; change only what the "
    "validation errors require."
)
"""The healer's system prompt."""


class SupportsHeal(Protocol):
    """What ``structured_output(heal=...)`` accepts: a :class:`Healer`, or anything with its ``heal``."""

    def heal(self, raw: str, fmt: JSONFormat, messages: Any) -> Observable[HealAttempt]:
        """A cold observable of attempts at fixing ``raw``; completes after the first ok one."""
        ...


class Healer:
    """Fixes a structured output with calls to a healer model (non-streaming ``client.complete``).

    Each call sends :data:`HEALER_PROMPT`, the ``response_format`` (with its JSON Schema), the
    text to fix and the validation errors, and asks for ``response_format=fmt.to_dict()``. The
    reply is parsed like the model's text (local repairs included). Up to ``max_attempts``
    calls are made; a failed call's reply and errors are what the next call fixes when that reply
    was JSON; when it was empty, a refusal or not JSON at all (prose), the next call fixes the
    same text as that call, with the same errors (the data is not lost).

    A failed healer *request* (an HTTP error, a timeout) ends the healing: it is recorded as an
    attempt with ``messages={"_request": ["<ErrorType>: <message>"]}`` and no further call is
    made, since a second request would most likely fail the same way.

    Args:
        client: the :class:`~openrouter_rx.Client` that sends the healer requests.
        model: the healer model.
        max_attempts: how many healer calls at most (>= 1).
        temperature: the healer's sampling temperature.
        **params: other arguments of ``client.complete`` for the healer requests (body fields such
            as ``max_tokens`` or ``provider``, and ``timeout=``); a ``response_format`` given here
            replaces ``fmt.to_dict()`` in the request (e.g. ``{"type": "json_object"}`` for a healer
            model without JSON Schema support; the schema stays in the prompt).
    """

    def __init__(
        self,
        client: Client,
        model: str = "openai/gpt-4o-mini",
        max_attempts: int = 2,
        temperature: float = 0,
        **params: Any,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.client = client
        self.model = model
        self.max_attempts = max_attempts
        self.temperature = temperature
        self.params = params

    def __repr__(self) -> str:
        return f"Healer(model={self.model!r}, max_attempts={self.max_attempts})"

    def request_messages(self, text: str, fmt: JSONFormat, errors: Any) -> list[dict[str, Any]]:
        """The messages of one healer call: the system prompt, then the schema, text and errors."""
        schema = json.dumps(fmt.to_dict(), ensure_ascii=False, indent=1)
        problems = summarize_messages(errors, limit=4000)
        user = (
            f"The response_format, with its JSON Schema:\n{schema}\n\n"
            f"The text to fix:\n{text}\n\n"
            f"The validation errors:\n{problems}"
        )
        return [{"role": "system", "content": HEALER_PROMPT}, {"role": "user", "content": user}]

    def heal(self, raw: str, fmt: JSONFormat, messages: Any) -> Observable[HealAttempt]:
        """A cold observable of the healer's attempts at ``raw``.

        Emits each attempt (``source="healer"``, ``model=self.model``) and completes after the
        first ok one, after ``max_attempts``, or after a failed request. Never errors, except
        when the subscriber's ``on_next`` raises.

        Marble::

            heal(raw):  ----a----b|      a: not ok, b: ok (the second call)

        Args:
            raw: the text that failed.
            fmt: the format the text must match.
            messages: why it failed (``HealAttempt.messages`` of the last attempt).
        """

        def subscribe(
            observer: abc.ObserverBase[HealAttempt], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            serial = SerialDisposable()

            def call(number: int, text: str, errors: Any) -> None:
                if serial.is_disposed:
                    return
                replies: list[Response] = []

                def on_error(error: Exception) -> None:
                    why = f"{type(error).__name__}: {error}"
                    attempt = HealAttempt("healer", "", False, messages={"_request": [why]}, model=self.model)
                    observer.on_next(attempt)
                    observer.on_completed()

                def on_completed() -> None:
                    attempt = self._attempt(replies[-1] if replies else None, fmt)
                    observer.on_next(attempt)
                    if attempt.ok or number >= self.max_attempts:
                        observer.on_completed()
                    elif _is_json_reply(attempt):
                        call(number + 1, attempt.text, attempt.messages)
                    else:  # empty, refused or prose: the data is still only in the text fixed before
                        call(number + 1, text, errors)

                holder = SingleAssignmentDisposable()
                serial.disposable = holder
                try:
                    options: dict[str, Any] = {"response_format": fmt.to_dict(), **self.params}
                    request = self.client.complete(
                        self.request_messages(text, fmt, errors), self.model, temperature=self.temperature, **options
                    )
                except Exception as error:  # building the request failed (e.g. a closed client)
                    on_error(error)
                    return
                subscribe_queued(request, holder, replies.append, on_error, on_completed, scheduler)

            call(1, raw, messages)
            return serial

        return Observable(subscribe)

    def _attempt(self, reply: Response | None, fmt: JSONFormat) -> HealAttempt:
        if reply is None:
            return HealAttempt("healer", "", False, messages={"_request": ["no response"]}, model=self.model)
        if reply.refusal and not reply.content.strip():
            return HealAttempt(
                "healer", "", False, messages={"_refusal": [reply.refusal]}, model=self.model, response=reply
            )
        attempt = fmt.attempt(reply.content, source="healer", repair=True)
        return HealAttempt("healer", attempt.text, attempt.ok, attempt.value, attempt.messages, self.model, reply)


def _is_json_reply(attempt: HealAttempt) -> bool:
    """True when the healer's reply was JSON (it failed validation): the next call fixes it."""
    messages = attempt.messages
    return bool(attempt.text.strip()) and not (
        isinstance(messages, dict) and ("_json" in messages or "_refusal" in messages or "_request" in messages)
    )
