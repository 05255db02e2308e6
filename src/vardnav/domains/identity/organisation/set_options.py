"""`Organization/{id}/$set-options`: change a municipality's chosen options, audited.

Body: `Parameters` with one `option` (valueCode "1", "2" or "3") per chosen option. Only
administrators (profession code `administrator`) and system integrations may call it; the
audit record holds the options before and after. Plain updates of the options are refused
(options_policy.py), so every change leaves this trace.
"""

from __future__ import annotations

from typing import Any

from vardnav.domains.identity.access.principal import Principal
from vardnav.domains.identity.organisation.assignments import org_type
from vardnav.domains.identity.organisation.options import OPTION_NAMES, options_of, with_options
from vardnav.domains.identity.organisation.options_policy import SETTING_OPTIONS
from vardnav.errors import BadRequest, Forbidden
from vardnav.fhir.http_types import FhirRequest, FhirResponse
from vardnav.fhir.operations.registry import Operation
from vardnav.fhir.storage.repository import Repository

DEFINITION: dict[str, Any] = {
    "resourceType": "OperationDefinition",
    "id": "vardnav-set-options",
    "url": "https://vardnav.se/fhir/OperationDefinition/set-options",
    "name": "SetMunicipalityOptions", "status": "active", "kind": "operation",
    "code": "set-options", "resource": ["Organization"], "system": False, "type": False,
    "instance": True,
    "parameter": [
        {"name": "option", "use": "in", "min": 0, "max": "*", "type": "code"},
        {"name": "return", "use": "out", "min": 1, "max": "1", "type": "Organization"},
    ],
}


def _chosen(body: Any) -> list[str]:
    if not (isinstance(body, dict) and body.get("resourceType") == "Parameters"):
        raise BadRequest("$set-options takes Parameters with one 'option' per chosen option")
    params = body.get("parameter") or []
    if not isinstance(params, list):
        raise BadRequest("Parameters.parameter must be a list")
    chosen = []
    for p in params:
        if not isinstance(p, dict) or p.get("name") != "option":
            raise BadRequest("$set-options takes only 'option' parameters")
        code = p.get("valueCode")
        if code not in OPTION_NAMES:
            raise BadRequest(f"Unknown option {code!r}; options are "
                             + ", ".join(f"{k} ({v})" for k, v in OPTION_NAMES.items()))
        chosen.append(code)
    return sorted(set(chosen))


def handle(repo: Repository, req: FhirRequest, rtype: str | None,
           fhir_id: str | None) -> FhirResponse:
    p = repo.ctx.principal
    if not (isinstance(p, Principal) and (p.kind == "system" or p.role == "administrator")):
        raise Forbidden("Only administrators change a municipality's options")
    if fhir_id is None:
        raise BadRequest("$set-options is run on one municipality: Organization/{id}")
    chosen = _chosen(req.body)
    org = repo.read("Organization", fhir_id)
    if org_type(org) != "municipality":
        raise BadRequest(f"Organization/{fhir_id} is not a municipality")
    before = options_of(org)
    repo.ctx.attributes[SETTING_OPTIONS] = True
    try:
        result = repo.update("Organization", fhir_id, with_options(org, chosen))
    finally:
        repo.ctx.attributes.pop(SETTING_OPTIONS, None)
    repo.record_audit("set-options", "Organization", [fhir_id], municipality=org.get("name"),
                      before=before, after=chosen)
    return FhirResponse(200, result.resource, {"ETag": f'W/"{result.version_id}"'})


SET_OPTIONS = Operation("set-options", DEFINITION, handle, ("Organization",), ("POST",))
