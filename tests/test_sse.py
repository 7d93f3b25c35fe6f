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
