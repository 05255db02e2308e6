"""Token parameters: [system]|[code], |code, system|, code; :text and :of-type."""

from __future__ import annotations

from sqlalchemy import ColumnElement, Table, and_

from vardnav.errors import BadRequest
from vardnav.fhir.search.normalize import PREFIX_END, normalize


def condition(t: Table, modifier: str | None, value: str) -> ColumnElement[bool]:
    if modifier == "text":
        norm = normalize(value)
        return and_(t.c.text_norm >= norm, t.c.text_norm < norm + PREFIX_END)
    if modifier == "of-type":
        parts = value.split("|")
        if len(parts) != 3 or not all(parts):
            raise BadRequest(f":of-type takes system|code|value, not '{value}'")
        return and_(t.c.system == f"of-type:{parts[0]}", t.c.code == f"{parts[1]}|{parts[2]}")
    if "|" not in value:
        return t.c.code == value
    system, _, code = value.partition("|")
    if not system:  # |code: the code without a system
        return and_(t.c.system.is_(None), t.c.code == code)
    if not code:  # system|: any code in the system
        return t.c.system == system
    return and_(t.c.system == system, t.c.code == code)
