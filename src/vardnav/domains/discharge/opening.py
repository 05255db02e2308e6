"""Opening a case and sending the admission notices (inskrivningsmeddelande).

The ward marks a patient as needing support after discharge, at admission or later. That
opens the case and drafts one notice per receiver — the municipality of residence and the
primary-care unit the patient is listed at — with the deadline (24 hours after admission, or
after the physician's judgement if that came later) in `restriction.period.end`. Sending
makes the notices `requested` (which gives the receiver the care relationship PDL needs to
read them) and writes the admission-notice message to each.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from vardnav.domains.access.profiles import CONSENT_CATEGORY, CONSENT_SCOPE, PROTECTED_IDENTITY
from vardnav.domains.adt.codes import PLANNED_END
from vardnav.domains.discharge import codes as c
from vardnav.domains.discharge import messages
from vardnav.domains.discharge.case import (
    content,
    element,
    find_case,
    iso,
    notices_of,
    parse_time,
    receivers,
    recorded_as,
    require_open,
    set_status,
    value,
)
from vardnav.domains.discharge.residence import (
    municipality_code,
    municipality_of,
    org_reference,
    primary_care_of,
)
from vardnav.domains.discharge.stay import Stay, ancestor, require_hospital_side
from vardnav.domains.identity.organisation.assignments import PROVIDER_TYPES, hsa_of
from vardnav.errors import BadRequest, BusinessRuleViolation, Conflict
from vardnav.fhir.storage.repository import Repository

NOTICE_HOURS = 24
PNR_SYSTEMS = ("http://electronichealth.se/identifier/personnummer",
               "http://electronichealth.se/identifier/samordningsnummer",
               "urn:oid:1.2.752.129.2.1.3.1", "urn:oid:1.2.752.129.2.1.3.3")


def mark_support(repo: Repository, stay: Stay, *, now: datetime,
                 judged_at: datetime | None = None,
                 expected_discharge: datetime | None = None,
                 municipality_id: str | None = None, primary_care_id: str | None = None,
                 consent: bool = False, send: bool = True) -> dict[str, Any]:
    """Open the case of a stay and draft (and, with `send`, send) its admission notices.
    Returns {"case", "notices", "messages", "warnings"}."""
    require_hospital_side(repo, stay)
    enc = stay.encounter
    if enc.get("status") not in ("in-progress", "onleave", "arrived"):
        raise BusinessRuleViolation(f"Encounter/{stay.id} is {enc.get('status')}: a patient "
                                    "is marked as needing support during the stay")
    admitted = parse_time((enc.get("period") or {}).get("start")) or now
    judged = judged_at or now
    if judged > now:
        raise BadRequest("judgedAt lies in the future")
    judged = max(judged, admitted)  # judged before admission: the admission starts the clock
    deadline = judged + timedelta(hours=NOTICE_HOURS)
    municipality = municipality_of(repo, stay.patient, municipality_id)
    primary = primary_care_of(repo, stay.patient, primary_care_id)
    expected = expected_discharge or parse_time(
        next((e.get("valueDateTime") for e in enc.get("extension", [])
              if e.get("url") == PLANNED_END), None))
    inputs = [element(c.MUNICIPALITY, valueReference=org_reference(municipality)),
              *([element(c.MUNICIPALITY_CODE, valueString=code)]
                if (code := municipality_code(municipality)) else []),
              element(c.ADMITTED, valueDateTime=iso(admitted)),
              element(c.SUPPORT_JUDGED, valueDateTime=iso(judged))]
    if primary is not None:
        inputs.insert(1, element(c.PRIMARY_CARE, valueReference=org_reference(primary)))
    if expected is not None:
        inputs.append(element(c.EXPECTED_DISCHARGE, valueDateTime=iso(expected)))
    case: dict[str, Any] = {
        "resourceType": "Task", "status": "in-progress", "intent": "plan",
        "code": c.concept(c.PROCESS, c.CASE, "Samordnad utskrivning"),
        "businessStatus": c.concept(c.STATUS, c.S_MARKED),
        "for": {"reference": f"Patient/{stay.patient['id']}"},
        "encounter": {"reference": f"Encounter/{stay.id}"},
        "focus": {"reference": f"Encounter/{stay.id}"},
        "authoredOn": iso(now), "lastModified": iso(now),
        "executionPeriod": {"start": iso(judged)},
        "requester": org_reference(stay.hospital or stay.unit),
        "owner": org_reference(stay.unit), "input": inputs}
    with recorded_as(repo, enc):
        result = repo.create("Task", case, if_none_exist=[
            ("encounter", f"Encounter/{stay.id}"), ("code", f"{c.PROCESS}|{c.CASE}")])
        if result.outcome == "existing":
            raise Conflict(f"Encounter/{stay.id} already has a discharge case "
                           f"(Task/{result.id})")
        stored = result.resource
        assert stored is not None
        notices = [_draft_notice(repo, stored, receiver, now, deadline)
                   for receiver in receivers(stored)]
        warnings = []
        if primary is None:
            warnings.append(f"Patient/{stay.patient['id']} is listed at no primary-care unit: "
                            "only the municipality is notified")
        if consent:
            _record_consents(repo, stay, [municipality, *([primary] if primary else [])], now)
        sent: list[dict[str, Any]] = []
        if send:
            stored, notices, sent = send_admission_notices(repo, stay, stored, now=now)
    return {"case": stored, "notices": notices, "messages": sent, "warnings": warnings}


def _draft_notice(repo: Repository, case: dict[str, Any], receiver: dict[str, Any],
                  now: datetime, deadline: datetime) -> dict[str, Any]:
    notice = {
        "resourceType": "Task", "status": "draft", "intent": "order",
        "code": c.concept(c.PROCESS, c.ADMISSION_NOTICE, "Inskrivningsmeddelande"),
        "businessStatus": c.concept(c.STATUS, c.N_DRAFT),
        "partOf": [{"reference": f"Task/{case['id']}"}],
        "groupIdentifier": {"system": f"{c.BASE}/discharge-case", "value": case["id"]},
        "for": case["for"], "encounter": case["encounter"], "focus": case["encounter"],
        "lastModified": iso(now), "requester": case["owner"], "owner": receiver,
        "restriction": {"period": {"end": iso(deadline)}}}
    stored = repo.create("Task", notice).resource
    assert stored is not None
    return stored


def send_admission_notices(repo: Repository, stay: Stay, case: dict[str, Any] | None = None,
                           *, now: datetime) -> tuple[dict[str, Any], list[dict[str, Any]],
                                                      list[dict[str, Any]]]:
    """Send the drafted notices: each becomes `requested` (authoredOn = sent) and gets the
    admission-notice message (name, personnummer, registered address, expected discharge)."""
    require_hospital_side(repo, stay)
    case = case or find_case(repo, stay.id)
    if case is None:
        raise BusinessRuleViolation(f"Encounter/{stay.id} has no discharge case")
    require_open(case)
    drafts = [n for n in notices_of(repo, case["id"]) if n.get("status") == "draft"]
    if not drafts:
        raise BusinessRuleViolation("The admission notices of this case are already sent")
    with recorded_as(repo, case):
        sent_notices = []
        for notice in drafts:
            task = content(notice)
            task["authoredOn"] = iso(now)
            set_status(task, c.N_SENT, now, status="requested")
            stored = repo.update("Task", notice["id"], task).resource
            assert stored is not None
            sent_notices.append(stored)
        sent = messages.send(repo, case=case, notices=sent_notices, category=c.MSG_ADMISSION,
                             at=now, payload=_notice_payload(stay, case),
                             about=[{"reference": f"Patient/{stay.patient['id']}"}])
        updated = content(case)
        set_status(updated, c.S_NOTIFIED, now)
        stored_case = repo.update("Task", case["id"], updated).resource
    assert stored_case is not None
    return stored_case, sent_notices, sent


def _notice_payload(stay: Stay, case: dict[str, Any]) -> list[dict[str, Any]]:
    patient = stay.patient
    name = (patient.get("name") or [{}])[0]
    full = " ".join([*name.get("given", []), name.get("family", "")]).strip()
    pnr = next((i.get("value") for i in patient.get("identifier", [])
                if i.get("system") in PNR_SYSTEMS), None)
    lines = [f"Namn: {full or 'okänt'}", f"Personnummer: {pnr or 'saknas'}"]
    protected = any(s.get("code") == PROTECTED_IDENTITY
                    for s in (patient.get("meta") or {}).get("security", []))
    address = next((a for a in patient.get("address", []) if a.get("use") == "home"),
                   (patient.get("address") or [None])[0])
    if protected:
        lines.append("Folkbokföringsadress: skyddad (sekretessmarkering)")
    elif address:
        parts = [*address.get("line", []), " ".join(
            x for x in (address.get("postalCode"), address.get("city")) if x)]
        lines.append("Folkbokföringsadress: " + ", ".join(p for p in parts if p))
    expected = value(case, c.EXPECTED_DISCHARGE)
    lines.append(f"Beräknad utskrivning: {expected or 'ej bedömd'}")
    return [messages.text(line) for line in lines]


def _record_consents(repo: Repository, stay: Stay, receivers_: list[dict[str, Any]],
                     now: datetime) -> None:
    """The patient's consent that the receivers read the shared record for this stay's
    coordination (PDL sammanhållen journalföring), for each receiver of another provider."""
    own = hsa_of(stay.provider) if stay.provider else None
    for org in receivers_:
        provider = ancestor(repo, org, PROVIDER_TYPES)
        if provider is None or hsa_of(provider) == own:
            continue  # the same care provider: inner secrecy, no consent needed
        repo.create("Consent", {
            "resourceType": "Consent", "status": "active", "scope": CONSENT_SCOPE,
            "category": [{"coding": [{"system": CONSENT_CATEGORY, "code": "sjf-consent"}]}],
            "patient": {"reference": f"Patient/{stay.patient['id']}"},
            "dateTime": iso(now),
            "policyRule": {"text": "Samtycke till informationsöverföring vid samordnad "
                                   "utskrivning (Lag 2017:612)"},
            "provision": {"type": "permit", "period": {"start": iso(now)}, "actor": [{
                "role": {"coding": [{"system":
                                     "http://terminology.hl7.org/CodeSystem/v3-RoleCode",
                                     "code": "PROV"}]},
                "reference": org_reference(provider)}]}})
