"""``partial_json``: the JSON a choice's content is streaming, parsed progressively.

The parser is incremental: each piece of text is read once, completed values are decoded once
and kept, and showing the value so far copies only the open containers (the path from the root
to the value being received), so a whole stream costs linear time however long the document
(re-parsing the text so far on every chunk, even with jiter, is quadratic; see
``bench/bench_partial_json.py``). The tests check it against jiter's partial mode.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from reactivex import Observable, abc

from .._accumulator import ResponseAccumulator
from .._repair import JSON_NUMBER, close_cut_string
from ..chunk import Chunk
from ._common import attach_partial, complete_with

__all__ = ["NOTHING", "PartialJSONParser", "partial_json"]

NOTHING: Any = object()
"""What :meth:`PartialJSONParser.value` returns when there is no value to show."""

_START = re.compile(r"[{\[]")
_STRING_STOP = re.compile(r'["\\]')
_WORD = re.compile(r'[^ \t\r\n{}\[\]:,"]*')
_SPACE = re.compile(r"[ \t\r\n]*")
_LITERALS = {"true": True, "false": False, "null": None}

# What the parser expects next. _FIRST_*: right after "[" / "{", where the closer may come too.
_VALUE, _FIRST_VALUE, _KEY, _FIRST_KEY, _COLON, _COMMA = range(6)
_VALUES = (_VALUE, _FIRST_VALUE)
_KEYS = (_KEY, _FIRST_KEY)


class _Open:
    """A container still being received: its completed entries, and (objects) the current key."""

    __slots__ = ("items", "key")

    def __init__(self, items: dict[str, Any] | list[Any]) -> None:
        self.items = items
        self.key: str | None = None


def _word_value(word: str) -> Any:
    if word in _LITERALS:
        return _LITERALS[word]
    if JSON_NUMBER.fullmatch(word):
        return json.loads(word)
    return NOTHING


def _partial_string(body: str) -> str:
    """The decoded text of a string cut short (``body`` without its opening quote); a
    half-written escape, or the first half of a surrogate pair, is left out."""
    return str(json.loads(close_cut_string('"' + body)))


class PartialJSONParser:
    """One JSON document fed in pieces; :meth:`value` shows what has been received so far.

    Text before the first ``{`` or ``[`` (prose, a code fence) is skipped and text after the
    document is ignored. What is shown is what jiter's ``partial_mode="trailing-strings"`` shows
    for the text so far, except that a number at the very end is held until the next character
    shows it ended. After a syntax error the parser stops (``failed``) and shows nothing, as
    jiter would raise.
    """

    __slots__ = ("_escaped", "_expect", "_root", "_stack", "_string", "_word", "changes", "failed", "started")

    def __init__(self) -> None:
        self.started = False
        self.failed = False
        self.changes = 0
        """Counts the events that may change the value shown (a cheap test before :meth:`value`)."""
        self._stack: list[_Open] = []
        self._root: Any = NOTHING
        self._expect = _VALUE
        self._string: list[str] | None = None  # the pieces of an open string's body
        self._escaped = False
        self._word: str | None = None  # a number or literal still being received

    def feed(self, text: str) -> None:
        """Read the next piece of text."""
        position = 0
        if not self.started:
            match = _START.search(text)
            if match is None:
                return
            self.started = True
            position = match.start()
        end = len(text)
        while position < end and not self.failed and self._root is NOTHING:
            if self._string is not None:
                position = self._read_string(text, position)
            elif self._word is not None:
                position = self._read_word(text, position)
            elif text[position] in " \t\r\n":
                position = _SPACE.match(text, position).end()  # type: ignore[union-attr]
            else:
                self._punctuation(text[position])
                position += 1

    def _punctuation(self, char: str) -> None:
        expect = self._expect
        if char == '"' and (expect in _VALUES or expect in _KEYS):
            self._string = []
            self._escaped = False
            if expect in _VALUES:
                self.changes += 1  # a string value starts: shown as ""
        elif char in "{[" and expect in _VALUES:
            self._stack.append(_Open({} if char == "{" else []))
            self._expect = _FIRST_KEY if char == "{" else _FIRST_VALUE
            self.changes += 1
        elif char in "}]" and self._stack and expect in (_COMMA, _FIRST_KEY, _FIRST_VALUE):
            closing = self._stack[-1]
            if (char == "}") != isinstance(closing.items, dict):
                self.failed = True
                return
            self._stack.pop()
            self._add(closing.items)
        elif char == "," and expect == _COMMA:
            self._expect = _KEY if isinstance(self._stack[-1].items, dict) else _VALUE
        elif char == ":" and expect == _COLON:
            self._expect = _VALUE
        elif char not in '"{}[],:' and expect in _VALUES:
            self._word = char
        else:
            self.failed = True

    def _read_string(self, text: str, position: int) -> int:
        pieces = self._string
        assert pieces is not None
        start, end = position, len(text)
        while position < end:
            if self._escaped:
                self._escaped = False
                position += 1
                continue
            match = _STRING_STOP.search(text, position)
            if match is None:
                position = end
                break
            position = match.end()
            if match.group() == "\\":
                self._escaped = True
                continue
            pieces.append(text[start : position - 1])
            self._string = None
            try:
                value = json.loads('"' + "".join(pieces) + '"')
            except ValueError:  # a raw control character, a bad escape
                self.failed = True
                return end
            if self._expect in _KEYS:
                self._stack[-1].key = value
                self._expect = _COLON
            else:
                self._add(value)
            return position
        pieces.append(text[start:position])
        if self._expect in _VALUES:
            self.changes += 1  # the string value may have grown
        return position

    def _read_word(self, text: str, position: int) -> int:
        match = _WORD.match(text, position)
        assert match is not None and self._word is not None
        self._word += match.group()
        if match.end() < len(text):  # the word ended: a delimiter follows
            value = _word_value(self._word)
            self._word = None
            if value is NOTHING:
                self.failed = True
            else:
                self._add(value)
        elif self._word in _LITERALS:
            self.changes += 1  # a whole true/false/null is shown before it is known to have ended
        return match.end()

    def _add(self, value: Any) -> None:
        self.changes += 1
        if not self._stack:
            self._root = value
            return
        parent = self._stack[-1]
        if isinstance(parent.items, dict):
            assert parent.key is not None  # a value in an object always follows its key
            parent.items[parent.key] = value
            parent.key = None
        else:
            parent.items.append(value)
        self._expect = _COMMA

    def value(self, *, final: bool = False) -> Any:
        """The value received so far (new containers; completed entries are shared), or
        :data:`NOTHING` (nothing yet, or not JSON).

        Unless ``final``, a number at the very end is left out (``12`` may become ``123``);
        a whole ``true``/``false``/``null`` is shown.
        """
        if self.failed:
            return NOTHING
        if self._root is not NOTHING:
            return self._root
        child: Any = NOTHING
        if self._string is not None and self._expect in _VALUES:
            try:
                child = _partial_string("".join(self._string))
            except ValueError:  # a bad escape or a raw control character: not JSON any more
                return NOTHING
        elif self._word is not None and (final or self._word in _LITERALS):
            child = _word_value(self._word)
        for open_ in reversed(self._stack):
            if isinstance(open_.items, dict):
                shown: Any = dict(open_.items)
                if child is not NOTHING and open_.key is not None:
                    shown[open_.key] = child
            else:
                shown = list(open_.items)
                if child is not NOTHING:
                    shown.append(child)
            child = shown
        return child


def partial_json(choice: int = 0) -> Callable[[Observable[Chunk]], Observable[Any]]:
    """Emit the JSON value that choice ``choice``'s content is streaming, parsed progressively,
    each time it changes.

    Every emitted value is a prefix of the final one: objects and arrays grow, the last string
    grows; a key is shown once it is complete and its value has started, and a number only once
    the next character shows it ended (``{"n": 12`` is shown as ``{}``, since the number might
    be ``123``; ``true``, ``false`` and ``null`` are shown when complete). Text before the first
    ``{``/``[`` (prose, a Markdown code fence) is skipped and text after the document is ignored.
    At completion a number still held is added, and the value emitted if that changed it.
    Invalid JSON is not an error here: emissions stop where the text stops being JSON (validate
    with :func:`structured_output`). Each emitted value is a new object, safe to keep; entries
    that were already complete are shared between successive values (treat them as read-only).

    Cost: each piece of text is read once and each completed entry decoded once; what grows
    with the document is copying the open containers for each emitted value (shallow copies:
    a list of 1000 entries takes a few microseconds). Measured with
    ``bench/bench_partial_json.py``, 20-byte chunks: about 12 us per chunk for 1 KB and 10 KB
    documents, 27 us for 100 KB, against 3, 38 and 1300 us for re-parsing the text so far with
    jiter after every chunk.

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
    """

    def operator(source: Observable[Chunk]) -> Observable[Any]:
        def subscribe(
            observer: abc.ObserverBase[Any], subscribe_scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            acc = ResponseAccumulator()
            parser = PartialJSONParser()
            last: Any = NOTHING
            seen_changes = 0

            def changed(value: Any) -> bool:
                return value is not NOTHING and (last is NOTHING or value != last)

            def on_next(chunk: Chunk) -> None:
                nonlocal last, seen_changes
                acc.add(chunk)
                for item in chunk.choices:
                    if item.index == choice and item.delta.content:
                        parser.feed(item.delta.content)
                        break
                if parser.changes == seen_changes:
                    return
                seen_changes = parser.changes
                value = parser.value()
                if changed(value):  # cheap: completed entries are the same objects as last time
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
