"""Health problems of the plan: Condition resources (category problem-list-item, and an
attention category when the problem belongs in the attention signal), referenced from
CarePlan.addresses. A problem recorded by a nurse is a VIPS nursing diagnosis."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from vardnav.domains.careplan import attention, vips
from vardnav.domains.careplan import codes as c
from vardnav.domains.careplan.entries import Author, mark
from vardnav.domains.discharge.case import iso
from vardnav.errors import BadRequest
from vardnav.fhir.storage.repository import Repository

CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
_SEVERITY_CODES = {v: k for k, v in c.CONDITION_SEVERITY.items()}
_SEVERITY_DISPLAY = {"high": "Severe", "moderate": "Moderate", "low": "Mild"}


@dataclass
class ProblemInput:
    code: dict[str, Any] | None  # CodeableConcept (a coding or just text)
    attention: str | None = None  # attention category, if it belongs in the signal
    severity: str | None = None  # high | moderate | low
    keyword: str | None = None


def create(repo: Repository, problem: ProblemInput, *, plan: dict[str, Any], author: Author,
           now: datetime) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Create the Condition (and its attention Flag) and list it in the (unsaved) plan."""
    if not problem.code or not (problem.code.get("text") or problem.code.get("coding")):
        raise BadRequest("A problem needs a code or a text ('code')")
    if problem.severity is not None and problem.severity not in c.SEVERITIES:
        raise BadRequest(f"severity must be one of {', '.join(c.SEVERITIES)}")
    categories = [c.concept(CONDITION_CATEGORY, "problem-list-item", "Problem List Item")]
    if problem.attention:
        categories.append({"coding": [attention.category_coding(problem.attention)]})
    condition: dict[str, Any] = {
        "resourceType": "Condition",
        "clinicalStatus": c.concept("http://terminology.hl7.org/CodeSystem/"
                                    "condition-clinical", "active"),
        "category": categories, "code": problem.code, "subject": plan["subject"],
        "recordedDate": iso(now)}
    if plan.get("encounter"):
        condition["encounter"] = plan["encounter"]
    if author.practitioner:
        condition["recorder"] = {"reference": author.practitioner}
    if problem.severity:
        condition["severity"] = c.concept(c.SNOMED, _SEVERITY_CODES[problem.severity],
                                          _SEVERITY_DISPLAY[problem.severity])
    vips.tag(condition, vips.keyword_for("problem", author.profession, problem.keyword))
    stored = repo.create("Condition", mark(condition, author, now)).resource
    assert stored is not None
    plan.setdefault("addresses", []).append({"reference": f"Condition/{stored['id']}"})
    flag = None
    if problem.attention:
        patient = plan["subject"]["reference"].rpartition("/")[2]
        flag = attention.mark_attention(
            repo, patient_id=patient, category=problem.attention,
            severity=problem.severity or "moderate", author=author, now=now,
            condition_id=stored["id"])
    return stored, flag
