"""Discharge information (information inför utskrivning), sent no later than the day of
discharge: a Composition (LOINC 18842-5, category `discharge-information`) with the sections
care plan, reason for admission, responsible physician, summary and evaluation of the care,
current status and risk assessments, and a message to every notified receiver referring to
it. Sending again (a correction) writes a new Composition and a new message."""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any

from vardnav.domains.discharge import codes as c
from vardnav.domains.discharge import messages
from vardnav.domains.discharge.case import (
    add_output,
    content,
    fetch,
    iso,
    notices_of,
    recorded_as,
    ref_id,
    require_open,
    value,
)
from vardnav.domains.discharge.stay import Stay, require_hospital_side
from vardnav.errors import BadRequest, BusinessRuleViolation, NotFound
from vardnav.fhir.storage.repository import Repository


def _section(title: str, text: str | None, entries: list[dict[str, Any]] | None = None,
             ) -> dict[str, Any]:
    section: dict[str, Any] = {"title": title, "text": {
        "status": "generated",
        "div": f'<div xmlns="http://www.w3.org/1999/xhtml"><p>{html.escape(text or "-")}</p>'
               "</div>"}}
    if entries:
        section["entry"] = entries
    return section


def send_discharge_information(repo: Repository, stay: Stay, case: dict[str, Any], *,
                               now: datetime, reason_for_admission: str, summary: str,
                               current_status: str, responsible_physician_id: str,
                               risk_assessments: str | None = None,
                               care_plan: str | None = None,
                               care_plan_id: str | None = None) -> dict[str, Any]:
    require_hospital_side(repo, stay)
    require_open(case)
    notices = [n for n in notices_of(repo, case["id"]) if n.get("status") != "draft"]
    if not notices:
        raise BusinessRuleViolation("No receiver has been notified of this stay; send the "
                                    "admission notices first")
    if fetch(repo, "Practitioner", responsible_physician_id) is None:
        raise NotFound(f"The responsible physician Practitioner/{responsible_physician_id} "
                       "is not known")
    plan_id = care_plan_id or ref_id(value(case, c.SIP), "CarePlan")
    if care_plan_id and fetch(repo, "CarePlan", care_plan_id) is None:
        raise BadRequest(f"CarePlan/{care_plan_id} is not known")
    plan_entries = [{"reference": f"CarePlan/{plan_id}"}] if plan_id else None
    if not (care_plan or plan_entries):
        raise BadRequest("The discharge information holds the care plan: give 'carePlan' "
                         "(text) or 'carePlanReference', or record the SIP first")
    physician = {"reference": f"Practitioner/{responsible_physician_id}"}
    composition = {
        "resourceType": "Composition", "status": "final",
        "type": c.concept(c.LOINC, c.DISCHARGE_INFORMATION_DOC, "Discharge summary"),
        "category": [c.concept(c.PROCESS, c.MSG_DISCHARGE_INFO,
                               c.MESSAGES[c.MSG_DISCHARGE_INFO])],
        "subject": case["for"], "encounter": case["encounter"], "date": iso(now),
        "author": [physician], "title": c.MESSAGES[c.MSG_DISCHARGE_INFO],
        "section": [
            _section("Vårdplan", care_plan or "Se SIP", plan_entries),
            _section("Orsak till inskrivning", reason_for_admission),
            _section("Ansvarig läkare", f"Practitioner/{responsible_physician_id}",
                     [physician]),
            _section("Sammanfattning och utvärdering av vården", summary),
            _section("Aktuellt status", current_status),
            _section("Riskbedömningar", risk_assessments or "Inga riskbedömningar gjorda")]}
    with recorded_as(repo, case):
        stored_doc = repo.create("Composition", composition).resource
        assert stored_doc is not None
        updated = content(case)
        ref = {"reference": f"Composition/{stored_doc['id']}"}
        add_output(updated, c.DISCHARGE_INFO, valueReference=ref)
        add_output(updated, c.DISCHARGE_INFO_SENT, valueDateTime=iso(now))
        updated["lastModified"] = iso(now)
        if value(case, c.DISCHARGED) is not None:  # sent late, after the discharge
            updated["status"] = "completed"
        stored = repo.update("Task", case["id"], updated).resource
        assert stored is not None
        sent = messages.send(repo, case=stored, notices=notices, category=c.MSG_DISCHARGE_INFO,
                             at=now, payload=[{"contentReference": ref}])
    return {"case": stored, "composition": stored_doc, "messages": sent}
