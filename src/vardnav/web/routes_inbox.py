"""The discharge coordination inbox of a receiving unit (a municipality, a primary-care unit):
its admission notices with deadlines, the messages (ready for discharge, SIP calls…), and the
receiver's actions — acknowledge, and for primary care appoint the named care contact and
call the SIP meeting. What the unit sees is what PDL lets it read: a notice gives the unit a
care relationship, and another care provider also needs the patient's consent."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from vardnav.domains.discharge import codes as c
from vardnav.domains.identity.organisation.region import HSA_SYSTEM
from vardnav.errors import VardnavError
from vardnav.web import views
from vardnav.web.gateway import Fhir, param
from vardnav.web.site import WEB, Page, checked_form, explain, flash, page, redirect, take_flash

STAFF = ("staff",)
STATUS_TEXT = {c.N_DRAFT: "Ej skickat", c.N_SENT: "Nytt", c.N_ACKNOWLEDGED: "Kvitterat",
               c.N_DONE: "Avslutat"}


def _own_unit(fhir: Fhir) -> dict[str, Any] | None:
    found = fhir.search("Organization", ("identifier", f"{HSA_SYSTEM}|{fhir.principal.unit}"))
    return found.matches[0] if found.matches else None


def inbox(fhir: Fhir, now: datetime) -> dict[str, Any]:
    unit = _own_unit(fhir)
    if unit is None:
        return {"unit": None, "cases": [], "notices": []}
    owner = f"Organization/{unit['id']}"
    notices = fhir.search("Task", ("owner", owner), ("code", f"{c.PROCESS}|{c.ADMISSION_NOTICE}"),
                          ("status", "requested,received,accepted,in-progress,completed"),
                          ("_include", "Task:patient"), ("_count", "200"))
    messages = fhir.search("Communication", ("recipient", owner), ("_count", "500"),
                           ("_sort", "sent"))
    by_notice: dict[str, list[dict[str, Any]]] = {}
    for m in messages.matches:
        for based in m.get("basedOn", []):
            by_notice.setdefault(views.ref_id(based), []).append(m)
    rows = []
    for n in notices.matches:
        patient = notices.included.get((n.get("for") or {}).get("reference", "")) or {}
        deadline = views.moment((n.get("restriction") or {}).get("period", {}).get("end"))
        business = views.code_of(n.get("businessStatus"), c.STATUS) or ""
        sent = views.moment(n.get("authoredOn"))
        msgs = []
        ready = sip = None
        for m in by_notice.get(n["id"], []):
            category = views.code_of((m.get("category") or [{}])[0], c.PROCESS) or ""
            text = " ".join(p.get("contentString", "") for p in m.get("payload", [])[1:]
                            if p.get("contentString"))
            msgs.append({"category": c.MESSAGES.get(category, category),
                         "sent": views.when(m.get("sent")), "text": text,
                         "acknowledged": bool(m.get("received"))})
            if category == c.MSG_READY:
                ready = views.when(m.get("sent"))
            elif category == c.MSG_WITHDRAWN:
                ready = None
            elif category == c.MSG_SIP_CALL:
                sip = text or views.when(m.get("sent"))
        pending = any(not m["acknowledged"] for m in msgs)
        rows.append({
            "id": n["id"], "encounter": views.ref_id(n.get("encounter")),
            "patient": patient.get("id", ""), "name": views.name(patient),
            "number": views.identity_number(patient) if patient else "",
            "status": STATUS_TEXT.get(business, business), "business": business,
            "sent": views.when(n.get("authoredOn")),
            "deadline": views.when(deadline.isoformat()) if deadline else "",
            # Sent after its deadline, or past it and still not acknowledged: shown in red.
            "overdue": bool(deadline and ((sent is not None and sent > deadline)
                                          or (deadline < now and business == c.N_SENT))),
            "pending": pending, "ready": ready, "sip": sip, "messages": msgs})
    rows.sort(key=lambda r: (not r["pending"], not r["overdue"], r["deadline"]))
    return {"unit": unit.get("name", ""), "notices": rows,
            "primary_care": any(views.code_of(t) == "primary-care" for t in unit.get("type", []))}


def now(p: Page) -> datetime:
    """The discharge process's clock (the workflow's, which deadlines are computed by)."""
    workflow = getattr(p.request.app.state, "discharge", None)
    return workflow.clock() if workflow is not None else datetime.now(UTC)


def build_inbox_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @page(kinds=STAFF)
    async def inbox_page(p: Page) -> Response:
        data = await p.run(lambda f: inbox(f, now(p)))
        return p.render("web/inbox.html", p.t("Samordnad utskrivning"), box=data,
                        flash=take_flash(p), form={})

    @page(kinds=STAFF)
    async def acknowledge(p: Page, notice_id: str) -> Response:
        form, refused = await checked_form(p)
        if form is None:
            return refused  # type: ignore[return-value]
        try:
            await p.run(lambda f: f.operation(f"Task/{notice_id}/$discharge-acknowledge"),
                        write=True)
            flash(p, p.t("Meddelandena är kvitterade."))
        except VardnavError as exc:
            flash(p, explain(p, exc))
        return redirect(p, f"{WEB}/inbox")

    @page(kinds=STAFF)
    async def plan(p: Page, encounter_id: str) -> Response:
        """Primary care's planning steps: named care contact (the signed-in person) and the
        SIP meeting call."""
        form, refused = await checked_form(p)
        if form is None:
            return refused  # type: ignore[return-value]
        action = form.get("action")
        assert p.who is not None
        me = (p.who.fhir_user or "").rpartition("/")[2]
        if action == "contact":
            op, params, done = "$discharge-care-contact", [param("practitioner", me)], \
                "Du är patientens fasta vårdkontakt."
        elif action == "sip":
            try:
                at = datetime.strptime(form.get("meeting", ""), "%Y-%m-%dT%H:%M")
            except ValueError:
                p.errors["meeting"] = p.t("Ange mötestid som ÅÅÅÅ-MM-DD TT:MM.")
                data = await p.run(lambda f: inbox(f, now(p)))
                return p.render("web/inbox.html", p.t("Samordnad utskrivning"), 400,
                                box=data, flash=None, form={**form, "encounter": encounter_id})
            op = "$discharge-sip-call"
            params = [param("meetingAt", at.replace(tzinfo=views.SWEDEN).isoformat())]
            done = "SIP-mötet är kallat."
        else:
            return p.message(400, p.t("Kunde inte utföras"), p.t("Okänd åtgärd."))
        try:
            await p.run(lambda f: f.operation(f"Encounter/{encounter_id}/{op}", params),
                        write=True)
            flash(p, p.t(done))
        except VardnavError as exc:
            flash(p, explain(p, exc))
        return redirect(p, f"{WEB}/inbox")

    router.add_route(f"{WEB}/inbox", inbox_page, methods=["GET"])
    router.add_route(WEB + "/inbox/{notice_id}/acknowledge", acknowledge, methods=["POST"])
    router.add_route(WEB + "/inbox/plan/{encounter_id}", plan, methods=["POST"])
    return router
