"""Checking an authorization request (RFC 6749 §4.1.1, SMART App Launch 2.0, RFC 7636).

Two kinds of failure: while the client or its redirect URI is not verified, the user gets an
error page (never a redirect to an unverified URI, RFC 6749 §4.1.2.1); afterwards errors go
back to the app's redirect URI with `error`, `error_description` and `state`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Connection

from vardnav.domains.identity.oauth import pkce
from vardnav.domains.identity.oauth.apps import App, get_app
from vardnav.domains.identity.oauth.grant_scopes import client_scopes

MAX_PARAM_LENGTH = 2048


class AuthorizePageError(Exception):
    """Shown to the user as a 400 page: the app cannot be told safely."""


@dataclass
class AuthorizeRedirectError(Exception):
    redirect_uri: str
    error: str
    description: str
    state: str | None

    def location(self, issuer: str) -> str:
        params = {"error": self.error, "error_description": self.description}
        if self.state:
            params["state"] = self.state
        return with_query(self.redirect_uri, {**params, "iss": issuer})


@dataclass(frozen=True)
class AuthorizeRequest:
    client_id: str
    redirect_uri: str
    scopes: list[str]  # requested and allowed by the app's registration
    state: str
    code_challenge: str
    nonce: str | None = None
    launch: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def fail(self, error: str, description: str) -> AuthorizeRedirectError:
        return AuthorizeRedirectError(self.redirect_uri, error, description, self.state)


def with_query(uri: str, params: dict[str, str]) -> str:
    """The redirect URI with parameters added, keeping any query it has (RFC 6749 §3.1.2)."""
    return uri + ("&" if "?" in uri else "?") + urlencode(params)


def parse_authorize(conn: Connection, params: list[tuple[str, str]], *,
                    audience: str) -> tuple[App, AuthorizeRequest]:
    single: dict[str, str] = {}
    repeated: set[str] = set()
    for name, value in params:
        if name in single:
            repeated.add(name)
        single[name] = value
    client_id, redirect_uri = single.get("client_id"), single.get("redirect_uri")
    app = get_app(conn, client_id) if client_id and "client_id" not in repeated else None
    if app is None or app.kind not in ("public", "confidential"):
        raise AuthorizePageError("The app asking you to sign in is not registered here "
                                 "(unknown client_id).")
    if not redirect_uri or "redirect_uri" in repeated or redirect_uri not in app.redirect_uris:
        raise AuthorizePageError(f"The app {app.name} sent a redirect URI it has not "
                                 "registered, so it cannot be sent your answer.")
    state = single.get("state")

    def fail(error: str, description: str) -> AuthorizeRedirectError:
        return AuthorizeRedirectError(redirect_uri, error, description,
                                      state if "state" not in repeated else None)

    if repeated:
        raise fail("invalid_request", f"Parameters given more than once: "
                   f"{', '.join(sorted(repeated))}")
    if any(len(v) > MAX_PARAM_LENGTH for v in single.values()):
        raise fail("invalid_request", "A parameter is too long")
    if single.get("response_type") != "code":
        if "response_type" not in single:
            raise fail("invalid_request", "response_type is required")
        raise fail("unsupported_response_type", "Only response_type=code is supported")
    if not state:
        raise fail("invalid_request", "state is required (SMART App Launch)")
    if (single.get("aud") or "").rstrip("/") != audience.rstrip("/"):
        raise fail("invalid_request", f"aud must be this FHIR server's base URL: {audience}")
    if single.get("code_challenge_method") != "S256":
        raise fail("invalid_request", "PKCE is required with code_challenge_method=S256 "
                   "(plain is not accepted)")
    challenge = single.get("code_challenge") or ""
    if not pkce.valid_challenge(challenge):
        raise fail("invalid_request", "code_challenge must be the base64url SHA-256 of the "
                   "code verifier (43 characters)")
    scopes = client_scopes((single.get("scope") or "").split(), app.scopes)
    if not scopes:
        raise fail("invalid_scope", "None of the requested scopes is available to this app "
                   f"here; it is registered for: {' '.join(app.scopes)}")
    launch = single.get("launch") or None
    if launch and "launch" not in scopes:
        raise fail("invalid_scope", "An EHR launch needs the 'launch' scope")
    if "launch" in scopes and not launch:
        raise fail("invalid_request", "The 'launch' scope needs the launch parameter the EHR "
                   "gave the app")
    return app, AuthorizeRequest(app.client_id, redirect_uri, scopes, state, challenge,
                                 single.get("nonce") or None, launch)
