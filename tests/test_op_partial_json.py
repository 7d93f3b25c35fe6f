"""partial_json(): marble tests in virtual time, the prefix-consistency property and a
differential test against jiter's partial mode (hypothesis), and a large document."""

from __future__ import annotations

import itertools
import json
from typing import Any

import jiter
import pytest
import reactivex
from hypothesis import given, settings
from hypothesis import strategies as st
from support import json_documents

import openrouter_rx as orx
from openrouter_rx.chunk import Chunk
from openrouter_rx.operators._partial_json import NOTHING, PartialJSONParser, partial_json
from openrouter_rx.testing import ChunkFactory, chunk_lookup, chunk_marbles, run_marbles, to_chunk
from openrouter_rx.testing._marbles import Kind


def run_texts(*texts: str, end: str = "|", **options: Any) -> list[tuple[float, Kind, Any]]:
    marbles, lookup = chunk_marbles(list(texts), end=end)
    return run_marbles(partial_json(**options), marbles, lookup).events


def test_the_docstring_diagram() -> None:
    assert run_texts('{"ci', 'ty": "Os', 'lo"}') == [
        (1, "N", {}),
        (3, "N", {"city": "Os"}),
        (5, "N", {"city": "Oslo"}),
        (7, "C", None),
    ]


def test_a_trailing_number_is_held_until_it_ends() -> None:
    assert run_texts('{"n": 1', "2", "3}") == [(1, "N", {}), (5, "N", {"n": 123}), (7, "C", None)]
    assert run_texts("[1", "0, 2", "0") == [(1, "N", []), (3, "N", [10]), (7, "N", [10, 20]), (7, "C", None)]


def test_a_number_ended_by_whitespace_is_shown() -> None:
    assert run_texts('{"n": 12 ', "}") == [(1, "N", {"n": 12}), (5, "C", None)]


def test_literals_and_cut_keys_are_not_guessed() -> None:
    events = run_texts('{"ok": tr', "ue", ', "na', 'me": "A"}')
    assert [value for _, kind, value in events if kind == "N"] == [{}, {"ok": True}, {"ok": True, "name": "A"}]
    assert events[1][0] == 3  # a whole literal is shown at once: it cannot grow


def test_a_key_is_shown_once_its_value_starts() -> None:
    events = run_texts('{"a": 1, "b"', ": ", '"', "x", '", "c": [', "]}")
    assert [value for _, kind, value in events if kind == "N"] == [
        {"a": 1},
        {"a": 1, "b": ""},
        {"a": 1, "b": "x"},
        {"a": 1, "b": "x", "c": []},
    ]


def test_nothing_is_emitted_when_the_value_does_not_change() -> None:
    assert run_texts('{"a": "x"}', "  ", "\n```", "\nDone.") == [(1, "N", {"a": "x"}), (9, "C", None)]


def test_leading_prose_and_code_fence_are_skipped() -> None:
    events = run_texts("Sure! Here it is:\n", "```json\n", '{"a"', ": [1, 2]}", "\n```")
    assert events == [(5, "N", {}), (7, "N", {"a": [1, 2]}), (11, "C", None)]


def test_no_json_at_all_emits_nothing_and_completes() -> None:
    assert run_texts("I cannot ", "help with that.") == [(5, "C", None)]


def test_escapes_split_across_chunks() -> None:
    # the escaped quote keeps the string open, so the digit after it is text, not a number
    assert run_texts('{"a": "x\\"', " 1") == [(1, "N", {"a": 'x"'}), (3, "N", {"a": 'x" 1'}), (5, "C", None)]
    # a backslash at the end of one chunk escapes the first character of the next
    assert run_texts('{"a": "x\\', '"y"}') == [(1, "N", {"a": "x"}), (3, "N", {"a": 'x"y'}), (5, "C", None)]
    expected = [(1, "N", {"a": ""}), (3, "N", {"a": "\u00e9t\u00e9"}), (5, "C", None)]
    assert run_texts('{"a": "\\u00', 'e9t\\u00e9"}') == expected  # a half \\u escape waits for its end


def test_multibyte_text_and_digits_inside_strings() -> None:
    assert run_texts('{"a": "Zürich 8', '0", "b": "日本"}') == [
        (1, "N", {"a": "Zürich 8"}),  # inside a string, digits are text: shown at once
        (3, "N", {"a": "Zürich 80", "b": "日本"}),
        (5, "C", None),
    ]


def test_invalid_json_stops_the_emissions_but_not_the_stream() -> None:
    assert run_texts('{"a": 1, ', '"b" 2, "c": 3}') == [(1, "N", {"a": 1}), (5, "C", None)]


def test_the_final_parse_at_completion_emits_what_was_held() -> None:
    # a stream cut off after a number: completion shows the number as it stands
    assert run_texts('{"n": 4', "2") == [(1, "N", {}), (5, "N", {"n": 42}), (5, "C", None)]


def test_another_choice() -> None:
    def wire(index: int, text: str) -> dict[str, Any]:
        return {"choices": [{"index": index, "delta": {"content": text}}]}

    lookup = chunk_lookup(a=wire(0, '{"zero": 0}'), b=wire(1, '{"one"'), c=wire(1, ": 1}"))
    assert run_marbles(partial_json(1), "-a-b-c-|", lookup).values == [{}, {"one": 1}]
    assert run_marbles(partial_json(), "-a-b-c-|", lookup).values == [{"zero": 0}]


def test_role_finish_and_usage_chunks_are_ignored() -> None:
    factory = ChunkFactory()
    items = [factory.role(), *factory.text('{"a": [true, false]}', pieces=6), factory.finish(), factory.usage()]
    marbles, lookup = chunk_marbles(items)
    run = run_marbles(partial_json(), marbles, lookup)
    assert run.values[-1] == {"a": [True, False]}
    assert run.completed


def test_errors_pass_through_with_the_partial_response() -> None:
    boom = orx.StreamError("provider failed", code=502)
    lookup = chunk_lookup(a='{"city": ', b='"Os')
    run = run_marbles(partial_json(), "-a-b-#", lookup, error=boom)
    assert run.events == [(1, "N", {}), (3, "N", {"city": "Os"}), (5, "E", boom)]
    assert boom.partial is not None
    assert boom.partial.content == '{"city": "Os'
    assert boom.chunk_count == 2


def test_an_error_before_any_chunk_keeps_partial_none() -> None:
    boom = orx.StreamError("nothing came", code=500)
    run = run_marbles(partial_json(), "-#", {}, error=boom)
    assert run.error is boom and boom.partial is None


def test_dispose_stops_the_source() -> None:
    lookup = chunk_lookup(a="[1, ", b="2, ", c="3]")
    run = run_marbles(partial_json(), "-a-b-c-|", lookup, dispose_at=4)
    assert run.values == [[1], [1, 2]]  # "3]" at frame 5 never comes
    assert run.disposals == [4]


def test_a_subscriber_failing_on_the_final_value_gets_on_error() -> None:
    seen: list[Any] = []
    errors: list[Exception] = []

    def on_next(value: Any) -> None:
        if value == {"n": 5}:
            raise RuntimeError("subscriber bug")
        seen.append(value)

    chunks = [to_chunk('{"n": 5')]
    reactivex.from_iterable(chunks).pipe(partial_json()).subscribe(on_next, errors.append)
    assert seen == [{}]
    assert [str(e) for e in errors] == ["subscriber bug"]


def test_each_subscription_has_its_own_state() -> None:
    chunks = [to_chunk('{"a": '), to_chunk("1}")]
    observable = reactivex.from_iterable(chunks).pipe(partial_json())
    first: list[Any] = []
    second: list[Any] = []
    observable.subscribe(first.append)
    observable.subscribe(second.append)
    assert first == second == [{}, {"a": 1}]


# -- prefix consistency ----------------------------------------------------------------------------


def prefix_consistent(partial: Any, full: Any) -> bool:
    """``partial`` could be what a prefix of ``full``'s text shows: containers grow, only the last
    entry may be incomplete, strings may be cut, keys and scalars are whole."""
    if isinstance(full, dict):
        if not isinstance(partial, dict):
            return False
        keys, full_keys = list(partial), list(full)
        if keys != full_keys[: len(keys)]:
            return False
        return all(partial[k] == full[k] for k in keys[:-1]) and (
            not keys or prefix_consistent(partial[keys[-1]], full[keys[-1]])
        )
    if isinstance(full, list):
        if not isinstance(partial, list) or len(partial) > len(full):
            return False
        if not partial:
            return True
        last = len(partial) - 1
        return partial[:last] == full[:last] and prefix_consistent(partial[last], full[last])
    if isinstance(full, str):
        return isinstance(partial, str) and full.startswith(partial)
    return type(partial) is type(full) and partial == full


def test_prefix_consistent_itself() -> None:
    assert prefix_consistent({"a": [1, "x"]}, {"a": [1, "xy"], "b": 2})
    assert not prefix_consistent({"a": [1, "z"]}, {"a": [1, "xy"]})
    assert not prefix_consistent({"b": 2}, {"a": 1, "b": 2})
    assert not prefix_consistent({"n": 12}, {"n": 123})
    assert not prefix_consistent([1], [True])
    assert prefix_consistent([], [None, None])
    assert not prefix_consistent([None, 1], [None, 2])


DOCUMENTS = json_documents(text=10, keys=6, leaves=15, size=5)


@settings(max_examples=150, deadline=None)
@given(
    DOCUMENTS,
    st.booleans(),
    st.sampled_from([None, 2]),
    st.lists(st.integers(min_value=0, max_value=10_000), max_size=40),
    st.sampled_from(["", "Here you go:\n```json\n"]),
)
def test_emitted_values_are_prefix_consistent_and_the_last_is_the_document(
    document: Any, ensure_ascii: bool, indent: int | None, cuts: list[int], preamble: str
) -> None:
    text = preamble + json.dumps(document, ensure_ascii=ensure_ascii, indent=indent)
    points = sorted({cut % (len(text) + 1) for cut in cuts} | {0, len(text)})
    pieces = [text[a:b] for a, b in itertools.pairwise(points) if b > a]
    marbles, lookup = chunk_marbles(pieces)
    run = run_marbles(partial_json(), marbles, lookup)
    assert run.completed
    emitted = run.values
    assert emitted, text
    assert emitted[-1] == document
    assert type(emitted[-1]) is type(document)
    for before, after in itertools.pairwise(emitted):
        assert before != after  # only changes are emitted
        assert prefix_consistent(before, after), (before, after)
    for value in emitted:
        assert prefix_consistent(value, document), (value, document)


# -- against jiter: the same value for every prefix ------------------------------------------------


def ends_in_string(text: str) -> bool:
    in_string = escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif in_string and char == "\\":
            escaped = True
        elif char == '"':
            in_string = not in_string
    return in_string


def jiter_reference(text: str) -> Any:
    """What jiter's partial mode shows for ``text`` (from its first bracket), with a number at the
    very end left out, as partial_json documents."""
    starts = [i for i in (text.find("{"), text.find("[")) if i >= 0]
    if not starts:
        return NOTHING
    data = text[min(starts) :]
    if not ends_in_string(data) and not data.endswith(("true", "false")):
        data = data.rstrip("0123456789+-.eE")
    try:
        return jiter.from_json(data.encode(), partial_mode="trailing-strings", allow_inf_nan=False)
    except ValueError:
        return NOTHING


@settings(max_examples=200, deadline=None)
@given(
    DOCUMENTS,
    st.booleans(),
    st.sampled_from([None, 1]),
    st.lists(st.integers(min_value=0, max_value=10_000), max_size=30),
    st.sampled_from(["", "Sure:\n```json\n"]),
    st.sampled_from(["", "\n```", ' and {"x": 1}']),
)
def test_every_prefix_shows_what_jiter_shows(
    document: Any, ensure_ascii: bool, indent: int | None, cuts: list[int], preamble: str, tail: str
) -> None:
    text = preamble + json.dumps(document, ensure_ascii=ensure_ascii, indent=indent) + tail
    points = sorted({cut % (len(text) + 1) for cut in cuts} | {0, len(text)})
    parser = PartialJSONParser()
    for a, b in itertools.pairwise(points):
        parser.feed(text[a:b])
        shown, expected = parser.value(), jiter_reference(text[:b])
        assert shown == expected and repr(shown) == repr(expected), text[:b]
    assert parser.value(final=True) == document


def test_the_jiter_reference_itself() -> None:
    assert jiter_reference('{"n": 12') == {}
    assert jiter_reference('{"n": "12') == {"n": "12"}
    assert jiter_reference('{"n": "1e') == {"n": "1e"}
    assert jiter_reference('{"n": true') == {"n": True}
    assert jiter_reference('{"n": "a\\"12') == {"n": 'a"12'}
    assert jiter_reference("prose only") is NOTHING


def test_a_syntax_error_stops_the_parser_for_good() -> None:
    parser = PartialJSONParser()
    parser.feed('{"a": 1, "b" 2}')
    assert parser.value() is NOTHING and parser.failed
    parser.feed('{"c": 3}')
    assert parser.value() is NOTHING and parser.value(final=True) is NOTHING


def test_a_bad_escape_inside_a_string_stops_the_emissions() -> None:
    assert run_texts('{"a": "x', 'y\\q', 'z"}') == [(1, "N", {"a": "x"}), (7, "C", None)]
    assert run_texts('{"a": "x', "y\nz", '"}') == [(1, "N", {"a": "x"}), (7, "C", None)]  # a raw newline


# -- large documents -------------------------------------------------------------------------------


def big_document() -> dict[str, Any]:
    return {"items": [{"id": n, "name": f"item {n}", "price": n * 1.5, "ok": n % 3 == 0} for n in range(400)]}


def run_big(**options: Any) -> tuple[list[Any], list[Chunk], dict[str, Any]]:
    document = big_document()
    text = json.dumps(document)
    assert len(text) > 20_000
    chunks = [Chunk.from_dict(c) for c in ChunkFactory().text(text, pieces=20)]
    out: list[Any] = []
    done: list[bool] = []
    source = reactivex.from_iterable(chunks).pipe(partial_json(**options))
    source.subscribe(out.append, on_completed=lambda: done.append(True))
    assert done == [True]
    assert out[-1] == document
    for before, after in itertools.pairwise(out):
        assert prefix_consistent(before, after)
    assert out[-2] is not out[-1] and out[-2]["items"] is not out[-1]["items"]  # new objects: safe to keep
    return out, chunks, document


def test_a_large_document_is_parsed_in_steps_and_ends_exact() -> None:
    out, chunks, _ = run_big()
    # under 8 KB every chunk is shown (about 400 of them); past it, steps of 2 % of the size
    assert 300 < len(out) < len(chunks) * 0.6


def test_min_growth_zero_shows_every_change() -> None:
    out, chunks, _ = run_big(min_growth=0)
    assert len(out) > len(chunks) * 0.4  # every chunk that changes the value (not mid-number)
    with pytest.raises(ValueError, match="min_growth"):
        partial_json(min_growth=-1)
