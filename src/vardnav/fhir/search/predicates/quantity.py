"""Quantity parameters: [prefix]number|system|code; code matches the unit code or unit text."""

from __future__ import annotations

from sqlalchemy import ColumnElement, Table, and_

from vardnav.fhir.search.predicates.number import parse_number
from vardnav.fhir.search.predicates.prefixes import compare_point, split_prefix


def condition(t: Table, modifier: str | None, value: str) -> ColumnElement[bool]:
    number, _, unit = value.partition("|")
    prefix, text = split_prefix(number)
    v, low, high = parse_number(text)
    clauses = [compare_point(prefix, t.c.value, low, high, abs(v) * 0.1)]
    if unit:
        system, sep, code = unit.partition("|")
        if not sep:  # "5.4||mg" vs "5.4|mg": a single part is the code
            system, code = "", system
        if system:
            clauses.append(t.c.system == system)
        if code:
            clauses.append(t.c.code == code)
    return and_(*clauses)
