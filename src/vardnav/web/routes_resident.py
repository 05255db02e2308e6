"""Resident pages: my record (or my young child's), who has read it (the log extract), and my
consents and blocks, with the patient's own changes: register a block, lift one for good."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from vardnav.domains.access.profiles import CONSENT_CATEGORY
from vardnav.errors import VardnavError
from vardnav.web import logs, views
from vardnav.web.gateway import Fhir, param
from vardnav.web.routes_patients import overview
from vardnav.web.site import WEB, Page, checked_form, explain, flash, page, redirect, take_flash

RESIDENT = ("resident",)
BLOCK_KIND = "https://vardnav.se/fhir/StructureDefinition/block-kind"


def privacy(fhir: Fhir, patient_id: str) -> dict[str, Any]:
    found = fhir.search("Consent", ("patient", f"Patient/{patient_id}"), ("_count", "100"))
    consents, blocks = [], []
    for x in found.matches:
        category = next((views.code_of(cat, CONSENT_CATEGORY) for cat in x.get("category", [])
                         if views.code_of(cat, CONSENT_CATEGORY)), None)
        provision = x.get("provision") or {}
        actor = next((a.get("reference") or {} for a in provision.get("actor", [])), {})
        who = actor.get("display") or (actor.get("identifier") or {}).get("value") \
            or actor.get("reference", "")
        row = {"id": x["id"], "status": x.get("status", ""), "who": who,
               "from": views.when((provision.get("period") or provision.get("dataPeriod")
                                   or {}).get("start"), with_time=False),
               "date": views.when(x.get("dateTime"))}
        if category == "block":
            row["kind"] = next((e.get("valueCode") for e in x.get("extension", [])
                                if e.get("url") == BLOCK_KIND), "")
            blocks.append(row)
        elif category == "sjf-consent":
            consents.append(row)
    # The care units and providers that have read the record: what a block can name.
    seen = logs.extract(fhir, patient_id, None, None)
    units = sorted({(r["unit_hsa"], r["unit"]) for r in seen if r["unit_hsa"]},
                   key=lambda x: x[1])
    providers = sorted({(r["provider_hsa"], r["provider"]) for r in seen
                        if r["provider_hsa"]}, key=lambda x: x[1])
    return {"consents": consents, "blocks": blocks, "units": units, "providers": providers}


def build_resident_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    def patient_of(p: Page) -> str:
        assert p.who is not None and p.who.patient
        return p.who.patient

    @page(kinds=RESIDENT)
    async def my_record(p: Page) -> Response:
        data = await p.run(lambda f: overview(f, patient_of(p), careplan=False))
        if data is None:
            return p.message(404, p.t("Hittades inte"), p.t("Journalen finns inte."))
        return p.render("web/my_record.html", p.t("Min journal"), o=data)

    @page(kinds=RESIDENT)
    async def my_log(p: Page) -> Response:
        since, until = logs.date_filters(p)
        rows = [] if p.errors else await p.run(
            lambda f: logs.extract(f, patient_of(p), since, until), write=False)
        return p.render("web/my_log.html", p.t("Vilka har läst min journal"), rows=rows,
                        since=since or "", until=until or "",
                        status=400 if p.errors else 200)

    @page(kinds=RESIDENT)
    async def my_privacy(p: Page) -> Response:
        form: dict[str, str] = {}
        if p.request.method == "POST":
            posted, refused = await checked_form(p)
            if posted is None:
                return refused  # type: ignore[return-value]
            form = posted
            done = await _change(p, form)
            if done is not None:
                return done
        data = await p.run(lambda f: privacy(f, patient_of(p)))
        # A guardian reads a young child's record but cannot block the child's data (PDL).
        guardian = (p.who.fhir_user or "").startswith("RelatedPerson/") if p.who else False
        return p.render("web/my_privacy.html", p.t("Samtycken och spärrar"), d=data,
                        form=form, flash=take_flash(p), guardian=guardian,
                        status=400 if p.errors else 200)

    async def _change(p: Page, form: dict[str, str]) -> Response | None:
        action = form.get("action")
        patient = patient_of(p)
        if action == "block":
            kind = form.get("kind")
            if kind not in ("inner", "outer"):
                p.errors["kind"] = p.t("Välj vad som ska spärras.")
            target = form.get("unit" if kind == "inner" else "provider", "").strip()
            if kind in ("inner", "outer") and not target:
                p.errors["unit" if kind == "inner" else "provider"] = p.t(
                    "Välj vårdenhet eller vårdgivare.")
            if p.errors:
                return None
            params = [param("kind", kind), param("unit" if kind == "inner" else "provider",
                                                 target)]
            op = (f"Patient/{patient}/$block", params)
            done = p.t("Spärren är registrerad. Uppgifterna visas inte längre utanför "
                       "den enhet eller vårdgivare som har dem.")
        elif action == "lift":
            block = form.get("block", "").strip()
            reason = form.get("reason", "").strip()
            if len(reason) < 3:
                p.errors["reason"] = p.t("Ange ett skäl (minst {n} tecken).", n=3)
            if not block:
                p.errors["block"] = p.t("Välj spärr.")
            if p.errors:
                return None
            op = (f"Consent/{block}/$lift-block", [param("permanent", True),
                                                    param("reason", reason)])
            done = p.t("Spärren är hävd.")
        else:
            p.errors["form"] = p.t("Okänd åtgärd.")
            return None
        try:
            await p.run(lambda f: f.operation(*op), write=True)
        except VardnavError as exc:
            p.errors["form"] = explain(p, exc)
            return None
        flash(p, done)
        return redirect(p, f"{WEB}/me/privacy")

    router.add_route(f"{WEB}/me", my_record, methods=["GET"])
    router.add_route(f"{WEB}/me/log", my_log, methods=["GET"])
    router.add_route(f"{WEB}/me/privacy", my_privacy, methods=["GET", "POST"])
    return router
