"""SSE framing over arbitrary read boundaries (no network)."""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openrouter_rx import ProtocolError
from openrouter_rx._sse import ByteSource, iter_event_data

EVENTS = [
    {"choices": [{"index": 0, "delta": {"content": "héllo 🌍"}}]},
    {"choices": [{"index": 0, "delta": {"content": "\u00e9\u4e2d"}}]},
    {"choices": [], "usage": {"prompt_tokens": 1}},
]


def _body(newline: bytes = b"\n") -> bytes:
    parts = [b": OPENROUTER PROCESSING" + newline * 2]
    for event in EVENTS:
        parts.append(b"data: " + json.dumps(event, ensure_ascii=False).encode() + newline * 2)
        parts.append(b": OPENROUTER PROCESSING" + newline * 2)
    parts.append(b"data: [DONE]" + newline * 2)
    return b"".join(parts)


def _reader(pieces: list[bytes]):  # type: ignore[no-untyped-def]
    queue = list(pieces)

    def read1(_: int) -> bytes:
        return queue.pop(0) if queue else b""

    return read1


def _split(body: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(body) + 1) for c in cuts} | {0, len(body)})
    return [body[a:b] for a, b in itertools.pairwise(points) if body[a:b]]


@settings(max_examples=200, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=40), crlf=st.booleans())
def test_events_survive_any_split(cuts: list[int], crlf: bool) -> None:
    body = _body(b"\r\n" if crlf else b"\n")
    source = ByteSource(_reader(_split(body, cuts)), 1 << 20)
    got = [(data, cut) for data, cut in iter_event_data(source)]
    assert [d for d, _ in got] == [json.dumps(e, ensure_ascii=False) for e in EVENTS] + ["[DONE]"]
    assert not any(cut for _, cut in got[:-1])


def test_trailing_event_without_blank_line_is_flagged_cut_off() -> None:
    source = ByteSource(_reader([b'data: {"a": 1}\n\ndata: {"b"']), 1 << 20)
    got = list(iter_event_data(source))
    assert got == [('{"a": 1}', False), ('{"b"', True)]


def test_oversized_event_is_a_protocol_error() -> None:
    pieces = [b"data: " + b"x" * 1000] * 5
    with pytest.raises(ProtocolError, match="limit"):
        list(iter_event_data(ByteSource(_reader(pieces), 4000)))


def test_many_small_events_under_limit_are_fine() -> None:
    pieces = [b'data: {"n": 1}\n\n' * 100] * 10
    assert len(list(iter_event_data(ByteSource(_reader(pieces), 64)))) == 1000


def _mixed_body(endings: list[int], bom: bool) -> bytes:
    """The body of ``_body`` with each line ending picked from LF, CRLF, CR (never a CR then an LF)."""
    choices = (b"\n", b"\r\n", b"\r")
    lines = [b": OPENROUTER PROCESSING", b""]
    for event in EVENTS:
        lines += [b"data: " + json.dumps(event, ensure_ascii=False).encode(), b"", b": keep-alive", b""]
    lines += [b"data: [DONE]", b""]
    out = [b"\xef\xbb\xbf"] if bom else []
    previous = b""
    for number, line in enumerate(lines):
        ending = choices[endings[number % len(endings)] % 3] if endings else b"\n"
        if previous == b"\r" and ending == b"\n":
            ending = b"\r\n"  # CR then LF would be one CRLF line ending
        out += [line, ending]
        previous = ending
    return b"".join(out)


@settings(max_examples=300, deadline=None)
@given(
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=40),
    endings=st.lists(st.integers(min_value=0, max_value=2), max_size=20),
    bom=st.booleans(),
)
def test_mixed_line_endings_and_a_bom_survive_any_split(cuts: list[int], endings: list[int], bom: bool) -> None:
    body = _mixed_body(endings, bom)
    source = ByteSource(_reader(_split(body, cuts)), 1 << 20)
    got = list(iter_event_data(source))
    assert [d for d, _ in got] == [json.dumps(e, ensure_ascii=False) for e in EVENTS] + ["[DONE]"]
    assert not any(cut for _, cut in got)


@pytest.mark.parametrize(
    "pieces",
    [
        [b'data: {"a": 1}\n\r\ndata: {"b": 2}\n\r\n'],  # LF line, CRLF blank line
        [b'data: {"a": 1}\r', b"\n\r", b'\ndata: {"b": 2}\r', b"\n\r", b"\n"],  # CRLF split between reads
        [b'data: {"a": 1}\r\r', b'data: {"b": 2}\r\r'],  # CR only
        [b"\xef", b"\xbb", b'\xbfdata: {"a": 1}\n\ndata: {"b": 2}\n\n'],  # BOM split over reads
        [b'\xef\xbb\xbfdata: {"a": 1}\n', b'\ndata: {"b": 2}\n\n'],
    ],
)
def test_line_ending_and_bom_cases(pieces: list[bytes]) -> None:
    got = list(iter_event_data(ByteSource(_reader(pieces), 1 << 20)))
    assert got == [('{"a": 1}', False), ('{"b": 2}', False)]


def test_only_a_leading_bom_is_dropped() -> None:
    pieces = [b'data: {"a": "\xef\xbb\xbf"}\n\n']  # a BOM inside the data is data
    assert list(iter_event_data(ByteSource(_reader(pieces), 1 << 20))) == [('{"a": "\ufeff"}', False)]


def test_invalid_utf8_is_a_protocol_error() -> None:
    pieces = [b'data: {"a": 1}\n\n', b"data: \xff\xfe{}\n\n"]
    events = iter_event_data(ByteSource(_reader(pieces), 1 << 20))
    assert next(events) == ('{"a": 1}', False)
    with pytest.raises(ProtocolError, match="UTF-8"):
        next(events)


def test_event_limit_counts_a_blank_line_split_over_reads() -> None:
    pieces = [b"data: " + b"x" * 50 + b"\n", b"\n" + b"data: " + b"y" * 50 + b"\n", b"\n"]
    got = list(iter_event_data(ByteSource(_reader(pieces), 80)))
    assert [len(d) for d, _ in got] == [50, 50]
