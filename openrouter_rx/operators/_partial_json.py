"""``partial_json``: the JSON a choice's content is streaming, parsed progressively.

The parsing is jiter's (``partial_mode="trailing-strings"``, a maintained Rust parser); this
module only keeps the text, knows whether it ends inside a string (one pass over each piece),
holds back a number that may still grow, and decides when re-parsing is worth it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import jiter
from reactivex import Observable, abc

from .._accumulator import ResponseAccumulator
from .._repair import first_bracket
from ..chunk import Chunk
from ._common import attach_partial, complete_with

__all__ = ["NOTHING", "PartialJSONParser", "partial_json"]

NOTHING: Any = object()
"""What :meth:`PartialJSONParser.value` returns when there is no value to show."""

_STRING_STOP = re.compile(r'["\\]')
_NUMBER_CHARS = frozenset(b"0123456789+-.eE")
_NUMBER_FIRST = frozenset(b"-0123456789")
_FREE_BYTES = 8 * 1024
"""Text up to this size is re-parsed on every chunk that adds to it (a parse takes under ~40 us)."""


def _held_number_start(data: bytes) -> int | None:
    """Where a number at the very end of ``data`` starts (``None``: it does not end in one).
    Only the tail is looked at; ``true``/``false`` end in ``e`` but start no number."""
    start = end = len(data)
    while start and data[start - 1] in _NUMBER_CHARS:
        start -= 1
    return start if start < end and data[start] in _NUMBER_FIRST else None


class PartialJSONParser:
    """One JSON document fed in pieces; :meth:`value` shows what has been received so far.

    Text before the first ``{`` or ``[`` (prose, a code fence) is skipped; text after the
    document is ignored by jiter. Whether the text ends inside a string is tracked as the text
    arrives (each character looked at once), so that a number at the very end can be held back
    until the next character shows it ended.
    """

    __slots__ = ("_buffer", "_escaped", "_in_string", "_parsed_size", "failed", "started")

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._in_string = False
        self._escaped = False
        self._parsed_size = 0
        self.started = False
        self.failed = False
        """True when the last :meth:`value` found the text is not JSON."""

    def feed(self, text: str) -> None:
        """Add the next piece of text."""
        if not self.started:
            start = first_bracket(text)
            if start < 0:
                return
            self.started = True
            text = text[start:]
        self._track(text)
        self._buffer += text.encode("utf-8")

    def due(self, min_growth: float) -> bool:
        """True when the text grew since the last :meth:`value`: by anything while it is under
        8 KB, then by at least ``min_growth`` times its size past 8 KB."""
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
        """The value parsed so far, or :data:`NOTHING` (not started, or not JSON).

        Unless ``final``, a number at the very end is left out until the next character shows
        it has ended (``12`` may become ``123``); ``true``/``false``/``null`` are shown once
        complete, as they cannot grow.
        """
        self._parsed_size = len(self._buffer)
        if not self.started:
            return NOTHING
        data = bytes(self._buffer)
        if not final and not self._in_string:
            data = data[: _held_number_start(data)]
        try:
            value = jiter.from_json(data, partial_mode="trailing-strings", allow_inf_nan=False)
        except ValueError:  # not JSON (so far): nothing to show
            self.failed = True
            return NOTHING
        self.failed = False
        return value


def partial_json(choice: int = 0, *, min_growth: float = 0.02) -> Callable[[Observable[Chunk]], Observable[Any]]:
    """Emit the JSON value that choice ``choice``'s content is streaming, parsed progressively,
    each time it changes.

    Every emitted value is a prefix of the final one: objects and arrays grow, the last string
    grows; a key is shown once it is complete and its value has started, and a number only once
    the next character shows it ended (``{"n": 12`` is shown as ``{}``, since the number might
    be ``123``; ``true``, ``false`` and ``null`` are shown when complete, never guessed from
    ``tr``). Text before the first ``{``/``[`` (prose, a Markdown code fence) is skipped and text
    after the document is ignored. At completion the whole text is parsed once more, and
    emitted if that changed the value (a number still held). Invalid JSON is not an error here:
    emissions stop where the text stops being JSON (validate with :func:`structured_output`).
    Each emitted value is a new object, safe to keep.

    Parsing is jiter's partial mode over the text so far. Re-parsing on every chunk would be
    quadratic in the document's size, so up to 8 KB the text is parsed on every chunk that adds
    to it, and beyond only once it has grown by ``min_growth`` (2 %) of its size past 8 KB
    (160 bytes at 16 KB, 1.8 KB at 100 KB): the work per byte received stays bounded, and a
    large document is shown in steps of about 2 %. ``min_growth=0`` parses on every chunk.
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
        raise ValueError(f"min_growth must be >= 0, not {min_growth}")

    def operator(source: Observable[Chunk]) -> Observable[Any]:
        def subscribe(
            observer: abc.ObserverBase[Any], subscribe_scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            acc = ResponseAccumulator()
            parser = PartialJSONParser()
            last: Any = NOTHING

            def changed(value: Any) -> bool:
                return value is not NOTHING and (last is NOTHING or value != last)

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
