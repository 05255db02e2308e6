"""The SMART token response for a user's grant: an access token carrying the principal
claims (principal.py), the launch context, and an OpenID Connect id_token when `openid` was
granted."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from joserfc import jwt

from vardnav.config import Settings
from vardnav.domains.identity.access.keys import ALGORITHM, KeyStore
from vardnav.domains.identity.access.principal import principal_claims
from vardnav.domains.identity.access.tokens import mint
from vardnav.domains.identity.oauth.grant import Grant

ID_TOKEN_SECONDS = 300


@dataclass(frozen=True)
class Issued:
    body: dict[str, Any]
    access_jti: str
    access_expires: float


def subject_of(sign_in: dict[str, Any]) -> str:
    """The token `sub`: a staff member's HSA-id, `patient:<id>` for a resident (principal.py)."""
    if sign_in["kind"] == "resident":
        return f"patient:{sign_in['patient']}"
    return str(sign_in["subject"])


def access_claims(grant: Grant) -> dict[str, Any]:
    s, patient = grant.sign_in, grant.context.get("patient")
    if s["kind"] == "resident":
        patient = s.get("patient")  # a resident's token is always for their chosen record
    return principal_claims(kind=s["kind"], client_id=grant.client_id, unit=s.get("unit"),
                            provider=s.get("provider"), role=s.get("role"),
                            assignment=s.get("assignment"), patient=patient,
                            fhir_user=s.get("fhir_user"))


def issue_tokens(store: KeyStore, settings: Settings, grant: Grant, scopes: list[str], *,
                 with_id_token: bool) -> Issued:
    now = int(time.time())
    ttl = settings.token_ttl_seconds
    jti = str(uuid.uuid4())
    token = mint(store, issuer=settings.issuer, audience=settings.base_url,
                 subject=subject_of(grant.sign_in), scopes=scopes, ttl_seconds=ttl,
                 claims={**access_claims(grant), "jti": jti}, now=now)
    body: dict[str, Any] = {"access_token": token, "token_type": "Bearer", "expires_in": ttl,
                            "scope": " ".join(scopes)}
    patient = access_claims(grant).get("patient")
    if patient:
        body["patient"] = patient
    if grant.context.get("encounter"):
        body["encounter"] = grant.context["encounter"]
    body["need_patient_banner"] = bool(grant.context.get("need_patient_banner", True))
    if with_id_token and "openid" in scopes:
        body["id_token"] = id_token(store, settings, grant, scopes, now)
    return Issued(body, jti, now + ttl)


def id_token(store: KeyStore, settings: Settings, grant: Grant, scopes: list[str],
             now: int) -> str:
    claims: dict[str, Any] = {
        "iss": settings.issuer, "sub": subject_of(grant.sign_in), "aud": grant.client_id,
        "iat": now, "exp": now + ID_TOKEN_SECONDS,
        "auth_time": grant.sign_in.get("auth_time", now)}
    if grant.nonce:
        claims["nonce"] = grant.nonce
    fhir_user = grant.sign_in.get("fhir_user")
    if fhir_user and "fhirUser" in scopes:
        # SMART: an absolute URL of the user's FHIR resource.
        claims["fhirUser"] = f"{settings.base_url.rstrip('/')}/{fhir_user}"
    key = store.signing_key()
    return jwt.encode({"alg": ALGORITHM, "kid": key.kid, "typ": "JWT"}, claims, key)
