"""Authorization codes: random, single use, `CODE_SECONDS` long, stored hashed together with
everything the token request must match (client, redirect URI, PKCE challenge) and the grant.

A used code is kept (marked `used`) for `KEEP_USED_SECONDS`: if it is presented again, the
code was intercepted, so the tokens issued from it are revoked (RFC 6749 §4.1.2).
"""

from __future__ import annotations

import time

from sqlalchemy import Connection, delete, insert, select, update

from vardnav.domains.identity.models import oauth_authorization_code as codes
from vardnav.domains.identity.oauth import pkce
from vardnav.domains.identity.oauth.grant import Grant, GrantRevoked, invalid_grant
from vardnav.domains.identity.oauth.opaque import digest, new_opaque
from vardnav.domains.identity.oauth.refresh_tokens import revoke_family

CODE_SECONDS = 60
KEEP_USED_SECONDS = 3600


def issue_code(conn: Connection, grant: Grant, *, redirect_uri: str,
               code_challenge: str) -> str:
    now = time.time()
    conn.execute(delete(codes).where(codes.c.expires < now - KEEP_USED_SECONDS))
    code = new_opaque()
    conn.execute(insert(codes).values(
        code_hash=digest(code), client_id=grant.client_id, redirect_uri=redirect_uri,
        code_challenge=code_challenge, scopes=" ".join(grant.scopes), sign_in=grant.sign_in,
        context=grant.context, nonce=grant.nonce, family=grant.family,
        expires=now + CODE_SECONDS, used=None))
    return code


def redeem_code(conn: Connection, code: str, *, client_id: str, redirect_uri: str,
                verifier: str) -> Grant:
    """The code's grant, the code used up; every mismatch is invalid_grant (RFC 6749 §5.2)."""
    row = conn.execute(select(codes).where(codes.c.code_hash == digest(code))).first()
    if row is None or row.client_id != client_id:
        raise invalid_grant("Unknown authorization code")
    if row.used is not None:
        raise _replayed(conn, row.family)
    if row.expires < time.time():
        raise invalid_grant("The authorization code has expired")
    if row.redirect_uri != redirect_uri:
        raise invalid_grant("redirect_uri differs from the one in the authorization request")
    if not pkce.verify(verifier, row.code_challenge):
        raise invalid_grant("The code_verifier does not match the code_challenge (PKCE)")
    marked = conn.execute(update(codes).where(codes.c.code_hash == row.code_hash,
                                              codes.c.used.is_(None))
                          .values(used=time.time()))
    if marked.rowcount != 1:  # a concurrent request redeemed it first
        raise _replayed(conn, row.family)
    return Grant(row.client_id, row.scopes.split(), row.sign_in, row.context, row.family,
                 row.nonce)


def record_access_token(conn: Connection, code: str, jti: str, expires: float) -> None:
    """Remember the access token issued for the code, to revoke it if the code is replayed."""
    conn.execute(update(codes).where(codes.c.code_hash == digest(code))
                 .values(access_jti=jti, access_expires=expires))


def _replayed(conn: Connection, family: str) -> GrantRevoked:
    jtis = revoke_family(conn, family)
    return GrantRevoked("invalid_grant", "This authorization code was already used; the tokens "
                        "issued from it are now revoked", revoked_jtis=jtis)
