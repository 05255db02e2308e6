"""The `vardnav` command line (serve, migrate, demo, reindex) against a temporary SQLite file.

SQLite only on purpose: these tests exercise the commands, not the storage backends, so they
do not use the `db_url` fixture (and are not repeated on PostgreSQL).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from personnummer import personnummer
from sqlalchemy import Engine, delete, func, inspect, select, text
from typer.testing import CliRunner, Result

from conftest import TESTPERSONNUMMER, authed_client
from vardnav.cli import app
from vardnav.config import Settings
from vardnav.db.engine import make_engine
from vardnav.fhir.storage.repository import EngineServices
from vardnav.fhir.storage.tables import INDEX_TABLES, resource
from vardnav.main import create_app

HTEST = "http://terminology.hl7.org/CodeSystem/v3-ActReason|HTEST"
PNR_SYSTEM = "http://electronichealth.se/identifier/personnummer"

runner = CliRunner()


def run(*args: str, ok: bool = True) -> Result:
    result = runner.invoke(app, list(args), prog_name="vardnav")
    if ok:
        assert result.exit_code == 0, (result.output, result.exception)
    return result


def flat(output: str) -> str:
    """Help text without rich's box drawing and line wrapping."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", output).split())


@pytest.fixture
def cli_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("VARDNAV_DATABASE_URL", url)
    monkeypatch.delenv("VARDNAV_TESTPERSONNUMMER_FILE", raising=False)
    return url


@pytest.fixture
def db(cli_db: str) -> Iterator[Engine]:
    eng = make_engine(cli_db)
    yield eng
    eng.dispose()


@pytest.fixture
def api(cli_db: str, db: Engine, shared_services: EngineServices) -> Iterator[TestClient]:
    """The FHIR API over the CLI's database (services shared: building them is slow)."""
    # No background workers (sealer, HL7 and subscription delivery): they would poll the file
    # while the test migrates it, and the migration could meet their locks.
    settings = Settings(database_url=cli_db, base_url="http://testserver/fhir",
                        audit_seal_seconds=0, hl7_deliver=False, subscriptions_deliver=False)
    with authed_client(create_app(settings, services=shared_services, engine=db)) as c:
        yield c


def total(api: TestClient, query: str) -> int:
    r = api.get(f"/fhir/{query}{'&' if '?' in query else '?'}_summary=count")
    assert r.status_code == 200, r.text
    return r.json()["total"]


def count_rows(db: Engine, table) -> int:
    with db.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


@pytest.fixture
def official_list() -> Path:
    if not TESTPERSONNUMMER.is_file():
        pytest.skip(f"{TESTPERSONNUMMER} (Skatteverket's test personnummer) is missing")
    return TESTPERSONNUMMER


# -- help -----------------------------------------------------------------------------------

def test_help_lists_every_command_with_its_help() -> None:
    out = flat(run("--help").output)
    assert "Usage: vardnav" in out
    assert "Vårdnav: a FHIR R4 shared health record" in out
    for command, help_text in [
        ("serve", "Serve the FHIR API (under /fhir) with uvicorn."),
        ("migrate", "Create or upgrade the database schema (Alembic) at VARDNAV_DATABASE_URL."),
        ("demo", "Load the demo region and a synthetic population"),
        ("reindex", "Rebuild search index rows from stored resources"),
    ]:
        assert f"{command} {help_text}" in out, (command, out)


def test_no_arguments_shows_help() -> None:
    result = run(ok=False)
    assert result.exit_code != 0  # no_args_is_help: usage, and a non-zero status
    assert "serve" in result.output and "reindex" in result.output


def test_serve_help() -> None:
    out = flat(run("serve", "--help").output)
    assert "Serve the FHIR API (under /fhir) with uvicorn." in out
    for option in ("--host", "--port", "--workers"):
        assert option in out
    assert "127.0.0.1" in out and "8080" in out  # the defaults are shown


def test_demo_and_reindex_help() -> None:
    demo = flat(run("demo", "--help").output)
    for option in ("--patients", "--seed", "--personnummer-file", "--if-empty"):
        assert option in demo
    reindex = flat(run("reindex", "--help").output)
    assert "--type" in reindex and "--batch" in reindex


# -- migrate --------------------------------------------------------------------------------

def test_migrate_creates_the_schema_and_is_idempotent(cli_db: str, db: Engine) -> None:
    result = run("migrate")
    assert "up to date" in result.output
    tables = set(inspect(db).get_table_names())
    index_tables = {t.name for t in INDEX_TABLES.values()}
    assert {"resource", "resource_version", "alembic_version", *index_tables} <= tables
    with db.connect() as conn:
        head = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    assert len(head) == 1

    again = run("migrate")  # nothing to do, same revision, no error
    assert "up to date" in again.output
    with db.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() \
            == head
    assert set(inspect(db).get_table_names()) == tables


# -- demo -----------------------------------------------------------------------------------

def test_demo_loads_tagged_patients_then_if_empty_does_nothing(
        cli_db: str, db: Engine, api: TestClient, official_list: Path) -> None:
    run("migrate")
    result = run("demo", "--patients", "20", "--personnummer-file", str(official_list))
    loaded = re.search(r"Loaded (\d+) patients, (\d+) resources", result.output)
    assert loaded and loaded.group(1) == "20", result.output
    region = re.search(r"Region: (\d+) organisations and locations", result.output)
    assert region, result.output
    # Demo sign-in adds RelatedPerson links for a demo guardian (demo/accounts.py).
    links = re.search(r"Guardianship: (\d+) RelatedPerson", result.output)
    assert links, result.output
    n_resources = int(loaded.group(2)) + int(region.group(1)) + int(links.group(1))
    assert n_resources > 20

    assert total(api, "Patient") == 20
    assert total(api, f"Patient?_tag={HTEST}") == 20
    assert total(api, "Organization?_summary=count") > 49  # region, municipalities, units
    assert count_rows(db, resource) == n_resources
    assert total(api, f"?_tag={HTEST}") == n_resources  # every resource is tagged HTEST

    official = set(official_list.read_text(encoding="ascii").split())
    bundle = api.get(f"/fhir/Patient?_tag={HTEST}&_count=100").json()
    numbers = [i["value"] for e in bundle["entry"] for i in e["resource"]["identifier"]
               if i["system"] == PNR_SYSTEM]
    assert len(numbers) == len(set(numbers)) == 20
    assert set(numbers) <= official
    # The demo's records are kept by the region's primary care centres (custody tags).
    units = {t["code"] for e in bundle["entry"] for t in e["resource"]["meta"]["tag"]
             if t["system"] == "https://vardnav.se/fhir/CodeSystem/care-unit"}
    assert units and all(u.startswith("SE2321000131-VC") for u in units)
    assert total(api, "Observation?_tag=https://vardnav.se/fhir/CodeSystem/care-provider|"
                      "SE2321000131-E000000000001") == total(api, "Observation")

    again = run("demo", "--if-empty", "--patients", "5")
    assert "already holds data" in again.output
    assert "Loaded" not in again.output
    assert count_rows(db, resource) == n_resources


def test_demo_if_empty_loads_into_an_empty_database(cli_db: str, api: TestClient,
                                                    official_list: Path) -> None:
    run("migrate")
    result = run("demo", "--if-empty", "--patients", "2", "--personnummer-file",
                 str(official_list))
    assert "Loaded 2 patients" in result.output
    assert total(api, f"Patient?_tag={HTEST}") == 2


def test_demo_without_the_list_generates_valid_numbers(cli_db: str, tmp_path: Path,
                                                       api: TestClient) -> None:
    run("migrate")
    result = run("demo", "--patients", "3", "--personnummer-file",
                 str(tmp_path / "no-such-list.txt"))
    assert "Loaded 3 patients" in result.output
    bundle = api.get(f"/fhir/Patient?_tag={HTEST}").json()
    numbers = [i["value"] for e in bundle["entry"] for i in e["resource"]["identifier"]
               if i["system"] == PNR_SYSTEM]
    assert len(numbers) == 3
    assert all(personnummer.valid(n) for n in numbers), numbers


# -- reindex --------------------------------------------------------------------------------

def test_reindex_rebuilds_deleted_index_rows(cli_db: str, db: Engine, api: TestClient,
                                             official_list: Path) -> None:
    run("migrate")
    run("demo", "--patients", "4", "--personnummer-file", str(official_list))
    before = {name: count_rows(db, table) for name, table in INDEX_TABLES.items()}
    assert all(before[kind] for kind in ("string", "token", "date", "reference")), before
    n_resources = count_rows(db, resource)
    family = api.get("/fhir/Patient?_count=1").json()["entry"][0]["resource"]["name"][0][
        "family"]
    assert total(api, f"Patient?_tag={HTEST}") == 4

    with db.begin() as conn:
        for table in INDEX_TABLES.values():
            conn.execute(delete(table))
    assert total(api, f"Patient?_tag={HTEST}") == 0
    assert total(api, f"Patient?family={family}") == 0
    assert total(api, "Patient") == 4  # no criteria: no index needed

    result = run("reindex")
    assert f"Reindexed {n_resources} resources." in result.output
    assert {name: count_rows(db, table) for name, table in INDEX_TABLES.items()} == before
    assert total(api, f"Patient?_tag={HTEST}") == 4
    assert total(api, f"Patient?family={family}") >= 1

    # Again, and only one type: same rows, not duplicated.
    only = run("reindex", "--type", "Patient", "--batch", "3")
    assert "Reindexed 4 resources." in only.output
    assert {name: count_rows(db, table) for name, table in INDEX_TABLES.items()} == before
