"""Number parameters: a search value's precision sets its range ("100" is [99.5, 100.5))."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from sqlalchemy import ColumnElement, Table

from vardnav.errors import BadRequest
from vardnav.fhir.search.predicates.prefixes import compare_point, split_prefix


def parse_number(text: str) -> tuple[float, float, float]:
    """(value, low, high) for a decimal search value, using its implied precision."""
    try:
        d = Decimal(text)
    except InvalidOperation as exc:
        raise BadRequest(f"'{text}' is not a number") from exc
    if not d.is_finite():
        raise BadRequest(f"'{text}' is not a finite number")
    exponent = d.as_tuple().exponent
    half = Decimal(5).scaleb(int(exponent) - 1) if isinstance(exponent, int) else Decimal(0)
    return float(d), float(d - half), float(d + half)


def condition(t: Table, modifier: str | None, value: str) -> ColumnElement[bool]:
    prefix, text = split_prefix(value)
    v, low, high = parse_number(text)
    return compare_point(prefix, t.c.value, low, high, abs(v) * 0.1)
