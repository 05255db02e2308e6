"""Puts the web pages into the application: static files, the page routes, HTML errors."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from starlette.responses import Response
from starlette.staticfiles import StaticFiles

from vardnav.web.gateway import Gateway
from vardnav.web.pages import set_global
from vardnav.web.site import WEB, page_of

STATIC = Path(__file__).parent / "static"


def install_web(app: FastAPI) -> None:
    """Mount the pages on `app` (after app.state.settings/engine/services are set)."""
    from vardnav.web.routes_beds import build_beds_router
    from vardnav.web.routes_careplan import build_careplan_router
    from vardnav.web.routes_home import build_home_router
    from vardnav.web.routes_inbox import build_inbox_router
    from vardnav.web.routes_patients import build_patients_router
    from vardnav.web.routes_resident import build_resident_router
    from vardnav.web.routes_review import build_review_router

    settings = app.state.settings
    app.state.web_gateway = Gateway(app.state.engine, app.state.services, settings.base_url)
    set_global("demo_signin", settings.web_demo_signin)
    app.mount(f"{WEB}/static", StaticFiles(directory=STATIC), name="web-static")
    for router in (build_home_router(), build_patients_router(), build_beds_router(),
                   build_inbox_router(), build_resident_router(), build_review_router(),
                   build_careplan_router()):
        app.include_router(router)


def is_web(request: Request) -> bool:
    return request.url.path == WEB or request.url.path.startswith(f"{WEB}/")


def web_error(request: Request, status: int) -> Response:
    """An HTML error page for a path under /web (the API answers with OperationOutcomes)."""
    p = page_of(request)
    if status == 404:
        return p.message(404, p.t("Hittades inte"), p.t("Sidan finns inte."))
    if status == 405:
        return p.message(405, p.t("Kunde inte utföras"), p.t("Sidan tar inte emot det."))
    return p.message(status, p.t("Något gick fel"), p.t("Sidan kunde inte visas."))
