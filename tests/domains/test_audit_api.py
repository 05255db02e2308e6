"""The access log over the API: AuditEvents cannot be written (append-only), the patient and
log reviewers get log extracts (JSON or CSV) and nobody else does, and the log review is for
log reviewers only."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from audit_support import (
    HSA,
    OTHER_USER,
    PROVIDER,
    REVIEWER,
    UNIT,
    USER,
    create,
    log_rows,
    organisation,
    practitioner,
    resident_client,
    staff_client,
)
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, insert, select

from conftest import FHIR_JSON, observation, patient
from vardnav.domains.access.append_only import AppendOnlyAuditPolicy
from vardnav.domains.access.audit_frames import FRAME
from vardnav.domains.access.models import audit_frame
from vardnav.errors import MethodNotAllowed
from vardnav.fhir.hooks import AllowAllPolicy, RequestContext
from vardnav.fhir.storage.repository import EngineServices

pytest_plugins = ("audit_fixtures",)  # its fixtures

AUDIT_EVENT = {"resourceType": "AuditEvent", "id": "forged",
               "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
                        "code": "rest"},
               "recorded": "2026-01-01T00:00:00Z",
               "agent": [{"requestor": True, "who": {"display": "x"}}],
               "source": {"observer": {"display": "x"}}}


# -- append-only -------------------------------------------------------------------------------

def test_audit_events_cannot_be_written(audit_system: TestClient) -> None:
    attempts = [
        audit_system.post("/fhir/AuditEvent", json=AUDIT_EVENT, headers=FHIR_JSON),
        audit_system.put("/fhir/AuditEvent/forged", json=AUDIT_EVENT, headers=FHIR_JSON),
        audit_system.patch("/fhir/AuditEvent/forged", json=[{"op": "remove", "path": "/agent"}],
                           headers={"content-type": "application/json-patch+json"}),
        audit_system.delete("/fhir/AuditEvent/forged"),
        audit_system.delete("/fhir/AuditEvent?agent=x"),
    ]
    for r in attempts:
        assert r.status_code == 405, r.text
        assert r.json()["resourceType"] == "OperationOutcome"
        assert "append-only" in r.json()["issue"][0]["diagnostics"]
    # In a transaction the policy refuses the entry, and nothing else is stored either.
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": patient(), "request": {"method": "POST", "url": "Patient"}},
        {"resource": AUDIT_EVENT, "request": {"method": "PUT", "url": "AuditEvent/forged"}}]}
    r = audit_system.post("/fhir", json=bundle, headers=FHIR_JSON)
    assert r.status_code == 405 and "append-only" in r.text
    assert audit_system.get("/fhir/Patient").json()["total"] == 0
    assert audit_system.get("/fhir/AuditEvent").status_code == 200  # reads are harmless
    assert audit_system.post("/fhir/AuditEvent/_search", data={"agent": "x"}).status_code == 200
    checked = audit_system.post("/fhir/AuditEvent/$validate", json=AUDIT_EVENT,
                                headers=FHIR_JSON)
    assert checked.status_code == 200, checked.text


def test_the_append_only_rule_wraps_any_policy() -> None:
    policy = AppendOnlyAuditPolicy(AllowAllPolicy())
    ctx = RequestContext()
    for interaction in ("create", "update", "patch", "delete"):
        with pytest.raises(MethodNotAllowed):
            policy.authorize(ctx, interaction, "AuditEvent", AUDIT_EVENT)
    policy.authorize(ctx, "read", "AuditEvent")
    policy.authorize(ctx, "create", "Patient", patient())


# -- log extract -------------------------------------------------------------------------------

@pytest.fixture
def accessed(audit_system: TestClient, audit_app: Any) -> dict[str, str]:
    """A patient read by a nurse of a named unit, and another patient read by someone else."""
    create(audit_system, organisation(UNIT, "Avdelning 1, Testsjukhuset"))
    create(audit_system, organisation(PROVIDER, "Region Test"))
    create(audit_system, practitioner(USER, "Sjöberg", "Sara"))
    pid = create(audit_system, patient())["id"]
    oid = create(audit_system, observation(f"Patient/{pid}"))["id"]
    other = create(audit_system, patient(family="Berg"))["id"]
    nurse = staff_client(audit_app)
    assert nurse.get(f"/fhir/Observation/{oid}").status_code == 200
    assert nurse.get(f"/fhir/Observation?subject=Patient/{pid}").status_code == 200
    assert staff_client(audit_app, OTHER_USER).get(f"/fhir/Patient/{other}").status_code == 200
    return {"patient": pid, "other": other, "observation": oid}


def _staff_entries(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"]
            if e["resource"]["agent"][0].get("who", {}).get("identifier", {}).get("system")
            == HSA]


def test_the_patient_gets_their_log_extract(audit_app: Any, accessed: dict[str, str],
                                            engine: Engine,
                                            db_audit_services: EngineServices) -> None:
    pid = accessed["patient"]
    me = resident_client(audit_app, pid)
    r = me.get(f"/fhir/Patient/{pid}/$log-extract")
    assert r.status_code == 200, r.text
    bundle = r.json()
    assert bundle["type"] == "collection"
    for entry in bundle["entry"]:
        db_audit_services.validator.validate(entry["resource"])
        assert entry["resource"]["entity"] == [entry["resource"]["entity"][0]]
        assert entry["resource"]["entity"][0]["what"] == {"reference": f"Patient/{pid}"}
        assert "network" not in entry["resource"]["agent"][0]
    read, search = _staff_entries(bundle)
    assert read["agent"][0]["who"] == {
        "identifier": {"system": HSA, "value": USER}, "display": "Sara Sjöberg"}
    unit, provider = read["agent"][1]["who"], read["agent"][2]["who"]
    assert unit["identifier"]["value"] == UNIT
    assert unit["display"] == "Avdelning 1, Testsjukhuset"
    assert provider["display"] == "Region Test"
    assert search["subtype"] == [{"system": "http://hl7.org/fhir/restful-interaction",
                                  "code": "search"}]
    assert accessed["other"] not in r.text and OTHER_USER not in r.text
    # The extract itself is logged, naming the patient.
    last = log_rows(engine)[-1]
    assert last["interaction"] == "operation:log-extract" and last["patients"] == [pid]
    assert last["kind"] == "resident" and last["purpose"] == "PATRQT"


def test_an_extract_still_answers_when_a_frame_is_missing(
        audit_app: Any, accessed: dict[str, str], engine: Engine,
        db_audit_services: EngineServices) -> None:
    """A removed frame is tampering (`vardnav audit verify` names it); the patient's extract
    still lists the access, when and where, and says what is missing."""
    pid = accessed["patient"]
    read = next(r for r in log_rows(engine) if r["interaction"] == "read"
                and r["patients"] == [pid])
    digest = read["stored"][FRAME]
    with engine.begin() as conn:
        text = conn.execute(select(audit_frame.c.frame)
                            .where(audit_frame.c.digest == digest)).scalar_one()
        conn.execute(delete(audit_frame).where(audit_frame.c.digest == digest))
    try:
        r = resident_client(audit_app, pid).get(f"/fhir/Patient/{pid}/$log-extract")
    finally:  # other tests' sinks know this frame as stored
        with engine.begin() as conn:
            conn.execute(insert(audit_frame).values(digest=digest, frame=text))
    assert r.status_code == 200, r.text
    [gap] = [e["resource"] for e in r.json()["entry"]
             if e["resource"]["id"] == read["stored"]["id"]]
    db_audit_services.validator.validate(gap)
    assert gap["outcomeDesc"] == "this entry's frame is missing from the access log"
    assert gap["agent"][1]["who"]["identifier"]["value"] == UNIT  # from the row's columns


def test_the_extract_as_csv(audit_app: Any, accessed: dict[str, str]) -> None:
    pid = accessed["patient"]
    me = resident_client(audit_app, pid)
    for r in (me.get(f"/fhir/Patient/{pid}/$log-extract?_format=csv"),
              me.get(f"/fhir/Patient/{pid}/$log-extract", headers={"Accept": "text/csv"})):
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("text/csv")
        assert f"loggutdrag-{pid}.csv" in r.headers["content-disposition"]
        rows = list(csv.DictReader(io.StringIO(r.text)))
        staff = [row for row in rows if row["user_kind"] == "staff"]
        assert [row["interaction"] for row in staff] == ["read", "search"]
        assert staff[0]["care_unit_name"] == "Avdelning 1, Testsjukhuset"
        assert staff[0]["user_name"] == "Sara Sjöberg"
    assert me.get(f"/fhir/Patient/{pid}/$log-extract?_format=xml").status_code == 415


def test_who_may_get_an_extract(audit_app: Any, audit_system: TestClient,
                                accessed: dict[str, str]) -> None:
    pid, other = accessed["patient"], accessed["other"]
    path = f"/fhir/Patient/{pid}/$log-extract"
    reviewer = staff_client(audit_app, REVIEWER, role="log-reviewer")
    assert reviewer.get(path).status_code == 200
    assert audit_system.get(path).status_code == 200
    assert staff_client(audit_app).get(path).status_code == 403  # a nurse
    assert resident_client(audit_app, other).get(path).status_code in (403, 404)
    assert reviewer.get("/fhir/Patient/unknown/$log-extract").status_code == 404
    # The same operation through the engine (e.g. as a batch entry) answers alike.
    batch = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": f"Patient/{pid}/$log-extract"}}]}
    answer = audit_system.post("/fhir", json=batch, headers=FHIR_JSON).json()
    assert answer["entry"][0]["response"]["status"].startswith("200")
    assert answer["entry"][0]["resource"]["type"] == "collection"


def test_the_extract_window_and_hidden_user_names(audit_app: Any, accessed: dict[str, str],
                                                  engine: Engine) -> None:
    pid = accessed["patient"]
    me = resident_client(audit_app, pid)
    assert me.get(f"/fhir/Patient/{pid}/$log-extract?since=2999-01-01").json()["total"] == 0
    assert me.get(f"/fhir/Patient/{pid}/$log-extract?since=yesterday").status_code == 400
    audit_app.state.settings.log_extract_shows_users = False
    hidden = resident_client(audit_app, pid)  # the router reads the setting per request
    bundle = hidden.get(f"/fhir/Patient/{pid}/$log-extract").json()
    assert USER not in str(bundle) and "Sara" not in str(bundle)
    assert "Avdelning 1, Testsjukhuset" in str(bundle)


# -- log review over the API -------------------------------------------------------------------

def test_the_log_review_is_for_reviewers(audit_app: Any, audit_system: TestClient,
                                         accessed: dict[str, str]) -> None:
    reviewer = staff_client(audit_app, REVIEWER, role="log-reviewer")
    r = reviewer.get("/fhir/$log-review?since=2020-01-01")
    assert r.status_code == 200, r.text
    assert r.json()["resourceType"] == "Parameters"
    assert audit_system.get("/fhir/$log-review?since=2020-01-01").status_code == 200
    assert staff_client(audit_app).get("/fhir/$log-review?since=2020-01-01").status_code == 403
    resident = resident_client(audit_app, accessed["patient"])
    assert resident.get("/fhir/$log-review?since=2020-01-01").status_code == 403
    assert reviewer.get("/fhir/$log-review").status_code == 400  # since is required
    r = reviewer.get("/fhir/$log-review?since=2020-01-01&_format=csv")
    assert r.status_code == 200 and r.text.startswith("time,rule,user,unit,provider")
