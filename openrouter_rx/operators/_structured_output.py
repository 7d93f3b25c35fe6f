"""``structured_output``: the stream's content as validated data (with local repairs and healing)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from marshmallow import Schema
from reactivex import Observable, abc
from reactivex.disposable import CompositeDisposable, SingleAssignmentDisposable

from .._accumulator import ResponseAccumulator
from .._structured_value import failure_reason, refusal_error
from ..chunk import Chunk
from ..chunk_stream import ChunkStream
from ..response import Response
from ..structured import HealAttempt, JSONFormat, ResponseFormat
from ._common import attach_partial, complete_with, subscribe_queued

if TYPE_CHECKING:
    from ..healer import SupportsHeal

__all__ = ["structured_output"]

logger = logging.getLogger("openrouter_rx")

_PREVIEW = 200


def _preview(text: str) -> str:
    """``text`` for a log line: at most about 200 characters, with its length when cut."""
    if len(text) <= _PREVIEW:
        return repr(text)
    return f"{text[:_PREVIEW]!r}... ({len(text)} characters)"


def _log(attempt: HealAttempt) -> None:
    model = f" ({attempt.model})" if attempt.model else ""
    if attempt.ok:
        if attempt.source != "model":
            logger.info("structured output: %s%s succeeded: %s", attempt.source, model, _preview(attempt.text))
        return
    logger.warning(
        "structured output: %s%s attempt failed: %s; text: %s",
        attempt.source,
        model,
        str(attempt.messages)[:_PREVIEW],
        _preview(attempt.text),
    )


_NO_FORMAT = (
    "structured_output() needs a format: pass one (structured_output(MySchema)), or use it on "
    "chunks of client.stream(..., response_format=...)"
)


def _format_of(source: Observable[Chunk]) -> JSONFormat | None:
    """The response format of the request ``source`` streams, when known at pipe time (``None``:
    the chunks will say). A request known to have none is a ``TypeError`` at once."""
    if not isinstance(source, ChunkStream) or source.context is None:
        return None  # e.g. after publish()/share(), or a ChunkStream.of(...): each chunk knows its request
    form = source.response_format
    if not isinstance(form, JSONFormat):
        raise TypeError(_NO_FORMAT)
    return form


def structured_output(
    fmt: ResponseFormat | JSONFormat | type[Schema] | Schema | Mapping[str, Any] | None = None,
    *,
    repair: bool = True,
    heal: SupportsHeal | None = None,
    choice: int = 0,
    on_attempt: Callable[[HealAttempt], Any] | None = None,
) -> Callable[[Observable[Chunk]], Observable[Any]]:
    """When the stream completes, emit choice ``choice``'s content as validated data, then complete.

    ``fmt`` is anything :meth:`ResponseFormat.coerce <openrouter_rx.structured.ResponseFormat.coerce>`
    takes (a :class:`~openrouter_rx.structured.ResponseFormat`, a marshmallow schema, a raw
    ``response_format`` dict, which only checks that the reply is JSON: a JSON Schema written
    by hand is sent, not validated here; use a marshmallow schema for validated data). The
    model's text is tried first; if it fails, the locally repaired
    text (when ``repair`` and a repair changes it: code fence, prose, trailing commas, a cut-off
    tail), then the attempts of ``heal`` (a :class:`~openrouter_rx.healer.Healer`, given the last
    attempt's text and errors), in order; the first valid value is emitted. Without ``heal`` no
    network call is made; an empty (or blank) reply is not healed either, since a healer could
    only invent the data.

    Every attempt is passed to ``on_attempt`` and logged on the ``"openrouter_rx"`` logger (INFO
    for a repair or heal that worked, WARNING for a failed attempt; text cut to about 200
    characters). When all fail: :class:`~openrouter_rx.errors.StructuredOutputError` with
    ``raw`` (the model's text), ``messages`` (the last errors) and ``attempts`` (all, in order);
    its message says when the reply was truncated by ``max_tokens`` (``finish_reason ==
    "length"``). A refusal (``delta.refusal``) fails at once, quoting the refusal, with
    ``messages={"_refusal": [text]}`` and no attempts. These errors, and stream errors (passed
    through), carry ``err.partial``: the accumulated Response. An exception raised by
    ``on_attempt`` ends the stream with that exception.

    Marble::

        chunks:             -a-b-c-|         content '{"ci', 'ty": "Os', 'lo"}'
        structured_output:  -------(v,|)     v = City(name="Oslo") (what the schema loads)

        chunks:             -a-b-|           content '{"city": "Os' (cut off), finish 'length'
        structured_output:  -----(v,|)       v from the repaired '{"city": "Os"}' (if valid)

        chunks:             -a-b-|           content 'not json', no heal
        structured_output:  -----#           StructuredOutputError, err.partial.content == "not json"

        chunks:             -a-b-|           content 'bad', heal=healer (its call answers --v|)
        structured_output:  -------(v,|)     v from the healer's reply, 2 frames after the end

    Args:
        fmt: the expected format; ``None`` (the default) takes the ``response_format`` of the
            request the chunks come from (``client.stream(..., response_format=...)``, also after
            ``publish``/``share``/``observe_on``): a ``TypeError`` at pipe time when the stream is
            known to have none, else at completion when no chunk told.
        repair: try local repairs when the text fails as it is.
        heal: a healer to ask when local repairs do not help.
        choice: the choice index whose content is parsed.
        on_attempt: called with every :class:`~openrouter_rx.structured.HealAttempt`.
    """
    given = None if fmt is None else ResponseFormat.coerce(fmt)

    def operator(source: Observable[Chunk]) -> Observable[Any]:
        known = given if given is not None else _format_of(source)

        def subscribe(
            observer: abc.ObserverBase[Any], subscribe_scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            acc = ResponseAccumulator()
            healing = SingleAssignmentDisposable()
            attempts: list[HealAttempt] = []

            def fail(error: Exception, response: Response) -> None:
                observer.on_error(attach_partial(error, response, acc.chunk_count))

            def record(attempt: HealAttempt, response: Response) -> bool:
                """Log and report ``attempt``; False when ``on_attempt`` raised (then reported)."""
                attempts.append(attempt)
                _log(attempt)
                if on_attempt is not None:
                    try:
                        on_attempt(attempt)
                    except Exception as raised:
                        healing.dispose()
                        fail(raised, response)
                        return False
                return True

            def on_completed() -> None:
                response = acc.response()
                form = given if given is not None else chunk_format if chunk_format is not None else known
                if form is None:
                    fail(TypeError(_NO_FORMAT), response)
                    return
                refused = refusal_error(response, choice)
                if refused is not None:
                    fail(refused, response)
                    return
                text = response.choice(choice).content
                try:
                    tried = form.attempts(text, repair=repair)
                except Exception as error:  # a schema hook (post_load, a validator) raised something else
                    fail(error, response)
                    return
                for attempt in tried:
                    if not record(attempt, response):
                        return
                    if attempt.ok:
                        if attempt.source == "repair" and response.choice(choice).finish_reason == "length":
                            logger.warning(
                                "structured output: a reply truncated by max_tokens was repaired by closing it; "
                                "lists and texts may be incomplete (raise max_tokens to get all of it)"
                            )
                        complete_with(observer, (attempt.value,))
                        return
                if heal is None or not text.strip():  # nothing to heal: a healer could only invent the data
                    fail(form.error(text, attempts, failure_reason(response, choice)), response)
                    return
                start_healing(heal, form, text, attempts[-1], response)

            def start_healing(
                healer: SupportsHeal, form: JSONFormat, raw: str, last: HealAttempt, response: Response
            ) -> None:
                done = False

                def on_heal(attempt: HealAttempt) -> None:
                    nonlocal done
                    if done or not record(attempt, response):
                        done = True
                        return
                    if attempt.ok:
                        done = True
                        healing.dispose()
                        complete_with(observer, (attempt.value,))

                def on_heal_error(error: Exception) -> None:
                    if not done:
                        fail(error, response)

                def on_heal_completed() -> None:
                    if not done:
                        fail(form.error(raw, attempts, failure_reason(response, choice)), response)

                try:
                    attempts_of_healer = healer.heal(last.text, form, last.messages)  # the repaired text, if any
                except Exception as error:
                    fail(error, response)
                    return
                subscribe_queued(
                    attempts_of_healer,
                    healing,
                    on_heal,
                    on_heal_error,
                    on_heal_completed,
                    subscribe_scheduler,
                )

            def on_error(error: Exception) -> None:
                fail(error, acc.response())

            chunk_format: JSONFormat | None = None

            def on_next(chunk: Chunk) -> None:
                nonlocal chunk_format
                if chunk_format is None and chunk.context is not None:
                    chunk_format = chunk.context.response_format
                acc.add(chunk)

            upstream = source.subscribe(on_next, on_error, on_completed, scheduler=subscribe_scheduler)
            return CompositeDisposable(upstream, healing)

        return Observable(subscribe)

    return operator
