"""Marble tests for retry_with_backoff(): what is retried, when, how long it waits."""

from __future__ import annotations

import random
from typing import Any

import pytest

import openrouter_rx as orx
from openrouter_rx import operators as orx_ops
from openrouter_rx.testing import ChunkFactory, chunk_lookup, run_marbles

F = ChunkFactory()
LOOKUP = chunk_lookup(r=F.role(), a=F.text("Hi")[0], t=F.tool_calls([{"name": "f", "arguments": {}}])[0], f=F.finish())


def status(cls: type[orx.APIStatusError], code: int, retry_after: float | None = None) -> orx.APIStatusError:
    return cls("failed", status=code, retry_after=retry_after)


def retry(**options: Any) -> Any:
    options.setdefault("jitter", False)
    return orx_ops.retry_with_backoff(**options)


class Flaky:
    """A source that fails the first ``failures`` subscriptions before any output, then streams."""

    def __init__(self, failures: int, error: Exception) -> None:
        self.failures, self.error, self.count = failures, error, 0

    def __call__(self, source: Any) -> Any:
        import reactivex

        def factory(_: Any = None) -> Any:
            self.count += 1
            if self.count <= self.failures:
                return reactivex.throw(self.error)
            return source

        return reactivex.defer(factory)


RETRYABLE = [
    status(orx.RateLimitError, 429),
    status(orx.RequestTimeoutError, 408),
    status(orx.ServerError, 500),
    status(orx.BadGatewayError, 502),
    status(orx.ServiceUnavailableError, 503),
    orx.APIConnectionError("connection refused"),
    orx.ConnectTimeout("connect", timeout=1.0),
    orx.IdleTimeout("idle", timeout=1.0),
    orx.TruncatedStreamError("dropped"),
    orx.StreamError("provider", code=502),
    orx.StreamError("rate limited upstream", code=429),
]
NOT_RETRYABLE = [
    status(orx.BadRequestError, 400),
    status(orx.AuthenticationError, 401),
    status(orx.InsufficientCreditsError, 402),
    status(orx.PermissionDeniedError, 403),
    status(orx.NotFoundError, 404),
    orx.TotalTimeout("total", timeout=1.0),
    orx.ProtocolError("bad json"),
    orx.StreamError("bad input", code=400),
    RuntimeError("user bug"),
]


@pytest.mark.parametrize("error", RETRYABLE, ids=lambda e: f"{type(e).__name__}-{e}")
def test_retryable_errors_before_output_are_retried_after_the_backoff(error: Exception) -> None:
    assert orx_ops.is_retryable(error)
    run = run_marbles(retry(base=2.0), "-#", {}, error=error)
    # attempts at 0, then 1 + 2 (wait) = 3, then 4 + 4 (doubled) = 8; the third failure propagates
    assert run.subscriptions == [0, 3, 8]
    assert run.events == [(9, "E", error)]


@pytest.mark.parametrize("error", NOT_RETRYABLE, ids=lambda e: f"{type(e).__name__}-{e}")
def test_other_errors_are_not_retried(error: Exception) -> None:
    assert not orx_ops.is_retryable(error)
    run = run_marbles(retry(base=2.0), "-#", {}, error=error)
    assert run.subscriptions == [0]
    assert run.events == [(1, "E", error)]


def test_a_retry_delivers_the_second_attempt_and_completes() -> None:
    flaky = Flaky(1, status(orx.ServiceUnavailableError, 503))
    run = run_marbles(lambda s: flaky(s).pipe(retry(base=3.0)), "-a-f-|", LOOKUP)
    assert flaky.count == 2
    assert run.events == [(4, "N", LOOKUP["a"]), (6, "N", LOOKUP["f"]), (8, "C", None)]


def test_errors_after_output_are_not_retried() -> None:
    boom = status(orx.ServiceUnavailableError, 503)
    run = run_marbles(retry(), "-a-#", LOOKUP, error=boom)
    assert run.subscriptions == [0]
    assert run.events == [(1, "N", LOOKUP["a"]), (3, "E", boom)]


def test_a_tool_call_delta_counts_as_output() -> None:
    boom = orx.TruncatedStreamError("dropped")
    run = run_marbles(retry(), "-t-#", LOOKUP, error=boom)
    assert run.subscriptions == [0] and run.error is boom


def test_chunks_without_output_are_held_so_a_retry_never_repeats_them() -> None:
    first = orx.APIConnectionError("reset")
    run = run_marbles(retry(base=1.0, max_retries=3), "-r-#", LOOKUP, error=first)
    # every attempt fails after its role chunk: the role chunk is delivered once, with the final error
    assert run.subscriptions == [0, 4, 9, 16]
    assert run.events == [(19, "N", LOOKUP["r"]), (19, "E", first)]


def test_held_chunks_are_released_with_the_first_output() -> None:
    run = run_marbles(retry(), "-r-r-a-|", LOOKUP)
    assert run.events == [(5, "N", LOOKUP["r"]), (5, "N", LOOKUP["r"]), (5, "N", LOOKUP["a"]), (7, "C", None)]


def test_retry_after_is_honoured_and_capped() -> None:
    run = run_marbles(retry(base=1.0, max_retries=1), "-#", {}, error=status(orx.RateLimitError, 429, 7.0))
    assert run.subscriptions == [0, 8]
    run = run_marbles(
        retry(max_retries=1, max_retry_after=5.0), "-#", {}, error=status(orx.RateLimitError, 429, 3600.0)
    )
    assert run.subscriptions == [0, 6]


def test_backoff_is_capped_by_max_delay() -> None:
    run = run_marbles(retry(base=2.0, max_delay=3.0, max_retries=3), "-#", {}, error=orx.IdleTimeout("x"))
    assert run.subscriptions == [0, 3, 7, 11]


def test_jitter_stays_within_the_upper_half_of_the_wait() -> None:
    waits: list[float] = []
    operator = orx_ops.retry_with_backoff(
        max_retries=3, base=4.0, max_delay=100.0, rng=random.Random(7), on_retry=lambda n, e, d: waits.append(d)
    )
    run_marbles(operator, "-#", {}, error=orx.IdleTimeout("x"))
    assert len(waits) == 3
    for wait, nominal in zip(waits, [4.0, 8.0, 16.0], strict=True):
        assert nominal / 2 <= wait <= nominal
    assert len(set(waits)) == 3


def test_on_retry_is_told_each_attempt() -> None:
    seen: list[tuple[int, str, float]] = []
    boom = orx.ConnectTimeout("connect", timeout=1.0)
    run_marbles(retry(base=1.0, on_retry=lambda n, e, d: seen.append((n, type(e).__name__, d))), "-#", {}, error=boom)
    assert seen == [(1, "ConnectTimeout", 1.0), (2, "ConnectTimeout", 2.0)]


def test_a_failing_on_retry_callback_surfaces_instead_of_retrying() -> None:
    def broken(*_: Any) -> None:
        raise ValueError("callback bug")

    run = run_marbles(retry(on_retry=broken), "-#", {}, error=orx.IdleTimeout("x"))
    assert isinstance(run.error, ValueError) and run.subscriptions == [0]


def test_custom_predicate() -> None:
    run = run_marbles(retry(base=1.0, max_retries=1, retry_on=lambda e: True), "-#", {}, error=ValueError("x"))
    assert run.subscriptions == [0, 2]


def test_dispose_during_the_wait_cancels_the_retry() -> None:
    run = run_marbles(retry(base=10.0), "-#", {}, error=orx.IdleTimeout("x"), dispose_at=5)
    assert run.subscriptions == [0]
    assert run.events == []


def test_zero_retries_passes_errors_through() -> None:
    boom = status(orx.ServerError, 500)
    run = run_marbles(retry(max_retries=0), "-#", {}, error=boom)
    assert run.subscriptions == [0] and run.error is boom


def test_synchronous_failures_are_retried_too() -> None:
    flaky = Flaky(2, orx.APIConnectionError("refused"))
    run = run_marbles(lambda s: flaky(s).pipe(retry(base=1.0)), "a|", LOOKUP)
    assert flaky.count == 3
    assert run.events == [(3, "N", LOOKUP["a"]), (4, "C", None)]


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError):
        orx_ops.retry_with_backoff(max_retries=-1)
    with pytest.raises(ValueError):
        orx_ops.retry_with_backoff(base=-1)


def test_retry_under_a_synchronous_subscribe_scheduler_waits_on_a_timer() -> None:
    import threading

    import reactivex
    from reactivex.scheduler import CurrentThreadScheduler, ImmediateScheduler

    for sched in (ImmediateScheduler(), CurrentThreadScheduler()):
        flaky = Flaky(1, orx.APIConnectionError("reset"))
        done = threading.Event()
        got: list[Any] = []
        flaky(reactivex.of(LOOKUP["a"])).pipe(retry(base=0.01)).subscribe(
            got.append, lambda e, got=got, done=done: (got.append(e), done.set()), done.set, scheduler=sched
        )
        assert done.wait(5)
        assert got == [LOOKUP["a"]] and flaky.count == 2


def test_a_failing_on_retry_delivers_what_was_held_then_its_error_chained_to_the_stream_error() -> None:
    def broken(*_: Any) -> None:
        raise ValueError("callback bug")

    boom = orx.IdleTimeout("x")
    run = run_marbles(retry(on_retry=broken), "-r-#", LOOKUP, error=boom)
    assert [(frame, kind) for frame, kind, _ in run.events] == [(3, "N"), (3, "E")]
    assert run.values == [LOOKUP["r"]]
    assert isinstance(run.error, ValueError) and run.error.__cause__ is boom


def test_the_docstring_marble_diagram_holds() -> None:
    import reactivex

    boom = status(orx.RateLimitError, 429)
    lookup = chunk_lookup(a="a", b="b")
    attempts = iter(["-#", "-a-b-|"])  # the first attempt fails at frame 1, the second streams

    def source(_: Any = None) -> Any:
        return reactivex.from_marbles(next(attempts), timespan=1.0, lookup=lookup, error=boom)

    run = run_marbles(lambda _: reactivex.defer(source).pipe(retry(base=2.0)), "|", {})
    assert run.frames() == [4, 6, 8]  # "----a-b-|"


def test_jitter_is_drawn_only_for_a_retry() -> None:
    rng = random.Random(3)
    state = rng.getstate()
    operator = orx_ops.retry_with_backoff(rng=rng)
    run_marbles(operator, "-#", {}, error=status(orx.BadRequestError, 400))  # not retried
    assert rng.getstate() == state
