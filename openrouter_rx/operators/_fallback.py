"""``fallback_to_non_streaming``: when streaming fails before any output, ask again without streaming."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

from reactivex import Observable, abc
from reactivex.disposable import SerialDisposable, SingleAssignmentDisposable

from ..chunk import Chunk
from ..chunk_stream import ChunkStream, RequestContext, context_of, same_request
from ..errors import (
    APIConnectionError,
    APIStatusError,
    OpenRouterError,
    ProtocolError,
    RequestTimeoutError,
    ServerError,
    StreamError,
    TotalTimeout,
    TruncatedStreamError,
)
from ..response import Response
from ._common import OutputGate, guarded, subscribe_queued

__all__ = ["fallback_to_non_streaming", "should_fall_back"]

log = logging.getLogger("openrouter_rx.fallback")


def _carried(response: Response, context: RequestContext | None) -> RequestContext | None:
    """The context of the fallback's chunks: the Responses built from them get what ``response``
    (the completion's) had attached, its format and pricing, then what the stream's request
    knows (``context``, ``None`` for a source not known to be ``client.stream``'s)."""
    form, pricing = response.response_format, response.pricing
    if form is None and pricing is None:
        return context

    def finish(built: Response) -> Response:
        built = replace(
            built,
            response_format=form if built.response_format is None else built.response_format,
            pricing=pricing if built.pricing is None else built.pricing,
        )
        return context.finish_response(built) if context is not None else built

    return RequestContext(form if form is not None or context is None else context.response_format, finish)


def should_fall_back(error: BaseException) -> bool:
    """True when a non-streaming request may succeed where the stream failed.

    Yes for this library's errors about the exchange — connection errors, connect and idle
    timeouts, truncated or malformed streams, mid-stream error chunks, 408 and 5xx — except the
    ones the same request would hit again: the client errors (400, 401, 402, 403, 404, 413, 422
    and any other 4xx but 408, as an HTTP status or as an error chunk's code), 429 (rate limits
    apply to both; retry later with ``retry_with_backoff`` instead), the total timeout (the
    caller's time budget is spent, as for :func:`~openrouter_rx.operators.is_retryable`) and a
    header that cannot be sent (:class:`~openrouter_rx.errors.InvalidHeaderError`). Never for
    other errors (tool arguments, structured outputs, callbacks) nor exceptions from user code.
    """
    if isinstance(error, APIStatusError):
        return isinstance(error, (ServerError, RequestTimeoutError))
    if isinstance(error, StreamError):
        status = error.status
        return status is None or not 400 <= status < 500 or status == 408
    if isinstance(error, TotalTimeout):
        return False
    return isinstance(error, (APIConnectionError, TruncatedStreamError, ProtocolError))


def fallback_to_non_streaming(
    completion: Observable[Response] | None = None,
    *,
    when: Callable[[BaseException], bool] = should_fall_back,
    on_fallback: Callable[[BaseException], None] | None = None,
) -> Callable[[Observable[Chunk]], Observable[Chunk]]:
    """When the stream fails before its first output, send the request without streaming instead.

    Applied to a stream made by ``client.stream(...)`` (directly or after ``retry_with_backoff``,
    ``idle_timeout`` or ``track_usage``), it needs no arguments: the same request is sent with
    ``stream: false``. For other sources pass the non-streaming observable as ``completion``.
    The :class:`~openrouter_rx.Response` that comes back is emitted as chunks shaped like a
    stream (``Response.to_chunks``), so ``accumulate``, ``tool_calls`` and ``meter`` downstream
    work unchanged.

    Output is a chunk with content, reasoning (text or details), a refusal or a tool-call delta
    (:attr:`Chunk.has_output <openrouter_rx.Chunk.has_output>`). Chunks without it
    are held back until the first output chunk (so a fallback never repeats them). After output
    has been delivered the error propagates as it is, with its partial response: OpenRouter
    cannot resume a stream. If the fallback request fails too, its error propagates, with the
    streaming error as ``__cause__`` when it is one of this library's errors.

    Marble::

        chunks:       -r-#                 (r: role chunk, then a 502 before any content)
        completion:      --(R,|)           (subscribed at the error)
        fallback():   -----(a,b,u,|)       (R as chunks: delta, finish, usage)

        chunks:       -a-#                 (after output: no fallback)
        fallback():   -a-#

    Args:
        completion: the non-streaming request, for sources not made by the client.
        when: which errors fall back (default :func:`should_fall_back`).
        on_fallback: called with the streaming error just before the fallback request is sent.

    Raises:
        TypeError: at ``pipe`` time, when the source was not made by ``client.stream`` and no
            ``completion`` is given.
    """

    def operator(source: Observable[Chunk]) -> Observable[Chunk]:
        context = context_of(source)  # the fallback's chunks are the same request's: marked as such
        make_fallback: Callable[[], Observable[Response]]
        if completion is not None:
            make_fallback = lambda: completion  # noqa: E731
        elif isinstance(source, ChunkStream):
            make_fallback = source.non_streaming  # built only if a fallback happens
        else:
            raise TypeError(
                "fallback_to_non_streaming() needs a stream made by client.stream(...) (directly or after "
                "retry_with_backoff/idle_timeout/track_usage); for other sources pass the non-streaming "
                "observable: fallback_to_non_streaming(client.complete(...))"
            )

        def subscribe(
            observer: abc.ObserverBase[Chunk], subscribe_scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            gate = OutputGate(observer)
            serial = SerialDisposable()  # the stream, then the fallback request

            def on_error(error: Exception) -> None:
                if serial.is_disposed:
                    return
                if gate.opened:
                    gate.fail(error)
                    return
                falls_back, failure = guarded(error, lambda: when(error))
                if failure is None and not falls_back:
                    failure = error
                if failure is None and on_fallback is not None:
                    _, failure = guarded(error, lambda: on_fallback(error))
                request: Observable[Response] | None = None
                if failure is None:
                    request, failure = guarded(error, make_fallback)  # building the request may fail too
                if failure is not None or request is None:
                    gate.fail(failure or error)
                    return
                gate.reset()
                log.warning("stream failed before any output (%s); retrying without streaming", type(error).__name__)

                def on_response(response: Response) -> None:
                    stamp = _carried(response, context)
                    for chunk in response.to_chunks():
                        observer.on_next(stamp.stamp(chunk) if stamp is not None else chunk)

                def on_fallback_error(fallback_error: Exception) -> None:
                    # Only the fallback request's own failures are "caused" by the stream's; an
                    # exception raised by the subscriber while it got the fallback's chunks is not.
                    if (
                        isinstance(fallback_error, OpenRouterError)
                        and fallback_error is not error
                        and fallback_error.__cause__ is None
                    ):
                        fallback_error.__cause__ = error
                    observer.on_error(fallback_error)

                holder = SingleAssignmentDisposable()
                serial.disposable = holder
                subscribe_queued(
                    request, holder, on_response, on_fallback_error, observer.on_completed, subscribe_scheduler
                )

            holder = SingleAssignmentDisposable()
            serial.disposable = holder
            holder.disposable = source.subscribe(
                gate.on_next, on_error, gate.on_completed, scheduler=subscribe_scheduler
            )
            return serial

        return same_request(source, subscribe)  # still the request's chunks: format and pricing kept

    return operator
