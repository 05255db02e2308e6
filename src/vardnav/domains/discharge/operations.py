"""The discharge coordination steps as FHIR operations (each with its OperationDefinition in
/metadata). Bodies are Parameters; an Organization, Practitioner or other resource is a
valueReference (`{"reference": "Organization/…"}`) or a plain id (valueString/valueId).

Encounter/{id}/$discharge-mark-support, $discharge-send-notices, $discharge-planning,
$discharge-ready, $discharge-ready-withdraw, $discharge-care-contact, $discharge-sip-call,
$discharge-sip, $discharge-information; Task/{notice}/$discharge-acknowledge;
$discharge-report (system level; CSV through router.py). Each step answers with a collection
Bundle of what it wrote, the case Task first (201 when the case was opened).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from vardnav.domains.discharge.readiness import SipAction
from vardnav.domains.discharge.report import as_parameters
from vardnav.domains.discharge.service import DischargeWorkflow
from vardnav.fhir.http_types import FhirRequest, FhirResponse
from vardnav.fhir.operations.parameters import flag, moment, parameters, ref, text, when
from vardnav.fhir.operations.registry import Handler, Operation
from vardnav.fhir.operations.steps import ParamSpec, bundle, definition
from vardnav.fhir.storage.repository import Repository


def actions(body: dict[str, Any]) -> list[SipAction]:
    """Repeated `action` parameters, each with parts `description` and `provider`."""
    found = []
    for n, param in enumerate(body.get("parameter") or []):
        if not (isinstance(param, dict) and param.get("name") == "action"):
            continue
        parts = {q.get("name"): next((v for k, v in q.items() if k.startswith("value")), None)
                 for q in param.get("part") or [] if isinstance(q, dict)}
        label = f"action[{n}]"
        found.append(SipAction(
            text(parts, "description", required=True) or label,
            ref(parts.get("provider"), f"{label}.provider", "Organization",
                required=True) or ""))
    return found


# -- the operations -----------------------------------------------------------------------


def discharge_operations(workflow: DischargeWorkflow) -> list[Operation]:
    w = workflow

    def mark(repo: Repository, req: FhirRequest, _t: str | None, fid: str | None,
             ) -> FhirResponse:
        p = parameters(req.body or {"resourceType": "Parameters"})
        return bundle(w.mark_support(
            repo, encounter_id=fid or "", judged_at=moment(p, "judgedAt"),
            expected_discharge=moment(p, "expectedDischarge"),
            municipality_id=ref(p.get("municipality"), "municipality", "Organization"),
            primary_care_id=ref(p.get("primaryCare"), "primaryCare", "Organization"),
            consent=bool(flag(p, "consent", False)), send=bool(flag(p, "send", True))), 201)

    def send(repo: Repository, req: FhirRequest, _t: str | None, fid: str | None,
             ) -> FhirResponse:
        parameters(req.body or {"resourceType": "Parameters"})
        return bundle(w.send_notices(repo, encounter_id=fid or ""))

    def plan(repo: Repository, req: FhirRequest, _t: str | None, fid: str | None,
             ) -> FhirResponse:
        p = parameters(req.body)
        return bundle(w.share_planning(
            repo, encounter_id=fid or "",
            functional_status=text(p, "functionalStatus", required=True) or "",
            expected_needs=text(p, "expectedNeeds", required=True) or "",
            expected_discharge=when(p, "expectedDischarge", date_ok=True),
            sip_needed=flag(p, "sipNeeded")))

    def ready(repo: Repository, req: FhirRequest, _t: str | None, fid: str | None,
              ) -> FhirResponse:
        p = parameters(req.body or {"resourceType": "Parameters"})
        return bundle(w.declare_ready(
            repo, encounter_id=fid or "",
            physician_id=ref(p.get("physician"), "physician", "Practitioner")))

    def withdraw(repo: Repository, req: FhirRequest, _t: str | None, fid: str | None,
                 ) -> FhirResponse:
        p = parameters(req.body)
        return bundle(w.withdraw_ready(
            repo, encounter_id=fid or "", reason=text(p, "reason", required=True) or "",
            physician_id=ref(p.get("physician"), "physician", "Practitioner")))

    def contact(repo: Repository, req: FhirRequest, _t: str | None, fid: str | None,
                ) -> FhirResponse:
        p = parameters(req.body)
        return bundle(w.assign_care_contact(
            repo, encounter_id=fid or "",
            practitioner_id=ref(p.get("practitioner"), "practitioner", "Practitioner",
                                required=True) or ""))

    def sip_call(repo: Repository, req: FhirRequest, _t: str | None, fid: str | None,
                 ) -> FhirResponse:
        p = parameters(req.body)
        return bundle(w.call_sip(repo, encounter_id=fid or "",
                                 meeting_at=moment(p, "meetingAt", required=True)
                                 or datetime.min))

    def sip(repo: Repository, req: FhirRequest, _t: str | None, fid: str | None,
            ) -> FhirResponse:
        p = parameters(req.body)
        return bundle(w.record_sip(
            repo, encounter_id=fid or "", consent=bool(flag(p, "consent", False)),
            actions=actions(req.body),
            responsible_id=ref(p.get("responsible"), "responsible", "Organization",
                               required=True) or ""), 201)

    def info(repo: Repository, req: FhirRequest, _t: str | None, fid: str | None,
             ) -> FhirResponse:
        p = parameters(req.body)
        return bundle(w.send_discharge_information(
            repo, encounter_id=fid or "",
            reason_for_admission=text(p, "reasonForAdmission", required=True) or "",
            summary=text(p, "summary", required=True) or "",
            current_status=text(p, "currentStatus", required=True) or "",
            responsible_physician_id=ref(p.get("responsiblePhysician"),
                                         "responsiblePhysician", "Practitioner",
                                         required=True) or "",
            risk_assessments=text(p, "riskAssessments"), care_plan=text(p, "carePlan"),
            care_plan_id=ref(p.get("carePlanReference"), "carePlanReference", "CarePlan")))

    def ack(repo: Repository, req: FhirRequest, _t: str | None, fid: str | None,
            ) -> FhirResponse:
        p = parameters(req.body or {"resourceType": "Parameters"})
        done = w.acknowledge(repo, notice_id=fid or "", communication_id=ref(
            p.get("communication"), "communication", "Communication"))
        return bundle({"messages": done})

    def report(repo: Repository, req: FhirRequest, _t: str | None, _fid: str | None,
               ) -> FhirResponse:
        p = parameters(req.body) if req.method.upper() == "POST" else dict(req.query)
        return FhirResponse(200, as_parameters(w.report(
            repo, municipality=text(p, "municipality"), hospital=text(p, "hospital"),
            period=text(p, "period"))))

    org = "Reference"
    specs: list[tuple[str, str, str, list[ParamSpec], Handler]] = [
        ("discharge-mark-support", "Encounter",
         "The patient will need support after discharge: open the discharge case and send "
         "the admission notices (24 h deadline) to the municipality of residence and the "
         "primary-care unit the patient is listed at",
         [("judgedAt", "dateTime", 0, "1", "When the physician judged that support is "
                                           "needed (default now; the deadline runs from it)"),
          ("expectedDischarge", "dateTime", 0, "1", "Expected discharge time"),
          ("municipality", org, 0, "1", "Municipality of residence, if not from the "
                                        "registered address"),
          ("primaryCare", org, 0, "1", "Primary-care unit, if not Patient.generalPractitioner"),
          ("consent", "boolean", 0, "1", "The patient consents that the receivers read the "
                                         "shared record (recorded as PDL consent)"),
          ("send", "boolean", 0, "1", "Send the notices now (default true)")], mark),
        ("discharge-send-notices", "Encounter", "Send the drafted admission notices", [],
         send),
        ("discharge-planning", "Encounter",
         "Share (or update) the planning information with the receivers",
         [("functionalStatus", "string", 1, "1", "Functional status"),
          ("expectedNeeds", "string", 1, "1", "Expected needs after discharge"),
          ("expectedDischarge", "date", 0, "1", "Expected discharge date (or dateTime)"),
          ("sipNeeded", "boolean", 0, "1", "Both region and municipality must act")], plan),
        ("discharge-ready", "Encounter",
         "The physician declares the patient ready for discharge; every receiver is told",
         [("physician", "Reference", 0, "1", "The assessing physician (default: the caller)")],
         ready),
        ("discharge-ready-withdraw", "Encounter",
         "The patient is no longer ready for discharge; every receiver is told at once",
         [("reason", "string", 1, "1", "Why"),
          ("physician", "Reference", 0, "1", "The assessing physician (default: the caller)")],
         withdraw),
        ("discharge-care-contact", "Encounter",
         "The primary-care unit appoints the patient's named care contact (if none)",
         [("practitioner", "Reference", 1, "1", "The named care contact (Practitioner)")],
         contact),
        ("discharge-sip-call", "Encounter",
         "The named care contact calls the SIP meeting (due within 3 days of the ready "
         "notice)", [("meetingAt", "dateTime", 1, "1", "When the meeting is held")], sip_call),
        ("discharge-sip", "Encounter",
         "Record the SIP (CarePlan): actions, the provider of each, overall responsibility; "
         "needs the patient's consent",
         [("consent", "boolean", 1, "1", "The patient consents to the SIP"),
          ("action", "Tuple", 1, "*", "description (string) and provider (Reference)"),
          ("responsible", org, 1, "1", "The organisation with overall responsibility")], sip),
        ("discharge-information", "Encounter",
         "Send the discharge information (no later than the day of discharge)",
         [("reasonForAdmission", "string", 1, "1", "Reason for admission"),
          ("summary", "string", 1, "1", "Summary and evaluation of the care"),
          ("currentStatus", "string", 1, "1", "Current status"),
          ("responsiblePhysician", "Reference", 1, "1", "Responsible physician"),
          ("riskAssessments", "string", 0, "1", "Risk assessments"),
          ("carePlan", "string", 0, "1", "Care plan (text), if there is no SIP"),
          ("carePlanReference", "Reference", 0, "1", "Care plan (CarePlan)")], info),
        ("discharge-acknowledge", "Task",
         "The receiver acknowledges the messages of its notice (one, or all pending)",
         [("communication", "Reference", 0, "1", "One message (default: all pending)")], ack),
    ]
    ops = [Operation(code, definition(code, [resource], doc, params), handler, (resource,),
                     ("POST",)) for code, resource, doc, params, handler in specs]
    ops.append(Operation("discharge-report", REPORT_DEFINITION, report, None,
                         ("GET", "POST")))
    return ops


REPORT_DEFINITION = definition(
    "discharge-report", [],
    "Discharge coordination per municipality and per hospital for a period: open cases, "
    "overdue notices, days from ready to discharge, payment days and amount (CSV with "
    "_format=csv)",
    [("municipality", "string", 0, "1", "Municipality code, HSA-id or Organization id"),
     ("hospital", "string", 0, "1", "Hospital HSA-id or Organization id"),
     ("period", "string", 0, "1", "YYYY, YYYY-MM or YYYY-MM-DD (default: this month)")],
    out="Parameters", affects_state=False, system=True)
