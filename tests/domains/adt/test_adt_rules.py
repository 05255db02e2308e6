"""Every rule violation is a clear 4xx OperationOutcome, and a refused step writes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from adt_support import GER2, MED1, World

from conftest import FHIR_JSON, bearer, mint_token

pytest_plugins = ("adt_fixtures",)  # its fixtures


def refused(w: World, path: str, expect: int, words: str, headers: dict[str, str] | None = None,
            body: Any = None, **values: Any) -> None:
    """The step is refused with `expect` and a message containing `words`; nothing changed."""
    before = w.snapshot()
    if body is not None:
        r = w.c.post(f"/fhir/{path}", json=body, headers={**FHIR_JSON, **(headers or {})})
    else:
        r = w.op(path, headers, **values)
    assert r.status_code == expect, r.text
    outcome = r.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert words.lower() in outcome["issue"][0]["diagnostics"].lower(), outcome
    assert w.snapshot() == before


def test_one_patient_per_bed(world: World) -> None:
    w = world
    w.admit(0)
    refused(w, f"Patient/{w.patients[1]}/$admit", 409, "occupied by another patient",
            bed=w.beds[MED1][0], attending=w.doctors[0])


def test_one_active_stay_per_patient(world: World) -> None:
    w = world
    w.admit(0)
    refused(w, f"Patient/{w.patients[0]}/$admit", 409, "already has an active inpatient stay",
            bed=w.beds[GER2][0], attending=w.doctors[0])
    refused(w, f"Patient/{w.patients[0]}/$admit", 409, "already has an active inpatient stay",
            ward=w.wards[GER2], attending=w.doctors[0])


def test_no_admission_or_transfer_to_a_closed_or_uncleaned_bed(world: World) -> None:
    w = world
    closed, dirty = w.beds[MED1][3], w.beds[MED1][4]
    w.ok(f"Location/{closed}/$set-bed-status", status="C")
    w.ok(f"Location/{dirty}/$set-bed-status", status="H")
    refused(w, f"Patient/{w.patients[0]}/$admit", 422, "closed", bed=closed,
            attending=w.doctors[0])
    refused(w, f"Patient/{w.patients[0]}/$admit", 422, "being cleaned", bed=dirty,
            attending=w.doctors[0])
    enc = w.admit(0)
    refused(w, f"Encounter/{enc['id']}/$transfer", 422, "closed", bed=closed)
    refused(w, f"Encounter/{enc['id']}/$transfer", 422, "being cleaned", bed=dirty)


def test_no_transfer_to_an_occupied_bed_or_where_the_patient_is(world: World) -> None:
    w = world
    first = w.admit(0)
    w.admit(1, bed=w.beds[MED1][1])
    refused(w, f"Encounter/{first['id']}/$transfer", 409, "occupied", bed=w.beds[MED1][1])
    refused(w, f"Encounter/{first['id']}/$transfer", 422, "already there",
            bed=w.beds[MED1][0])
    refused(w, f"Encounter/{first['id']}/$transfer", 400, "give a bed, a ward")


def test_discharge_only_of_an_admitted_patient(world: World) -> None:
    w = world
    pre = w.ok(f"Patient/{w.patients[0]}/$pre-admit", 201, ward=w.wards[MED1],
               expectedAt=datetime.now(UTC).isoformat())
    refused(w, f"Encounter/{pre['id']}/$discharge", 422, "only an admitted patient",
            disposition="home")
    enc = w.admit(1)
    w.ok(f"Encounter/{enc['id']}/$discharge", disposition="home")
    refused(w, f"Encounter/{enc['id']}/$discharge", 422, "only an admitted patient",
            disposition="home")
    refused(w, f"Encounter/{enc['id']}/$transfer", 422, "is finished", bed=w.beds[MED1][1])
    refused(w, f"Encounter/{enc['id']}/$leave", 422, "only an admitted patient goes on leave")


def test_an_encounter_made_outside_the_workflow_is_not_stepped(world: World) -> None:
    w = world
    r = w.c.post("/fhir/Encounter", headers=FHIR_JSON, json={
        "resourceType": "Encounter", "status": "in-progress",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
        "subject": {"reference": f"Patient/{w.patients[0]}"}})
    assert r.status_code == 201
    refused(w, f"Encounter/{r.json()['id']}/$discharge", 422, "not registered through the ADT",
            disposition="home")


def test_leave_and_return_in_their_states(world: World) -> None:
    w = world
    enc = w.admit(0)
    refused(w, f"Encounter/{enc['id']}/$return", 422, "only a patient on leave")
    w.ok(f"Encounter/{enc['id']}/$leave")
    refused(w, f"Encounter/{enc['id']}/$leave", 422, "only an admitted patient")
    refused(w, f"Encounter/{enc['id']}/$transfer", 422, "register the return",
            bed=w.beds[MED1][3])
    # Discharge straight from leave is allowed (the patient did not come back).
    w.ok(f"Encounter/{enc['id']}/$discharge", disposition="home")


def test_visits_are_not_transferred_or_sent_on_leave(world: World) -> None:
    w = world
    visit = w.ok(f"Patient/{w.patients[0]}/$register-visit", 201, unit=w.units[MED1],
                 kind="emergency")
    refused(w, f"Encounter/{visit['id']}/$transfer", 422, "only an inpatient stay",
            bed=w.beds[MED1][0])
    refused(w, f"Encounter/{visit['id']}/$leave", 422, "only an inpatient stay")
    w.ok(f"Encounter/{visit['id']}/$discharge", disposition="home")  # the visit ends


@pytest.mark.parametrize(("values", "status", "words"), [
    ({"bed": None}, 400, "give a bed, a ward"),
    ({"attending": None}, 400, "'attending' (Practitioner) is required"),
    ({"attending": "Practitioner/nobody"}, 400, "Practitioner/nobody is not known"),
    ({"bed": "Location/nowhere"}, 404, "Location/nowhere is not known"),
    ({"bed": "Organization/x"}, 400, "must refer to a Location"),
    ({"at": "2026-01-01T10:00:00"}, 400, "time zone"),
    ({"at": "2026-01-01"}, 400, "time zone"),
    ({"expectedDischarge": "soon"}, 400, "time zone"),
    ({"bed": {"identifier": {"system": "urn:oid:1.2.752.29.4.19", "value": "X"}}}, 400,
     "no Location has the identifier"),
])
def test_bad_admission_parameters(world: World, values: dict[str, Any], status: int,
                                  words: str) -> None:
    w = world
    args: dict[str, Any] = {"bed": w.beds[MED1][0], "attending": w.doctors[0], **values}
    refused(w, f"Patient/{w.patients[0]}/$admit", status, words, **args)


def test_bad_bodies_and_unknown_targets(world: World) -> None:
    w = world
    refused(w, f"Patient/{w.patients[0]}/$admit", 400, "takes a Parameters resource",
            body={"resourceType": "Patient"})
    refused(w, "Patient/nobody/$admit", 404, "Patient/nobody is not known",
            bed=w.beds[MED1][0], attending=w.doctors[0])
    refused(w, "Encounter/nothing/$discharge", 404, "Encounter/nothing is not known",
            disposition="home")
    enc = w.admit(0)
    refused(w, f"Encounter/{enc['id']}/$discharge", 400, "unknown disposition",
            disposition="hem")
    refused(w, f"Encounter/{enc['id']}/$discharge", 400, "'disposition' is required")
    refused(w, f"Encounter/{enc['id']}/$update-staff", 400, "nothing to update")
    refused(w, f"Patient/{w.patients[1]}/$register-visit", 400, "kind must be one of",
            unit=w.units[MED1], kind="inpatient")
    refused(w, f"Location/{w.beds[MED1][0]}/$set-bed-status", 409, "occupied", status="C")
    refused(w, f"Location/{w.beds[MED1][1]}/$set-bed-status", 422, "admission or transfer",
            status="O")
    refused(w, f"Location/{w.wards[MED1]}/$set-bed-status", 400, "not a bed", status="C")
    refused(w, f"Location/{w.beds[MED1][1]}/$set-bed-status", 400, "status must be",
            status="X")


def test_steps_come_in_order(world: World) -> None:
    w = world
    now = datetime.now(UTC)
    enc = w.admit(0, at=now.isoformat())
    refused(w, f"Encounter/{enc['id']}/$transfer", 422, "precedes",
            bed=w.beds[MED1][1], at=(now - timedelta(hours=1)).isoformat())
    refused(w, f"Encounter/{enc['id']}/$discharge", 422, "precedes", disposition="home",
            at=(now - timedelta(minutes=5)).isoformat())


def test_only_staff_and_systems_take_steps(world: World) -> None:
    w = world
    resident = bearer(mint_token(w.settings, "patient/*.cruds", kind="resident",
                                 subject=f"patient:{w.patients[0]}", patient=w.patients[0],
                                 fhir_user=f"Patient/{w.patients[0]}"))
    refused(w, f"Patient/{w.patients[0]}/$admit", 403, "staff or by system", resident,
            bed=w.beds[MED1][0], attending=w.doctors[0])
    reader = w.staff(MED1, scopes="user/*.rs")
    refused(w, f"Patient/{w.patients[0]}/$admit", 403, "update", reader,
            bed=w.beds[MED1][0], attending=w.doctors[0])
    enc = w.admit(0)
    refused(w, f"Encounter/{enc['id']}/$discharge", 403, "staff or by system", resident,
            disposition="home")
    refused(w, f"Location/{w.beds[MED1][1]}/$set-bed-status", 403, "staff or by system",
            resident, status="C")
    r = w.c.get(f"/fhir/Location/{w.wards[MED1]}/$bed-board", headers=resident)
    assert r.status_code == 403, r.text


def test_staff_of_another_unit_do_not_learn_who_is_in_the_bed(world: World) -> None:
    w = world
    w.admit(0)
    other = w.staff(GER2)
    r = w.op(f"Patient/{w.patients[1]}/$admit", other, bed=w.beds[MED1][0],
             attending=w.doctors[0])
    assert r.status_code == 409
    assert w.patients[0] not in r.text
