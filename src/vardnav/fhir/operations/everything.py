"""Patient/{id}/$everything: the patient and every resource in the patient's compartment.

Compartment membership comes from the official CompartmentDefinition (patient), and the
lookup is one pass over the reference index, filtered by the access policy.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from vardnav.errors import BadRequest
from vardnav.fhir.compartment import compartment_hashes
from vardnav.fhir.datetimes import DateFormatError, parse_range
from vardnav.fhir.http_types import FhirRequest, FhirResponse
from vardnav.fhir.search.paging import page_links
from vardnav.fhir.search.request import parse_int
from vardnav.fhir.storage.repository import Repository
from vardnav.fhir.storage.tables import INDEX_TABLES, resource

DEFINITION: dict[str, Any] = {
    "resourceType": "OperationDefinition",
    "id": "vardnav-patient-everything",
    "url": "http://hl7.org/fhir/OperationDefinition/Patient-everything",
    "name": "PatientEverything", "status": "active", "kind": "operation",
    "code": "everything", "resource": ["Patient"], "system": False, "type": False,
    "instance": True,
    "parameter": [
        {"name": "_since", "use": "in", "min": 0, "max": "1", "type": "instant"},
        {"name": "_type", "use": "in", "min": 0, "max": "*", "type": "code"},
        {"name": "_count", "use": "in", "min": 0, "max": "1", "type": "integer"},
        {"name": "return", "use": "out", "min": 1, "max": "1", "type": "Bundle"},
    ],
}
MAX_RESULTS = 10_000


def handle(repo: Repository, req: FhirRequest, rtype: str | None,
           fhir_id: str | None) -> FhirResponse:
    if fhir_id is None:
        raise BadRequest("$everything is run on one patient: Patient/{id}/$everything")
    patient = repo.read("Patient", fhir_id)
    q = dict(req.query)
    wanted = set(q["_type"].split(",")) if q.get("_type") else None
    since = None
    if q.get("_since"):
        try:
            since = parse_range(q["_since"])[0]
        except DateFormatError as exc:
            raise BadRequest(f"_since: {exc}") from exc
    ref = INDEX_TABLES["reference"]
    found: list[dict[str, Any]] = []
    for src_type, hashes in compartment_hashes(repo.s.registry).items():
        if wanted is not None and src_type not in wanted:
            continue
        members = select(ref.c.rid).where(ref.c.param_hash.in_(hashes),
                                          ref.c.target_type == "Patient",
                                          ref.c.target_id == fhir_id)
        stmt = select(resource.c.content).where(
            resource.c.rid.in_(members), repo.queries.visible(src_type, resource))
        if since is not None:
            stmt = stmt.where(resource.c.last_updated >= since)
        found.extend(r.content for r in repo.conn.execute(stmt.limit(MAX_RESULTS)))
    found = [repo.s.policy.redact(repo.ctx, r) for r in found][:MAX_RESULTS]
    everything = [patient] if wanted is None or "Patient" in wanted else []
    everything.extend(found)
    count = parse_int("_count", q["_count"], 1, MAX_RESULTS) if "_count" in q else MAX_RESULTS
    offset = parse_int("_offset", q["_offset"], 0, MAX_RESULTS) if "_offset" in q else 0
    page = everything[offset:offset + count]
    repo.record_audit("operation:everything", "Patient", [fhir_id], resources=[patient],
                      returned=[f"{r['resourceType']}/{r['id']}" for r in page])
    base = repo.ctx.base_url
    pairs = [(k, v) for k, v in req.query if k not in ("_count", "_offset")]
    links = page_links(base, f"Patient/{fhir_id}/$everything", pairs, count, offset,
                       len(everything), len(page))
    bundle = {"resourceType": "Bundle", "type": "searchset", "total": len(everything),
              "link": links,
              "entry": [{"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": r,
                         "search": {"mode": "match"}} for r in page]}
    # Whatever the access layers left out and must say so (e.g. blocked data), as a search does.
    notices = repo.notices_for([patient])
    if notices:
        bundle["entry"].append({"resource": {"resourceType": "OperationOutcome", "issue": [
            {"severity": "warning", "code": "suppressed", "diagnostics": n} for n in notices]},
            "search": {"mode": "outcome"}})
    return FhirResponse(200, bundle)
