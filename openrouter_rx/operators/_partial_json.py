"""``partial_json``: the JSON a choice's content is streaming, parsed progressively."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import jiter
from reactivex import Observable, abc

from .._accumulator import ResponseAccumulator
from ..chunk import Chunk
from ._common import attach_partial, complete_with

__all__ = ["PartialJSONParser", "partial_json"]

_START = re.compile(r"[{\[]")
_STRING_STOP = re.compile(r'["\\]')
_NUMBER_TAIL = b"0123456789+-.eE"
_NOTHING: Any = object()
_FREE_BYTES = 8 * 1024  # the text up to this size is re-parsed on every chunk (under ~70 us per parse)


class PartialJSONParser:
    """Incremental state of one streamed JSON document: the text from its first ``{``/``[``, and
    whether the text so far ends inside a string.

    Text before the first ``{`` or ``[`` (prose, a code fence) is skipped; text after the
    document closes is ignored by the parse. The string state is tracked incrementally, in
    linear time over the whole stream.
    """

    __slots__ = ("_buffer", "_escaped", "_in_string", "_parsed_size", "started")

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._in_string = False
        self._escaped = False
        self._parsed_size = 0
        self.started = False

    def feed(self, text: str) -> None:
        """Add the next piece of text."""
        if not self.started:
            match = _START.search(text)
            if match is None:
                return
            self.started = True
            text = text[match.start() :]
        self._track(text)
        self._buffer += text.encode("utf-8")

    @property
    def size(self) -> int:
        """Bytes of JSON text received (from the first bracket)."""
        return len(self._buffer)

    def due(self, min_growth: float) -> bool:
        """True when the text grew since the last :meth:`value`, by at least ``min_growth`` times
        its size beyond the first 8 KB (any growth up to 8 KB)."""
        size = len(self._buffer)
        grown = size - self._parsed_size
        return grown > 0 and grown >= (size - _FREE_BYTES) * min_growth

    def _track(self, text: str) -> None:
        position, end = 0, len(text)
        in_string, escaped = self._in_string, self._escaped
        while position < end:
            if escaped:
                escaped = False
                position += 1
            elif in_string:
                match = _STRING_STOP.search(text, position)
                if match is None:
                    break
                position = match.end()
                if match.group() == "\\":
                    escaped = True
                else:
                    in_string = False
            else:
                quote = text.find('"', position)
                if quote < 0:
                    break
                in_string = True
                position = quote + 1
        self._in_string, self._escaped = in_string, escaped

    def value(self, *, final: bool = False) -> Any:
        """The value parsed so far, or ``_NOTHING`` when there is none (not started, or not JSON).

        Unless ``final``, a bare number or literal at the very end is left out until the next
        character shows it has ended (``12`` may become ``123``; ``true`` is held one character
        too, harmlessly).
        """
        self._parsed_size = len(self._buffer)
        if not self.started:
            return _NOTHING
        data = bytes(self._buffer)
        if not final and not self._in_string:
            data = data.rstrip(_NUMBER_TAIL)
        try:
            return jiter.from_json(data, partial_mode="trailing-strings", allow_inf_nan=False)
        except ValueError:  # not JSON (so far): nothing to show
            return _NOTHING


def partial_json(choice: int = 0, *, min_growth: float = 0.02) -> Callable[[Observable[Chunk]], Observable[Any]]:
    """Emit the JSON value that choice ``choice``'s content is streaming, parsed progressively,
    each time it changes.

    Every emitted value is a prefix of the final one: objects and arrays grow, the last string
    grows; a key is shown only once it is complete, and a number (or ``true``/``false``/``null``)
    only once the next character shows it ended (``{"n": 12`` is shown as ``{}``, since the
    number might be ``123``). Text before the first ``{``/``[`` (prose, a Markdown code fence) is
    skipped and text after the document is ignored. At completion the whole text is parsed once
    more and emitted only if that differs from the last value. Invalid JSON is not an error
    here: emissions stop where the text stops being JSON (validate with
    :func:`structured_output`).

    Cost: each parse reads the whole text so far (``jiter``'s partial mode), so parsing on every
    chunk is quadratic. Up to 8 KB the text is re-parsed on every chunk that adds to it; beyond,
    once it has grown by ``min_growth`` (2 %) of its size past 8 KB since the last parse (160
    bytes at 16 KB, 1.8 KB at 100 KB), which bounds the work per byte received (for large
    documents about 50 times that of one parse of the final text). ``min_growth=0`` re-parses on
    every chunk.
    Measured with ``bench/bench_partial_json.py``.

    Stream errors pass through with ``err.partial`` (the accumulated Response) attached.

    Marble::

        chunks:        -a---b---c---|     content '{"ci', 'ty": "Os', 'lo"}'
        partial_json:  -x---y---z---|     x = {}, y = {"city": "Os"}, z = {"city": "Oslo"}

        chunks:        -a---b---c---|     content '{"n": 1', '2', '3}'
        partial_json:  -x-------y---|     x = {}, y = {"n": 123} (the number is held)

    Example::

        client.stream(messages, response_format=fmt).pipe(orx_ops.partial_json()).subscribe(redraw)

    Args:
        choice: the choice index whose content is parsed.
        min_growth: for documents over 8 KB, the growth (a fraction of the size past 8 KB)
            that triggers the next parse.
    """
    if min_growth < 0:
        raise ValueError("min_growth must be >= 0")

    def operator(source: Observable[Chunk]) -> Observable[Any]:
        def subscribe(
            observer: abc.ObserverBase[Any], subscribe_scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            acc = ResponseAccumulator()
            parser = PartialJSONParser()
            last: Any = _NOTHING

            def changed(value: Any) -> bool:
                return value is not _NOTHING and (last is _NOTHING or value != last)

            def on_next(chunk: Chunk) -> None:
                nonlocal last
                acc.add(chunk)
                for item in chunk.choices:
                    if item.index == choice and item.delta.content:
                        parser.feed(item.delta.content)
                        break
                else:
                    return
                if not parser.due(min_growth):
                    return
                value = parser.value()
                if changed(value):
                    last = value
                    observer.on_next(value)

            def on_error(error: Exception) -> None:
                observer.on_error(attach_partial(error, acc.response(), acc.chunk_count))

            def on_completed() -> None:
                value = parser.value(final=True)
                complete_with(observer, (value,) if changed(value) else ())

            return source.subscribe(on_next, on_error, on_completed, scheduler=subscribe_scheduler)

        return Observable(subscribe)

    return operator
