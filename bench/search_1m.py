"""Search latency on a store of ≥ 1,000,000 resources, over HTTP (bench/loadgen.py, 4 connections).

    python -m bench.search_1m --db sqlite          # builds var/bench/store-1m.db once
    python -m bench.search_1m --db postgres        # builds database vardnav_bench_1m once

The store is kept between runs (building it takes ~10 minutes per database).
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from rich.progress import Progress
from sqlalchemy import func, select

from bench.common import PNR_FILE, authorization, fresh_database, rss_mb, server, settle
from bench.loadgen import run_load
from vardnav.config import Settings
from vardnav.db.engine import make_engine
from vardnav.demo.loader import load_population
from vardnav.demo.population import PNR_SYSTEM, generate_personnummer, load_test_personnummer
from vardnav.fhir.storage.tables import resource

TARGET = 1_000_000
RES_PER_PATIENT = 10.5  # what the demo generator averages


def count(url: str) -> int:
    engine = make_engine(url)
    with engine.connect() as conn:
        n = conn.execute(select(func.count()).select_from(resource)).scalar_one()
    engine.dispose()
    return n


def stored_personnummer(url: str) -> set[str]:
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(select(resource.c.content).where(
            resource.c.resource_type == "Patient", resource.c.deleted.is_(False))).all()
    engine.dispose()
    return {i["value"] for (content,) in rows for i in content.get("identifier", [])
            if i.get("system") == PNR_SYSTEM}


def ensure_store(url: str, target: int, *, loaders: int = 1) -> None:
    """Complete the store to `target` resources. With `loaders` > 1 (PostgreSQL), that many
    processes load disjoint parts of the population at once (two took 1,943 s for 1M here,
    one 4,504 s)."""
    have = count(url)
    if have >= target:
        print(f"store has {have:,} resources")
        return
    # 2 % more patients than the average needs, so the store reaches the target (for 1M about
    # the 2,000 extra patients this always added; a small store no longer gets 2,000 too).
    patients = int((target - have) / RES_PER_PATIENT * 1.02) + 10
    # The official list has ~16,000 numbers; beyond it, generated valid ones.
    official = load_test_personnummer(PNR_FILE)
    seen = set(official)
    numbers = official + [n for n in generate_personnummer(patients + 2000, seed=99)
                          if n not in seen]
    taken = stored_personnummer(url)  # a store built halfway: add only new patients
    numbers = [n for n in numbers if n not in taken][:patients]
    parts = [numbers[i::loaders] for i in range(loaders)]
    start = time.perf_counter()
    done = multiprocessing.Value("i", 0)
    with Progress() as progress, ProcessPoolExecutor(
            loaders, initializer=_share, initargs=(done,)) as pool:
        task = progress.add_task("building store", total=patients)
        futures = [pool.submit(_load_part, url, part, 5 + i) for i, part in enumerate(parts)]
        while not all(f.done() for f in futures):
            time.sleep(0.5)
            progress.update(task, completed=done.value)
        resources = sum(f.result() for f in futures)
    seconds = time.perf_counter() - start
    print(f"built {resources:,} resources in {seconds:.0f} s with {loaders} loader(s) "
          f"({resources / seconds:,.0f} resources/s); store {count(url):,}")
    settle(url)


_done: Any = None


def _share(done: Any) -> None:
    global _done
    _done = done


def _count_one() -> None:
    with _done.get_lock():
        _done.value += 1


def _load_part(url: str, numbers: list[str], seed: int) -> int:
    numbers_file = Path(tempfile.mkstemp(suffix=".txt")[1])
    numbers_file.write_text("\n".join(numbers) + "\n")
    try:
        stats = load_population(Settings(database_url=url), patients=len(numbers), seed=seed,
                                personnummer_file=numbers_file, per_transaction=50,
                                on_patient=_count_one)
    finally:
        numbers_file.unlink()
    return int(stats.resources)


def query_paths(url: str, n: int) -> dict[str, list[str]]:
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(select(resource.c.fhir_id, resource.c.content)
                            .where(resource.c.resource_type == "Patient").limit(20000)).all()
    engine.dispose()
    rng = random.Random(1)
    picked = rng.sample(rows, min(n, len(rows)))
    by_id, by_name, by_pnr = [], [], []
    for fhir_id, content in picked:
        by_id.append(f"/fhir/Observation?subject=Patient/{fhir_id}"
                     "&code=http://loinc.org|8867-4&_sort=-date")
        family = content["name"][0]["family"]
        by_name.append(f"/fhir/Patient?family={family}&birthdate={content['birthDate']}")
        pnr = next(i["value"] for i in content["identifier"] if i["system"] == PNR_SYSTEM)
        by_pnr.append(f"/fhir/Observation?subject:Patient.identifier={PNR_SYSTEM}|{pnr}")
    return {"Observation?subject&code&_sort=-date": by_id,
            "Patient?family&birthdate": by_name,
            "Observation?subject:Patient.identifier": by_pnr}


def run(db: str, seconds: int, connections: int, loaders: int = 1) -> None:
    keep = "store-1m.db" if db == "sqlite" else "vardnav_bench_1m"
    with fresh_database(db, keep=keep) as url:
        ensure_store(url, TARGET, loaders=loaders if db == "postgres" else 1)
        total = count(url)
        queries = query_paths(url, 2000)
        with server(url, workers=2) as (base, proc):
            origin = base.rsplit("/fhir", 1)[0]
            auth = authorization(base)[0]
            for name, paths in queries.items():
                run_load(origin, paths, connections, 5, auth)  # warm-up
                r = run_load(origin, paths, connections, seconds, auth)
                print(f"[search/{db}] {name} on {total:,} resources, {connections} clients: "
                      f"{r.rps:,.0f} req/s, p50 {r.p50:.1f} ms, p95 {r.p95:.1f} ms, "
                      f"p99 {r.p99:.1f} ms, max {r.max:.0f} ms, errors {r.errors}")
            print(f"[search/{db}] server RSS {rss_mb(proc.pid):.0f} MiB")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--loaders", type=int, default=1,
                    help="PostgreSQL: build the store with this many loader processes")
    args = ap.parse_args()
    for db in (["sqlite", "postgres"] if args.db == "both" else [args.db]):
        run(db, args.seconds, args.connections, args.loaders)


if __name__ == "__main__":
    main()
