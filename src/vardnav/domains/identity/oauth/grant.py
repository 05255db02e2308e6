"""What an authorisation grant carries from authorize to every token issued under it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vardnav.domains.identity.oauth.backend_services import OAuthError


@dataclass(frozen=True)
class Grant:
    client_id: str
    scopes: list[str]
    # Who signed in and in which capacity: kind, subject, auth_time, unit, provider, role,
    # assignment, patient, fhir_user (the sign-in's fields; see principal.py for the claims).
    sign_in: dict[str, Any]
    # Launch context: patient, encounter, need_patient_banner.
    context: dict[str, Any]
    family: str  # every refresh token (and its access token) of this grant shares it
    nonce: str | None = None


@dataclass
class GrantRevoked(OAuthError):
    """A replayed code or refresh token: the grant's tokens were revoked, and that must be
    committed although the request itself fails."""

    revoked_jtis: list[str] = field(default_factory=list)


def invalid_grant(description: str) -> OAuthError:
    return OAuthError("invalid_grant", description)
