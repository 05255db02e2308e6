"""Senior alert risk assessments: `Patient/{id}/$risk-assessment` takes a QuestionnaireResponse
for one of the three instruments, scores it on the server (instruments.py), stores the
response and an Observation with the score, and — when the score is on the risk side of its
threshold — proposes the matching template's interventions in the patient's active plan.

All in the request's one transaction: a refused response (wrong total, unknown answer,
missing item) leaves nothing behind. Observations of these codes are written only here
(guard.py refuses plain writes), so every stored score is one the server computed.

Observation: code `risk-assessment|<instrument>`, valueInteger the score, interpretation
`risk-level|<level>`, one component per item with its points, derivedFrom the response,
category `survey`, `recorded-by` of the assessor.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from vardnav.domains.careplan import apply, plans, templates
from vardnav.domains.careplan import codes as c
from vardnav.domains.careplan.entries import Author, mark
from vardnav.domains.careplan.instruments import TOTAL, flatten, instrument_for, score
from vardnav.domains.careplan.instruments import questionnaire as questionnaire_of
from vardnav.domains.discharge.case import content, fetch, iso, ref_id
from vardnav.errors import BadRequest, BusinessRuleViolation, NotFound
from vardnav.fhir.storage.repository import Repository

SURVEY = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                      "code": "survey", "display": "Survey"}]}
ITEM = f"{c.BASE}/CodeSystem/risk-assessment-item"


def record(repo: Repository, *, patient_id: str, response: Any, author: Author,
           now: datetime, encounter_id: str | None = None) -> dict[str, Any]:
    if not (isinstance(response, dict)
            and response.get("resourceType") == "QuestionnaireResponse"):
        raise BadRequest("Parameter 'response' must be a QuestionnaireResponse resource")
    # Structure first (the engine's validator, a 400 naming the element), then the answers.
    repo.s.validator.validate(response)
    if fetch(repo, "Patient", patient_id) is None:
        raise NotFound(f"Patient/{patient_id} is not known")
    subject = ref_id(response.get("subject"), "Patient")
    if subject not in (None, patient_id):
        raise BusinessRuleViolation(f"The response is about Patient/{subject}, not "
                                    f"Patient/{patient_id}")
    if response.get("status") not in ("completed", "amended"):
        raise BusinessRuleViolation("Only a completed QuestionnaireResponse is scored "
                                    "(status completed)")
    instrument = instrument_for(response.get("questionnaire"))
    result = score(instrument.key, flatten(response.get("item")))
    plan = plans.active_plan_of_patient(repo, patient_id)
    encounter = ({"reference": f"Encounter/{encounter_id}"} if encounter_id else
                 (plan or {}).get("encounter"))
    if encounter_id and fetch(repo, "Encounter", encounter_id) is None:
        raise NotFound(f"Encounter/{encounter_id} is not known")
    q = questionnaire_of(instrument.key)
    stored_response = _response(response, patient_id, encounter, q, result.total, author, now)
    saved_response = repo.create("QuestionnaireResponse", stored_response).resource
    assert saved_response is not None
    observation = _observation(q, result, patient_id, encounter, saved_response, author, now)
    with plans.writing(repo):
        saved = repo.create("Observation", observation).resource
    assert saved is not None
    proposed: list[dict[str, Any]] = []
    warnings: list[str] = []
    if result.level.at_risk:
        template = templates.for_risk(repo, instrument.risk)
        if plan is None:
            warnings.append("The patient has no active care plan to propose interventions "
                            "in; the risk is on the unit's work list until one is made")
        elif plan.get("status") == "active" and template is not None:
            updated = content(plan)
            proposed = apply.propose(updated, template=template, author=author, now=now,
                                     observation=f"Observation/{saved['id']}")
            if proposed:
                plans.add_note(updated, f"{q['title']}: {result.total} poäng "
                                        f"({result.level.display}); åtgärder enligt "
                                        f"{template.get('title')} föreslagna", author, now)
                plan = plans.save(repo, updated)
    return {"observation": saved, "response": saved_response, "plan": plan if proposed else None,
            "proposed": proposed, "warnings": warnings}


def _response(response: dict[str, Any], patient_id: str, encounter: Any, q: dict[str, Any],
              total: int, author: Author, now: datetime) -> dict[str, Any]:
    """The response as stored: the server's subject, author, canonical and total."""
    stored = copy.deepcopy({k: v for k, v in response.items() if k not in ("id", "meta")})
    stored["subject"] = {"reference": f"Patient/{patient_id}"}
    stored["questionnaire"] = f"{q['url']}|{q['version']}"
    stored.setdefault("authored", iso(now))
    if encounter:
        stored["encounter"] = encounter
    if author.practitioner:
        stored["author"] = {"reference": author.practitioner}
    else:
        stored.pop("author", None)
    items = [i for i in stored.get("item") or [] if i.get("linkId") != TOTAL]
    items.append({"linkId": TOTAL, "text": "Summa (räknad av servern)",
                  "answer": [{"valueInteger": total}]})
    stored["item"] = items
    return mark(stored, author, now)


def _observation(q: dict[str, Any], result: Any, patient_id: str, encounter: Any,
                 response: dict[str, Any], author: Author, now: datetime) -> dict[str, Any]:
    key = result.instrument.key
    obs: dict[str, Any] = {
        "resourceType": "Observation", "status": "final", "category": [SURVEY],
        "code": c.concept(c.ASSESSMENT, key, q["title"]),
        "subject": {"reference": f"Patient/{patient_id}"},
        "effectiveDateTime": response.get("authored") or iso(now), "issued": iso(now),
        "valueInteger": result.total,
        "interpretation": [c.concept(c.RISK_LEVEL, result.level.code, result.level.display)],
        "derivedFrom": [{"reference": f"QuestionnaireResponse/{response['id']}"}],
        "component": [{"code": c.concept(ITEM, f"{key}.{link}"), "valueInteger": points}
                      for link, points in result.points.items()]}
    if encounter:
        obs["encounter"] = encounter
    if author.practitioner:
        obs["performer"] = [{"reference": author.practitioner}]
    return mark(obs, author, now)


def is_assessment(resource: dict[str, Any] | None) -> bool:
    return bool(resource) and resource.get("resourceType") == "Observation" and (
        c.code_of((resource or {}).get("code"), c.ASSESSMENT) is not None)
