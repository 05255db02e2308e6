"""Whose record a resident may open: their own Patient (found by personnummer) and the
children they are guardian of, while the child is younger than the configured age.

Guardianship is a `RelatedPerson` with `patient` = the child, `relationship` GUARD
(v3-RoleCode) and `identifier` = the guardian's personnummer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from vardnav.domains.identity.organisation.assignments import display_name
from vardnav.domains.identity.swedish_identifiers import PERSONNUMMER_SYSTEM
from vardnav.fhir.http_types import FhirRequest
from vardnav.fhir.router import dispatch
from vardnav.fhir.storage.repository import Repository

ROLE_CODE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
GUARDIAN = f"{ROLE_CODE_SYSTEM}|GUARD"


@dataclass(frozen=True)
class RecordChoice:
    """One record a resident may open, and as whom."""

    patient: str  # Patient id
    fhir_user: str  # Patient/<own id> or RelatedPerson/<guardianship id>
    name: str
    own: bool


@dataclass(frozen=True)
class ResidentRecords:
    display_name: str
    choices: list[RecordChoice]


def _search(repo: Repository, rtype: str, query: list[tuple[str, str]]) -> list[dict[str, Any]]:
    bundle = dispatch(repo, FhirRequest("GET", rtype, query, {}, None)).body or {}
    return [e["resource"] for e in bundle.get("entry", [])
            if e.get("search", {}).get("mode", "match") == "match"]


def age_on(birth_date: str, on: date) -> int | None:
    """Whole years of age on `on`; None for a birth date without a full day."""
    try:
        born = date.fromisoformat(birth_date[:10])
    except ValueError:
        return None
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _current(resource: dict[str, Any], on: date) -> bool:
    if resource.get("active") is False:
        return False
    end = (resource.get("period") or {}).get("end")
    return not end or end[:10] >= on.isoformat()


def resident_records(repo: Repository, personnummer: str, *, max_child_age: int,
                     on: date | None = None) -> ResidentRecords:
    """The resident's own record (if any) first, then their children's."""
    on = on or date.today()
    own = [p for p in _search(repo, "Patient",
                              [("identifier", f"{PERSONNUMMER_SYSTEM}|{personnummer}")])
           if p.get("active") is not False]
    choices = [RecordChoice(p["id"], f"Patient/{p['id']}", display_name(p), True)
               for p in own[:1]]  # one person, one record: a duplicate is not offered twice
    links = [link for link in _search(repo, "RelatedPerson", [
        ("identifier", f"{PERSONNUMMER_SYSTEM}|{personnummer}"),
        ("relationship", GUARDIAN), ("_count", "50")]) if _current(link, on)]
    child_ids = sorted({cid for link in links if (cid := _patient_id(link))})
    children = {p["id"]: p for p in _search(repo, "Patient", [
        ("_id", ",".join(child_ids)), ("_count", "50")])} if child_ids else {}
    for link in links:
        child = children.get(_patient_id(link) or "")
        if child is None or child.get("active") is False or child.get("deceasedBoolean") \
                or child.get("deceasedDateTime"):
            continue
        age = age_on(child.get("birthDate", ""), on)
        # Fail closed: no birth date, no guardian access.
        if age is not None and 0 <= age < max_child_age:
            choices.append(RecordChoice(child["id"], f"RelatedPerson/{link['id']}",
                                        display_name(child), False))
    name = choices[0].name if choices and choices[0].own else \
        (display_name(links[0]) if links else "")
    return ResidentRecords(name or personnummer, choices)


def _patient_id(link: dict[str, Any]) -> str | None:
    ref = (link.get("patient") or {}).get("reference", "")
    kind, _, rid = ref.rpartition("/")
    return rid if kind.endswith("Patient") and rid else None
