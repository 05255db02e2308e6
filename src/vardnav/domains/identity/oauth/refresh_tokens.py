"""Refresh tokens: random, stored hashed, rotated on every use.

Each use returns a new refresh token and retires the old one. Presenting a retired token
means two parties hold the family (one of them stole it), so the whole family — every
refresh token of the grant and the access tokens issued with them — is revoked
(RFC 6819 §5.2.2.3, OAuth 2.1 §4.3.1).

Lifetimes: `offline_access` lasts `OFFLINE_SECONDS` from each use; `online_access` ends with
the sign-in session it came from (`ONLINE_SECONDS` after authentication).
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from vardnav.domains.identity.models import oauth_authorization_code, oauth_refresh_token
from vardnav.domains.identity.oauth.grant import Grant, GrantRevoked, invalid_grant
from vardnav.domains.identity.oauth.opaque import digest, new_opaque
from vardnav.domains.identity.oauth.revocation import revoke_jti

OFFLINE_SECONDS = 30 * 24 * 3600
ONLINE_SECONDS = 8 * 3600  # as long as a sign-in session
KEEP_EXPIRED_SECONDS = 24 * 3600


def refresh_allowed(scopes: list[str]) -> bool:
    return "offline_access" in scopes or "online_access" in scopes


def refresh_expiry(grant: Grant, now: float) -> float:
    if "offline_access" in grant.scopes:
        return now + OFFLINE_SECONDS
    return float(grant.sign_in.get("auth_time", now)) + ONLINE_SECONDS


def issue_refresh(conn: Connection, grant: Grant, *, access_jti: str,
                  access_expires: float) -> str:
    now = time.time()
    # Long-expired rows are of no use (their access tokens have expired too): clear them.
    conn.execute(delete(oauth_refresh_token)
                 .where(oauth_refresh_token.c.expires < now - KEEP_EXPIRED_SECONDS))
    token = new_opaque()
    conn.execute(insert(oauth_refresh_token).values(
        token_hash=digest(token), family=grant.family, client_id=grant.client_id,
        scopes=" ".join(grant.scopes), sign_in=grant.sign_in, context=grant.context,
        created=now, expires=refresh_expiry(grant, now), rotated=None, revoked=False,
        access_jti=access_jti, access_expires=access_expires))
    return token


def find_refresh(conn: Connection, token: str) -> Any:
    return conn.execute(select(oauth_refresh_token)
                        .where(oauth_refresh_token.c.token_hash == digest(token))).first()


def active(row: Any, now: float | None = None) -> bool:
    return (row is not None and not row.revoked and row.rotated is None
            and row.expires > (now if now is not None else time.time()))


def use_refresh(conn: Connection, token: str, client_id: str) -> Grant:
    """Retire a refresh token and return its grant, for issuing the next pair."""
    row = find_refresh(conn, token)
    if row is None or row.client_id != client_id:
        raise invalid_grant("Unknown refresh token")
    if row.revoked:
        raise invalid_grant("The refresh token was revoked")
    now = time.time()
    if row.expires <= now:
        raise invalid_grant("The refresh token has expired")
    retired = conn.execute(update(oauth_refresh_token)
                           .where(oauth_refresh_token.c.token_hash == row.token_hash,
                                  oauth_refresh_token.c.rotated.is_(None),
                                  oauth_refresh_token.c.revoked.is_(False))
                           .values(rotated=now))
    if retired.rowcount != 1:  # already rotated: a replay
        jtis = revoke_family(conn, row.family)
        raise GrantRevoked("invalid_grant", "This refresh token was already used; every "
                           "token of its grant is now revoked", revoked_jtis=jtis)
    return Grant(row.client_id, row.scopes.split(), row.sign_in, row.context, row.family)


def revoke_family(conn: Connection, family: str) -> list[str]:
    """Revoke every refresh token of a grant and the access tokens issued under it; the
    access-token ids revoked are returned."""
    conn.execute(update(oauth_refresh_token).where(oauth_refresh_token.c.family == family)
                 .values(revoked=True))
    issued = [*conn.execute(select(oauth_refresh_token.c.access_jti,
                                   oauth_refresh_token.c.access_expires)
                            .where(oauth_refresh_token.c.family == family)),
              *conn.execute(select(oauth_authorization_code.c.access_jti,
                                   oauth_authorization_code.c.access_expires)
                            .where(oauth_authorization_code.c.family == family))]
    jtis = []
    for jti, expires in issued:
        if jti and expires:
            revoke_jti(conn, jti, expires)
            jtis.append(jti)
    return jtis
