"""Reading an operation's `Parameters` body: one place for every `$operation` that takes one.

`parameters` gives each name's value; `text`, `flag`, `ref`, `when` and `moment` check and
convert one of them (a 400 that names the parameter when it is missing or of the wrong kind).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from vardnav.errors import BadRequest


def parameters(body: Any) -> dict[str, Any]:
    """The `value[x]` of each named parameter (the last one wins if a name repeats).

    A body that is not a Parameters resource is a 400; parameters without a name are skipped.
    """
    if not (isinstance(body, dict) and body.get("resourceType") == "Parameters"):
        raise BadRequest("This operation takes a Parameters resource")
    out: dict[str, Any] = {}
    for p in body.get("parameter") or []:
        if isinstance(p, dict) and isinstance(p.get("name"), str):
            value = next((v for k, v in p.items() if k.startswith("value")), None)
            out[p["name"]] = value
    return out


def text(p: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    value = p.get(name)
    if value is None:
        if required:
            raise BadRequest(f"Parameter '{name}' is required")
        return None
    if not isinstance(value, str) or not value.strip():
        raise BadRequest(f"Parameter '{name}' must be text")
    return value.strip()


def flag(p: dict[str, Any], name: str, default: bool | None = None) -> bool | None:
    value = p.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise BadRequest(f"Parameter '{name}' must be a valueBoolean")
    return value


def ref(value: Any, name: str, rtype: str, *, required: bool = False) -> str | None:
    """The id of the `rtype` a parameter names (a reference or a plain id)."""
    if value is None:
        if required:
            raise BadRequest(f"Parameter '{name}' ({rtype}) is required")
        return None
    if isinstance(value, str) and value.strip():
        value = {"reference": value.strip()}
    reference = value.get("reference") if isinstance(value, dict) else None
    if not isinstance(reference, str) or not reference:
        raise BadRequest(f"Parameter '{name}' must be a reference to a {rtype}")
    kind, _, fhir_id = reference.rpartition("/")
    if (kind and kind.rpartition("/")[2] != rtype) or not fhir_id:
        raise BadRequest(f"Parameter '{name}' must refer to a {rtype}, not {reference}")
    return fhir_id


def when(p: dict[str, Any], name: str, *, required: bool = False,
         date_ok: bool = False) -> datetime | date | None:
    value = p.get(name)
    if value is None:
        if required:
            raise BadRequest(f"Parameter '{name}' is required")
        return None
    if isinstance(value, str) and date_ok and len(value) == 10:
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    parsed = None
    if isinstance(value, str) and "T" in value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise BadRequest(f"Parameter '{name}' must be a dateTime with a time zone, e.g. "
                         "2026-11-27T08:30:00+01:00" + (" (or a date)" if date_ok else ""))
    return parsed


def moment(p: dict[str, Any], name: str, *, required: bool = False) -> datetime | None:
    value = when(p, name, required=required)
    assert value is None or isinstance(value, datetime)
    return value
