"""What every page shares: who is signed in, the language, CSRF, rendering with the layout,
form reading and validation messages, and error pages that never show a stack trace."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from vardnav.config import Settings
from vardnav.domains.identity.signin import csrf
from vardnav.domains.identity.signin.router import read_form
from vardnav.domains.identity.signin.session import (
    LOGIN_PATH,
    SignIn,
    current_sign_in,
    read_session,
    write_session,
)
from vardnav.errors import VardnavError
from vardnav.web.gateway import Gateway
from vardnav.web.i18n import language_of, translator
from vardnav.web.pages import render

log = logging.getLogger("vardnav.web")
WEB = "/web"


@dataclass
class Page:
    """One request to a page: the signed-in person, their session and language."""

    request: Request
    settings: Settings
    gateway: Gateway
    session: dict[str, Any]
    who: SignIn | None
    lang: str
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def t(self) -> Callable[..., str]:
        return translator(self.lang)

    @property
    def staff(self) -> bool:
        return self.who is not None and self.who.kind == "staff"

    @property
    def address(self) -> str | None:
        return self.request.client.host if self.request.client else None

    async def run(self, work: Callable[..., Any], *, write: bool = False) -> Any:
        assert self.who is not None
        return await self.gateway.run(self.who, work, write=write,
                                      client_address=self.address)

    def render(self, template: str, title: str, status: int = 200, **context: Any) -> Response:
        """A page in the layout, with the header (who, where, role) and a CSRF token."""
        token = csrf.ensure_token(self.session)
        where = self.session.get("where") if self.who else None
        response = render(template, status, title=title, csrf=token, who=self.who,
                          where=where, lang=self.lang, t=self.t, errors=self.errors,
                          path=self.request.url.path, query=self.request.url.query,
                          emergency_hours=self.settings.emergency_access_hours, **context)
        write_session(response, self.settings, self.session)
        return response

    def message(self, status: int, title: str, text: str) -> Response:
        return self.render("web/message.html", title, status, message=text)


def page_of(request: Request) -> Page:
    app = request.app
    settings: Settings = app.state.settings
    return Page(request, settings, app.state.web_gateway, read_session(request, settings),
                current_sign_in(request, settings), language_of(request))


Handler = Callable[..., Awaitable[Response]]


def page(*, kinds: tuple[str, ...] = ("staff", "resident")) -> Callable[[Handler], Handler]:
    """A page handler (registered with `add_route`: it gets the Page and the path
    parameters) that needs a completed sign-in of one of `kinds`; refusals of the
    access layers and unexpected failures become error pages (never a stack trace)."""

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def run(request: Request) -> Response:
            p = page_of(request)
            if p.who is None:
                target = request.url.path + (f"?{request.url.query}" if request.url.query
                                             else "")
                return RedirectResponse(f"{LOGIN_PATH}?next={quote(target, safe='')}", 303)
            if p.who.kind not in kinds:
                return p.message(403, p.t("Ingen behörighet"),
                                 p.t("Sidan är inte till för din roll."))
            started = time.perf_counter()
            try:
                response = await handler(p, **request.path_params)
            except VardnavError as exc:
                response = error_page(p, exc)
            except (IntegrityError, OperationalError):
                response = p.message(409, p.t("Försök igen"),
                                     p.t("Databasen var upptagen. Försök igen."))
            except Exception:  # the person sees a page; the log keeps the details
                log.exception("web page %s failed", request.url.path)
                response = p.message(500, p.t("Något gick fel"),
                                     p.t("Sidan kunde inte visas. Felet är loggat."))
            # The server's time for the page (queries, access checks, log, rendering), for
            # the browser's developer tools and bench/web_pages.py.
            elapsed = (time.perf_counter() - started) * 1000
            response.headers["Server-Timing"] = f"page;dur={elapsed:.1f}"
            return response

        return run

    return wrap


def error_page(p: Page, exc: VardnavError) -> Response:
    titles = {403: "Ingen behörighet", 404: "Hittades inte", 409: "Konflikt"}
    title = p.t(titles.get(exc.status, "Kunde inte utföras"))
    return p.render("web/message.html", title, exc.status, message=explain(p, exc))


def explain(p: Page, exc: VardnavError) -> str:
    """The engine's refusal in the person's language: a short sentence, then its detail."""
    lead = {403: "Du har inte behörighet till detta.",
            404: "Uppgiften finns inte, eller så får du inte se den.",
            409: "Det krockade med en annan ändring.",
            422: "Det går inte i det här läget."}.get(exc.status, "Uppgifterna godtogs inte.")
    return f"{p.t(lead)} ({exc.message})"


async def checked_form(p: Page) -> tuple[dict[str, str] | None, Response | None]:
    """The posted form if it carries this session's CSRF token; else a refusal page."""
    form = await read_form(p.request)
    if form is None:
        return None, p.message(400, p.t("Formuläret kunde inte läsas"),
                               p.t("Ladda om sidan och försök igen."))
    if csrf.check(p.session, form) is not None:
        return None, p.message(403, p.t("Formuläret har gått ut"),
                               p.t("Formuläret kom inte från den här sidan eller har gått "
                                   "ut. Ladda om sidan och försök igen."))
    return form, None


def redirect(p: Page, url: str) -> Response:
    response = RedirectResponse(url, 303, {"Cache-Control": "no-store"})
    write_session(response, p.settings, p.session)
    return response


def flash(p: Page, text: str) -> None:
    """A message shown once on the next page (kept in the signed session)."""
    p.session["flash"] = text


def take_flash(p: Page) -> str | None:
    value = p.session.pop("flash", None)
    return value if isinstance(value, str) else None
