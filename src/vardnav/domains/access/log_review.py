"""Log review (domain.md §2: logs are reviewed systematically): the accesses in a window that
need a human look, each with when, who, unit, patient and why.

Rules (`rule` codes):
- `asserted-relationship`: the assertion of a care relationship, and every access the unit
  made to the patient while it held;
- `emergency`: emergency access (nödåtkomst: purpose of use ETREAT), and every access the
  user made to the patient while the emergency grant lasted (with its stated reason);
- `same-name-address`: a staff member opened a patient who shares their family name and
  address (Practitioner vs Patient name and address: likely a relative or themself);
- `own-record`: a staff member opened the record of a patient with their own personnummer
  (staff may not open their own record);
- `protected-identity`: any staff access to a patient with protected identity
  (`meta.security` code `protected-information`);
- `volume`: a staff member touched more distinct patients in one day (UTC) than the
  threshold (`Settings.audit_review_daily_patients`, default 50).
Only staff accesses are weighed by the last four: residents reach their own records and
system integrations are reviewed by their owners.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from sqlalchemy import Connection, Integer, cast, func, or_, select, tuple_

from vardnav.domains.access.audit_names import by_hsa, by_id
from vardnav.domains.access.log_extract import may_review, window
from vardnav.domains.access.models import audit_log, audit_log_patient
from vardnav.domains.access.pdl_tables import care_relationship, emergency
from vardnav.domains.access.profiles import is_protected
from vardnav.domains.identity.swedish_identifiers import (
    PERSONNUMMER_OID,
    PERSONNUMMER_SYSTEM,
    SAMORDNINGSNUMMER_OID,
    SAMORDNINGSNUMMER_SYSTEM,
)
from vardnav.errors import BadRequest, Forbidden
from vardnav.fhir.datetimes import instant
from vardnav.fhir.hooks import AuditRecord, AuditSink, RequestContext
from vardnav.fhir.http_types import FhirRequest, FhirResponse
from vardnav.fhir.operations.registry import Operation
from vardnav.fhir.storage.repository import Repository

PERSONAL_NUMBERS = (PERSONNUMMER_SYSTEM, PERSONNUMMER_OID, SAMORDNINGSNUMMER_SYSTEM,
                    SAMORDNINGSNUMMER_OID)
CSV_COLUMNS = ("time", "rule", "user", "unit", "provider", "patient", "reason", "seq")
_CHUNK = 400

DEFINITION: dict[str, Any] = {
    "resourceType": "OperationDefinition", "id": "vardnav-log-review",
    "url": "https://vardnav.se/fhir/OperationDefinition/log-review",
    "name": "LogReview", "status": "active", "kind": "operation", "code": "log-review",
    "system": True, "type": False, "instance": False,
    "parameter": [
        {"name": "since", "use": "in", "min": 1, "max": "1", "type": "dateTime"},
        {"name": "until", "use": "in", "min": 0, "max": "1", "type": "dateTime"},
        {"name": "finding", "use": "out", "min": 0, "max": "*", "part": [
            {"name": "when", "use": "out", "min": 1, "max": "1", "type": "instant"},
            {"name": "rule", "use": "out", "min": 1, "max": "1", "type": "code"},
            {"name": "reason", "use": "out", "min": 1, "max": "1", "type": "string"}]},
    ],
}


@dataclass(frozen=True)
class Finding:
    when: float
    rule: str
    user: str | None
    unit: str | None
    provider: str | None
    patient: str | None
    reason: str
    seq: int | None = None


def review(conn: Connection, since: float, until: float | None, *,
           daily_threshold: int = 50) -> list[Finding]:
    """Every finding in [since, until), ordered by time then rule."""
    found = [*_flagged(conn, since, until), *_relatives_and_protected(conn, since, until),
             *_volume(conn, since, until, daily_threshold)]
    return sorted(found, key=lambda f: (f.when, f.rule, f.seq or 0, f.patient or ""))


def _in_window(since: float, until: float | None) -> list[Any]:
    conds = [audit_log.c.recorded >= since]
    if until is not None:
        conds.append(audit_log.c.recorded < until)
    return conds


def _flagged(conn: Connection, since: float, until: float | None) -> Iterable[Finding]:
    """Accesses marked when they were made (purpose ETREAT, asserted relationship), and any
    staff access made under an emergency grant or an asserted relationship (PDL tables)."""
    a, p = audit_log, audit_log_patient
    seen: set[tuple[int, str | None, str]] = set()
    marked = (select(a.c.seq, a.c.recorded, a.c.user_id, a.c.unit, a.c.provider, a.c.purpose,
                     a.c.care_relationship, a.c.interaction, p.c.patient)
              .outerjoin(p, p.c.seq == a.c.seq)
              .where(*_in_window(since, until),
                     or_(a.c.care_relationship == "asserted", a.c.purpose == "ETREAT")))
    for r in conn.execute(marked):
        for rule, flag, what in (("emergency", r.purpose == "ETREAT", "emergency access"),
                                 ("asserted-relationship", r.care_relationship == "asserted",
                                  "access on an asserted care relationship")):
            if flag and (r.seq, r.patient, rule) not in seen:
                seen.add((r.seq, r.patient, rule))
                yield Finding(r.recorded, rule, r.user_id, r.unit, r.provider, r.patient,
                              f"{what} ({r.interaction})", r.seq)
    end = until if until is not None else float("inf")
    for grant in conn.execute(select(emergency).where(
            emergency.c.start < end, emergency.c.until > since)):
        rows = conn.execute(_staff_accesses(max(since, grant.start), min(end, grant.until))
                            .where(a.c.user_id == grant.subject, p.c.patient == grant.patient_id))
        for r in rows:
            if (r.seq, r.patient, "emergency") not in seen:
                seen.add((r.seq, r.patient, "emergency"))
                yield Finding(r.recorded, "emergency", r.user_id, r.unit, r.provider,
                              r.patient, f"access under emergency access ({grant.reason})",
                              r.seq)
    rel = care_relationship
    for claim in conn.execute(select(rel).where(
            rel.c.source == "asserted", rel.c.start < end,
            or_(rel.c.end.is_(None), rel.c.end > since))):
        stop = min(end, claim.end if claim.end is not None else end)
        rows = conn.execute(_staff_accesses(max(since, claim.start),
                                            None if stop == float("inf") else stop)
                            .where(a.c.unit == claim.unit, p.c.patient == claim.patient_id))
        for r in rows:
            if (r.seq, r.patient, "asserted-relationship") not in seen:
                seen.add((r.seq, r.patient, "asserted-relationship"))
                yield Finding(r.recorded, "asserted-relationship", r.user_id, r.unit,
                              r.provider, r.patient, "access on a care relationship "
                              f"asserted by {claim.asserted_by} ({claim.reason})", r.seq)


def _staff_accesses(since: float, until: float | None) -> Any:
    """Staff accesses in [since, until), one row per patient touched."""
    a, p = audit_log, audit_log_patient
    return (select(a.c.seq, a.c.recorded, a.c.user_id, a.c.unit, a.c.provider, p.c.patient)
            .join(p, p.c.seq == a.c.seq)
            .where(a.c.kind == "staff", *_in_window(since, until)))


def _relatives_and_protected(conn: Connection, since: float,
                             until: float | None) -> Iterable[Finding]:
    a, p = audit_log, audit_log_patient
    pairs = conn.execute(select(a.c.user_id, p.c.patient).distinct()
                         .join(p, p.c.seq == a.c.seq)
                         .where(a.c.kind == "staff", *_in_window(since, until))).all()
    if not pairs:
        return
    staff = by_hsa(conn, "Practitioner", {u for u, _ in pairs if u})
    patients = by_id(conn, "Patient", {pid for _, pid in pairs})
    reasons: dict[tuple[str, str], tuple[str, str]] = {}
    for user, pid in pairs:
        person, patient = staff.get(user), patients.get(pid)
        if patient is None:
            continue
        if person is not None and _own_record(person, patient):
            reasons[(user, pid)] = ("own-record", "a staff member opened their own record")
        elif person is not None and _same_name_and_address(person, patient):
            reasons[(user, pid)] = ("same-name-address", "the patient shares the user's "
                                    "family name and address")
        elif is_protected(patient):
            reasons[(user, pid)] = ("protected-identity", "the patient has a protected "
                                    "identity")
    flagged = sorted(reasons)
    for i in range(0, len(flagged), _CHUNK):
        chunk = flagged[i:i + _CHUNK]
        stmt = _staff_accesses(since, until).where(
            tuple_(a.c.user_id, p.c.patient).in_(chunk))
        for r in conn.execute(stmt):
            rule, reason = reasons[(r.user_id, r.patient)]
            yield Finding(r.recorded, rule, r.user_id, r.unit, r.provider, r.patient, reason,
                          r.seq)


def _volume(conn: Connection, since: float, until: float | None,
            threshold: int) -> Iterable[Finding]:
    a, p = audit_log, audit_log_patient
    # UTC day number; PostgreSQL rounds a cast to integer, so floor there explicitly.
    day = (func.floor(a.c.recorded / 86400) if conn.dialect.name == "postgresql"
           else cast(a.c.recorded / 86400, Integer))
    patients = func.count(p.c.patient.distinct())
    stmt = (select(a.c.user_id, day.label("day"), patients.label("patients"),
                   func.max(a.c.unit).label("unit"), func.max(a.c.provider).label("provider"))
            .join(p, p.c.seq == a.c.seq)
            .where(a.c.kind == "staff", *_in_window(since, until))
            .group_by(a.c.user_id, day).having(patients > threshold))
    for r in conn.execute(stmt):
        start = int(r.day) * 86400
        date = datetime.fromtimestamp(start, UTC).date().isoformat()
        yield Finding(float(start), "volume", r.user_id, r.unit, r.provider, None,
                      f"{r.patients} distinct patients on {date} (threshold {threshold})")


def _family_names(content: dict[str, Any]) -> set[str]:
    return {str(n["family"]).strip().casefold() for n in content.get("name", [])
            if isinstance(n, dict) and n.get("family")}


def _addresses(content: dict[str, Any]) -> set[tuple[str, str]]:
    """Addresses as (street lines, postal code or else city), case and spacing ignored."""
    found = set()
    for addr in content.get("address", []):
        if not isinstance(addr, dict):
            continue
        lines = " ".join(" ".join(str(x).split()) for x in addr.get("line", [])).casefold()
        where = "".join(c for c in str(addr.get("postalCode") or "") if c.isdigit()) \
            or str(addr.get("city") or "").strip().casefold()
        if lines and where:
            found.add((lines, where))
    return found


def _same_name_and_address(person: dict[str, Any], patient: dict[str, Any]) -> bool:
    return bool(_family_names(person) & _family_names(patient)
                and _addresses(person) & _addresses(patient))


def _personnummer(content: dict[str, Any]) -> set[str]:
    return {"".join(c for c in str(i.get("value", "")) if c.isdigit())
            for i in content.get("identifier", [])
            if isinstance(i, dict) and i.get("system") in PERSONAL_NUMBERS}


def _own_record(person: dict[str, Any], patient: dict[str, Any]) -> bool:
    return bool(_personnummer(person) & _personnummer(patient))


# -- answers ---------------------------------------------------------------------------------

def as_parameters(findings: list[Finding]) -> dict[str, Any]:
    params = []
    for f in findings:
        parts: list[dict[str, Any]] = [{"name": "when", "valueInstant": instant(f.when)},
                                       {"name": "rule", "valueCode": f.rule}]
        for name, value in (("user", f.user), ("unit", f.unit), ("provider", f.provider)):
            if value:
                parts.append({"name": name, "valueString": value})
        if f.patient:
            parts.append({"name": "patient", "valueReference": {
                "reference": f"Patient/{f.patient}"}})
        parts.append({"name": "reason", "valueString": f.reason})
        if f.seq is not None:
            parts.append({"name": "seq", "valueInteger": f.seq})
        params.append({"name": "finding", "part": parts})
    return {"resourceType": "Parameters", "parameter": params}


def as_csv(findings: list[Finding]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for f in findings:
        writer.writerow([instant(f.when), f.rule, f.user or "", f.unit or "",
                         f.provider or "", f.patient or "", f.reason,
                         "" if f.seq is None else f.seq])
    return out.getvalue()


def as_json(findings: list[Finding]) -> list[dict[str, Any]]:
    return [{**asdict(f), "when": instant(f.when)} for f in findings]


def run(conn: Connection, ctx: RequestContext, audit: AuditSink, query: list[tuple[str, str]],
        *, daily_threshold: int) -> list[Finding]:
    """The review as the API and the command line run it: log reviewers and system callers
    only; the review itself is logged."""
    if not may_review(ctx):
        raise Forbidden("The log review is for log reviewers (staff role log-reviewer)")
    since, until = window(query)
    if since is None:
        raise BadRequest("$log-review needs since (a date or date-time)")
    findings = review(conn, since, until, daily_threshold=daily_threshold)
    audit.record(conn, ctx, AuditRecord(
        "operation:log-review", None, [], detail={
            "since": instant(since), "until": until and instant(until),
            "findings": len(findings)}))
    return findings


def handle(repo: Repository, req: FhirRequest, rtype: str | None, fhir_id: str | None, *,
           daily_threshold: int) -> FhirResponse:
    if rtype is not None:
        raise BadRequest("$log-review is run on the whole system: [base]/$log-review")
    findings = run(repo.conn, repo.ctx, repo.s.audit, req.query,
                   daily_threshold=daily_threshold)
    return FhirResponse(200, as_parameters(findings))


def log_review_operation(*, daily_threshold: int) -> Operation:
    return Operation("log-review", DEFINITION, partial(handle, daily_threshold=daily_threshold),
                     None, ("GET",))
