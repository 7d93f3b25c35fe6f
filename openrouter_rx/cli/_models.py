"""``openrouter-rx models``: the model list with context length and prices per million tokens."""

from __future__ import annotations

import argparse
import json
from decimal import Decimal
from typing import Any, TextIO

from reactivex import operators as ops

from ..blocking import wait
from ..client import Client
from ..models import Model

__all__ = ["fetch_models", "model_row", "print_models"]

HEADERS = ("id", "context", "prompt $/M", "completion $/M")


def fetch_models(client: Client, search: str | None) -> list[Model]:
    """``GET /models``, filtered by ``search`` (case-insensitive, in the id or the name), sorted by id."""
    models: list[Model] = wait(client.models().pipe(ops.to_list()))
    if search:
        needle = search.casefold()
        models = [m for m in models if needle in m.id.casefold() or needle in m.name.casefold()]
    return sorted(models, key=lambda m: m.id)


def _price(prices: dict[str, Decimal], name: str) -> str:
    value = prices.get(name)
    return f"{value:f}" if value is not None else "variable"


def model_row(model: Model) -> tuple[str, str, str, str]:
    """The table row of a model: id, context length, prompt and completion USD per million tokens."""
    prices = model.pricing.per_million()
    context = f"{model.context_length:,}" if model.context_length is not None else "?"
    return (model.id, context, _price(prices, "prompt"), _price(prices, "completion"))


def _json_entry(model: Model) -> dict[str, Any]:
    prices = model.pricing.per_million()
    return {
        "id": model.id,
        "name": model.name,
        "context_length": model.context_length,
        "prompt_per_million": f"{prices['prompt']:f}" if "prompt" in prices else None,
        "completion_per_million": f"{prices['completion']:f}" if "completion" in prices else None,
    }


def print_models(models: list[Model], args: argparse.Namespace, out: TextIO, use_rich: bool) -> None:
    """The list as JSON (``--json``), a rich table, or aligned text."""
    if args.json:
        out.write(json.dumps([_json_entry(m) for m in models], indent=2) + "\n")
        return
    rows = [model_row(m) for m in models]
    if use_rich:
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        table = Table(*HEADERS, title=f"{len(rows)} models")
        table.columns[0].overflow = "fold"  # a narrow terminal wraps the id (what -m takes) instead of cutting it
        for column in table.columns[1:]:
            column.justify = "right"
        for row in rows:
            table.add_row(*(Text(cell) for cell in row))  # Text: a '[' in an id is not rich markup
        Console(file=out).print(table)
        return
    widths = [max([len(HEADERS[i]), *(len(r[i]) for r in rows)]) for i in range(4)]  # rows may be empty

    def line(cells: tuple[str, ...]) -> str:
        # the id left-aligned, the numbers right-aligned
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    out.write(line(HEADERS).rstrip() + "\n")
    for row in rows:
        out.write(line(row) + "\n")
    out.flush()
