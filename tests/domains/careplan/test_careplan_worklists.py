"""A care unit's work lists: Norton due within 24 h of arrival for patients 65+, 65+ without
assessment, risks above threshold without an intervention, overdue follow-ups, goals past
their date — each appearing and disappearing as the work is done."""

from __future__ import annotations

from datetime import date
from typing import Any

from careplan_support import MED1, OCKERO, World, norton_response, resources

pytest_plugins = ("careplan_fixtures",)


def _entries(w: World, who: str, **query: Any) -> set[tuple[str, str, str | None]]:
    r = w.staff[who].get("$careplan-worklist", **query)
    assert r.status_code == 200, r.text
    out = set()
    names = {v: k for k, v in w.patients.items()}
    for p in r.json()["parameter"]:
        if p["name"] != "entry":
            continue
        parts = {x["name"]: next(v for k, v in x.items() if k.startswith("value"))
                 for x in p["part"]}
        patient = names[parts["patient"]["reference"].rpartition("/")[2]]
        out.add((parts["list"], patient, parts.get("status")))
    return out


def test_work_lists_follow_the_work(cp_world: World) -> None:
    w = cp_world
    old, young = w.admit("Andersson"), w.admit("Berg")
    plan = w.plan_of(old)
    w.plan_of(young)
    nurse = w.staff["nurse"]
    assert _entries(w, "nurse") == {("norton-due", "Andersson", "due"),
                                    ("assessment-missing", "Andersson", None)}
    w.clock.move(hours=25)
    assert ("norton-due", "Andersson", "overdue") in _entries(w, "nurse")
    # Norton 18: at risk; the proposals alone are not an intervention.
    nurse.ok(f"Patient/{w.patients['Andersson']}/$risk-assessment", 201,
             response=norton_response(18))
    lists = _entries(w, "nurse")
    assert ("risk-without-intervention", "Andersson", None) in lists
    assert not any(e[0] == "norton-due" for e in lists)
    assert ("assessment-missing", "Andersson", None) in lists  # Downton, MNA-SF
    proposed = nurse.read(f"CarePlan/{plan['id']}")["activity"][0]["id"]
    nurse.ok(f"CarePlan/{plan['id']}/$careplan-update-activity", activity=proposed,
             status="in-progress", followUp=date(2026, 3, 5))
    assert not any(e[0] == "risk-without-intervention" for e in _entries(w, "nurse"))
    # A goal due on the 4th; on the 6th it is overdue, and so is the activity's follow-up.
    goal = resources(nurse.ok(f"CarePlan/{plan['id']}/$careplan-add-goal", goal=[{
        "description": "Intakt hud", "measure": "Antal trycksår",
        "target": ("Quantity", {"value": 0, "unit": "st"}),
        "dueDate": date(2026, 3, 4)}]), "Goal")[0]
    w.clock.move(days=3)
    lists = _entries(w, "nurse")
    assert {("goal-overdue", "Andersson", "overdue"),
            ("follow-up-overdue", "Andersson", "overdue")} <= lists
    assert _entries(w, "nurse", list="goal-overdue") == {("goal-overdue", "Andersson",
                                                          "overdue")}
    # Evaluating: the goal achieved, the activity followed up again next week.
    nurse.ok(f"CarePlan/{plan['id']}/$careplan-evaluate", target=f"Goal/{goal['id']}",
             outcome="achieved", text="Huden intakt")
    nurse.ok(f"CarePlan/{plan['id']}/$careplan-evaluate", target=proposed,
             outcome="sustaining", text="Vändschema följs", nextFollowUp=date(2026, 3, 12))
    lists = _entries(w, "nurse")
    assert not any(e[0] in ("goal-overdue", "follow-up-overdue") for e in lists)
    # The young patient is never on the Senior alert lists.
    assert not any(e[1] == "Berg" for e in lists)


def test_work_lists_are_per_unit(cp_world: World) -> None:
    w = cp_world
    w.admit("Andersson")
    assert _entries(w, "ger_nurse") == set()  # nobody at GER2
    r = w.staff["ger_nurse"].get("$careplan-worklist", unit=MED1)
    assert r.status_code == 403 and r.json()["resourceType"] == "OperationOutcome"
    r = w.c.get(f"/fhir/Organization/{w.orgs[MED1]}/$careplan-worklist")  # system
    assert r.status_code == 200 and len(r.json()["parameter"]) == 4
    assert w.staff["nurse"].get("$careplan-worklist", list="nope").status_code == 422
    assert w.c.get("/fhir/$careplan-worklist").status_code == 400  # system: name the unit
    assert w.c.get("/fhir/$careplan-worklist", params={"unit": "SE-nowhere"}
                   ).status_code == 404
    assert w.c.get("/fhir/Patient/x/$careplan-worklist").status_code == 404


def test_home_care_patients_are_on_the_home_care_units_lists(cp_world: World) -> None:
    w = cp_world
    w.home_care("Andersson")
    w.consent("Andersson", OCKERO)
    assert _entries(w, "home_nurse") == {("norton-due", "Andersson", "due"),
                                         ("assessment-missing", "Andersson", None)}
