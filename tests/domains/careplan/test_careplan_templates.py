"""Templates (PlanDefinition): the vendored five are valid FHIR, are applied with $apply into a
patient's plan and then individualised; applying one twice is refused; a changed template
never rewrites a plan already made."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from careplan_support import FHIR_JSON, World, params, resources, stamp

from vardnav.domains.careplan import instruments, templates
from vardnav.fhir.validation import ResourceValidator

pytest_plugins = ("careplan_fixtures",)
BASE = "https://vardnav.se/fhir/PlanDefinition"
NAMES = ("fall-prevention", "pressure-ulcer-prevention", "malnutrition",
         "post-stroke-rehabilitation", "end-of-life-care")


def test_vendored_templates_and_questionnaires_are_valid_fhir() -> None:
    validator = ResourceValidator()
    found = {t["url"].rpartition("/")[2] for t in templates.vendored()}
    assert found == set(NAMES)
    for resource in (*templates.vendored(), *instruments.all_questionnaires()):
        validator.validate(resource)  # raises on anything invalid
        assert resource["version"] == "1.0.0" and resource["status"] == "active"
    for template in templates.vendored():
        for action in template["action"]:  # every intervention has its profession
            assert action["participant"][0]["role"]["coding"][0]["code"]


def _apply(w: World, who: str, plan_id: str, url: str, **extra: Any) -> Any:
    return w.staff[who].op("PlanDefinition/$apply", url=url,
                           carePlan={"reference": f"CarePlan/{plan_id}"}, **extra)


@pytest.mark.parametrize("name", NAMES)
def test_each_template_applies_into_the_plan(cp_world: World, name: str) -> None:
    w = cp_world
    plan = w.plan_of(w.admit("Andersson"))
    r = _apply(w, "nurse", plan["id"], f"{BASE}/{name}")
    assert r.status_code == 200, r.text
    applied = r.json()
    template = next(t for t in templates.vendored() if t["url"].endswith(name))
    assert applied["instantiatesCanonical"] == [f"{BASE}/{name}|1.0.0"]
    assert len(applied["activity"]) == len(template["action"])
    assert len(applied["goal"]) == len(template["goal"])
    for activity, action in zip(applied["activity"], template["action"], strict=True):
        assert activity["detail"]["description"] == action["description"]
        assert activity["detail"]["instantiatesCanonical"] == [f"{BASE}/{name}|1.0.0"]
        profession = next(e for e in activity["extension"]
                          if e["url"].endswith("responsible-profession"))
        assert profession["valueCoding"]["code"] == \
            action["participant"][0]["role"]["coding"][0]["code"]
        assert stamp(activity)["staff"] == w.staff["nurse"].subject
    goals = [w.staff["nurse"].read(g["reference"]) for g in applied["goal"]]
    assert all(g["target"][0]["dueDate"] > "2026-03-02" for g in goals)


def test_apply_then_individualise(cp_world: World) -> None:
    w = cp_world
    plan = w.plan_of(w.admit("Andersson"))
    nurse = w.staff["nurse"]
    r = w.staff["doctor"].c.post(
        "/fhir/PlanDefinition/$apply", headers={**FHIR_JSON, **nurse.h},
        json=params(url=f"{BASE}/pressure-ulcer-prevention",
                    subject={"reference": f"Patient/{w.patients['Andersson']}"},
                    exclude=["a4"]))
    assert r.status_code == 200, r.text
    applied = r.json()
    assert len(applied["activity"]) == 4  # the dietitian's action left out
    turning = applied["activity"][0]
    assert turning["detail"]["scheduledTiming"]["repeat"]["period"] == 2
    assert turning["detail"]["reasonCode"][0]["coding"][0]["code"] == "pressure-ulcer"
    # Individualise: every third hour at night, another follow-up date, another goal date.
    out = nurse.ok(f"CarePlan/{plan['id']}/$careplan-update-activity",
                   activity=turning["id"], schedule="Var 2:a timme dag, var 3:e natt",
                   followUp=date(2026, 3, 4), status="in-progress")
    changed = resources(out, "CarePlan")[0]["activity"][0]
    assert changed["detail"]["scheduledString"] == "Var 2:a timme dag, var 3:e natt"
    assert "scheduledTiming" not in changed["detail"]
    assert changed["detail"]["status"] == "in-progress"
    assert changed["progress"][-1]["text"].startswith("Ändrat")
    goal_id = applied["goal"][0]["reference"].rpartition("/")[2]
    out = nurse.ok(f"CarePlan/{plan['id']}/$careplan-update-goal",
                   goal={"reference": f"Goal/{goal_id}"}, dueDate=date(2026, 3, 23))
    assert resources(out, "Goal")[0]["target"][0]["dueDate"] == "2026-03-23"
    # The template itself is untouched.
    stored = nurse.read(f"PlanDefinition?url={BASE}/pressure-ulcer-prevention")
    assert stored["entry"][0]["resource"]["action"][0]["timingTiming"]["repeat"]["period"] == 2


def test_a_template_applied_twice_is_refused(cp_world: World) -> None:
    w = cp_world
    plan = w.plan_of(w.admit("Andersson"))
    assert _apply(w, "nurse", plan["id"], f"{BASE}/fall-prevention").status_code == 200
    version = w.staff["nurse"].read(f"CarePlan/{plan['id']}")["meta"]["versionId"]
    r = _apply(w, "physio", plan["id"], f"{BASE}/fall-prevention|1.0.0")
    assert r.status_code == 409, r.text
    outcome = r.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert "already applied" in outcome["issue"][0]["diagnostics"]
    assert w.staff["nurse"].read(f"CarePlan/{plan['id']}")["meta"]["versionId"] == version
    goals = w.c.get("/fhir/Goal", params={"_summary": "count"}).json()["total"]
    assert goals == 1  # the refused application wrote no second goal


def test_changing_a_template_never_rewrites_plans_already_made(cp_world: World) -> None:
    w = cp_world
    first = w.plan_of(w.admit("Andersson"))
    assert _apply(w, "nurse", first["id"], f"{BASE}/fall-prevention").status_code == 200
    before = w.staff["nurse"].read(f"CarePlan/{first['id']}")
    # The design group publishes version 2.0.0 and edits 1.0.0's wording in place.
    stored = w.c.get("/fhir/PlanDefinition", params={"url": f"{BASE}/fall-prevention"}
                     ).json()["entry"][0]["resource"]
    edited = {**stored, "action": [{**stored["action"][0], "description": "Ändrad text"}]}
    assert w.c.put(f"/fhir/PlanDefinition/{stored['id']}", json=edited,
                   headers=FHIR_JSON).status_code == 200
    v2 = {k: v for k, v in stored.items() if k not in ("id", "meta")}
    v2 |= {"version": "2.0.0", "action": [{**stored["action"][1], "id": "b1"}]}
    assert w.c.post("/fhir/PlanDefinition", json=v2, headers=FHIR_JSON).status_code == 201
    after = w.staff["nurse"].read(f"CarePlan/{first['id']}")
    assert after == before
    # A new plan gets the newest version.
    second = w.c.post(f"/fhir/Patient/{w.patients['Berg']}/$admit", headers=FHIR_JSON,
                      json=params(bed={"reference": f"Location/{w.beds[5]}"},
                                  attending={"reference": f"Practitioner/{w.people[0]}"}))
    assert second.status_code == 201, second.text
    plan2 = w.plan_of(second.json()["id"])
    r = _apply(w, "nurse", plan2["id"], f"{BASE}/fall-prevention")
    assert r.status_code == 200, r.text
    assert r.json()["instantiatesCanonical"] == [f"{BASE}/fall-prevention|2.0.0"]
    assert len(r.json()["activity"]) == 1


def test_instance_level_apply_and_bad_template_references(cp_world: World) -> None:
    w = cp_world
    plan = w.plan_of(w.admit("Andersson"))
    installed = w.c.post("/fhir/$careplan-install-templates", json=params(),
                         headers=FHIR_JSON)
    assert installed.status_code == 200, installed.text
    again = w.c.post("/fhir/$careplan-install-templates", json=params(), headers=FHIR_JSON)
    assert [e["resource"]["id"] for e in again.json()["entry"]] == \
        [e["resource"]["id"] for e in installed.json()["entry"]]
    eol = next(e["resource"] for e in installed.json()["entry"]
               if e["resource"].get("url", "").endswith("end-of-life-care"))
    r = w.staff["doctor"].op(f"PlanDefinition/{eol['id']}/$apply",
                             subject={"reference": f"Patient/{w.patients['Andersson']}"})
    assert r.status_code == 200, r.text
    assert r.json()["id"] == plan["id"]
    assert w.staff["doctor"].op("PlanDefinition/$apply", url=f"{BASE}/nope",
                                carePlan={"reference": f"CarePlan/{plan['id']}"}
                                ).status_code == 404
    # Berg has no plan: nothing to apply into.
    r = w.staff["doctor"].op("PlanDefinition/$apply", url=f"{BASE}/malnutrition",
                             subject={"reference": f"Patient/{w.patients['Berg']}"})
    assert r.status_code == 422 and "no active care plan" in r.text
    assert w.staff["doctor"].op("PlanDefinition/$apply", url=f"{BASE}/malnutrition",
                                exclude=["zz"], carePlan={"reference": f"CarePlan/{plan['id']}"}
                                ).status_code == 422


def test_a_template_action_without_a_profession_writes_nothing(cp_world: World) -> None:
    w = cp_world
    plan = w.plan_of(w.admit("Andersson"))
    local = {k: v for k, v in templates.vendored()[1].items() if k not in ("id", "meta")}
    local |= {"url": f"{BASE}/local-fall-prevention",
              "action": [*local["action"], {"id": "x1", "title": "Höftskydd"}]}
    assert w.c.post("/fhir/PlanDefinition", json=local, headers=FHIR_JSON).status_code == 201
    counts = {t: w.c.get(f"/fhir/{t}", params={"_summary": "count"}).json()["total"]
              for t in ("Condition", "Goal")}
    r = _apply(w, "nurse", plan["id"], f"{BASE}/local-fall-prevention")
    assert r.status_code == 422, r.text
    assert "responsible profession" in r.json()["issue"][0]["diagnostics"]
    # The problem and goal created before the failing action were rolled back with it.
    assert {t: w.c.get(f"/fhir/{t}", params={"_summary": "count"}).json()["total"]
            for t in ("Condition", "Goal")} == counts
    assert "activity" not in w.staff["nurse"].read(f"CarePlan/{plan['id']}")
