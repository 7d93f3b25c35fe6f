"""The blocking bridge: values on the calling thread, errors re-raised, and every way of leaving
early disposes the subscription (over loopback: the server sees the client go away)."""

from __future__ import annotations

import gc
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import closing

import pytest
import reactivex
from reactivex import operators as ops
from reactivex.disposable import Disposable

import openrouter_rx as orx
from openrouter_rx.blocking import iterate, wait
from openrouter_rx.testing import CompletionReply, ErrorReply, FakeOpenRouter, StreamReply, completion_body, text_chunks

KEY = "sk-or-v1-blocking-0123456789"


@pytest.fixture
def client(fake_openrouter: FakeOpenRouter) -> Iterator[orx.Client]:
    with orx.Client(api_key=KEY, base_url=fake_openrouter.base_url, timeout=orx.Timeout(connect=2, idle=5)) as c:
        yield c


def stalling(text: str = "one two three") -> StreamReply:
    wire = text_chunks(text)
    return StreamReply(wire, stall_after=len(wire) - 2, stall_keepalive=0.05)


def test_values_arrive_in_order_on_the_calling_thread(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    wire = text_chunks("in order please", reasoning="hmm")
    fake_openrouter.enqueue(StreamReply(wire, delay=0.005))
    reader_threads: set[str] = set()
    source = client.stream("hi").pipe(ops.do_action(lambda _: reader_threads.add(threading.current_thread().name)))
    consumer_threads: set[str] = set()
    chunks = []
    for chunk in iterate(source):
        consumer_threads.add(threading.current_thread().name)
        chunks.append(chunk)
    assert orx.Response.from_chunks(chunks).content == "in order please"
    assert len(chunks) == len(wire)
    assert consumer_threads == {threading.current_thread().name}
    assert threading.current_thread().name not in reader_threads  # the read ran on the client's pool


def test_nothing_is_subscribed_before_the_first_next(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    values = iterate(client.stream("hi"))
    values.close()
    fake_openrouter.enqueue(StreamReply(text_chunks("later")))
    assert wait(client.stream("hi").pipe(ops.count())) == len(text_chunks("later"))
    assert len(fake_openrouter.requests) == 1  # only the second stream was sent


def test_the_error_is_reraised_as_the_same_object(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(ErrorReply(429, "slow down"))
    seen: list[Exception] = []
    source = client.stream("hi").pipe(ops.do_action(on_error=seen.append))
    with pytest.raises(orx.RateLimitError) as raised:
        list(iterate(source))
    assert seen == [raised.value]


def test_break_disposes_and_closes_the_connection(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(stalling())
    with closing(iterate(client.stream("hi"))) as chunks:
        for chunk in chunks:
            if chunk.content:
                break
    assert fake_openrouter.wait_for_requests(1)[0].wait_disconnected(5), "the server did not see the client go away"


def test_an_exception_in_the_consumer_disposes(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(stalling())

    def consume() -> None:
        with closing(iterate(client.stream("hi"))) as chunks:
            for chunk in chunks:
                if chunk.content:
                    raise KeyboardInterrupt  # what Ctrl-C raises in the consumer's thread

    with pytest.raises(KeyboardInterrupt):
        consume()
    assert fake_openrouter.wait_for_requests(1)[0].wait_disconnected(5)


def test_a_dropped_generator_disposes(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(stalling())
    values = iterate(client.stream("hi"))
    assert next(values).choices  # subscribed: the role chunk came
    del values
    gc.collect()
    assert fake_openrouter.wait_for_requests(1)[0].wait_disconnected(5)


def test_timeout_raises_idle_timeout_and_disposes(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(stalling())
    got = []
    with pytest.raises(orx.IdleTimeout) as raised:
        for chunk in iterate(client.stream("hi"), timeout=0.2):
            got.append(chunk)
    assert raised.value.timeout == 0.2 and "0.2s" in str(raised.value)
    assert orx.Response.from_chunks(got).content == "one two three"  # what came before the stall was delivered
    assert fake_openrouter.wait_for_requests(1)[0].wait_disconnected(5)


def test_disposal_of_a_generic_observable() -> None:
    disposed = threading.Event()

    def subscribe(observer: reactivex.abc.ObserverBase[int], scheduler: object = None) -> Disposable:
        observer.on_next(1)
        observer.on_next(2)
        return Disposable(disposed.set)  # never completes

    values = iterate(reactivex.create(subscribe))  # type: ignore[arg-type]
    assert next(values) == 1
    values.close()
    assert disposed.is_set()


def test_a_synchronous_observable_works() -> None:
    assert list(iterate(reactivex.of(1, 2, 3))) == [1, 2, 3]
    assert wait(reactivex.of("a", "b")) == "b"


def test_wait_returns_the_last_value_or_the_default() -> None:
    assert wait(reactivex.empty(), default=None) is None
    with pytest.raises(ValueError, match="without a value"):
        wait(reactivex.empty())
    with pytest.raises(ZeroDivisionError):
        wait(reactivex.throw(ZeroDivisionError()))


def test_wait_on_a_completion(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    fake_openrouter.enqueue(CompletionReply(completion_body("blocking answer")))
    response = wait(client.complete("hi"), timeout=5)
    assert isinstance(response, orx.Response) and response.content == "blocking answer"


def test_timeout_must_be_positive() -> None:
    for bad in (0, -1.0):
        with pytest.raises(ValueError):
            iterate(reactivex.of(1), timeout=bad)


@pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="needs POSIX signals")
def test_a_signal_while_waiting_interrupts_and_disposes(fake_openrouter: FakeOpenRouter, client: orx.Client) -> None:
    """Ctrl-C while the main thread waits for the next value: the wait is interrupted (it waits in
    slices), KeyboardInterrupt propagates and the connection is closed."""
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers run on the main thread only")
    fake_openrouter.enqueue(stalling())

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    def press_ctrl_c() -> None:
        fake_openrouter.wait_for_requests(1)
        os.kill(os.getpid(), signal.SIGUSR1)

    previous = signal.signal(signal.SIGUSR1, interrupt)
    presser = threading.Thread(target=press_ctrl_c)
    got: list[orx.Chunk] = []
    try:
        presser.start()
        with pytest.raises(KeyboardInterrupt):
            for chunk in iterate(client.stream("hi")):  # stalls after the words: blocked in the wait
                got.append(chunk)
    finally:
        presser.join(5)
        signal.signal(signal.SIGUSR1, previous)
    assert fake_openrouter.wait_for_requests(1)[0].wait_disconnected(5), "the connection was not closed"


def test_inside_a_running_trampoline_a_synchronous_source_does_not_deadlock() -> None:
    """``reactivex.of`` runs on the trampoline; called from one of its ``on_next``, the inner
    source's work would queue behind the blocked caller (an IdleTimeout here, a hang without a timeout)."""
    results: list[object] = []
    reactivex.of(1, 2).subscribe(lambda n: results.append(list(iterate(reactivex.of(n, n * 10), timeout=5))))
    assert results == [[1, 10], [2, 20]]
    errors: list[object] = []

    def failing(_: int) -> None:
        try:
            wait(reactivex.throw(LookupError("inner")), timeout=5)
        except LookupError as error:
            errors.append(str(error))

    reactivex.of(1).subscribe(failing)
    assert errors == ["inner"]


def test_stream_complete_inside_a_trampoline_with_healing(fake_openrouter: FakeOpenRouter) -> None:
    from marshmallow import Schema, fields

    from openrouter_rx.streaming_client import StreamingClient

    class Point(Schema):
        x = fields.Integer(required=True)

    fake_openrouter.enqueue(StreamReply(text_chunks('{"x": "one"}')), CompletionReply(completion_body('{"x": 1}')))
    values: list[object] = []

    def ask(sc: StreamingClient) -> None:  # on a trampoline, as inside any reactivex.of(...) subscriber
        reactivex.of("a point").subscribe(
            lambda prompt: values.append(sc.stream_complete(prompt, response_format=Point).structured_output)  # type: ignore[union-attr]
        )

    with StreamingClient(base_url=fake_openrouter.base_url, auto_heal_responses=True, request_timeout=5) as sc:
        caller = threading.Thread(target=ask, args=(sc,), daemon=True)
        caller.start()
        caller.join(10)
        assert not caller.is_alive(), "stream_complete hung inside the trampoline"
    assert values == [{"x": 1}]
