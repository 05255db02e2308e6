"""The attention signal (uppmärksamhetssignal, domain.md §4): `Patient/{id}/$attention-signal`.

Items, each with a category (attention-category CodeSystem) and a severity (high, moderate,
low):
- AllergyIntolerance with criticality `high` or a `severe` reaction → hypersensitivity;
- active Flags with an attention category (serious disease, treatment, communicable disease,
  restriction of care, or a hypersensitivity recorded as a flag), severity in the
  `attention-severity` extension;
- active Conditions with an attention category in Condition.category, severity from
  Condition.severity (SNOMED CT severe / moderate / mild).

Visibility under blocks reuses the PDL representation as it is: a block Consent with
`block-exempts-attention` true leaves the attention *types* (AllergyIntolerance, Flag —
`domains/access/profiles.ATTENTION_TYPES`) visible. A Condition is not an attention type, so
an attention Condition is signalled through a Flag that points at it (the official
`flag-detail` extension) and carries its text: `Patient/{id}/$attention-mark` records that
Flag, and a problem added to a plan with an attention category gets one automatically. Under
an exempting block the Flag shows where the Condition itself is hidden; everything is read
through the Repository, so PDL, scopes and the access log apply, and the answer carries the
PDL notices that blocked data exists.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fhirpathpy import compile as fhirpath_compile

from vardnav.domains.careplan import codes as c
from vardnav.domains.careplan.entries import Author, mark
from vardnav.domains.discharge.case import fetch, iso, ref_id
from vardnav.errors import BadRequest, BusinessRuleViolation, NotFound
from vardnav.fhir.storage.repository import Repository

_ORDER = {s: n for n, s in enumerate(c.SEVERITIES)}
_CATEGORY_ORDER = {k: n for n, k in enumerate(c.ATTENTION_CATEGORIES)}
# The rules as FHIRPath, so they read as the profile would state them (compiled once).
_CURRENT = ("clinicalStatus.coding.where(code = 'inactive' or code = 'resolved' or "
            "code = 'remission').empty() and verificationStatus.coding.where("
            "code = 'refuted' or code = 'entered-in-error').empty()")
_IS_CURRENT = fhirpath_compile(_CURRENT)
_IS_SEVERE_ALLERGY = fhirpath_compile(
    f"(criticality = 'high' or reaction.severity contains 'severe') and {_CURRENT}")


def _true(rule: Any, resource: dict[str, Any]) -> bool:
    return rule(resource) == [True]


def category_coding(code: str) -> dict[str, Any]:
    if code not in c.ATTENTION_CATEGORIES:
        raise BadRequest(f"category must be one of {', '.join(c.ATTENTION_CATEGORIES)}")
    return {"system": c.ATTENTION, "code": code, "display": c.ATTENTION_CATEGORIES[code]}


def mark_attention(repo: Repository, *, patient_id: str, category: str, severity: str,
                   author: Author, now: datetime, text: str | None = None,
                   condition_id: str | None = None) -> dict[str, Any]:
    """Record an attention Flag (optionally for a Condition, whose text it carries)."""
    if severity not in c.SEVERITIES:
        raise BadRequest(f"severity must be one of {', '.join(c.SEVERITIES)}")
    code: dict[str, Any] = {"text": text} if text else {}
    detail = None
    if condition_id:
        condition = fetch(repo, "Condition", condition_id)
        if condition is None:
            raise NotFound(f"Condition/{condition_id} is not known")
        if ref_id(condition.get("subject"), "Patient") != patient_id:
            raise BusinessRuleViolation(f"Condition/{condition_id} belongs to another patient")
        code = dict(condition.get("code") or {})
        code["text"] = text or code.get("text") or next(
            (x.get("display") for x in code.get("coding", []) if x.get("display")), None)
        detail = f"Condition/{condition_id}"
    if not code.get("text"):
        raise BadRequest("Say what the attention item is: 'text' or a 'condition'")
    flag: dict[str, Any] = {
        "resourceType": "Flag", "status": "active",
        "category": [{"coding": [category_coding(category)]}], "code": code,
        "subject": {"reference": f"Patient/{patient_id}"}, "period": {"start": iso(now)}}
    if author.practitioner:
        flag["author"] = {"reference": author.practitioner}
    c.set_ext(flag, c.ATTENTION_SEVERITY, valueCode=severity)
    if detail:
        flag["extension"].append({"url": c.FLAG_DETAIL, "valueReference": {"reference": detail}})
    stored = repo.create("Flag", mark(flag, author, now)).resource
    assert stored is not None
    return stored


def _search(repo: Repository, rtype: str, pairs: list[tuple[str, str]],
            notices: list[str]) -> list[dict[str, Any]]:
    result = repo.search(repo.parse(rtype, [*pairs, ("_count", "200")]))
    notices.extend(n for n in result.notices if n not in notices)
    return result.matches


def _text(concept: Any) -> str:
    if not isinstance(concept, dict):
        return ""
    return concept.get("text") or next((x.get("display") or x.get("code", "")
                                        for x in concept.get("coding", [])), "")


def signal(repo: Repository, patient_id: str) -> tuple[list[dict[str, Any]], list[str]]:
    """The attention items the caller may see, most severe first, and the PDL notices."""
    repo.read("Patient", patient_id)  # 404 for an unknown patient, and logged as opened
    notices: list[str] = []
    items: list[dict[str, Any]] = []
    subject = f"Patient/{patient_id}"
    for allergy in _search(repo, "AllergyIntolerance", [("patient", subject)], notices):
        if not _true(_IS_SEVERE_ALLERGY, allergy):
            continue
        items.append(_item("hypersensitivity", "high", _text(allergy.get("code")),
                           allergy, allergy.get("recordedDate") or allergy.get(
                               "onsetDateTime")))
    covered: set[str] = set()
    for flag in _search(repo, "Flag", [("patient", subject), ("status", "active")], notices):
        category = c.code_of(flag.get("category"), c.ATTENTION)
        if category is None:
            continue
        severity = c.ext(flag, c.ATTENTION_SEVERITY)
        detail = c.ext(flag, c.FLAG_DETAIL)
        if isinstance(detail, dict) and detail.get("reference"):
            covered.add(detail["reference"])
        items.append(_item(category, severity if severity in _ORDER else "moderate",
                           _text(flag.get("code")), flag, (flag.get("period") or {}).get(
                               "start"), detail if isinstance(detail, dict) else None))
    categories = ",".join(f"{c.ATTENTION}|{k}" for k in c.ATTENTION_CATEGORIES)
    for condition in _search(repo, "Condition", [("patient", subject),
                                                  ("category", categories)], notices):
        if f"Condition/{condition['id']}" in covered or not _true(_IS_CURRENT, condition):
            continue
        category = c.code_of(condition.get("category"), c.ATTENTION) or "serious-disease"
        severity = c.CONDITION_SEVERITY.get(c.code_of(condition.get("severity"), c.SNOMED)
                                            or "", "moderate")
        items.append(_item(category, severity, _text(condition.get("code")), condition,
                           condition.get("recordedDate") or condition.get("onsetDateTime")))
    items.sort(key=lambda i: (_ORDER[i["severity"]], _CATEGORY_ORDER.get(i["category"], 9),
                              i["text"]))
    return items, notices


def _item(category: str, severity: str, text: str, source: dict[str, Any],
          since: Any, detail: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"category": category, "severity": severity, "text": text or category,
            "source": f"{source['resourceType']}/{source['id']}",
            "since": since if isinstance(since, str) else None,
            "detail": detail.get("reference") if detail else None}


def as_parameters(items: list[dict[str, Any]], notices: list[str]) -> dict[str, Any]:
    params: list[dict[str, Any]] = []
    for item in items:
        parts: list[dict[str, Any]] = [
            {"name": "category", "valueCoding": category_coding(item["category"])},
            {"name": "severity", "valueCode": item["severity"]},
            {"name": "text", "valueString": item["text"]},
            {"name": "source", "valueReference": {"reference": item["source"]}}]
        if item["since"]:
            parts.append({"name": "since", "valueString": item["since"]})
        if item["detail"]:
            parts.append({"name": "detail", "valueReference": {"reference": item["detail"]}})
        params.append({"name": "item", "part": parts})
    params += [{"name": "notice", "valueString": n} for n in notices]
    return {"resourceType": "Parameters", "parameter": params}
