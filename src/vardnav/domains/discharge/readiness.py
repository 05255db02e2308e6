"""Ready for discharge (utskrivningsklar), its withdrawal, and the SIP: the call within three
days of the ready notice and the plan itself.

Ready and withdrawn are appended to the case as timed outputs (`ready`, `ready-withdrawn`),
so a ready-withdrawn-ready stay keeps every period; each step messages every notified
receiver in the same transaction. The SIP call is a message from the named care contact's
unit to the receivers and the ward; the SIP is a CarePlan (category `sip`) with the patient's
Consent in `supportingInfo`, one activity per action with its provider as performer, and the
organisation holding overall responsibility as `author` (R4: "the designated responsible
party").
"""

from __future__ import annotations

from dataclasses import dataclass
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
    require_open,
    set_status,
    times,
    value,
)
from vardnav.domains.discharge.residence import org_reference
from vardnav.domains.discharge.stay import Stay, require_hospital_side, require_unit
from vardnav.errors import BadRequest, BusinessRuleViolation
from vardnav.fhir.storage.repository import Repository


def is_ready(case: dict[str, Any]) -> bool:
    """Ready now: the latest of the ready / withdrawn events is a ready one."""
    ready, withdrawn = times(case, c.READY), times(case, c.READY_WITHDRAWN)
    return bool(ready) and (not withdrawn or max(ready) > max(withdrawn))


def _require_in_hospital(stay: Stay, what: str) -> None:
    if stay.encounter.get("status") not in ("in-progress", "onleave"):
        raise BusinessRuleViolation(f"Encounter/{stay.id} is {stay.encounter.get('status')}: "
                                    f"only a patient still in hospital is {what}")


def _notify(repo: Repository, stay: Stay, case: dict[str, Any], *, now: datetime,
            event: str, business: str, category: str, payload: list[dict[str, Any]],
            ) -> dict[str, Any]:
    with recorded_as(repo, case):
        updated = content(case)
        add_output(updated, event, valueDateTime=iso(now))
        set_status(updated, business, now)
        stored = repo.update("Task", case["id"], updated).resource
        assert stored is not None
        sent = messages.send(repo, case=stored, notices=notices_of(repo, case["id"]),
                             category=category, at=now, payload=payload)
    return {"case": stored, "messages": sent}


def declare_ready(repo: Repository, stay: Stay, case: dict[str, Any], *, now: datetime,
                  physician_id: str) -> dict[str, Any]:
    """The physician judges the patient ready for discharge; every receiver is told."""
    require_hospital_side(repo, stay)
    require_open(case)
    _require_in_hospital(stay, "declared ready for discharge")
    if is_ready(case):
        raise BusinessRuleViolation("The patient is already declared ready for discharge")
    return _notify(repo, stay, case, now=now, event=c.READY, business=c.S_READY,
                   category=c.MSG_READY,
                   payload=[messages.text(f"Bedömd utskrivningsklar {iso(now)} av "
                                          f"Practitioner/{physician_id}"),
                            {"contentReference": {"reference":
                                                  f"Practitioner/{physician_id}"}}])


def withdraw_ready(repo: Repository, stay: Stay, case: dict[str, Any], *, now: datetime,
                   physician_id: str, reason: str) -> dict[str, Any]:
    """The patient is no longer ready: every receiver is told at once; the payment count
    stops (see payment.py)."""
    require_hospital_side(repo, stay)
    require_open(case)
    _require_in_hospital(stay, "withdrawn from ready for discharge")
    if not is_ready(case):
        raise BusinessRuleViolation("The patient is not declared ready for discharge")
    return _notify(repo, stay, case, now=now, event=c.READY_WITHDRAWN,
                   business=c.S_NOT_READY, category=c.MSG_WITHDRAWN,
                   payload=[messages.text(f"Inte längre utskrivningsklar: {reason}"),
                            {"contentReference": {"reference":
                                                  f"Practitioner/{physician_id}"}}])


def call_sip(repo: Repository, stay: Stay, case: dict[str, Any], *, now: datetime,
             meeting_at: datetime) -> dict[str, Any]:
    """The named care contact calls the SIP meeting (kallelse)."""
    primary = value(case, c.PRIMARY_CARE)
    require_unit(repo, primary, "calls the SIP meeting (the named care contact's unit)")
    require_open(case)
    if meeting_at < now:
        raise BadRequest("The SIP meeting cannot lie in the past")
    notices = [n for n in notices_of(repo, case["id"]) if n.get("owner") != primary]
    with recorded_as(repo, case):
        updated = content(case)
        add_output(updated, c.SIP_CALLED, valueDateTime=iso(now))
        add_output(updated, c.SIP_MEETING, valueDateTime=iso(meeting_at))
        updated["lastModified"] = iso(now)
        stored = repo.update("Task", case["id"], updated).resource
        assert stored is not None
        sent = messages.send(repo, case=stored, notices=notices, category=c.MSG_SIP_CALL,
                             at=now, sender=primary, extra_recipients=[case["owner"]],
                             payload=[messages.text(f"SIP-möte {iso(meeting_at)}")])
    return {"case": stored, "messages": sent}


@dataclass(frozen=True)
class SipAction:
    description: str
    provider_id: str  # Organization id: region unit, municipality or another provider


def record_sip(repo: Repository, stay: Stay, case: dict[str, Any], *, now: datetime,
               consent: bool, actions: list[SipAction], responsible_id: str) -> dict[str, Any]:
    """Record the SIP agreed at the meeting, with the patient's consent."""
    require_hospital_side(repo, stay)  # the region: the hospital or the named care contact
    require_open(case)
    if not consent:
        raise BusinessRuleViolation("A SIP needs the patient's consent (consent=true once "
                                    "the patient has given it)")
    if not actions:
        raise BadRequest("A SIP lists at least one action (the 'action' parameter)")
    orgs: dict[str, dict[str, Any]] = {}
    for org_id in {a.provider_id for a in actions} | {responsible_id}:
        org = fetch(repo, "Organization", org_id)
        if org is None:
            raise BadRequest(f"Organization/{org_id} is not known")
        orgs[org_id] = org
    parties = [org_reference(o) for o in orgs.values()]
    with recorded_as(repo, case):
        agreed = repo.create("Consent", {
            "resourceType": "Consent", "status": "active",
            "scope": c.concept(c.CONSENT_SCOPE, "treatment"),
            "category": [c.concept(c.CARE, c.SIP_CONSENT, "Samtycke till SIP")],
            "patient": case["for"], "dateTime": iso(now),
            "policyRule": {"text": "Samtycke till samordnad individuell plan (SIP)"},
            "provision": {"type": "permit", "actor": [
                {"role": c.concept("http://terminology.hl7.org/CodeSystem/v3-RoleCode",
                                   "PROV"), "reference": p} for p in parties]}}).resource
        assert agreed is not None
        plan = repo.create("CarePlan", {
            "resourceType": "CarePlan", "status": "active", "intent": "plan",
            "category": [c.concept(c.CARE, c.SIP_PLAN, "Samordnad individuell plan")],
            "title": "SIP", "subject": case["for"], "encounter": case["encounter"],
            "created": iso(now), "period": {"start": iso(now)},
            "author": org_reference(orgs[responsible_id]), "contributor": parties,
            "supportingInfo": [{"reference": f"Consent/{agreed['id']}"}],
            "activity": [{"detail": {
                "status": "not-started", "description": a.description,
                "performer": [org_reference(orgs[a.provider_id])]}} for a in actions],
        }).resource
        assert plan is not None
        updated = content(case)
        add_output(updated, c.SIP, valueReference={"reference": f"CarePlan/{plan['id']}"})
        updated["lastModified"] = iso(now)
        stored = repo.update("Task", case["id"], updated).resource
    return {"case": stored, "carePlan": plan, "consent": agreed}
