"""What does the patient data law cost? (issue 4: PDL enforcement plus audit ≤ 25 % of read and
search throughput versus the allow-all policy, on 1,000,000 resources.)

On the kept 1M-resource store (bench/search_1m.py builds it) this
1. fills the custody columns the PDL condition reads, once: `patient_id` (the compartment),
   and owner/unit — every resource recorded by the region at one of four wards, so a ward's
   staff see their own provider's data;
2. gives the benchmark user's ward a care relationship to the sampled patients;
3. runs the same reads by id and searches in-process (one thread, through the FHIR router,
   each in its own transaction, as the API does) for the same staff caller, first with the
   access layers without PDL and an in-memory audit sink ("allow-all"), then with PDL and the
   production audit sink, and prints throughput for both and the cost.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
import zlib
from typing import Any

from rich.progress import Progress
from sqlalchemy import Engine, bindparam, delete, func, insert, select, update

from bench.common import fresh_database, percentile
from bench.search_1m import TARGET, ensure_store
from vardnav.config import Settings
from vardnav.db.engine import make_engine
from vardnav.db.unit_of_work import run_in_transaction
from vardnav.domains.access.pdl_tables import care_relationship, consent
from vardnav.domains.identity.access.principal import Principal, principal_claims
from vardnav.domains.identity.access.scopes import parse_scopes
from vardnav.fhir.compartment import patients_of
from vardnav.fhir.hooks import AuditSink, MemoryAuditSink, RequestContext
from vardnav.fhir.http_types import FhirRequest
from vardnav.fhir.router import dispatch
from vardnav.fhir.search.custom import registry_for
from vardnav.fhir.storage.repository import EngineServices, Repository
from vardnav.fhir.storage.tables import resource
from vardnav.fhir.validation import ResourceValidator
from vardnav.main import access_layers

REGION = "SE2321000131-E000000000001"
WARDS = ["SE2321000131-SU-MED1", "SE2321000131-SU-GER2", "SE2321000131-NAL-MED4",
         "SE2321000131-SAS-MED6"]
BATCH = 5000


def backfill_custody(engine: Engine) -> None:
    """patient_id, owner and unit for rows stored before custody existed (idempotent)."""
    registry = registry_for(engine)
    with engine.connect() as conn:
        todo = conn.execute(select(func.count()).select_from(resource).where(
            resource.c.owner.is_(None))).scalar_one()
    if not todo:
        return
    stmt = (update(resource).where(resource.c.rid == bindparam("b_rid"))
            .values(patient_id=bindparam("b_patient"), owner=bindparam("b_owner"),
                    owner_unit=bindparam("b_unit"), recorded=resource.c.last_updated))
    with Progress() as progress:
        task = progress.add_task("custody columns", total=todo)
        last = 0
        while True:
            def work(conn: Any, after: int = last) -> int:
                rows = conn.execute(select(resource.c.rid, resource.c.content).where(
                    resource.c.owner.is_(None), resource.c.rid > after,
                    resource.c.content.is_not(None)).order_by(resource.c.rid)
                    .limit(BATCH)).all()
                if not rows:
                    return -1
                params = []
                for r in rows:
                    patient = (patients_of(registry, r.content) or [None])[0]
                    unit = WARDS[zlib.crc32(str(patient or r.rid).encode()) % len(WARDS)]
                    params.append({"b_rid": r.rid, "b_patient": patient, "b_owner": REGION,
                                   "b_unit": unit})
                conn.execute(stmt, params)
                return rows[-1].rid

            last = run_in_transaction(engine, work)
            if last < 0:
                break
            progress.advance(task, BATCH)


def sample(engine: Engine, n: int) -> tuple[list[str], list[str]]:
    """(patient ids, observation ids) of n random patients with observations."""
    with engine.connect() as conn:
        patients = conn.execute(select(resource.c.fhir_id).where(
            resource.c.resource_type == "Patient").limit(20000)).scalars().all()
        picked = random.Random(4).sample(list(patients), min(n, len(patients)))
        observations = conn.execute(select(resource.c.fhir_id).where(
            resource.c.resource_type == "Observation",
            resource.c.patient_id.in_(picked)).limit(n * 4)).scalars().all()
    return picked, list(observations)


def relate(engine: Engine, unit: str | list[str], patients: list[str]) -> None:
    """Care relationships of `unit` (or each of several units) to `patients`, replacing the
    bench's earlier ones."""
    units = [unit] if isinstance(unit, str) else unit
    with engine.begin() as conn:
        conn.execute(delete(care_relationship).where(care_relationship.c.source == "bench"))
        conn.execute(insert(care_relationship), [
            {"patient_id": p, "unit": u, "source": "bench", "start": 0.0, "end": None}
            for u in units for p in patients])


def consent_to(engine: Engine, provider: str, patients: list[str]) -> None:
    """Each of `patients` consents to `provider` reading other providers' data (replacing
    the bench's earlier consents)."""
    with engine.begin() as conn:
        conn.execute(delete(consent).where(consent.c.source_ref == "bench"))
        conn.execute(insert(consent), [
            {"patient_id": p, "provider": provider, "start": 0.0, "end": None,
             "source_ref": "bench"} for p in patients])


def staff_context(base_url: str) -> RequestContext:
    scope = "user/*.rs"
    claims = principal_claims(kind="staff", client_id="bench", unit=WARDS[0], provider=REGION,
                              role="registered-nurse")
    principal = Principal(kind="staff", subject="SE2321000131-BENCH", client_id="bench",
                          scope_text=scope, scopes=tuple(parse_scopes(scope)),
                          unit=claims["unit"], provider=claims["provider"],
                          role=claims["role"], expires=2**31)
    return RequestContext(principal=principal, base_url=base_url)


def measure(engine: Engine, services: EngineServices, paths: list[str],
            seconds: float) -> tuple[float, list[float], int]:
    """(requests/s, latencies in ms, non-200 answers), one thread, for `seconds`."""
    latencies: list[float] = []
    bad = 0
    deadline = time.perf_counter() + seconds
    i = 0
    while time.perf_counter() < deadline:
        path = paths[i % len(paths)]
        i += 1
        rtype_path, _, query = path.partition("?")
        pairs = [tuple(p.split("=", 1)) for p in query.split("&")] if query else []
        request = FhirRequest("GET", rtype_path, pairs, {}, None)  # type: ignore[arg-type]
        ctx = staff_context("http://bench/fhir")
        start = time.perf_counter()
        response = run_in_transaction(
            engine, lambda conn, r=request, c=ctx: dispatch(Repository(conn, services, c), r),
            write=False)
        latencies.append((time.perf_counter() - start) * 1000)
        bad += response.status != 200
    total = sum(latencies) / 1000
    return len(latencies) / total, latencies, bad


def production_audit(engine: Engine) -> AuditSink:
    try:
        from vardnav.domains.access.audit_log import DatabaseAuditSink  # the access log
    except ImportError:  # not built yet: say so in the output
        return MemoryAuditSink()
    return DatabaseAuditSink()  # type: ignore[call-arg]


def run(db: str, seconds: float, patients: int) -> None:
    keep = "store-1m.db" if db == "sqlite" else "vardnav_bench_1m"
    with fresh_database(db, keep=keep) as url:
        ensure_store(url, TARGET)
        engine = make_engine(url)
        backfill_custody(engine)
        picked, observations = sample(engine, patients)
        relate(engine, WARDS[0], picked)
        settings = Settings(database_url=url)
        registry = registry_for(engine)
        validator = ResourceValidator()
        audit = production_audit(engine)
        modes = {
            "allow-all": EngineServices(registry, validator, audit=MemoryAuditSink(),
                                        **access_layers(settings, registry, engine, pdl=False)),
            "pdl+audit": EngineServices(registry, validator, audit=audit,
                                        **access_layers(settings, registry, engine)),
        }
        workloads = {
            "read Observation by id": [f"Observation/{o}" for o in observations],
            "Observation?subject&code&_sort=-date": [
                f"Observation?subject=Patient/{p}&code=http://loinc.org|8867-4&_sort=-date"
                for p in picked],
            "Observation?subject&_count=50": [f"Observation?subject=Patient/{p}&_count=50"
                                             for p in picked],
        }
        with engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(resource)).scalar_one()
        print(f"[pdl/{db}] store {total:,} resources; audit sink for pdl: "
              f"{type(audit).__name__}")
        for name, paths in workloads.items():
            results = {}
            for mode, services in modes.items():
                measure(engine, services, paths, 2)  # warm-up
                results[mode] = measure(engine, services, paths, seconds)
            base, pdl = results["allow-all"], results["pdl+audit"]
            cost = (1 - pdl[0] / base[0]) * 100
            for mode, (rps, lat, bad) in results.items():
                print(f"[pdl/{db}] {name}, {mode}: {rps:,.0f} req/s, "
                      f"p50 {statistics.median(lat):.2f} ms, p95 {percentile(lat, 95):.2f} ms, "
                      f"non-200 {bad}")
            print(f"[pdl/{db}] {name}: PDL + audit cost {cost:.1f} % of throughput")
        engine.dispose()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--patients", type=int, default=500)
    args = ap.parse_args()
    for db in (["sqlite", "postgres"] if args.db == "both" else [args.db]):
        run(db, args.seconds, args.patients)


if __name__ == "__main__":
    main()
