"""What every step starts from: the stay (Encounter), its patient, ward unit and hospital, read
through the access policy, and who may take the step."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vardnav.domains.adt.codes import V3_ACT_CODE
from vardnav.domains.discharge.case import fetch, ref_id
from vardnav.domains.identity.access.principal import Principal
from vardnav.domains.identity.organisation.assignments import PROVIDER_TYPES, hsa_of, org_type
from vardnav.errors import BusinessRuleViolation, Forbidden, NotFound
from vardnav.fhir.storage.repository import Repository

_MAX_DEPTH = 6


@dataclass(frozen=True)
class Stay:
    encounter: dict[str, Any]
    patient: dict[str, Any]
    unit: dict[str, Any]  # the ward's care unit (Encounter.serviceProvider)
    hospital: dict[str, Any] | None  # the nearest Organization typed hospital above it
    provider: dict[str, Any] | None  # the unit's care provider (the region)

    @property
    def id(self) -> str:
        return str(self.encounter["id"])


def caller(repo: Repository) -> Principal:
    p = repo.ctx.principal
    if not (isinstance(p, Principal) and p.kind in ("staff", "system")):
        raise Forbidden("Discharge coordination steps are taken by staff or by system "
                        "integrations")
    return p


def authorize_writes(repo: Repository, *types: str) -> None:
    """Fail before anything is written if the caller may not write what the step writes."""
    caller(repo)
    for rtype in types:
        repo.authorize("create", rtype)
        repo.authorize("update", rtype)


def ancestor(repo: Repository, org: dict[str, Any] | None,
             kinds: tuple[str, ...]) -> dict[str, Any] | None:
    """The Organization itself or the nearest one up `partOf` whose type is one of `kinds`."""
    for _ in range(_MAX_DEPTH):
        if org is None or org_type(org) in kinds:
            return org
        org = fetch(repo, "Organization", ref_id(org.get("partOf"), "Organization"))
    return None


def load_stay(repo: Repository, encounter_id: str) -> Stay:
    enc = fetch(repo, "Encounter", encounter_id)
    if enc is None:
        raise NotFound(f"Encounter/{encounter_id} is not known")
    klass = enc.get("class") or {}
    if not (klass.get("system") == V3_ACT_CODE and klass.get("code") in ("IMP", "ACUTE")):
        raise BusinessRuleViolation(f"Encounter/{encounter_id} is not an inpatient stay; "
                                    "discharge coordination concerns inpatient care")
    patient = fetch(repo, "Patient", ref_id(enc.get("subject"), "Patient"))
    if patient is None:
        raise BusinessRuleViolation(f"Encounter/{encounter_id} names no patient")
    unit = fetch(repo, "Organization", ref_id(enc.get("serviceProvider"), "Organization"))
    if unit is None:
        raise BusinessRuleViolation(f"Encounter/{encounter_id} names no care unit "
                                    "(serviceProvider)")
    return Stay(enc, patient, unit, ancestor(repo, unit, ("hospital",)),
                ancestor(repo, unit, PROVIDER_TYPES))


def require_hospital_side(repo: Repository, stay: Stay) -> None:
    """Steps of the hospital (mark, notices, planning, ready, discharge information) are taken
    by the staff of the stay's care provider: a receiver who may read the stay may not
    declare it ready."""
    p = caller(repo)
    if p.kind == "system":
        return
    provider = hsa_of(stay.provider) if stay.provider else None
    if p.provider != provider:
        raise Forbidden("Only the hospital's care provider takes this step of the discharge "
                        "coordination")


def require_unit(repo: Repository, unit: dict[str, Any] | None, what: str) -> None:
    """Steps of the primary-care unit (named care contact, SIP) are taken at that unit."""
    p = caller(repo)
    if p.kind == "system":
        return
    if unit is None:
        raise BusinessRuleViolation(f"The case has no primary-care unit to {what}")
    hsa = ((unit.get("identifier") or {}).get("value") if "reference" in unit
           else hsa_of(unit))
    if p.unit != hsa:
        raise Forbidden(f"Only staff of {unit.get('display') or unit.get('name') or hsa} "
                        f"{what}")


def physician_of(repo: Repository, given: str | None) -> str:
    """The assessing physician: the calling physician, or the Practitioner a system names."""
    p = caller(repo)
    if p.kind == "staff":
        if p.role != "physician":
            raise Forbidden("Only a physician judges a patient ready for discharge")
        person = ref_id({"reference": p.fhir_user}, "Practitioner") if p.fhir_user else None
        given = given or person
    if not given:
        raise BusinessRuleViolation("Name the assessing physician (the 'physician' "
                                    "parameter)")
    if fetch(repo, "Practitioner", given) is None:
        raise NotFound(f"The physician Practitioner/{given} is not known")
    return given
