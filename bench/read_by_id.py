"""Read by id over HTTP: 8 concurrent clients (bench/loadgen.py), req/s and latencies.

    python -m bench.read_by_id --db sqlite --patients 2000
"""

from __future__ import annotations

import argparse
import random

from sqlalchemy import select

from bench.common import PNR_FILE, authorization, fresh_database, rss_mb, server, settle
from bench.loadgen import run_load
from vardnav.config import Settings
from vardnav.db.engine import make_engine
from vardnav.demo.loader import load_population
from vardnav.fhir.storage.tables import resource


def sample_paths(url: str, n: int) -> list[str]:
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(select(resource.c.resource_type, resource.c.fhir_id)
                            .where(resource.c.resource_type.in_(["Patient", "Observation"]))
                            ).all()
    engine.dispose()
    rng = random.Random(3)
    return [f"/fhir/{t}/{i}" for t, i in rng.sample(rows, min(n, len(rows)))]


def run(db: str, patients: int, connections: int, seconds: int, workers: int) -> None:
    with fresh_database(db) as url:
        load_population(Settings(database_url=url), patients=patients, seed=11,
                        personnummer_file=PNR_FILE, per_transaction=20)
        settle(url)
        paths = sample_paths(url, 5000)
        with server(url, workers=workers) as (base, proc):
            origin = base.rsplit("/fhir", 1)[0]
            # Warm-up: with several workers, each must boot and fill its pool first.
            auth = authorization(base)[0]
            run_load(origin, paths, connections, 10, auth)
            result = run_load(origin, paths, connections, seconds, auth)
            rss = rss_mb(proc.pid)
    print(f"[read/{db}] {connections} clients, {workers} workers, {seconds} s: "
          f"{result.rps:,.0f} req/s, p50 {result.p50:.1f} ms, p95 {result.p95:.1f} ms, "
          f"p99 {result.p99:.1f} ms, max {result.max:.0f} ms, mean {result.mean:.2f} ms "
          f"(Little's law: {connections / result.rps * 1000:.2f} ms), errors {result.errors}; "
          f"server RSS {rss:.0f} MiB")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    ap.add_argument("--patients", type=int, default=2000)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--seconds", type=int, default=15)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    for db in (["sqlite", "postgres"] if args.db == "both" else [args.db]):
        run(db, args.patients, args.connections, args.seconds, args.workers)


if __name__ == "__main__":
    main()
