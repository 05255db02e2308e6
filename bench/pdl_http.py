"""The patient data law's cost over HTTP (issue 4): read and search throughput of a real
uvicorn server with 8 concurrent clients on the 1M-resource PostgreSQL store, once as the
production app (PDL + access log) and once as the same app with the access layers minus PDL
and an in-memory log ("allow-all", `allow_all_app` below). The caller is a ward nurse with a
care relationship to the sampled patients (see bench/pdl_overhead.py for the in-process run);
one more workload reads the same data as a nurse of another care provider, whose unit has a
care relationship too and whom the patients have consented to (sammanhållen journalföring:
the checks a read of the caller's own provider's data never reaches).
The servers run side by side and the load moves between them in short slices (`run`).

    python -m bench.pdl_http --split --store-as-is --rounds 12 --seconds 3
"""

from __future__ import annotations

import argparse
import contextlib
import time
from typing import Any

from bench.common import KEYS, cpu_between, fresh_database, server, service_cpu
from bench.loadgen import run_load
from bench.pdl_overhead import REGION, WARDS, backfill_custody, consent_to, relate, sample
from bench.search_1m import TARGET, ensure_store
from vardnav.config import Settings
from vardnav.db.engine import make_engine

SEAL_PAUSE = 2.5  # seconds after each slice: the sealer ticks every second (audit_sealer.py)
# The other care provider's reader: a private clinic in the region that shares in
# sammanhållen journalföring (not a municipality, so no options apply).
OTHER_PROVIDER = "SE2321000131-E000000000777"
OTHER_UNIT = "SE2321000131-PRIV-VC1"
OTHER = "another provider's nurse (consent)"


def allow_all_app() -> Any:
    """The production app with PDL left out of the access layers and an in-memory log."""
    from vardnav.fhir.hooks import MemoryAuditSink
    from vardnav.fhir.search.custom import registry_for
    from vardnav.fhir.storage.repository import EngineServices
    from vardnav.fhir.validation import ResourceValidator
    from vardnav.main import access_layers, create_app

    settings = Settings()
    engine = make_engine(settings.database_url)
    registry = registry_for(engine)
    services = EngineServices(registry, ResourceValidator(), audit=MemoryAuditSink(),
                              **access_layers(settings, registry, engine, pdl=False))
    return create_app(settings, services=services, engine=engine)


def pdl_without_log_app() -> Any:
    """The production app with an in-memory log: what PDL alone costs (the access log is
    the difference to the production app)."""
    from vardnav.fhir.hooks import MemoryAuditSink
    from vardnav.main import build_services, create_app

    settings = Settings()
    engine = make_engine(settings.database_url)
    services = build_services(settings, engine=engine, audit=MemoryAuditSink())
    return create_app(settings, services=services, engine=engine)


def nurse_token(base: str, *, provider: str = REGION, unit: str = WARDS[0]) -> str:
    from vardnav.domains.identity.access.keys import KeyStore
    from vardnav.domains.identity.access.principal import principal_claims
    from vardnav.domains.identity.access.tokens import mint

    claims = principal_claims(kind="staff", client_id="bench", unit=unit, provider=provider,
                              role="registered-nurse")
    subject = "SE2321000131-BENCH" if provider == REGION else "SE2321000131-BENCH2"
    return "Bearer " + mint(KeyStore(KEYS), issuer=Settings().issuer, audience=base,
                            subject=subject, scopes=["user/*.rs"],
                            ttl_seconds=6 * 3600, claims=claims)


def run(seconds: float, connections: int, workers: int, patients: int, *, only: str | None,
        split: bool, build: bool, rounds: int, loaders: int = 1,
        store: str | None = "vardnav_bench_1m", target: int = TARGET, warmup: float = 5.0,
        seal_pause: float = SEAL_PAUSE) -> None:
    """`store`: the kept PostgreSQL database to measure (None: a fresh one, dropped after;
    with `target` and `warmup`, what the smoke test in tests/bench uses)."""
    with fresh_database("postgres", keep=store) as url:
        if build:
            ensure_store(url, target, loaders=loaders)
        engine = make_engine(url)
        backfill_custody(engine)
        picked, observations = sample(engine, patients)
        relate(engine, [WARDS[0], OTHER_UNIT], picked)
        consent_to(engine, OTHER_PROVIDER, picked)
        engine.dispose()
        by_id = [f"/fhir/Observation/{o}" for o in observations]
        workloads = {
            "read Observation by id": by_id,
            f"read Observation by id, {OTHER}": by_id,
            "Observation?subject&code&_sort=-date": [
                f"/fhir/Observation?subject=Patient/{p}&code=http://loinc.org|8867-4"
                f"&_sort=-date" for p in picked],
            "Observation?subject&_count=50": [f"/fhir/Observation?subject=Patient/{p}"
                                             f"&_count=50" for p in picked],
        }
        if only:
            workloads = {k: v for k, v in workloads.items() if only in k}
        apps = {"allow-all": "bench.pdl_http:allow_all_app",
                "pdl+audit": "vardnav.main:create_app"}
        if split:
            apps["pdl, log in memory"] = "bench.pdl_http:pdl_without_log_app"
        runs: dict[str, dict[str, list[Any]]] = {
            name: {mode: [] for mode in apps} for name in workloads}
        # Server and database CPU per request (the load generator's own CPU is left out: it
        # is the same for every mode).
        cpu_ms: dict[str, dict[str, list[float]]] = {
            name: {mode: [] for mode in apps} for name in workloads}
        database = url.rsplit("/", 1)[1]
        vacuum_log(url)
        # Every mode's server runs for the whole run, and the load moves from one to the next
        # in short slices. This machine's speed drifts by tens of per cent over minutes
        # (allow-all reads 2,124 → 3,148 req/s in one run of restarted servers), so a mode is
        # compared with the slice run just before or after it. (Servers restarted per mode and
        # round: the middle half of the paired costs spread 20–36 %; slices of 3 s: 21–27,
        # 24–26 and 23–30 % in three runs.)
        with contextlib.ExitStack() as stack:
            servers = {}
            for mode, factory in apps.items():
                base, proc = stack.enter_context(server(url, workers=workers, factory=factory))
                servers[mode] = (base.rsplit("/fhir", 1)[0], proc, {
                    "own": nurse_token(base),
                    OTHER: nurse_token(base, provider=OTHER_PROVIDER, unit=OTHER_UNIT)})
            for name, paths in workloads.items():
                caller = OTHER if OTHER in name else "own"
                for origin, _proc, tokens in servers.values():  # warm-up
                    run_load(origin, paths, connections, warmup, tokens[caller],
                             workers=workers)
                for number in range(rounds):
                    # Every other round in reverse, so no mode always follows another.
                    order = list(servers.items())
                    for mode, (origin, proc, tokens) in (
                            order if number % 2 == 0 else reversed(order)):
                        before = service_cpu(proc.pid, database)
                        result = run_load(origin, paths, connections, seconds, tokens[caller],
                                          workers=workers)
                        # The sealer seals a range on its tick after the range settles: the
                        # pause lets it seal this slice's entries before the next slice, so
                        # their CPU is this mode's (and not the next one's).
                        time.sleep(seal_pause)
                        cpu = cpu_between(before, service_cpu(proc.pid, database))
                        runs[name][mode].append(result)
                        cpu_ms[name][mode].append(1000 * cpu / max(result.requests, 1))
                report(name, runs[name], cpu_ms[name], connections, workers, rounds)


def report(name: str, by_mode: dict[str, list[Any]], cpu_ms: dict[str, list[float]],
           connections: int, workers: int, rounds: int) -> None:
    median = {mode: sorted(rs, key=lambda r: r.rps)[len(rs) // 2]
              for mode, rs in by_mode.items()}
    for mode, r in median.items():
        every = ", ".join(f"{x.rps:,.0f}" for x in by_mode[mode])
        splits = sorted({"+".join(map(str, x.split)) for x in by_mode[mode]})
        print(f"[pdl-http] {name}, {mode}: {r.rps:,.0f} req/s, p50 {r.p50:.1f} ms, "
              f"p95 {r.p95:.1f} ms, errors {r.errors} (slices: {every}; connections "
              f"per worker: {', '.join(splits)})")
    cost = (1 - median["pdl+audit"].rps / median["allow-all"].rps) * 100
    print(f"[pdl-http] {name}: PDL + audit cost {cost:.1f} % of throughput "
          f"({connections} clients, {workers} workers, median of {rounds} slices per mode)")
    # A slice's own neighbour shares the machine's state of the moment.
    paired = sorted((1 - p.rps / a.rps) * 100 for a, p in zip(
        by_mode["allow-all"], by_mode["pdl+audit"], strict=True))
    quarter = len(paired) // 4
    print(f"[pdl-http] {name}: paired by round, PDL + audit cost median "
          f"{paired[len(paired) // 2]:.1f} % (middle half {paired[quarter]:.1f} to "
          f"{paired[-1 - quarter]:.1f} %; rounds: " + ", ".join(f"{c:.1f}" for c in paired)
          + ")")
    cpu = {mode: sorted(ms)[len(ms) // 2] for mode, ms in cpu_ms.items()}
    print(f"[pdl-http] {name}: server + database CPU per request (median) "
          + ", ".join(f"{mode} {ms:.3f} ms" for mode, ms in cpu.items())
          + f"; at equal CPU, PDL + audit cost "
          f"{(1 - cpu['allow-all'] / cpu['pdl+audit']) * 100:.1f} % of throughput")


def vacuum_log(url: str) -> None:
    """VACUUM (ANALYZE) the access log and the care relationships, and CHECKPOINT, before
    the servers start, so every run starts from the same state on a machine whose
    PostgreSQL runs without autovacuum (this one). In production autovacuum does this work;
    its CPU is not counted here."""
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql"),
                         autocommit=True) as conn:
        conn.execute("SET statement_timeout = 0")
        conn.execute("VACUUM (ANALYZE) audit_log, audit_log_patient, pdl_care_relationship")
        # And from the same point of the WAL, run after run (the log is the only mode that
        # writes).
        conn.execute("CHECKPOINT")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=3.0, help="length of one slice")
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--patients", type=int, default=500)
    ap.add_argument("--only", help="run the workloads whose name contains this")
    ap.add_argument("--split", action="store_true",
                    help="also run PDL with an in-memory log (PDL's and the log's shares)")
    ap.add_argument("--rounds", type=int, default=12, help="slices per mode and workload")
    ap.add_argument("--store-as-is", action="store_true",
                    help="measure the kept store as it is, without completing it to 1M")
    ap.add_argument("--loaders", type=int, default=1,
                    help="build a missing store with this many loader processes")
    args = ap.parse_args()
    run(args.seconds, args.connections, args.workers, args.patients, only=args.only,
        split=args.split, build=not args.store_as_is, rounds=args.rounds, loaders=args.loaders)


if __name__ == "__main__":
    main()
