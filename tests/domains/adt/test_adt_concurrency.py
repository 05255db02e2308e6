"""Two (or eight) clerks at once: real parallel requests, each thread with its own client on
one app, so the steps' transactions overlap in the server. Exactly one admission into a bed
succeeds, the others get 409; one patient is admitted once. Runs on SQLite here and on
PostgreSQL in CI (`storage` tests)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from adt_support import GER2, MED1, World
from fastapi.testclient import TestClient

from conftest import FHIR_JSON, bearer, mint_token
from vardnav.domains.adt.models import adt_bed, adt_stay

pytest_plugins = ("adt_fixtures",)  # its fixtures

T = TypeVar("T")
THREADS = 8


def in_parallel(w: World, n: int, work: Callable[[TestClient, int], T]) -> list[T]:
    barrier = threading.Barrier(n)
    token = mint_token(w.settings)

    def run(index: int) -> T:
        with TestClient(w.c.app, headers=bearer(token)) as client:
            barrier.wait(timeout=30)
            return work(client, index)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n)))


def _params(**refs: str) -> dict[str, Any]:
    return {"resourceType": "Parameters",
            "parameter": [{"name": k, "valueString": v} for k, v in refs.items()]}


def _rows(w: World, table: Any) -> int:
    with w.engine.connect() as conn:
        return len(conn.execute(table.select()).all())


def test_two_clerks_admitting_into_one_bed(world: World) -> None:
    w = world
    patients = [w.c.post("/fhir/Patient", headers=FHIR_JSON, json={
        "resourceType": "Patient", "name": [{"family": f"P{i}"}]}).json()["id"]
        for i in range(THREADS)]
    bed = w.beds[MED1][0]

    def admit(client: TestClient, i: int) -> tuple[int, str]:
        r = client.post(f"/fhir/Patient/{patients[i]}/$admit", headers=FHIR_JSON,
                        json=_params(bed=bed, attending=w.doctors[0]))
        return r.status_code, r.text

    results = in_parallel(w, THREADS, admit)
    assert Counter(s for s, _ in results) == {201: 1, 409: THREADS - 1}, results
    assert all("OperationOutcome" in text for s, text in results if s == 409)
    assert _rows(w, adt_bed) == 1 and _rows(w, adt_stay) == 1
    assert w.bed_status(bed) == "O"
    encounters = w.read("Encounter?_summary=count&status=in-progress")["total"]
    assert encounters == 1


def test_one_patient_admitted_into_many_beds_at_once(world: World) -> None:
    w = world
    beds = [*w.beds[MED1], *w.beds[GER2]][:THREADS]

    def admit(client: TestClient, i: int) -> int:
        return client.post(f"/fhir/Patient/{w.patients[0]}/$admit", headers=FHIR_JSON,
                           json=_params(bed=beds[i], attending=w.doctors[0])).status_code

    assert Counter(in_parallel(w, THREADS, admit)) == {201: 1, 409: THREADS - 1}
    occupied = [b for b in beds if w.bed_status(b) == "O"]
    assert len(occupied) == 1 and _rows(w, adt_bed) == 1


def test_transfers_racing_for_one_free_bed(world: World) -> None:
    w = world
    stays = [w.admit(i, bed=w.beds[MED1][i])["id"] for i in range(4)]
    target = w.beds[GER2][0]

    def move(client: TestClient, i: int) -> int:
        return client.post(f"/fhir/Encounter/{stays[i]}/$transfer", headers=FHIR_JSON,
                           json=_params(bed=target)).status_code

    assert Counter(in_parallel(w, 4, move)) == {200: 1, 409: 3}
    assert _rows(w, adt_bed) == 4
