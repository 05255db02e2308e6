"""The token endpoint's user grants: `authorization_code` (with PKCE) and `refresh_token`
(rotated on every use; the scope may be narrowed, never widened)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection

from vardnav.config import Settings
from vardnav.domains.identity.access.keys import KeyStore
from vardnav.domains.identity.oauth.apps import App
from vardnav.domains.identity.oauth.backend_services import OAuthError
from vardnav.domains.identity.oauth.codes import record_access_token, redeem_code
from vardnav.domains.identity.oauth.grant import Grant, GrantRevoked
from vardnav.domains.identity.oauth.grant_scopes import narrower
from vardnav.domains.identity.oauth.refresh_tokens import (
    issue_refresh,
    refresh_allowed,
    refresh_expiry,
    revoke_family,
    use_refresh,
)
from vardnav.domains.identity.oauth.token_response import Issued, issue_tokens


def _required(form: dict[str, str], *names: str) -> list[str]:
    missing = [n for n in names if not form.get(n)]
    if missing:
        raise OAuthError("invalid_request", f"Missing {', '.join(missing)}")
    return [form[n] for n in names]


def authorization_code(conn: Connection, form: dict[str, str], app: App, *,
                       store: KeyStore, settings: Settings, **_: Any) -> dict[str, Any]:
    code, verifier, redirect_uri = _required(form, "code", "code_verifier", "redirect_uri")
    grant = redeem_code(conn, code, client_id=app.client_id, redirect_uri=redirect_uri,
                        verifier=verifier)
    issued = issue_tokens(store, settings, grant, grant.scopes, with_id_token=True)
    record_access_token(conn, code, issued.access_jti, issued.access_expires)
    return _with_refresh(conn, grant, issued)


def refresh_token(conn: Connection, form: dict[str, str], app: App, *,
                  store: KeyStore, settings: Settings,
                  entitled: Callable[[Connection, dict[str, Any]], bool]) -> dict[str, Any]:
    """`entitled` says whether the signed-in person may still have what the grant holds; if
    not, the grant ends (its tokens are revoked)."""
    (token,) = _required(form, "refresh_token")
    grant = use_refresh(conn, token, app.client_id)
    if not entitled(conn, grant.sign_in):
        raise GrantRevoked("invalid_grant", "The user's account, assignment or access to the "
                           "record has ended; sign in again",
                           revoked_jtis=revoke_family(conn, grant.family))
    scopes = grant.scopes
    if "scope" in form:
        scopes = form["scope"].split()
        if not scopes or not narrower(scopes, grant.scopes):
            raise OAuthError("invalid_scope", "A refresh may narrow the scope, never widen it; "
                             f"granted: {' '.join(grant.scopes)}")
    issued = issue_tokens(store, settings, grant, scopes, with_id_token=False)
    # The new refresh token keeps the grant's full scope (RFC 6749 §6).
    return _with_refresh(conn, grant, issued)


def _with_refresh(conn: Connection, grant: Grant, issued: Issued) -> dict[str, Any]:
    body = dict(issued.body)
    if refresh_allowed(grant.scopes) and refresh_expiry(grant, time.time()) > time.time():
        body["refresh_token"] = issue_refresh(conn, grant, access_jti=issued.access_jti,
                                              access_expires=issued.access_expires)
    return body
