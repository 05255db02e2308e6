"""Reports per municipality and per hospital: open cases, overdue notices, days from ready to
discharge, payment days and amount, for a period — as a FHIR Parameters resource and as CSV.

The cases are read with an ordinary search through the repository, so the access policy
decides what a report may contain: a municipality's staff see their own residents' cases
(the care relationship their notices give, and the patient's consent), a system integration
(a billing or statistics system) sees every case. Municipal staff are held to their own
municipality.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from vardnav.domains.discharge import codes as c
from vardnav.domains.discharge.case import fetch, iso
from vardnav.domains.discharge.facts import LOCAL, CaseFacts, facts_of, local_date
from vardnav.domains.discharge.payment import PaymentRules
from vardnav.domains.discharge.residence import municipality_code
from vardnav.domains.identity.access.principal import Principal
from vardnav.domains.identity.organisation.assignments import hsa_of, org_type
from vardnav.domains.identity.organisation.region import HSA_SYSTEM, MUNICIPALITY_CODE_SYSTEM
from vardnav.errors import BadRequest, Forbidden
from vardnav.fhir.storage.repository import Repository

PAGE = 500


@dataclass(frozen=True)
class Row:
    facts: CaseFacts
    overdue_notices: int
    notice_overdue: bool
    ready_to_discharge: int | None
    sip_late: bool
    info_late: bool
    payment_days: int
    amount: int

    @property
    def open(self) -> bool:
        return self.facts.status not in ("completed", "cancelled") and \
            self.facts.discharged is None


@dataclass(frozen=True)
class Report:
    start: date
    end: date  # exclusive
    municipality: str | None
    hospital: str | None
    rows: list[Row]


def period_of(text: str | None, today: date) -> tuple[date, date]:
    """`YYYY`, `YYYY-MM` or `YYYY-MM-DD` as [start, end); default: this month."""
    if not text:
        start = today.replace(day=1)
        text = start.strftime("%Y-%m")
    try:
        parts = [int(p) for p in text.split("-")]
        if len(parts) == 1:
            return date(parts[0], 1, 1), date(parts[0] + 1, 1, 1)
        if len(parts) == 2:
            start = date(parts[0], parts[1], 1)
            nxt = start.replace(year=start.year + start.month // 12,
                                month=start.month % 12 + 1)
            return start, nxt
        if len(parts) == 3:
            day = date(*parts)
            return day, day + timedelta(days=1)
    except ValueError:
        pass
    raise BadRequest(f"period must be YYYY, YYYY-MM or YYYY-MM-DD, not {text!r}")


def _organization(repo: Repository, value: str, *, by_code: bool) -> dict[str, Any]:
    pairs = ([("identifier", f"{MUNICIPALITY_CODE_SYSTEM}|{value}")] if by_code and
             value.isdigit() else [("identifier", f"{HSA_SYSTEM}|{value}")])
    found = fetch(repo, "Organization", value)
    if found is None:
        ids = repo.search_ids("Organization", pairs)
        found = fetch(repo, "Organization", ids[0]) if len(ids) == 1 else None
    if found is None:
        raise BadRequest(f"No organisation {value!r} (an Organization id, HSA-id"
                         f"{' or municipality code' if by_code else ''})")
    return found


def build_report(repo: Repository, *, rules: PaymentRules, now: datetime,
                 municipality: str | None = None, hospital: str | None = None,
                 period: str | None = None) -> Report:
    today = local_date(now)
    start, end = period_of(period, today)
    p = repo.ctx.principal
    muni = _organization(repo, municipality, by_code=True) if municipality else None
    if muni is not None and org_type(muni) != "municipality":
        raise BadRequest(f"{municipality!r} is not a municipality")
    if isinstance(p, Principal) and p.kind == "staff" and p.provider:
        own = _organization(repo, p.provider, by_code=False)
        if org_type(own) == "municipality":
            if muni is not None and muni["id"] != own["id"]:
                raise Forbidden("A municipality's staff report on their own municipality "
                                "only")
            muni = own
    hosp = _organization(repo, hospital, by_code=False) if hospital else None
    pairs = [("code", f"{c.PROCESS}|{c.CASE}"),
             ("authored-on", "lt" + iso(datetime.combine(end, datetime.min.time(), LOCAL))),
             ("_revinclude", "Task:part-of"), ("_sort", "_id")]
    if muni is not None:
        pairs.append(("_has:Task:part-of:owner", f"Organization/{muni['id']}"))
    if hosp is not None:
        pairs.append(("requester", f"Organization/{hosp['id']}"))
    cases: list[dict[str, Any]] = []
    notices: list[dict[str, Any]] = []
    offset = 0
    while True:
        req = repo.parse("Task", [*pairs, ("_count", str(PAGE))])
        req.offset = offset
        result = repo.search(req)
        cases += result.matches
        notices += [t for t in result.included if t.get("resourceType") == "Task"]
        if len(result.matches) < PAGE:
            break
        offset += PAGE
    period_start = datetime.combine(start, datetime.min.time(), LOCAL)
    rows = []
    for case in cases:
        facts = facts_of(case, notices)
        if facts.closed is not None and facts.closed < period_start:
            continue
        days, amount = rules.payable(facts, today, start, end)
        overdue = [n for n in facts.notices if n.overdue(now)]
        rows.append(Row(facts, len(overdue), bool(overdue), facts.ready_to_discharge_days(),
                        facts.sip_late(now), facts.discharge_info_late(now), len(days),
                        amount))
    return Report(start, end, municipality_code(muni) if muni else None,
                  hsa_of(hosp) if hosp else None, rows)


# -- rendering --------------------------------------------------------------------------


def _summary(rows: list[Row]) -> list[dict[str, Any]]:
    waits = [r.ready_to_discharge for r in rows if r.ready_to_discharge is not None]
    parts: list[dict[str, Any]] = [
        {"name": "cases", "valueInteger": len(rows)},
        {"name": "openCases", "valueInteger": sum(r.open for r in rows)},
        {"name": "overdueNotices", "valueInteger": sum(r.overdue_notices for r in rows)},
        {"name": "lateSipCalls", "valueInteger": sum(r.sip_late for r in rows)},
        {"name": "lateDischargeInformation", "valueInteger": sum(r.info_late for r in rows)},
        {"name": "paymentDays", "valueInteger": sum(r.payment_days for r in rows)},
        {"name": "amount", "valueMoney": {"value": sum(r.amount for r in rows),
                                          "currency": "SEK"}}]
    if waits:
        parts.insert(4, {"name": "meanDaysReadyToDischarge",
                         "valueDecimal": round(sum(waits) / len(waits), 2)})
    return parts


def _group(rows: list[Row], key: str) -> list[dict[str, Any]]:
    groups: dict[str, list[Row]] = {}
    for row in rows:
        ref = row.facts.municipality if key == "municipality" else row.facts.hospital
        groups.setdefault(ref.get("display") or ref.get("reference") or "?", []).append(row)
    return [{"name": key, "part": [{"name": "name", "valueString": name},
                                   *_summary(members)]}
            for name, members in sorted(groups.items())]


COLUMNS = ("case", "patient", "encounter", "municipality", "municipalityCode", "hospital",
           "status", "businessStatus", "admitted", "noticeDeadline", "admissionNoticeSent",
           "noticeOverdue", "ready", "discharged", "daysReadyToDischarge", "sipNeeded",
           "sipCalled", "sipLate", "dischargeInformationSent", "dischargeInformationLate",
           "paymentDays", "amount")


def _values(row: Row) -> dict[str, Any]:
    f = row.facts
    notice = f.municipality_notice
    return {
        "case": f"Task/{f.case_id}", "patient": f"Patient/{f.patient_id}",
        "encounter": f"Encounter/{f.encounter_id}",
        "municipality": f.municipality.get("display"), "municipalityCode": f.municipality_code,
        "hospital": f.hospital.get("display"), "status": f.status,
        "businessStatus": f.business_status, "admitted": f.admitted,
        "noticeDeadline": notice.deadline if notice else None,
        "admissionNoticeSent": notice.sent if notice else None,
        "noticeOverdue": row.notice_overdue,
        "ready": f.ready_periods[-1][0] if f.ready_periods else None,
        "discharged": f.discharged, "daysReadyToDischarge": row.ready_to_discharge,
        "sipNeeded": f.sip_needed, "sipCalled": f.sip_called, "sipLate": row.sip_late,
        "dischargeInformationSent": f.discharge_info_sent,
        "dischargeInformationLate": row.info_late, "paymentDays": row.payment_days,
        "amount": row.amount}


def _part(name: str, value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return {"name": name, "valueBoolean": value}
    if isinstance(value, int):
        return {"name": name, "valueInteger": value}
    if isinstance(value, datetime):
        return {"name": name, "valueDateTime": iso(value)}
    return {"name": name, "valueString": str(value)}


def as_parameters(report: Report) -> dict[str, Any]:
    rows = report.rows
    head: list[dict[str, Any]] = [{"name": "period", "valuePeriod": {
        "start": report.start.isoformat(),
        "end": (report.end - timedelta(days=1)).isoformat()}}]
    if report.municipality:
        head.append({"name": "municipality-code", "valueString": report.municipality})
    if report.hospital:
        head.append({"name": "hospital", "valueIdentifier": {"system": HSA_SYSTEM,
                                                              "value": report.hospital}})
    cases = [{"name": "case", "part": [p for k, v in _values(r).items()
                                       if (p := _part(k, v)) is not None]} for r in rows]
    return {"resourceType": "Parameters", "parameter": [
        *head, {"name": "summary", "part": _summary(rows)}, *_group(rows, "municipality"),
        *_group(rows, "hospital"), *cases]}


def as_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in report.rows:
        values = _values(row)
        writer.writerow(["" if values[k] is None else
                         iso(values[k]) if isinstance(values[k], datetime) else
                         str(values[k]).lower() if isinstance(values[k], bool) else values[k]
                         for k in COLUMNS])
    return out.getvalue()
