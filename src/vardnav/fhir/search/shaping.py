"""_summary and _elements: trimming resources in search results, marked SUBSETTED."""

from __future__ import annotations

from functools import cache
from typing import Any

from vardnav.fhir import definitions

_ALWAYS = ("resourceType", "id", "meta")
SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
             "code": "SUBSETTED"}


@cache
def summary_elements(rtype: str) -> frozenset[str]:
    """Top-level element names flagged isSummary in the official StructureDefinition."""
    sd = definitions.load().structure(rtype) or {}
    names: set[str] = set()
    for el in (sd.get("snapshot") or {}).get("element", []):
        path = el.get("path", "")
        parts = path.split(".")
        if len(parts) == 2 and el.get("isSummary"):
            names.add(parts[1].replace("[x]", ""))
    return frozenset(names)


def _keep(resource: dict[str, Any], names: set[str] | frozenset[str]) -> dict[str, Any]:
    out = {}
    for key, value in resource.items():
        base = key.lstrip("_")
        if key in _ALWAYS or base in names or any(
                base.startswith(n) and base[len(n):][:1].isupper() for n in names):
            out[key] = value
    meta = dict(out.get("meta") or {})
    meta["tag"] = [*meta.get("tag", []), SUBSETTED]
    out["meta"] = meta
    return out


def shape(resource: dict[str, Any], summary: str | None,
          elements: list[str]) -> dict[str, Any]:
    if summary == "true":
        return _keep(resource, summary_elements(resource["resourceType"]))
    if summary == "text":
        return _keep(resource, {"text"})
    if summary == "data":
        return _keep(resource, {k for k in resource if k != "text"})
    if elements:
        names = {e.split(".", 1)[1] if e.startswith(resource["resourceType"] + ".") else e
                 for e in elements}
        return _keep(resource, names)
    return resource
