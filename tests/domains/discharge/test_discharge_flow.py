"""The whole process for one stay, through the API, across region and municipality, with the
workflow's clock moved: mark → admission notices → acknowledgement → named care contact →
planning → ready → SIP call and SIP → discharge information → discharge (A03)."""

from __future__ import annotations

from discharge_support import GBG, MED1, T0, VC_GBG, World

pytest_plugins = ("discharge_fixtures",)

PROCESS = "https://vardnav.se/fhir/CodeSystem/discharge-coordination"


def _of(bundle: dict, rtype: str) -> list[dict]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == rtype]


def test_a_stay_from_admission_to_discharge(world: World) -> None:
    w = world
    nurse, doctor, vc, gbg = (w.staff[k] for k in ("nurse", "doctor", "vc", "gbg"))
    enc = w.admit("Göransson")
    w.clock.move(hours=3)
    marked = nurse.ok(f"Encounter/{enc}/$discharge-mark-support", 201, consent=True,
                      judgedAt=T0)
    case = _of(marked, "Task")[0]
    assert case["code"]["coding"][0]["code"] == "coordination"
    notices = w.notices(enc)
    assert set(notices) == {GBG, VC_GBG}
    for notice in notices.values():
        assert notice["status"] == "requested"
        assert notice["restriction"]["period"]["end"].startswith("2026-03-03T09:00")
    admission = w.messages(enc, "admission-notice")
    assert len(admission) == 2
    assert any("Personnummer" in p.get("contentString", "") for p in admission[0]["payload"])
    # The municipality sees the notice and acknowledges it; planning starts.
    assert gbg.sees(f"Task/{notices[GBG]['id']}")
    w.clock.move(hours=2)
    acked = gbg.ok(f"Task/{notices[GBG]['id']}/$discharge-acknowledge")
    assert [m["received"] for m in _of(acked, "Communication")]
    assert w.notices(enc)[GBG]["status"] == "received"
    # Primary care appoints the named care contact.
    team = _of(vc.ok(f"Encounter/{enc}/$discharge-care-contact",
                     practitioner=f"Practitioner/{w.doctor}"), "CareTeam")[0]
    assert team["participant"][0]["member"]["reference"] == f"Practitioner/{w.doctor}"
    # Planning information, shared and acknowledged.
    nurse.ok(f"Encounter/{enc}/$discharge-planning", functionalStatus="Går med rollator",
             expectedNeeds="Hemtjänst tre gånger dagligen", sipNeeded=True,
             expectedDischarge="2026-03-09")
    assert len(w.messages(enc, "planning-information")) == 2
    gbg.ok(f"Task/{notices[GBG]['id']}/$discharge-acknowledge")
    # Ready for discharge on day 4; SIP called the next day; the SIP recorded.
    w.clock.at = T0.replace(day=5, hour=10)
    doctor.ok(f"Encounter/{enc}/$discharge-ready", physician=f"Practitioner/{w.doctor}")
    assert len(w.messages(enc, "ready-for-discharge")) == 2
    w.clock.move(days=1)
    vc.ok(f"Encounter/{enc}/$discharge-sip-call",
          meetingAt=w.clock.at.replace(hour=14))
    sip = vc.ok(f"Encounter/{enc}/$discharge-sip", 201, consent=True,
                responsible=f"Organization/{w.orgs[VC_GBG]}", action=[
                    {"description": "Hemtjänst", "provider": f"Organization/{w.orgs[GBG]}"},
                    {"description": "Läkemedelsgenomgång",
                     "provider": f"Organization/{w.orgs[VC_GBG]}"}])
    plan = _of(sip, "CarePlan")[0]
    assert len(plan["activity"]) == 2 and plan["supportingInfo"]
    # Discharge information on the day of discharge, then the discharge (A03).
    w.clock.at = T0.replace(day=9, hour=9)
    doctor.ok(f"Encounter/{enc}/$discharge-information", reasonForAdmission="Fall i hemmet",
              summary="Höftfraktur opererad", currentStatus="Stabil",
              responsiblePhysician=f"Practitioner/{w.doctor}",
              riskAssessments="Downton 4: hög fallrisk")
    w.discharge(enc, T0.replace(day=9, hour=11))
    done = w.case(enc)
    assert done["status"] == "completed"
    assert done["businessStatus"]["coding"][0]["code"] == "discharged"
    # The municipality acknowledges the discharge information: its part is done.
    gbg.ok(f"Task/{notices[GBG]['id']}/$discharge-acknowledge")
    assert w.notices(enc)[GBG]["status"] == "completed"
    # Ready on the 5th, discharged on the 9th: payable from the 8th (5 + 3), not the 9th.
    report = w.report(period="2026-03").json()
    summary = {p["name"]: p for p in next(p for p in report["parameter"]
                                          if p["name"] == "summary")["part"]}
    assert summary["paymentDays"]["valueInteger"] == 1
    assert summary["amount"]["valueMoney"]["value"] == 7800
    assert summary["overdueNotices"]["valueInteger"] == 0
    assert summary["meanDaysReadyToDischarge"]["valueDecimal"] == 4
    assert MED1
