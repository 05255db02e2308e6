"""The log reviewer's page: the review report ($log-review) with filters, and the log extract
of any patient ($log-extract). Both operations check the role themselves and are logged."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi import APIRouter
from starlette.responses import Response

from vardnav.web import logs, views
from vardnav.web.gateway import Fhir
from vardnav.web.routes_patients import find_patients
from vardnav.web.site import WEB, Page, page

STAFF = ("staff",)
REVIEWER = "log-reviewer"


def build_review_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    def refuse(p: Page) -> Response:
        return p.message(403, p.t("Ingen behörighet"),
                         p.t("Sidan är till för loggranskare."))

    @page(kinds=STAFF)
    async def review_page(p: Page) -> Response:
        assert p.who is not None
        if p.who.role != REVIEWER:
            return refuse(p)
        since, until = logs.date_filters(p)
        default = (datetime.now(views.SWEDEN).date() - timedelta(days=7)).isoformat()
        since = since or (None if p.errors else default)
        rule = p.request.query_params.get("rule", "")
        who = p.request.query_params.get("user", "").strip()
        unit = p.request.query_params.get("unit", "").strip()
        rows = [] if p.errors or since is None else await p.run(
            lambda f: logs.review(f, since, until))
        rows = [r for r in rows if (not rule or r["rule"] == rule)
                and (not who or who.casefold() in r["user"].casefold())
                and (not unit or unit.casefold() in r["unit"].casefold())]
        return p.render("web/review.html", p.t("Logggranskning"), rows=rows, since=since or "",
                        until=until or "", rule=rule, user=who, unit=unit, rules=logs.RULES,
                        status=400 if p.errors else 200)

    @page(kinds=STAFF)
    async def extract_page(p: Page) -> Response:
        assert p.who is not None
        if p.who.role != REVIEWER:
            return refuse(p)
        since, until = logs.date_filters(p)
        query = p.request.query_params.get("patient", "").strip()[:40]
        patient = None
        rows: list[dict[str, str]] = []
        if query:
            if views.parse_identity_number_safe(query) is None:
                p.errors["patient"] = p.t("Ange ett giltigt personnummer.")
            elif not p.errors:
                def work(f: Fhir) -> tuple[dict[str, str] | None, list[dict[str, str]]]:
                    found = find_patients(f, query)
                    if not found:
                        return None, []
                    return found[0], logs.extract(f, found[0]["id"], since, until)
                patient, rows = await p.run(work)
                if patient is None:
                    p.errors["patient"] = p.t("Ingen patient med det personnumret.")
        return p.render("web/review_extract.html", p.t("Loggutdrag"), rows=rows,
                        patient=patient, q=query, since=since or "", until=until or "",
                        status=400 if p.errors else 200)

    router.add_route(f"{WEB}/review", review_page, methods=["GET"])
    router.add_route(f"{WEB}/review/extract", extract_page, methods=["GET"])
    return router
