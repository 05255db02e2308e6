"""A staff member's assignments: which care units they work at, in which profession, for
which care provider — read from the Practitioner / PractitionerRole / Organization resources.

The care provider (vårdgivare) of a unit is the nearest Organization, itself or up the
`partOf` chain, typed region, municipality, school-health or private: a municipality's school
health service is a care provider of its own (domain.md §5).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from vardnav.domains.identity.organisation.region import HSA_SYSTEM, ORG_TYPE_SYSTEM
from vardnav.domains.identity.organisation.staff import PROFESSION_SYSTEM
from vardnav.fhir.http_types import FhirRequest
from vardnav.fhir.router import dispatch
from vardnav.fhir.storage.repository import Repository

PROVIDER_TYPES = ("region", "municipality", "school-health", "private")
_MAX_DEPTH = 6


@dataclass(frozen=True)
class StaffAssignment:
    practitioner_id: str
    practitioner_hsa: str
    name: str
    assignment_id: str  # the PractitionerRole id
    profession: str
    profession_display: str
    unit_id: str
    unit_hsa: str
    unit_name: str
    provider_id: str
    provider_hsa: str
    provider_name: str
    provider_type: str


def hsa_of(resource: dict[str, Any]) -> str | None:
    return next((i.get("value") for i in resource.get("identifier", [])
                 if i.get("system") == HSA_SYSTEM), None)


def org_type(org: dict[str, Any]) -> str | None:
    return next((c.get("code") for t in org.get("type", []) for c in t.get("coding", [])
                 if c.get("system") == ORG_TYPE_SYSTEM), None)


def display_name(person: dict[str, Any]) -> str:
    name = (person.get("name") or [{}])[0]
    return " ".join([*name.get("given", []), name.get("family", "")]).strip()


def _search(repo: Repository, rtype: str, query: list[tuple[str, str]]) -> list[dict]:
    bundle = dispatch(repo, FhirRequest("GET", rtype, query, {}, None)).body or {}
    return [e["resource"] for e in bundle.get("entry", [])]


def _read(repo: Repository, reference: str) -> dict[str, Any] | None:
    response = dispatch(repo, FhirRequest("GET", reference, [], {}, None))
    return response.body if response.status == 200 else None


def provider_of(repo: Repository, unit: dict[str, Any]) -> dict[str, Any] | None:
    """The care provider a unit belongs to (see the module docstring)."""
    org: dict[str, Any] | None = unit
    for _ in range(_MAX_DEPTH):
        if org is None:
            return None
        if org_type(org) in PROVIDER_TYPES:
            return org
        parent = (org.get("partOf") or {}).get("reference")
        org = _read(repo, parent) if parent else None
    return None


def _active(role: dict[str, Any], on: date) -> bool:
    if role.get("active") is False:
        return False
    period = role.get("period") or {}
    start, end = period.get("start"), period.get("end")
    return (not start or start[:10] <= on.isoformat()) and (not end or end[:10] >= on.isoformat())


def assignments_of(repo: Repository, practitioner_hsa: str,
                   on: date | None = None) -> list[StaffAssignment]:
    """The staff member's assignments valid on `on` (today), ordered by unit name."""
    on = on or date.today()
    people = _search(repo, "Practitioner", [("identifier", f"{HSA_SYSTEM}|{practitioner_hsa}")])
    if len(people) != 1 or people[0].get("active") is False:
        return []
    person = people[0]
    roles = _search(repo, "PractitionerRole", [("practitioner", f"Practitioner/{person['id']}"),
                                               ("_count", "100")])
    found = []
    for role in roles:
        unit_ref = (role.get("organization") or {}).get("reference")
        coding = next((c for cc in role.get("code", []) for c in cc.get("coding", [])
                       if c.get("system") == PROFESSION_SYSTEM), None)
        if not (_active(role, on) and unit_ref and coding):
            continue
        unit = _read(repo, unit_ref)
        provider = provider_of(repo, unit) if unit else None
        if unit is None or provider is None:
            continue
        found.append(StaffAssignment(
            practitioner_id=person["id"], practitioner_hsa=practitioner_hsa,
            name=display_name(person), assignment_id=role["id"],
            profession=coding["code"], profession_display=coding.get("display", coding["code"]),
            unit_id=unit["id"], unit_hsa=hsa_of(unit) or "", unit_name=unit.get("name", ""),
            provider_id=provider["id"], provider_hsa=hsa_of(provider) or "",
            provider_name=provider.get("name", ""), provider_type=org_type(provider) or ""))
    return sorted(found, key=lambda a: (a.unit_name, a.profession))
