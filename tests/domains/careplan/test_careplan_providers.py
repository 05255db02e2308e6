"""Many professions and two care providers in one plan with PDL on: the hospital ward (region)
and a municipal home-care nurse under option 3 write in the same plan; every entry says who,
which profession, unit and provider; what a provider may read follows consent; a municipality
without option 3 cannot write in the plan."""

from __future__ import annotations

from datetime import date

from careplan_support import (
    MED1,
    OCKERO,
    OCKERO_HOME,
    World,
    bearer,
    mint_token,
    resources,
    stamp,
)

from vardnav.domains.identity.organisation.region_data import REGION_HSA

pytest_plugins = ("careplan_fixtures",)
CARE_PROVIDER = "https://vardnav.se/fhir/CodeSystem/care-provider"


def test_hospital_ward_and_municipal_home_care_work_in_one_plan(cp_world: World) -> None:
    w = cp_world
    plan = w.plan_of(w.admit("Andersson"))
    path = f"CarePlan/{plan['id']}"
    home = w.staff["home_nurse"]
    w.home_care("Andersson")
    # Without the patient's consent the municipality does not see the hospital's plan.
    assert not home.sees(path)
    assert home.op(f"{path}/$careplan-note", text="Hembesök").status_code == 404
    w.consent("Andersson", OCKERO)  # Öckerö may read other providers' data
    w.consent("Andersson", REGION_HSA)  # and the region Öckerö's
    assert home.sees(path)
    # Every profession contributes (one after the other: the clock moves a minute each time).
    w.clock.move(minutes=1)
    problem = resources(w.staff["doctor"].ok(f"{path}/$careplan-add-problem", problem=[
        {"code": {"system": "http://hl7.org/fhir/sid/icd-10", "code": "I63.9",
                  "display": "Cerebral infarkt"}}]), "Condition")[0]
    w.clock.move(minutes=1)
    goal = resources(w.staff["nurse"].ok(f"{path}/$careplan-add-goal", goal=[{
        "description": "Klarar förflyttning säng–stol själv", "measure": "Förflyttning",
        "target": ("Boolean", True), "dueDate": date(2026, 3, 20),
        "addresses": {"reference": f"Condition/{problem['id']}"}}]), "Goal")[0]
    for who, text, profession in (
            ("physio", "Förflyttningsträning", "physiotherapist"),
            ("dietitian", "Proteinberikad kost", "dietitian"),
            ("usk", "Stöd vid måltider", "assistant-nurse")):
        w.clock.move(minutes=1)
        w.staff[who].ok(f"{path}/$careplan-add-activity", activity=[{
            "description": text, "profession": profession,
            "goal": {"reference": f"Goal/{goal['id']}"}}])
    # The municipal nurse plans the home care after discharge and sets her own goal.
    w.clock.move(minutes=1)
    home_goal = resources(home.ok(f"{path}/$careplan-add-goal", goal=[{
        "description": "Trycksårsfri hud hemma", "measure": "Antal trycksår",
        "target": ("Quantity", {"value": 0, "unit": "st"}),
        "dueDate": date(2026, 4, 1)}]), "Goal")[0]
    w.clock.move(minutes=1)
    out = home.ok(f"{path}/$careplan-add-activity", activity=[{
        "description": "Hemsjukvård: hudinspektion vid varje besök",
        "profession": "registered-nurse", "schedule": "Måndag, onsdag, fredag",
        "followUp": date(2026, 3, 16), "goal": {"reference": f"Goal/{home_goal['id']}"}}])
    shared = resources(out, "CarePlan")[0]
    # Each entry names author, profession, unit and provider; the plan stays the ward's.
    by_unit = {(stamp(a)["profession"], stamp(a)["unit"], stamp(a)["provider"])
               for a in shared["activity"]}
    assert by_unit == {("physiotherapist", MED1, REGION_HSA), ("dietitian", MED1, REGION_HSA),
                       ("assistant-nurse", MED1, REGION_HSA),
                       ("registered-nurse", OCKERO_HOME, OCKERO)}
    assert stamp(home_goal)["provider"] == OCKERO
    tags = {t["system"]: t["code"] for t in shared["meta"]["tag"]}
    assert tags[CARE_PROVIDER] == REGION_HSA
    goal_tags = {t["system"]: t["code"] for t in home_goal["meta"]["tag"]}
    assert goal_tags[CARE_PROVIDER] == OCKERO  # the municipality's own entry
    assert len(shared["contributor"]) == 6
    # Each side reads the other's entries (consent both ways) and evaluates them.
    assert w.staff["nurse"].sees(f"Goal/{home_goal['id']}")
    assert home.sees(f"Goal/{goal['id']}") and home.sees(f"Condition/{problem['id']}")
    w.clock.move(minutes=1)
    evaluation = resources(home.ok(f"{path}/$careplan-evaluate", target=f"Goal/{goal['id']}",
                                   outcome="improving", text="Förflyttar sig med stöd"),
                           "Goal")[0]
    assert stamp(evaluation["note"][-1])["provider"] == OCKERO
    # The plan's history shows who did what, version by version.
    history = w.staff["nurse"].read(f"{path}/_history")
    assert history["total"] == 9
    timeline = _timeline(w.staff["nurse"].read(f"{path}/$careplan-timeline"))
    assert [(e["kind"], e.get("profession"), e.get("provider")) for e in timeline] == [
        ("plan", None, REGION_HSA), ("problem", "physician", REGION_HSA),
        ("goal", "registered-nurse", REGION_HSA),
        ("activity", "physiotherapist", REGION_HSA), ("activity", "dietitian", REGION_HSA),
        ("activity", "assistant-nurse", REGION_HSA), ("goal", "registered-nurse", OCKERO),
        ("activity", "registered-nurse", OCKERO),
        ("goal-progress", "registered-nurse", OCKERO)]
    assert timeline[-1]["text"] == "Förflyttar sig med stöd"
    # The patient withdraws the region's consent: the ward no longer sees Öckerö's goal,
    # though it still works in its own plan.
    consents = w.c.get("/fhir/Consent", params={
        "patient": f"Patient/{w.patients['Andersson']}"}).json()["entry"]
    region_consent = next(e["resource"] for e in consents
                          if e["resource"]["provision"]["actor"][0]["reference"]["reference"]
                          == f"Organization/{w.orgs[REGION_HSA]}")
    w.c.put(f"/fhir/Consent/{region_consent['id']}",
            json={**region_consent, "status": "inactive"},
            headers={"content-type": "application/fhir+json"})
    assert not w.staff["nurse"].sees(f"Goal/{home_goal['id']}")
    assert w.staff["nurse"].sees(path)
    kinds = [e["kind"] for e in _timeline(w.staff["nurse"].read(f"{path}/$careplan-timeline"))]
    assert kinds.count("goal") == 1  # Öckerö's goal is no longer the ward's to read


def _timeline(body: dict[str, object]) -> list[dict[str, str]]:
    return [{x["name"]: next(v for k, v in x.items() if k.startswith("value"))
             for x in p["part"]} for p in body["parameter"]]  # type: ignore[attr-defined,index]


def test_a_municipality_without_option_3_cannot_write_in_the_plan(cp_world: World) -> None:
    w = cp_world
    plan = w.plan_of(w.admit("Andersson"))
    gbg = bearer(mint_token(w.settings, "user/*.cruds", kind="staff",
                            subject="SE000014800000-T9", unit="SE000014800000-K1480",
                            provider="SE000014800000-K1480", role="registered-nurse"))
    r = w.c.post(f"/fhir/CarePlan/{plan['id']}/$careplan-add-activity", headers={
        **gbg, "content-type": "application/fhir+json"}, json={
        "resourceType": "Parameters", "parameter": [
            {"name": "description", "valueString": "Hemtjänst"},
            {"name": "profession", "valueCode": "registered-nurse"}]})
    assert r.status_code == 403, r.text
    assert "option 3" in r.json()["issue"][0]["diagnostics"]
