"""SMART on FHIR scopes (App Launch 2.0 and the v1 forms) and what they allow.

`patient/Observation.rs`, `user/*.cruds`, `system/*.rs`; v1 `user/*.read`, `patient/*.write`,
`user/*.*`. A scope grants interactions on a resource type in a context (patient, user,
system). Search parameters on v2 scopes (`patient/Observation.rs?category=...`) are parsed and
kept; filtering by them is not implemented yet, so such a scope grants nothing (fail closed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# FHIR interaction → SMART v2 permission letter.
PERMISSION = {
    "create": "c", "read": "r", "vread": "r", "history": "r", "update": "u", "patch": "u",
    "delete": "d", "search": "s", "include": "s",
}
_V1 = {"read": "rs", "write": "cud", "*": "cruds"}
_SCOPE = re.compile(r"^(patient|user|system)/(\*|[A-Z][A-Za-z]+)\.([a-z*]+)(\?.*)?$")


@dataclass(frozen=True)
class Scope:
    context: str  # patient, user or system
    resource_type: str  # a type or "*"
    permissions: frozenset[str]
    query: str | None = None

    def allows(self, interaction: str, resource_type: str | None) -> bool:
        letter = PERMISSION.get(interaction)
        if letter is None or letter not in self.permissions or self.query:
            return False
        return self.resource_type == "*" or resource_type == self.resource_type


def parse_scope(text: str) -> Scope | None:
    """A resource scope, or None for other scopes (openid, launch, offline_access...)."""
    m = _SCOPE.match(text)
    if not m:
        return None
    context, rtype, perms, query = m.groups()
    if perms in _V1:
        letters = _V1[perms]
    elif re.fullmatch(r"c?r?u?d?s?", perms) and perms:
        letters = perms
    else:
        return None  # e.g. "rc" (wrong order) or unknown letters: not a valid scope
    return Scope(context, rtype, frozenset(letters), query[1:] if query else None)


def parse_scopes(text: str) -> list[Scope]:
    return [s for s in (parse_scope(item) for item in text.split()) if s is not None]


def allowed(scopes: list[Scope], interaction: str, resource_type: str | None) -> bool:
    """Whether any scope grants the interaction on the type (operations need read)."""
    if interaction.startswith("operation:"):
        interaction = "read"
    return any(s.allows(interaction, resource_type) for s in scopes)
