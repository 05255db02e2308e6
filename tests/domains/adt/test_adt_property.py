"""Property test: random sequences of ADT steps (valid or not) against a small hospital, run
in-process through the workflow. After every step:

- a refused step is a 4xx error and leaves everything as it was;
- at most one active inpatient stay per patient, at most one patient per bed;
- a bed is marked occupied exactly when an active stay holds it;
- the bed board's counts agree with the Encounters and bed Locations;
- a cancellation restores the Encounter exactly as before the step it cancels.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from adt_support import wipe_adt
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from conftest import examples, patient, wipe
from vardnav.db.unit_of_work import run_in_transaction
from vardnav.domains.adt.bed_board import bed_board
from vardnav.domains.adt.bed_status import BedStatusGuard
from vardnav.domains.adt.operations import set_bed_status
from vardnav.domains.adt.service import AdtWorkflow
from vardnav.domains.identity.access.principal import SERVER
from vardnav.errors import VardnavError
from vardnav.fhir.hooks import RequestContext
from vardnav.fhir.http_types import FhirRequest
from vardnav.fhir.storage.repository import EngineServices, Repository
from vardnav.fhir.storage.tables import resource

TYPE = "http://terminology.hl7.org/CodeSystem/location-physical-type"
WARDS, BEDS, PATIENTS = 2, 3, 4
DISPOSITIONS = ("home", "nursing-home", "deceased")
STEPS = ("admit", "admit-ward", "pre-admit", "admit-planned", "transfer", "transfer-ward",
         "leave", "return", "discharge", "cancel-admit", "cancel-transfer", "cancel-discharge",
         "bed-status", "update")


class Hospital:
    def __init__(self, engine: Engine, services: EngineServices,
                 note: Callable[[str], Any] = lambda _: None) -> None:
        self.engine, self.services, self.note = engine, services, note
        self.t = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
        self.workflow = AdtWorkflow(clock=self.clock)
        # Per patient: their latest Encounter id; per Encounter, the states before each step.
        self.latest: dict[int, str] = {}
        self.history: dict[str, list[tuple[str, dict[str, Any]]]] = {}

    def clock(self) -> datetime:
        self.t += timedelta(minutes=7)
        return self.t

    def run(self, work: Callable[[Repository], Any]) -> Any:
        ctx = RequestContext(principal=SERVER, base_url="http://testserver/fhir")
        return run_in_transaction(self.engine,
                                  lambda conn: work(Repository(conn, self.services, ctx)))

    def build(self) -> None:
        def create(repo: Repository) -> None:
            repo.update("Organization", "unit", {"resourceType": "Organization", "id": "unit",
                                                 "name": "Avdelningen"})
            repo.update("Practitioner", "doc", {"resourceType": "Practitioner", "id": "doc"})
            for w in range(WARDS):
                repo.update("Location", f"w{w}", _location(f"w{w}", "wa", None))
                for b in range(BEDS):
                    repo.update("Location", f"w{w}b{b}", {
                        **_location(f"w{w}b{b}", "bd", f"w{w}"),
                        "operationalStatus": _status("U")})
            for p in range(PATIENTS):
                repo.update("Patient", f"p{p}", {**patient(given=f"P{p}"), "id": f"p{p}"})
        self.run(create)

    def step(self, name: str, p: int, x: int) -> None:
        """Take one step (it may be refused); check what must hold either way."""
        if not name.startswith(("admit", "pre-admit")) and p not in self.latest and self.latest:
            p = sorted(self.latest)[p % len(self.latest)]  # steps on someone with a stay
        wf, enc = self.workflow, self.latest.get(p, "none")
        bed, ward = f"w{x % WARDS}b{x % BEDS}", f"w{x % WARDS}"
        calls: dict[str, Callable[[Repository], Any]] = {
            "admit": lambda r: wf.admit(r, patient_id=f"p{p}", bed_id=bed, attending_id="doc"),
            "admit-ward": lambda r: wf.admit(r, patient_id=f"p{p}", ward_id=ward,
                                             attending_id="doc"),
            "pre-admit": lambda r: wf.pre_admit(r, patient_id=f"p{p}", ward_id=ward,
                                                expected_at=self.t + timedelta(hours=x)),
            "admit-planned": lambda r: wf.admit(r, patient_id=f"p{p}", encounter_id=enc,
                                                bed_id=bed, attending_id="doc"),
            "transfer": lambda r: wf.transfer(r, encounter_id=enc, bed_id=bed),
            "transfer-ward": lambda r: wf.transfer(r, encounter_id=enc, ward_id=ward),
            "leave": lambda r: wf.leave(r, encounter_id=enc),
            "return": lambda r: wf.return_from_leave(r, encounter_id=enc),
            "discharge": lambda r: wf.discharge(r, encounter_id=enc,
                                                disposition=DISPOSITIONS[x % 3],
                                                summary="Sammanfattning" if x % 2 else None),
            "cancel-admit": lambda r: wf.cancel_admit(r, encounter_id=enc),
            "cancel-transfer": lambda r: wf.cancel_transfer(r, encounter_id=enc),
            "cancel-discharge": lambda r: wf.cancel_discharge(r, encounter_id=enc),
            "bed-status": lambda r: set_bed_status(r, FhirRequest(
                "POST", "", body={"resourceType": "Parameters", "parameter": [
                    {"name": "status", "valueCode": "CHU"[x % 3]}]}), "Location", bed),
            "update": lambda r: wf.update(r, encounter_id=enc, nurse_id="doc"),
        }
        before = self.state()
        try:
            result = self.run(calls[name])
        except VardnavError as exc:
            assert 400 <= exc.status < 500, exc
            assert self.state() == before, f"{name} was refused but changed something"
            self.note(f"{name}: refused ({exc.status})")
            return
        self.note(f"{name}: done")
        if name == "bed-status":
            return
        encounter_id = result["id"]
        if name in ("admit", "admit-ward", "pre-admit"):
            self.latest[p] = encounter_id
        undo = {"cancel-admit": ("admit", "admit-ward", "admit-planned"),
                "cancel-transfer": ("transfer", "transfer-ward"),
                "cancel-discharge": ("discharge",)}
        log = self.history.setdefault(encounter_id, [])
        if name in undo:
            undone, previous = log.pop()
            assert undone in undo[name]
            if previous:  # else the admission created the Encounter: now entered-in-error
                assert _strip(result) == previous, f"{name} did not restore {undone}"
            else:
                assert result["status"] == "entered-in-error"
        elif name in ("admit", "admit-ward", "admit-planned", "transfer", "transfer-ward",
                      "discharge", "leave", "return"):
            log.append((name, before["encounters"].get(encounter_id, {})))

    def state(self) -> dict[str, Any]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(resource.c.resource_type, resource.c.fhir_id,
                                       resource.c.content).where(
                resource.c.resource_type.in_(("Encounter", "Location")))).all()
        return {"encounters": {r.fhir_id: _strip(r.content) for r in rows
                               if r.resource_type == "Encounter"},
                "beds": {r.fhir_id: (r.content.get("operationalStatus") or {}).get("code")
                         for r in rows if r.resource_type == "Location"
                         and "operationalStatus" in r.content}}

    def check_invariants(self) -> None:
        state = self.state()
        active = [e for e in state["encounters"].values()
                  if e["status"] in ("in-progress", "onleave") and e["class"]["code"] == "IMP"]
        per_patient = Counter(e["subject"]["reference"] for e in active)
        assert all(n == 1 for n in per_patient.values()), per_patient
        held = Counter(_current(e, "bd") for e in active if _current(e, "bd"))
        assert all(n == 1 for n in held.values()), held
        for bed, code in state["beds"].items():
            assert (code == "O") == (bed in held), (bed, code, held)
        for w in range(WARDS):
            board = self.run(lambda r, w=w: bed_board(r, "Location", f"w{w}",
                                                      self.t.date().isoformat()))
            counts = {p["name"]: p["valueInteger"] for p in board["parameter"][1]["part"]
                      if "valueInteger" in p}
            here = [e for e in active if _current(e, "wa") == f"w{w}"]
            beds = {b: c for b, c in state["beds"].items() if b.startswith(f"w{w}b")}
            assert counts["inpatients"] == len(here)
            assert counts["occupied"] == sum(1 for e in here if _current(e, "bd"))
            assert counts["onLeave"] == sum(e["status"] == "onleave" for e in here)
            assert counts["beds"] == BEDS
            for name, code in (("free", "U"), ("cleaning", "H"), ("closed", "C")):
                assert counts[name] == sum(c == code for c in beds.values()), name


def _location(fhir_id: str, kind: str, parent: str | None) -> dict[str, Any]:
    loc: dict[str, Any] = {"resourceType": "Location", "id": fhir_id, "name": fhir_id,
                           "status": "active", "physicalType": {"coding": [
                               {"system": TYPE, "code": kind}]},
                           "managingOrganization": {"reference": "Organization/unit"}}
    if parent:
        loc["partOf"] = {"reference": f"Location/{parent}"}
    return loc


def _status(code: str) -> dict[str, str]:
    return {"system": "http://terminology.hl7.org/CodeSystem/v2-0116", "code": code}


def _strip(content: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in content.items() if k != "meta"}


def _current(enc: dict[str, Any], kind: str) -> str | None:
    return next((e["location"]["reference"].split("/")[1] for e in enc.get("location", [])
                 if e["status"] in ("active", "reserved")
                 and e["physicalType"]["coding"][0]["code"] == kind), None)


# Admissions, transfers and discharges more often than the rest: they make the states the
# other steps act on.
WEIGHTED = (*STEPS, "admit", "admit", "transfer", "transfer", "discharge", "cancel-discharge",
            "cancel-transfer", "leave", "return", "return")
steps = st.lists(st.tuples(st.sampled_from(WEIGHTED), st.integers(0, PATIENTS - 1),
                           st.integers(0, 5)), min_size=10, max_size=40)


@settings(max_examples=examples(50), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(sequence=steps)
def test_random_step_sequences_keep_the_rules(engine: Engine, pdl_services: EngineServices,
                                              sequence: list[tuple[str, int, int]]) -> None:
    wipe(engine)
    wipe_adt(engine)
    services = pdl_services
    if not any(isinstance(x, BedStatusGuard) for x in services.listeners):
        services.listeners = (*services.listeners, BedStatusGuard())
    hospital = Hospital(engine, services, event)  # --hypothesis-show-statistics: what was done
    hospital.build()
    for name, p, x in sequence:
        hospital.step(name, p, x)
        hospital.check_invariants()


def test_a_long_day_on_the_ward(engine: Engine, pdl_services: EngineServices) -> None:
    """A fixed, busy sequence through every step (a smoke test of the property machinery)."""
    wipe(engine)
    wipe_adt(engine)
    hospital = Hospital(engine, pdl_services)
    hospital.build()
    for name, (p, x) in zip(itertools.cycle(STEPS),
                            itertools.product(range(PATIENTS), range(6)), strict=False):
        hospital.step(name, p, x)
        hospital.check_invariants()
