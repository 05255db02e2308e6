"""Who is asking at the token, introspection and revocation endpoints (RFC 6749 §2.3).

- public apps send only `client_id` (they can keep no secret; PKCE protects their codes),
- confidential apps authenticate with `client_secret_basic` (HTTP Basic) or
  `private_key_jwt` (a signed `client_assertion`, as backend services do).

Any failure is `invalid_client` (401); the router adds the `WWW-Authenticate` challenge.
"""

from __future__ import annotations

import base64
import binascii
from urllib.parse import unquote

from sqlalchemy import Connection

from vardnav.domains.identity.oauth.apps import App, get_app
from vardnav.domains.identity.oauth.backend_services import (
    ASSERTION_TYPE,
    OAuthError,
    verified_assertion,
)
from vardnav.domains.identity.oauth.client_secrets import verify_secret


def _refuse(why: str) -> OAuthError:
    return OAuthError("invalid_client", why, 401)


def basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    """client_id and secret from an HTTP Basic header (form-urlencoded, RFC 6749 §2.3.1)."""
    if not authorization:
        return None
    scheme, _, encoded = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise _refuse("Malformed HTTP Basic credentials") from exc
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise _refuse("Malformed HTTP Basic credentials")
    return unquote(client_id.replace("+", " ")), unquote(secret.replace("+", " "))


def authenticate_client(conn: Connection, form: dict[str, str], authorization: str | None,
                        *, token_url: str, allow_public: bool = True) -> App:
    basic = basic_credentials(authorization)
    assertion = form.get("client_assertion")
    if basic and assertion:
        raise OAuthError("invalid_request", "Use one client authentication method")
    if form.get("client_secret"):  # (some libraries send it empty for public clients)
        raise _refuse("Send the client secret with HTTP Basic (client_secret_basic)")
    if basic:
        app = get_app(conn, basic[0])
        if app is None or app.kind != "confidential" or not verify_secret(basic[1],
                                                                          app.secret_hash):
            raise _refuse("Client authentication failed")
    elif assertion:
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise _refuse(f"client_assertion_type must be {ASSERTION_TYPE}")
        claims = verified_assertion(conn, assertion, token_url,
                                    kinds=("backend", "confidential"))
        app = get_app(conn, claims["iss"])
    else:
        client_id = form.get("client_id") or ""
        app = get_app(conn, client_id) if client_id else None
        if app is None or app.kind != "public" or not allow_public:
            raise _refuse("Client authentication failed (confidential clients must "
                          "authenticate; public clients send client_id)")
    if app is None:
        raise _refuse("Unknown client")
    if form.get("client_id") and form["client_id"] != app.client_id:
        raise _refuse("client_id differs from the authenticated client")
    return app
