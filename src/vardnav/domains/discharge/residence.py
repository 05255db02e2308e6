"""Who receives a stay's notices: the municipality of residence (from the patient's
registered address) and the primary-care unit the patient is listed at.

The municipality is read from the patient's current home address: an address extension
`https://vardnav.se/fhir/CodeSystem/kommunkod` (the municipality code), else
`Address.district` holding the municipality code or the municipality's name (the demo
population stores the name there). The city is not used: a postal town is not a municipality
(Mölnlycke lies in Härryda). The listing is `Patient.generalPractitioner` naming the
primary-care Organization (or a PractitionerRole at it). Both can be given explicitly, which
is the only way for a patient with protected identity, whose address staff never see.
"""

from __future__ import annotations

from typing import Any

from vardnav.domains.discharge.case import fetch, ref_id
from vardnav.domains.identity.organisation.assignments import hsa_of, org_type
from vardnav.domains.identity.organisation.region import (
    HSA_SYSTEM,
    MUNICIPALITY_CODE_SYSTEM,
    ORG_TYPE_SYSTEM,
)
from vardnav.errors import BadRequest, BusinessRuleViolation
from vardnav.fhir.storage.repository import Repository


def org_reference(org: dict[str, Any]) -> dict[str, Any]:
    """A reference that still says who is meant if the Organization is not readable."""
    ref: dict[str, Any] = {"reference": f"Organization/{org['id']}"}
    if org.get("name"):
        ref["display"] = org["name"]
    hsa = hsa_of(org)
    if hsa:
        ref["identifier"] = {"system": HSA_SYSTEM, "value": hsa}
    return ref


def municipality_code(org: dict[str, Any]) -> str | None:
    return next((i.get("value") for i in org.get("identifier", [])
                 if i.get("system") == MUNICIPALITY_CODE_SYSTEM), None)


def municipality_of(repo: Repository, patient: dict[str, Any],
                    given: str | None = None) -> dict[str, Any]:
    """The municipality Organization of residence (or the one given by id)."""
    if given:
        org = fetch(repo, "Organization", given)
        if org is None or org_type(org) != "municipality":
            raise BadRequest(f"Organization/{given} is not a municipality")
        return org
    code, name = _registered_municipality(patient)
    found: list[str] = []
    if code:
        found = repo.search_ids("Organization", [("identifier",
                                                  f"{MUNICIPALITY_CODE_SYSTEM}|{code}")])
    elif name:
        found = repo.search_ids("Organization", [
            ("name:exact", name), ("type", f"{ORG_TYPE_SYSTEM}|municipality")])
    else:
        raise BusinessRuleViolation(
            f"Patient/{patient['id']} has no registered home address with a municipality "
            "that the caller may see (none recorded, or protected identity); name the "
            "municipality of residence with the 'municipality' parameter")
    if len(found) != 1:
        raise BusinessRuleViolation(
            f"The registered municipality {code or name!r} of Patient/{patient['id']} "
            f"matches {len(found) or 'no'} municipality; name it with 'municipality'")
    org = fetch(repo, "Organization", found[0])
    assert org is not None
    return org


def _registered_municipality(patient: dict[str, Any]) -> tuple[str | None, str | None]:
    for address in patient.get("address", []):
        if address.get("use") in ("old", "temp", "billing") or \
                (address.get("period") or {}).get("end"):
            continue
        for ext in address.get("extension", []):
            if ext.get("url") == MUNICIPALITY_CODE_SYSTEM:
                code = ext.get("valueString") or ext.get("valueCode") or \
                    (ext.get("valueCoding") or {}).get("code")
                if code:
                    return str(code), None
        district = (address.get("district") or "").strip()
        if district:
            return (district, None) if district.isdigit() else (None, district)
    return None, None


def primary_care_of(repo: Repository, patient: dict[str, Any],
                    given: str | None = None) -> dict[str, Any] | None:
    """The primary-care unit the patient is listed at (or the one given by id), or None."""
    if given:
        org = fetch(repo, "Organization", given)
        if org is None or org_type(org) != "primary-care":
            raise BadRequest(f"Organization/{given} is not a primary-care unit")
        return org
    for gp in patient.get("generalPractitioner", []):
        org_id = ref_id(gp, "Organization")
        if org_id is None and (role_id := ref_id(gp, "PractitionerRole")):
            role = fetch(repo, "PractitionerRole", role_id)
            org_id = ref_id((role or {}).get("organization"), "Organization")
        org = fetch(repo, "Organization", org_id)
        if org is not None and org_type(org) == "primary-care":
            return org
    return None

