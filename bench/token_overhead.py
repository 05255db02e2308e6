"""How much does checking the access token add to a read? (issue 3: at most 5 %)

Three measurements on one server (SQLite, demo population, reads by id, one connection so
latency is not queueing):
1. in-process cost of `BearerAuthenticator.principal` for a token seen before (the verified
   principal is remembered until expiry) and for a new token (RSA signature check);
2. mean read latency when every request carries the same token (the steady state of a client);
3. mean read latency when every request carries a token the server has never seen (each pays
   the full signature check) — the worst case.
The share is the validation cost divided by the mean read latency.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench.common import KEYS, PNR_FILE, authorization, fresh_database, server, settle
from bench.loadgen import run_load
from bench.read_by_id import sample_paths
from vardnav.config import Settings
from vardnav.demo.loader import load_population
from vardnav.domains.identity.access.bearer import BearerAuthenticator
from vardnav.domains.identity.access.keys import KeyStore
from vardnav.domains.identity.access.principal import principal_claims
from vardnav.domains.identity.access.tokens import mint


def validation_cost_us(n: int = 3000) -> tuple[float, float]:
    """(µs for a token seen before, µs for a new token), measured in-process."""
    base = "http://127.0.0.1:1/fhir"
    store = KeyStore(Path(tempfile.mkdtemp()))
    issuer = Settings().issuer
    fresh = ["Bearer " + mint(store, issuer=issuer, audience=base, subject="system:bench",
                              scopes=["system/*.rs"], ttl_seconds=3600,
                              claims=principal_claims(kind="system", client_id="bench"))
             for _ in range(n)]
    auth = BearerAuthenticator(store, issuer=issuer, audience=base)
    start = time.perf_counter()
    for header in fresh:
        auth.principal(header)
    cold = (time.perf_counter() - start) / n * 1e6
    start = time.perf_counter()
    for header in fresh:
        auth.principal(header)
    warm = (time.perf_counter() - start) / n * 1e6
    return warm, cold


def run(patients: int, seconds: int) -> None:
    warm_us, cold_us = validation_cost_us()
    with fresh_database("sqlite") as url:
        load_population(Settings(database_url=url), patients=patients, seed=11,
                        personnummer_file=PNR_FILE, per_transaction=20)
        settle(url)
        paths = sample_paths(url, 5000)
        with server(url, workers=1) as (base, _proc):
            origin = base.rsplit("/fhir", 1)[0]
            same = authorization(base)[0]
            run_load(origin, paths, 1, 5, same)  # warm-up
            steady = run_load(origin, paths, 1, seconds, same)
            # More distinct tokens than requests the run can make: none is seen twice.
            many = authorization(base, count=int(steady.rps * seconds * 1.3) + 100)
            worst = run_load(origin, paths, 1, seconds, many)
    print(f"[token] validation in-process: {warm_us:.1f} µs for a known token, "
          f"{cold_us:.1f} µs for a new one (RS256 verify); keys in {KEYS}")
    print(f"[token] reads, 1 client, same token: mean {steady.mean:.3f} ms, "
          f"p50 {steady.p50:.3f} ms ({steady.rps:,.0f} req/s, errors {steady.errors})")
    print(f"[token] reads, 1 client, new token every request: mean {worst.mean:.3f} ms, "
          f"p50 {worst.p50:.3f} ms ({worst.rps:,.0f} req/s, errors {worst.errors})")
    print(f"[token] share of read latency: {warm_us / 1000 / steady.mean * 100:.2f} % "
          f"(known token), {cold_us / 1000 / steady.mean * 100:.2f} % (new token); "
          f"measured difference new vs same token: "
          f"{(worst.mean - steady.mean) / steady.mean * 100:+.1f} %")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--patients", type=int, default=500)
    ap.add_argument("--seconds", type=int, default=10)
    args = ap.parse_args()
    run(args.patients, args.seconds)


if __name__ == "__main__":
    main()
