"""Each ADT step gives the ward's care unit the care relationship PDL needs, and ends it after
`care_relationship_days`: a ward nurse reads what another unit of the same provider recorded
once the patient is admitted to the ward, and no longer after discharge + the window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from adt_support import GER2, MED1, ORT3, World

from conftest import FHIR_JSON, observation

pytest_plugins = ("adt_fixtures",)  # its fixtures

DAYS = 30  # Settings.care_relationship_days


def _ago(days: float) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).isoformat()


def _recorded_by_ortopedics(w: World, n: int = 0) -> str:
    """An Observation recorded by a nurse of ORT3 (same provider: the region)."""
    ort = w.staff(ORT3, subject="SE2321000131-ORT-N")
    r = w.c.post("/fhir/Observation", json=observation(f"Patient/{w.patients[n]}"),
                 headers={**FHIR_JSON, **ort})
    assert r.status_code == 201, r.text
    return f"Observation/{r.json()['id']}"


def _sees(w: World, unit: str, ref: str) -> bool:
    status = w.c.get(f"/fhir/{ref}", headers=w.staff(unit)).status_code
    assert status in (200, 404), status
    return status == 200


def test_admission_opens_the_record_to_the_ward_and_discharge_closes_it(world: World) -> None:
    w = world
    obs = _recorded_by_ortopedics(w)
    assert not _sees(w, MED1, obs)
    enc = w.admit(0, at=_ago(DAYS + 10))
    assert _sees(w, MED1, obs)
    assert not _sees(w, GER2, obs)
    w.ok(f"Encounter/{enc['id']}/$discharge", disposition="home", at=_ago(DAYS + 1))
    assert not _sees(w, MED1, obs)  # the window after discharge has passed


def test_the_relationship_lasts_the_window_after_discharge(world: World) -> None:
    w = world
    obs = _recorded_by_ortopedics(w)
    enc = w.admit(0, at=_ago(DAYS + 5))
    w.ok(f"Encounter/{enc['id']}/$discharge", disposition="home", at=_ago(DAYS - 1))
    assert _sees(w, MED1, obs)


def test_transfer_gives_the_new_ward_access_and_the_old_keeps_it_for_the_window(
        world: World) -> None:
    w = world
    obs = _recorded_by_ortopedics(w)
    enc = w.admit(0, at=_ago(2))
    w.ok(f"Encounter/{enc['id']}/$transfer", bed=w.beds[GER2][0], at=_ago(1))
    assert _sees(w, GER2, obs)
    assert _sees(w, MED1, obs)  # left a day ago: within the window


def test_the_old_ward_loses_access_a_window_after_the_transfer(world: World) -> None:
    w = world
    obs = _recorded_by_ortopedics(w)
    enc = w.admit(0, at=_ago(DAYS + 5))
    w.ok(f"Encounter/{enc['id']}/$transfer", bed=w.beds[GER2][0], at=_ago(DAYS + 1))
    assert _sees(w, GER2, obs)
    assert not _sees(w, MED1, obs)


def test_cancelled_admission_ends_the_relationship(world: World) -> None:
    w = world
    obs = _recorded_by_ortopedics(w)
    enc = w.admit(0)
    assert _sees(w, MED1, obs)
    w.ok(f"Encounter/{enc['id']}/$cancel-admit")
    assert not _sees(w, MED1, obs)


def test_cancelled_transfer_takes_the_new_ward_off(world: World) -> None:
    w = world
    obs = _recorded_by_ortopedics(w)
    enc = w.admit(0)
    w.ok(f"Encounter/{enc['id']}/$transfer", bed=w.beds[GER2][0])
    assert _sees(w, GER2, obs)
    w.ok(f"Encounter/{enc['id']}/$cancel-transfer")
    assert not _sees(w, GER2, obs)
    assert _sees(w, MED1, obs)


def test_ward_staff_take_the_steps_of_their_patients(world: World) -> None:
    """A MED1 nurse admits, transfers and discharges; the Encounter is recorded by MED1."""
    w = world
    nurse = w.staff(MED1)
    r = w.op(f"Patient/{w.patients[1]}/$admit", nurse, bed=w.beds[MED1][2],
             attending=w.doctors[0])
    assert r.status_code == 201, r.text
    enc = r.json()["id"]
    r = w.op(f"Encounter/{enc}/$transfer", nurse, bed=w.beds[MED1][3])
    assert r.status_code == 200, r.text
    r = w.op(f"Encounter/{enc}/$discharge", nurse, disposition="home",
             summary="Återhämtat sig väl.")
    assert r.status_code == 200, r.text
    assert w.c.get(f"/fhir/Encounter/{enc}", headers=nurse).status_code == 200
