"""Composite parameters: `first$second`, e.g. code-value-quantity=http://loinc.org|8480-6$gt140.

The first component (token or reference) is matched on c1_*, the second with its own type's
predicate on the c2_* columns, through a view that gives them that type's column names.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from sqlalchemy import ColumnElement, Table, and_

from vardnav.errors import BadRequest
from vardnav.fhir.search.predicates import date, number, quantity, string, token, uri
from vardnav.fhir.search.predicates import reference as reference_pred

_SECOND = {"token": token.condition, "quantity": quantity.condition, "date": date.condition,
           "string": string.condition, "number": number.condition, "uri": uri.condition}


def _view(**columns: Any) -> Any:
    return SimpleNamespace(c=SimpleNamespace(**columns))


def condition(t: Table, value: str, types: tuple[str, str], *,
              base_url: str) -> ColumnElement[bool]:
    first, sep, second = value.partition("$")
    if not sep or not first or not second:
        raise BadRequest(f"A composite search value has two parts joined by '$', not '{value}'")
    c = t.c
    if types[0] == "reference":
        head = reference_pred.condition(
            _view(target_type=c.c1_system, target_id=c.c1_code, target_url=c.c1_code),
            None, first, targets=(), base_url=base_url)
    else:
        head = token.condition(_view(system=c.c1_system, code=c.c1_code, text_norm=None),
                               None, first)
    if types[1] == "reference":
        tail = reference_pred.condition(
            _view(target_type=c.c2_system, target_id=c.c2_code, target_url=c.c2_code),
            None, second, targets=(), base_url=base_url)
    else:
        view = _view(system=c.c2_system, code=c.c2_code, value=c.c2_value, low=c.c2_low,
                     high=c.c2_high, value_norm=c.c2_text, value_exact=c.c2_text,
                     text_norm=c.c2_text)
        if types[1] == "uri":
            view.c.value = c.c2_text
        tail = _SECOND[types[1]](view, None, second)
    return and_(head, tail)
