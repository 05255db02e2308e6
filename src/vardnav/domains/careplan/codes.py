"""Code systems, extensions and codes of the care plan domain (docs/careplan.md).

Everything Vårdnav defines lives under https://vardnav.se/fhir; professions reuse the
identity domain's CodeSystem so a plan's "responsible profession" matches the profession a
staff member's assignment carries.
"""

from __future__ import annotations

from typing import Any

from vardnav.domains.identity.organisation.staff import PROFESSION_SYSTEM, PROFESSIONS

BASE = "https://vardnav.se/fhir"
SD = f"{BASE}/StructureDefinition"

# CarePlan.category of the one interprofessional plan per patient and episode.
PLAN_CATEGORY = f"{BASE}/CodeSystem/care-plan-category"
INTERPROFESSIONAL = "interprofessional"

# Extensions (all server-set except where noted in docs/careplan.md).
RECORDED_BY = f"{SD}/recorded-by"  # who recorded an entry: staff, profession, unit, provider
RESPONSIBLE_PROFESSION = f"{SD}/responsible-profession"  # activity: valueCoding
FOLLOW_UP = f"{SD}/follow-up-date"  # plan or activity: valueDate
RESPONSIBLE_UNIT = f"{SD}/careplan-responsible-unit"  # plan: valueReference (Organization)
PROPOSED_BY = f"{SD}/proposed-by"  # activity proposed by an assessment: valueReference
EVALUATION_OUTCOME = f"{SD}/evaluation-outcome"  # Annotation: valueCodeableConcept
CLOSE_REASON = f"{SD}/careplan-close-reason"  # plan: valueCoding (discharge, transfer, ...)
ATTENTION_SEVERITY = f"{SD}/attention-severity"  # Flag: valueCode high | moderate | low
# The official R4 extension pointing a Flag at the record behind it (the attention Condition).
FLAG_DETAIL = "http://hl7.org/fhir/StructureDefinition/flag-detail"
# Questionnaire answer points (official R4 extension on Coding).
ORDINAL_VALUE = "http://hl7.org/fhir/StructureDefinition/ordinalValue"

# Why an activity is in the plan, for template actions and the risks they answer.
RISK = f"{BASE}/CodeSystem/senior-alert-risk"
RISKS = {"pressure-ulcer": "Risk för trycksår", "falls": "Fallrisk",
         "malnutrition": "Risk för undernäring"}

# Risk assessment Observations: code and interpretation.
ASSESSMENT = f"{BASE}/CodeSystem/risk-assessment"
RISK_LEVEL = f"{BASE}/CodeSystem/risk-level"

# Close reasons of a plan.
CLOSE = f"{BASE}/CodeSystem/careplan-close-reason"
CLOSE_REASONS = {"discharge": "Utskrivning", "transfer": "Överflyttning",
                 "handover": "Överlämnad", "completed": "Avslutad",
                 "cancelled-admission": "Inskrivningen makulerad"}

# Evaluation outcomes: the official goal-achievement codes.
ACHIEVEMENT = "http://terminology.hl7.org/CodeSystem/goal-achievement"
ACHIEVEMENTS = ("in-progress", "improving", "worsening", "no-change", "achieved",
                "sustaining", "not-achieved", "no-progress", "not-attainable")

# Attention signal categories (domain.md §4) on Flag.category and Condition.category.
ATTENTION = f"{BASE}/CodeSystem/attention-category"
ATTENTION_CATEGORIES = {
    "hypersensitivity": "Överkänslighet",
    "serious-disease": "Allvarlig sjukdom",
    "treatment": "Behandling",
    "communicable-disease": "Smitta",
    "care-restriction": "Vårdbegränsning",
}
SEVERITIES = ("high", "moderate", "low")
SNOMED = "http://snomed.info/sct"
# Condition.severity (SNOMED CT) → attention severity.
CONDITION_SEVERITY = {"24484000": "high", "6736007": "moderate", "255604002": "low"}

ACTIVITY_STATUSES = ("not-started", "scheduled", "in-progress", "on-hold", "completed",
                     "cancelled", "stopped")
DONE_STATUSES = ("completed", "cancelled", "stopped", "entered-in-error")


def concept(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    coding: dict[str, Any] = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding]}


def code_of(value: Any, system: str) -> str | None:
    """The code from `system` in a CodeableConcept or a list of them, else None."""
    concepts = value if isinstance(value, list) else [value]
    for cc in concepts:
        if isinstance(cc, dict):
            for coding in cc.get("coding") or []:
                if isinstance(coding, dict) and coding.get("system") == system:
                    return coding.get("code")
    return None


def profession(code: str) -> dict[str, Any]:
    return {"system": PROFESSION_SYSTEM, "code": code, "display": PROFESSIONS[code]}


def ext(resource: dict[str, Any], url: str) -> Any:
    """The value[x] of the first extension with `url` on an element, else None."""
    for e in resource.get("extension") or []:
        if isinstance(e, dict) and e.get("url") == url:
            return next((v for k, v in e.items() if k.startswith("value")), None)
    return None


def set_ext(element: dict[str, Any], url: str, **value_x: Any) -> None:
    """Replace the extension `url` on an element (none if the value is None)."""
    kept = [e for e in element.get("extension") or [] if e.get("url") != url]
    if any(v is not None for v in value_x.values()):
        kept.append({"url": url, **value_x})
    if kept:
        element["extension"] = kept
    else:
        element.pop("extension", None)
