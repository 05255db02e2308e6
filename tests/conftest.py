"""Shared fixtures. Storage/API tests run on SQLite by default; `.ci/run` runs the tests marked
`storage` again with VARDNAV_TEST_DATABASE_URL pointing at a fresh PostgreSQL database."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import settings as hypothesis_settings
from sqlalchemy import Engine, Table, delete, insert, select
from sqlalchemy.exc import IntegrityError, OperationalError

from vardnav.config import Settings
from vardnav.db.engine import make_engine
from vardnav.db.migrate import upgrade
from vardnav.db.unit_of_work import run_in_transaction
from vardnav.domains.access.pdl_tables import (
    block,
    block_lift,
    care_relationship,
    consent,
    emergency,
    not_sharing,
)
from vardnav.domains.identity.access.keys import KeyStore
from vardnav.domains.identity.access.principal import SERVER, principal_claims
from vardnav.domains.identity.access.tokens import mint
from vardnav.domains.identity.organisation.region import region_bundle
from vardnav.fhir.hooks import MemoryAuditSink, RequestContext
from vardnav.fhir.http_types import FhirRequest
from vardnav.fhir.router import dispatch
from vardnav.fhir.storage.repository import EngineServices, Repository
from vardnav.fhir.storage.tables import INDEX_TABLES, resource, resource_version
from vardnav.main import access_layers, build_services, create_app

# Rich tables in CLI output are as wide in every run (tty or not, one process or several),
# so tests can look for whole cells.
os.environ.setdefault("COLUMNS", "250")

# CI must be reproducible: hypothesis explores the same examples on every CI run.
hypothesis_settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")



def examples(n: int) -> int:
    """Examples for a property test that touches the database: all `n` on the default
    (SQLite) run, which explores; a quarter on the PostgreSQL repeat in CI, which checks that
    the same kinds of request behave alike on the other database (and keeps CI short)."""
    return max(10, n // 4) if os.environ.get("VARDNAV_TEST_DATABASE_URL") else n


REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
TESTPERSONNUMMER = SHARED_DATA / "skatteverket-testpersonnummer.txt"
FHIR_JSON = {"content-type": "application/fhir+json"}
PDL_TABLES = (care_relationship, consent, block, block_lift, emergency, not_sharing)


def _postgres_admin(url: str) -> Engine:
    """An autocommit engine on the server's maintenance database (CREATE/DROP DATABASE)."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    return create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")


def _create_worker_database(url: str, worker: str) -> str:
    """With several test processes on PostgreSQL each needs a database of its own (tests wipe
    theirs at will): `<given>_<worker>` on the same server. One that exists already is an
    error, never dropped: it is not this run's."""
    from sqlalchemy.engine import make_url

    base = make_url(url)
    name = f"{base.database}_{worker}"
    # PostgreSQL would silently cut a longer name, and two workers could share one database.
    if len(name.encode()) > 63:
        raise pytest.UsageError(f"test database name {name!r} is over 63 bytes")
    admin = _postgres_admin(url)
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def _drop_worker_database(url: str) -> None:
    from sqlalchemy.engine import make_url

    admin = _postgres_admin(url)
    try:
        with admin.connect() as conn:
            # FORCE: a server process a test started may still hold a connection.
            conn.exec_driver_sql(
                f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')
    finally:
        admin.dispose()


@pytest.fixture(scope="session")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """SQLite in a temporary directory; or VARDNAV_TEST_DATABASE_URL, as given when tests run
    in one process, else a database per xdist worker that is dropped when the worker ends."""
    given = os.environ.get("VARDNAV_TEST_DATABASE_URL")
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    created = bool(given and worker)
    if not given:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    elif worker:
        url = _create_worker_database(given, worker)
    else:
        url = given
    try:
        upgrade(url)
        yield url
    finally:
        if created:  # only the database this worker made, never the given one
            _drop_worker_database(url)


@pytest.fixture(scope="session")
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


# The tables `wipe` empties, referenced tables first.
WIPED_TABLES: tuple[Table, ...] = (resource, resource_version, *INDEX_TABLES.values(),
                                   *PDL_TABLES)


def wipe(engine: Engine) -> None:
    for attempt in range(5):
        try:
            with engine.begin() as conn:
                for table in reversed(WIPED_TABLES):
                    conn.execute(delete(table))
            return
        except (IntegrityError, OperationalError) as exc:
            # PostgreSQL: a writer still finishing made a delete fail its foreign key (an
            # index row written between the deletes) or deadlock with it (it held a resource
            # row and wanted one already deleted). Seen in CI; background workers now finish
            # their transactions before they stop (unit_of_work.thread_to_the_end), but the
            # wipe, like every other transaction here, retries what PostgreSQL aborted.
            deadlock = getattr(exc.orig, "sqlstate", None) == "40P01"
            if attempt == 4 or not (isinstance(exc, IntegrityError) or deadlock):
                raise
            time.sleep(0.2)


# What the first load of the demo region wrote to WIPED_TABLES, per database and set of write
# listeners (PDL's add rows of their own): (table, rows), referenced tables first.
_region_rows: dict[tuple[str, tuple[str, ...]], list[tuple[Table, list[dict[str, Any]]]]] = {}


def load_region(app: Any) -> None:
    """Wipe the app's database, then store the demo region (395 resources) in it.

    Dozens of tests start from the region, and loading it through the API costs about a
    second on SQLite and several on PostgreSQL (conditional creates, index rows, listeners).
    So each test process loads it once per database, as the server would with the app's own
    services, and keeps the rows that wrote; later calls insert those rows again: the same
    resources, ids and versions every time. (Effects outside the wiped tables, such as
    access-log entries or audit events of the writes, come from the first load only.)"""
    engine: Engine = app.state.engine
    services: EngineServices = app.state.services
    key = (str(engine.url), tuple(type(x).__qualname__ for x in services.listeners))
    wipe(engine)
    snapshot = _region_rows.get(key)
    if snapshot is None:
        ctx = RequestContext(principal=SERVER, base_url=app.state.settings.base_url.rstrip("/"))
        response = run_in_transaction(engine, lambda conn: dispatch(
            Repository(conn, services, ctx), FhirRequest("POST", "", [], {}, region_bundle())))
        assert response.status < 300, response.body
        with engine.connect() as conn:
            _region_rows[key] = [(table, [dict(row) for row in conn.execute(select(table))
                                          .mappings()]) for table in WIPED_TABLES]
        return
    # The rows keep their rids: PostgreSQL's rid sequence handed them out before this wipe
    # and never goes back, so new resources cannot collide with them.
    with engine.begin() as conn:
        for table, rows in snapshot:
            if rows:
                conn.execute(insert(table), rows)


@pytest.fixture(scope="session")
def key_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("keys")


@pytest.fixture
def settings(db_url: str, key_dir: Path) -> Settings:
    # Read entries are written before each answer, so a test sees them at once; the
    # background writer has tests of its own (test_background_reads.py).
    return Settings(database_url=db_url, base_url="http://testserver/fhir",
                    max_body_bytes=1_000_000, key_dir=key_dir, audit_background_reads=False)


@pytest.fixture(scope="session")
def shared_services() -> EngineServices:
    # Built once: the validator and registry compile the official definitions.
    return build_services(Settings())


@pytest.fixture
def audit() -> MemoryAuditSink:
    return MemoryAuditSink()


@pytest.fixture
def services(shared_services: EngineServices, audit: MemoryAuditSink, engine: Engine,
             settings: Settings) -> EngineServices:
    """The application's access layers without the patient data law (scopes, municipality
    options over allow-all): engine and identity tests. PDL tests use `pdl_services`."""
    return EngineServices(shared_services.registry, shared_services.validator, audit=audit,
                          default_page_size=50, max_page_size=1000,
                          **access_layers(settings, shared_services.registry, engine, pdl=False))


@pytest.fixture
def pdl_services(shared_services: EngineServices, audit: MemoryAuditSink, engine: Engine,
                 settings: Settings) -> EngineServices:
    """All access layers, as in production: scopes, options, patient data law."""
    return EngineServices(shared_services.registry, shared_services.validator, audit=audit,
                          default_page_size=50, max_page_size=1000,
                          **access_layers(settings, shared_services.registry, engine))


@pytest.fixture
def pdl_client(engine: Engine, settings: Settings, pdl_services: EngineServices,
               system_token: str) -> Iterator[TestClient]:
    """A client of a fresh server with every access layer; sends a system token by default."""
    wipe(engine)
    app = create_app(settings, services=pdl_services, engine=engine)
    with TestClient(app, headers=bearer(system_token)) as c:
        yield c


def mint_token(settings: Settings, scopes: str = "system/*.cruds", *, kind: str = "system",
               subject: str | None = None, ttl: int = 3600, **claims: Any) -> str:
    """An access token as the authorisation server would mint it (claims: principal.py)."""
    return mint(KeyStore(settings.key_dir), issuer=settings.issuer,
                audience=settings.base_url, subject=subject or f"{kind}:test",
                scopes=scopes.split(), ttl_seconds=ttl,
                claims=principal_claims(kind=kind, client_id="test-client", **claims))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def authed_client(app: Any, scopes: str = "system/*.cruds", **claims: Any) -> TestClient:
    """A TestClient of `app` sending a token minted with the app's own keys."""
    token = mint_token(app.state.settings, scopes, **claims)
    return TestClient(app, headers=bearer(token))


@pytest.fixture
def system_token(settings: Settings) -> str:
    return mint_token(settings)


@pytest.fixture
def client(engine: Engine, settings: Settings, services: EngineServices,
           system_token: str) -> Iterator[TestClient]:
    """A client of a fresh server that sends a system token with full scopes by default."""
    wipe(engine)
    app = create_app(settings, services=services, engine=engine)
    with TestClient(app, headers=bearer(system_token)) as c:
        yield c


class Fhir:
    """Small helper around the test client: JSON in, JSON out, status asserted."""

    def __init__(self, client: TestClient) -> None:
        self.c = client

    def create(self, resource: dict[str, Any], status: int = 201,
               **headers: str) -> dict[str, Any]:
        r = self.c.post(f"/fhir/{resource['resourceType']}", json=resource,
                        headers={**FHIR_JSON, **headers})
        assert r.status_code == status, r.text
        return r.json()

    def put(self, resource: dict[str, Any], status: int = 200, **headers: str) -> Any:
        r = self.c.put(f"/fhir/{resource['resourceType']}/{resource['id']}", json=resource,
                       headers={**FHIR_JSON, **headers})
        assert r.status_code == status, r.text
        return r

    def get(self, path: str, status: int = 200, **headers: str) -> dict[str, Any]:
        r = self.c.get(f"/fhir/{path}", headers=headers)
        assert r.status_code == status, r.text
        return r.json()

    def search_ids(self, query: str) -> list[str]:
        bundle = self.get(query)
        return sorted(e["resource"]["id"] for e in bundle.get("entry", [])
                      if e["search"]["mode"] == "match")

    def transaction(self, entries: list[dict[str, Any]], status: int = 200,
                    kind: str = "transaction") -> dict[str, Any]:
        r = self.c.post("/fhir", json={"resourceType": "Bundle", "type": kind,
                                       "entry": entries}, headers=FHIR_JSON)
        assert r.status_code == status, r.text
        return r.json()


@pytest.fixture
def fhir(client: TestClient) -> Fhir:
    return Fhir(client)


def patient(family: str = "Andersson", given: str = "Anna", birth: str = "1950-02-03",
            gender: str = "female", **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "name": [{"family": family, "given": [given]}],
            "birthDate": birth, "gender": gender, **extra}


def observation(subject: str, code: str = "8867-4", value: float = 72, unit: str = "/min",
                when: str = "2024-01-02T10:00:00Z", **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
            "subject": {"reference": subject}, "effectiveDateTime": when,
            "valueQuantity": {"value": value, "system": "http://unitsofmeasure.org",
                              "code": unit, "unit": unit}, **extra}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Anything that touches the database is a storage/API test, repeated on PostgreSQL in CI.
    for item in items:
        if {"engine", "client", "db_url"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.storage)
