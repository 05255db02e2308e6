"""Planning information (functional status, expected needs, expected discharge date) shared with
the receivers and updated as the stay goes on, and the named care contact (fast vårdkontakt)
that the primary-care unit appoints if the patient has none.

The planning information is one QuestionnaireResponse per case, updated in place (its versions
are the history); each share sends a planning message referring to the version shared, which
the receivers acknowledge. The named care contact is a CareTeam (category
`named-care-contact`) of the patient, outliving the stay; it also gives the primary-care unit
a care relationship with the patient.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from vardnav.domains.discharge import codes as c
from vardnav.domains.discharge import messages
from vardnav.domains.discharge.case import (
    add_output,
    content,
    drop_output,
    fetch,
    fetch_many,
    iso,
    notices_of,
    recorded_as,
    ref_id,
    require_open,
    value,
)
from vardnav.domains.discharge.facts import LOCAL
from vardnav.domains.discharge.stay import Stay, require_hospital_side, require_unit
from vardnav.errors import BadRequest, BusinessRuleViolation, Conflict, NotFound
from vardnav.fhir.storage.repository import Repository

ITEMS = (("functional-status", "Funktionsförmåga"), ("expected-needs", "Förväntade behov"),
         ("expected-discharge", "Beräknat utskrivningsdatum"),
         ("sip-needed", "Både region och kommun behöver insatser (SIP)"))


def share_planning(repo: Repository, stay: Stay, case: dict[str, Any], *, now: datetime,
                   functional_status: str, expected_needs: str,
                   expected_discharge: date | datetime | None = None,
                   sip_needed: bool | None = None) -> dict[str, Any]:
    """Record (or update) the planning information and send it to every notified receiver."""
    require_hospital_side(repo, stay)
    require_open(case)
    notices = [n for n in notices_of(repo, case["id"]) if n.get("status") != "draft"]
    if not notices:
        raise BusinessRuleViolation("Send the admission notices before the planning "
                                    "information: planning starts when they are received")
    answers: list[dict[str, Any]] = [
        {"linkId": "functional-status", "text": ITEMS[0][1],
         "answer": [{"valueString": functional_status}]},
        {"linkId": "expected-needs", "text": ITEMS[1][1],
         "answer": [{"valueString": expected_needs}]}]
    if expected_discharge is not None:
        answer = ({"valueDateTime": iso(expected_discharge)}
                  if isinstance(expected_discharge, datetime)
                  else {"valueDate": expected_discharge.isoformat()})
        answers.append({"linkId": "expected-discharge", "text": ITEMS[2][1],
                        "answer": [answer]})
    if sip_needed is not None:
        answers.append({"linkId": "sip-needed", "text": ITEMS[3][1],
                        "answer": [{"valueBoolean": sip_needed}]})
    response: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse", "status": "completed",
        "questionnaire": c.PLANNING_QUESTIONNAIRE, "subject": case["for"],
        "encounter": case["encounter"], "authored": iso(now),
        "author": case["owner"], "item": answers}
    updated = content(case)
    existing = ref_id(value(case, c.PLANNING), "QuestionnaireResponse")
    with recorded_as(repo, case):
        if existing:
            result = repo.update("QuestionnaireResponse", existing,
                                 {**response, "id": existing})
        else:
            result = repo.create("QuestionnaireResponse", response)
            add_output(updated, c.PLANNING,
                       valueReference={"reference": f"QuestionnaireResponse/{result.id}"})
        version = f"QuestionnaireResponse/{result.id}/_history/{result.version_id}"
        if expected_discharge is not None:
            drop_output(updated, c.EXPECTED_DISCHARGE)
            when = (expected_discharge if isinstance(expected_discharge, datetime) else
                    datetime.combine(expected_discharge, datetime.min.time(), LOCAL))
            add_output(updated, c.EXPECTED_DISCHARGE, valueDateTime=iso(when))
        if sip_needed is not None:
            drop_output(updated, c.SIP_NEEDED)
            add_output(updated, c.SIP_NEEDED, valueBoolean=sip_needed)
        updated["lastModified"] = iso(now)
        stored = repo.update("Task", case["id"], updated).resource
        assert stored is not None
        payload = [messages.text(f"{a['text']}: {_shown(a['answer'][0])}") for a in answers]
        payload.append({"contentReference": {"reference": version}})
        sent = messages.send(repo, case=stored, notices=notices, category=c.MSG_PLANNING,
                             at=now, payload=payload)
    return {"case": stored, "planning": result.resource, "messages": sent}


def _shown(answer: dict[str, Any]) -> str:
    raw = next(iter(answer.values()))
    if isinstance(raw, bool):
        return "ja" if raw else "nej"
    return str(raw)


def current_care_contact(repo: Repository, patient_id: str) -> dict[str, Any] | None:
    ids = repo.search_ids("CareTeam", [("subject", f"Patient/{patient_id}"),
                                       ("category", f"{c.CARE}|{c.NAMED_CARE_CONTACT}"),
                                       ("status", "active")], limit=5)
    found = fetch_many(repo, [("CareTeam", i) for i in ids])
    return found[0] if found else None


def assign_care_contact(repo: Repository, stay: Stay, case: dict[str, Any], *,
                        now: datetime, practitioner_id: str) -> dict[str, Any]:
    """The primary-care unit appoints the patient's named care contact (if none)."""
    primary = value(case, c.PRIMARY_CARE)
    require_unit(repo, primary, "appoints the named care contact")
    require_open(case)
    existing = current_care_contact(repo, stay.patient["id"])
    if existing is not None:
        raise Conflict(f"Patient/{stay.patient['id']} already has a named care contact "
                       f"(CareTeam/{existing['id']})")
    if fetch(repo, "Practitioner", practitioner_id) is None:
        raise NotFound(f"Practitioner/{practitioner_id} is not known")
    if primary is None:
        raise BadRequest("The case has no primary-care unit")
    team = {
        "resourceType": "CareTeam", "status": "active",
        "category": [c.concept(c.CARE, c.NAMED_CARE_CONTACT, "Fast vårdkontakt")],
        "name": "Fast vårdkontakt", "subject": case["for"],
        "period": {"start": iso(now)},
        "participant": [{"role": [c.concept(c.CARE, c.NAMED_CARE_CONTACT,
                                            "Fast vårdkontakt")],
                         "member": {"reference": f"Practitioner/{practitioner_id}"},
                         "onBehalfOf": primary}],
        "managingOrganization": [primary]}
    with recorded_as(repo, case):
        stored_team = repo.create("CareTeam", team).resource
        assert stored_team is not None
        updated = content(case)
        add_output(updated, c.CARE_CONTACT,
                   valueReference={"reference": f"CareTeam/{stored_team['id']}"})
        updated["lastModified"] = iso(now)
        stored = repo.update("Task", case["id"], updated).resource
    return {"case": stored, "careTeam": stored_team}
