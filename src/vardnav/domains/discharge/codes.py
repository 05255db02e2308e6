"""Code systems and codes of the discharge coordination process (docs/discharge.md).

The process lives in FHIR Task and Communication resources; these codes tell the case Task,
the notice Tasks and the message Communications apart and name the elements of a case.
"""

from __future__ import annotations

from typing import Any

BASE = "https://vardnav.se/fhir"
# Task.code of the case and of the notices; Communication.category of each message.
PROCESS = f"{BASE}/CodeSystem/discharge-coordination"
# Task.input / Task.output types of the case Task (what happened, and when).
ELEMENT = f"{BASE}/CodeSystem/discharge-case-element"
# Task.businessStatus of the case and of the notices.
STATUS = f"{BASE}/CodeSystem/discharge-status"
# Category of the named care contact's CareTeam (fast vårdkontakt) and of the SIP CarePlan.
CARE = f"{BASE}/CodeSystem/discharge-care"
PLANNING_QUESTIONNAIRE = f"{BASE}/Questionnaire/discharge-planning"
CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"
LOINC = "http://loinc.org"

# Task codes.
CASE = "coordination"
ADMISSION_NOTICE = "admission-notice"

# Message categories (Communication.category).
MSG_ADMISSION = "admission-notice"
MSG_PLANNING = "planning-information"
MSG_READY = "ready-for-discharge"
MSG_WITHDRAWN = "ready-withdrawn"
MSG_SIP_CALL = "sip-call"
MSG_DISCHARGE_INFO = "discharge-information"
MSG_CANCELLED = "case-cancelled"
MESSAGES = {
    MSG_ADMISSION: "Inskrivningsmeddelande",
    MSG_PLANNING: "Planeringsunderlag",
    MSG_READY: "Meddelande om utskrivningsklar",
    MSG_WITHDRAWN: "Utskrivningsklar återkallad",
    MSG_SIP_CALL: "Kallelse till SIP",
    MSG_DISCHARGE_INFO: "Information inför utskrivning",
    MSG_CANCELLED: "Ärendet avslutat",
}

# Case elements (Task.input: known at marking; Task.output: what the process produced).
MUNICIPALITY = "municipality"
MUNICIPALITY_CODE = "municipality-code"
PRIMARY_CARE = "primary-care"
ADMITTED = "admitted"
SUPPORT_JUDGED = "support-judged"
EXPECTED_DISCHARGE = "expected-discharge"
READY = "ready"
READY_WITHDRAWN = "ready-withdrawn"
SIP_NEEDED = "sip-needed"
SIP_CALLED = "sip-called"
SIP_MEETING = "sip-meeting"
SIP = "sip"
CARE_CONTACT = "named-care-contact"
PLANNING = "planning-information"
DISCHARGE_INFO = "discharge-information"
DISCHARGE_INFO_SENT = "discharge-information-sent"
DISCHARGED = "discharged"

# Business statuses: of the case ...
S_MARKED = "support-needed"
S_NOTIFIED = "notified"
S_READY = "ready"
S_NOT_READY = "not-ready"
S_DISCHARGED = "discharged"
S_CANCELLED = "cancelled"
# ... and of a notice (one per receiving organisation).
N_DRAFT = "not-sent"
N_SENT = "sent"
N_ACKNOWLEDGED = "acknowledged"
N_DONE = "discharge-information-acknowledged"

NAMED_CARE_CONTACT = "named-care-contact"
SIP_PLAN = "sip"
SIP_CONSENT = "sip-consent"
DISCHARGE_INFORMATION_DOC = "18842-5"  # LOINC Discharge summary


def concept(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    coding: dict[str, Any] = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding]}


def code_of(concept_value: Any, system: str) -> str | None:
    if not isinstance(concept_value, dict):
        return None
    return next((c.get("code") for c in concept_value.get("coding", [])
                 if isinstance(c, dict) and c.get("system") == system), None)


def category_of(communication: dict[str, Any]) -> str | None:
    return next((c for cc in communication.get("category", [])
                 if (c := code_of(cc, PROCESS))), None)
