"""Transaction-bundle ingest over HTTP vs a raw insert of the same JSON (the physical floor).

    python bench/ingest.py --db sqlite --patients 2000 --bundle-patients 10
"""

from __future__ import annotations

import argparse
import time
import uuid
from typing import Any

import httpx
import orjson
from sqlalchemy import Column, Integer, MetaData, String, Table, insert

from bench.common import PNR_FILE, authorization, fresh_database, rss_mb, server
from vardnav.db.engine import make_engine
from vardnav.demo.population import count_resources, generate_population, load_test_personnummer
from vardnav.fhir.storage.tables import Json


def merged_bundles(patients: int, per_bundle: int, seed: int) -> list[dict[str, Any]]:
    """Patient bundles merged into transactions of `per_bundle` patients (~10 resources each)."""
    numbers = load_test_personnummer(PNR_FILE, fallback_count=patients, seed=seed)
    out: list[dict[str, Any]] = []
    current: list[dict[str, Any]] = []
    for i, bundle in enumerate(generate_population(patients=patients, seed=seed,
                                                    personnummer=numbers)):
        current.extend(bundle["entry"])
        if (i + 1) % per_bundle == 0:
            out.append({"resourceType": "Bundle", "type": "transaction", "entry": current})
            current = []
    if current:
        out.append({"resourceType": "Bundle", "type": "transaction", "entry": current})
    return out


def raw_floor(url: str, bundles: list[dict[str, Any]]) -> float:
    """Resources/s for inserting the same resource JSON into one plain table, one
    transaction per bundle: what the database itself costs, without any FHIR work."""
    engine = make_engine(url)
    md = MetaData()
    raw = Table(f"raw_{uuid.uuid4().hex[:6]}", md, Column("id", Integer, primary_key=True),
                Column("rtype", String(64)), Column("content", Json))
    md.create_all(engine)
    n = 0
    start = time.perf_counter()
    for bundle in bundles:
        rows = [{"rtype": e["resource"]["resourceType"], "content": e["resource"]}
                for e in bundle["entry"]]
        with engine.begin() as conn:
            conn.execute(insert(raw), rows)
        n += len(rows)
    elapsed = time.perf_counter() - start
    md.drop_all(engine)
    engine.dispose()
    return n / elapsed


def run(db: str, patients: int, per_bundle: int, clients: int,
        workers: int = 1) -> dict[str, Any]:
    bundles = merged_bundles(patients, per_bundle, seed=7)
    total = sum(count_resources(b) for b in bundles)
    bodies = [orjson.dumps(b) for b in bundles]
    with fresh_database(db) as url:
        with server(url, workers=workers) as (base, proc):
            import concurrent.futures as cf

            token = authorization(base)[0]

            def post(body: bytes) -> int:
                r = httpx.post(base, content=body, timeout=120, headers={
                    "content-type": "application/fhir+json", "prefer": "return=minimal",
                    "authorization": token})
                if r.status_code != 200:
                    raise RuntimeError(f"{r.status_code}: {r.text[:500]}")
                return r.status_code

            start = time.perf_counter()
            with cf.ThreadPoolExecutor(clients) as pool:
                list(pool.map(post, bodies))
            elapsed = time.perf_counter() - start
            rss = rss_mb(proc.pid)
        floor = raw_floor(url, bundles)
    rate = total / elapsed
    result = {"db": db, "resources": total, "bundles": len(bundles),
              "entries_per_bundle": round(total / len(bundles)), "seconds": elapsed,
              "rate": rate, "raw_rate": floor, "ratio": rate / floor, "rss_mb": rss}
    print(f"[ingest/{db}] {total} resources in {len(bundles)} transaction bundles "
          f"(~{result['entries_per_bundle']} entries each, {clients} clients, "
          f"{workers} workers): "
          f"{rate:,.0f} resources/s; raw insert floor {floor:,.0f} resources/s "
          f"(Vårdnav at {100 * rate / floor:.0f}% of raw); server RSS {rss:.0f} MiB")
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    ap.add_argument("--patients", type=int, default=2000)
    ap.add_argument("--bundle-patients", type=int, default=10)
    ap.add_argument("--clients", type=int, default=2)
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args()
    for db in (["sqlite", "postgres"] if args.db == "both" else [args.db]):
        run(db, args.patients, args.bundle_patients, args.clients, args.workers)


if __name__ == "__main__":
    main()
