"""`vardnav user add|list|disable|enable` and the demo's sign-in accounts, against a temporary
SQLite file (command tests, not storage tests: see test_cli.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from typer.testing import CliRunner, Result

from vardnav.cli import app
from vardnav.config import Settings
from vardnav.db.engine import make_engine
from vardnav.domains.identity.models import user_account
from vardnav.fhir.storage.repository import EngineServices
from vardnav.main import create_app

runner = CliRunner()
STAFF = "SE2321000131-T00001"


def run(*args: str, ok: bool = True, stdin: str | None = None) -> Result:
    result = runner.invoke(app, list(args), input=stdin, prog_name="vardnav")
    if ok:
        assert result.exit_code == 0, (result.output, result.exception)
    return result


@pytest.fixture
def cli_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("VARDNAV_DATABASE_URL", url)
    monkeypatch.setenv("VARDNAV_KEY_DIR", str(tmp_path / "keys"))
    monkeypatch.delenv("VARDNAV_TESTPERSONNUMMER_FILE", raising=False)
    run("migrate")
    engine = make_engine(url)
    yield engine
    engine.dispose()


def hashes(db: Engine) -> dict[str, str]:
    with db.connect() as conn:
        return dict(conn.execute(select(user_account.c.username,
                                        user_account.c.password_hash)).all())


def test_user_add_list_disable_enable(cli_db: Engine) -> None:
    run("user", "add", "--username", STAFF, "--kind", "staff", "--password-stdin",
        stdin="ett långt lösenord\n")
    run("user", "add", "--username", "19121212-1212", "--kind", "resident",
        "--password", "ett annat lösenord")
    stored = hashes(cli_db)
    assert set(stored) == {STAFF, "191212121212"}
    assert all(h.startswith("$argon2id$") for h in stored.values())
    listing = run("user", "list").output
    assert STAFF in listing and "191212121212" in listing and "$argon2" not in listing

    assert "disabled" in run("user", "disable", STAFF.lower()).output
    assert "disabled" in run("user", "list").output
    assert "enabled" in run("user", "enable", STAFF).output
    assert run("user", "disable", "SE2321000131-NOONE", ok=False).exit_code == 1


@pytest.mark.parametrize(("args", "problem"), [
    (("--username", STAFF, "--kind", "staff", "--password", "kort"), "at least 8"),
    (("--username", "not-an-hsa-id", "--kind", "staff", "--password", "långt nog!"),
     "not an HSA-id"),
    (("--username", "191212121213", "--kind", "resident", "--password", "långt nog!"),
     "check digit"),
    (("--username", STAFF, "--kind", "admin", "--password", "långt nog!"), "Kind must be"),
])
def test_user_add_refuses_bad_input(cli_db: Engine, args: tuple[str, ...],
                                    problem: str) -> None:
    result = run("user", "add", *args, ok=False)
    assert result.exit_code == 1 and problem in result.output
    assert hashes(cli_db) == {}


def test_user_add_needs_exactly_one_password_source(cli_db: Engine) -> None:
    both = run("user", "add", "--username", STAFF, "--kind", "staff", "--password",
               "långt nog!", "--password-stdin", ok=False, stdin="x\n")
    assert both.exit_code != 0
    run("user", "add", "--username", STAFF, "--kind", "staff", "--password", "långt nog!")
    again = run("user", "add", "--username", STAFF, "--kind", "staff", "--password",
                "långt nog!", ok=False)
    assert again.exit_code == 1 and "already exists" in again.output


def test_demo_creates_accounts_with_the_demo_password(cli_db: Engine, tmp_path: Path,
                                                      shared_services: EngineServices
                                                      ) -> None:
    out = run("demo", "--patients", "80", "--personnummer-file",
              str(tmp_path / "no-such-list.txt")).output
    flat = " ".join(out.split())
    assert "demo password vardnav-demo" in flat
    staff = re.search(r"staff: (\d+) accounts", flat)
    assert staff and int(staff.group(1)) > 90, flat
    guardian = re.search(r"resident (\d{12}): [^,]+, vårdnadshavare till", flat)
    assert guardian, flat
    busy = re.search(r"e\.g\. (\S+) \(two assignments", flat)
    assert busy, flat

    stored = hashes(cli_db)
    assert guardian.group(1) in stored and busy.group(1) in stored

    settings = Settings(database_url=str(cli_db.url), base_url="http://testserver/fhir",
                        key_dir=tmp_path / "keys")
    with TestClient(create_app(settings, services=shared_services, engine=cli_db),
                    follow_redirects=False) as c:
        token = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text)
        assert token
        r = c.post("/login", data={"csrf": token.group(1), "username": guardian.group(1),
                                   "password": "vardnav-demo", "next": "/"})
        assert r.headers["location"] == "/login/choose"
        page = c.get("/login/choose").text
        assert "Min egen journal" in page and "Mitt barns journal" in page

    again = " ".join(run("demo", "--patients", "80", "--personnummer-file",
                         str(tmp_path / "no-such-list.txt")).output.split())
    assert "Guardianship: 0 RelatedPerson" in again  # a second run adds nothing
    assert hashes(cli_db) == stored
