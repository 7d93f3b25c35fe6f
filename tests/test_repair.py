"""Local JSON repairs: each repair alone, in combination, what must not be repaired, and a
property against jiter's partial parser for every prefix of random documents."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import json_documents

from openrouter_rx._repair import repair_json
from openrouter_rx.operators._partial_json import PartialJSONParser


def loads(text: str | None) -> Any:
    assert text is not None, "expected a repair"
    return json.loads(text)


# -- valid JSON ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ['{"a": 1}', "[1, 2.5, -3e2]", '{"s": "x\\"y\\\\", "n": null, "t": true}', '"just a string"', "12", "[]", "{}"],
)
def test_valid_json_comes_back_unchanged(text: str) -> None:
    assert repair_json(text) == text
    assert repair_json(f"  \n{text}\n ") == text


def test_valid_json_with_fences_inside_strings_is_not_touched() -> None:
    text = '{"code": "```python\\nprint(1)\\n```", "list": "[1, 2,]"}'
    assert repair_json(text) == text


# -- each repair alone -----------------------------------------------------------------------------


def test_byte_order_mark_and_whitespace() -> None:
    assert loads(repair_json('\ufeff  {"a": 1}\n')) == {"a": 1}


@pytest.mark.parametrize(
    "text",
    [
        '```json\n{"a": 1}\n```',
        '```\n{"a": 1}\n```',
        '```JSON {"a": 1}```',
        'Here it is:\n```json\n{"a": 1}\n```\nAnything else?',
    ],
)
def test_code_fence(text: str) -> None:
    assert loads(repair_json(text)) == {"a": 1}


def test_code_fence_first_one_wins() -> None:
    assert loads(repair_json('```json\n{"a": 1}\n```\nor\n```json\n{"a": 2}\n```')) == {"a": 1}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('Sure! Here is the JSON: {"a": 1}', {"a": 1}),
        ('{"a": 1}\nLet me know if you need more.', {"a": 1}),
        ("Result: [1, 2] (two items)", [1, 2]),
        ('{"a": 1} as in [1]', {"a": 1}),  # a bracketed citation in prose is not a second document
        ('{"a": "}"} done', {"a": "}"}),  # brackets inside strings do not close anything
        ('{"a": 1}}', {"a": 1}),  # a stray closer after the document is cut like prose
    ],
)
def test_prose_around_the_document(text: str, expected: Any) -> None:
    assert loads(repair_json(text)) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1,}', {"a": 1}),
        ("[1, 2, ]", [1, 2]),
        ('{"a": [1, {"b": 2,},],}', {"a": [1, {"b": 2}]}),
        ('{"a": ",}"}', None),  # valid already (see below): the comma is inside a string
    ],
)
def test_trailing_commas(text: str, expected: Any) -> None:
    repaired = repair_json(text)
    if expected is None:
        assert repaired == text
    else:
        assert loads(repaired) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"city": "Os', {"city": "Os"}),  # an open string is closed where it was cut
        ('{"a": "x\\', {"a": "x"}),  # a half escape is dropped
        ('{"a": "x\\\\', {"a": "x\\"}),  # a whole escaped backslash is kept
        ('{"a": "x\\u00', {"a": "x"}),  # a half \\u escape is dropped
        ('{"a": "x\\ud83d', {"a": "x"}),  # the high half of a surrogate pair is dropped
        ('{"a": "x\\ud83d\\ude00', {"a": "x\U0001f600"}),
        ('{"a": "say \\"hi', {"a": 'say "hi'}),
        ('{"a": 1, "b', {"a": 1}),  # an incomplete key is dropped
        ('{"a": 1, "b"', {"a": 1}),  # a key without its colon
        ('{"a": 1, "b":', {"a": 1}),  # a dangling "key":
        ('{"a": 1, "b": ', {"a": 1}),
        ('{"a": 1,', {"a": 1}),  # a trailing comma
        ('{"a": [1, 2,', {"a": [1, 2]}),  # brackets closed in order
        ('{"a": [1, 2', {"a": [1]}),  # (the 2 may have been 20)
        ('{"a": [1, {"b": [', {"a": [1, {"b": []}]}),
        ('{"a": 12', {}),  # a number at the cut may have been longer: dropped with its key
        ('{"a": 12 ', {"a": 12}),  # ... unless something after it shows it ended
        ('[1, 22', [1]),
        ('{"a": 1.', {}),  # ... unless it is not a number yet
        ('{"a": -', {}),
        ('{"a": 1e', {}),
        ('{"a": tr', {}),  # no guessing: "tr" does not become true
        ('{"a": true', {"a": True}),
        ('{"a": nul', {}),
        ("[", []),
        ("{", {}),
    ],
)
def test_truncated_tail(text: str, expected: Any) -> None:
    assert loads(repair_json(text)) == expected


# -- combinations ----------------------------------------------------------------------------------


def test_fence_prose_trailing_commas_and_truncation_together() -> None:
    text = 'Sure:\n```json\n{"items": [{"name": "a",}, {"name": "b"},], "note": "cut he'
    assert loads(repair_json(text)) == {"items": [{"name": "a"}, {"name": "b"}], "note": "cut he"}


def test_bom_fence_and_trailing_comma() -> None:
    assert loads(repair_json('\ufeff```json\n{"a": [1,],}\n```')) == {"a": [1]}


def test_prose_then_truncated_document() -> None:
    assert loads(repair_json('The answer is {"a": {"b": "deep')) == {"a": {"b": "deep"}}


# -- what it must not do ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1} {"b": 2}',  # two documents: which one was meant is content, not syntax
        '{"a": 1}\n{"b": 2}',  # JSON lines
        '{"a": 1}, {"b": 2}',
        '{"a": 1} and then {"b": 2}',
        "",
        "   ",
        "no JSON here",
        '{"a": True}',  # Python literals are not translated
        "{'a': 1}",  # nor single quotes
        '{"a": 1 /* comment */}',
        '{"a": NaN}',
        '{"a": 1]',  # mismatched brackets
        '{"a": "line\nbreak"}',  # a raw control character inside a string
        '{"a": [1,,2]}',
    ],
)
def test_not_repaired(text: str) -> None:
    assert repair_json(text) is None


def test_prose_with_brackets_before_the_document_is_not_skipped() -> None:
    # only the first bracket can start the document: "[sic]" is not JSON, so nothing is returned
    assert repair_json('Note [sic]: {"a": 1}') is None


# -- property: every prefix of a document, against jiter ------------------------------------------

DOCUMENTS = json_documents(text=8, keys=5, leaves=12, size=4)


@settings(max_examples=150, deadline=None)
@given(DOCUMENTS, st.booleans(), st.sampled_from([None, 1]))
def test_every_prefix_is_repaired_like_jiters_partial_parse(
    document: Any, ensure_ascii: bool, indent: int | None
) -> None:
    """What partial_json shows for a prefix (jiter's partial parse, a number at the cut held
    back) is what the repair makes of it."""
    text = json.dumps(document, ensure_ascii=ensure_ascii, indent=indent)
    assert json.loads(repair_json(text) or "null") == document
    for cut in range(1, len(text)):
        prefix = text[:cut]
        repaired = repair_json(prefix)
        parser = PartialJSONParser()
        parser.feed(prefix)
        expected = parser.value()
        assert repaired is not None, prefix
        assert json.loads(repaired) == expected, prefix
