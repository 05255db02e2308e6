"""The bed board per ward, and the ADT and discharge steps taken from it (and from the patient
overview): admit, transfer, leave and return, discharge, bed cleaned, support needed after
discharge, ready for discharge. Every step is the FHIR operation the API offers."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from vardnav.domains.identity.organisation.region import HSA_SYSTEM
from vardnav.domains.identity.organisation.staff import PROFESSION_SYSTEM
from vardnav.domains.identity.signin.redirects import safe_next
from vardnav.errors import VardnavError
from vardnav.web import views
from vardnav.web.gateway import Fhir, param
from vardnav.web.routes_patients import find_patients
from vardnav.web.site import WEB, Page, checked_form, explain, flash, page, redirect, take_flash

STAFF = ("staff",)
LOCATION_TYPE = "http://terminology.hl7.org/CodeSystem/location-physical-type"
DISPOSITIONS = (("home", "Hem"), ("home-municipal-care", "Hem med kommunal vård och omsorg"),
                ("nursing-home", "Särskilt boende"), ("other-hospital", "Annat sjukhus"),
                ("deceased", "Avliden"))
STATUS_NAMES = {"O": "Belagd", "U": "Ledig", "H": "Städas", "C": "Stängd"}


def _parts(part: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for x in part:
        value = next((v for k, v in x.items() if k.startswith("value")), None)
        out.setdefault(x["name"], value if "part" not in x else None)
    return out


def wards(fhir: Fhir) -> list[dict[str, Any]]:
    # R4 has no search parameter for Location.physicalType: read the names and types only.
    found = fhir.search("Location", ("_count", "1000"), ("_sort", "name"),
                        ("_elements", "name,physicalType,managingOrganization"))
    return [{"id": x["id"], "name": x.get("name", ""),
             "unit": views.ref_id(x.get("managingOrganization"))} for x in found.matches
            if views.code_of(x.get("physicalType"), LOCATION_TYPE) == "wa"]


def board(fhir: Fhir, ward_id: str) -> dict[str, Any]:
    answer = fhir.operation(f"Location/{ward_id}/$bed-board", method="GET")
    ward_part = next((x["part"] for x in answer.get("parameter", []) if x["name"] == "ward"),
                     [])
    head = _parts(ward_part)
    beds = []
    for x in ward_part:
        if x["name"] != "bed":
            continue
        bed = _parts(x["part"])
        where = bed.get("location") or {}
        patient = bed.get("patient") or {}
        beds.append({"id": views.ref_id(where), "name": where.get("display", ""),
                     "status": bed.get("status"), "encounter": views.ref_id(bed.get("encounter")),
                     "patient": views.ref_id(patient) if patient else "",
                     "patient_name": patient.get("display", ""),
                     "on_leave": bool(bed.get("onLeave")),
                     "expected": views.when(bed.get("expectedDischarge"))
                     if bed.get("expectedDischarge") else ""})
    counts = {k: head.get(k, 0) for k in ("beds", "occupied", "free", "cleaning", "closed",
                                          "inpatients", "onLeave", "expectedDischarges",
                                          "incoming")}
    ward_ref = head.get("location") or {}
    return {"id": ward_id, "name": ward_ref.get("display", ""), "counts": counts,
            "beds": beds, "unit": views.ref_id(head.get("unit"))}


def physicians(fhir: Fhir, unit_id: str) -> list[dict[str, str]]:
    """The unit's physicians and nurses, for the admission form."""
    if not unit_id:
        return []
    found = fhir.search("PractitionerRole", ("organization", f"Organization/{unit_id}"),
                        ("_include", "PractitionerRole:practitioner"), ("_count", "100"))
    out = []
    for role in found.matches:
        person = found.included.get((role.get("practitioner") or {}).get("reference", ""))
        profession = next((views.code_of(c, PROFESSION_SYSTEM) for c in role.get("code", [])),
                          None)
        if person and profession in ("physician", "registered-nurse"):
            out.append({"id": person["id"], "name": views.name(person),
                        "profession": profession})
    return out


def _expected(value: str) -> str | None:
    """A date from a form as an expected discharge (10 o'clock Swedish time that day)."""
    day = datetime.strptime(value, "%Y-%m-%d").date()
    return datetime.combine(day, time(10), views.SWEDEN).isoformat()


def _expected_field(p: Page, form: dict[str, str]) -> str | None:
    """The form's optional `expected` discharge date; one that is not a date is an error
    next to the field."""
    if not form.get("expected"):
        return None
    try:
        return _expected(form["expected"])
    except ValueError:
        p.errors["expected"] = p.t("Ange ett datum som ÅÅÅÅ-MM-DD.")
        return None


async def _operate(p: Page, path: str, params: list[dict[str, Any]] | None = None
                   ) -> str | None:
    """Run one ADT or discharge operation for the signed-in user: None once it is done, else
    the engine's refusal explained in the user's language."""
    try:
        await p.run(lambda f: f.operation(path, params), write=True)
    except VardnavError as exc:
        return explain(p, exc)
    return None


def build_beds_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @page(kinds=STAFF)
    async def choose_ward(p: Page) -> Response:
        all_wards = await p.run(wards)
        assert p.who is not None
        unit_hsa = p.who.unit

        def own_unit(f: Fhir) -> str | None:
            found = f.search("Organization", ("identifier", f"{HSA_SYSTEM}|{unit_hsa}"))
            return found.matches[0]["id"] if found.matches else None

        unit_id = await p.run(own_unit)
        mine = [w for w in all_wards if w["unit"] == unit_id]
        if len(mine) == 1 and "all" not in p.request.query_params:
            return redirect(p, f"{WEB}/beds/{mine[0]['id']}")
        return p.render("web/wards.html", p.t("Beläggning"), wards=all_wards)

    @page(kinds=STAFF)
    async def ward_board(p: Page, ward_id: str) -> Response:
        data = await p.run(lambda f: board(f, ward_id))
        return p.render("web/bed_board.html", p.t("Beläggning: {ward}", ward=data["name"]),
                        b=data, statuses=STATUS_NAMES, flash=take_flash(p),
                        dispositions=DISPOSITIONS)

    @page(kinds=STAFF)
    async def admit(p: Page, ward_id: str) -> Response:
        bed_id = p.request.query_params.get("bed", "")

        def load(f: Fhir) -> tuple[dict[str, Any], list[dict[str, str]]]:
            data = board(f, ward_id)
            return data, physicians(f, data["unit"])

        data, people = await p.run(load)
        free = [b for b in data["beds"] if b["status"] == "U"]
        form: dict[str, str] = {"bed": bed_id}
        if p.request.method == "POST":
            posted, refused = await checked_form(p)
            if posted is None:
                return refused  # type: ignore[return-value]
            form = posted
            done = await _admit(p, ward_id, form, free, people)
            if done is not None:
                return done
        return p.render("web/admit.html", p.t("Skriv in patient"), b=data, free=free,
                        people=people, form=form, status=400 if p.errors else 200)

    async def _admit(p: Page, ward_id: str, form: dict[str, str],
                     free: list[dict[str, Any]], people: list[dict[str, str]]
                     ) -> Response | None:
        query = form.get("patient", "").strip()
        if not query:
            p.errors["patient"] = p.t("Ange patientens personnummer.")
        elif views.parse_identity_number_safe(query) is None:
            p.errors["patient"] = p.t("Ange ett giltigt personnummer.")
        if form.get("bed") not in {b["id"] for b in free}:
            p.errors["bed"] = p.t("Välj en ledig säng.")
        if form.get("attending") not in {x["id"] for x in people
                                         if x["profession"] == "physician"}:
            p.errors["attending"] = p.t("Välj ansvarig läkare.")
        nurse = form.get("nurse") or None
        if nurse and nurse not in {x["id"] for x in people}:
            p.errors["nurse"] = p.t("Välj en sjuksköterska i listan.")
        expected = _expected_field(p, form)
        admitted = None
        if form.get("admitted"):
            try:
                admitted = datetime.strptime(form["admitted"], "%Y-%m-%dT%H:%M").replace(
                    tzinfo=views.SWEDEN)
            except ValueError:
                p.errors["admitted"] = p.t("Ange tid som ÅÅÅÅ-MM-DD TT:MM.")
            else:
                if admitted > datetime.now(views.SWEDEN):
                    p.errors["admitted"] = p.t("Inskrivningstiden kan inte ligga i framtiden.")
        if p.errors:
            return None

        def work(f: Fhir) -> str | None:
            found = find_patients(f, query)
            if not found:
                return None
            params = [param("bed", form["bed"]), param("attending", form["attending"])]
            if nurse:
                params.append(param("nurse", nurse))
            if expected:
                params.append(param("expectedDischarge", expected))
            if admitted:
                params.append(param("at", admitted.isoformat()))
            f.operation(f"Patient/{found[0]['id']}/$admit", params)
            return str(found[0]["id"])

        try:
            patient_id = await p.run(work, write=True)
        except VardnavError as exc:
            p.errors["form"] = explain(p, exc)
            return None
        if patient_id is None:
            p.errors["patient"] = p.t("Ingen patient med det personnumret.")
            return None
        flash(p, p.t("Patienten är inskriven."))
        return redirect(p, f"{WEB}/beds/{ward_id}")

    @page(kinds=STAFF)
    async def step(p: Page, encounter_id: str, action: str) -> Response:
        """A step without fields, posted from a button on the board or the overview."""
        form, refused = await checked_form(p)
        if form is None:
            return refused  # type: ignore[return-value]
        back = safe_next(form.get("back") or f"{WEB}/")
        operations = {"leave": ("$leave", "Permission registrerad."),
                      "return": ("$return", "Åter från permission."),
                      "discharge-ready": ("$discharge-ready",
                                          "Utskrivningsklar: mottagarna har meddelats.")}
        if action not in operations:
            return p.message(404, p.t("Hittades inte"), p.t("Sidan finns inte."))
        op, done = operations[action]
        # A button has no page of its own: a refusal is shown on the page it came from.
        flash(p, await _operate(p, f"Encounter/{encounter_id}/{op}") or p.t(done))
        return redirect(p, back)

    @page(kinds=STAFF)
    async def bed_clean(p: Page, bed_id: str) -> Response:
        form, refused = await checked_form(p)
        if form is None:
            return refused  # type: ignore[return-value]
        back = safe_next(form.get("back") or f"{WEB}/beds")
        flash(p, await _operate(p, f"Location/{bed_id}/$set-bed-status",
                                [param("status", "U")]) or p.t("Sängen är städad och ledig."))
        return redirect(p, back)

    def encounter_form(template: str, title: str, handle: Any) -> Any:
        @page(kinds=STAFF)
        async def show(p: Page, encounter_id: str) -> Response:
            def load(f: Fhir) -> dict[str, Any] | None:
                enc = f.read(f"Encounter/{encounter_id}")
                if enc is None:
                    return None
                patient = f.read(f"Patient/{views.ref_id(enc.get('subject'))}") or {}
                ward = next((views.ref_id(x.get("location")) for x in enc.get("location", [])
                             if views.code_of(x.get("physicalType")) == "wa"
                             and not (x.get("period") or {}).get("end")), "")
                return {"id": encounter_id, "patient": patient.get("id", ""),
                        "name": views.name(patient),
                        "number": views.identity_number(patient), "ward": ward,
                        "wards": wards(f), "free": [b for b in board(f, ward)["beds"]
                                                    if b["status"] == "U"] if ward else []}
            enc = await p.run(load)
            if enc is None:
                return p.message(404, p.t("Hittades inte"), p.t(
                    "Vårdtillfället finns inte, eller så får du inte se det."))
            form: dict[str, str] = {"back": p.request.query_params.get("back", "")}
            if p.request.method == "POST":
                posted, refused = await checked_form(p)
                if posted is None:
                    return refused  # type: ignore[return-value]
                form = posted
                done = await handle(p, enc, form)
                if done is not None:
                    return done
            return p.render(template, p.t(title), enc=enc, form=form,
                            dispositions=DISPOSITIONS, status=400 if p.errors else 200)
        return show

    def _back(form: dict[str, str], enc: dict[str, Any]) -> str:
        return safe_next(form.get("back") or (f"{WEB}/beds/{enc['ward']}" if enc["ward"]
                                              else f"{WEB}/patients/{enc['patient']}"))

    async def _finish(p: Page, enc: dict[str, Any], form: dict[str, str], op: str,
                      params: list[dict[str, Any]], done: str) -> Response | None:
        """The ending of every encounter form: the stay's operation; a refusal is shown next
        to the form (None: it is rendered again), `done` (translated) on the page the form came
        from."""
        error = await _operate(p, f"Encounter/{enc['id']}/{op}", params)
        if error:
            p.errors["form"] = error
            return None
        flash(p, done)
        return redirect(p, _back(form, enc))

    async def discharge(p: Page, enc: dict[str, Any], form: dict[str, str]) -> Response | None:
        if form.get("disposition") not in {c for c, _ in DISPOSITIONS}:
            p.errors["disposition"] = p.t("Välj vart patienten skrivs ut.")
        summary = form.get("summary", "").strip()
        if len(summary) > 4000:
            p.errors["summary"] = p.t("Sammanfattningen får vara högst 4000 tecken.")
        if p.errors:
            return None
        params = [param("disposition", form["disposition"])]
        if summary:
            params.append(param("summary", summary))
        return await _finish(p, enc, form, "$discharge", params,
                             p.t("Patienten är utskriven. Sängen ska städas."))

    async def transfer(p: Page, enc: dict[str, Any], form: dict[str, str]) -> Response | None:
        bed, ward = form.get("bed") or "", form.get("ward") or ""
        if not bed and not ward:
            p.errors["bed"] = p.t("Välj en ledig säng eller en annan avdelning.")
        elif bed and bed not in {b["id"] for b in enc["free"]}:
            p.errors["bed"] = p.t("Välj en ledig säng.")
        elif ward and ward not in {w["id"] for w in enc["wards"]}:
            p.errors["ward"] = p.t("Välj en avdelning i listan.")
        if p.errors:
            return None
        target = param("bed", bed) if bed else param("ward", ward)
        return await _finish(p, enc, form, "$transfer", [target], p.t("Patienten är flyttad."))

    async def support(p: Page, enc: dict[str, Any], form: dict[str, str]) -> Response | None:
        expected = _expected_field(p, form)
        if form.get("consent") not in ("yes", "no"):
            p.errors["consent"] = p.t("Ange om patienten samtycker.")
        if p.errors:
            return None
        params = [param("consent", form["consent"] == "yes")]
        if expected:
            params.append(param("expectedDischarge", expected))
        return await _finish(p, enc, form, "$discharge-mark-support", params,
                             p.t("Inskrivningsmeddelanden är skickade till kommunen "
                                 "och vårdcentralen."))

    async def planning(p: Page, enc: dict[str, Any], form: dict[str, str]) -> Response | None:
        """$discharge-planning: the hospital's planning information, shared with (or updated
        for) every receiver of the admission notices. The receivers read it as a message in
        their inbox; the engine refuses it before the notices are sent."""
        texts = {"functionalStatus": "Beskriv funktionsförmågan.",
                 "expectedNeeds": "Beskriv de förväntade behoven efter utskrivningen."}
        for name, words in texts.items():
            value = form.get(name, "").strip()
            if not value:
                p.errors[name] = p.t(words)
            elif len(value) > 4000:
                p.errors[name] = p.t("Högst 4000 tecken.")
        expected = _expected_field(p, form)
        if form.get("sip", "") not in ("yes", "no", ""):
            p.errors["sip"] = p.t("Svara ja, nej eller lämna obesvarat.")
        if p.errors:
            return None
        params = [param(name, form[name].strip()) for name in texts]
        if expected:
            params.append(param("expectedDischarge", expected))
        if form.get("sip"):
            params.append(param("sipNeeded", form["sip"] == "yes"))
        return await _finish(p, enc, form, "$discharge-planning", params,
                             p.t("Planeringsinformationen är skickad till mottagarna."))

    router.add_route(f"{WEB}/beds", choose_ward, methods=["GET"])
    router.add_route(WEB + "/beds/{ward_id}", ward_board, methods=["GET"])
    router.add_route(WEB + "/beds/{ward_id}/admit", admit, methods=["GET", "POST"])
    router.add_route(WEB + "/bed/{bed_id}/clean", bed_clean, methods=["POST"])
    for path, template, title, handle in (
            ("discharge", "web/discharge.html", "Skriv ut patient", discharge),
            ("transfer", "web/transfer.html", "Flytta patient", transfer),
            ("discharge-support", "web/discharge_support.html",
             "Behov av insatser efter utskrivning", support),
            ("discharge-planning", "web/discharge_planning.html", "Planeringsinformation",
             planning)):
        router.add_route(WEB + "/encounters/{encounter_id}/" + path,
                         encounter_form(template, title, handle), methods=["GET", "POST"])
    router.add_route(WEB + "/encounters/{encounter_id}/{action}", step, methods=["POST"])
    return router
