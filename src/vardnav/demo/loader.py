"""Loads the synthetic population into the database through the FHIR engine (transactions)."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select

from vardnav.config import Settings
from vardnav.db.engine import make_engine
from vardnav.db.unit_of_work import run_in_transaction
from vardnav.demo.population import count_resources, generate_population, load_test_personnummer
from vardnav.fhir.hooks import RequestContext
from vardnav.fhir.http_types import FhirRequest
from vardnav.fhir.router import dispatch
from vardnav.fhir.storage.repository import Repository
from vardnav.fhir.storage.tables import resource


@dataclass
class LoadStats:
    patients: int
    resources: int
    seconds: float


def database_is_empty(settings: Settings) -> bool:
    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(resource)).scalar_one() == 0
    finally:
        engine.dispose()


def merge_bundles(bundles: list[dict]) -> dict:
    """Several patient transactions as one (fewer commits for bulk loads)."""
    return {"resourceType": "Bundle", "type": "transaction",
            "entry": [e for b in bundles for e in b["entry"]]}


def load_region(settings: Settings) -> int:
    """Load the demo region (organisations, units, wards, beds); returns how many resources
    it holds. Conditional creates make a second load a no-op."""
    from vardnav.domains.identity.region import region_bundle
    from vardnav.main import build_services

    engine = make_engine(settings.database_url)
    services = build_services(settings, engine=engine)
    ctx = RequestContext(principal="system:demo", base_url=settings.base_url.rstrip("/"))
    bundle = region_bundle()
    request = FhirRequest("POST", "", [], {"prefer": "return=minimal"}, bundle)
    try:
        run_in_transaction(engine,
                           lambda conn: dispatch(Repository(conn, services, ctx), request))
    finally:
        engine.dispose()
    return len(bundle["entry"])


def load_population(settings: Settings, *, patients: int, seed: int,
                    personnummer_file: Path | None, per_transaction: int = 1,
                    on_patient: Callable[[], None] = lambda: None) -> LoadStats:
    from vardnav.main import build_services

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a missing list falls back to generated numbers
        numbers = load_test_personnummer(personnummer_file, fallback_count=patients, seed=seed)
    engine = make_engine(settings.database_url)
    services = build_services(settings, engine=engine)
    ctx = RequestContext(principal="system:demo", base_url=settings.base_url.rstrip("/"))
    start = time.perf_counter()
    n_res = n_pat = 0
    pending: list[dict] = []

    def commit() -> None:
        request = FhirRequest("POST", "", [], {"prefer": "return=minimal"},
                              merge_bundles(pending))
        run_in_transaction(engine,
                           lambda conn: dispatch(Repository(conn, services, ctx), request))
        for _ in pending:
            on_patient()
        pending.clear()

    try:
        for bundle in generate_population(patients=patients, seed=seed,
                                          personnummer=numbers):
            pending.append(bundle)
            n_res += count_resources(bundle)
            n_pat += 1
            if len(pending) >= per_transaction:
                commit()
        if pending:
            commit()
    finally:
        engine.dispose()
    return LoadStats(n_pat, n_res, time.perf_counter() - start)
