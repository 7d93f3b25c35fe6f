"""Cost of the marshmallow → JSON Schema converter and of ``load_data``.

Run: ``python bench/bench_json_schema.py`` (a few seconds).

Measured, for a realistic tool schema (12 fields, a nested object, a list of nested
objects, enums, validators) and a recursive tree schema:
- a first conversion (the cache emptied before each call);
- a cached conversion (what every later call costs: a copy of the cached dict);
- ``load_data(strict=True)`` (the null-dropping pass, then ``load``) against a plain
  ``Schema().load`` of the same document, and ``load_data`` without ``strict``.
"""

from __future__ import annotations

import enum
import timeit
from collections.abc import Callable
from typing import Any

from marshmallow import Schema, fields, validate

from openrouter_rx import json_schema
from openrouter_rx.json_schema import load_data, to_json_schema


class Unit(enum.Enum):
    celsius = "C"
    fahrenheit = "F"


class Place(Schema):
    city = fields.String(required=True, validate=validate.Length(min=1, max=80))
    country = fields.String(validate=validate.Regexp(r"^[A-Z]{2}$"))
    lat = fields.Float(validate=validate.Range(-90, 90))
    lon = fields.Float(validate=validate.Range(-180, 180))


class Forecast(Schema):
    place = fields.Nested(Place, required=True)
    alternatives = fields.Nested(Place, many=True)
    days = fields.Integer(load_default=3, validate=validate.Range(1, 14))
    unit = fields.Enum(Unit, load_default=Unit.celsius)
    hourly = fields.Boolean(load_default=False)
    fields_wanted = fields.List(fields.String(validate=validate.OneOf(["temp", "rain", "wind"])))
    start = fields.Date()
    language = fields.String(validate=validate.OneOf(["en", "de", "fr"]))
    note = fields.String(allow_none=True, metadata={"description": "Free text"})


class Tree(Schema):
    name = fields.String(required=True)
    children = fields.Nested(lambda: Tree(), many=True, load_default=list)


DOC: dict[str, Any] = {
    "place": {"city": "Oslo", "country": "NO", "lat": 59.9, "lon": 10.7},
    "alternatives": [{"city": "Bergen", "country": None, "lat": None, "lon": None}],
    "days": None,
    "unit": "celsius",
    "hourly": None,
    "fields_wanted": ["temp", "rain"],
    "start": None,
    "language": None,
    "note": None,
}
PLAIN_DOC = {key: value for key, value in DOC.items() if value is not None}
PLAIN_DOC["alternatives"] = [{"city": "Bergen"}]


def per_call(fn: Callable[[], object], number: int, repeat: int = 7) -> float:
    """Seconds per call: the fastest of ``repeat`` runs of ``number`` calls (the least disturbed)."""
    fn()  # warm up (imports, lazily built nested schemas)
    return min(t / number for t in timeit.repeat(fn, number=number, repeat=repeat))


def uncached(schema: type[Schema], strict: bool) -> Callable[[], object]:
    def run() -> object:
        json_schema._cache.clear()
        return to_json_schema(schema, strict=strict)

    return run


def main() -> None:
    instance = Forecast()
    rows = [
        ("to_json_schema(Forecast), first conversion", uncached(Forecast, False), 500),
        ("to_json_schema(Forecast, strict=True), first", uncached(Forecast, True), 500),
        ("to_json_schema(Forecast), cached", lambda: to_json_schema(Forecast), 5000),
        ("to_json_schema(Tree), first conversion", uncached(Tree, False), 1000),
        ("Forecast().load(doc) (baseline)", lambda: Forecast().load(PLAIN_DOC), 2000),
        ("load_data(Forecast, doc)", lambda: load_data(Forecast, PLAIN_DOC), 2000),
        ("load_data(Forecast, doc with nulls, strict=True)", lambda: load_data(Forecast, DOC, strict=True), 2000),
        ("load_data(instance, doc with nulls, strict=True)", lambda: load_data(instance, DOC, strict=True), 2000),
    ]
    for label, fn, number in rows:
        print(f"{label:<52} {per_call(fn, number) * 1e6:8.1f} µs")


if __name__ == "__main__":
    main()
