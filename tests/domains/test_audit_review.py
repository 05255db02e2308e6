"""Log review: each rule finds the accesses it is about and leaves ordinary care alone;
the command line gives the findings as a table, CSV or JSON."""

from __future__ import annotations

import csv
import io
import json
import time
from typing import Any

import pytest
from audit_support import OTHER_USER, UNIT, USER, practitioner, staff_principal
from sqlalchemy import Engine, insert
from typer.testing import CliRunner

from conftest import patient
from vardnav.cli import app as cli
from vardnav.db.unit_of_work import run_in_transaction
from vardnav.domains.access.log_review import Finding, review
from vardnav.domains.access.pdl_tables import care_relationship, emergency
from vardnav.fhir.hooks import RequestContext
from vardnav.fhir.storage.repository import EngineServices, Repository

pytest_plugins = ("audit_fixtures",)  # its fixtures

PNR = "http://electronichealth.se/identifier/personnummer"
HOME = {"line": ["Storgatan 1"], "postalCode": "411 01", "city": "Göteborg"}
ELSEWHERE = {"line": ["Lillgatan 9"], "postalCode": "411 05", "city": "Göteborg"}


class World:
    def __init__(self, engine: Engine, services: EngineServices) -> None:
        self.engine, self.services = engine, services
        self.start = time.time() - 1

    def store(self, resource: dict[str, Any]) -> str:
        ctx = RequestContext(principal=staff_principal(subject="SE-ADMIN"))
        return run_in_transaction(self.engine, lambda conn: Repository(
            conn, self.services, ctx).create(resource["resourceType"], resource).id)

    def read(self, pid: str, subject: str = USER, **attributes: Any) -> None:
        ctx = RequestContext(principal=staff_principal(subject=subject), attributes=attributes)
        run_in_transaction(self.engine, lambda conn: Repository(
            conn, self.services, ctx).read("Patient", pid), write=False)

    def findings(self, threshold: int = 50) -> list[Finding]:
        with self.engine.connect() as conn:
            found = review(conn, self.start, None, daily_threshold=threshold)
        return [f for f in found if f.user != "SE-ADMIN"]


@pytest.fixture
def world(audit_app: Any, engine: Engine, db_audit_services: EngineServices) -> World:
    return World(engine, db_audit_services)


def rules(findings: list[Finding]) -> list[tuple[str, str | None, str | None]]:
    return [(f.rule, f.user, f.patient) for f in findings]


def test_ordinary_care_gives_no_findings(world: World) -> None:
    pid = world.store(patient())
    world.store(practitioner(USER, "Andersson", "Per", address=[ELSEWHERE]))
    world.read(pid)
    assert world.findings() == []


def test_marked_emergency_and_asserted_accesses(world: World) -> None:
    pid = world.store(patient())
    world.read(pid, purpose_of_use="ETREAT")
    world.read(pid, care_relationship="asserted")
    found = world.findings()
    assert rules(found) == [("emergency", USER, pid), ("asserted-relationship", USER, pid)]
    assert found[0].unit == UNIT and "emergency access (read)" in found[0].reason


def test_accesses_under_an_emergency_grant_or_asserted_relationship(world: World) -> None:
    pid, other = world.store(patient()), world.store(patient(family="Berg"))
    now = time.time()
    with world.engine.begin() as conn:
        conn.execute(insert(emergency).values(subject=USER, unit=UNIT, patient_id=pid,
                                              start=now - 10, until=now + 3600,
                                              reason="medvetslös"))
        conn.execute(insert(care_relationship).values(
            patient_id=other, unit=UNIT, source="asserted", start=now - 10, end=now + 3600,
            asserted_by=OTHER_USER, reason="remiss saknas"))
    world.read(pid)
    world.read(other, subject=OTHER_USER)
    found = world.findings()
    assert rules(found) == [("emergency", USER, pid),
                            ("asserted-relationship", OTHER_USER, other)]
    assert "medvetslös" in found[0].reason
    assert f"asserted by {OTHER_USER} (remiss saknas)" in found[1].reason


def test_same_family_name_and_address(world: World) -> None:
    world.store(practitioner(USER, "Lind", "Eva", address=[HOME]))
    relative = world.store(patient(family="Lind", address=[
        {"line": ["STORGATAN  1"], "postalCode": "41101", "city": "GÖTEBORG"}]))
    namesake = world.store(patient(family="Lind", address=[ELSEWHERE]))
    neighbour = world.store(patient(family="Ek", address=[HOME]))
    for pid in (relative, namesake, neighbour):
        world.read(pid)
    found = world.findings()
    assert rules(found) == [("same-name-address", USER, relative)]
    assert "family name and address" in found[0].reason


def test_own_record(world: World) -> None:
    world.store(practitioner(USER, "Lind", "Eva", identifier=[
        {"system": "urn:oid:1.2.752.29.4.19", "value": USER},
        {"system": PNR, "value": "19800101-2387"}]))
    own = world.store(patient(identifier=[{"system": PNR, "value": "198001012387"}]))
    world.read(own)
    assert rules(world.findings()) == [("own-record", USER, own)]


def test_protected_identity(world: World) -> None:
    protected = world.store(patient(meta={"security": [
        {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
         "code": "protected-information"}]}))
    world.read(protected)
    world.read(protected, subject=OTHER_USER)
    assert rules(world.findings()) == [("protected-identity", USER, protected),
                                       ("protected-identity", OTHER_USER, protected)]


def test_unusual_volume(world: World) -> None:
    patients = [world.store(patient(family=f"P{i}")) for i in range(4)]
    for pid in patients:
        world.read(pid)
    for pid in patients[:2]:
        world.read(pid, subject=OTHER_USER)
        world.read(pid, subject=OTHER_USER)  # the same patients again do not count
    assert world.findings(threshold=4) == []
    found = world.findings(threshold=3)
    assert rules(found) == [("volume", USER, None)]
    assert found[0].reason.startswith("4 distinct patients on ")


def test_cli_review_formats(world: World, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VARDNAV_DATABASE_URL", db_url)
    pid = world.store(patient())
    world.read(pid, purpose_of_use="ETREAT")
    since = time.strftime("%Y-%m-%d", time.gmtime(world.start - 86400))
    runner = CliRunner()
    table = runner.invoke(cli, ["audit", "review", "--since", since], terminal_width=200)
    assert table.exit_code == 0, table.output
    assert "1 finding(s)" in table.output and "emergency" in table.output
    as_csv = runner.invoke(cli, ["audit", "review", "--since", since, "--format", "csv"])
    rows = list(csv.DictReader(io.StringIO(as_csv.output)))
    assert [(r["rule"], r["user"], r["patient"]) for r in rows] == [("emergency", USER, pid)]
    as_json = runner.invoke(cli, ["audit", "review", "--since", since, "--format", "json"])
    assert [f["rule"] for f in json.loads(as_json.output)] == ["emergency"]
    bad = runner.invoke(cli, ["audit", "review", "--since", since, "--format", "xml"])
    assert bad.exit_code != 0
    bad_date = runner.invoke(cli, ["audit", "review", "--since", "igår"])
    assert bad_date.exit_code == 2 and "not a valid" in bad_date.output
