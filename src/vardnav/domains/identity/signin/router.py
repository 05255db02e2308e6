"""HTTP routes of sign-in: the login form, the assignment/record choice, logout and the
external identity provider's redirect and callback. Pages are HTML, in Swedish or, after the
header's language button, English (the web pages' catalogue)."""

from __future__ import annotations

import math
import time
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from vardnav.config import Settings
from vardnav.db.unit_of_work import run_in_transaction
from vardnav.domains.access.login_audit import record_login
from vardnav.domains.identity.signin import csrf
from vardnav.domains.identity.signin.accounts import get_account, normalise_username
from vardnav.domains.identity.signin.directory import Directory
from vardnav.domains.identity.signin.flow import CHOOSE_PATH, Flow
from vardnav.domains.identity.signin.oidc import IdentityProvider, OidcError, OidcProvider
from vardnav.domains.identity.signin.password_login import check_password
from vardnav.domains.identity.signin.redirects import safe_next
from vardnav.domains.identity.signin.session import (
    LOGIN_PATH,
    SignIn,
    clear_session,
    current_sign_in,
    read_session,
)
from vardnav.fhir.storage.repository import EngineServices
from vardnav.web.i18n import SIGNIN_PAGE, language_of

LOGOUT_PATH = "/logout"
OIDC_PATH = LOGIN_PATH + "/oidc"
OIDC_CALLBACK_PATH = OIDC_PATH + "/callback"
MAX_FORM_BYTES = 16_384
OIDC_SECONDS = 10 * 60  # time allowed at the identity provider
WRONG = "Fel användarnamn eller lösenord."
DISABLED = "Kontot är spärrat. Kontakta din behörighetsadministratör eller 1177."
BAD_FORM = "Formuläret kunde inte läsas. Ladda om sidan och försök igen."
BAD_CSRF = ("Formuläret har gått ut eller kom inte från Vårdnav. Ladda om sidan och försök "
            "igen.")


def open_session(request: Request, settings: Settings) -> dict[str, Any]:
    """The request's session; also notes the page language and where the language button
    returns to: the page itself if it is one of the two that can be fetched again (not a
    form's answer, not the identity provider's callback, whose code works only once)."""
    back = LOGIN_PATH
    if request.method == "GET" and request.url.path in (LOGIN_PATH, CHOOSE_PATH):
        back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    SIGNIN_PAGE.set((language_of(request), back))
    return read_session(request, settings)


async def read_form(request: Request) -> dict[str, str] | None:
    """The url-encoded form body, or None if it is something else or too large."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        return None
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_FORM_BYTES:
            return None
    return dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))


def build_signin_router(engine: Engine, services: EngineServices, settings: Settings, *,
                        identity_provider: IdentityProvider | None = None) -> APIRouter:
    """The sign-in pages; `identity_provider` defaults to the OIDC IdP in the settings."""
    router = APIRouter(include_in_schema=False)
    idp = identity_provider or OidcProvider.from_settings(settings)
    flow = Flow(settings, Directory(engine, services, settings), idp.label if idp else None)
    callback_url = settings.issuer.rstrip("/") + OIDC_CALLBACK_PATH

    async def checked_form(request: Request, session: dict[str, Any]
                           ) -> tuple[dict[str, str] | None, Response | None]:
        form = await read_form(request)
        if form is None:
            return None, flow.message(session, 400, BAD_FORM)
        status = csrf.check(session, form)
        if status is not None:
            return None, flow.message(session, status, BAD_CSRF)
        return form, None

    @router.get(LOGIN_PATH)
    async def login_page(request: Request) -> Response:
        session = open_session(request, settings)
        next_url = safe_next(request.query_params.get("next"))
        if current_sign_in(request, settings) is not None:
            return flow.page(session, "signed_in.html", title="Inloggad", next=next_url)
        return flow.page(session, "login.html", title="Logga in", next=next_url,
                         username="", error=None)

    @router.post(LOGIN_PATH)
    async def login(request: Request) -> Response:
        session = open_session(request, settings)
        form, refused = await checked_form(request, session)
        if form is None:
            return refused or flow.message(session, 400, BAD_FORM)
        next_url = safe_next(form.get("next"))
        typed = form.get("username", "")
        username = normalise_username(typed)[:64]
        client_ip = request.client.host if request.client else "unknown"
        now = time.time()
        outcome = await run_in_threadpool(check_password, engine, username,
                                          form.get("password", ""), client_ip, now)
        await run_in_threadpool(
            record_login, engine, services.audit, username=username, method="password",
            kind=outcome.account.kind if outcome.account else None, result=outcome.status,
            client_address=client_ip)
        if outcome.status == "limited":
            minutes = max(1, math.ceil(outcome.retry_after / 60))
            return flow.message(
                session, 429, "För många misslyckade inloggningsförsök. Av säkerhetsskäl är "
                "inloggningen spärrad en stund: försök igen om {minutes} minuter.",
                values={"minutes": minutes},
                headers={"Retry-After": str(math.ceil(outcome.retry_after))}, next=next_url)
        if outcome.status != "ok" or outcome.account is None:
            error = DISABLED if outcome.status == "disabled" else WRONG
            return flow.page(session, "login.html", title="Logga in", status=403,
                             next=next_url, username=typed[:64], error=error)
        account = outcome.account
        who = SignIn(kind=account.kind, subject=account.username,
                     display_name=account.username, method="password", auth_time=int(now))
        return await flow.authenticated(session, who, next_url)

    async def audit_oidc(request: Request, hsa_id: str, kind: str | None, result: str) -> None:
        await run_in_threadpool(
            record_login, engine, services.audit, username=hsa_id, kind=kind, method="oidc",
            result=result, client_address=request.client.host if request.client else None)

    @router.get(CHOOSE_PATH)
    async def choice_page(request: Request) -> Response:
        session = open_session(request, settings)
        who = flow.choosing(session)
        if who is None:
            return RedirectResponse(LOGIN_PATH, 303)
        return await flow.show_choices(session, who)

    @router.post(CHOOSE_PATH)
    async def choose(request: Request) -> Response:
        session = open_session(request, settings)
        form, refused = await checked_form(request, session)
        if form is None:
            return refused or flow.message(session, 400, BAD_FORM)
        who = flow.choosing(session)
        if who is None:
            return flow.message(session, 400, "Inloggningen har gått ut. Logga in igen.")
        return await flow.choose(session, who, form.get("choice", ""))

    @router.post(LOGOUT_PATH)
    async def logout(request: Request) -> Response:
        session = open_session(request, settings)
        form, refused = await checked_form(request, session)
        if form is None:
            return refused or flow.message(session, 400, BAD_FORM)
        response = RedirectResponse(LOGIN_PATH, 303, {"Cache-Control": "no-store"})
        clear_session(response, settings)
        return response

    @router.get(OIDC_PATH)
    async def oidc_start(request: Request) -> Response:
        session = open_session(request, settings)
        if idp is None:
            return flow.message(session, 404, "Inloggning med extern IdP är inte aktiverad.")
        try:
            url, kept = await idp.start(callback_url)
        except OidcError as exc:
            return flow.message(session, 502, str(exc))
        session["oidc"] = {**kept, "next": safe_next(request.query_params.get("next")),
                           "started": int(time.time())}
        return flow.redirect(session, url)

    @router.get(OIDC_CALLBACK_PATH)
    async def oidc_callback(request: Request) -> Response:
        session = open_session(request, settings)
        kept = session.pop("oidc", None)
        if idp is None:
            return flow.message(session, 404, "Inloggning med extern IdP är inte aktiverad.")
        if not isinstance(kept, dict) or time.time() - kept.get("started", 0) > OIDC_SECONDS:
            return flow.message(session, 400, "Inloggningen har gått ut eller startades inte "
                                "här. Börja om.")
        try:
            person = await idp.finish(dict(request.query_params), kept, callback_url)
        except OidcError as exc:
            await audit_oidc(request, "", None, f"refused: {exc}")
            return flow.message(session, 403, str(exc), next=kept.get("next"))
        account = await run_in_threadpool(run_in_transaction, engine,
                                          lambda conn: get_account(conn, person.hsa_id),
                                          write=False)
        if account is not None and (account.disabled or account.kind != "staff"):
            await audit_oidc(request, person.hsa_id, None, "disabled")
            return flow.message(session, 403, DISABLED, next=kept.get("next"))
        await audit_oidc(request, person.hsa_id, "staff", "ok")
        who = SignIn(kind="staff", subject=person.hsa_id,
                     display_name=person.name or person.hsa_id, method="oidc",
                     auth_time=int(time.time()))
        return await flow.authenticated(session, who, str(kept.get("next", LOGIN_PATH)))

    return router
