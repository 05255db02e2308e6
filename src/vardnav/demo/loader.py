"""Loads the synthetic population into the database through the FHIR engine (transactions)."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select

from vardnav.config import Settings
from vardnav.db.engine import make_engine
from vardnav.db.unit_of_work import run_in_transaction
from vardnav.demo.population import count_resources, generate_population, load_test_personnummer
from vardnav.domains.access.custody import ON_BEHALF_OF
from vardnav.domains.identity.access.principal import SERVER
from vardnav.domains.identity.organisation.region_data import PRIMARY_CARE, REGION_HSA
from vardnav.fhir.hooks import Custody, RequestContext
from vardnav.fhir.http_types import FhirRequest
from vardnav.fhir.router import dispatch
from vardnav.fhir.storage.repository import Repository
from vardnav.fhir.storage.tables import resource

# The demo population's records are the region's, kept by its primary care centres.
DEMO_UNITS = [Custody(REGION_HSA, f"{REGION_HSA[:13]}{code}") for code, _n, _m in PRIMARY_CARE]


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


@contextmanager
def _transaction_poster(settings: Settings) -> Iterator[Callable[[dict], None]]:
    """A function that commits one transaction Bundle through the FHIR engine, as the
    demo's system caller, each in its own database transaction."""
    from vardnav.main import build_services

    engine = make_engine(settings.database_url)
    services = build_services(settings, engine=engine)
    base = settings.base_url.rstrip("/")

    def post(bundle: dict, custody: Custody | None = None) -> None:
        """`custody`: the care unit the data is recorded for (the demo has no real users)."""
        request = FhirRequest("POST", "", [], {"prefer": "return=minimal"}, bundle)
        attributes = {ON_BEHALF_OF: custody} if custody else {}
        ctx = RequestContext(principal=SERVER, base_url=base, attributes=attributes)
        run_in_transaction(engine,
                           lambda conn: dispatch(Repository(conn, services, ctx), request))

    try:
        yield post
    finally:
        engine.dispose()


def load_region(settings: Settings) -> int:
    """Load the demo region (organisations, units, wards, beds, staff); returns how many
    resources it holds. Conditional creates make a second load a no-op."""
    from vardnav.domains.identity.organisation.region import region_bundle

    bundle = region_bundle()
    with _transaction_poster(settings) as post:
        post(bundle)
    return len(bundle["entry"])


def load_population(settings: Settings, *, patients: int, seed: int,
                    personnummer_file: Path | None, per_transaction: int = 1,
                    on_patient: Callable[[], None] = lambda: None) -> LoadStats:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a missing list falls back to generated numbers
        numbers = load_test_personnummer(personnummer_file, fallback_count=patients, seed=seed)
    start = time.perf_counter()
    n_res = n_pat = 0
    pending: list[dict] = []
    with _transaction_poster(settings) as post:

        def flush() -> None:
            # Each batch of patients is cared for at one of the region's primary care units.
            post(merge_bundles(pending), DEMO_UNITS[n_pat % len(DEMO_UNITS)])
            for _ in pending:
                on_patient()
            pending.clear()

        for bundle in generate_population(patients=patients, seed=seed,
                                          personnummer=numbers):
            pending.append(bundle)
            n_res += count_resources(bundle)
            n_pat += 1
            if len(pending) >= per_transaction:
                flush()
        if pending:
            flush()
    return LoadStats(n_pat, n_res, time.perf_counter() - start)
