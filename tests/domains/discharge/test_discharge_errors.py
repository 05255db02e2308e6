"""Bad input and steps out of order: a 4xx OperationOutcome, and nothing half-written."""

from __future__ import annotations

from typing import Any

import pytest
from discharge_support import GBG, VC_GBG, World
from sqlalchemy import func, select

from vardnav.fhir.storage.tables import resource, resource_version

pytest_plugins = ("discharge_fixtures",)


def _count(w: World) -> tuple[int, int]:
    with w.engine.connect() as conn:
        return (conn.execute(select(func.count()).select_from(resource)).scalar_one(),
                conn.execute(select(func.count()).select_from(resource_version)).scalar_one())


def _refused(w: World, r: Any, status: int, before: tuple[int, int]) -> None:
    assert r.status_code == status, r.text
    assert r.json()["resourceType"] == "OperationOutcome"
    assert _count(w) == before


@pytest.fixture
def marked(world: World) -> tuple[World, str]:
    enc = world.admit("Göransson")
    world.staff["nurse"].ok(f"Encounter/{enc}/$discharge-mark-support", 201, consent=True)
    return world, enc


def test_bad_requests_write_nothing(marked: tuple[World, str]) -> None:
    w, enc = marked
    nurse, doctor, vc = w.staff["nurse"], w.staff["doctor"], w.staff["vc"]
    before = _count(w)
    path = f"Encounter/{enc}"
    cases: list[tuple[Any, int]] = [
        (nurse.op(f"{path}/$discharge-mark-support"), 409),  # one case per stay
        (nurse.op("Encounter/nope/$discharge-mark-support"), 404),
        (nurse.c.post(f"/fhir/{path}/$discharge-planning", json={"resourceType": "Patient"},
                      headers={**nurse.h, "content-type": "application/fhir+json"}), 400),
        (nurse.op(f"{path}/$discharge-planning", expectedNeeds="Hemtjänst"), 400),
        (nurse.op(f"{path}/$discharge-planning", functionalStatus="x", expectedNeeds="y",
                  expectedDischarge="nästa vecka"), 400),
        (nurse.op(f"{path}/$discharge-planning", functionalStatus="x", expectedNeeds="y",
                  sipNeeded="ja"), 400),
        (doctor.op(f"{path}/$discharge-ready-withdraw", reason="Feber",
                   physician=f"Practitioner/{w.doctor}"), 422),  # not ready
        (doctor.op(f"{path}/$discharge-ready", physician="Practitioner/unknown"), 404),
        (doctor.op(f"{path}/$discharge-ready", physician=f"Patient/{w.doctor}"), 400),
        (vc.op(f"{path}/$discharge-sip", consent=False,
               responsible=f"Organization/{w.orgs[VC_GBG]}",
               action=[{"description": "Hemtjänst",
                        "provider": f"Organization/{w.orgs[GBG]}"}]), 422),  # no consent
        (vc.op(f"{path}/$discharge-sip", consent=True,
               responsible=f"Organization/{w.orgs[VC_GBG]}",
               action=[{"description": "Hemtjänst"}]), 400),  # an action needs a provider
        (vc.op(f"{path}/$discharge-sip", consent=True,
               responsible="Organization/unknown",
               action=[{"description": "Hemtjänst",
                        "provider": f"Organization/{w.orgs[GBG]}"}]), 400),
        (vc.op(f"{path}/$discharge-sip-call", meetingAt="2026-03-10"), 400),
        (vc.op(f"{path}/$discharge-sip-call", meetingAt=w.clock.at.replace(day=1)), 400),
        (vc.op(f"{path}/$discharge-care-contact", practitioner="Practitioner/unknown"), 404),
        (doctor.op(f"{path}/$discharge-information", reasonForAdmission="Fall",
                   summary="Opererad", currentStatus="Stabil",
                   responsiblePhysician=f"Practitioner/{w.doctor}"), 400),  # no care plan
        (doctor.op(f"{path}/$discharge-information", summary="Opererad"), 400),
        (nurse.op(f"{path}/$discharge-send-notices"), 422),  # already sent
        (nurse.op(f"Task/{w.case(enc)['id']}/$discharge-acknowledge"), 404),  # not a notice
        (w.report(period="mars"), 400),
        (w.report(municipality="9999"), 400),
        (w.report(municipality=w.orgs[VC_GBG]), 400),  # not a municipality
    ]
    for n, (r, status) in enumerate(cases):
        assert r.status_code == status, (n, r.text)
        assert r.json()["resourceType"] == "OperationOutcome", n
    assert _count(w) == before


def test_steps_out_of_order(world: World) -> None:
    w = world
    enc = w.admit("Göransson")
    doctor, nurse, gbg = w.staff["doctor"], w.staff["nurse"], w.staff["gbg"]
    before = _count(w)
    _refused(w, doctor.op(f"Encounter/{enc}/$discharge-ready",
                          physician=f"Practitioner/{w.doctor}"), 404, before)  # no case
    nurse.ok(f"Encounter/{enc}/$discharge-mark-support", 201, send=False, consent=True)
    before = _count(w)
    _refused(w, nurse.op(f"Encounter/{enc}/$discharge-planning", functionalStatus="x",
                         expectedNeeds="y"), 422, before)  # notices not sent yet
    nurse.ok(f"Encounter/{enc}/$discharge-send-notices")
    doctor.ok(f"Encounter/{enc}/$discharge-ready", physician=f"Practitioner/{w.doctor}")
    before = _count(w)
    _refused(w, doctor.op(f"Encounter/{enc}/$discharge-ready",
                          physician=f"Practitioner/{w.doctor}"), 422, before)
    notice = w.notices(enc)[GBG]["id"]
    gbg.ok(f"Task/{notice}/$discharge-acknowledge")
    before = _count(w)
    _refused(w, gbg.op(f"Task/{notice}/$discharge-acknowledge"), 422, before)
    w.discharge(enc, w.clock.at.replace(day=4))
    before = _count(w)
    _refused(w, doctor.op(f"Encounter/{enc}/$discharge-ready-withdraw", reason="x",
                          physician=f"Practitioner/{w.doctor}"), 422, before)


def test_only_inpatient_stays_have_cases(world: World) -> None:
    w = world
    r = w.c.post(f"/fhir/Patient/{w.patients['Göransson']}/$register-visit", json={
        "resourceType": "Parameters", "parameter": [
            {"name": "unit", "valueString": w.orgs["SE2321000131-VC01"]},
            {"name": "kind", "valueCode": "outpatient"}]})
    assert r.status_code == 201, r.text
    before = _count(w)
    _refused(w, w.staff["vc"].op(f"Encounter/{r.json()['id']}/$discharge-mark-support"),
             422, before)
