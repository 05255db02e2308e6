"""PDL operations (documented in docs/pdl.md), each audited:

- `Patient/{id}/$assert-care-relationship` (reason): the user's unit takes part in the
  patient's care although no encounter, team or referral shows it; flagged for log review.
- `Patient/{id}/$emergency-access` (reason): time-limited access without consent.
- `Patient/{id}/$block` (kind, unit or provider, dataFrom, dataTo, exemptAttention): register a
  block as a Consent; the patient or staff at the patient's request — never a guardian.
- `Consent/{id}/$lift-block` (reason, basis, user or unit, days ≤ 7; or permanent=true on the
  patient's request) and `Consent/{id}/$void-block` (reason): a wrong block is voided.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import insert, or_, select

from vardnav.domains.access.derivations import BLOCK_OPERATION
from vardnav.domains.access.pdl_tables import block, block_lift, care_relationship, emergency
from vardnav.domains.access.profiles import (
    BLOCK_EXEMPTS_ATTENTION,
    BLOCK_KIND,
    CONSENT_CATEGORY,
    CONSENT_SCOPE,
    consent_category,
)
from vardnav.domains.identity.access.principal import Principal
from vardnav.domains.identity.organisation.region import HSA_SYSTEM
from vardnav.errors import BadRequest, Forbidden, NotFound
from vardnav.fhir.datetimes import instant
from vardnav.fhir.http_types import FhirRequest, FhirResponse
from vardnav.fhir.operations.parameters import parameters as _params
from vardnav.fhir.operations.registry import Operation
from vardnav.fhir.storage.repository import Repository
from vardnav.fhir.storage.tables import resource

MAX_LIFT_DAYS = 7
ASSERTED_HOURS = 24.0


def _reason(params: dict[str, Any]) -> str:
    reason = params.get("reason")
    if not isinstance(reason, str) or len(reason.strip()) < 3:
        raise BadRequest("A reason is required (parameter 'reason', at least 3 characters)")
    return reason.strip()


def _staff(repo: Repository) -> Principal:
    p = repo.ctx.principal
    if not (isinstance(p, Principal) and p.kind == "staff" and p.unit):
        raise Forbidden("Only staff working in a care unit can do this")
    return p


def _outcome(message: str) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome",
            "issue": [{"severity": "information", "code": "informational",
                       "diagnostics": message}]}


def assert_relationship(repo: Repository, req: FhirRequest, rtype: str | None,
                        fhir_id: str | None) -> FhirResponse:
    p = _staff(repo)
    reason = _reason(_params(req.body))
    patient = repo.read("Patient", fhir_id or "")
    start = time.time()
    until = start + ASSERTED_HOURS * 3600
    repo.conn.execute(insert(care_relationship).values(
        patient_id=patient["id"], unit=p.unit, source="asserted", source_ref=None,
        start=start, end=until, asserted_by=p.subject, reason=reason))
    repo.ctx.attributes["care_relationship"] = "asserted"
    repo.record_audit("assert-care-relationship", "Patient", [patient["id"]],
                      resources=[patient], reason=reason, until=instant(until))
    return FhirResponse(200, _outcome(f"Care relationship asserted for {p.unit} until "
                                      f"{instant(until)}; the access is flagged for review"))


def emergency_access(repo: Repository, req: FhirRequest, rtype: str | None,
                     fhir_id: str | None, *, hours: float = 4.0) -> FhirResponse:
    p = _staff(repo)
    reason = _reason(_params(req.body))
    patient = repo.read("Patient", fhir_id or "")
    start = time.time()
    until = start + hours * 3600
    repo.conn.execute(insert(emergency).values(
        subject=p.subject, unit=p.unit, provider=p.provider, patient_id=patient["id"],
        start=start, until=until, reason=reason))
    repo.ctx.attributes["purpose_of_use"] = "ETREAT"
    repo.record_audit("emergency-access", "Patient", [patient["id"]], resources=[patient],
                      reason=reason, until=instant(until))
    return FhirResponse(200, _outcome(f"Emergency access until {instant(until)}; logged and "
                                      "reviewed"))


def register_block(repo: Repository, req: FhirRequest, rtype: str | None,
                   fhir_id: str | None) -> FhirResponse:
    p = repo.ctx.principal
    if not isinstance(p, Principal) or p.kind == "system":
        raise Forbidden("A block is registered by the patient or by staff at their request")
    if p.kind == "resident" and (p.fhir_user or "").startswith("RelatedPerson/"):
        raise Forbidden("A guardian cannot block a child's data")
    params = _params(req.body)
    kind = params.get("kind")
    if kind not in ("inner", "outer"):
        raise BadRequest("kind must be 'inner' (a unit's data) or 'outer' (a provider's)")
    target = params.get("unit" if kind == "inner" else "provider")
    if not isinstance(target, str) or not target:
        raise BadRequest(f"Give the HSA-id of the {'unit' if kind == 'inner' else 'provider'} "
                         "whose data is blocked")
    patient = repo.read("Patient", fhir_id or "")
    provision: dict[str, Any] = {
        "type": "deny",
        "actor": [{"role": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
            "code": "CST"}]},
            "reference": {"identifier": {"system": HSA_SYSTEM, "value": target}}}]}
    period = {k: v for k, v in (("start", params.get("dataFrom")),
                                ("end", params.get("dataTo"))) if isinstance(v, str)}
    if period:
        provision["dataPeriod"] = period
    resource = {
        "resourceType": "Consent", "status": "active", "scope": CONSENT_SCOPE,
        "category": [{"coding": [{"system": CONSENT_CATEGORY, "code": "block"}]}],
        "patient": {"reference": f"Patient/{patient['id']}"},
        "dateTime": instant(time.time()),
        "extension": [{"url": BLOCK_KIND, "valueCode": kind},
                      {"url": BLOCK_EXEMPTS_ATTENTION,
                       "valueBoolean": params.get("exemptAttention") is True}],
        "provision": provision}
    repo.ctx.attributes[BLOCK_OPERATION] = True
    try:
        result = repo.create("Consent", resource)
    finally:
        repo.ctx.attributes.pop(BLOCK_OPERATION, None)
    repo.record_audit("block", "Consent", [result.id], resources=[patient], kind=kind,
                      target=target)
    return FhirResponse(201, result.resource, {"Location": f"Consent/{result.id}"})


def _block_consent(repo: Repository, fhir_id: str | None) -> dict[str, Any]:
    """The block's Consent, read past the access filter: a user of another provider is not
    shown the block (which provider holds blocked data is not revealed), yet may lift it with
    the patient's consent or in an emergency — a deliberate, audited step."""
    row = repo.conn.execute(select(resource.c.content).where(
        resource.c.resource_type == "Consent", resource.c.fhir_id == (fhir_id or ""),
        resource.c.deleted.is_(False))).first()
    if row is None or consent_category(row.content) != "block":
        raise NotFound(f"Consent/{fhir_id} is not a block")
    return row.content


def lift_block(repo: Repository, req: FhirRequest, rtype: str | None,
               fhir_id: str | None) -> FhirResponse:
    p = repo.ctx.principal
    params = _params(req.body)
    reason = _reason(params)
    found = _block_consent(repo, fhir_id)
    patient_id = (found.get("patient") or {}).get("reference", "").rpartition("/")[2]
    if params.get("permanent") is True:
        own = (isinstance(p, Principal) and p.kind == "resident" and p.patient == patient_id
               and not (p.fhir_user or "").startswith("RelatedPerson/"))
        on_request = (isinstance(p, Principal) and p.kind == "staff"
                      and params.get("basis") == "patient-request")
        if not (own or on_request):
            raise Forbidden("A block is lifted permanently only at the patient's request "
                            "(the patient, or staff with basis=patient-request)")
        repo.ctx.attributes[BLOCK_OPERATION] = True
        try:
            result = repo.update("Consent", found["id"], {**found, "status": "inactive"})
        finally:
            repo.ctx.attributes.pop(BLOCK_OPERATION, None)
        repo.record_audit("lift-block", "Consent", [found["id"]], resources=[found],
                          permanent=True, reason=reason)
        return FhirResponse(200, result.resource)
    staff = _staff(repo)
    basis = params.get("basis")
    if basis not in ("consent", "emergency"):
        raise BadRequest("basis must be 'consent' (the patient agreed) or 'emergency'")
    user, unit = params.get("user"), params.get("unit")
    if (user is None) == (unit is None):
        raise BadRequest("Lift the block for one named user or for one unit (give exactly "
                         "one of 'user' and 'unit')")
    # The lift opens data for whoever needs it now: the caller themself or the caller's unit,
    # and only where they may read the patient's data at all (a care relationship, or
    # emergency access for an emergency lift).
    if user not in (None, staff.subject) or unit not in (None, staff.unit):
        raise Forbidden("A block is lifted for yourself or for your own care unit only")
    _check_lift_basis(repo, staff, patient_id, basis)
    days = params.get("days", MAX_LIFT_DAYS)
    if not isinstance(days, int | float) or not 0 < days <= MAX_LIFT_DAYS:
        raise BadRequest(f"A temporary lift lasts at most {MAX_LIFT_DAYS} days")
    start = time.time()
    rows = repo.conn.execute(select(block.c.id).where(
        block.c.source_ref == f"Consent/{found['id']}")).all()
    for row in rows:
        repo.conn.execute(insert(block_lift).values(
            block_id=row.id, subject=user, unit=unit, start=start,
            until=start + days * 86400, basis=basis, reason=reason, lifted_by=staff.subject))
    if basis == "emergency":
        repo.ctx.attributes["purpose_of_use"] = "ETREAT"
    repo.record_audit("lift-block", "Consent", [found["id"]], resources=[found], basis=basis,
                      user=user, unit=unit, days=days, reason=reason)
    return FhirResponse(200, _outcome(f"Block lifted for {user or unit} for {days} days"))


def _check_lift_basis(repo: Repository, staff: Principal, patient_id: str, basis: str) -> None:
    now = time.time()
    if basis == "emergency":
        rows = repo.conn.execute(select(emergency.c.id).where(
            emergency.c.patient_id == patient_id, emergency.c.subject == staff.subject,
            emergency.c.until > now)).first()
        if rows is None:
            raise Forbidden("An emergency lift needs your current emergency access to the "
                            "patient ($emergency-access first)")
        return
    rel = care_relationship
    if repo.conn.execute(select(rel.c.id).where(
            rel.c.patient_id == patient_id, rel.c.unit == staff.unit, rel.c.start <= now,
            or_(rel.c.end.is_(None), rel.c.end > now))).first() is None:
        raise Forbidden("Lifting a block with the patient's consent needs a care relationship "
                        "between your unit and the patient")


def void_block(repo: Repository, req: FhirRequest, rtype: str | None,
               fhir_id: str | None) -> FhirResponse:
    _staff(repo)
    reason = _reason(_params(req.body))
    found = _block_consent(repo, fhir_id)
    repo.ctx.attributes[BLOCK_OPERATION] = True
    try:
        result = repo.update("Consent", found["id"], {**found, "status": "entered-in-error"})
    finally:
        repo.ctx.attributes.pop(BLOCK_OPERATION, None)
    repo.record_audit("void-block", "Consent", [found["id"]], resources=[found], reason=reason)
    return FhirResponse(200, result.resource)


def _definition(code: str, resource: str) -> dict[str, Any]:
    return {"resourceType": "OperationDefinition", "id": f"vardnav-{code}",
            "url": f"https://vardnav.se/fhir/OperationDefinition/{code}", "name": code,
            "status": "active", "kind": "operation", "code": code, "resource": [resource],
            "system": False, "type": False, "instance": True}


def pdl_operations(emergency_hours: float) -> list[Operation]:
    def emergency_handler(repo: Repository, req: FhirRequest, rtype: str | None,
                          fhir_id: str | None) -> FhirResponse:
        return emergency_access(repo, req, rtype, fhir_id, hours=emergency_hours)

    return [
        Operation("assert-care-relationship", _definition("assert-care-relationship",
                                                          "Patient"),
                  assert_relationship, ("Patient",), ("POST",)),
        Operation("emergency-access", _definition("emergency-access", "Patient"),
                  emergency_handler, ("Patient",), ("POST",)),
        Operation("block", _definition("block", "Patient"), register_block, ("Patient",),
                  ("POST",)),
        Operation("lift-block", _definition("lift-block", "Consent"), lift_block,
                  ("Consent",), ("POST",)),
        Operation("void-block", _definition("void-block", "Consent"), void_block,
                  ("Consent",), ("POST",)),
    ]
