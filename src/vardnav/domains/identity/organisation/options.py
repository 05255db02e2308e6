"""Municipality options (1 information exchange, 2 school health record, 3 municipal care
documented in the shared record) and what they let a municipality's staff do.

Options live on the municipality's Organization (extension `OPTION_EXTENSION`, see region.py)
and are read on every request by municipal staff, so a change takes effect at once. A
school health service is a care provider of its own under its municipality; option 2 is the
municipality's choice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vardnav.domains.identity.organisation.region import OPTION_EXTENSION

OPTION_NAMES = {
    "1": "information exchange",
    "2": "school health record",
    "3": "municipal care documented in the shared record",
}
# What option 1 alone lets municipal staff write: discharge coordination messages.
EXCHANGE_TYPES = frozenset({"Task", "Communication", "CommunicationRequest"})
WRITES = frozenset({"create", "update", "patch", "delete"})


def options_of(organization: dict[str, Any]) -> list[str]:
    return sorted({e.get("valueCode") for e in organization.get("extension", [])
                   if e.get("url") == OPTION_EXTENSION and e.get("valueCode") in OPTION_NAMES})


def with_options(organization: dict[str, Any], options: list[str]) -> dict[str, Any]:
    kept = [e for e in organization.get("extension", []) if e.get("url") != OPTION_EXTENSION]
    added = [{"url": OPTION_EXTENSION, "valueCode": o} for o in sorted(set(options))]
    return {**organization, "extension": kept + added}


@dataclass(frozen=True)
class MunicipalCaller:
    """A caller working for a municipality: directly or in its school health service."""

    municipality: str  # name, for messages
    options: list[str]
    school_health: bool


def refusal(caller: MunicipalCaller, interaction: str, resource_type: str | None) -> str | None:
    """Why the municipality's options do not allow this, or None if they do."""

    def missing(option: str, what: str) -> str:
        return (f"{caller.municipality} has not chosen option {option} "
                f"({OPTION_NAMES[option]}): {what}")

    if caller.school_health:
        if "2" not in caller.options:
            return missing("2", "there is no school health record for its schools")
        return None
    if "1" not in caller.options:
        return missing("1", "its staff have no access to the shared environment")
    if (interaction in WRITES and resource_type not in EXCHANGE_TYPES
            and "3" not in caller.options):
        return missing("3", "its staff cannot document in the shared record, only exchange "
                            "information (Task, Communication)")
    return None
