"""The demo region as FHIR: the region and its hospitals, wards, rooms and beds, primary care,
private care providers with their primary care units, all 49 municipalities with their chosen
options, school health services (option 2), municipal home care units (option 3), and staff
with one PractitionerRole per assignment.

Every care provider and care unit carries an HSA-id (`urn:oid:1.2.752.29.4.19`). The region's
HSA prefix is real; the other HSA-ids are synthetic (`SE0000…`), made from municipality codes.
Options are an extension on the municipality's Organization:
`https://vardnav.se/fhir/StructureDefinition/municipality-option` (valueCode "1", "2", "3").
"""

from __future__ import annotations

import uuid
from typing import Any

from vardnav.domains.identity.organisation.region_data import (
    HOSPITALS,
    MUNICIPALITIES,
    OPTION_2_SCHOOL_HEALTH,
    OPTION_3_SHARED_RECORD,
    PRIMARY_CARE,
    PRIVATE_PROVIDERS,
    REGION_HSA,
    REGION_NAME,
)
from vardnav.domains.identity.organisation.staff import Assignment, practitioner, practitioner_role

HSA_SYSTEM = "urn:oid:1.2.752.29.4.19"
MUNICIPALITY_CODE_SYSTEM = "https://vardnav.se/fhir/CodeSystem/kommunkod"
OPTION_EXTENSION = "https://vardnav.se/fhir/StructureDefinition/municipality-option"
ORG_TYPE_SYSTEM = "https://vardnav.se/fhir/CodeSystem/organization-type"
LOCATION_TYPE = "http://terminology.hl7.org/CodeSystem/location-physical-type"
BED_STATUS = "http://terminology.hl7.org/CodeSystem/v2-0116"
HTEST = {"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "HTEST",
         "display": "test health data"}
_NAMESPACE = uuid.UUID("0b3c2a52-5d0e-4f57-9a47-6a1f0c1e2d3b")
WARD_PROFESSIONS = ("physician", "registered-nurse", "assistant-nurse")


def options_for(code: str) -> list[str]:
    """The options a municipality has chosen (option 1 for all, in this programme)."""
    chosen = ["1"]
    if code in OPTION_2_SCHOOL_HEALTH:
        chosen.append("2")
    if code in OPTION_3_SHARED_RECORD:
        chosen.append("3")
    return chosen


def _urn(key: str) -> str:
    return f"urn:uuid:{uuid.uuid5(_NAMESPACE, key)}"


def _hsa(value: str) -> list[dict[str, str]]:
    return [{"system": HSA_SYSTEM, "value": value}]


def _org_type(code: str) -> list[dict[str, Any]]:
    return [{"coding": [{"system": ORG_TYPE_SYSTEM, "code": code}]}]


class _Builder:
    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []
        self.assignments: list[Assignment] = []

    def add(self, key: str, resource: dict[str, Any], hsa_id: str) -> str:
        """Add a resource, created once: re-running the demo finds it by its HSA-id."""
        full_url = _urn(key)
        resource["meta"] = {"tag": [HTEST]}
        self.entries.append({
            "fullUrl": full_url, "resource": resource,
            "request": {"method": "POST", "url": resource["resourceType"],
                        "ifNoneExist": f"identifier={HSA_SYSTEM}|{hsa_id}"}})
        return full_url


def region_bundle() -> dict[str, Any]:
    """One transaction Bundle with the whole region (conditional creates: idempotent)."""
    b = _Builder()
    region = b.add("region", {"resourceType": "Organization", "identifier": _hsa(REGION_HSA),
                              "active": True, "type": _org_type("region"),
                              "name": REGION_NAME}, REGION_HSA)
    for code, name, city, wards in HOSPITALS:
        hsa = f"{REGION_HSA[:13]}{code}"
        hospital_org = b.add(f"hospital-org/{code}", {
            "resourceType": "Organization", "identifier": _hsa(hsa), "active": True,
            "type": _org_type("hospital"), "name": name, "partOf": {"reference": region},
            "address": [{"city": city}]}, hsa)
        hospital_loc = b.add(f"hospital-loc/{code}", {
            "resourceType": "Location", "identifier": _hsa(f"{hsa}-L"), "status": "active",
            "name": name, "mode": "instance",
            "physicalType": {"coding": [{"system": LOCATION_TYPE, "code": "bu"}]},
            "managingOrganization": {"reference": hospital_org}}, f"{hsa}-L")
        for ward_code, ward_name, beds in wards:
            _ward(b, hsa, ward_code, ward_name, beds, hospital_org, hospital_loc)
    for profession in ("log-reviewer", "administrator"):
        b.assignments.append(Assignment(f"region-{profession}", "region", profession))
    for profession in ("physiotherapist", "occupational-therapist", "dietitian",
                       "medical-secretary", "social-worker"):
        b.assignments.append(Assignment(f"MED1-{profession}", "ward-org/MED1", profession))
    # One physician works on two wards: at sign-in they choose the assignment.
    b.assignments.append(Assignment("MED1-physician", "ward-org/GER2", "physician"))
    for code, name, municipality in PRIMARY_CARE:
        _care_unit(b, f"primary/{code}", f"{REGION_HSA[:13]}{code}", "primary-care", name,
                   region, ("physician", "registered-nurse"), code,
                   extension=[{"url": MUNICIPALITY_CODE_SYSTEM, "valueString": municipality}])
    for code, provider_name, unit_name, municipality in PRIVATE_PROVIDERS:
        hsa = f"SE0000{code}0000-P{code}"
        provider = b.add(f"private/{code}", {
            "resourceType": "Organization", "identifier": _hsa(hsa), "active": True,
            "type": _org_type("private"), "name": provider_name}, hsa)
        _care_unit(b, f"private-unit/{code}", f"{hsa}-VC", "primary-care", unit_name,
                   provider, ("physician", "registered-nurse"), code,
                   extension=[{"url": MUNICIPALITY_CODE_SYSTEM, "valueString": municipality}])
    for code, name in MUNICIPALITIES:
        hsa = f"SE0000{code}0000-K{code}"
        municipality = b.add(f"municipality/{code}", {
            "resourceType": "Organization", "identifier": [
                *_hsa(hsa), {"system": MUNICIPALITY_CODE_SYSTEM, "value": code}],
            "active": True, "type": _org_type("municipality"), "name": name,
            "extension": [{"url": OPTION_EXTENSION, "valueCode": o}
                          for o in options_for(code)]}, hsa)
        if "3" in options_for(code):
            _care_unit(b, f"home-care/{code}", f"{hsa}-HSV", "care-unit",
                       f"Hemsjukvården {name}", municipality,
                       ("registered-nurse", "assistant-nurse", "physiotherapist"),
                       f"{code}-home")
        if "2" in options_for(code):
            _care_unit(b, f"school-health/{code}", f"{hsa}-EH", "school-health",
                       f"Elevhälsan {name}", municipality,
                       ("school-nurse", "school-physician"), code)
    # A discharge coordinator at Göteborg's municipality itself (not a care unit below it):
    # the notices of coordinated discharge are owned by the municipality's Organization.
    b.assignments.append(Assignment("K1480-coordinator", "municipality/1480",
                                    "registered-nurse"))
    _staff(b)
    return {"resourceType": "Bundle", "type": "transaction", "entry": b.entries}


def _care_unit(b: _Builder, key: str, hsa: str, type_code: str, name: str, parent: str,
               professions: tuple[str, ...], person_prefix: str,
               extension: list[dict[str, Any]] | None = None) -> str:
    """A care unit's Organization under `parent`, with one staff member per profession."""
    unit: dict[str, Any] = {"resourceType": "Organization", "identifier": _hsa(hsa),
                            "active": True, "type": _org_type(type_code), "name": name,
                            "partOf": {"reference": parent}}
    if extension:
        unit["extension"] = extension
    for profession in professions:
        b.assignments.append(Assignment(f"{person_prefix}-{profession}", key, profession))
    return b.add(key, unit, hsa)


def _staff(b: _Builder) -> None:
    """One Practitioner per person, one PractitionerRole per assignment."""
    people: dict[str, str] = {}
    for n, a in enumerate(b.assignments):
        if a.person not in people:
            hsa = f"SE2321000131-P{len(people) + 1:05d}"
            people[a.person] = b.add(f"person/{a.person}", practitioner(
                HSA_SYSTEM, hsa, len(people)), hsa)
        role_hsa = f"SE2321000131-A{n + 1:05d}"
        b.add(f"role/{n}", practitioner_role(HSA_SYSTEM, role_hsa, people[a.person],
                                             _urn(a.unit_key), a.profession), role_hsa)


def _ward(b: _Builder, hospital_hsa: str, code: str, name: str, beds: int,
          hospital_org: str, hospital_loc: str) -> None:
    hsa = f"{hospital_hsa}-{code}"
    unit = _care_unit(b, f"ward-org/{code}", hsa, "care-unit", name, hospital_org,
                      WARD_PROFESSIONS, code)
    ward = b.add(f"ward-loc/{code}", {
        "resourceType": "Location", "identifier": _hsa(f"{hsa}-L"), "status": "active",
        "name": name, "mode": "instance",
        "physicalType": {"coding": [{"system": LOCATION_TYPE, "code": "wa"}]},
        "managingOrganization": {"reference": unit}, "partOf": {"reference": hospital_loc}},
        f"{hsa}-L")
    for room_no in range((beds + 1) // 2):
        room_id = f"{hsa}-R{room_no + 1}"
        room = b.add(f"room/{room_id}", {
            "resourceType": "Location", "identifier": _hsa(room_id), "status": "active",
            "name": f"{name}, sal {room_no + 1}", "mode": "instance",
            "physicalType": {"coding": [{"system": LOCATION_TYPE, "code": "ro"}]},
            "managingOrganization": {"reference": unit}, "partOf": {"reference": ward}},
            room_id)
        for bed_no in range(min(2, beds - 2 * room_no)):
            bed_id = f"{room_id}-B{bed_no + 1}"
            b.add(f"bed/{bed_id}", {
                "resourceType": "Location", "identifier": _hsa(bed_id), "status": "active",
                "name": f"{name}, sal {room_no + 1}, säng {bed_no + 1}", "mode": "instance",
                "operationalStatus": {"system": BED_STATUS, "code": "U",
                                      "display": "Unoccupied"},
                "physicalType": {"coding": [{"system": LOCATION_TYPE, "code": "bd"}]},
                "managingOrganization": {"reference": unit}, "partOf": {"reference": room}},
                bed_id)
