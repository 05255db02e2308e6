"""Admin API for the app registry: `GET /admin/clients` lists, `POST /admin/clients`
registers (and answers a generated client secret once, for confidential apps without keys).

Callers need a Bearer token of a staff member whose assignment's role is `administrator`, or
of a system with `system/*.cruds`.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Connection, Engine
from starlette.concurrency import run_in_threadpool

from vardnav.db.unit_of_work import run_in_transaction
from vardnav.domains.identity.access.bearer import BearerAuthenticator
from vardnav.domains.identity.access.principal import Principal
from vardnav.domains.identity.oauth.apps import list_apps, register_app
from vardnav.domains.identity.oauth.client_secrets import new_secret
from vardnav.domains.identity.oauth.json_errors import NO_STORE, bearer_principal, json_error
from vardnav.errors import VardnavError


def is_app_administrator(p: Principal) -> bool:
    if p.kind == "staff":
        return p.role == "administrator"
    return p.kind == "system" and any(
        s.context == "system" and s.resource_type == "*" and s.permissions >= set("cruds")
        and not s.query for s in p.scopes)


def registration(body: Any) -> dict[str, Any]:
    """The register_app arguments from a JSON body; wrong shapes are a 400."""
    if not isinstance(body, dict):
        raise VardnavError("Send a JSON object")
    scopes = body.get("scopes", body.get("scope"))
    if isinstance(scopes, str):
        scopes = scopes.split()
    args = {"client_id": body.get("client_id"), "name": body.get("name"),
            "kind": body.get("kind"), "scopes": scopes,
            "redirect_uris": body.get("redirect_uris") or [], "jwks": body.get("jwks")}
    texts = all(isinstance(args[k], str) for k in ("client_id", "name", "kind"))
    lists = all(isinstance(args[k], list) and all(isinstance(v, str) for v in args[k])
                for k in ("scopes", "redirect_uris"))
    if not (texts and lists and (args["jwks"] is None or isinstance(args["jwks"], dict))):
        raise VardnavError("Give client_id, name, kind, scopes (list or string), and "
                           "redirect_uris (list) / jwks (object) as the kind needs")
    return args


def build_admin_router(engine: Engine, authenticator: BearerAuthenticator) -> APIRouter:
    router = APIRouter()

    def administrator(request: Request) -> Principal | JSONResponse:
        principal = bearer_principal(request, authenticator)
        if isinstance(principal, JSONResponse):
            return principal
        if not is_app_administrator(principal):
            return json_error(403, "insufficient_scope", "Managing apps needs an administrator "
                          "(staff role administrator, or system/*.cruds)")
        return principal

    @router.get("/admin/clients", summary="Registered apps and integrations")
    async def clients(request: Request) -> JSONResponse:
        who = administrator(request)
        if isinstance(who, JSONResponse):
            return who
        apps = await run_in_threadpool(run_in_transaction, engine, list_apps, write=False)
        return JSONResponse({"clients": [a.public() for a in apps]}, 200, NO_STORE)

    @router.post("/admin/clients", summary="Register an app or integration")
    async def add_client(request: Request) -> JSONResponse:
        who = administrator(request)
        if isinstance(who, JSONResponse):
            return who
        try:
            args = registration(orjson.loads(await request.body()))
        except orjson.JSONDecodeError:
            return json_error(400, "invalid_request", "Send a JSON object")
        except VardnavError as exc:
            return json_error(400, "invalid_request", exc.message)
        secret = new_secret() if args["kind"] == "confidential" and not args["jwks"] else None

        def work(conn: Connection) -> Any:
            return register_app(conn, client_secret=secret, **args)

        try:
            app = await run_in_threadpool(run_in_transaction, engine, work)
        except VardnavError as exc:
            return json_error(exc.status, "invalid_request", exc.message)
        body = app.public()
        if secret:
            body["client_secret"] = secret  # shown once; only its hash is kept
        return JSONResponse(body, 201, NO_STORE)

    return router
