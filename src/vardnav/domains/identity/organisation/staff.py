"""Demo staff: a Practitioner per person and a PractitionerRole per assignment (care unit,
profession, validity period), for every role the platform knows.

Professions are coded in Vårdnav's own CodeSystem (`PROFESSION_SYSTEM`); a deployment maps
them to HSA titles. HSA-ids of staff are synthetic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PROFESSION_SYSTEM = "https://vardnav.se/fhir/CodeSystem/profession"
PROFESSIONS: dict[str, str] = {
    "physician": "Läkare",
    "registered-nurse": "Sjuksköterska",
    "assistant-nurse": "Undersköterska",
    "physiotherapist": "Fysioterapeut",
    "occupational-therapist": "Arbetsterapeut",
    "dietitian": "Dietist",
    "school-nurse": "Skolsköterska",
    "school-physician": "Skolläkare",
    "social-worker": "Kurator",
    "medical-secretary": "Medicinsk sekreterare",
    "log-reviewer": "Loggranskare",
    "administrator": "Administratör",
}
ASSIGNMENT_START = "2020-01-01"

_GIVEN = ["Anna", "Erik", "Maria", "Johan", "Karin", "Lars", "Sara", "Nils", "Elin", "Olof",
          "Maja", "Per", "Ida", "Gustav", "Lena", "Åke", "Märta", "Sören", "Ylva", "Björn"]
_FAMILY = ["Lindberg", "Holm", "Sandberg", "Ek", "Forsberg", "Lund", "Berglund", "Sjögren",
           "Wallin", "Engström", "Dahl", "Hedlund", "Åström", "Nordin", "Söderberg"]


@dataclass(frozen=True)
class Assignment:
    """Someone's work at one care unit in one profession."""

    person: str  # a stable key for the person; the same key means the same Practitioner
    unit_key: str  # the builder key of the unit's Organization
    profession: str


def person_name(n: int) -> dict[str, Any]:
    return {"family": _FAMILY[n % len(_FAMILY)], "given": [_GIVEN[(n * 7) % len(_GIVEN)]]}


def practitioner(hsa_system: str, hsa_id: str, n: int) -> dict[str, Any]:
    return {"resourceType": "Practitioner", "active": True,
            "identifier": [{"system": hsa_system, "value": hsa_id}], "name": [person_name(n)]}


def practitioner_role(hsa_system: str, hsa_id: str, practitioner_ref: str, unit_ref: str,
                      profession: str) -> dict[str, Any]:
    return {"resourceType": "PractitionerRole", "active": True,
            "identifier": [{"system": hsa_system, "value": hsa_id}],
            "period": {"start": ASSIGNMENT_START},
            "practitioner": {"reference": practitioner_ref},
            "organization": {"reference": unit_ref},
            "code": [{"coding": [{"system": PROFESSION_SYSTEM, "code": profession,
                                  "display": PROFESSIONS[profession]}]}]}
