"""Protected identity (skyddad folkbokföring, domain.md §2): a patient's address data is hidden
from everyone without a need. Staff reads lose it (pdl_policy.redact), and it is never put in
the search index, so no search or sort by address can find or order such a patient — a match
would confirm the address one guess at a time. The patient and system callers still read it."""

from __future__ import annotations

from typing import Any

from vardnav.domains.access.profiles import is_protected

# The narrative is free text written from the resource; it may repeat the address.
HIDDEN = ("address", "text")


def hidden_from_staff(resource: dict[str, Any]) -> dict[str, Any]:
    """A protected Patient without its address data; anything else as it is."""
    if resource.get("resourceType") == "Patient" and is_protected(resource):
        return {k: v for k, v in resource.items() if k not in HIDDEN}
    return resource


def searchable(resource: dict[str, Any]) -> dict[str, Any]:
    """What the search index may hold of a resource (EngineServices.searchable)."""
    return hidden_from_staff(resource)
