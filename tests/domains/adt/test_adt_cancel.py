"""Corrections (A11, A12, A13) restore the previous state exactly: the Encounter (status,
location list with periods, participants...), the beds' status and the rule tables."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from adt_support import GER2, MED1, World

pytest_plugins = ("adt_fixtures",)  # its fixtures


def _without_steps(snapshot: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in snapshot.items() if k != "steps"}


def test_cancel_transfer_restores_everything(world: World) -> None:
    w = world
    enc = w.admit(0, bed=w.beds[MED1][0])
    before = w.snapshot()
    w.ok(f"Encounter/{enc['id']}/$transfer", bed=w.beds[GER2][0])
    assert _without_steps(w.snapshot()) != _without_steps(before)
    restored = w.ok(f"Encounter/{enc['id']}/$cancel-transfer")
    assert _without_steps(w.snapshot()) == _without_steps(before)
    assert restored["serviceProvider"]["reference"] == f"Organization/{w.units[MED1]}"


def test_cancel_discharge_restores_everything(world: World) -> None:
    w = world
    enc = w.admit(0, bed=w.beds[MED1][0])
    w.ok(f"Encounter/{enc['id']}/$leave")
    before = w.snapshot()
    w.ok(f"Encounter/{enc['id']}/$discharge", disposition="deceased")
    w.ok(f"Encounter/{enc['id']}/$cancel-discharge")
    assert _without_steps(w.snapshot()) == _without_steps(before)  # on leave, as before


def test_cancel_discharge_voids_the_summary(world: World) -> None:
    w = world
    enc = w.admit(0)
    before = w.snapshot()
    w.ok(f"Encounter/{enc['id']}/$discharge", disposition="home", summary="Hem.")
    w.ok(f"Encounter/{enc['id']}/$cancel-discharge")
    after = _without_steps(w.snapshot())
    summaries = {k: v for k, v in after["resources"].items() if k.startswith("Composition/")}
    assert [v["status"] for v in summaries.values()] == ["entered-in-error"]
    for key in summaries:
        del after["resources"][key]
    assert after == _without_steps(before)


def test_cancel_admission_of_a_pre_admission_plans_it_again(world: World) -> None:
    w = world
    pre = w.ok(f"Patient/{w.patients[0]}/$pre-admit", 201, ward=w.wards[MED1],
               expectedAt="2026-12-01T08:00:00+01:00")
    before = w.snapshot()
    w.admit(0, encounter=f"Encounter/{pre['id']}", nurse=w.doctors[1], expect=200)
    back = w.ok(f"Encounter/{pre['id']}/$cancel-admit")
    assert back["status"] == "planned"
    assert _without_steps(w.snapshot()) == _without_steps(before)


def test_cancel_admission_marks_the_encounter_entered_in_error_and_frees_the_bed(
        world: World) -> None:
    w = world
    bed = w.beds[MED1][0]
    before = w.snapshot()
    enc = w.admit(0, bed=bed)
    cancelled = w.ok(f"Encounter/{enc['id']}/$cancel-admit")
    assert cancelled["status"] == "entered-in-error"
    after = w.snapshot()
    assert after["resources"][f"Location/{bed}"] == before["resources"][f"Location/{bed}"]
    assert after["tables"]["adt_stay"] == after["tables"]["adt_bed"] == []
    w.admit(0, bed=bed)  # the patient and the bed are free again


def test_cancel_a_registered_visit(world: World) -> None:
    w = world
    visit = w.ok(f"Patient/{w.patients[0]}/$register-visit", 201, unit=w.units[GER2],
                 kind="emergency")
    assert w.ok(f"Encounter/{visit['id']}/$cancel-admit")["status"] == "entered-in-error"


def test_only_the_latest_step_is_cancelled(world: World) -> None:
    w = world
    enc = w.admit(0)
    r = w.op(f"Encounter/{enc['id']}/$cancel-transfer")
    assert r.status_code == 422 and "latest step was A01" in r.text
    w.ok(f"Encounter/{enc['id']}/$transfer", bed=w.beds[MED1][1])
    w.ok(f"Encounter/{enc['id']}/$leave")
    r = w.op(f"Encounter/{enc['id']}/$cancel-transfer")
    assert r.status_code == 422 and "latest step was A21" in r.text
    r = w.op(f"Encounter/{enc['id']}/$cancel-discharge")
    assert r.status_code == 422
    w.ok(f"Encounter/{enc['id']}/$return")
    r = w.op(f"Encounter/{enc['id']}/$cancel-admit")
    assert r.status_code == 422


def test_transfers_are_cancelled_one_by_one(world: World) -> None:
    w = world
    enc = w.admit(0, bed=w.beds[MED1][0])
    states = [w.snapshot()]
    for bed in (w.beds[MED1][1], w.beds[GER2][0], w.beds[GER2][3]):
        w.ok(f"Encounter/{enc['id']}/$transfer", bed=bed)
        states.append(w.snapshot())
    for state in reversed(states[:-1]):
        w.ok(f"Encounter/{enc['id']}/$cancel-transfer")
        assert _without_steps(w.snapshot()) == _without_steps(state)


def test_a_cancellation_does_not_take_a_bed_someone_else_has(world: World) -> None:
    w = world
    bed = w.beds[MED1][0]
    enc = w.admit(0, bed=bed)
    w.ok(f"Encounter/{enc['id']}/$discharge", disposition="home")
    w.ok(f"Location/{bed}/$set-bed-status", status="U")
    w.admit(1, bed=bed)
    before = w.snapshot()
    r = w.op(f"Encounter/{enc['id']}/$cancel-discharge")
    assert r.status_code == 409 and "now occupied by another patient" in r.text
    assert w.snapshot() == before


def test_a_cancellation_does_not_reopen_a_closed_bed(world: World) -> None:
    w = world
    bed = w.beds[MED1][0]
    enc = w.admit(0, bed=bed)
    w.ok(f"Encounter/{enc['id']}/$transfer", bed=w.beds[MED1][1])
    w.ok(f"Location/{bed}/$set-bed-status", status="C")
    r = w.op(f"Encounter/{enc['id']}/$cancel-transfer")
    assert r.status_code == 422 and "closed" in r.text


def test_cancel_discharge_after_the_bed_was_cleaned(world: World) -> None:
    w = world
    bed = w.beds[MED1][0]
    enc = w.admit(0, bed=bed)
    w.ok(f"Encounter/{enc['id']}/$discharge", disposition="home")
    w.ok(f"Location/{bed}/$set-bed-status", status="U")
    w.ok(f"Encounter/{enc['id']}/$cancel-discharge")
    assert w.bed_status(bed) == "O"


def test_cancel_discharge_when_the_patient_was_admitted_again(world: World) -> None:
    w = world
    enc = w.admit(0, bed=w.beds[MED1][0])
    w.ok(f"Encounter/{enc['id']}/$discharge", disposition="other-hospital")
    w.admit(0, bed=w.beds[GER2][0])
    r = w.op(f"Encounter/{enc['id']}/$cancel-discharge")
    assert r.status_code == 409 and "already has an active inpatient stay" in r.text


def test_cancel_pre_admission(world: World) -> None:
    """A38: the planned admission will not happen. The Encounter is cancelled, the bed board
    stops expecting the patient, no admission takes it up, and only a plan can be cancelled
    this way."""
    w = world
    pre = w.ok(f"Patient/{w.patients[0]}/$pre-admit", 201, ward=w.wards[MED1],
               expectedAt=datetime.now(UTC).isoformat())
    def incoming() -> list[Any]:
        board = w.board(f"Location/{w.wards[MED1]}")
        ward = next(p["part"] for p in board["parameter"] if p["name"] == "ward")
        return [p for p in ward if p["name"] == "incomingAdmission"]

    assert len(incoming()) == 1
    cancelled = w.ok(f"Encounter/{pre['id']}/$cancel-pre-admit")
    assert cancelled["status"] == "cancelled"
    assert [h["status"] for h in cancelled["statusHistory"]] == ["planned", "cancelled"]
    assert "end" in cancelled["statusHistory"][0]["period"]
    assert incoming() == []
    tables = w.snapshot()["tables"]
    assert tables["adt_stay"] == tables["adt_bed"] == []
    # Cancelled is final: not cancelled again, not taken up by an admission.
    assert w.op(f"Encounter/{pre['id']}/$cancel-pre-admit").status_code == 422
    assert w.op(f"Patient/{w.patients[0]}/$admit", bed=w.beds[MED1][0],
                attending=w.doctors[0], encounter=f"Encounter/{pre['id']}").status_code == 422
    # An admission is cancelled with A11, not A38.
    enc = w.admit(1)
    assert w.op(f"Encounter/{enc['id']}/$cancel-pre-admit").status_code == 422
