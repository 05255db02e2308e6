"""The facts of one case that deadlines, payment days and reports are computed from, read
from the case Task and its notice Tasks (never from anything the caller may not see)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from vardnav.domains.discharge import codes as c
from vardnav.domains.discharge.case import parse_time, ref_id, times, value
from vardnav.domains.swedish_time import SWEDEN as LOCAL

# Calendar days (payment days, "the day of discharge", the SIP's three days) are Swedish:
# dates are taken in LOCAL.
SIP_DAYS = 3


def local_date(moment: datetime) -> date:
    return moment.astimezone(LOCAL).date()


def end_of_local_day(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), datetime.min.time(), LOCAL)


@dataclass(frozen=True)
class Notice:
    id: str
    receiver: dict[str, Any]
    status: str
    deadline: datetime | None
    sent: datetime | None

    def overdue(self, now: datetime) -> bool:
        """Sent after its deadline, or still unsent past it."""
        if self.deadline is None or self.status == "cancelled":
            return False
        return (self.sent or now) > self.deadline


@dataclass(frozen=True)
class CaseFacts:
    case_id: str
    status: str
    business_status: str | None
    patient_id: str | None
    encounter_id: str | None
    municipality: dict[str, Any]  # reference (display, identifier)
    municipality_code: str | None
    hospital: dict[str, Any]
    judged: datetime | None
    admitted: datetime | None
    notices: tuple[Notice, ...]
    # (ready, withdrawn or None), in order: a ready-withdrawn-ready stay has two periods.
    ready_periods: tuple[tuple[datetime, datetime | None], ...]
    discharged: datetime | None
    sip_needed: bool
    sip_called: datetime | None
    discharge_info_sent: datetime | None
    closed: datetime | None = None
    warnings: tuple[str, ...] = field(default=())

    @property
    def municipality_notice(self) -> Notice | None:
        return next((n for n in self.notices if n.receiver.get("reference") ==
                     self.municipality.get("reference")), None)

    def ready_to_discharge_days(self) -> int | None:
        """Calendar days from the last ready notice to the discharge."""
        if self.discharged is None or not self.ready_periods:
            return None
        start, end = self.ready_periods[-1]
        if end is not None:  # withdrawn and never ready again: discharged as not ready
            return None
        return (local_date(self.discharged) - local_date(start)).days

    def sip_deadline(self) -> datetime | None:
        """Three calendar days after the (latest) ready notice, when a SIP is needed."""
        if not (self.sip_needed and self.ready_periods):
            return None
        return end_of_local_day(local_date(self.ready_periods[-1][0]) +
                                timedelta(days=SIP_DAYS))

    def sip_late(self, now: datetime) -> bool:
        deadline = self.sip_deadline()
        return deadline is not None and (self.sip_called or now) > deadline

    def discharge_info_late(self, now: datetime) -> bool:
        """Not sent by the end of the day of discharge (Swedish time)."""
        if self.discharged is None or self.status == "cancelled":
            return False
        deadline = end_of_local_day(local_date(self.discharged))
        return (self.discharge_info_sent or now) > deadline


def facts_of(case: dict[str, Any], notices: list[dict[str, Any]]) -> CaseFacts:
    ready, withdrawn = times(case, c.READY), times(case, c.READY_WITHDRAWN)
    periods: list[tuple[datetime, datetime | None]] = []
    for start in sorted(ready):
        end = min((w for w in withdrawn if w > start), default=None)
        periods.append((start, end))
    discharged = times(case, c.DISCHARGED)
    sent_info = times(case, c.DISCHARGE_INFO_SENT)
    called = times(case, c.SIP_CALLED)
    own = [n for n in notices if any(ref_id(p, "Task") == case["id"]
                                     for p in n.get("partOf", []))]
    closed = discharged[-1] if discharged else (
        parse_time(case.get("lastModified")) if case.get("status") == "cancelled" else None)
    return CaseFacts(
        case_id=case["id"], status=case.get("status", ""),
        business_status=c.code_of(case.get("businessStatus"), c.STATUS),
        patient_id=ref_id(case.get("for"), "Patient"),
        encounter_id=ref_id(case.get("encounter"), "Encounter"),
        municipality=value(case, c.MUNICIPALITY) or {},
        municipality_code=value(case, c.MUNICIPALITY_CODE),
        hospital=case.get("requester") or {},
        judged=(times(case, c.SUPPORT_JUDGED) or [None])[0],
        admitted=(times(case, c.ADMITTED) or [None])[0],
        notices=tuple(Notice(
            id=n["id"], receiver=n.get("owner") or {}, status=n.get("status", ""),
            deadline=parse_time(((n.get("restriction") or {}).get("period") or {}).get("end")),
            sent=parse_time(n.get("authoredOn"))) for n in own),
        ready_periods=tuple(periods), discharged=discharged[-1] if discharged else None,
        sip_needed=bool(value(case, c.SIP_NEEDED)),
        sip_called=called[-1] if called else None,
        discharge_info_sent=sent_info[0] if sent_info else None, closed=closed)
