"""Local JSON repairs: syntax-only fixes for what models commonly send instead of plain JSON.

Pure functions, no network. A repair never invents content: the repaired document is the text
the model sent with syntax fixed (wrapping removed, trailing commas dropped) or, for a
truncated reply, a prefix of it completed by closing what was left open. Incomplete
tokens at a cut (``tr``, ``1.``, ``"ke``, a dangling ``"key":``) are dropped, never guessed.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["close_cut_string", "first_bracket", "is_json_error", "json_error", "loads_strict", "repair_json"]

_FENCE = re.compile(r"```[A-Za-z0-9_+-]*[^\S\n]*\n?(.*?)(?:```|\Z)", re.DOTALL)
_WHITESPACE = " \t\r\n"  # JSON's whitespace (str.strip would also take U+0085, U+2028, ...)
_TOKEN = re.compile(
    r"""[ \t\r\n]+                  # whitespace
      | "(?:[^"\\]|\\.)*"           # a complete string
      | "(?:[^"\\]|\\.)*\\?\Z       # a string cut off by the end of the text
      | [{}\[\]:,]                  # punctuation
      | [^ \t\r\n{}\[\]:,"]+        # a bare word: number or literal (or junk)
    """,
    re.VERBOSE | re.DOTALL,
)
_LITERALS = frozenset(("true", "false", "null"))
_CLOSER = {"{": "}", "[": "]"}
_OBJECTS_AFTER = 32  # how many "{" after the document are tried as the start of a second one
# What may follow the backslash of an escape cut at the end (at most 6 characters: searched in the
# tail only, and the run of backslashes before it counted by hand; a regex with ``(\\+)`` in front
# would be quadratic on a long run of backslashes).
_HALF_ESCAPE = re.compile(r"(?:u[0-9a-fA-F]{0,3})?\Z")
_HIGH_SURROGATE = re.compile(r"u[dD][89abAB][0-9a-fA-F]{2}\Z")


def repair_json(text: str) -> str | None:
    """A repaired JSON text for ``text``, or ``None`` when no local repair makes it valid.

    Valid JSON comes back as it is (only surrounding whitespace stripped). Otherwise, in order:

    1. strip a byte-order mark and surrounding whitespace;
    2. take the body of a Markdown code fence (```` ```json ... ``` ```` or ```` ``` ... ``` ````,
       closed or cut off) when the fence opens before the JSON does (prose brackets that close
       before it, ``the data for [Oslo]:``, do not count); a ```` ``` ```` inside a JSON string
       of a complete document does not end the fence;
    3. cut prose before the first ``{``/``[`` and after the bracket that closes it;
    4. remove trailing commas before ``}``/``]``;
    5. complete a truncated document (the model hit ``max_tokens``): close an open string
       (dropping a half-written escape), drop an incomplete key, a dangling ``"key":``, a
       trailing ``,`` and a number or literal at the cut, then close the open
       brackets in order.

    Decisions: a number at the very end of a truncated text is dropped with its key (``{"n": 70``
    → ``{}``), since the cut may have split ``709037``: a wrong magnitude that would still pass
    validation (a whitespace or other character after it shows it ended); a cut string is kept
    as far as it goes (it is visibly cut, and text fields are often long); ``1.``, ``-``, ``1e``
    and ``tru`` are dropped. Two JSON documents in one reply (``{...} {...}``, JSON lines) give ``None``:
    which one was meant is a question of content. Only the first ``{``/``[`` can start the
    document, so prose with brackets before unfenced JSON is not skipped. Quotes, comments, Python
    literals (``True``) and other non-JSON syntax are not translated.
    """
    stripped = text.lstrip(_WHITESPACE).lstrip("\ufeff").lstrip(_WHITESPACE)  # the end may be inside a string
    if _is_json(stripped):
        return stripped.rstrip(_WHITESPACE)
    fence = _FENCE.search(stripped)
    if fence is None:
        return _repair_body(stripped)
    bracket = first_bracket(stripped)
    if 0 <= bracket < fence.start():
        # The fence may be inside the JSON (a string value) or after it (prose): then it is left
        # alone. Unless that gives nothing and the brackets before the fence are prose that
        # closes there ("the data for [Oslo]:"), holding no JSON object.
        direct = _repair_body(stripped)
        if direct is not None or not _prose_brackets(stripped[: fence.start()], bracket):
            return direct
    # The closing ``` may be inside a JSON string (a model sending code): first read on past it,
    # taking the document when it is complete there; else the fence's body as the regex cut it.
    whole = _repair_body(stripped[fence.start(1) :], complete_only=True)
    return whole if whole is not None else _repair_body(fence.group(1).lstrip(_WHITESPACE))


def _prose_brackets(text: str, bracket: int) -> bool:
    """True when the brackets in ``text`` from ``bracket`` on close, and it holds no JSON object."""
    scan = _scan(text, bracket)
    return not scan.invalid and not scan.stack and not _holds_object(text)


def _repair_body(body: str, *, complete_only: bool = False) -> str | None:
    """Steps 3 to 5 of :func:`repair_json` on ``body`` (``complete_only``: no truncation repair)."""
    start = first_bracket(body)
    if start < 0:
        return None
    scan = _scan(body, start)
    if scan.invalid or (complete_only and scan.stack) or _has_document(body[scan.end :]):
        return None
    candidate = _complete(scan) if scan.stack else "".join(scan.pieces)
    return candidate if candidate is not None and _is_json(candidate) else None


def loads_strict(text: str) -> Any:
    """``json.loads``, except that ``NaN``, ``Infinity`` and ``-Infinity`` (not JSON) raise
    ``ValueError`` too, and so does JSON nested too deeply for Python's decoder (not
    ``RecursionError``)."""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise ValueError("JSON nested too deeply to decode") from None


def json_error(why: str) -> dict[str, list[str]]:
    """The ``messages`` (beside marshmallow's) saying a text is not JSON: ``{"_json": [why]}``."""
    return {"_json": [why]}


def is_json_error(messages: Any) -> bool:
    """True when ``messages`` say the text was not JSON (made by :func:`json_error`), rather than
    that JSON failed a schema."""
    return isinstance(messages, Mapping) and "_json" in messages


def _is_json(text: str) -> bool:
    try:
        loads_strict(text)
    except ValueError:
        return False
    return True


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def first_bracket(text: str) -> int:
    """Where the first ``{`` or ``[`` of ``text`` is (``-1``: there is none)."""
    found = [i for i in (text.find("{"), text.find("[")) if i >= 0]
    return min(found) if found else -1


@dataclass
class _Scan:
    """The document from its first bracket, as text pieces (whitespace kept)."""

    pieces: list[str] = field(default_factory=list)
    stack: list[str] = field(default_factory=list)
    end: int = 0
    invalid: bool = False
    safe: int = 0  # pieces[:safe] can be closed as they stand (with the brackets of ``stack``)
    expect_key: list[bool] = field(default_factory=list)  # per open object: the next string is a key


def _scan(text: str, start: int) -> _Scan:
    """Tokenize from ``start`` until the top-level value closes (or the text ends).

    Trailing commas are dropped on the way; the last point where the document could be cut and
    closed is remembered for :func:`_complete`.
    """
    scan = _Scan(end=len(text))
    pending_comma: int | None = None  # index in pieces of a comma not yet known to be valid
    position = start
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:  # an unescaped control character or similar: not repairable here
            scan.invalid = True
            return scan
        token = match.group()
        position = match.end()
        if token[0] in _WHITESPACE:
            scan.pieces.append(token)
            continue
        first = token[0]
        if first in "}]" and pending_comma is not None:
            scan.pieces[pending_comma] = ""  # a trailing comma: syntax-only fix
        pending_comma = None
        scan.pieces.append(token)
        if first in "{[":
            scan.stack.append(first)
            scan.expect_key.append(first == "{")
            _mark_safe(scan)
        elif first in "}]":
            if not scan.stack or _CLOSER[scan.stack[-1]] != first:
                scan.invalid = True
                return scan
            scan.stack.pop()
            scan.expect_key.pop()
            if not scan.stack:
                scan.end = position
                return scan
            _mark_safe(scan)
        elif first == ",":
            pending_comma = len(scan.pieces) - 1
            if scan.stack and scan.stack[-1] == "{":
                scan.expect_key[-1] = True
        elif first == ":":
            continue
        elif first == '"':
            complete = len(token) > 1 and token.endswith('"') and not _escaped_end(token)
            key = bool(scan.stack) and scan.stack[-1] == "{" and scan.expect_key[-1]
            if key:
                scan.expect_key[-1] = False
            if not complete:
                if not key:  # a cut-off value string: keep what came, closed
                    scan.pieces[-1] = close_cut_string(token)
                    _mark_safe(scan)
            elif not key:
                _mark_safe(scan)
        elif position < len(text) or token in _LITERALS:
            _mark_safe(scan)  # a bare word that ended, or a whole literal at the cut (a number may go on)
    return scan


def _escaped_end(token: str) -> bool:
    """True when the closing quote of ``token`` is escaped (``"ab\\"`` is still open)."""
    backslashes = len(token) - 1 - len(token[:-1].rstrip("\\"))
    return backslashes % 2 == 1


def close_cut_string(token: str) -> str:
    """``token``, a JSON string cut by the end of the text (its opening quote, no closing one),
    closed: ``'"ab'`` → ``'"ab"'``. A half-written escape (``\\``, ``\\u00``) or the high half
    of a surrogate pair at the end is dropped, so the result decodes."""
    for pattern in (_HALF_ESCAPE, _HIGH_SURROGATE):
        match = pattern.search(token, max(0, len(token) - 6))
        if match is None:
            continue
        start = match.start()
        backslashes = start - len(token[:start].rstrip("\\"))
        if backslashes % 2 == 1:  # an escape, not an escaped backslash
            token = token[: start - 1]
    return token + '"'


def _mark_safe(scan: _Scan) -> None:
    # Every push and pop marks a safe point, so the open brackets there are those of ``stack`` at
    # the end: no copy of the stack is kept (a copy per token is quadratic on deep nesting).
    scan.safe = len(scan.pieces)


def _complete(scan: _Scan) -> str | None:
    """The truncated document cut at its last safe point, with its brackets closed."""
    if not scan.safe:
        return None
    closing = "".join(_CLOSER[b] for b in reversed(scan.stack))
    return "".join(scan.pieces[: scan.safe]).rstrip(_WHITESPACE) + closing


def _has_document(tail: str) -> bool:
    """True when ``tail`` (the text after the document) holds another JSON document: it starts
    with ``{``, ``[`` or ``,`` (concatenated documents, JSON lines), or holds a whole JSON object
    starting at one of its first 32 ``{`` (a bracketed array inside prose, such as a citation
    ``see [1]``, is not counted; a tail that starts with one, ``[1] Source``, is).
    The limit keeps the work linear: each failed decode costs up to the tail's length
    (``JSONDecodeError`` counts the lines before the error)."""
    return tail.lstrip()[:1] in ("{", "[", ",") or _holds_object(tail)


def _holds_object(text: str) -> bool:
    """True when a whole JSON object starts at one of the first 32 ``{`` of ``text``."""
    decoder = json.JSONDecoder()
    for match in itertools.islice(re.finditer(r"\{", text), _OBJECTS_AFTER):
        try:
            decoder.raw_decode(text, match.start())
        except (ValueError, RecursionError):
            continue
        return True
    return False
