"""Date parameters: stored [low, high) ranges against the search value's own range."""

from __future__ import annotations

from sqlalchemy import ColumnElement, Table

from vardnav.errors import BadRequest
from vardnav.fhir.datetimes import DateFormatError, now, parse_range
from vardnav.fhir.search.predicates.prefixes import compare_ranges, split_prefix


def search_range(value: str) -> tuple[str, float, float]:
    prefix, text = split_prefix(value)
    try:
        low, high = parse_range(text)
    except DateFormatError as exc:
        raise BadRequest(f"Invalid date in search: {exc}") from exc
    return prefix, low, high


def condition(t: Table, modifier: str | None, value: str) -> ColumnElement[bool]:
    prefix, low, high = search_range(value)
    # "ap": within 10% of the distance between the search value and now (FHIR guidance).
    approx = abs(now() - low) * 0.1
    return compare_ranges(prefix, t.c.low, t.c.high, low, high, approx)


def column_condition(low_col, high_col, value: str) -> ColumnElement[bool]:
    prefix, low, high = search_range(value)
    return compare_ranges(prefix, low_col, high_col, low, high, abs(now() - low) * 0.1)


def ensure_no_modifier(modifier: str | None, name: str) -> None:
    if modifier:
        raise BadRequest(f"Modifier ':{modifier}' is not supported on date parameter '{name}'")
