"""Reference parameters: Type/id, id, absolute URL (ours is made relative), :Type."""

from __future__ import annotations

from sqlalchemy import ColumnElement, Table, and_

from vardnav.errors import BadRequest
from vardnav.fhir.search.extract import split_reference


def condition(t: Table, modifier: str | None, value: str, *, targets: tuple[str, ...],
              base_url: str) -> ColumnElement[bool]:
    if base_url and value.startswith(base_url.rstrip("/") + "/"):
        value = value[len(base_url.rstrip("/")) + 1:]
    if value.startswith(("http://", "https://", "urn:")):
        return t.c.target_url == value
    if "/" in value:
        rtype, rid = split_reference(value)
        if rtype is None:
            raise BadRequest(f"'{value}' is not a reference of the form Type/id")
        if modifier and modifier != rtype:
            raise BadRequest(f"Reference '{value}' contradicts the modifier ':{modifier}'")
        return and_(t.c.target_id == rid, t.c.target_type == rtype)
    if modifier:
        return and_(t.c.target_id == value, t.c.target_type == modifier)
    if len(targets) == 1:
        return and_(t.c.target_id == value, t.c.target_type == targets[0])
    return t.c.target_id == value
