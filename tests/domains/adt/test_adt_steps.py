"""Every ADT step through its FHIR operation: the Encounter, the beds and the journal after it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from adt_support import GER2, MED1, World

from conftest import FHIR_JSON
from vardnav.domains.adt.codes import (
    DISPOSITION_SYSTEM,
    HL7_DISPOSITION,
    PLANNED_END,
    PLANNED_START,
)
from vardnav.fhir.hooks import MemoryAuditSink

pytest_plugins = ("adt_fixtures",)  # its fixtures


def _iso(hours: float = 0) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


def _locations(enc: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(Location id, status, has an end) per Encounter.location entry."""
    return [(e["location"]["reference"].split("/")[1], e["status"], "end" in e.get("period", {}))
            for e in enc["location"]]


def test_register_outpatient_and_emergency_visits(world: World) -> None:
    w = world
    enc = w.ok(f"Patient/{w.patients[0]}/$register-visit", 201,
               unit={"reference": f"Organization/{w.units[MED1]}"}, kind="outpatient")
    assert enc["status"] == "in-progress" and enc["class"]["code"] == "AMB"
    assert enc["serviceProvider"] == {"reference": f"Organization/{w.units[MED1]}"}
    emergency = w.ok(f"Patient/{w.patients[1]}/$register-visit", 201,
                     unit=f"Location/{w.wards[GER2]}", kind="emergency",
                     attending=w.doctors[0])
    assert emergency["class"]["code"] == "EMER"
    assert _locations(emergency) == [(w.wards[GER2], "active", False)]
    assert emergency["serviceProvider"]["reference"] == f"Organization/{w.units[GER2]}"
    # A visit is not an inpatient stay: the same patient may still be admitted.
    w.admit(1)


def test_pre_admission_is_planned_and_taken_up_by_the_admission(world: World) -> None:
    w = world
    expected = _iso(3)
    pre = w.ok(f"Patient/{w.patients[0]}/$pre-admit", 201, ward=w.wards[MED1],
               expectedAt=expected, attending=w.doctors[1])
    assert pre["status"] == "planned" and "period" not in pre
    assert _locations(pre) == [(w.wards[MED1], "planned", False)]
    assert [x["url"] for x in pre["extension"]] == [PLANNED_START]
    enc = w.admit(0, encounter={"reference": f"Encounter/{pre['id']}"}, expect=200)
    assert enc["id"] == pre["id"] and enc["status"] == "in-progress"
    assert [h["status"] for h in enc["statusHistory"]] == ["planned", "in-progress"]
    bed = w.beds[MED1][0]
    assert [loc for loc, status, _ in _locations(enc) if status == "active"][-1] == bed
    assert w.bed_status(bed) == "O"


def test_admission_to_a_bed_with_physician_nurse_and_expected_discharge(world: World) -> None:
    w = world
    bed = w.beds[MED1][2]
    enc = w.admit(0, bed=bed, nurse=w.doctors[2], expectedDischarge=_iso(48))
    assert enc["class"]["code"] == "IMP" and enc["status"] == "in-progress"
    room = w.read(f"Location/{bed}")["partOf"]["reference"].split("/")[1]
    assert _locations(enc) == [(w.wards[MED1], "active", False), (room, "active", False),
                               (bed, "active", False)]
    roles = {p["type"][0]["coding"][0]["code"]: p["individual"]["reference"]
             for p in enc["participant"]}
    assert roles == {"ATND": f"Practitioner/{w.doctors[0]}",
                     "nurse": f"Practitioner/{w.doctors[2]}"}
    assert [x["url"] for x in enc["extension"]] == [PLANNED_END]
    assert enc["serviceProvider"]["reference"] == f"Organization/{w.units[MED1]}"
    assert w.bed_status(bed) == "O"


def test_admission_to_a_ward_without_a_bed(world: World) -> None:
    w = world
    enc = w.ok(f"Patient/{w.patients[0]}/$admit", 201, ward=w.wards[GER2],
               attending=w.doctors[0])
    assert _locations(enc) == [(w.wards[GER2], "active", False)]


def test_beds_and_wards_can_be_named_by_hsa_identifier(world: World) -> None:
    w = world
    ident = w.read(f"Location/{w.beds[MED1][1]}")["identifier"][0]
    enc = w.admit(0, bed={"identifier": ident})
    assert enc["location"][-1]["location"]["reference"] == f"Location/{w.beds[MED1][1]}"


def test_transfer_keeps_the_location_history(world: World) -> None:
    w = world
    old, new = w.beds[MED1][0], w.beds[GER2][0]
    enc = w.admit(0, bed=old)
    moved = w.ok(f"Encounter/{enc['id']}/$transfer", bed=new)
    assert [(loc, status, ended) for loc, status, ended in _locations(moved)
            if loc in (old, new, w.wards[MED1], w.wards[GER2])] == [
        (w.wards[MED1], "completed", True), (old, "completed", True),
        (w.wards[GER2], "active", False), (new, "active", False)]
    assert moved["serviceProvider"]["reference"] == f"Organization/{w.units[GER2]}"
    assert (w.bed_status(old), w.bed_status(new)) == ("H", "O")  # the old bed is cleaned
    # Within a room: only the bed entry changes.
    same_room = w.beds[GER2][1]
    again = w.ok(f"Encounter/{enc['id']}/$transfer", bed=same_room)
    assert [s for _, s, _ in _locations(again)].count("active") == 3
    # To a ward without a bed.
    ward_only = w.ok(f"Encounter/{enc['id']}/$transfer", ward=w.wards[MED1])
    assert [loc for loc, s, _ in _locations(ward_only) if s == "active"] == [w.wards[MED1]]
    assert w.bed_status(same_room) == "H"


def test_leave_of_absence_keeps_the_bed(world: World) -> None:
    w = world
    bed = w.beds[MED1][0]
    enc = w.admit(0, bed=bed)
    away = w.ok(f"Encounter/{enc['id']}/$leave")
    assert away["status"] == "onleave"
    assert {s for _, s, _ in _locations(away)} == {"reserved"}
    assert w.bed_status(bed) == "O"
    back = w.ok(f"Encounter/{enc['id']}/$return")
    assert back["status"] == "in-progress"
    assert {s for _, s, _ in _locations(back)} == {"active"}
    assert [h["status"] for h in back["statusHistory"]] == ["in-progress", "onleave",
                                                          "in-progress"]


def test_discharge_with_disposition_and_summary(world: World) -> None:
    w = world
    bed = w.beds[MED1][0]
    enc = w.admit(0, bed=bed)
    done = w.ok(f"Encounter/{enc['id']}/$discharge", disposition="home-municipal-care",
                summary="Utskriven till hemmet med hemtjänst <3")
    assert done["status"] == "finished" and "end" in done["period"]
    codings = done["hospitalization"]["dischargeDisposition"]["coding"]
    assert [(c["system"], c["code"]) for c in codings] == [
        (DISPOSITION_SYSTEM, "home-municipal-care"), (HL7_DISPOSITION, "home")]
    assert {s for _, s, _ in _locations(done)} == {"completed"}
    assert w.bed_status(bed) == "H"
    found = w.read(f"Composition?encounter=Encounter/{enc['id']}")["entry"]
    summary = found[0]["resource"]
    assert summary["type"]["coding"][0]["code"] == "18842-5"
    assert summary["status"] == "final"
    assert summary["subject"] == {"reference": f"Patient/{w.patients[0]}"}
    assert "&lt;3" in summary["section"][0]["text"]["div"]
    # The bed is free once cleaned; the patient may be admitted again.
    w.ok(f"Location/{bed}/$set-bed-status", status="U", reason="Städad")
    w.admit(0, bed=bed)


def test_every_disposition(world: World) -> None:
    w = world
    for n, code in enumerate(("home", "nursing-home", "other-hospital", "deceased")):
        enc = w.admit(n, bed=w.beds[MED1][n])
        done = w.ok(f"Encounter/{enc['id']}/$discharge", disposition=code)
        assert done["hospitalization"]["dischargeDisposition"]["coding"][0]["code"] == code


def test_update_changes_the_responsible_staff(world: World) -> None:
    w = world
    enc = w.admit(0)
    updated = w.ok(f"Encounter/{enc['id']}/$update-staff", attending=w.doctors[1],
                   nurse=w.doctors[2])
    attending = [p for p in updated["participant"]
                 if p["type"][0]["coding"][0]["code"] == "ATND"]
    assert [("end" in p["period"], p["individual"]["reference"]) for p in attending] == [
        (True, f"Practitioner/{w.doctors[0]}"), (False, f"Practitioner/{w.doctors[1]}")]
    assert updated["status"] == "in-progress"


def test_bed_status_operation_is_audited_and_plain_updates_are_refused(
        world: World, audit: MemoryAuditSink) -> None:
    w = world
    bed = w.beds[MED1][5]
    closed = w.ok(f"Location/{bed}/$set-bed-status", status="C", reason="Vattenskada")
    assert closed["operationalStatus"]["code"] == "C"
    logged = [e for _, e in audit.records if e.interaction == "set-bed-status"]
    assert [(e.resource_ids, e.detail) for e in logged] == [
        ([bed], {"before": "U", "after": "C", "reason": "Vattenskada"})]
    plain = {k: v for k, v in w.read(f"Location/{bed}").items() if k != "meta"}
    plain["operationalStatus"] = {**plain["operationalStatus"], "code": "U"}
    r = w.c.put(f"/fhir/Location/{bed}", json=plain, headers=FHIR_JSON)
    assert r.status_code == 403, r.text
    # Other changes of a bed's Location are ordinary updates.
    r = w.c.put(f"/fhir/Location/{bed}", json={**plain, "operationalStatus":
                                              closed["operationalStatus"], "alias": ["Fönster"]},
                headers=FHIR_JSON)
    assert r.status_code == 200, r.text


def test_steps_are_listed_in_the_capability_statement(world: World) -> None:
    meta = world.c.get("/fhir/metadata").json()
    ops = {(r["type"], o["name"]) for r in meta["rest"][0]["resource"]
           for o in r.get("operation", [])}
    for op in ("register-visit", "pre-admit", "admit"):
        assert ("Patient", op) in ops
    for op in ("transfer", "leave", "return", "discharge", "cancel-admit", "cancel-transfer",
               "cancel-discharge", "update-staff"):
        assert ("Encounter", op) in ops
    assert ("Location", "set-bed-status") in ops and ("Location", "bed-board") in ops
    assert ("Organization", "bed-board") in ops
