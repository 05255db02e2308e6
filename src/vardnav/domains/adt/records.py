"""The resources a step writes besides the Encounter, and the ones it reads to write it: bed
status, the discharge summary Composition, practitioners, care units and their custody."""

from __future__ import annotations

import html
from typing import Any

from vardnav.domains.adt import stays
from vardnav.domains.adt.bed_status import BED_STATUS_STEP
from vardnav.domains.adt.codes import DISCHARGE_SUMMARY, LOINC, physical_type
from vardnav.domains.adt.places import Place, fetch
from vardnav.domains.identity.organisation.assignments import PROVIDER_TYPES, hsa_of, org_type
from vardnav.errors import BadRequest
from vardnav.fhir.hooks import Custody
from vardnav.fhir.storage.repository import Repository


def set_bed(repo: Repository, bed: dict[str, Any], coding: dict[str, Any] | None) -> None:
    if bed.get("operationalStatus") == coding:
        return
    content = {k: v for k, v in bed.items() if k not in ("meta", "operationalStatus")}
    if coding is not None:
        content["operationalStatus"] = coding
    repo.ctx.attributes[BED_STATUS_STEP] = True
    try:
        repo.update("Location", bed["id"], content)
    finally:
        repo.ctx.attributes.pop(BED_STATUS_STEP, None)


def practitioner(repo: Repository, practitioner_id: str, role: str) -> dict[str, Any]:
    found = fetch(repo, "Practitioner", practitioner_id)
    if found is None:
        raise BadRequest(f"The {role} Practitioner/{practitioner_id} is not known")
    return found


def care_unit(repo: Repository, unit_id: str) -> tuple[dict[str, Any], tuple[dict[str, Any], ...]]:
    """A care unit by Organization id, or a ward by Location id (then also the location)."""
    if fetch(repo, "Organization", unit_id) is not None:
        return {"reference": f"Organization/{unit_id}"}, ()
    location = fetch(repo, "Location", unit_id)
    if location is not None and physical_type(location) == "wa":
        place = Place(location)
        return place.unit_ref, place.chain
    raise BadRequest(f"No care unit (Organization) or ward (Location) with id {unit_id!r}")


def custody_of(repo: Repository, unit_ref: str) -> Custody | None:
    """The unit's HSA-id and that of its care provider (up the partOf chain)."""
    unit = fetch(repo, "Organization", unit_ref.rpartition("/")[2])
    provider = unit
    for _ in range(6):
        if provider is None or org_type(provider) in PROVIDER_TYPES:
            break
        parent = ((provider.get("partOf") or {}).get("reference") or "").rpartition("/")[2]
        provider = fetch(repo, "Organization", parent)
    if unit is None or provider is None:
        return None
    return Custody(hsa_of(provider), hsa_of(unit))


def discharge_summary(repo: Repository, enc: dict[str, Any], summary: str,
                       at: str) -> str:
    authors = [{"reference": f"Practitioner/{pid}"}
               for role, pid in stays.practitioner_ids(enc).items() if role == "attending"]
    composition = {
        "resourceType": "Composition", "status": "final",
        "type": {"coding": [{"system": LOINC, "code": DISCHARGE_SUMMARY,
                             "display": "Discharge summary"}]},
        "subject": enc["subject"], "encounter": {"reference": f"Encounter/{enc['id']}"},
        "date": at, "author": authors or [enc["serviceProvider"]],
        "title": "Utskrivningsinformation",
        "section": [{"title": "Sammanfattning", "text": {
            "status": "generated",
            "div": f'<div xmlns="http://www.w3.org/1999/xhtml"><p>{html.escape(summary)}</p>'
                   "</div>"}}]}
    result = repo.create("Composition", composition)
    return f"Composition/{result.id}"


def void(repo: Repository, ref: str) -> None:
    rtype, _, fhir_id = ref.partition("/")
    found = fetch(repo, rtype, fhir_id)
    if found is not None and found.get("status") != "entered-in-error":
        repo.update(rtype, fhir_id, {**{k: v for k, v in found.items() if k != "meta"},
                                     "status": "entered-in-error"})
