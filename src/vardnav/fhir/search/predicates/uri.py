"""URI parameters: exact by default, :below (prefix) and :above (the value's ancestors)."""

from __future__ import annotations

from sqlalchemy import ColumnElement, Table, and_

from vardnav.fhir.search.normalize import PREFIX_END


def condition(t: Table, modifier: str | None, value: str) -> ColumnElement[bool]:
    if modifier == "below":
        return and_(t.c.value >= value, t.c.value < value + PREFIX_END)
    if modifier == "above":
        parts = value.rstrip("/").split("/")
        ancestors = ["/".join(parts[:i]) for i in range(3, len(parts) + 1)] or [value]
        return t.c.value.in_(ancestors)
    return t.c.value == value
