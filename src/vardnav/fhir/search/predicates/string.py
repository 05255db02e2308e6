"""String parameters: case- and accent-insensitive prefix by default; :exact and :contains."""

from __future__ import annotations

from sqlalchemy import ColumnElement, Table, and_

from vardnav.fhir.search.normalize import PREFIX_END, normalize


def condition(t: Table, modifier: str | None, value: str) -> ColumnElement[bool]:
    if modifier == "exact":
        return t.c.value_exact == value
    norm = normalize(value)
    if modifier == "contains":
        escaped = norm.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return t.c.value_norm.like(f"%{escaped}%", escape="\\")
    # A range on the normalised column uses the (param_hash, value_norm) index.
    return and_(t.c.value_norm >= norm, t.c.value_norm < norm + PREFIX_END)
