"""$validate: check a resource against the R4 base definitions without storing it."""

from __future__ import annotations

from typing import Any

from vardnav.errors import BadRequest
from vardnav.fhir.http_types import FhirRequest, FhirResponse
from vardnav.fhir.storage.repository import Repository

DEFINITION: dict[str, Any] = {
    "resourceType": "OperationDefinition",
    "id": "vardnav-validate",
    "url": "http://hl7.org/fhir/OperationDefinition/Resource-validate",
    "name": "Validate", "status": "active", "kind": "operation", "code": "validate",
    "resource": ["Resource"], "system": False, "type": True, "instance": True,
    "parameter": [
        {"name": "resource", "use": "in", "min": 0, "max": "1", "type": "Resource"},
        {"name": "return", "use": "out", "min": 1, "max": "1", "type": "OperationOutcome"},
    ],
}


def handle(repo: Repository, req: FhirRequest, rtype: str | None,
           fhir_id: str | None) -> FhirResponse:
    body = req.body
    if isinstance(body, dict) and body.get("resourceType") == "Parameters":
        params = body.get("parameter")
        found = [p.get("resource") for p in (params if isinstance(params, list) else [])
                 if isinstance(p, dict) and p.get("name") == "resource"]
        body = found[0] if found else None
    if not isinstance(body, dict):
        raise BadRequest("$validate needs a resource, directly or as Parameters.resource")
    if rtype and body.get("resourceType") != rtype:
        raise BadRequest(f"$validate on {rtype} was given a {body.get('resourceType')!r}")
    issues = repo.s.validator.issues(body)
    if not issues:
        issues = [{"severity": "information", "code": "informational",
                   "diagnostics": "No issues found: the resource is valid FHIR R4"}]
    repo.record_audit("operation:validate", rtype, [fhir_id] if fhir_id else [])
    return FhirResponse(200, {"resourceType": "OperationOutcome", "issue": issues})
