"""Who a Subscription's notifications are for, stored so the access policy can judge each
event as that caller.

The owner is the caller who last wrote the Subscription (its creator, or whoever changed it
since; the server's own status changes keep the owner). What is stored is the identity the
access token stood for, never the token: for the Vårdnav principal, its kind, subject,
client id, granted scopes and, for staff, the chosen unit, care provider, role and
assignment, plus the patient in context and fhirUser. Each event is judged by the access
policy with a context rebuilt from it, so care relationships, consents, blocks and
municipality options are those at the time of the event.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from vardnav.errors import Unauthorized


class OwnerCodec(Protocol):
    def dump(self, principal: Any) -> str:
        """A JSON text standing for `principal` ('null' if there is none)."""

    def load(self, text: str) -> Any:
        """The principal again, or None if it cannot be rebuilt (nothing will be seen)."""


_FIELDS = {"kind": "kind", "sub": "subject", "client_id": "client_id", "scope": "scope_text",
           "unit": "unit", "provider": "provider", "role": "role",
           "assignment": "assignment", "patient": "patient", "fhirUser": "fhir_user"}


class PrincipalCodec:
    """The codec for `vardnav.domains.identity.access.principal.Principal` (its claims)."""

    def dump(self, principal: Any) -> str:
        from vardnav.domains.identity.access.principal import Principal

        if not isinstance(principal, Principal):
            return "null"
        claims = {claim: getattr(principal, attr) for claim, attr in _FIELDS.items()}
        return json.dumps({k: v for k, v in claims.items() if v}, sort_keys=True)

    def load(self, text: str) -> Any:
        from vardnav.domains.identity.access.principal import from_claims

        try:
            claims = json.loads(text)
        except ValueError:
            return None
        if not isinstance(claims, dict):
            return None
        try:
            return from_claims(claims)
        except Unauthorized:
            return None


def describe(text: str) -> str:
    """A short human label of a stored owner (CLI status)."""
    try:
        claims = json.loads(text)
    except ValueError:
        return "?"
    if not isinstance(claims, dict):
        return "nobody"
    who = claims.get("sub") or "?"
    unit = claims.get("unit")
    return f"{who}" + (f" at {unit}" if unit else "") + f" via {claims.get('client_id', '?')}"
