"""Codes and extension URLs the ADT workflow writes (documented in docs/adt.md)."""

from __future__ import annotations

from typing import Any

V3_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
# Encounter.class by kind of encounter.
CLASS_CODES = {"inpatient": ("IMP", "inpatient encounter"),
               "outpatient": ("AMB", "ambulatory"),
               "emergency": ("EMER", "emergency")}
VISIT_KINDS = ("outpatient", "emergency")

PARTICIPATION_TYPE = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
# The responsible nurse has no code of their own in v3-ParticipationType: ours, plus PART.
PARTICIPANT_ROLE = "https://vardnav.se/fhir/CodeSystem/encounter-participant"
ROLES = ("attending", "nurse")

# Discharge disposition: our codes, each with the nearest code of HL7's discharge-disposition
# code system as a second coding (for systems that know only that one).
DISPOSITION_SYSTEM = "https://vardnav.se/fhir/CodeSystem/discharge-disposition"
HL7_DISPOSITION = "http://terminology.hl7.org/CodeSystem/discharge-disposition"
DISPOSITIONS: dict[str, tuple[str, str]] = {
    "home": ("Hem", "home"),
    "home-municipal-care": ("Hem med kommunal vård och omsorg", "home"),
    "nursing-home": ("Särskilt boende", "long"),
    "other-hospital": ("Annat sjukhus", "other-hcf"),
    "deceased": ("Avliden", "exp"),
}

# R5's planned start and end of an Encounter, as the official cross-version extensions: the
# expected arrival of a pre-admission and the expected discharge of a stay.
PLANNED_START = ("http://hl7.org/fhir/5.0/StructureDefinition/"
                 "extension-Encounter.plannedStartDate")
PLANNED_END = "http://hl7.org/fhir/5.0/StructureDefinition/extension-Encounter.plannedEndDate"

LOCATION_TYPE = "http://terminology.hl7.org/CodeSystem/location-physical-type"
BED_STATUS = "http://terminology.hl7.org/CodeSystem/v2-0116"
BED_STATUSES = {"C": "Closed", "H": "Housekeeping", "O": "Occupied", "U": "Unoccupied"}

LOINC = "http://loinc.org"
DISCHARGE_SUMMARY = "18842-5"


def class_coding(kind: str) -> dict[str, str]:
    code, display = CLASS_CODES[kind]
    return {"system": V3_ACT_CODE, "code": code, "display": display}


def participant_type(role: str) -> list[dict[str, Any]]:
    if role == "attending":
        return [{"coding": [{"system": PARTICIPATION_TYPE, "code": "ATND",
                             "display": "attender"}]}]
    return [{"coding": [{"system": PARTICIPANT_ROLE, "code": "nurse",
                         "display": "Responsible nurse"},
                        {"system": PARTICIPATION_TYPE, "code": "PART",
                         "display": "Participation"}]}]


def role_of(participant: dict[str, Any]) -> str | None:
    codes = {(c.get("system"), c.get("code")) for t in participant.get("type", [])
             for c in t.get("coding", [])}
    if (PARTICIPATION_TYPE, "ATND") in codes:
        return "attending"
    if (PARTICIPANT_ROLE, "nurse") in codes:
        return "nurse"
    return None


def disposition_concept(code: str) -> dict[str, Any]:
    display, hl7 = DISPOSITIONS[code]
    return {"coding": [{"system": DISPOSITION_SYSTEM, "code": code, "display": display},
                       {"system": HL7_DISPOSITION, "code": hl7}]}


def disposition_of(encounter: dict[str, Any]) -> str | None:
    concept = (encounter.get("hospitalization") or {}).get("dischargeDisposition") or {}
    return next((c.get("code") for c in concept.get("coding", [])
                 if c.get("system") == DISPOSITION_SYSTEM), None)


def physical_type(location: dict[str, Any]) -> str | None:
    """bu (building), wa (ward), ro (room), bd (bed)..."""
    return next((c.get("code") for c in (location.get("physicalType") or {}).get("coding", [])
                 if c.get("system") == LOCATION_TYPE), None)


def bed_status(bed: dict[str, Any]) -> str | None:
    status = bed.get("operationalStatus") or {}
    return status.get("code") if status.get("system") == BED_STATUS else None


def bed_status_coding(code: str) -> dict[str, str]:
    return {"system": BED_STATUS, "code": code, "display": BED_STATUSES[code]}
