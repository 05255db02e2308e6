"""The plan goes along at discharge: the discharge information (issue 6) refers to the
stay's interprofessional plan, the municipality that receives the patient reads it (with the
patient's consent), and the ADT discharge closes it."""

from __future__ import annotations

from careplan_support import OCKERO, World, norton_response, params

from conftest import FHIR_JSON
from vardnav.domains.identity.organisation.region import HSA_SYSTEM

pytest_plugins = ("careplan_fixtures",)


def test_discharge_information_carries_the_plan_and_discharge_closes_it(
        cp_world: World) -> None:
    w = cp_world
    enc = w.admit("Andersson")
    plan = w.plan_of(enc)
    nurse, doctor = w.staff["nurse"], w.staff["doctor"]
    nurse.ok(f"Patient/{w.patients['Andersson']}/$risk-assessment", 201,
             response=norton_response(16))
    primary = w.first(f"Organization?identifier={HSA_SYSTEM}|SE2321000131-VC01")["id"]
    nurse.ok(f"Encounter/{enc}/$discharge-mark-support", 201, consent=True,
             municipality={"reference": f"Organization/{w.orgs[OCKERO]}"},
             primaryCare={"reference": f"Organization/{primary}"})
    out = doctor.ok(f"Encounter/{enc}/$discharge-information",
                    reasonForAdmission="Fall i hemmet", summary="Mobiliserad",
                    currentStatus="Går med rollator",
                    responsiblePhysician={"reference": doctor.practitioner},
                    riskAssessments="Modifierad Norton 16: risk för trycksår",
                    carePlanReference={"reference": f"CarePlan/{plan['id']}"})
    composition = next(e["resource"] for e in out["entry"]
                       if e["resource"]["resourceType"] == "Composition")
    section = next(s for s in composition["section"] if s["title"] == "Vårdplan")
    assert section["entry"] == [{"reference": f"CarePlan/{plan['id']}"}]
    # The municipality that takes over (consent given at marking) reads the plan.
    w.home_care("Andersson")
    assert w.staff["home_nurse"].sees(f"CarePlan/{plan['id']}")
    r = w.c.post(f"/fhir/Encounter/{enc}/$discharge", headers=FHIR_JSON, json=params(
        disposition=("Code", "home")))
    assert r.status_code == 200, r.text
    closed = w.staff["home_nurse"].read(f"CarePlan/{plan['id']}")
    assert closed["status"] == "completed"
    reason = next(e for e in closed["extension"] if e["url"].endswith("close-reason"))
    assert reason["valueCoding"]["code"] == "discharge"
    # Closed: the municipality starts its own plan for its own episode of care.
    assert "closed plan" in w.staff["home_nurse"].refused(
        f"CarePlan/{plan['id']}/$careplan-note", 422, text="Hemkommen")
