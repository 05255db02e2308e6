"""Care plan pages (issue 7's operations): the patient's interprofessional plan with problems,
goals, interventions per profession and follow-ups; applying a template; adding goals,
interventions and notes; taking on or rejecting proposed interventions; and the Senior alert
risk assessments, whose score appears as you answer and is computed again by the server."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter
from starlette.responses import Response

from vardnav.domains.careplan import codes as cc
from vardnav.domains.careplan import instruments
from vardnav.domains.careplan.templates import vendored
from vardnav.domains.identity.organisation.staff import PROFESSIONS
from vardnav.domains.identity.signin import csrf
from vardnav.domains.identity.signin.router import MAX_FORM_BYTES
from vardnav.errors import VardnavError
from vardnav.web import views
from vardnav.web.catalogue import QUESTIONNAIRE_ENGLISH
from vardnav.web.gateway import Fhir, param
from vardnav.web.site import WEB, Page, checked_form, explain, flash, page, redirect, take_flash

STAFF = ("staff",)
ACTIVITY_STATUS = {"not-started": "Föreslagen", "scheduled": "Planerad",
                   "in-progress": "Pågår", "completed": "Utförd", "cancelled": "Avböjd",
                   "on-hold": "Vilande", "stopped": "Avbruten"}
INSTRUMENT_NAMES = {"modified-norton": "Modifierad Norton (trycksår)",
                    "downton": "Downton (fallrisk)", "mna-sf": "MNA-SF (nutrition)"}


def _ext(element: dict[str, Any], url: str) -> Any:
    found = next((e for e in element.get("extension", []) if e.get("url") == url), None)
    if found is None:
        return None
    return next((v for k, v in found.items() if k.startswith("value")), None)


def templates() -> list[dict[str, str]]:
    return [{"url": t["url"], "title": t.get("title") or t.get("name", "")} for t in vendored()]


def risk_scores(fhir: Fhir, patient_id: str) -> list[dict[str, Any]]:
    """The latest score of each Senior alert instrument."""
    # A patient has few assessments: sorted here, not by the database (a sorted search over
    # every Observation of the patient costs several times more).
    found = fhir.search("Observation", ("patient", patient_id), ("category", "survey"),
                        ("code", ",".join(f"{cc.ASSESSMENT}|{k}" for k in instruments.INSTRUMENTS)),
                        ("_count", "200"))
    latest: dict[str, dict[str, Any]] = {}
    newest_first = sorted(found.matches, key=lambda o: str(o.get("effectiveDateTime", "")),
                          reverse=True)
    for obs in newest_first:
        key = views.code_of(obs.get("code"), cc.ASSESSMENT) or ""
        if key in latest:
            continue
        level = (obs.get("interpretation") or [{}])[0]
        latest[key] = {"key": key, "name": INSTRUMENT_NAMES.get(key, key),
                       "total": obs.get("valueInteger"), "level": views.concept(level),
                       "at_risk": views.code_of(level, cc.RISK_LEVEL) in (
                           "risk", "high-risk", "at-risk", "malnourished"),
                       "when": views.when(obs.get("effectiveDateTime"))}
    return [latest[k] for k in instruments.INSTRUMENTS if k in latest]


def attention(fhir: Fhir, patient_id: str) -> tuple[list[dict[str, str]], list[str]]:
    """The attention signal ($attention-signal): items, most severe first, and notices."""
    answer = fhir.operation(f"Patient/{patient_id}/$attention-signal", method="GET")
    items, notices = [], []
    for p in answer.get("parameter", []):
        if p.get("name") == "notice":
            notices.append(p.get("valueString", ""))
        elif p.get("name") == "item":
            parts = {x["name"]: next((v for k, v in x.items() if k.startswith("value")), None)
                     for x in p.get("part", [])}
            category = parts.get("category") or {}
            items.append({"kind": category.get("display") or category.get("code", ""),
                          "text": parts.get("text") or "", "severity": parts.get("severity")
                          or "", "reactions": ""})
    return items, notices


def plan_view(fhir: Fhir, patient_id: str) -> dict[str, Any] | None:
    found = fhir.search("CarePlan", ("subject", f"Patient/{patient_id}"),
                        ("status", "active"), ("category", f"{cc.PLAN_CATEGORY}|"
                                                           "interprofessional"),
                        ("_include", "CarePlan:goal"), ("_include", "CarePlan:condition"))
    if not found.matches:
        return None
    plan = found.matches[0]
    today = datetime.now(views.SWEDEN).date().isoformat()
    goals = []
    for ref in plan.get("goal", []):
        g = found.included.get(ref.get("reference", ""))
        if g is None:
            continue
        target = (g.get("target") or [{}])[0]
        detail = next((v for k, v in target.items() if k.startswith("detail")), None)
        if isinstance(detail, dict):
            detail = (f"{detail.get('comparator', '')} {detail.get('value', '')} "
                      f"{detail.get('unit', '')}".strip() if "value" in detail
                      else views.concept(detail))
        goals.append({"id": g.get("id", ""), "text": views.concept(g.get("description")),
                      # The goal's evaluations and changes are notes on it: the latest few.
                      "notes": [n.get("text", "") for n in g.get("note", [])][-3:],
                      "measure": views.concept(target.get("measure")),
                      "target": detail or "", "due": target.get("dueDate", ""),
                      "overdue": bool(target.get("dueDate") and target["dueDate"] < today
                                      and g.get("lifecycleStatus") == "active"),
                      "status": views.concept(g.get("achievementStatus"))})
    problems = [views.concept(found.included[r["reference"]].get("code"))
                for r in plan.get("addresses", []) if r.get("reference") in found.included]
    activities = []
    for a in plan.get("activity", []):
        detail = a.get("detail") or {}
        profession = _ext(a, cc.RESPONSIBLE_PROFESSION) or {}
        follow = _ext(a, cc.FOLLOW_UP) or ""
        status = detail.get("status", "")
        schedule = detail.get("scheduledString") or views.concept(
            (detail.get("scheduledTiming") or {}).get("code"))
        activities.append({
            "id": a.get("id", ""), "text": detail.get("description", ""),
            "profession": profession.get("code", ""),
            "profession_name": profession.get("display") or profession.get("code", ""),
            "status": status, "status_name": ACTIVITY_STATUS.get(status, status),
            "follow_up": follow, "schedule": schedule,
            "due": bool(follow and follow <= today and status in ("scheduled", "in-progress")),
            "proposed": _ext(a, cc.PROPOSED_BY) is not None,
            "evaluations": [p.get("text", "") for p in a.get("progress", [])]})
    follow_up = _ext(plan, cc.FOLLOW_UP) or ""
    return {"id": plan["id"], "title": plan.get("title", ""), "follow_up": follow_up,
            "follow_up_due": bool(follow_up and follow_up <= today),
            "since": views.when((plan.get("period") or {}).get("start")),
            "templates": [c.partition("|")[0] for c in plan.get("instantiatesCanonical", [])],
            "goals": goals, "problems": problems, "activities": activities,
            "notes": [{"text": n.get("text", ""), "when": views.when(n.get("time"))}
                      for n in plan.get("note", [])][-10:]}


def evaluation_step(p: Page, form: dict[str, str], plan_id: str
                    ) -> tuple[str, list[dict[str, Any]]]:
    """$careplan-evaluate of the plan, a goal (Goal/{id}) or an activity (its id); the
    messages go next to the fields (the engine checks that the goal or activity is the
    plan's)."""
    target = form.get("target", "")
    if not target or (target.startswith("Goal/") and not target[5:]):
        p.errors["evaluate-target"] = p.t("Välj vad som utvärderas.")
    outcome = form.get("outcome", "")
    if outcome not in cc.ACHIEVEMENTS:
        p.errors["evaluate-outcome"] = p.t("Välj utfall.")
    text = form.get("text", "").strip()
    if not text:
        p.errors["evaluate-text"] = p.t("Beskriv utvärderingen.")
    params = [param("target", target), {"name": "outcome", "valueCode": outcome},
              param("text", text)]
    follow = form.get("nextFollowUp", "").strip()
    if follow:
        if views.moment(follow) is None or len(follow) != 10:
            p.errors["evaluate-nextFollowUp"] = p.t("Ange ett datum som ÅÅÅÅ-MM-DD.")
        params.append({"name": "nextFollowUp", "valueDate": follow})
    return f"CarePlan/{plan_id}/$careplan-evaluate", params


def goal_update_step(p: Page, form: dict[str, str], plan_id: str
                     ) -> tuple[str, list[dict[str, Any]]]:
    """$careplan-update-goal: a new description, target value and/or due date."""
    goal = form.get("goal", "")
    if not goal:
        p.errors["update-goal"] = p.t("Välj ett mål.")
    params: list[dict[str, Any]] = [param("goal", {"reference": f"Goal/{goal}"})]
    description = form.get("description", "").strip()
    target = form.get("target", "").strip()
    due = form.get("dueDate", "").strip()
    if description:
        params.append(param("description", description))
    if target:
        params.append(param("target", target))
    if due:
        if views.moment(due) is None or len(due) != 10:
            p.errors["update-dueDate"] = p.t("Ange ett datum som ÅÅÅÅ-MM-DD.")
        params.append({"name": "dueDate", "valueDate": due})
    if goal and not (description or target or due):
        # Nothing to change: said at the first of the three fields.
        p.errors["update-description"] = p.t("Ange nytt mål, nytt målvärde eller nytt datum.")
    return f"CarePlan/{plan_id}/$careplan-update-goal", params


def build_careplan_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    def load(p: Page, patient_id: str) -> Any:
        def work(f: Fhir) -> dict[str, Any] | None:
            patient = f.read(f"Patient/{patient_id}")
            if patient is None:
                return None
            stay = f.search("Encounter", ("patient", patient_id),
                            ("status", "in-progress,onleave,arrived"), ("_count", "1"))
            return {"id": patient_id, "name": views.name(patient),
                    "number": views.identity_number(patient), "plan": plan_view(f, patient_id),
                    "scores": {x["key"]: x for x in risk_scores(f, patient_id)},
                    "encounter": stay.matches[0]["id"] if stay.matches else None}
        return p.run(work)

    async def show(p: Page, patient_id: str, status: int = 200,
                   form: dict[str, str] | None = None, action: str = "") -> Response:
        """The plan; after a refused form, `form` and `action` put its answers back."""
        data = await load(p, patient_id)
        if data is None:
            return p.message(404, p.t("Hittades inte"), p.t(
                "Patienten finns inte, eller så får du inte se den."))
        assert p.who is not None
        return p.render("web/careplan.html", p.t("Vårdplan: {name}", name=data["name"]),
                        status, c=data, templates=templates(), flash=take_flash(p),
                        professions=PROFESSIONS, my_profession=p.who.role or "",
                        statuses=ACTIVITY_STATUS, instruments=INSTRUMENT_NAMES,
                        outcomes=cc.ACHIEVEMENTS,
                        form=form or {}, action=action,
                        only_mine=p.request.query_params.get("profession") == "mine")

    @page(kinds=STAFF)
    async def careplan_page(p: Page, patient_id: str) -> Response:
        return await show(p, patient_id)

    @page(kinds=STAFF)
    async def careplan_action(p: Page, patient_id: str, action: str) -> Response:
        form, refused = await checked_form(p)
        if form is None:
            return refused  # type: ignore[return-value]
        plan_id = form.get("plan", "")
        step: tuple[str, list[dict[str, Any]]] | None = None
        done = ""
        if action == "start":
            encounter = form.get("encounter", "")
            if not encounter:
                p.errors["form"] = p.t("Patienten har ingen pågående vårdkontakt att knyta "
                                       "vårdplanen till.")
            step = (f"Encounter/{encounter}/$careplan-start", [])
            done = "Vårdplanen är påbörjad."
        elif action == "apply":
            url = form.get("template", "")
            if url not in {t["url"] for t in templates()}:
                p.errors["template"] = p.t("Välj en mall.")
            step = ("PlanDefinition/$apply", [param("url", url), param(
                "carePlan", {"reference": f"CarePlan/{plan_id}"})])
            done = "Mallen är tillämpad. Anpassa insatserna efter patienten."
        elif action == "activity":
            text = form.get("description", "").strip()
            if not text:
                p.errors["description"] = p.t("Beskriv insatsen.")
            profession = form.get("profession", "")
            if profession not in PROFESSIONS:
                p.errors["profession"] = p.t("Välj ansvarig profession.")
            params = [param("description", text), param("profession", profession)]
            if form.get("followUp"):
                if views.moment(form["followUp"]) is None:
                    p.errors["followUp"] = p.t("Ange ett datum som ÅÅÅÅ-MM-DD.")
                params.append(param("followUp", form["followUp"]))
            if form.get("schedule", "").strip():
                params.append(param("schedule", form["schedule"].strip()))
            step = (f"CarePlan/{plan_id}/$careplan-add-activity", params)
            done = "Insatsen är tillagd."
        elif action == "goal":
            text = form.get("description", "").strip()
            for name, words in (("description", "Beskriv målet."),
                                ("measure", "Ange vad som mäts."),
                                ("target", "Ange målvärdet.")):
                if not form.get(name, "").strip():
                    p.errors[f"goal-{name}"] = p.t(words)
            if views.moment(form.get("dueDate", "")) is None:
                p.errors["goal-dueDate"] = p.t("Ange ett datum som ÅÅÅÅ-MM-DD.")
            step = (f"CarePlan/{plan_id}/$careplan-add-goal", [
                param("description", text), param("measure", form.get("measure", "").strip()),
                param("target", form.get("target", "").strip()),
                {"name": "dueDate", "valueDate": form.get("dueDate", "")}])
            done = "Målet är tillagt."
        elif action == "status":
            status = form.get("status", "")
            if status not in ACTIVITY_STATUS:
                p.errors["form"] = p.t("Okänd åtgärd.")
            step = (f"CarePlan/{plan_id}/$careplan-update-activity", [
                param("activity", form.get("activity", "")), param("status", status)])
            done = "Insatsen är uppdaterad."
        elif action == "evaluate":
            step = evaluation_step(p, form, plan_id)
            done = "Utvärderingen är sparad."
        elif action == "goal-update":
            step = goal_update_step(p, form, plan_id)
            done = "Målet är ändrat."
        elif action == "note":
            text = form.get("text", "").strip()
            if not text:
                p.errors["note"] = p.t("Skriv anteckningen.")
            step = (f"CarePlan/{plan_id}/$careplan-note", [param("text", text)])
            done = "Anteckningen är sparad."
        if step is None:
            p.errors["form"] = p.t("Okänd åtgärd.")
        if p.errors or step is None:
            return await show(p, patient_id, 400, form, action)
        try:
            await p.run(lambda f: f.operation(*step), write=True)
        except VardnavError as exc:
            p.errors["form"] = explain(p, exc)
            return await show(p, patient_id, 400, form, action)
        flash(p, p.t(done))
        return redirect(p, f"{WEB}/patients/{patient_id}/careplan")

    # -- risk assessments ---------------------------------------------------------------------

    def questions(key: str, lang: str = "sv") -> list[dict[str, Any]]:
        """The instrument's choice items; texts in `lang` (codes and points are the
        Questionnaire's whatever the language)."""

        def shown(link: str, code: str, swedish: str) -> str:
            if lang != "en":
                return swedish
            return QUESTIONNAIRE_ENGLISH.get((key, link, code), swedish)

        out = []
        for item in instruments.questionnaire(key)["item"]:
            if item.get("type") != "choice":
                continue
            link = item["linkId"]
            out.append({"id": link, "text": shown(link, "", item["text"]),
                        "multiple": bool(item.get("repeats")),
                        "required": bool(item.get("required")),
                        "options": [{"code": o["valueCoding"]["code"],
                                     "text": shown(link, o["valueCoding"]["code"],
                                                   o["valueCoding"].get("display", "")),
                                     "points": int(next(
                                         e["valueDecimal"] for e in o["valueCoding"]["extension"]
                                         if e["url"].endswith("ordinalValue")))}
                                    for o in item["answerOption"]]})
        return out

    def answers_of(key: str, form: dict[str, list[str]]) -> dict[str, list[str]]:
        return {q["id"]: [c for c in form.get(q["id"], []) if c]
                for q in questions(key) if form.get(q["id"])}

    def preview(key: str, given: dict[str, list[str]]) -> dict[str, Any]:
        """The running total while answering; the level once every required item is in."""
        table = {q["id"]: {o["code"]: o["points"] for o in q["options"]}
                 for q in questions(key)}
        total = sum(table[k].get(c, 0) for k, codes in given.items() for c in codes
                    if k in table)
        answered = len(given)
        try:
            system = instruments.questionnaire(key)["item"][0]["answerOption"][0][
                "valueCoding"]["system"]
            scored = instruments.score(key, {k: [{"valueCoding": {"system": system, "code": c}}
                                                 for c in v] for k, v in given.items()})
        except VardnavError as exc:
            return {"total": total, "answered": answered, "complete": False,
                    "problem": exc.message if answered else ""}
        level = scored.level
        return {"total": scored.total, "answered": answered, "complete": True,
                "level": level.display, "at_risk": level.at_risk, "problem": ""}

    async def multi_form(p: Page) -> dict[str, list[str]] | None:
        """The posted answers (an item may have several), or None without this session's
        CSRF token."""
        if p.request.headers.get("content-type", "").split(";")[0].strip() != \
                "application/x-www-form-urlencoded":
            return None
        raw = await p.request.body()
        if len(raw) > MAX_FORM_BYTES:
            return None
        values = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
        if csrf.check(p.session, {k: v[-1] for k, v in values.items()}) is not None:
            return None
        return values

    @page(kinds=STAFF)
    async def assessment(p: Page, patient_id: str, key: str) -> Response:
        if key not in instruments.INSTRUMENTS:
            return p.message(404, p.t("Hittades inte"), p.t("Sidan finns inte."))
        data = await load(p, patient_id)
        if data is None:
            return p.message(404, p.t("Hittades inte"), p.t(
                "Patienten finns inte, eller så får du inte se den."))
        given: dict[str, list[str]] = {}
        status = 200
        if p.request.method == "POST":
            form = await multi_form(p)
            if form is None:
                return p.message(403, p.t("Formuläret har gått ut"), p.t(
                    "Formuläret kom inte från den här sidan eller har gått ut. Ladda om sidan "
                    "och försök igen."))
            given = answers_of(key, form)
            for q in questions(key):
                if q["required"] and not given.get(q["id"]) and key != "mna-sf":
                    p.errors[q["id"]] = p.t("Besvara frågan.")
            score = preview(key, given)
            if not p.errors and not score["complete"]:
                p.errors["form"] = score["problem"] or p.t("Besvara alla frågor.")
            if not p.errors:
                done = await _submit(p, patient_id, key, given, data["encounter"])
                if done is not None:
                    return done
            status = 400
        return p.render("web/assessment.html", p.t("Riskbedömning: {name}",
                                                  name=p.t(INSTRUMENT_NAMES[key])), status,
                        c=data, key=key, questions=questions(key, p.lang), given=given,
                        score=preview(key, given))

    async def _submit(p: Page, patient_id: str, key: str, given: dict[str, list[str]],
                      encounter: str | None) -> Response | None:
        q = instruments.questionnaire(key)
        system = q["item"][0]["answerOption"][0]["valueCoding"]["system"]
        response = {"resourceType": "QuestionnaireResponse", "status": "completed",
                    "questionnaire": q["url"],
                    "subject": {"reference": f"Patient/{patient_id}"},
                    "item": [{"linkId": link, "answer": [
                        {"valueCoding": {"system": system, "code": c}} for c in codes]}
                        for link, codes in given.items()]}
        params: list[dict[str, Any]] = [{"name": "response", "resource": response}]
        if encounter:
            params.append(param("encounter", {"reference": f"Encounter/{encounter}"}))
        try:
            await p.run(lambda f: f.operation(f"Patient/{patient_id}/$risk-assessment",
                                              params), write=True)
        except VardnavError as exc:
            p.errors["form"] = explain(p, exc)
            return None
        flash(p, p.t("Riskbedömningen är sparad."))
        return redirect(p, f"{WEB}/patients/{patient_id}/careplan")

    @page(kinds=STAFF)
    async def assessment_score(p: Page, patient_id: str, key: str) -> Response:
        """The score as you answer (htmx): nothing is stored."""
        if key not in instruments.INSTRUMENTS:
            return p.message(404, p.t("Hittades inte"), p.t("Sidan finns inte."))
        form = await multi_form(p)
        if form is None:
            return p.message(403, p.t("Formuläret har gått ut"), p.t(
                "Ladda om sidan och försök igen."))
        return p.render("web/assessment_score.html", "", key=key,
                        score=preview(key, answers_of(key, form)))

    router.add_route(WEB + "/patients/{patient_id}/careplan", careplan_page, methods=["GET"])
    router.add_route(WEB + "/patients/{patient_id}/careplan/{action}", careplan_action,
                     methods=["POST"])
    router.add_route(WEB + "/patients/{patient_id}/assessment/{key}", assessment,
                     methods=["GET", "POST"])
    router.add_route(WEB + "/patients/{patient_id}/assessment/{key}/score", assessment_score,
                     methods=["POST"])
    return router


