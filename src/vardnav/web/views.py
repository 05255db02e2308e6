"""FHIR resources as people read them: names, personnummer, dates in Swedish time, codes."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from personnummer import personnummer as pnr_lib

from vardnav.domains.identity.swedish_identifiers import (
    PERSONNUMMER_SYSTEM,
    SAMORDNINGSNUMMER_SYSTEM,
)
from vardnav.domains.swedish_time import SWEDEN

ID_SYSTEMS = (PERSONNUMMER_SYSTEM, SAMORDNINGSNUMMER_SYSTEM)


def name(person: dict[str, Any] | None) -> str:
    if not person:
        return ""
    first = (person.get("name") or [{}])[0]
    if first.get("text"):
        return str(first["text"])
    return " ".join([*first.get("given", []), first.get("family", "")]).strip()


def identity_number(patient: dict[str, Any]) -> str:
    """The personnummer or samordningsnummer as shown in Sweden: YYMMDD-NNNN, with `+` from
    the year the person turns 100."""
    raw = next((i.get("value") for i in patient.get("identifier", [])
                if i.get("system") in ID_SYSTEMS), None)
    if not raw:
        return ""
    try:
        return str(pnr_lib.Personnummer(raw).format())
    except Exception:  # a stored value the library cannot read is shown as stored
        return str(raw)


class QueryError(ValueError):
    """A search text that looks like a personnummer but is not a valid one."""


def parse_identity_number(text: str) -> tuple[str, str] | None:
    """(system, 12 digits) for a personnummer or samordningsnummer in any common form —
    with or without century, with `-`, `+` or nothing between — or None for a name.
    Raises QueryError for something number-like that is not a valid number."""
    compact = text.strip().replace(" ", "")
    digits = sum(c.isdigit() for c in compact)
    if digits < 6 or not all(c.isdigit() or c in "-+" for c in compact):
        return None
    try:
        number = pnr_lib.Personnummer(compact)
    except Exception as exc:
        raise QueryError(compact) from exc
    system = SAMORDNINGSNUMMER_SYSTEM if number.is_coordination_number() \
        else PERSONNUMMER_SYSTEM
    return system, str(number.format(True))


def moment(value: Any) -> datetime | None:
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    if not isinstance(value, str) or not value:
        return None
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), datetime.min.time(), SWEDEN)
        found = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return found if found.tzinfo else found.replace(tzinfo=SWEDEN)


def when(value: Any, *, with_time: bool = True) -> str:
    """A FHIR date/dateTime/instant (or epoch seconds) in Swedish time."""
    found = moment(value)
    if found is None:
        return str(value or "")
    if (isinstance(value, str) and len(value) == 10) or not with_time:
        return found.astimezone(SWEDEN).strftime("%Y-%m-%d")
    return found.astimezone(SWEDEN).strftime("%Y-%m-%d %H:%M")


def concept(value: Any) -> str:
    """A CodeableConcept (or Coding) for reading: its text, else the first display or code."""
    if not isinstance(value, dict):
        return ""
    if value.get("text"):
        return str(value["text"])
    codings = value.get("coding") or ([value] if "code" in value else [])
    for c in codings:
        if c.get("display"):
            return str(c["display"])
    return str(codings[0].get("code", "")) if codings else ""


def code_of(value: Any, system: str | None = None) -> str | None:
    if not isinstance(value, dict):
        return None
    for c in value.get("coding", []):
        if system is None or c.get("system") == system:
            return c.get("code")
    return None


def ref_id(reference: Any) -> str:
    if isinstance(reference, dict):
        reference = reference.get("reference")
    return str(reference or "").rpartition("/")[2]


def quantity(obs: dict[str, Any]) -> str:
    q = obs.get("valueQuantity")
    if isinstance(q, dict):
        return f"{q.get('value', '')} {q.get('unit') or q.get('code') or ''}".strip()
    for key in ("valueString", "valueInteger", "valueBoolean"):
        if key in obs:
            return str(obs[key])
    if "valueCodeableConcept" in obs:
        return concept(obs["valueCodeableConcept"])
    return ""


def age(patient: dict[str, Any], today: date | None = None) -> int | None:
    born = patient.get("birthDate")
    if not isinstance(born, str) or len(born) < 10:
        return None
    try:
        b = date.fromisoformat(born[:10])
    except ValueError:
        return None
    t = today or datetime.now(SWEDEN).date()
    return t.year - b.year - ((t.month, t.day) < (b.month, b.day))


def parse_identity_number_safe(text: str) -> tuple[str, str] | None:
    """Like parse_identity_number, but None for anything that is not a valid number."""
    try:
        return parse_identity_number(text)
    except QueryError:
        return None
