"""Which requested scopes an interactive app is granted.

Granted = requested ∩ what the app is registered for, further limited by who signed in:
residents get `patient/` scopes only, staff `user/` and `patient/` scopes; `system/` scopes are
never granted through authorize (they belong to backend services). A requested resource scope
is covered by a registered one of the same context whose type and permissions include it, so
an app registered for `user/*.cruds` may ask for `user/Patient.rs`.
"""

from __future__ import annotations

from vardnav.domains.identity.access.scopes import Scope, parse_scope

IDENTITY = ("openid", "fhirUser")
REFRESH = ("offline_access", "online_access")
# Non-resource scopes each kind of user may be granted.
OTHER_SCOPES = {
    "staff": {*IDENTITY, *REFRESH, "launch", "launch/patient"},
    "resident": {*IDENTITY, *REFRESH, "launch/patient"},
}
RESOURCE_CONTEXTS = {"staff": {"user", "patient"}, "resident": {"patient"}}
INTERACTIVE_OTHER = set().union(*OTHER_SCOPES.values())


def _covers(registered: Scope, requested: Scope) -> bool:
    return (registered.context == requested.context
            and registered.resource_type in ("*", requested.resource_type)
            and requested.permissions <= registered.permissions
            and registered.query in (None, requested.query))


def _registered_for(scope: str, registered: list[str]) -> bool:
    asked = parse_scope(scope)
    if asked is None:
        return scope in registered
    return any(r is not None and _covers(r, asked) for r in map(parse_scope, registered))


def client_scopes(requested: list[str], registered: list[str]) -> list[str]:
    """The requested scopes the app's registration allows through authorize (no system/)."""
    granted: list[str] = []
    for scope in dict.fromkeys(requested):  # de-duplicated, order kept
        parsed = parse_scope(scope)
        interactive = (parsed.context != "system" if parsed is not None
                       else scope in INTERACTIVE_OTHER)
        if interactive and _registered_for(scope, registered):
            granted.append(scope)
    return granted


def user_scopes(scopes: list[str], kind: str) -> list[str]:
    """Of the app's scopes, those this kind of signed-in user may hand to it."""
    contexts, others = RESOURCE_CONTEXTS.get(kind, set()), OTHER_SCOPES.get(kind, set())
    kept = []
    for scope in scopes:
        parsed = parse_scope(scope)
        if (parsed.context in contexts) if parsed is not None else (scope in others):
            kept.append(scope)
    return kept


def narrower(requested: list[str], granted: list[str]) -> bool:
    """Whether `requested` asks for nothing beyond `granted` (refresh-time narrowing)."""
    return all(_registered_for(scope, granted) for scope in requested)


def has_resource_scope(scopes: list[str], context: str) -> bool:
    return any((p := parse_scope(s)) is not None and p.context == context for s in scopes)
