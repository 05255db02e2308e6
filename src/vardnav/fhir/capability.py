"""The CapabilityStatement: generated from what the server actually has, so it never claims
more than is supported."""

from __future__ import annotations

from functools import cache
from typing import Any

from vardnav import __version__
from vardnav.fhir import definitions
from vardnav.fhir.search.registry import SUPPORTED_TYPES, SearchRegistry

INTERACTIONS = ["read", "vread", "update", "patch", "delete", "history-instance",
                "history-type", "create", "search-type"]
MODIFIERS_NOTE = ("String: :exact :contains, Token: :not :text :of-type, Uri: :below :above, "
                  "Reference: :Type :identifier, all: :missing")


@cache
def _statement(registry: SearchRegistry, base_url: str) -> dict[str, Any]:
    from vardnav.fhir.operations.registry import OPERATIONS

    resources = []
    for rtype in definitions.resource_types():
        params = registry.for_type(rtype)
        search_params = [
            {"name": "_id", "type": "token",
             "definition": "http://hl7.org/fhir/SearchParameter/Resource-id"},
            {"name": "_lastUpdated", "type": "date",
             "definition": "http://hl7.org/fhir/SearchParameter/Resource-lastUpdated"},
        ]
        refs = []
        for name, p in sorted(params.items()):
            if p.type in SUPPORTED_TYPES and name not in ("_id", "_lastUpdated"):
                search_params.append({"name": name, "type": p.type, "definition": p.url})
                if p.type == "reference":
                    refs.append(name)
        entry: dict[str, Any] = {
            "type": rtype,
            "profile": f"http://hl7.org/fhir/StructureDefinition/{rtype}",
            "interaction": [{"code": c} for c in INTERACTIONS],
            "versioning": "versioned-update",
            "readHistory": True,
            "updateCreate": True,
            "conditionalCreate": True,
            "conditionalRead": "not-supported",
            "conditionalUpdate": True,
            "conditionalDelete": "single",
            "referencePolicy": ["literal", "logical"],
            "searchInclude": ["*", *[f"{rtype}:{r}" for r in refs]],
            "searchRevInclude": sorted(
                f"{src}:{n}" for src in definitions.resource_types()
                for n, p in registry.for_type(src).items()
                if p.type == "reference" and rtype in p.targets
            ),
            "searchParam": search_params,
        }
        ops = [{"name": op.name, "definition": op.definition["url"]}
               for op in OPERATIONS.values() if op.types is None or rtype in op.types]
        if ops:
            entry["operation"] = ops
        resources.append(entry)
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-11-25",
        "publisher": "Vårdnav",
        "kind": "instance",
        "software": {"name": "Vårdnav", "version": __version__},
        "implementation": {"description": "Vårdnav FHIR R4 server", "url": base_url},
        "fhirVersion": definitions.FHIR_VERSION,
        "format": ["application/fhir+json", "json"],
        "patchFormat": ["application/json-patch+json"],
        "rest": [{
            "mode": "server",
            "documentation": f"Search modifiers: {MODIFIERS_NOTE}. Chains up to 2 levels, "
                             "_has, _include/_revinclude with :iterate.",
            "resource": resources,
            "interaction": [{"code": "transaction"}, {"code": "batch"},
                            {"code": "history-system"}, {"code": "search-system"}],
            "searchParam": [{"name": "_id", "type": "token"},
                            {"name": "_lastUpdated", "type": "date"}],
            "operation": [{"name": op.name, "definition": op.definition["url"]}
                          for op in OPERATIONS.values()],
        }],
    }


def capability_statement(registry: SearchRegistry, base_url: str) -> dict[str, Any]:
    return _statement(registry, base_url)
