"""Token introspection (RFC 7662) and revocation (RFC 7009) of Vårdnav's own tokens.

Access tokens are JWTs: valid and not revoked means active. Refresh tokens are looked up by
hash: active while neither rotated, revoked nor expired. Anything else is `{"active": false}`
— the answer never says why.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from vardnav.config import Settings
from vardnav.domains.identity.access.keys import KeyStore
from vardnav.domains.identity.access.tokens import validate
from vardnav.domains.identity.oauth.refresh_tokens import active, find_refresh, revoke_family
from vardnav.domains.identity.oauth.revocation import jti_revoked, revoke_jti
from vardnav.domains.identity.oauth.token_response import subject_of
from vardnav.errors import Unauthorized

INACTIVE: dict[str, Any] = {"active": False}
CLAIMS = ("scope", "client_id", "sub", "exp", "iat", "iss", "aud", "jti", "kind", "patient",
          "fhirUser", "unit", "provider", "role", "assignment")


def _access_claims(store: KeyStore, settings: Settings, token: str) -> dict[str, Any] | None:
    try:
        return validate(store, token, issuer=settings.issuer, audience=settings.base_url)
    except Unauthorized:
        return None


def introspect(conn: Connection, token: str, *, store: KeyStore,
               settings: Settings) -> dict[str, Any]:
    claims = _access_claims(store, settings, token) if token.count(".") == 2 else None
    if claims is not None:
        jti = claims.get("jti")
        if isinstance(jti, str) and jti_revoked(conn, jti):
            return INACTIVE
        return {"active": True, "token_type": "Bearer",
                **{k: claims[k] for k in CLAIMS if k in claims}}
    row = find_refresh(conn, token)
    if not active(row):
        return INACTIVE
    s = row.sign_in
    found = {"active": True, "token_type": "refresh_token", "scope": row.scopes,
             "client_id": row.client_id, "sub": subject_of(s), "exp": int(row.expires),
             "iat": int(row.created), "iss": settings.issuer, "kind": s.get("kind"),
             "patient": s.get("patient") if s.get("kind") == "resident"
             else row.context.get("patient"),
             "fhirUser": s.get("fhir_user"), "unit": s.get("unit"),
             "provider": s.get("provider"), "role": s.get("role")}
    return {k: v for k, v in found.items() if v is not None}


def revoke(conn: Connection, token: str, client_id: str, *, store: KeyStore,
           settings: Settings) -> list[str]:
    """Revoke the caller's own token; the access-token ids now revoked are returned. Tokens
    that are unknown, invalid or another client's are left alone (and the answer is the same
    200, RFC 7009 §2.2, so nothing is learnt about them)."""
    claims = _access_claims(store, settings, token) if token.count(".") == 2 else None
    if claims is not None:
        jti, exp = claims.get("jti"), claims.get("exp")
        if claims.get("client_id") != client_id or not isinstance(jti, str):
            return []
        revoke_jti(conn, jti, float(exp))
        return [jti]
    row = find_refresh(conn, token)
    if row is None or row.client_id != client_id:
        return []
    return revoke_family(conn, row.family)
