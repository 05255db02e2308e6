"""Staff pages about one patient: search, the overview, and the PDL dialogs (assert a care
relationship, record consent, emergency access, temporary lift of a block)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from vardnav.domains.access.profiles import CONSENT_CATEGORY
from vardnav.domains.identity.organisation.assignments import hsa_of
from vardnav.errors import VardnavError
from vardnav.fhir.operations.registry import OPERATIONS
from vardnav.web import views
from vardnav.web.gateway import Fhir, param
from vardnav.web.site import WEB, Page, checked_form, explain, flash, page, redirect, take_flash

STAFF = ("staff",)
MIN_REASON = 3  # the engine's own minimum for a PDL reason
MAX_TEXT = 500
ENCOUNTER_PARTICIPANT = "https://vardnav.se/fhir/CodeSystem/encounter-participant"
ACTIVE_STAY = "planned,in-progress,onleave"


# -- search ------------------------------------------------------------------------------------

def find_patients(fhir: Fhir, query: str) -> list[dict[str, Any]]:
    """Patients by personnummer/samordningsnummer (any common form) or by name."""
    number = views.parse_identity_number(query)
    if number is not None:
        system, value = number
        found = fhir.search("Patient", ("identifier", f"{system}|{value}"))
    else:
        found = fhir.search("Patient", ("name", query), ("_count", "25"),
                            ("_sort", "family,given"))
    return [{"id": x["id"], "name": views.name(x), "number": views.identity_number(x),
             "birth": x.get("birthDate", ""), "gender": x.get("gender", "")}
            for x in found.matches]


# -- overview ----------------------------------------------------------------------------------

def _stay(fhir: Fhir, patient_id: str) -> dict[str, Any] | None:
    found = fhir.search("Encounter", ("patient", patient_id), ("status", ACTIVE_STAY),
                        ("class", "IMP"), ("_include", "Encounter:participant"),
                        ("_include", "Encounter:location"),
                        ("_include", "Encounter:service-provider"))
    if not found.matches:
        return None
    enc = found.matches[0]
    places: dict[str, str] = {}
    for loc in enc.get("location", []):
        if (loc.get("period") or {}).get("end"):
            continue
        ref = (loc.get("location") or {}).get("reference", "")
        res = found.included.get(ref) or {}
        kind = views.code_of(loc.get("physicalType") or res.get("physicalType")) or ""
        places[kind] = res.get("name") or (loc.get("location") or {}).get("display", "")
    staff = []
    for part in enc.get("participant", []):
        if (part.get("period") or {}).get("end"):
            continue
        person = found.included.get((part.get("individual") or {}).get("reference", ""))
        role = "Ansvarig läkare" if any(
            views.code_of(t) == "ATND" for t in part.get("type", [])) else "Ansvarig sjuksköterska"
        staff.append({"role": role, "name": views.name(person) if person else ""})
    expected = next((x.get("valueDateTime") for x in enc.get("extension", [])
                     if x.get("url", "").endswith("plannedEndDate")), None)
    ward_unit = found.included.get((enc.get("serviceProvider") or {}).get("reference", ""))
    return {"id": enc["id"], "status": enc.get("status"), "ward": places.get("wa", ""),
            "unit_hsa": hsa_of(ward_unit) if ward_unit else None,
            "room": places.get("ro", ""), "bed": places.get("bd", ""), "staff": staff,
            "since": views.when((enc.get("period") or {}).get("start")),
            "expected": views.when(expected) if expected else ""}


def overview(fhir: Fhir, patient_id: str, *, careplan: bool = True) -> dict[str, Any] | None:
    """Everything the overview shows; `careplan=False` leaves the plan and scores out (the
    resident's page does not show them)."""
    patient = fhir.read(f"Patient/{patient_id}")
    if patient is None:
        return None
    notices: list[str] = []

    def search(rtype: str, *pairs: tuple[str, str]) -> list[dict[str, Any]]:
        found = fhir.search(rtype, ("patient", patient_id), *pairs)
        notices.extend(found.notices)
        return found.matches

    if "attention-signal" in OPERATIONS:
        # Issue 7's attention signal: the rules for what is shown live in one place.
        from vardnav.web.routes_careplan import attention as attention_signal

        attention, signal_notices = attention_signal(fhir, patient_id)
        notices.extend(signal_notices)
    else:
        allergies = search("AllergyIntolerance", ("_count", "50"))
        flags = search("Flag", ("status", "active"), ("_count", "50"))
        attention = [{"text": views.concept(a.get("code")), "kind": "Överkänslighet",
                      "severity": a.get("criticality") or "", "reactions": ", ".join(
                          views.concept(m) for r in a.get("reaction", [])
                          for m in r.get("manifestation", []))} for a in allergies]
        attention += [{"text": views.concept(f.get("code")), "kind": views.concept(
            (f.get("category") or [{}])[0]) or "Uppmärksamhet", "severity": "",
            "reactions": ""} for f in flags]
    problems = [{"text": views.concept(c.get("code")),
                 "status": views.concept(c.get("clinicalStatus")),
                 "since": views.when(c.get("onsetDateTime") or c.get("recordedDate"),
                                     with_time=False)}
                for c in search("Condition", ("_count", "30"), ("_sort", "-recorded-date"))]
    results = [{"text": views.concept(o.get("code")), "value": views.quantity(o),
                "when": views.when(o.get("effectiveDateTime") or o.get("issued")),
                "flag": ", ".join(views.concept(i) for i in o.get("interpretation", []))}
               for o in search("Observation", ("_count", "10"), ("_sort", "-date"))]
    medications = [{"text": views.concept(m.get("medicationCodeableConcept")),
                    "status": m.get("status", ""),
                    "dosage": "; ".join(d.get("text", "") for d in m.get("dosageInstruction",
                                                                         []))}
                   for m in search("MedicationRequest", ("_count", "30"),
                                   ("status", "active,on-hold"))]
    encounters = [{"id": e["id"], "status": e.get("status", ""),
                   "kind": (e.get("class") or {}).get("code", ""),
                   "type": views.concept((e.get("type") or [{}])[0]),
                   "start": views.when((e.get("period") or {}).get("start")),
                   "end": views.when((e.get("period") or {}).get("end"))}
                  for e in search("Encounter", ("_count", "15"), ("_sort", "-date"))]
    plan = scores = None
    if careplan and "careplan-start" in OPERATIONS:
        from vardnav.web.routes_careplan import plan_view, risk_scores

        plan, scores = plan_view(fhir, patient_id), risk_scores(fhir, patient_id)
    return {"patient": patient, "id": patient_id, "name": views.name(patient),
            "careplan": plan, "scores": scores,
            "number": views.identity_number(patient), "age": views.age(patient),
            "gender": patient.get("gender", ""), "attention": attention,
            "stay": _stay(fhir, patient_id), "problems": problems, "results": results,
            "medications": medications, "encounters": encounters,
            # A notice names the block (Consent) when the reader may know it: offer its lift.
            "notices": [{"text": n, "blocks": re.findall(r"Consent/([A-Za-z0-9.-]+)", n)}
                        for n in sorted(set(notices))], "protected": any(
                s.get("code") == "protected-information"
                for s in (patient.get("meta") or {}).get("security", []))}


# -- PDL dialogs ---------------------------------------------------------------------------------

def _reason(p: Page, form: dict[str, str], field: str = "reason") -> str:
    text = form.get(field, "").strip()
    if len(text) < MIN_REASON:
        p.errors[field] = p.t("Ange ett skäl (minst {n} tecken).", n=MIN_REASON)
    elif len(text) > MAX_TEXT:
        p.errors[field] = p.t("Skälet får vara högst {n} tecken.", n=MAX_TEXT)
    return text


def _consent(patient_id: str, provider_ref: str, start: str) -> dict[str, Any]:
    """The patient's consent (sammanhållen journalföring) for one care provider to read other
    providers' data: the FHIR shape of docs/pdl.md."""
    return {"resourceType": "Consent", "status": "active",
            "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                            "consentscope", "code": "patient-privacy"}]},
            "category": [{"coding": [{"system": CONSENT_CATEGORY, "code": "sjf-consent"}]}],
            "patient": {"reference": f"Patient/{patient_id}"},
            "provision": {"type": "permit", "period": {"start": start}, "actor": [{
                "role": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                               "v3-RoleCode", "code": "PROV"}]},
                "reference": {"reference": provider_ref}}]}}


def build_patients_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @page(kinds=STAFF)
    async def search_page(p: Page) -> Response:
        query = p.request.query_params.get("q", "").strip()[:100]
        results: list[dict[str, Any]] | None = None
        if query:
            try:
                results = await p.run(lambda f: find_patients(f, query))
            except views.QueryError:
                p.errors["q"] = p.t("Det ser ut som ett personnummer men är inte giltigt "
                                    "(kontrollera siffrorna).")
        elif "q" in p.request.query_params:
            p.errors["q"] = p.t("Skriv ett personnummer eller ett namn.")
        template = "web/patient_results.html" if p.request.headers.get("hx-request") \
            else "web/patient_search.html"
        return p.render(template, p.t("Sök patient"), q=query, results=results,
                        status=200 if not p.errors else 400)

    @page(kinds=STAFF)
    async def overview_page(p: Page, patient_id: str) -> Response:
        data = await p.run(lambda f: overview(f, patient_id))
        if data is None:
            return p.message(404, p.t("Hittades inte"), p.t(
                "Patienten finns inte, eller så får du inte se den."))
        return p.render("web/patient_overview.html", data["name"] or p.t("Patient"),
                        o=data, flash=take_flash(p))

    async def _dialog_patient(p: Page, patient_id: str) -> dict[str, Any] | None:
        def work(f: Fhir) -> dict[str, Any] | None:
            x = f.read(f"Patient/{patient_id}")
            return None if x is None else {"id": patient_id, "name": views.name(x),
                                           "number": views.identity_number(x)}
        return await p.run(work)

    def dialog(template: str, title: str, handle: Any) -> Any:
        @page(kinds=STAFF)
        async def show(p: Page, patient_id: str) -> Response:
            patient = await _dialog_patient(p, patient_id)
            if patient is None:
                return p.message(404, p.t("Hittades inte"), p.t(
                    "Patienten finns inte, eller så får du inte se den."))
            if p.request.method == "GET":
                prefill = {k: v[:64] for k, v in p.request.query_params.items() if k == "block"}
                return p.render(template, p.t(title), patient=patient, form=prefill)
            form, refused = await checked_form(p)
            if form is None:
                return refused  # type: ignore[return-value]
            done = await handle(p, patient, form)
            if done is not None:
                return done
            return p.render(template, p.t(title), 400, patient=patient, form=form)
        return show

    async def assert_relationship(p: Page, patient: dict[str, Any],
                                  form: dict[str, str]) -> Response | None:
        reason = _reason(p, form)
        if p.errors:
            return None
        try:
            await p.run(lambda f: f.operation(
                f"Patient/{patient['id']}/$assert-care-relationship",
                [param("reason", reason)]), write=True)
        except VardnavError as exc:
            p.errors["form"] = explain(p, exc)
            return None
        flash(p, p.t("Vårdrelationen är registrerad i 24 timmar och flaggad för "
                     "logggranskning."))
        return redirect(p, f"{WEB}/patients/{patient['id']}")

    async def emergency(p: Page, patient: dict[str, Any],
                        form: dict[str, str]) -> Response | None:
        reason = _reason(p, form)
        if form.get("confirm") != "yes":
            p.errors["confirm"] = p.t("Bekräfta att det är en nödsituation.")
        if p.errors:
            return None
        try:
            await p.run(lambda f: f.operation(f"Patient/{patient['id']}/$emergency-access",
                                              [param("reason", reason)]), write=True)
        except VardnavError as exc:
            p.errors["form"] = explain(p, exc)
            return None
        hours = p.settings.emergency_access_hours
        flash(p, p.t("NÖDÅTKOMST aktiv i {h} timmar. Åtkomsten loggas och granskas.",
                     h=f"{hours:g}"))
        return redirect(p, f"{WEB}/patients/{patient['id']}")

    async def consent(p: Page, patient: dict[str, Any],
                      form: dict[str, str]) -> Response | None:
        if form.get("given") != "yes":
            p.errors["given"] = p.t("Bekräfta att patienten har gett sitt samtycke.")
        if p.errors:
            return None
        assert p.who is not None
        provider = p.who.provider or ""
        today = datetime.now(views.SWEDEN).date().isoformat()

        def work(f: Fhir) -> None:
            orgs = f.search("Organization", ("identifier", f"urn:oid:1.2.752.29.4.19|"
                                                           f"{provider}"))
            if not orgs.matches:
                raise VardnavError(f"Organization {provider} is not known")
            f.call("POST", "Consent", body=_consent(
                patient["id"], f"Organization/{orgs.matches[0]['id']}", today))

        try:
            await p.run(work, write=True)
        except VardnavError as exc:
            p.errors["form"] = explain(p, exc)
            return None
        flash(p, p.t("Samtycket är registrerat för din vårdgivare."))
        return redirect(p, f"{WEB}/patients/{patient['id']}")

    async def lift_block(p: Page, patient: dict[str, Any],
                         form: dict[str, str]) -> Response | None:
        reason = _reason(p, form)
        block_id = form.get("block", "").strip()
        if not block_id or len(block_id) > 64:
            p.errors["block"] = p.t("Ange spärrens id (visas i meddelandet om spärrad "
                                    "information).")
        basis = form.get("basis")
        if basis not in ("consent", "emergency"):
            p.errors["basis"] = p.t("Välj grund: patientens samtycke eller nödsituation.")
        scope = form.get("scope")
        if scope not in ("user", "unit"):
            p.errors["scope"] = p.t("Välj för vem spärren hävs.")
        try:
            days = int(form.get("days", ""))
            if not 1 <= days <= 7:
                raise ValueError
        except ValueError:
            days = 0
            p.errors["days"] = p.t("Ange 1–7 dagar.")
        if p.errors:
            return None
        assert p.who is not None
        target = param("user", p.who.subject) if scope == "user" \
            else param("unit", p.who.unit or "")
        try:
            await p.run(lambda f: f.operation(f"Consent/{block_id}/$lift-block", [
                param("reason", reason), param("basis", basis), target,
                param("days", days)]), write=True)
        except VardnavError as exc:
            p.errors["form"] = explain(p, exc)
            return None
        flash(p, p.t("Spärren är tillfälligt hävd i {d} dagar. Hävningen loggas.", d=days))
        return redirect(p, f"{WEB}/patients/{patient['id']}")

    router.add_route(f"{WEB}/patients", search_page, methods=["GET"])
    router.add_route(WEB + "/patients/{patient_id}", overview_page, methods=["GET"])
    for path, template, title, handle in (
            ("care-relationship", "web/pdl_relationship.html", "Registrera vårdrelation",
             assert_relationship),
            ("emergency", "web/pdl_emergency.html", "Nödåtkomst", emergency),
            ("consent", "web/pdl_consent.html", "Registrera samtycke", consent),
            ("lift-block", "web/pdl_lift.html", "Häv spärr tillfälligt", lift_block)):
        router.add_route(WEB + "/patients/{patient_id}/" + path,
                         dialog(template, title, handle), methods=["GET", "POST"])
    return router
