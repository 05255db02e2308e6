"""HTTP routes of the identity domain (the authorisation server): the public signing keys
(JWKS), discovery, the token endpoint (authorization_code, refresh_token and backend
services' client_credentials), introspection, revocation, and — from their own modules —
authorize / EHR launch and the app-registry admin API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Connection, Engine
from starlette.concurrency import run_in_threadpool

from vardnav.config import Settings
from vardnav.db.unit_of_work import run_in_transaction
from vardnav.domains.identity.access.bearer import REALM, BearerAuthenticator
from vardnav.domains.identity.access.keys import KeyStore
from vardnav.domains.identity.oauth import grant_checks
from vardnav.domains.identity.oauth.admin_clients import build_admin_router
from vardnav.domains.identity.oauth.authorize_routes import build_authorize_router
from vardnav.domains.identity.oauth.backend_services import OAuthError, client_credentials
from vardnav.domains.identity.oauth.client_auth import authenticate_client
from vardnav.domains.identity.oauth.discovery import openid_configuration, smart_configuration
from vardnav.domains.identity.oauth.form_body import read_form
from vardnav.domains.identity.oauth.grant import GrantRevoked
from vardnav.domains.identity.oauth.introspection import INACTIVE, introspect, revoke
from vardnav.domains.identity.oauth.json_errors import NO_STORE
from vardnav.domains.identity.oauth.revocation import RevocationList
from vardnav.domains.identity.oauth.user_grants import authorization_code, refresh_token
from vardnav.errors import Unauthorized

TOKEN_PATH = "/oauth/token"


def _error(error: OAuthError) -> JSONResponse:
    headers = dict(NO_STORE)
    if error.error == "invalid_client":
        headers["WWW-Authenticate"] = f'Basic realm="{REALM}"'  # RFC 6749 §5.2
    return JSONResponse(error.body(), error.status, headers)


def build_identity_router(store: KeyStore, engine: Engine, settings: Settings, *,
                          revocations: RevocationList | None = None) -> APIRouter:
    """`revocations` is shared with the API's BearerAuthenticator (main.py) so a revocation
    made here applies there at once; one is made if not given."""
    router = APIRouter()
    revoked = revocations or RevocationList(engine)
    token_url = settings.issuer.rstrip("/") + TOKEN_PATH
    authenticator = BearerAuthenticator(store, issuer=settings.issuer,
                                         audience=settings.base_url,
                                         is_revoked=revoked.is_revoked)
    router.include_router(build_authorize_router(engine, settings, authenticator))
    router.include_router(build_admin_router(engine, authenticator))

    async def form_of(request: Request) -> dict[str, str]:
        fields = await read_form(request)
        if fields is None:
            raise OAuthError("invalid_request", "Send a form-encoded request (RFC 6749)")
        names = [name for name, _ in fields]
        if len(names) != len(set(names)):
            raise OAuthError("invalid_request", "A parameter was given more than once")
        return dict(fields)

    async def in_transaction(work: Callable[[Connection], Any]) -> Any:
        """Run `work`; a GrantRevoked error is committed (the revocation must stick)."""
        def guarded(conn: Connection) -> Any:
            try:
                return work(conn)
            except GrantRevoked as replay:
                return replay

        result = await run_in_threadpool(run_in_transaction, engine, guarded)
        if isinstance(result, GrantRevoked):
            for jti in result.revoked_jtis:
                revoked.added(jti)
            raise result
        return result

    @router.post(TOKEN_PATH, summary="OAuth2 token endpoint")
    async def token(request: Request) -> JSONResponse:
        authorization = request.headers.get("authorization")
        try:
            form = await form_of(request)
            grant_type = form.get("grant_type")
            if grant_type == "client_credentials" or grant_type not in (
                    "authorization_code", "refresh_token"):
                return await _backend_services(form)
            grant = authorization_code if grant_type == "authorization_code" else refresh_token
            services = request.app.state.services

            def entitled(conn: Connection, sign_in: dict[str, Any]) -> bool:
                return grant_checks.still_entitled(conn, services, settings, sign_in)

            def work(conn: Connection) -> dict[str, Any]:
                app = authenticate_client(conn, form, authorization, token_url=token_url)
                if app.kind == "backend":
                    raise OAuthError("unauthorized_client", "Backend services use "
                                     "client_credentials")
                return grant(conn, form, app, store=store, settings=settings,
                             entitled=entitled)

            body = await in_transaction(work)
        except OAuthError as error:
            return _error(error)
        return JSONResponse(body, 200, NO_STORE)

    async def _backend_services(form: dict[str, str]) -> JSONResponse:
        def work(conn: Connection) -> dict[str, Any]:
            return client_credentials(conn, form, store=store, token_url=token_url,
                                      issuer=settings.issuer, audience=settings.base_url,
                                      ttl_seconds=min(settings.token_ttl_seconds, 300))

        body = await run_in_threadpool(run_in_transaction, engine, work)
        return JSONResponse(body, 200, NO_STORE)

    def caller(conn: Connection, request: Request, form: dict[str, str]) -> str:
        """Introspection callers: a confidential or backend client, or a system token."""
        authorization = request.headers.get("authorization") or ""
        if authorization.lower().startswith("bearer "):
            try:
                principal = authenticator.principal(authorization)
            except Unauthorized as exc:
                raise OAuthError("invalid_client", exc.message, 401) from exc
            if principal.kind != "system" or not any(s.context == "system"
                                                      for s in principal.scopes):
                raise OAuthError("invalid_client", "Introspection needs a system scope", 401)
            return principal.client_id
        app = authenticate_client(conn, form, authorization, token_url=token_url,
                                  allow_public=False)
        return app.client_id

    @router.post("/oauth/introspect", summary="Token introspection (RFC 7662)")
    async def introspection(request: Request) -> JSONResponse:
        try:
            form = await form_of(request)

            def work(conn: Connection) -> dict[str, Any]:
                caller(conn, request, form)
                token_value = form.get("token")
                if not token_value:
                    return INACTIVE
                return introspect(conn, token_value, store=store, settings=settings)

            body = await run_in_threadpool(run_in_transaction, engine, work)
        except OAuthError as error:
            return _error(error)
        return JSONResponse(body, 200, NO_STORE)

    @router.post("/oauth/revoke", summary="Token revocation (RFC 7009)")
    async def revocation(request: Request) -> JSONResponse:
        authorization = request.headers.get("authorization")
        try:
            form = await form_of(request)

            def work(conn: Connection) -> list[str]:
                app = authenticate_client(conn, form, authorization, token_url=token_url)
                if not form.get("token"):
                    raise OAuthError("invalid_request", "token is required")
                return revoke(conn, form["token"], app.client_id, store=store,
                              settings=settings)

            jtis = await run_in_threadpool(run_in_transaction, engine, work)
        except OAuthError as error:
            return _error(error)
        for jti in jtis:
            revoked.added(jti)
        return JSONResponse({}, 200, NO_STORE)

    @router.get("/.well-known/smart-configuration", summary="SMART configuration")
    @router.get("/fhir/.well-known/smart-configuration", include_in_schema=False)
    def smart() -> dict[str, Any]:
        return smart_configuration(settings)

    @router.get("/.well-known/openid-configuration", summary="OpenID Connect discovery")
    def openid() -> dict[str, Any]:
        return openid_configuration(settings)

    @router.get("/oauth/jwks", summary="Public keys that sign Vårdnav access tokens")
    def jwks() -> dict[str, Any]:
        return store.jwks()

    return router
