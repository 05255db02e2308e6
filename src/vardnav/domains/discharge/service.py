"""The discharge coordination workflow: one object per app holding the clock and the payment
rules; each public method is one step of the process.

A step takes the caller's `Repository` (the caller owns the transaction and commits once;
nothing here commits) and keyword-only arguments, reads the stay through the access policy,
writes the case, notices and messages, and returns what it wrote. Times come from the
injected `clock` (tests move it); deadlines are computed from it, never from the client.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from vardnav.domains.discharge import information, messages, opening, planning, readiness
from vardnav.domains.discharge.case import require_case
from vardnav.domains.discharge.payment import PaymentRules
from vardnav.domains.discharge.readiness import SipAction
from vardnav.domains.discharge.report import Report, build_report
from vardnav.domains.discharge.stay import authorize_writes, load_stay, physician_of
from vardnav.fhir.storage.repository import Repository

Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class DischargeWorkflow:
    def __init__(self, *, clock: Clock = _utcnow, rules: PaymentRules | None = None) -> None:
        self.clock = clock
        self.rules = rules or PaymentRules()

    def now(self) -> datetime:
        return self.clock()

    def _begin(self, repo: Repository, encounter_id: str, *types: str) -> Any:
        authorize_writes(repo, "Task", "Communication", *types)
        return load_stay(repo, encounter_id)

    # -- the hospital -----------------------------------------------------------------------

    def mark_support(self, repo: Repository, *, encounter_id: str,
                     judged_at: datetime | None = None,
                     expected_discharge: datetime | None = None,
                     municipality_id: str | None = None, primary_care_id: str | None = None,
                     consent: bool = False, send: bool = True) -> dict[str, Any]:
        """The patient will need support after discharge: open the case, notify."""
        stay = self._begin(repo, encounter_id, *(("Consent",) if consent else ()))
        return opening.mark_support(
            repo, stay, now=self.now(), judged_at=judged_at,
            expected_discharge=expected_discharge, municipality_id=municipality_id,
            primary_care_id=primary_care_id, consent=consent, send=send)

    def send_notices(self, repo: Repository, *, encounter_id: str) -> dict[str, Any]:
        """Send the admission notices drafted when the patient was marked."""
        stay = self._begin(repo, encounter_id)
        case, notices, sent = opening.send_admission_notices(repo, stay, now=self.now())
        return {"case": case, "notices": notices, "messages": sent}

    def share_planning(self, repo: Repository, *, encounter_id: str, functional_status: str,
                       expected_needs: str, expected_discharge: date | datetime | None = None,
                       sip_needed: bool | None = None) -> dict[str, Any]:
        stay = self._begin(repo, encounter_id, "QuestionnaireResponse")
        return planning.share_planning(
            repo, stay, require_case(repo, encounter_id), now=self.now(),
            functional_status=functional_status, expected_needs=expected_needs,
            expected_discharge=expected_discharge, sip_needed=sip_needed)

    def declare_ready(self, repo: Repository, *, encounter_id: str,
                      physician_id: str | None = None) -> dict[str, Any]:
        stay = self._begin(repo, encounter_id)
        return readiness.declare_ready(repo, stay, require_case(repo, encounter_id),
                                       now=self.now(),
                                       physician_id=physician_of(repo, physician_id))

    def withdraw_ready(self, repo: Repository, *, encounter_id: str, reason: str,
                       physician_id: str | None = None) -> dict[str, Any]:
        stay = self._begin(repo, encounter_id)
        return readiness.withdraw_ready(repo, stay, require_case(repo, encounter_id),
                                        now=self.now(),
                                        physician_id=physician_of(repo, physician_id),
                                        reason=reason)

    def send_discharge_information(self, repo: Repository, *, encounter_id: str,
                                   reason_for_admission: str, summary: str,
                                   current_status: str, responsible_physician_id: str,
                                   risk_assessments: str | None = None,
                                   care_plan: str | None = None,
                                   care_plan_id: str | None = None) -> dict[str, Any]:
        stay = self._begin(repo, encounter_id, "Composition")
        return information.send_discharge_information(
            repo, stay, require_case(repo, encounter_id), now=self.now(),
            reason_for_admission=reason_for_admission, summary=summary,
            current_status=current_status, responsible_physician_id=responsible_physician_id,
            risk_assessments=risk_assessments, care_plan=care_plan, care_plan_id=care_plan_id)

    # -- primary care ------------------------------------------------------------------------

    def assign_care_contact(self, repo: Repository, *, encounter_id: str,
                            practitioner_id: str) -> dict[str, Any]:
        stay = self._begin(repo, encounter_id, "CareTeam")
        return planning.assign_care_contact(repo, stay, require_case(repo, encounter_id),
                                            now=self.now(), practitioner_id=practitioner_id)

    def call_sip(self, repo: Repository, *, encounter_id: str,
                 meeting_at: datetime) -> dict[str, Any]:
        stay = self._begin(repo, encounter_id)
        return readiness.call_sip(repo, stay, require_case(repo, encounter_id),
                                  now=self.now(), meeting_at=meeting_at)

    def record_sip(self, repo: Repository, *, encounter_id: str, consent: bool,
                   actions: list[SipAction], responsible_id: str) -> dict[str, Any]:
        stay = self._begin(repo, encounter_id, "CarePlan", "Consent")
        return readiness.record_sip(repo, stay, require_case(repo, encounter_id),
                                    now=self.now(), consent=consent, actions=actions,
                                    responsible_id=responsible_id)

    # -- every receiver --------------------------------------------------------------------

    def acknowledge(self, repo: Repository, *, notice_id: str,
                    communication_id: str | None = None) -> list[dict[str, Any]]:
        """The receiver acknowledges what was sent to it (one message, or all pending)."""
        authorize_writes(repo, "Task", "Communication")
        notice = messages.notice_of(repo, notice_id)
        return messages.acknowledge(repo, notice=notice, at=self.now(),
                                    communication_id=communication_id)

    # -- follow-up ---------------------------------------------------------------------------

    def report(self, repo: Repository, *, municipality: str | None = None,
               hospital: str | None = None, period: str | None = None) -> Report:
        return build_report(repo, rules=self.rules, now=self.now(),
                            municipality=municipality, hospital=hospital, period=period)


__all__ = ["DischargeWorkflow", "SipAction"]
