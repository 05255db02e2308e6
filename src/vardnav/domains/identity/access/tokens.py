"""Access tokens: signed JWTs (RS256) carrying who, from which unit, with which scopes.

Validation accepts only RS256 with a known key id, and checks issuer, audience, expiry and
not-before; anything else is `Unauthorized` (401), never a crash.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError

from vardnav.domains.identity.access.keys import ALGORITHM, KeyStore
from vardnav.errors import Unauthorized

CLOCK_SKEW_SECONDS = 30


def _unverified_kid(token: str) -> str | None:
    """The key id in the token's header, read before verification only to find the key."""
    segment = token.split(".", 1)[0]
    if len(segment) > 2048:  # a real header is a few dozen bytes
        return None
    try:
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, TypeError, RecursionError):
        return None
    kid = header.get("kid") if isinstance(header, dict) else None
    return kid if isinstance(kid, str) else None


def mint(store: KeyStore, *, issuer: str, audience: str, subject: str, scopes: list[str],
         ttl_seconds: int, claims: dict[str, Any] | None = None,
         now: float | None = None) -> str:
    issued = int(now if now is not None else time.time())
    key = store.signing_key()
    payload = {"iss": issuer, "aud": audience, "sub": subject, "scope": " ".join(scopes),
               "iat": issued, "nbf": issued, "exp": issued + ttl_seconds,
               "jti": str(uuid.uuid4()), **(claims or {})}
    return jwt.encode({"alg": ALGORITHM, "kid": key.kid}, payload, key)


def validate(store: KeyStore, token: str, *, issuer: str, audience: str,
             now: float | None = None) -> dict[str, Any]:
    """The token's claims if it is genuine and current; otherwise Unauthorized."""
    kid = _unverified_kid(token)
    if kid is not None:
        store.knows(kid)  # learns keys rotated by another server process
    try:
        decoded = jwt.decode(token, store.key_set(), algorithms=[ALGORITHM])
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise Unauthorized(f"The access token is not valid: {exc.__class__.__name__}") from exc
    claims = decoded.claims
    at = now if now is not None else time.time()
    if claims.get("iss") != issuer:
        raise Unauthorized("The access token was issued by someone else")
    aud = claims.get("aud")
    if audience not in (aud if isinstance(aud, list) else [aud]):
        raise Unauthorized("The access token is not meant for this server")
    exp, nbf = claims.get("exp"), claims.get("nbf", 0)
    if not isinstance(exp, int) or exp + CLOCK_SKEW_SECONDS < at:
        raise Unauthorized("The access token has expired")
    if not isinstance(nbf, int) or nbf - CLOCK_SKEW_SECONDS > at:
        raise Unauthorized("The access token is not valid yet")
    return claims
