"""Risk assessments through the API: the server scores the QuestionnaireResponse, stores it and
an Observation, refuses a total that does not match its answers (nothing written), and over a
threshold proposes the matching template's interventions in the plan, which staff accept."""

from __future__ import annotations

from careplan_support import (
    FHIR_JSON,
    MED1,
    RECORDED_BY,
    World,
    norton_response,
    resources,
    response,
    stamp,
)

pytest_plugins = ("careplan_fixtures",)
ASSESSMENT = "https://vardnav.se/fhir/CodeSystem/risk-assessment"


def _count(w: World, rtype: str) -> int:
    return int(w.c.get(f"/fhir/{rtype}", params={"_summary": "count"}).json()["total"])


def test_norton_at_risk_is_stored_and_proposes_pressure_ulcer_prevention(
        cp_world: World) -> None:
    w = cp_world
    enc = w.admit("Andersson")
    plan = w.plan_of(enc)
    nurse = w.staff["nurse"]
    pid = w.patients["Andersson"]
    out = nurse.ok(f"Patient/{pid}/$risk-assessment", 201, response=norton_response(20))
    obs = resources(out, "Observation")[0]
    assert obs["valueInteger"] == 20
    assert obs["code"]["coding"][0] == {"system": ASSESSMENT, "code": "modified-norton",
                                        "display": "Modifierad Nortonskala"}
    assert obs["interpretation"][0]["coding"][0]["code"] == "risk"
    assert obs["encounter"] == {"reference": f"Encounter/{enc}"}
    assert len(obs["component"]) == 7
    assert stamp(obs)["unit"] == MED1 and stamp(obs)["profession"] == "registered-nurse"
    qr = resources(out, "QuestionnaireResponse")[0]
    assert obs["derivedFrom"] == [{"reference": f"QuestionnaireResponse/{qr['id']}"}]
    assert qr["item"][-1] == {"linkId": "total", "text": "Summa (räknad av servern)",
                              "answer": [{"valueInteger": 20}]}
    updated = resources(out, "CarePlan")[0]
    proposed = [a for a in updated["activity"]
                if any(e["url"].endswith("proposed-by") for e in a.get("extension", []))]
    assert len(proposed) == 5
    assert all(a["detail"]["status"] == "not-started" for a in proposed)
    # A second assessment at risk does not propose the same interventions again.
    out = nurse.ok(f"Patient/{pid}/$risk-assessment", 201, response=norton_response(18))
    assert resources(out, "CarePlan") == []
    assert len(nurse.read(f"CarePlan/{plan['id']}")["activity"]) == 5
    # Accepting one proposal makes it the plan's own intervention.
    accepted = nurse.ok(f"CarePlan/{plan['id']}/$careplan-update-activity",
                        activity=proposed[0]["id"], status="scheduled")
    first = resources(accepted, "CarePlan")[0]["activity"][0]
    assert not any(e["url"].endswith("proposed-by") for e in first["extension"])
    # Applying the template replaces the remaining proposals with the applied interventions.
    r = nurse.op("PlanDefinition/$apply", url="https://vardnav.se/fhir/PlanDefinition/"
                                              "pressure-ulcer-prevention",
                 carePlan={"reference": f"CarePlan/{plan['id']}"})
    assert r.status_code == 200, r.text
    assert len(r.json()["activity"]) == 6  # the accepted one and the template's five


def test_who_assessed_is_the_server_s_word_not_the_client_s(cp_world: World) -> None:
    w = cp_world
    w.admit("Andersson")
    forged = norton_response(25)
    forged["extension"] = [{"url": RECORDED_BY, "extension": [
        {"url": "profession", "valueCoding": {"code": "physician"}},
        {"url": "unit", "valueIdentifier": {"value": "SE-somewhere-else"}}]}]
    forged["author"] = {"reference": "Practitioner/someone-else"}
    out = w.staff["usk"].ok(f"Patient/{w.patients['Andersson']}/$risk-assessment", 201,
                            response=forged)
    qr = resources(out, "QuestionnaireResponse")[0]
    assert [e["url"] for e in qr["extension"]] == [RECORDED_BY]
    assert stamp(qr)["profession"] == "assistant-nurse" and stamp(qr)["unit"] == MED1
    assert qr["author"] == {"reference": w.staff["usk"].practitioner}


def test_no_risk_proposes_nothing(cp_world: World) -> None:
    w = cp_world
    plan = w.plan_of(w.admit("Andersson"))
    out = w.staff["nurse"].ok(f"Patient/{w.patients['Andersson']}/$risk-assessment", 201,
                              response=norton_response(21, sent_total=21))
    assert resources(out, "Observation")[0]["interpretation"][0]["coding"][0]["code"] == \
        "no-risk"
    assert resources(out, "CarePlan") == []
    assert "activity" not in w.staff["nurse"].read(f"CarePlan/{plan['id']}")


def test_downton_and_mna_sf_propose_their_templates(cp_world: World) -> None:
    w = cp_world
    plan = w.plan_of(w.admit("Andersson"))
    pid = w.patients["Andersson"]
    high = response("downton", {"previous-falls": ["yes"], "medications": ["diuretics"],
                                "sensory-deficits": ["none"], "mental-state": ["oriented"],
                                "gait": ["unsafe"]})
    out = w.staff["usk"].ok(f"Patient/{pid}/$risk-assessment", 201, response=high)
    assert resources(out, "Observation")[0]["valueInteger"] == 3
    mna = response("mna-sf", {"food-intake": ["moderate-decrease"], "weight-loss": ["1-3kg"],
                              "mobility": ["goes-out"], "acute-stress": ["no"],
                              "neuropsychological": ["none"], "bmi": ["21-23"]})
    out = w.staff["dietitian"].ok(f"Patient/{pid}/$risk-assessment", 201, response=mna)
    assert resources(out, "Observation")[0]["valueInteger"] == 11
    activity = w.staff["nurse"].read(f"CarePlan/{plan['id']}")["activity"]
    risks = {a["detail"]["reasonCode"][0]["coding"][0]["code"] for a in activity}
    assert risks == {"falls", "malnutrition"}


def test_a_score_that_does_not_match_its_answers_is_refused_and_nothing_written(
        cp_world: World) -> None:
    w = cp_world
    plan = w.plan_of(w.admit("Andersson"))
    nurse = w.staff["nurse"]
    pid = w.patients["Andersson"]
    before = (_count(w, "Observation"), _count(w, "QuestionnaireResponse"))
    message = nurse.refused(f"Patient/{pid}/$risk-assessment", 422,
                            response=norton_response(18, sent_total=24))
    assert "does not match" in message and "18" in message
    for bad, status in ((response("modified-norton", {"mobility": ["full"]}), 422),
                        (norton_response(18, subject="Patient/someone-else"), 422),
                        ({**norton_response(18), "status": "in-progress"}, 422),
                        ({**norton_response(18), "questionnaire": "http://x/Q/phq"}, 422),
                        ({"resourceType": "Observation"}, 400)):
        nurse.refused(f"Patient/{pid}/$risk-assessment", status, response=bad)
    assert nurse.refused(f"Patient/{pid}/$risk-assessment", 400) != ""
    assert (_count(w, "Observation"), _count(w, "QuestionnaireResponse")) == before
    assert "activity" not in nurse.read(f"CarePlan/{plan['id']}")
    # A score cannot be written past the server either.
    forged = {"resourceType": "Observation", "status": "final",
              "code": {"coding": [{"system": ASSESSMENT, "code": "modified-norton"}]},
              "subject": {"reference": f"Patient/{pid}"}, "valueInteger": 28}
    r = w.c.post("/fhir/Observation", json=forged, headers={**FHIR_JSON, **nurse.h})
    assert r.status_code == 403, r.text


def test_assessment_without_a_plan_is_stored_with_a_warning(cp_world: World) -> None:
    w = cp_world
    pid = w.patients["Andersson"]
    w.c.post(f"/fhir/Patient/{pid}/$assert-care-relationship", headers={
        **FHIR_JSON, **w.staff["nurse"].h}, json={"resourceType": "Parameters", "parameter": [
            {"name": "reason", "valueString": "Bedömning inför inskrivning"}]})
    out = w.staff["nurse"].ok(f"Patient/{pid}/$risk-assessment", 201,
                              response=norton_response(12))
    warning = resources(out, "OperationOutcome")[0]["issue"][0]["diagnostics"]
    assert "no active care plan" in warning
