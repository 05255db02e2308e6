"""SMART Backend Services: client_credentials with a signed JWT assertion (private_key_jwt).

The client signs a short-lived JWT with its own key (registered as a JWKS); Vårdnav checks the
signature, issuer = subject = client id, audience = the token endpoint, expiry (≤ 5 minutes)
and that the assertion id (`jti`) was never used before, then grants the requested system
scopes that the registration allows. Errors follow RFC 6749 §5.2.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import Connection, delete, insert, select

from vardnav.domains.identity.access.keys import KeyStore
from vardnav.domains.identity.access.principal import principal_claims
from vardnav.domains.identity.access.scopes import parse_scope
from vardnav.domains.identity.access.tokens import mint
from vardnav.domains.identity.models import used_assertion
from vardnav.domains.identity.oauth.apps import get_app

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_ASSERTION_LIFETIME = 300
ASSERTION_ALGORITHMS = ["RS384", "ES384", "RS256"]


@dataclass
class OAuthError(Exception):
    error: str
    description: str
    status: int = 400

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


def client_credentials(conn: Connection, form: dict[str, str], *, store: KeyStore,
                       token_url: str, issuer: str, audience: str,
                       ttl_seconds: int) -> dict[str, Any]:
    if form.get("grant_type") != "client_credentials":
        raise OAuthError("unsupported_grant_type",
                         "This endpoint grants client_credentials (backend services)")
    if form.get("client_assertion_type") != ASSERTION_TYPE or not form.get("client_assertion"):
        raise OAuthError("invalid_request", "A signed client_assertion (private_key_jwt) is "
                         "required")
    claims = verified_assertion(conn, form["client_assertion"], token_url)
    app = get_app(conn, claims["iss"])
    assert app is not None  # checked while verifying
    requested = (form.get("scope") or "").split()
    granted = [s for s in requested if s in app.scopes and (p := parse_scope(s)) is not None
               and p.context == "system"]
    if not requested or len(granted) != len(requested):
        raise OAuthError("invalid_scope", "Ask for system scopes this client is registered "
                         f"for: {' '.join(app.scopes)}")
    token = mint(store, issuer=issuer, audience=audience, subject=f"system:{app.client_id}",
                 scopes=granted, ttl_seconds=ttl_seconds,
                 claims=principal_claims(kind="system", client_id=app.client_id))
    return {"access_token": token, "token_type": "Bearer", "expires_in": ttl_seconds,
            "scope": " ".join(granted)}


def verified_assertion(conn: Connection, assertion: str, token_url: str, *,
                       kinds: tuple[str, ...] = ("backend",)) -> dict[str, Any]:
    """The claims of a valid, unused client assertion of a registered client of `kinds`."""
    def refuse(why: str) -> OAuthError:
        return OAuthError("invalid_client", why, 401)

    try:
        # Unverified, only to learn whose keys to verify it with.
        unverified = json.loads(jws.extract_compact(assertion.encode()).payload)
    except (JoseError, ValueError, TypeError, UnicodeError) as exc:
        raise refuse("The client assertion is not a signed JWT") from exc
    client_id = unverified.get("iss") if isinstance(unverified, dict) else None
    app = get_app(conn, client_id) if isinstance(client_id, str) else None
    if app is None or app.kind not in kinds or not app.jwks:
        raise refuse("Unknown client or not registered for private_key_jwt")
    try:
        decoded = jwt.decode(assertion, KeySet.import_key_set(app.jwks),
                             algorithms=ASSERTION_ALGORITHMS)
    except (JoseError, ValueError, TypeError) as exc:
        raise refuse("The client assertion's signature does not verify") from exc
    c = decoded.claims
    now = time.time()
    if c.get("sub") != client_id:
        raise refuse("The assertion's sub must be the client id")
    aud = c.get("aud")
    if token_url not in (aud if isinstance(aud, list) else [aud]):
        raise refuse("The assertion's aud must be this token endpoint")
    exp = c.get("exp")
    if not isinstance(exp, int) or exp < now or exp > now + MAX_ASSERTION_LIFETIME:
        raise refuse("The assertion must expire within the next 5 minutes")
    jti = c.get("jti")
    if not isinstance(jti, str) or not jti or len(jti) > 256:
        raise refuse("The assertion needs a jti")
    conn.execute(delete(used_assertion).where(used_assertion.c.expires < now))
    if conn.execute(select(used_assertion.c.jti).where(used_assertion.c.jti == jti)).first():
        raise refuse("This assertion was already used")
    conn.execute(insert(used_assertion).values(jti=jti, client_id=client_id, expires=exp))
    return c
