"""HTTP routes of the authorization endpoint: `/oauth/authorize` (GET and POST), the staff
patient picker for standalone `launch/patient`, and `POST /oauth/launch` for EHR launches."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy import Connection, Engine
from starlette.concurrency import run_in_threadpool

from vardnav.config import Settings
from vardnav.db.unit_of_work import run_in_transaction
from vardnav.domains.identity import signin
from vardnav.domains.identity.access.bearer import BearerAuthenticator
from vardnav.domains.identity.oauth.apps import get_app
from vardnav.domains.identity.oauth.authorize_decision import Decision, decide, decide_with_patient
from vardnav.domains.identity.oauth.authorize_pages import PICKER_PATH, error_page, patient_picker
from vardnav.domains.identity.oauth.authorize_request import (
    AuthorizePageError,
    AuthorizeRedirectError,
    AuthorizeRequest,
    parse_authorize,
)
from vardnav.domains.identity.oauth.form_body import read_form
from vardnav.domains.identity.oauth.launch_routes import create_launch_response
from vardnav.domains.identity.oauth.patient_lookup import find_patient
from vardnav.domains.identity.oauth.pending_authorizations import held, release

AUTHORIZE_PATH = "/oauth/authorize"
T = TypeVar("T")


def _redirect(location: str) -> RedirectResponse:
    # 303: the browser follows with GET even after a POST (authorize-post, picker form).
    return RedirectResponse(location, 303, headers={"Cache-Control": "no-store"})


def _to_login(next_url: str) -> RedirectResponse:
    return _redirect(f"{signin.LOGIN_PATH}?{urlencode({'next': next_url})}")


def build_authorize_router(engine: Engine, settings: Settings,
                           authenticator: BearerAuthenticator) -> APIRouter:
    router = APIRouter()
    issuer, base_url = settings.issuer, settings.base_url.rstrip("/")

    async def run(work: Callable[[Connection], T], write: bool = True) -> T:
        return await run_in_threadpool(run_in_transaction, engine, work, write=write)

    def answer(decision: Decision) -> Response:
        if decision.pending:
            return _redirect(f"{PICKER_PATH}?{urlencode({'request': decision.pending})}")
        assert decision.location is not None
        return _redirect(decision.location)

    async def authorize(request: Request, params: list[tuple[str, str]]) -> Response:
        try:
            _app, checked = await run(lambda conn: parse_authorize(
                conn, params, audience=settings.base_url), write=False)
            sign_in = signin.current_sign_in(request, settings)
            if sign_in is None:
                return _to_login(f"{AUTHORIZE_PATH}?{urlencode(params)}")
            return answer(await run(lambda conn: decide(conn, checked, sign_in,
                                                        issuer=issuer)))
        except AuthorizePageError as exc:
            return error_page(str(exc))
        except AuthorizeRedirectError as exc:
            return _redirect(exc.location(issuer))

    @router.get(AUTHORIZE_PATH, summary="OAuth2 / SMART authorization endpoint")
    async def authorize_get(request: Request) -> Response:
        return await authorize(request, list(request.query_params.multi_items()))

    @router.post(AUTHORIZE_PATH, include_in_schema=False)
    async def authorize_post(request: Request) -> Response:
        form = await read_form(request)
        if form is None:
            return error_page("Send the authorization request as a form (or with GET).")
        return await authorize(request, form)

    def pending_request(request: Request, request_id: str
                        ) -> tuple[signin.SignIn | None, Callable[[Connection], Any]]:
        sign_in = signin.current_sign_in(request, settings)

        def load(conn: Connection) -> tuple[AuthorizeRequest, str] | None:
            if sign_in is None or sign_in.kind != "staff":
                return None
            found = held(conn, request_id, sign_in.subject)
            app = get_app(conn, found.client_id) if found else None
            return (found, app.name) if found and app else None
        return sign_in, load

    @router.get(PICKER_PATH, summary="Patient picker for a standalone launch/patient")
    async def picker(request: Request) -> Response:
        request_id = request.query_params.get("request", "")
        sign_in, load = pending_request(request, request_id)
        if sign_in is None:
            return _to_login(f"{PICKER_PATH}?{urlencode({'request': request_id})}")
        found = await run(load, write=False)
        if found is None:
            return error_page("This authorization has expired or is not yours; start again "
                              "from the app.")
        return patient_picker(request_id, found[1])

    @router.post(PICKER_PATH, include_in_schema=False)
    async def picked(request: Request) -> Response:
        form = dict(await read_form(request) or [])
        request_id = form.get("request", "")
        sign_in, load = pending_request(request, request_id)
        services = request.app.state.services

        def work(conn: Connection) -> Response:
            found = load(conn)
            if sign_in is None or found is None:
                return error_page("This authorization has expired or is not yours; sign in "
                                  "and start again from the app.")
            pending, app_name = found
            if form.get("action") == "cancel":
                release(conn, request_id)
                return _redirect(pending.fail("access_denied", "The user cancelled")
                                 .location(issuer))
            patient = find_patient(conn, services, form.get("patient", ""), base_url)
            if patient is None:
                return patient_picker(request_id, app_name, "No single patient matches; give "
                                      "a personnummer (ÅÅÅÅMMDD-NNNN) or a Patient id.", 400)
            release(conn, request_id)
            return answer(decide_with_patient(conn, pending, sign_in, patient, issuer=issuer))

        try:
            return await run(work)
        except AuthorizeRedirectError as exc:
            return _redirect(exc.location(issuer))

    @router.post("/oauth/launch", summary="EHR launch: register the context an app opens in")
    async def launch(request: Request) -> JSONResponse:
        return await create_launch_response(request, engine, authenticator, base_url)
    return router
