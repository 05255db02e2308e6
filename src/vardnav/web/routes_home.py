"""Start page, language choice and the demo sign-in (one demo user per role)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from vardnav.db.unit_of_work import run_in_transaction
from vardnav.domains.identity.access.principal import SERVER
from vardnav.domains.identity.organisation.assignments import hsa_of
from vardnav.domains.identity.organisation.staff import PROFESSION_SYSTEM, PROFESSIONS
from vardnav.domains.identity.signin import csrf
from vardnav.domains.identity.signin.accounts import list_accounts
from vardnav.domains.identity.signin.redirects import safe_next
from vardnav.domains.identity.signin.router import read_form
from vardnav.domains.identity.signin.session import write_session
from vardnav.fhir.hooks import RequestContext
from vardnav.fhir.storage.repository import Repository
from vardnav.web import views
from vardnav.web.gateway import Fhir
from vardnav.web.i18n import LANG_COOKIE, LANGUAGES
from vardnav.web.site import WEB, Page, page, page_of, take_flash

LANG_SECONDS = 365 * 86400
# The demo password is public (README, `vardnav demo`); the page is offered only with
# VARDNAV_WEB_DEMO_SIGNIN=true.
DEMO_PASSWORD = "vardnav-demo"
# Which unit to show first for a profession: the ward the demo flows happen on, then
# primary care, then the municipality.
PREFERRED_UNITS = ("SE2321000131-SU-MED1", "SE2321000131-VC01", "SE000014800000-K1480")


@dataclass(frozen=True)
class DemoUser:
    username: str
    label: str
    group: str


def _demo_users(conn: Any, services: Any, base_url: str) -> list[DemoUser]:
    """One demo account per (profession, kind of unit), plus the residents: read through the
    engine as the server itself (audited like the sign-in's own lookups)."""
    accounts = list_accounts(conn)
    staff_accounts = {a.username for a in accounts if a.kind == "staff" and not a.disabled}
    fhir = Fhir(Repository(conn, services, RequestContext(principal=SERVER,
                                                          base_url=base_url)))
    roles = fhir.search("PractitionerRole", ("_count", "1000"),
                        ("_include", "PractitionerRole:practitioner"),
                        ("_include", "PractitionerRole:organization"))
    seen: set[tuple[str, str]] = set()
    found: list[tuple[int, DemoUser]] = []
    for role in roles.matches:
        person = roles.included.get((role.get("practitioner") or {}).get("reference", ""))
        unit = roles.included.get((role.get("organization") or {}).get("reference", ""))
        hsa = hsa_of(person) if person else None
        if not hsa or hsa not in staff_accounts or unit is None:
            continue
        profession = next((views.code_of(c, PROFESSION_SYSTEM) for c in role.get("code", [])
                           if views.code_of(c, PROFESSION_SYSTEM)), None)
        if profession is None:
            continue
        unit_hsa = hsa_of(unit) or ""
        kind = "municipality" if "-K" in unit_hsa else "region"
        key = (profession, unit_hsa if unit_hsa in PREFERRED_UNITS else kind)
        if key in seen:
            continue
        seen.add(key)
        rank = PREFERRED_UNITS.index(unit_hsa) if unit_hsa in PREFERRED_UNITS else 9
        label = f"{PROFESSIONS.get(profession, profession)} – {unit.get('name', '')}: " \
                f"{views.name(person)}"
        found.append((rank, DemoUser(hsa, label, "staff")))
    # A profession at a preferred unit first; others only once per profession.
    found.sort(key=lambda x: (x[0], x[1].label))
    shown: list[DemoUser] = []
    professions: set[str] = set()
    for rank, user in found:
        profession = user.label.split(" – ")[0]
        if rank < 9 or profession not in professions:
            shown.append(user)
            professions.add(profession)
    for account in accounts:
        if account.kind != "resident" or account.disabled:
            continue
        people = fhir.search("Patient", ("identifier", f"{views.PERSONNUMMER_SYSTEM}|"
                                                       f"{account.username}"))
        who = views.name(people.matches[0]) if people.matches else ""
        shown.append(DemoUser(account.username, f"{who} ({account.username})", "resident"))
    return shown


def build_home_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @page()
    async def home(p: Page) -> Response:
        if p.who is not None and p.who.kind == "resident":
            return RedirectResponse(f"{WEB}/me", 303)
        return p.render("web/home.html", p.t("Start"), flash=take_flash(p))

    async def choose_language(request: Request) -> Response:
        p = page_of(request)
        form = await read_form(request)
        if form is None or csrf.check(p.session, form) is not None:
            return p.message(403, p.t("Formuläret har gått ut"),
                             p.t("Ladda om sidan och försök igen."))
        lang = form.get("lang", "sv")
        response = RedirectResponse(safe_next(form.get("next")), 303,
                                    {"Cache-Control": "no-store"})
        if lang in LANGUAGES:
            response.set_cookie(LANG_COOKIE, lang, max_age=LANG_SECONDS, path="/",
                                httponly=True, samesite="lax",
                                secure=p.settings.secure_cookies)
        write_session(response, p.settings, p.session)
        return response

    async def demo(request: Request) -> Response:
        p = page_of(request)
        if not p.settings.web_demo_signin:
            return p.message(404, p.t("Hittades inte"),
                             p.t("Demoinloggningen är inte påslagen."))
        app = request.app
        base = p.settings.base_url.rstrip("/")
        users = await run_in_threadpool(
            run_in_transaction, app.state.engine,
            lambda conn: _demo_users(conn, app.state.services, base), write=False)
        return p.render("web/demo.html", p.t("Demoinloggning"), users=users,
                        password=DEMO_PASSWORD,
                        next=safe_next(request.query_params.get("next") or f"{WEB}/"))

    router.add_route(f"{WEB}/", home, methods=["GET"])
    router.add_route(f"{WEB}/lang", choose_language, methods=["POST"])
    router.add_route(f"{WEB}/demo", demo, methods=["GET"])
    return router
