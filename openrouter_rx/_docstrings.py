"""Docstring → summary and per-parameter descriptions (Google, Sphinx and NumPy styles).

Only two things are read: the first paragraph (the summary, which becomes a tool's
description) and the parameter descriptions. Everything else (``Returns``, ``Raises``,
``Examples``, notes, …) is ignored, so it never leaks into what the model sees.

Recognised parameter sections:

* Google: ``Args:`` / ``Arguments:`` / ``Parameters:`` / ``Params:`` / ``Keyword Args:`` /
  ``Keyword Arguments:`` / ``Attributes:`` (for dataclasses), entries ``name (type): text``
  or ``name: text``, continuation lines indented deeper than the entry.
* Sphinx: ``:param name: text``, ``:param type name: text`` (also ``:parameter``, ``:arg``,
  ``:argument``, ``:key``, ``:keyword``), continuation lines indented.
* NumPy: a ``Parameters`` (or ``Other Parameters`` / ``Attributes``) header underlined
  with dashes, entries ``name : type`` (or ``name``; ``a, b : int`` names two), the text
  indented below.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field

__all__ = ["Docstring", "parse_docstring"]

_GOOGLE_PARAMS = re.compile(
    r"^(args|arguments|parameters|params|keyword args|keyword arguments|other parameters|attributes)\s*:\s*$",
    re.IGNORECASE,
)
_GOOGLE_ANY_HEADER = re.compile(
    r"^(args|arguments|parameters|params|keyword args|keyword arguments|other parameters|attributes|returns?"
    r"|yields?|raises|exceptions?|examples?|notes?|warnings?|see also|todo|references|methods)\s*:\s*$",
    re.IGNORECASE,
)
_GOOGLE_ENTRY = re.compile(r"^\*{0,2}(?P<name>[A-Za-z_]\w*)\s*(?:\((?:[^()]|\([^()]*\))*\))?\s*:(?P<text>.*)$")
_SPHINX_FIELD = re.compile(r"^:(?P<kind>\w+)(?P<args>[^:]*):(?P<text>.*)$")
_SPHINX_PARAM_KINDS = frozenset({"param", "parameter", "arg", "argument", "key", "keyword"})
_NUMPY_PARAMS = frozenset({"parameters", "other parameters", "attributes"})
_NUMPY_UNDERLINE = re.compile(r"^-{3,}\s*$")
_NUMPY_ENTRY = re.compile(r"^(?P<names>\*{0,2}[A-Za-z_]\w*(?:\s*,\s*\*{0,2}[A-Za-z_]\w*)*)\s*(?::.*)?$")


@dataclass(frozen=True)
class Docstring:
    """What a docstring says about a callable.

    Attributes:
        summary: the first paragraph, its lines joined by single spaces ("" if none).
        params: parameter name → description (whitespace collapsed), in docstring order.
    """

    summary: str = ""
    params: dict[str, str] = field(default_factory=dict)


def parse_docstring(doc: str | None) -> Docstring:
    """Read the summary and the parameter descriptions of a docstring.

    Args:
        doc: the raw docstring (``fn.__doc__``); ``None`` or blank gives an empty result.

    Returns:
        The summary (first paragraph) and the descriptions of the documented parameters.
    """
    if not doc or not doc.strip():
        return Docstring()
    lines = inspect.cleandoc(doc).splitlines()
    params: dict[str, str] = {}
    for reader in (_google_params, _sphinx_params, _numpy_params):
        for name, text in reader(lines):
            if text and name not in params:
                params[name] = text
    return Docstring(summary=_summary(lines), params=params)


def _is_section_start(lines: list[str], i: int) -> bool:
    line = lines[i]
    if _GOOGLE_ANY_HEADER.match(line.strip()) or line.startswith(":"):
        return True
    return i + 1 < len(lines) and bool(line.strip()) and bool(_NUMPY_UNDERLINE.match(lines[i + 1].strip()))


def _summary(lines: list[str]) -> str:
    paragraph: list[str] = []
    for i, line in enumerate(lines):
        if not line.strip():
            if paragraph:
                break
            continue
        if _is_section_start(lines, i):
            break
        paragraph.append(line.strip())
    return " ".join(paragraph)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _join(parts: list[str]) -> str:
    return " ".join(" ".join(parts).split())


def _google_params(lines: list[str]) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    i = 0
    while i < len(lines):
        header = lines[i]
        i += 1
        if not _GOOGLE_PARAMS.match(header.strip()):
            continue
        section_indent = _indent(header)
        entry_indent: int | None = None
        name: str | None = None
        text: list[str] = []
        while i < len(lines):
            line = lines[i]
            if line.strip() and _indent(line) <= section_indent:
                break  # dedent: the section is over
            i += 1
            if not line.strip():
                continue
            if entry_indent is None:
                entry_indent = _indent(line)
            match = _GOOGLE_ENTRY.match(line.strip()) if _indent(line) <= entry_indent else None
            if match:
                if name is not None:
                    found.append((name, _join(text)))
                name, text = match["name"], [match["text"]]
            elif name is not None:
                text.append(line)
        if name is not None:
            found.append((name, _join(text)))
    return found


def _sphinx_params(lines: list[str]) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    name: str | None = None
    text: list[str] = []
    for line in lines:
        match = _SPHINX_FIELD.match(line.strip())
        if match or (name is not None and line.strip() and _indent(line) == 0):
            if name is not None:
                found.append((name, _join(text)))
            name, text = None, []
            if match and match["kind"].lower() in _SPHINX_PARAM_KINDS:
                words = match["args"].split()
                if words:
                    name, text = words[-1].lstrip("*"), [match["text"]]
        elif name is not None:
            text.append(line)
    if name is not None:
        found.append((name, _join(text)))
    return found


def _numpy_params(lines: list[str]) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    i = 0
    while i + 1 < len(lines):
        header, underline = lines[i].strip(), lines[i + 1].strip()
        i += 1
        if header.lower() not in _NUMPY_PARAMS or not _NUMPY_UNDERLINE.match(underline):
            continue
        base = _indent(lines[i - 1])
        i += 1
        names: list[str] = []
        text: list[str] = []
        while i < len(lines):
            line = lines[i]
            if line.strip() and _indent(line) == base and i + 1 < len(lines) and _NUMPY_UNDERLINE.match(
                lines[i + 1].strip()
            ):
                break  # the next section
            if line.strip() and _indent(line) < base:
                break
            i += 1
            if not line.strip():
                continue
            match = _NUMPY_ENTRY.match(line.strip()) if _indent(line) == base else None
            if match:
                found.extend((n, _join(text)) for n in names)
                names = [n.strip().lstrip("*") for n in match["names"].split(",")]
                text = []
            elif _indent(line) > base:
                text.append(line)
            else:
                break
        found.extend((n, _join(text)) for n in names)
    return found
