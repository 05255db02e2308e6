"""Who is calling: the principal an access token stands for.

The authorisation server puts these claims in every token it mints and the API rebuilds the
principal from them, so a request needs no database lookup to know who is calling:

- `kind`: `staff`, `resident` (a patient or guardian) or `system` (an integration)
- `sub`: the staff member's HSA-id, `patient:<Patient id>` for a resident, `system:<client>`
- `client_id`: the app that asked for the token
- `scope`: the granted SMART scopes
- staff only: `unit` (care unit HSA-id), `provider` (care provider HSA-id), `role`
  (profession code), `assignment` (the PractitionerRole id the user chose at sign-in)
- `patient`: the Patient id in context (standalone `launch/patient`, EHR launch with a
  patient, or the resident's own or child's record)
- `fhirUser`: `Practitioner/<id>`, `Patient/<id>` or `RelatedPerson/<id>`
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vardnav.domains.identity.access.scopes import Scope, parse_scopes
from vardnav.errors import Unauthorized

KINDS = ("staff", "resident", "system")


@dataclass(frozen=True)
class Principal:
    kind: str
    subject: str
    client_id: str
    scope_text: str
    scopes: tuple[Scope, ...] = field(default=())
    unit: str | None = None
    provider: str | None = None
    role: str | None = None
    assignment: str | None = None
    patient: str | None = None
    fhir_user: str | None = None
    token_id: str | None = None
    expires: int = 0

    def __str__(self) -> str:
        where = f" at {self.unit} as {self.role}" if self.unit else ""
        return f"{self.kind}:{self.subject}{where} via {self.client_id}"


def principal_claims(*, kind: str, client_id: str, unit: str | None = None,
                     provider: str | None = None, role: str | None = None,
                     assignment: str | None = None, patient: str | None = None,
                     fhir_user: str | None = None) -> dict[str, Any]:
    """The claims (besides iss/sub/aud/exp/scope) a token for this principal carries."""
    if kind not in KINDS:
        raise ValueError(f"unknown principal kind {kind}")
    claims: dict[str, Any] = {"kind": kind, "client_id": client_id}
    optional = {"unit": unit, "provider": provider, "role": role, "assignment": assignment,
                "patient": patient, "fhirUser": fhir_user}
    claims.update({k: v for k, v in optional.items() if v})
    return claims


def from_claims(claims: dict[str, Any]) -> Principal:
    """The principal of a validated token; malformed claims are a 401, not a crash."""

    def text(name: str, required: bool = False) -> str | None:
        value = claims.get(name)
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value:
            raise Unauthorized(f"The access token's '{name}' claim is missing or malformed")
        return value

    kind = text("kind", required=True)
    if kind not in KINDS:
        raise Unauthorized("The access token names an unknown kind of caller")
    scope_text = text("scope") or ""
    principal = Principal(
        kind=kind, subject=text("sub", required=True) or "",
        client_id=text("client_id", required=True) or "", scope_text=scope_text,
        scopes=tuple(parse_scopes(scope_text)), unit=text("unit"), provider=text("provider"),
        role=text("role"), assignment=text("assignment"), patient=text("patient"),
        fhir_user=text("fhirUser"), token_id=text("jti"),
        expires=claims["exp"] if isinstance(claims.get("exp"), int) else 0)
    if kind == "resident" and not principal.patient:
        raise Unauthorized("A resident's token must name the patient it is for")
    return principal


# The server itself, for its own lookups (sign-in, demo loading): full system scopes, audited
# like any other caller.
SERVER = Principal(kind="system", subject="system:vardnav", client_id="vardnav",
                   scope_text="system/*.cruds", scopes=tuple(parse_scopes("system/*.cruds")))
