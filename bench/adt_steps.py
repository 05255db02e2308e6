"""ADT steps per second: admissions, transfers and discharges through the workflow, in-process.

On a fresh database (SQLite by default) with the production access layers (scopes, options,
PDL derivations) and the database access log, one thread takes each step in its own
transaction, as the API and the HL7 v2 listener do:
1. admit N patients, each into a free bed;
2. transfer each to another bed (on another ward);
3. discharge each (every second one with a discharge summary).
Prints steps per second and latency percentiles per kind of step.

    .venv/bin/python -m bench.adt_steps [--patients 300] [--db sqlite|postgres]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bench.common import fresh_database, percentile
from vardnav.config import Settings
from vardnav.db.engine import make_engine
from vardnav.db.unit_of_work import run_in_transaction
from vardnav.domains.adt.service import AdtWorkflow
from vardnav.domains.identity.access.principal import SERVER
from vardnav.fhir.hooks import RequestContext
from vardnav.fhir.storage.repository import Repository
from vardnav.main import build_services

TYPE = "http://terminology.hl7.org/CodeSystem/location-physical-type"
BED_STATUS = "http://terminology.hl7.org/CodeSystem/v2-0116"
BEDS_PER_WARD = 50


def _hospital(repo: Repository, wards: int) -> list[list[str]]:
    """`wards` wards of BEDS_PER_WARD beds, a care unit each; the beds' ids per ward."""
    out = []
    for w in range(wards):
        repo.update("Organization", f"unit{w}", {"resourceType": "Organization",
                                                 "id": f"unit{w}", "name": f"Avdelning {w}"})
        repo.update("Location", f"ward{w}", {
            "resourceType": "Location", "id": f"ward{w}", "name": f"Avdelning {w}",
            "physicalType": {"coding": [{"system": TYPE, "code": "wa"}]},
            "managingOrganization": {"reference": f"Organization/unit{w}"}})
        beds = []
        for b in range(BEDS_PER_WARD):
            bed = f"w{w}b{b}"
            repo.update("Location", bed, {
                "resourceType": "Location", "id": bed, "name": f"Säng {w}.{b}",
                "physicalType": {"coding": [{"system": TYPE, "code": "bd"}]},
                "operationalStatus": {"system": BED_STATUS, "code": "U"},
                "partOf": {"reference": f"Location/ward{w}"},
                "managingOrganization": {"reference": f"Organization/unit{w}"}})
            beds.append(bed)
        out.append(beds)
    return out


def run(db: str = "sqlite", patients: int = 300) -> dict[str, float]:
    with fresh_database(db) as url:
        engine = make_engine(url)
        services = build_services(Settings(database_url=url), engine=engine)
        ctx = RequestContext(principal=SERVER, base_url="http://bench/fhir")
        workflow = AdtWorkflow()

        def tx(work: Callable[[Repository], Any]) -> Any:
            return run_in_transaction(engine, lambda conn: work(Repository(conn, services, ctx)))

        wards = -(-patients // BEDS_PER_WARD)
        beds = tx(lambda r: _hospital(r, 2 * wards))
        first = [b for ward in beds[:wards] for b in ward][:patients]
        second = [b for ward in beds[wards:] for b in ward][:patients]
        ids = tx(lambda r: [r.create("Patient", {"resourceType": "Patient", "name": [
            {"family": f"Bench{n}"}]}).id for n in range(patients)])
        doctor = tx(lambda r: r.create("Practitioner", {"resourceType": "Practitioner"}).id)
        stays: list[str] = []
        results: dict[str, float] = {}

        def timed(kind: str, step: Callable[[int], Callable[[Repository], Any]]) -> None:
            latencies = []
            start = time.perf_counter()
            for n in range(patients):
                t0 = time.perf_counter()
                out = tx(step(n))
                latencies.append(time.perf_counter() - t0)
                if kind == "admit":
                    stays.append(out["id"])
            elapsed = time.perf_counter() - start
            results[kind] = patients / elapsed
            print(f"{db:8} {kind:10} {patients / elapsed:8.1f} steps/s   p50 "
                  f"{percentile(latencies, 50) * 1000:6.1f} ms   p95 "
                  f"{percentile(latencies, 95) * 1000:6.1f} ms")

        now = datetime.now(UTC)
        timed("admit", lambda n: lambda r: workflow.admit(
            r, patient_id=ids[n], bed_id=first[n], attending_id=doctor, at=now))
        timed("transfer", lambda n: lambda r: workflow.transfer(
            r, encounter_id=stays[n], bed_id=second[n]))
        timed("discharge", lambda n: lambda r: workflow.discharge(
            r, encounter_id=stays[n], disposition="home",
            summary="Sammanfattning" if n % 2 else None))
        engine.dispose()
        return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=300)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    args = parser.parse_args()
    run(args.db, args.patients)


if __name__ == "__main__":
    main()
