"""HTTP routes of the identity domain: the public signing keys (JWKS) and the token endpoint
(SMART Backend Services so far)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from vardnav.config import Settings
from vardnav.db.unit_of_work import run_in_transaction
from vardnav.domains.identity.backend_services import (
    ASSERTION_ALGORITHMS,
    OAuthError,
    client_credentials,
)
from vardnav.domains.identity.keys import KeyStore

TOKEN_PATH = "/oauth/token"


def build_identity_router(store: KeyStore, engine: Engine, settings: Settings) -> APIRouter:
    router = APIRouter()
    token_url = settings.issuer.rstrip("/") + TOKEN_PATH

    @router.post(TOKEN_PATH, summary="OAuth2 token endpoint (client_credentials)")
    async def token(request: Request) -> JSONResponse:
        headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
        ctype = request.headers.get("content-type", "").split(";")[0].strip()
        raw = await request.body()
        if ctype != "application/x-www-form-urlencoded" or len(raw) > 64_000:
            error = OAuthError("invalid_request", "Send a form-encoded request (RFC 6749)")
            return JSONResponse(error.body(), error.status, headers)
        form = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))

        def work(conn: Any) -> dict[str, Any]:
            return client_credentials(conn, form, store=store, token_url=token_url,
                                      issuer=settings.issuer, audience=settings.base_url,
                                      ttl_seconds=min(settings.token_ttl_seconds, 300))

        try:
            body = await run_in_threadpool(run_in_transaction, engine, work)
        except OAuthError as error:
            return JSONResponse(error.body(), error.status, headers)
        return JSONResponse(body, 200, headers)

    @router.get("/.well-known/smart-configuration", summary="SMART configuration")
    @router.get("/fhir/.well-known/smart-configuration", include_in_schema=False)
    def smart_configuration() -> dict[str, Any]:
        # Lists only what is built: backend services. The authorization-code flow comes next.
        return {
            "issuer": settings.issuer,
            "jwks_uri": settings.issuer.rstrip("/") + "/oauth/jwks",
            "token_endpoint": token_url,
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGORITHMS,
            "scopes_supported": ["system/*.cruds", "system/*.rs"],
            "capabilities": ["client-confidential-asymmetric", "permission-v1",
                             "permission-v2"],
        }

    @router.get("/oauth/jwks", summary="Public keys that sign Vårdnav access tokens")
    def jwks() -> dict[str, Any]:
        return store.jwks()

    return router
