"""Comparison prefixes (eq ne gt lt ge le sa eb ap) over ranges, shared by date and number."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, not_, or_

from vardnav.errors import BadRequest

PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")


def split_prefix(value: str) -> tuple[str, str]:
    if len(value) > 2 and value[:2] in PREFIXES and not value[:2].isdigit():
        return value[:2], value[2:]
    return "eq", value


def compare_ranges(prefix: str, low: Any, high: Any, s_low: float, s_high: float,
                   approx: float) -> ColumnElement[bool]:
    """Target range [low, high) against search range [s_low, s_high), per FHIR search rules."""
    if prefix == "eq":
        # `low < s_high` follows from the others; it bounds the index range scan on low.
        return and_(low >= s_low, low < s_high, high <= s_high)
    if prefix == "ne":
        return not_(and_(low >= s_low, high <= s_high))
    if prefix == "gt":
        return high > s_high
    if prefix == "lt":
        return low < s_low
    if prefix == "ge":
        return high > s_low
    if prefix == "le":
        return low < s_high
    if prefix == "sa":
        return low >= s_high
    if prefix == "eb":
        return high <= s_low
    if prefix == "ap":
        return and_(low < s_high + approx, high > s_low - approx)
    raise BadRequest(f"Unknown prefix '{prefix}'")


def compare_point(prefix: str, value: Any, s_low: float, s_high: float,
                  approx: float) -> ColumnElement[bool]:
    """A stored point value against a search range (numbers carry implied precision)."""
    if prefix == "eq":
        return and_(value >= s_low, value < s_high)
    if prefix == "ne":
        return or_(value < s_low, value >= s_high)
    if prefix in ("gt", "sa"):
        return value >= s_high
    if prefix in ("lt", "eb"):
        return value < s_low
    if prefix == "ge":
        return value >= s_low
    if prefix == "le":
        return value < s_high
    if prefix == "ap":
        return and_(value >= s_low - approx, value < s_high + approx)
    raise BadRequest(f"Unknown prefix '{prefix}'")
