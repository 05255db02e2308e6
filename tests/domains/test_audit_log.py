"""Every interaction leaves one row in the persistent access log, in the interaction's own
transaction: a write's row commits or rolls back with it. Each row is a valid R4 AuditEvent
naming the user, unit, provider, purpose, patients and data touched."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from audit_support import (
    PROVIDER,
    UNIT,
    USER,
    create,
    log_rows,
    staff_client,
    staff_principal,
)
from fastapi.testclient import TestClient
from signin_support import PASSWORD, login
from sqlalchemy import Engine, delete, func, select

from conftest import FHIR_JSON, observation, patient
from vardnav.db.unit_of_work import run_in_transaction, transaction
from vardnav.domains.access.audit_log import DatabaseAuditSink
from vardnav.domains.access.login_audit import record_login
from vardnav.domains.access.models import audit_log
from vardnav.domains.identity.models import login_failure, user_account
from vardnav.domains.identity.signin.accounts import create_account, hash_password
from vardnav.fhir.hooks import AuditRecord, RequestContext
from vardnav.fhir.storage.repository import EngineServices, Repository

pytest_plugins = ("audit_fixtures",)  # its fixtures


def _valid(services: EngineServices, rows: list[dict[str, Any]]) -> None:
    for row in rows:
        services.validator.validate(row["parsed"])


def _only(rows: list[dict[str, Any]], interaction: str) -> dict[str, Any]:
    found = [r for r in rows if r["interaction"] == interaction]
    assert len(found) == 1, [r["interaction"] for r in rows]
    return found[0]


def test_reads_searches_history_and_everything_are_logged(
        audit_system: TestClient, audit_app: Any, engine: Engine,
        db_audit_services: EngineServices) -> None:
    pid = create(audit_system, patient())["id"]
    oid = create(audit_system, observation(f"Patient/{pid}"))["id"]
    other = create(audit_system, patient(family="Berg"))["id"]
    before = len(log_rows(engine))
    nurse = staff_client(audit_app)
    assert nurse.get(f"/fhir/Patient/{pid}").status_code == 200
    assert nurse.get(f"/fhir/Observation/{oid}/_history/1").status_code == 200
    found = nurse.get(f"/fhir/Observation?subject=Patient/{pid}&_include=Observation:subject")
    assert found.status_code == 200
    assert nurse.get("/fhir/Patient?_count=10").status_code == 200
    assert nurse.get(f"/fhir/Patient/{pid}/_history").status_code == 200
    assert nurse.get(f"/fhir/Patient/{pid}/$everything").status_code == 200
    rows = log_rows(engine)[before:]
    _valid(db_audit_services, rows)

    assert [r["interaction"] for r in rows] == [
        "read", "vread", "search", "search", "history", "read", "operation:everything"]
    read = rows[0]
    assert read["patients"] == [pid] and read["user_id"] == USER
    assert (read["unit"], read["provider"], read["kind"]) == (UNIT, PROVIDER, "staff")
    assert read["purpose"] == "TREAT" and read["outcome"] == "success"
    assert read["parsed"]["action"] == "R"
    assert _only(rows, "vread")["patients"] == [pid]
    searches = [r for r in rows if r["interaction"] == "search"]
    assert searches[0]["patients"] == [pid]  # the observation and its included patient
    assert searches[0]["parsed"]["action"] == "E"
    references = {e["what"]["reference"] for e in searches[0]["parsed"]["entity"]
                  if "what" in e}
    assert {f"Patient/{pid}", f"Observation/{oid}"} <= references
    assert searches[1]["patients"] == sorted([pid, other])  # every patient a search returned
    assert _only(rows, "history")["patients"] == [pid]
    assert _only(rows, "operation:everything")["patients"] == [pid]


def test_writes_are_logged_and_a_failed_transaction_leaves_no_row(
        audit_system: TestClient, engine: Engine) -> None:
    pid = create(audit_system, patient())["id"]
    assert [r["interaction"] for r in log_rows(engine)] == ["create"]
    assert log_rows(engine)[0]["parsed"]["action"] == "C"
    body = {**patient(), "id": pid, "gender": "male"}
    c = audit_system
    assert c.put(f"/fhir/Patient/{pid}", json=body, headers=FHIR_JSON).status_code == 200
    stale = c.put(f"/fhir/Patient/{pid}", json=body, headers={**FHIR_JSON, "If-Match": 'W/"1"'})
    assert stale.status_code == 412
    count = len(log_rows(engine))
    failing = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": patient(family="Ny"), "request": {"method": "POST", "url": "Patient"}},
        {"resource": observation(f"Patient/{pid}"),
         "request": {"method": "POST", "url": "Observation"}},
        {"resource": {"resourceType": "Patient", "gender": "nonsense"},
         "request": {"method": "POST", "url": "Patient"}}]}
    assert audit_system.post("/fhir", json=failing, headers=FHIR_JSON).status_code == 400
    assert len(log_rows(engine)) == count  # the creates' rows rolled back with them
    assert audit_system.delete(f"/fhir/Patient/{pid}").status_code in (200, 204)
    rows = log_rows(engine)
    assert [r["interaction"] for r in rows] == ["create", "update", "delete"]
    assert [r["parsed"]["action"] for r in rows] == ["C", "U", "D"]
    assert all(r["patients"] == [pid] for r in rows)
    assert rows[0]["purpose"] == "HOPERAT" and rows[0]["kind"] == "system"


def test_a_write_and_its_row_share_the_transaction(engine: Engine, audit_app: Any,
                                                   db_audit_services: EngineServices) -> None:
    ctx = RequestContext(principal=staff_principal())

    def create_then_fail(conn: Any) -> None:
        Repository(conn, db_audit_services, ctx).create("Patient", patient())
        raise RuntimeError("the request fails after the write")

    with contextlib.suppress(RuntimeError):
        run_in_transaction(engine, create_then_fail)
    assert log_rows(engine) == []


def test_a_sqlite_read_that_cannot_take_the_write_lock_logs_in_its_own_transaction(
        engine: Engine, audit_app: Any) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite only: PostgreSQL reads run in autocommit")
    sink, ctx = DatabaseAuditSink(), RequestContext(principal=staff_principal())
    read = AuditRecord("read", "Patient", ["p1"], patients=["p1"])
    with contextlib.suppress(RuntimeError), transaction(engine, write=False) as reader:
        reader.execute(select(func.count()).select_from(audit_log)).scalar_one()
        with transaction(engine, write=True) as writer:  # commits after the read began
            sink.record(writer, ctx, AuditRecord("create", "Patient", ["p2"]))
        # The reader's snapshot is stale: SQLite refuses to upgrade it at once, so the row
        # is written in a transaction of its own, and outlives the read's rollback.
        sink.record(reader, ctx, read)
        raise RuntimeError("the read fails afterwards")
    assert [(r["interaction"], r["patients"]) for r in log_rows(engine)] == [
        ("create", []), ("read", ["p1"])]


def test_the_event_is_valid_r4_with_agents_purpose_network_and_details(
        engine: Engine, audit_app: Any, db_audit_services: EngineServices) -> None:
    ctx = RequestContext(principal=staff_principal(), attributes={
        "client_address": "10.1.2.3", "purpose_of_use": "ETREAT",
        "care_relationship": "asserted", "reason": "medvetslös patient"})
    event = AuditRecord("read", "Observation", ["o1"], detail={"version": "2"},
                        patients=["p1"])
    run_in_transaction(engine, lambda conn: DatabaseAuditSink().record(conn, ctx, event),
                       write=False)
    row = log_rows(engine)[0]
    e = row["parsed"]
    db_audit_services.validator.validate(e)
    assert row["purpose"] == "ETREAT" and row["care_relationship"] == "asserted"
    user, unit, provider, app = e["agent"]
    assert user["requestor"] and user["who"]["identifier"]["value"] == USER
    assert user["network"] == {"address": "10.1.2.3", "type": "2"}
    assert e["purposeOfEvent"][0]["coding"][0]["code"] == "ETREAT"
    assert user["role"][0]["coding"][0]["code"] == "registered-nurse"
    assert unit["who"]["identifier"]["value"] == UNIT
    assert provider["who"]["identifier"]["value"] == PROVIDER
    assert app["who"]["identifier"]["value"] == "test-client"
    assert e["subtype"][0] == {"system": "http://hl7.org/fhir/restful-interaction",
                               "code": "read"}
    details = {d["type"]: d["valueString"] for ent in e["entity"]
               for d in ent.get("detail", [])}
    assert details == {"version": "2", "purpose_of_use": "ETREAT",
                       "care_relationship": "asserted", "reason": "medvetslös patient"}


def test_the_client_address_comes_from_the_request(audit_system: TestClient,
                                                   engine: Engine) -> None:
    create(audit_system, patient())
    user = log_rows(engine)[0]["parsed"]["agent"][0]
    assert user["network"]["address"] == "testclient"  # TestClient's peer name


def test_sign_in_attempts_are_logged(engine: Engine, audit_app: Any,
                                     db_audit_services: EngineServices) -> None:
    sink = db_audit_services.audit
    record_login(engine, sink, username=USER, kind="staff", method="password", result="ok",
                 client_address="10.0.0.9")
    record_login(engine, sink, username="SE-okand", kind=None, method="password",
                 result="wrong", client_address="10.0.0.9")
    ok, wrong = log_rows(engine)
    for row in (ok, wrong):
        db_audit_services.validator.validate(row["parsed"])
        assert row["parsed"]["type"]["code"] == "110114" and row["purpose"] is None
    assert ok["outcome"] == "success" and ok["user_id"] == USER and ok["kind"] == "staff"
    assert wrong["outcome"] == "failure" and wrong["parsed"]["outcome"] == "4"
    assert wrong["user_id"] == "SE-okand"


def test_the_sign_in_page_logs_success_and_failure(audit_app: Any, engine: Engine) -> None:
    staff = "SE2321000131-AUDIT1"

    def account(conn: Any) -> None:
        conn.execute(delete(login_failure))
        conn.execute(delete(user_account).where(user_account.c.username == staff))
        create_account(conn, username=staff, kind="staff", password_hash=hash_password(PASSWORD))

    run_in_transaction(engine, account)
    with TestClient(audit_app, follow_redirects=False) as c:
        login(c, staff, "fel-lösenord")
        login(c, staff)
    wrong, ok = [r for r in log_rows(engine) if r["interaction"] == "login"]
    assert (wrong["outcome"], wrong["user_id"], wrong["kind"]) == ("failure", staff, None)
    assert (ok["outcome"], ok["user_id"]) == ("success", staff)
    assert ok["parsed"]["agent"][0]["network"]["address"] == "testclient"
    details = {d["type"]: d["valueString"] for e in wrong["parsed"]["entity"]
               for d in e.get("detail", [])}
    assert details == {"method": "password", "result": "wrong"}
