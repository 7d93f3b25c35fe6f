"""``retry_with_backoff``: re-send a request that failed before producing any output."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import Any

from reactivex import Observable, abc
from reactivex.disposable import SerialDisposable, SingleAssignmentDisposable

from ..chunk import Chunk
from ..chunk_stream import same_request
from ..errors import (
    APIConnectionError,
    APIStatusError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    StreamError,
    TotalTimeout,
    TruncatedStreamError,
)
from ._common import OutputGate, guarded, subscribe_queued, timer_clock

__all__ = ["is_retryable", "retry_with_backoff"]

log = logging.getLogger("openrouter_rx.retry")

_RETRY_STATUSES = frozenset({408, 429})


def is_retryable(error: BaseException) -> bool:
    """True for errors worth re-sending the request for.

    Retried: 408, 429, every 5xx (as an HTTP status or as a mid-stream error chunk's code),
    connection errors, connect and idle timeouts, a stream cut off before any output.
    Never: 400, 401, 402, 403 and other client errors, the total timeout (the caller's budget is
    spent), protocol errors, and exceptions that are not this library's (a bug in user code).
    """
    if isinstance(error, (RateLimitError, RequestTimeoutError, ServerError)):
        return True
    if isinstance(error, APIStatusError):
        return False
    if isinstance(error, TotalTimeout):
        return False
    if isinstance(error, (APIConnectionError, TruncatedStreamError)):
        return True
    if isinstance(error, StreamError):
        status = error.status
        return status is not None and (status in _RETRY_STATUSES or status >= 500)
    return False


def _retry_after(error: BaseException) -> float | None:
    value = getattr(error, "retry_after", None)
    return float(value) if isinstance(value, (int, float)) and value >= 0 else None


def retry_with_backoff(
    max_retries: int = 2,
    base: float = 0.5,
    max_delay: float = 8.0,
    jitter: bool = True,
    *,
    max_retry_after: float = 30.0,
    retry_on: Callable[[BaseException], bool] = is_retryable,
    on_retry: Callable[[int, BaseException, float], None] | None = None,
    scheduler: abc.SchedulerBase | None = None,
    rng: random.Random | None = None,
) -> Callable[[Observable[Chunk]], Observable[Chunk]]:
    """Re-subscribe (so re-send the request) when it fails before the first output.

    Output is a chunk with content, reasoning (text or details), a refusal or a tool-call delta
    (:attr:`Chunk.has_output <openrouter_rx.Chunk.has_output>`): after one has been
    delivered the error propagates (with its partial response), because OpenRouter cannot resume
    a stream and re-sending would duplicate text downstream. Chunks without output (the role
    chunk) are held back until the first output chunk, so a retry never delivers them twice.

    Which errors are retried is :func:`is_retryable` (override with ``retry_on``). The wait before
    retry ``n`` (1-based) is ``min(max_delay, base * 2**(n-1))``, with jitter drawn uniformly from
    its upper half; a ``retry_after`` on the error (``Retry-After`` header or OpenRouter's
    availability hint) is honoured instead, capped at ``max_retry_after``. Waits run on the
    scheduler, so tests in virtual time are exact (``jitter=False``).

    Marble (base=2 frames, jitter=False)::

        source, 1st:   -#                      (429 before any output)
        source, 2nd:      -a-b-|               (re-subscribed 2 frames after the error)
        retry…():      ----a-b-|

        source:        -a-#                    (error after output: not retried)
        retry…():      -a-#

    Args:
        max_retries: re-subscriptions allowed after the first attempt.
        base: the first wait, in seconds; it doubles each retry.
        max_delay: the longest backoff wait.
        jitter: randomise each wait within [wait/2, wait] so clients do not retry in step.
        max_retry_after: the longest wait a server's ``retry_after`` can impose.
        retry_on: predicate choosing which errors are retried.
        on_retry: called as ``on_retry(attempt, error, delay)`` before each wait (for UIs/logs).
        scheduler: where to wait (default: a virtual-time subscribe scheduler such as a TestScheduler,
            else a timer thread).
        rng: the random source for jitter (for reproducible runs).
    """
    if max_retries < 0:
        raise ValueError("max_retries must be >= 0")
    if base < 0 or max_delay < 0 or max_retry_after < 0:
        raise ValueError("delays must be >= 0")
    random_source = rng or random.Random()

    def delay_for(attempt: int, error: BaseException) -> float:
        hinted = _retry_after(error)
        if hinted is not None:
            return min(hinted, max_retry_after)
        wait = min(max_delay, base * 2 ** (attempt - 1))
        return random_source.uniform(wait / 2, wait) if jitter else wait

    def operator(source: Observable[Chunk]) -> Observable[Chunk]:
        def subscribe(
            observer: abc.ObserverBase[Chunk], subscribe_scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            clock = timer_clock(scheduler, subscribe_scheduler)
            serial = SerialDisposable()  # the current attempt, or the timer before the next one
            gate = OutputGate(observer)
            attempt = 0

            def on_error(error: Exception) -> None:
                nonlocal attempt
                if serial.is_disposed:
                    return
                if gate.opened or attempt >= max_retries:
                    gate.fail(error)
                    return
                retryable, failure = guarded(error, lambda: retry_on(error))
                if failure is None and not retryable:
                    failure = error
                if failure is not None:
                    gate.fail(failure)  # what was held is delivered before the error, as on every failure
                    return
                delay = delay_for(attempt + 1, error)  # drawn only for a retry: a shared rng stays reproducible
                if on_retry is not None:
                    _, failure = guarded(error, lambda: on_retry(attempt + 1, error, delay))
                    if failure is not None:
                        gate.fail(failure)
                        return
                attempt += 1
                gate.reset()
                log.info("retry %d/%d in %.2fs after %s", attempt, max_retries, delay, type(error).__name__)
                # The timer may fire (on another thread) before schedule_relative returns: put its
                # holder in place first so the retried subscription is never replaced by it.
                timer = SingleAssignmentDisposable()
                serial.disposable = timer
                timer.disposable = clock.schedule_relative(delay, attempt_once)

            def attempt_once(_scheduler: abc.SchedulerBase | None = None, _state: Any = None) -> None:
                if serial.is_disposed:
                    return
                # Assign the holder first: a source failing synchronously inside subscribe()
                # replaces it with the retry timer, which must not be undone afterwards.
                holder = SingleAssignmentDisposable()
                serial.disposable = holder
                subscribe_queued(source, holder, gate.on_next, on_error, gate.on_completed, subscribe_scheduler)

            attempt_once()
            return serial

        return same_request(source, subscribe)

    return operator
