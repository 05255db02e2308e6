"""The one interprofessional plan per patient and episode: started at admission (A01) or
first contact ($careplan-start), problems, goals, interventions, evaluations and notes
recorded with their author, profession, unit and provider (server-set), readable history,
handed over at transfer, closed at discharge, and the rules on bad input."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date

from careplan_support import MED1, PLAN, T0, World, resources, stamp
from fastapi.testclient import TestClient

from conftest import FHIR_JSON
from vardnav.domains.identity.organisation.region_data import REGION_HSA

pytest_plugins = ("careplan_fixtures",)


def _goal(**extra: object) -> dict[str, object]:
    return {"description": "Smärtfri vid mobilisering", "measure": "Smärta (NRS)",
            "target": ("Quantity", {"value": 3, "comparator": "<=", "unit": "NRS"}),
            "dueDate": date(2026, 3, 9), **extra}


def test_admission_starts_the_plan_and_every_entry_records_its_author(cp_world: World) -> None:
    w = cp_world
    enc = w.admit("Andersson")
    plan = w.plan_of(enc)
    assert plan["status"] == "active" and plan["intent"] == "plan"
    assert plan["encounter"] == {"reference": f"Encounter/{enc}"}
    # Started by the ADT step on behalf of the ward: its unit and provider, no profession.
    assert stamp(plan)["unit"] == MED1 and stamp(plan)["provider"] == REGION_HSA
    nurse, doctor = w.staff["nurse"], w.staff["doctor"]
    out = nurse.ok(f"CarePlan/{plan['id']}/$careplan-add-problem",
                   problem=[{"code": "Risk för förvirring nattetid"}])
    condition = resources(out, "Condition")[0]
    assert stamp(condition) | {"time": None} == {
        "practitioner": nurse.practitioner, "staff": nurse.subject,
        "profession": "registered-nurse", "unit": MED1, "provider": REGION_HSA, "time": None}
    # A nurse's problem is a VIPS nursing diagnosis.
    assert any(e.get("valueCoding", {}).get("code") == "diagnosis"
               for e in condition["extension"])
    out = doctor.ok(f"CarePlan/{plan['id']}/$careplan-add-goal",
                    goal=[_goal(addresses={"reference": f"Condition/{condition['id']}"})])
    goal = resources(out, "Goal")[0]
    assert goal["target"][0]["dueDate"] == "2026-03-09"
    assert stamp(goal)["profession"] == "physician"
    out = w.staff["physio"].ok(
        f"CarePlan/{plan['id']}/$careplan-add-activity", activity=[{
            "description": "Gångträning två gånger dagligen", "profession": "physiotherapist",
            "schedule": "Kl 10 och 15", "followUp": date(2026, 3, 5),
            "goal": {"reference": f"Goal/{goal['id']}"}}])
    plan = resources(out, "CarePlan")[0]
    activity = plan["activity"][0]
    assert activity["detail"]["status"] == "scheduled"
    assert activity["detail"]["scheduledString"] == "Kl 10 och 15"
    assert stamp(activity)["profession"] == "physiotherapist"
    assert {"reference": w.staff["physio"].practitioner} in plan["contributor"]
    # Evaluation with outcome and the next follow-up.
    w.clock.move(days=3)
    out = nurse.ok(f"CarePlan/{plan['id']}/$careplan-evaluate", target=activity["id"],
                   outcome="improving", text="Går 20 m med rollator",
                   nextFollowUp=date(2026, 3, 8))
    evaluated = resources(out, "CarePlan")[0]["activity"][0]
    assert evaluated["progress"][-1]["text"] == "Går 20 m med rollator"
    assert evaluated["outcomeCodeableConcept"][0]["coding"][0]["code"] == "improving"
    out = doctor.ok(f"CarePlan/{plan['id']}/$careplan-evaluate", target=f"Goal/{goal['id']}",
                    outcome="achieved", text="NRS 2")
    assert resources(out, "Goal")[0]["lifecycleStatus"] == "completed"
    nurse.ok(f"CarePlan/{plan['id']}/$careplan-note", text="Orolig kväll, sov efter 23",
             vipsKeyword="sleep")
    # The history: every version, each change by its author.
    history = nurse.read(f"CarePlan/{plan['id']}/_history")
    versions = [e["resource"] for e in history["entry"]]
    assert len(versions) == 7
    assert [len(v.get("activity", [])) for v in reversed(versions)] == [0, 0, 0, 1, 1, 1, 1]


def test_one_active_plan_per_episode(cp_world: World) -> None:
    w = cp_world
    enc = w.admit("Andersson")
    plan = w.plan_of(enc)
    message = w.staff["nurse"].refused(f"Encounter/{enc}/$careplan-start", 409)
    assert f"CarePlan/{plan['id']}" in message
    # A plain create of a second plan cannot get round it either.
    r = w.c.post("/fhir/CarePlan", headers={**FHIR_JSON, **w.staff["nurse"].h}, json={
        **{k: v for k, v in plan.items() if k not in ("id", "meta")}})
    assert r.status_code == 403, r.text
    assert len(w.c.get("/fhir/CarePlan", params={"encounter": f"Encounter/{enc}"}
                       ).json().get("entry", [])) == 1


def test_first_contact_starts_a_plan_explicitly(cp_world: World) -> None:
    w = cp_world
    # Recorded by the unit's nurse (so it is the region's, and the unit's relationship).
    r = w.c.post("/fhir/Encounter", headers={**FHIR_JSON, **w.staff["nurse"].h}, json={
        "resourceType": "Encounter", "status": "in-progress",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                  "code": "AMB"},
        "subject": {"reference": f"Patient/{w.patients['Berg']}"},
        "serviceProvider": {"reference": f"Organization/{w.orgs[MED1]}"},
        "period": {"start": T0.isoformat()}})
    enc = r.json()["id"]
    plan = w.staff["nurse"].ok(f"Encounter/{enc}/$careplan-start", 201,
                               followUp=date(2026, 3, 4))
    assert plan["category"][0]["coding"][0]["code"] == "interprofessional"
    assert stamp(plan)["profession"] == "registered-nurse"
    assert w.plan_of(enc)["id"] == plan["id"]


def test_bad_input_is_refused_and_nothing_is_half_written(cp_world: World) -> None:
    w = cp_world
    enc = w.admit("Andersson")
    plan = w.plan_of(enc)
    nurse = w.staff["nurse"]
    path = f"CarePlan/{plan['id']}"
    # The second of two interventions has no responsible profession: neither is written.
    message = nurse.refused(f"{path}/$careplan-add-activity", 422, activity=[
        {"description": "Munvård morgon och kväll", "profession": "assistant-nurse"},
        {"description": "Vikt varje måndag"}])
    assert "responsible profession" in message
    # A goal without a target (or without a due date) is refused; the first goal neither.
    message = nurse.refused(f"{path}/$careplan-add-goal", 422, goal=[
        _goal(), {"description": "Må bra", "dueDate": date(2026, 3, 9)}])
    assert "measurable target" in message
    assert "due date" in nurse.refused(f"{path}/$careplan-add-goal", 422,
                                       goal=[_goal(dueDate=None)])
    assert w.c.get("/fhir/Goal").json().get("total", 0) == 0
    current = nurse.read(path)
    assert current["meta"]["versionId"] == plan["meta"]["versionId"]
    assert "activity" not in current and "goal" not in current
    # Unknown profession, unknown activity, bad outcome, plain PUT.
    nurse.refused(f"{path}/$careplan-add-activity", 422,
                  activity=[{"description": "X", "profession": "magician"}])
    nurse.refused(f"{path}/$careplan-update-activity", 404, activity="act-nope",
                  status="completed")
    nurse.refused(f"{path}/$careplan-evaluate", 422, target="plan", outcome="great",
                  text="Bra")
    nurse.refused(f"{path}/$careplan-add-problem", 400, problem=[{"attention": "nope"}])
    edited = {**current, "title": "Min egen plan"}
    r = w.c.put(f"/fhir/{path}", json=edited, headers={**FHIR_JSON, **nurse.h})
    assert r.status_code == 403 and r.json()["resourceType"] == "OperationOutcome"
    r = w.c.delete(f"/fhir/{path}", headers=nurse.h)
    assert r.status_code == 403
    assert nurse.read(path)["meta"]["versionId"] == plan["meta"]["versionId"]


def test_a_closed_plan_is_not_edited(cp_world: World) -> None:
    w = cp_world
    enc = w.admit("Andersson")
    plan = w.plan_of(enc)
    nurse = w.staff["nurse"]
    nurse.ok(f"CarePlan/{plan['id']}/$careplan-close", reason="completed", note="Klar")
    for op, values in (("careplan-add-activity", {"activity": [
            {"description": "Dusch", "profession": "assistant-nurse"}]}),
            ("careplan-note", {"text": "Sent tillägg"}),
            ("careplan-close", {"reason": "completed"})):
        message = nurse.refused(f"CarePlan/{plan['id']}/${op}", 422, **values)
        assert "closed plan" in message
    r = w.c.post("/fhir/PlanDefinition/$apply", headers={**FHIR_JSON, **nurse.h}, json={
        "resourceType": "Parameters", "parameter": [
            {"name": "url", "valueString": "https://vardnav.se/fhir/PlanDefinition/"
                                           "fall-prevention"},
            {"name": "carePlan", "valueReference": {"reference": f"CarePlan/{plan['id']}"}}]})
    assert r.status_code == 422, r.text


def test_transfer_hands_over_and_discharge_closes_the_plan(cp_world: World) -> None:
    w = cp_world
    enc = w.admit("Andersson")
    plan = w.plan_of(enc)
    ger = w.first("Location?identifier=urn:oid:1.2.752.29.4.19|SE2321000131-SU-GER2-L")
    r = w.c.post(f"/fhir/Encounter/{enc}/$transfer", headers=FHIR_JSON, json={
        "resourceType": "Parameters", "parameter": [
            {"name": "ward", "valueReference": {"reference": f"Location/{ger['id']}"}},
            {"name": "at", "valueDateTime": "2026-03-03T10:00:00+00:00"}]})
    assert r.status_code == 200, r.text
    moved = w.plan_of(enc)
    unit = next(e for e in moved["extension"] if e["url"].endswith("responsible-unit"))
    assert unit["valueReference"]["reference"] != f"Organization/{w.orgs[MED1]}"
    assert "överlämnad" in moved["note"][-1]["text"]
    # The receiving ward works in the same plan.
    w.staff["ger_nurse"].ok(f"CarePlan/{plan['id']}/$careplan-note", text="Mottagen")
    r = w.c.post(f"/fhir/Encounter/{enc}/$discharge", headers=FHIR_JSON, json={
        "resourceType": "Parameters", "parameter": [
            {"name": "disposition", "valueCode": "home"},
            {"name": "at", "valueDateTime": "2026-03-05T10:00:00+00:00"}]})
    assert r.status_code == 200, r.text
    closed = w.plan_of(enc, "completed")
    assert closed["period"]["end"].startswith("2026-03-05")
    r = w.c.post(f"/fhir/Encounter/{enc}/$cancel-discharge", headers=FHIR_JSON,
                 json={"resourceType": "Parameters", "parameter": []})
    assert r.status_code == 200, r.text
    assert w.plan_of(enc)["id"] == plan["id"]  # open again


def test_plans_are_found_by_category(cp_world: World) -> None:
    w = cp_world
    w.admit("Andersson")
    found = w.staff["nurse"].read(f"CarePlan?category={PLAN}&status=active")
    assert found["total"] == 1


def test_concurrent_starts_make_exactly_one_plan(cp_world: World) -> None:
    w = cp_world
    nurse = w.staff["nurse"]
    r = w.c.post("/fhir/Encounter", headers={**FHIR_JSON, **nurse.h}, json={
        "resourceType": "Encounter", "status": "in-progress",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                  "code": "HH"},
        "subject": {"reference": f"Patient/{w.patients['Andersson']}"},
        "serviceProvider": {"reference": f"Organization/{w.orgs[MED1]}"},
        "period": {"start": T0.isoformat()}})
    enc = r.json()["id"]
    threads = 6
    barrier = threading.Barrier(threads)

    def start(_: int) -> int:
        with TestClient(w.c.app, headers=nurse.h) as client:
            barrier.wait(timeout=30)
            return client.post(f"/fhir/Encounter/{enc}/$careplan-start", headers=FHIR_JSON,
                               json={"resourceType": "Parameters"}).status_code

    with ThreadPoolExecutor(max_workers=threads) as pool:
        statuses = sorted(pool.map(start, range(threads)))
    assert statuses == [201] + [409] * (threads - 1)
    found = w.c.get("/fhir/CarePlan", params={"encounter": f"Encounter/{enc}"}).json()
    assert found["total"] == 1


def _vips(element: dict[str, object]) -> str | None:
    for e in element.get("extension", []):  # type: ignore[attr-defined]
        if e["url"].endswith("vips-keyword"):
            return str(e["valueCoding"]["code"])
    return None


def test_nursing_entries_are_organised_by_vips_keywords(cp_world: World) -> None:
    w = cp_world
    plan = w.plan_of(w.admit("Andersson"))
    path = f"CarePlan/{plan['id']}"
    nurse, usk, doctor = w.staff["nurse"], w.staff["usk"], w.staff["doctor"]
    nurse.ok(f"{path}/$careplan-note", text="Bor ensam, hemtjänst 2 ggr/dag",
             vipsKeyword="nursing-history")
    usk.ok(f"{path}/$careplan-note", text="Äter halva portioner", vipsKeyword="nutrition")
    goal = resources(nurse.ok(f"{path}/$careplan-add-goal", goal=[_goal()]), "Goal")[0]
    assert _vips(goal) == "goal"
    out = usk.ok(f"{path}/$careplan-add-activity", activity=[
        {"description": "Hjälp vid måltid", "profession": "assistant-nurse"}])
    activity = resources(out, "CarePlan")[0]["activity"][0]
    assert _vips(activity) == "interventions"
    out = nurse.ok(f"{path}/$careplan-evaluate", target=activity["id"], outcome="improving",
                   text="Äter hela portioner")
    assert _vips(resources(out, "CarePlan")[0]["activity"][0]["progress"][-1]) == "result"
    # A physician's entries are not VIPS-coded; a wrong keyword is refused.
    problem = resources(doctor.ok(f"{path}/$careplan-add-problem",
                                  problem=[{"code": "Pneumoni"}]), "Condition")[0]
    assert _vips(problem) is None
    assert "VIPS" in nurse.refused(f"{path}/$careplan-note", 400, text="x",
                                   vipsKeyword="gossip")
    notes = nurse.read(path)["note"]
    assert [_vips(n) for n in notes] == ["nursing-history", "nutrition"]


def test_the_operations_are_in_the_capability_statement(cp_world: World) -> None:
    body = cp_world.c.get("/fhir/metadata").json()
    names = {op["name"] for r in body["rest"][0]["resource"] for op in r.get("operation", [])}
    names |= {op["name"] for op in body["rest"][0].get("operation", [])}
    assert {"careplan-start", "careplan-add-activity", "apply", "risk-assessment",
            "attention-signal", "careplan-worklist"} <= names


def test_concurrent_steps_on_one_plan_lose_nothing(cp_world: World) -> None:
    w = cp_world
    plan = w.plan_of(w.admit("Andersson"))
    staff = [w.staff[k] for k in ("nurse", "usk", "doctor", "physio", "dietitian")]
    barrier = threading.Barrier(len(staff))

    def add(n: int) -> int:
        who = staff[n]
        with TestClient(w.c.app, headers=who.h) as client:
            barrier.wait(timeout=30)
            return client.post(
                f"/fhir/CarePlan/{plan['id']}/$careplan-add-activity", headers=FHIR_JSON,
                json={"resourceType": "Parameters", "parameter": [
                    {"name": "description", "valueString": f"Åtgärd {n}"},
                    {"name": "profession", "valueCode": who.role}]}).status_code

    with ThreadPoolExecutor(max_workers=len(staff)) as pool:
        assert list(pool.map(add, range(len(staff)))) == [200] * len(staff)
    final = w.staff["nurse"].read(f"CarePlan/{plan['id']}")
    assert sorted(a["detail"]["description"] for a in final["activity"]) == [
        f"Åtgärd {n}" for n in range(len(staff))]
    assert final["meta"]["versionId"] == str(1 + len(staff))
