"""A custom operator and its marble tests: copy this file to start your own.

The operator, ``words()``, turns a chat stream into whole words: content deltas are cut anywhere
(``"Hel"``, ``"lo wor"``, ``"ld"``), so it keeps the unfinished word until a space or the end of
the stream shows it is complete.

The tests run in **virtual time** with ``openrouter_rx.testing.run_marbles``: no network, no
threads, no sleeping, and every frame of every event is exact. Letters in a marble string name
chunks (``chunk_lookup`` / ``chunk_marbles`` build them), ``-`` is one frame, ``|`` completion
and ``#`` an error.

How to run it (from the project root, with the dev extras installed)::

    python -m pytest examples/test_my_operator.py

To test your own operator: replace ``words`` by yours and keep the four kinds of test below:
values (and the frame each one arrives at), completion, an error after some output (the
library's error carries ``err.partial``: pass it on unchanged), and disposal (unsubscribing must
dispose the source, which is what closes the HTTP connection).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import reactivex
from reactivex import Observable, abc
from reactivex import operators as ops

import openrouter_rx as orx
from openrouter_rx import operators as orx_ops
from openrouter_rx.testing import ChunkFactory, chunk_lookup, chunk_marbles, run_marbles, text_chunks


def words(choice: int = 0) -> Callable[[Observable[orx.Chunk]], Observable[str]]:
    """The whole words of choice ``choice``'s content, each as soon as it is complete.

    A word is complete when whitespace follows it, or when the stream completes. On an error the
    unfinished word is dropped (it may have been cut) and the error passes through unchanged, so
    ``err.partial`` still holds the whole text received.

    Marble::

        chunks:   -a-b-c-|      a: "Hel", b: "lo wor", c: "ld"
        words():  ---x---(y,|)  x: "Hello", y: "world"

        chunks:   -a-b-#        # carries err.partial
        words():  ---x-#        "wor" is not emitted

    Example::

        client.stream("Say hi").pipe(words()).subscribe(print)
    """

    def operator(source: Observable[orx.Chunk]) -> Observable[str]:
        def subscribe(
            observer: abc.ObserverBase[str], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            pending = ""  # state lives in the subscription: two subscribers never share it

            def on_next(chunk: orx.Chunk) -> None:
                nonlocal pending
                for item in chunk.choices:
                    if item.index == choice and item.delta.content:
                        pending += item.delta.content
                *complete, pending = re.split(r"\s+", pending)  # the last piece may be unfinished
                for word in complete:
                    if word:
                        observer.on_next(word)

            def on_completed() -> None:
                if pending.strip():
                    observer.on_next(pending.strip())
                observer.on_completed()

            return source.subscribe(on_next, observer.on_error, on_completed, scheduler=scheduler)

        return Observable(subscribe)

    return operator


# -- values and the frame of each -------------------------------------------------------------


def test_words_are_emitted_as_soon_as_they_are_complete() -> None:
    lookup = chunk_lookup(a="Hel", b="lo wor", c="ld")
    run = run_marbles(words(), "-a-b-c-|", lookup)
    # "Hello" is known complete at frame 3 (the space arrives with b); "world" only at the end.
    assert run.events == [(3, "N", "Hello"), (7, "N", "world"), (7, "C", None)]


def test_chunks_without_content_are_ignored() -> None:
    # A realistic stream from the builders: role chunk, content pieces, finish chunk, usage chunk.
    marbles, lookup = chunk_marbles(text_chunks("one two  three\nfour"))
    run = run_marbles(words(), marbles, lookup)
    assert run.values == ["one", "two", "three", "four"]


def test_another_choice_is_not_mixed_in() -> None:
    factory = ChunkFactory()
    lookup = chunk_lookup(a=factory.chunk({"content": "zero "}, index=0), b=factory.chunk({"content": "one "}, index=1))
    run = run_marbles(words(choice=1), "-a-b-|", lookup)
    assert run.values == ["one"]


# -- completion --------------------------------------------------------------------------------


def test_an_empty_stream_completes_without_values() -> None:
    run = run_marbles(words(), "---|")
    assert run.events == [(3, "C", None)]


def test_it_composes_with_the_library_operators() -> None:
    # Your operator is a plain function of an Observable: it goes in .pipe(...) like any other.
    marbles, lookup = chunk_marbles(text_chunks("a b c"))
    run = run_marbles(lambda chunks: chunks.pipe(orx_ops.retry_with_backoff(), words()), marbles, lookup)
    assert run.values == ["a", "b", "c"] and run.completed


# -- an error after output -----------------------------------------------------------------------


def test_an_error_passes_through_with_its_partial_response() -> None:
    partial = orx.Response.from_chunks(
        [orx.Chunk.from_dict({"choices": [{"index": 0, "delta": {"content": "Hello wor"}}]})]
    )
    error = orx.StreamError("Provider returned error", partial=partial, chunk_count=2)
    lookup = chunk_lookup(a="Hello ", b="wor")
    run = run_marbles(words(), "-a-b-#", lookup, error=error)
    assert run.values == ["Hello"]  # "wor" may have been cut: not emitted as a word
    assert run.error is error  # the same object: err.partial is intact
    assert isinstance(run.error, orx.OpenRouterError) and run.error.partial is not None
    assert run.error.partial.content == "Hello wor"


# -- disposal --------------------------------------------------------------------------------------


def test_unsubscribing_disposes_the_source() -> None:
    lookup = chunk_lookup(a="one ", b="two ", c="three ")
    run = run_marbles(words(), "-a-b-c-|", lookup, dispose_at=4)
    assert run.values == ["one", "two"]
    assert run.disposals == [4]  # on a real stream, this is what closes the connection
    assert not run.completed


def test_each_subscription_has_its_own_state() -> None:
    # A cold stream is subscribed again by retries and by every .run(): state kept outside
    # subscribe() would leak the unfinished "tw" of the first run into the second.
    chunks = [orx.Chunk.from_dict({"choices": [{"index": 0, "delta": {"content": text}}]}) for text in ("one t", "w")]
    pipeline = reactivex.from_iterable(chunks).pipe(words(), ops.to_list())
    assert pipeline.run() == ["one", "tw"]
    assert pipeline.run() == ["one", "tw"]
