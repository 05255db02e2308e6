"""Operations that take a workflow's steps (discharge coordination, care plans): their
OperationDefinition for /metadata, and the collection Bundle each step answers with."""

from __future__ import annotations

from typing import Any

from vardnav.fhir.http_types import FhirResponse

BASE = "https://vardnav.se/fhir/OperationDefinition"
# An input parameter of a definition: (name, FHIR type, min, max, documentation).
ParamSpec = tuple[str, str, int, str, str]


def definition(code: str, resources: list[str], doc: str, params: list[ParamSpec], *,
               out: str = "Bundle", affects_state: bool = True,
               system: bool = False) -> dict[str, Any]:
    """The OperationDefinition /metadata lists for a Vårdnav operation."""
    return {
        "resourceType": "OperationDefinition", "id": f"vardnav-{code}",
        "url": f"{BASE}/{code}", "name": "".join(p.title() for p in code.split("-")),
        "status": "active", "kind": "operation", "code": code, "description": doc,
        "affectsState": affects_state, "resource": resources, "system": system,
        "type": False, "instance": not system,
        "parameter": [
            *({"name": name, "use": "in", "min": low, "max": high, "type": ftype,
               "documentation": text} for name, ftype, low, high, text in params),
            {"name": "return", "use": "out", "min": 1, "max": "1", "type": out}]}


def bundle(result: dict[str, Any], status: int = 200) -> FhirResponse:
    """A collection Bundle of the resources in a step's result, in the result's order (the
    discharge case or the care plan first), and its `warnings` as one OperationOutcome last."""
    resources: list[dict[str, Any]] = []
    for value in result.values():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, dict) and item.get("resourceType"):
                resources.append(item)
    warnings = [w for w in result.get("warnings", []) if isinstance(w, str)]
    if warnings:
        resources.append({"resourceType": "OperationOutcome", "issue": [
            {"severity": "warning", "code": "informational", "diagnostics": w}
            for w in warnings]})
    return FhirResponse(status, {"resourceType": "Bundle", "type": "collection",
                                 "entry": [{"resource": r} for r in resources]})
