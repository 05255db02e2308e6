"""`Patient/{id}/$log-extract` (loggutdrag, domain.md §2): which care units and providers
accessed the patient's data, and when; with `Settings.log_extract_shows_users` also which
users (public providers give user names).

Who may ask: the patient (a resident token with that patient in context, so also a guardian
while the child's record is theirs to see), log reviewers (staff role `log-reviewer`) and
system integrations. The extract is itself logged. Parameters `since` / `until` (dates or
date-times) narrow the window. The answer is a Bundle (collection) of AuditEvents cut down to
what the patient is entitled to see: no network addresses or apps, and no other patient or
their resources that a shared search touched. `?_format=csv` gives the same as CSV
(audit_router.py).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy import select

from vardnav.domains.access.audit_events import (
    AGENT_TYPE,
    HSA_SYSTEM,
    SOURCE,
    caller_of,
    interaction_parts,
)
from vardnav.domains.access.audit_frames import parsed_frames, render
from vardnav.domains.access.audit_names import exists, organisation_names, staff_names
from vardnav.domains.access.models import audit_log, audit_log_patient
from vardnav.errors import BadRequest, Forbidden, NotFound, TooCostly
from vardnav.fhir.datetimes import DateFormatError, instant, parse_range
from vardnav.fhir.hooks import AuditRecord, RequestContext
from vardnav.fhir.http_types import FhirRequest, FhirResponse
from vardnav.fhir.operations.registry import Operation
from vardnav.fhir.storage.repository import Repository

LOG_REVIEWER = "log-reviewer"  # the profession/role code of staff who review the log
MAX_ROWS = 100_000  # per extract; a longer history is asked for in periods

DEFINITION: dict[str, Any] = {
    "resourceType": "OperationDefinition", "id": "vardnav-log-extract",
    "url": "https://vardnav.se/fhir/OperationDefinition/log-extract",
    "name": "LogExtract", "status": "active", "kind": "operation", "code": "log-extract",
    "resource": ["Patient"], "system": False, "type": False, "instance": True,
    "parameter": [
        {"name": "since", "use": "in", "min": 0, "max": "1", "type": "dateTime"},
        {"name": "until", "use": "in", "min": 0, "max": "1", "type": "dateTime"},
        {"name": "return", "use": "out", "min": 1, "max": "1", "type": "Bundle"},
    ],
}

CSV_COLUMNS = ("time", "action", "interaction", "resource_type", "care_unit",
               "care_unit_name", "care_provider", "care_provider_name", "user", "user_name",
               "user_kind", "purpose", "outcome")


@dataclass(frozen=True)
class Access:
    """One access to the patient's data, as the extract shows it."""

    seq: int
    recorded: float
    event: dict[str, Any]
    interaction: str
    resource_type: str | None
    kind: str | None
    user: str | None
    user_name: str | None
    unit: str | None
    unit_name: str | None
    provider: str | None
    provider_name: str | None
    purpose: str | None
    outcome: str


def may_review(ctx: RequestContext) -> bool:
    """Log reviewers (staff role `log-reviewer`) and system callers."""
    c = caller_of(ctx)
    return c.kind == "system" or (c.kind == "staff" and c.role == LOG_REVIEWER)


def window(query: list[tuple[str, str]]) -> tuple[float | None, float | None]:
    """`since` / `until` query parameters as epoch seconds (`until` includes its whole day)."""
    q = dict(query)
    try:
        since = parse_range(q["since"])[0] if q.get("since") else None
        until = parse_range(q["until"])[1] if q.get("until") else None
    except DateFormatError as exc:
        raise BadRequest(f"since/until: {exc}") from exc
    return since, until


def extract(repo: Repository, patient: str, since: float | None, until: float | None, *,
            shows_users: bool) -> list[Access]:
    """The accesses to `patient`'s data, oldest first, after checking who asks; audited."""
    c = caller_of(repo.ctx)
    if not (may_review(repo.ctx) or (c.kind == "resident" and c.patient == patient)):
        raise Forbidden("A log extract is given to the patient and to log reviewers only")
    if not exists(repo.conn, "Patient", patient):
        raise NotFound(f"Patient/{patient} is not known")
    a, p = audit_log, audit_log_patient
    stmt = (select(a.c.seq, a.c.recorded, a.c.event, a.c.interaction, a.c.resource_type,
                   a.c.kind, a.c.user_id, a.c.unit, a.c.provider, a.c.purpose, a.c.outcome)
            .join(p, p.c.seq == a.c.seq).where(p.c.patient == patient)
            .order_by(a.c.recorded, a.c.seq).limit(MAX_ROWS))
    if since is not None:
        stmt = stmt.where(a.c.recorded >= since)
    if until is not None:
        stmt = stmt.where(a.c.recorded < until)
    rows = repo.conn.execute(stmt).all()
    if len(rows) == MAX_ROWS:  # never a silently cut extract
        raise TooCostly(f"More than {MAX_ROWS} accesses: ask for a shorter period with "
                        "since and until")
    orgs = organisation_names(repo.conn, {h for r in rows for h in (r.unit, r.provider) if h})
    staff = staff_names(repo.conn, {r.user_id for r in rows if r.kind == "staff"
                                    and r.user_id}) if shows_users else {}
    stored = [json.loads(r.event) for r in rows]
    frames = parsed_frames(repo.conn, stored)
    accesses = [Access(r.seq, r.recorded, _rendered(e, frames, r.interaction), r.interaction,
                       r.resource_type, r.kind, _user(r.kind, r.user_id, shows_users),
                       staff.get(r.user_id), r.unit, orgs.get(r.unit), r.provider,
                       orgs.get(r.provider), r.purpose, r.outcome)
                for r, e in zip(rows, stored, strict=True)]
    repo.s.audit.record(repo.conn, repo.ctx, AuditRecord(
        "operation:log-extract", "Patient", [patient], patients=[patient],
        detail={"accesses": len(accesses), "since": since and instant(since),
                "until": until and instant(until)}))
    return accesses


MISSING_FRAME = "this entry's frame is missing from the access log"


def _rendered(stored: dict[str, Any], frames: dict[str, Any],
              interaction: str) -> dict[str, Any]:
    try:
        return render(stored, frames)
    except KeyError:  # its frame is gone: `vardnav audit verify` reports it; show what is left
        # (type, subtype and action follow from the row's interaction column alone)
        return {"resourceType": "AuditEvent", "id": stored.get("id"),
                **interaction_parts(interaction),
                "recorded": stored.get("recorded"), "outcome": stored.get("outcome"),
                "outcomeDesc": MISSING_FRAME,
                "agent": [{"type": {"text": "unknown"}, "requestor": True}],
                "source": SOURCE}


def _user(kind: str | None, user: str | None, shows_users: bool) -> str | None:
    if kind == "staff":
        return user if shows_users else None
    return user if kind == "system" else None  # a resident's own or a guardian's access


# -- answers ---------------------------------------------------------------------------------

def as_bundle(accesses: list[Access], patient: str) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "collection", "total": len(accesses),
            "entry": [{"fullUrl": f"urn:uuid:{a.event['id']}",
                       "resource": _view(a, patient)} for a in accesses]}


def _view(a: Access, patient: str) -> dict[str, Any]:
    e = a.event
    view: dict[str, Any] = {k: e[k] for k in ("resourceType", "id", "type", "subtype",
                                              "action", "recorded", "outcome",
                                              "purposeOfEvent", "source") if k in e}
    if e.get("outcomeDesc") == MISSING_FRAME:  # other outcome texts are not the patient's
        view["outcomeDesc"] = MISSING_FRAME
    user: dict[str, Any] = {"type": e["agent"][0]["type"], "requestor": True}
    if a.user and a.kind == "staff":
        user["who"] = {"identifier": {"system": HSA_SYSTEM, "value": a.user},
                       **({"display": a.user_name} if a.user_name else {})}
    elif a.user:
        user["who"] = {"display": a.user}
    elif a.kind == "resident":
        user["who"] = {"display": "the patient, or a guardian"}
    if a.kind == "staff" and "role" in e["agent"][0]:
        user["role"] = e["agent"][0]["role"]
    view["agent"] = [user, *(_org_agent(code, hsa, name) for code, hsa, name in (
        ("care-unit", a.unit, a.unit_name), ("care-provider", a.provider, a.provider_name))
        if hsa)]
    entity: dict[str, Any] = {"what": {"reference": f"Patient/{patient}"}}
    if a.resource_type:
        entity["detail"] = [{"type": "resourceType", "valueString": a.resource_type}]
    view["entity"] = [entity]
    return view


def _org_agent(code: str, hsa: str, name: str | None) -> dict[str, Any]:
    who: dict[str, Any] = {"type": "Organization",
                           "identifier": {"system": HSA_SYSTEM, "value": hsa}}
    if name:
        who["display"] = name
    return {"type": {"coding": [{"system": AGENT_TYPE, "code": code}]}, "who": who,
            "requestor": False}


def as_csv(accesses: list[Access]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for a in accesses:
        writer.writerow([instant(a.recorded), a.event.get("action"), a.interaction,
                         a.resource_type or "", a.unit or "", a.unit_name or "",
                         a.provider or "", a.provider_name or "", a.user or "",
                         a.user_name or "", a.kind or "", a.purpose or "", a.outcome])
    return out.getvalue()


def handle(repo: Repository, req: FhirRequest, rtype: str | None, fhir_id: str | None, *,
           shows_users: bool) -> FhirResponse:
    if fhir_id is None:
        raise BadRequest("$log-extract is run on one patient: Patient/{id}/$log-extract")
    since, until = window(req.query)
    accesses = extract(repo, fhir_id, since, until, shows_users=shows_users)
    return FhirResponse(200, as_bundle(accesses, fhir_id))


def log_extract_operation(*, shows_users: bool) -> Operation:
    return Operation("log-extract", DEFINITION, partial(handle, shows_users=shows_users),
                     ("Patient",), ("GET",))
