"""The bed board of a ward and of a hospital: counts, beds, incoming admissions, and patient
details only for callers who may read the stay (PDL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from adt_support import GER2, MED1, ORT3, World

pytest_plugins = ("adt_fixtures",)  # its fixtures


def _part(parts: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [p for p in parts if p["name"] == name]


def _counts(parts: list[dict[str, Any]]) -> dict[str, int]:
    return {p["name"]: p["valueInteger"] for p in parts if "valueInteger" in p}


def _ward(board: dict[str, Any], ward_id: str) -> list[dict[str, Any]]:
    return next(p["part"] for p in board["parameter"] if p["name"] == "ward"
                and p["part"][0]["valueReference"]["reference"] == f"Location/{ward_id}")


def _busy_ward(w: World) -> dict[str, str]:
    """MED1 (8 beds): 3 in beds (one on leave, one leaving today), one without a bed,
    a bed being cleaned, a closed bed, two pre-admissions (today, next week)."""
    now = datetime.now(UTC)
    beds = w.beds[MED1]
    a = w.admit(0, bed=beds[0], expectedDischarge=now.isoformat())
    b = w.admit(1, bed=beds[1])
    w.ok(f"Encounter/{b['id']}/$leave")
    w.admit(2, bed=beds[2], expectedDischarge=(now + timedelta(days=9)).isoformat())
    w.ok(f"Patient/{w.patients[3]}/$admit", 201, ward=w.wards[MED1], attending=w.doctors[0])
    w.ok(f"Location/{beds[3]}/$set-bed-status", status="H")
    w.ok(f"Location/{beds[4]}/$set-bed-status", status="C")
    r = w.c.post("/fhir/Patient", json={"resourceType": "Patient", "name": [{"family": "Ek"}]})
    later = r.json()["id"]
    pre_today = w.ok(f"Patient/{later}/$pre-admit", 201, ward=w.wards[MED1],
                     expectedAt=now.isoformat())
    w.ok(f"Patient/{later}/$pre-admit", 201, ward=w.wards[MED1],
         expectedAt=(now + timedelta(days=7)).isoformat())
    return {"a": a["id"], "b": b["id"], "pre": pre_today["id"]}


def test_ward_board_counts(world: World) -> None:
    w = world
    ids = _busy_ward(w)
    board = w.board(f"Location/{w.wards[MED1]}")
    ward = _ward(board, w.wards[MED1])
    assert _counts(ward) == {"beds": 8, "occupied": 3, "free": 3, "cleaning": 1, "closed": 1,
                             "inpatients": 4, "onLeave": 1, "expectedDischarges": 1,
                             "incoming": 1}
    assert not _part(board["parameter"], "total")  # one ward: no total
    beds = {b["part"][0]["valueReference"]["reference"]: b["part"] for b in _part(ward, "bed")}
    first = beds[f"Location/{w.beds[MED1][0]}"]
    assert {p["name"] for p in first} >= {"location", "status", "encounter", "patient",
                                          "expectedDischarge"}
    assert next(p for p in first if p["name"] == "patient")["valueReference"] == {
        "reference": f"Patient/{w.patients[0]}", "display": "Anna Andersson"}
    on_leave = beds[f"Location/{w.beds[MED1][1]}"]
    assert {"name": "onLeave", "valueBoolean": True} in on_leave
    assert [p["valueCode"] for b in beds.values() for p in b if p["name"] == "status"] == [
        "O", "O", "O", "H", "C", "U", "U", "U"]
    assert len(_part(ward, "inpatient")) == 1  # on the ward without a bed
    incoming = _part(ward, "incomingAdmission")
    assert [p["part"][0]["valueReference"]["reference"] for p in incoming] == [
        f"Encounter/{ids['pre']}"]


def test_hospital_board_sums_its_wards(world: World) -> None:
    w = world
    _busy_ward(w)
    board = w.board(f"Location/{w.hospital}")
    wards = _part(board["parameter"], "ward")
    assert len(wards) == 3
    total = _counts(_part(board["parameter"], "total")[0]["part"])
    assert total["beds"] == 8 + 6 + 6
    assert total["occupied"] == 3 and total["inpatients"] == 4 and total["free"] == 3 + 12
    by_org = w.board(f"Organization/{w.hospital_org}")
    assert _part(by_org["parameter"], "total") == _part(board["parameter"], "total")
    unit = w.board(f"Organization/{w.units[GER2]}")
    assert _counts(_part(unit["parameter"], "ward")[0]["part"])["beds"] == 6


def test_the_board_names_patients_only_to_those_who_may_read_the_stay(world: World) -> None:
    w = world
    _busy_ward(w)
    mine = w.board(f"Location/{w.wards[MED1]}", w.staff(MED1))
    other = w.board(f"Location/{w.wards[MED1]}", w.staff(ORT3))
    ours, theirs = _ward(mine, w.wards[MED1]), _ward(other, w.wards[MED1])
    assert _counts(ours) == _counts(theirs)  # the numbers are for everyone
    assert "Patient/" in str(ours)
    assert "Patient/" not in str(theirs) and "Encounter/" not in str(theirs)


def test_board_of_a_day_and_bad_requests(world: World) -> None:
    w = world
    _busy_ward(w)
    tomorrow = (datetime.now(UTC) + timedelta(days=8)).date().isoformat()
    r = w.c.get(f"/fhir/Location/{w.wards[MED1]}/$bed-board", params={"date": tomorrow})
    assert r.status_code == 200
    counts = _counts(_ward(r.json(), w.wards[MED1]))
    assert (counts["expectedDischarges"], counts["incoming"]) == (1, 2)
    assert w.c.get(f"/fhir/Location/{w.wards[MED1]}/$bed-board",
                   params={"date": "igår"}).status_code == 400
    assert w.c.get(f"/fhir/Location/{w.beds[MED1][0]}/$bed-board").status_code == 400
    assert w.c.get("/fhir/Location/nowhere/$bed-board").status_code == 404
    assert w.c.get(f"/fhir/Patient/{w.patients[0]}/$bed-board").status_code == 404
