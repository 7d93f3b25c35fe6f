"""Every relative link in README.md and docs/*.md points to a file that exists, and every
``#anchor`` to a heading of that file (GitHub's anchor rules); the docs index lists every page."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
INDEX = DOCS / "README.md"
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]

_FENCE = re.compile(r"^(```|~~~)")
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*(?:<([^>\n]*)>|([^)\s]+))(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$")
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_EXTERNAL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")  # https:, mailto:, ...


def _prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks, with inline code removed."""
    lines, fenced = [], False
    for line in text.splitlines():
        if _FENCE.match(line.lstrip()):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(_INLINE_CODE.sub("", line))
    return lines


def links_of(text: str) -> list[str]:
    """The link targets of a Markdown text (inline and reference definitions), code excluded."""
    found: list[str] = []
    for line in _prose_lines(text):
        reference = _REFERENCE.match(line)
        if reference:
            found.append(reference.group(1))
            continue
        found += [bracketed or bare for bracketed, bare in _LINK.findall(line)]
    return found


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: markup dropped, lower case, punctuation removed, spaces to '-'."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = text.replace("`", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors_of(text: str) -> set[str]:
    """Every anchor GitHub makes for the headings of a Markdown text (duplicates get -1, -2, ...)."""
    seen: dict[str, int] = {}
    anchors: set[str] = set()
    fenced = False
    for line in text.splitlines():
        if _FENCE.match(line.lstrip()):
            fenced = not fenced
            continue
        match = None if fenced else _HEADING.match(line)
        if match is None:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        anchors.add(base if count == 0 else f"{base}-{count}")
    return anchors


def broken_links(page: Path) -> list[str]:
    """The relative links of ``page`` whose file or anchor does not exist, with the reason."""
    problems = []
    for target in links_of(page.read_text(encoding="utf-8")):
        if _EXTERNAL.match(target):
            continue
        path_part, _, anchor = target.partition("#")
        destination = (page.parent / unquote(path_part)).resolve() if path_part else page
        if not destination.exists():
            shown = destination.relative_to(ROOT) if destination.is_relative_to(ROOT) else destination
            problems.append(f"{target}: no such file {shown}")
            continue
        if anchor:
            if destination.is_dir() or destination.suffix != ".md":
                problems.append(f"{target}: an anchor into something that is not a Markdown page")
            elif unquote(anchor) not in anchors_of(destination.read_text(encoding="utf-8")):
                problems.append(f"{target}: no heading with anchor #{anchor} in {destination.name}")
    return problems


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page: Path) -> None:
    assert broken_links(page) == []


def test_the_docs_index_lists_every_page() -> None:
    listed = {target.partition("#")[0] for target in links_of(INDEX.read_text(encoding="utf-8"))}
    pages = {page.name for page in DOCS.glob("*.md") if page != INDEX}
    assert sorted(pages - listed) == []


def test_the_checker_finds_links_and_anchors() -> None:
    text = (
        "# Title\n## `tool_calls` and more!\n## Title\n"
        "See [a](other.md#x), ![img](pic.png), [b](<spaced name.md>), `[not](code.md)`,\n"
        "[ext](https://example.com/a.md) and [self](#title-1).\n"
        "```\n[fenced](nope.md)\n# not a heading\n```\n[ref]: refs.md#y\n"
    )
    assert links_of(text) == [
        "other.md#x",
        "pic.png",
        "spaced name.md",
        "https://example.com/a.md",
        "#title-1",
        "refs.md#y",
    ]
    assert anchors_of(text) == {"title", "tool_calls-and-more", "title-1"}
    assert slug("`CallbackError` (the `StreamingClient`)") == "callbackerror-the-streamingclient"
