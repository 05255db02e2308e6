"""Who sees and does what: a municipality sees only its own residents' cases and only with the
patient's consent (through the PDL layer); receivers act on their own notices only; hospital
steps stay with the hospital; municipal staff act under option 1 (Task, Communication)."""

from __future__ import annotations

from discharge_support import BORAS, GBG, VC_GBG, World

pytest_plugins = ("discharge_fixtures",)

CASE_CODE = "https://vardnav.se/fhir/CodeSystem/discharge-coordination|coordination"


def _mark(w: World, name: str, consent: bool = True) -> str:
    enc = w.admit(name)
    w.staff["nurse"].ok(f"Encounter/{enc}/$discharge-mark-support", 201, consent=consent)
    return enc


def test_a_municipality_sees_only_its_own_residents_cases(world: World) -> None:
    w = world
    gbg_enc, boras_enc = _mark(w, "Göransson"), _mark(w, "Borg")
    gbg, boras = w.staff["gbg"], w.staff["boras"]
    gbg_case, boras_case = w.case(gbg_enc)["id"], w.case(boras_enc)["id"]
    # What the messages say, the stay, the planning: only the patient's own municipality.
    assert not boras.sees(f"Encounter/{gbg_enc}")
    assert boras.ids(f"Communication?part-of=Task/{gbg_case}") == set()
    assert gbg.ids(f"Communication?part-of=Task/{gbg_case}") != set()
    assert boras.ids(f"Communication?subject=Patient/{w.patients['Göransson']}") == set()
    # Its report holds its own residents only; another municipality's is refused.
    rows = [p for p in w.report(boras, period="2026-03").json()["parameter"]
            if p["name"] == "case"]
    assert [next(x["valueString"] for x in r["part"] if x["name"] == "case")
            for r in rows] == [f"Task/{boras_case}"]
    refused = w.report(boras, municipality="1480", period="2026-03")
    assert refused.status_code == 403
    assert refused.json()["resourceType"] == "OperationOutcome"
    csv = w.report(boras, period="2026-03", _format="csv")
    assert csv.status_code == 200 and csv.text.count("\r\n") == 2  # header and one case


def test_without_consent_the_municipality_does_not_see_the_notice(world: World) -> None:
    w = world
    enc = _mark(w, "Göransson", consent=False)
    gbg, vc = w.staff["gbg"], w.staff["vc"]
    notice = w.notices(enc)[GBG]["id"]
    message = next(m for m in w.messages(enc, "admission-notice")
                   if m["recipient"][0]["identifier"]["value"] == GBG)
    assert not gbg.sees(f"Communication/{message['id']}")  # a relationship, no consent
    assert not gbg.sees(f"Encounter/{enc}")
    assert gbg.op(f"Task/{notice}/$discharge-acknowledge").status_code == 404
    # Primary care is the same care provider as the hospital: no consent needed.
    assert vc.ids(f"Communication?subject=Patient/{w.patients['Göransson']}")
    w.consent("Göransson", GBG)
    assert gbg.sees(f"Communication/{message['id']}")
    assert gbg.op(f"Task/{notice}/$discharge-acknowledge").status_code == 200


def test_receivers_acknowledge_only_their_own_notices(world: World) -> None:
    w = world
    enc = _mark(w, "Göransson")
    notices = w.notices(enc)
    vc, gbg, nurse = w.staff["vc"], w.staff["gbg"], w.staff["nurse"]
    assert vc.op(f"Task/{notices[GBG]['id']}/$discharge-acknowledge").status_code == 403
    assert nurse.op(f"Task/{notices[GBG]['id']}/$discharge-acknowledge").status_code == 403
    assert gbg.op(f"Task/{notices[VC_GBG]['id']}/$discharge-acknowledge").status_code == 403
    assert gbg.op(f"Task/{notices[GBG]['id']}/$discharge-acknowledge").status_code == 200
    received = {m["recipient"][0]["identifier"]["value"]: "received" in m
                for m in w.messages(enc, "admission-notice")}
    assert received == {GBG: True, VC_GBG: False}


def test_hospital_steps_stay_with_the_hospital(world: World) -> None:
    w = world
    enc = _mark(w, "Göransson")
    gbg, nurse, vc = w.staff["gbg"], w.staff["nurse"], w.staff["vc"]
    assert gbg.sees(f"Encounter/{enc}")  # with consent it may read the stay ...
    for step, values in (("discharge-planning", {"functionalStatus": "x",
                                                  "expectedNeeds": "y"}),
                         ("discharge-send-notices", {})):
        assert gbg.op(f"Encounter/{enc}/${step}", **values).status_code == 403
    # ... and only a physician judges the patient ready.
    assert gbg.op(f"Encounter/{enc}/$discharge-ready").status_code == 403
    assert nurse.op(f"Encounter/{enc}/$discharge-ready",
                    physician=f"Practitioner/{w.doctor}").status_code == 403
    # Only the primary-care unit appoints the named care contact.
    assert nurse.op(f"Encounter/{enc}/$discharge-care-contact",
                    practitioner=f"Practitioner/{w.doctor}").status_code == 403
    assert vc.op(f"Encounter/{enc}/$discharge-care-contact",
                 practitioner=f"Practitioner/{w.doctor}").status_code == 200


def test_municipal_staff_exchange_information_but_do_not_document(world: World) -> None:
    w = world
    enc = _mark(w, "Göransson")
    r = w.staff["gbg"].op(f"Encounter/{enc}/$discharge-sip", consent=True,
                          responsible=f"Organization/{w.orgs[GBG]}",
                          action=[{"description": "Hemtjänst",
                                   "provider": f"Organization/{w.orgs[GBG]}"}])
    assert r.status_code == 403 and "option 3" in r.text


def test_a_municipality_without_option_1_sees_nothing(world: World) -> None:
    w = world
    enc = _mark(w, "Borg")
    org = w.c.get(f"/fhir/Organization/{w.orgs[BORAS]}").json()
    r = w.c.post(f"/fhir/Organization/{org['id']}/$set-options",
                 json={"resourceType": "Parameters", "parameter": []})
    assert r.status_code == 200, r.text
    assert w.staff["boras"].get(f"Task/{w.notices(enc)[BORAS]['id']}").status_code == 403


def test_case_and_notice_tasks_are_filtered_like_patient_data(world: World) -> None:
    """Case and notice Tasks are the patient's data (the engine files a Task under Task.for):
    one municipality never finds another's residents' cases or notices."""
    w = world
    gbg_enc, boras_enc = _mark(w, "Göransson"), _mark(w, "Borg")
    gbg, boras = w.staff["gbg"], w.staff["boras"]
    assert gbg.ids(f"Task?code={CASE_CODE}") == {f"Task/{w.case(gbg_enc)['id']}"}
    assert not boras.sees(f"Task/{w.notices(gbg_enc)[GBG]['id']}")
    assert boras_enc
