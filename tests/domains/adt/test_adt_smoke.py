from __future__ import annotations

from adt_support import MED1, World

pytest_plugins = ("adt_fixtures",)  # its fixtures


def test_admit_transfer_discharge(world: World) -> None:
    w = world
    enc = w.admit(0)
    assert enc["status"] == "in-progress"
    assert w.bed_status(w.beds[MED1][0]) == "O"
    enc = w.ok(f"Encounter/{enc['id']}/$transfer", bed=w.beds[MED1][1])
    assert w.bed_status(w.beds[MED1][0]) == "H"
    enc = w.ok(f"Encounter/{enc['id']}/$discharge", disposition="home", summary="Bra")
    assert enc["status"] == "finished"
