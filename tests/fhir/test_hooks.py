"""Every interaction passes the access-policy and audit hooks; a policy's filter is applied
inside every query, so hidden resources leak through no search, count, include, chain, _has,
history or operation."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import ColumnElement, Connection, Engine, Table, update

from conftest import FHIR_JSON, Fhir, authed_client, observation, patient, wipe
from vardnav.config import Settings
from vardnav.db.unit_of_work import run_in_transaction
from vardnav.domains.identity.access.principal import SERVER
from vardnav.errors import BadRequest, Forbidden
from vardnav.fhir.hooks import MemoryAuditSink, RequestContext
from vardnav.fhir.storage.repository import EngineServices, Repository
from vardnav.fhir.storage.tables import resource
from vardnav.main import create_app

SECRET = "secret-1"


class HidingPolicy:
    """Hides one logical id of any type; forbids deletes; records what it was asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str | None]] = []
        self.active = False

    def authorize(self, ctx: RequestContext, interaction: str, resource_type: str | None,
                  resource: dict[str, Any] | None = None) -> None:
        self.asked.append((interaction, resource_type))
        if self.active and interaction == "delete":
            raise Forbidden("Deleting is not allowed for this caller")

    def query_filter(self, ctx: RequestContext, resource_type: str | None,
                     table: Table, *, one_row: bool = False) -> ColumnElement[bool] | None:
        return table.c.fhir_id != SECRET if self.active else None

    def redact(self, ctx: RequestContext, resource: dict[str, Any]) -> dict[str, Any]:
        if self.active and resource.get("resourceType") == "Patient":
            return {k: v for k, v in resource.items() if k != "address"}
        return resource


@pytest.fixture
def policy() -> HidingPolicy:
    return HidingPolicy()


@pytest.fixture
def guarded(engine: Engine, settings: Settings, shared_services: EngineServices,
            policy: HidingPolicy, audit: MemoryAuditSink) -> Fhir:
    wipe(engine)
    services = EngineServices(shared_services.registry, shared_services.validator, policy,
                              audit)
    return Fhir(authed_client(create_app(settings, services=services, engine=engine)))


def _seed(f: Fhir) -> tuple[dict, dict, dict]:
    visible = f.put({**patient(family="Synlig"), "id": "open-1",
                     "address": [{"city": "Borås"}]}, status=201).json()
    hidden = f.put({**patient(family="Dold"), "id": SECRET}, status=201).json()
    obs = f.create(observation(f"Patient/{SECRET}"))
    f.create(observation("Patient/open-1"))
    return visible, hidden, obs


def test_hidden_resource_leaks_nowhere(guarded: Fhir, policy: HidingPolicy) -> None:
    _, _, obs = _seed(guarded)
    policy.active = True
    guarded.get(f"Patient/{SECRET}", status=404)
    guarded.get(f"Patient/{SECRET}/_history/1", status=404)
    guarded.get(f"Patient/{SECRET}/_history", status=404)
    guarded.get(f"Patient/{SECRET}/$everything", status=404)
    assert guarded.search_ids("Patient") == ["open-1"]
    assert guarded.get("Patient?_summary=count")["total"] == 1
    assert guarded.get("Patient?family=dold")["total"] == 0
    # Chains and _has must not reveal the hidden patient's existence or content.
    assert guarded.search_ids("Observation?subject:Patient.family=dold") == []
    assert guarded.search_ids("Patient?_has:Observation:subject:code=8867-4") == ["open-1"]
    inc = guarded.get(f"Observation?_id={obs['id']}&_include=Observation:subject")
    assert [e["resource"]["resourceType"] for e in inc["entry"]] == ["Observation"]
    rev = guarded.get("Patient?_revinclude=Observation:subject")
    assert {e["resource"]["id"] for e in rev["entry"]} >= {"open-1"}
    assert SECRET not in {e["resource"]["id"] for e in rev["entry"]}
    for level in ("_history", "Patient/_history"):
        ids = {e["fullUrl"].rsplit("/", 1)[1] for e in guarded.get(level)["entry"]}
        assert SECRET not in ids
    assert guarded.get("_history")["total"] == 3
    assert guarded.search_ids(f"?_id={SECRET}") == []
    # Conditional interactions cannot probe for it either.
    r = guarded.c.post("/fhir/Patient", json=patient(), headers={
        **FHIR_JSON, "If-None-Exist": f"_id={SECRET}"})
    assert r.status_code == 201


def test_redaction_applies_to_reads_and_searches(guarded: Fhir, policy: HidingPolicy) -> None:
    _seed(guarded)
    policy.active = True
    assert "address" not in guarded.get("Patient/open-1")
    assert all("address" not in e["resource"] for e in guarded.get("Patient")["entry"])
    assert all("address" not in e.get("resource", {})
               for e in guarded.get("Patient/open-1/_history")["entry"])


def test_authorize_can_refuse(guarded: Fhir, policy: HidingPolicy) -> None:
    _seed(guarded)
    policy.active = True
    r = guarded.c.delete("/fhir/Patient/open-1")
    assert r.status_code == 403 and r.json()["issue"][0]["code"] == "forbidden"
    assert guarded.get("Patient/open-1")["id"] == "open-1"


def test_every_interaction_is_authorized_and_audited(guarded: Fhir, policy: HidingPolicy,
                                                     audit: MemoryAuditSink) -> None:
    p = guarded.create(patient())
    pid = p["id"]
    guarded.get(f"Patient/{pid}")
    guarded.get(f"Patient/{pid}/_history/1")
    guarded.get(f"Patient?_id={pid}&_revinclude=Observation:subject")
    guarded.put({**p, "gender": "male"})
    guarded.c.patch(f"/fhir/Patient/{pid}", content=b'[{"op":"add","path":"/active",'
                    b'"value":true}]', headers={"content-type": "application/json-patch+json"})
    guarded.create(observation(f"Patient/{pid}"))
    guarded.get(f"Observation?subject={pid}&_include=Observation:subject")
    guarded.get(f"Patient/{pid}/_history")
    guarded.get(f"Patient/{pid}/$everything")
    guarded.c.post("/fhir/Patient/$validate", json=patient(), headers=FHIR_JSON)
    guarded.c.delete(f"/fhir/Patient/{pid}")
    asked = {i for i, _ in policy.asked}
    audited = {rec.interaction for _, rec in audit.records}
    expected = {"create", "read", "vread", "search", "update", "history", "delete",
                "operation:everything", "operation:validate", "include"}
    assert expected <= asked
    assert expected - {"include"} <= audited
    searches = [rec for _, rec in audit.records if rec.interaction == "search"]
    # The audit record of a search names what it returned, includes too.
    assert any(f"Patient/{pid}" in rec.detail.get("included", []) for rec in searches)
    assert any(f"Patient/{pid}" in rec.resource_ids for rec in searches)
    # Every audit record names the patients whose data it touched (for log extracts).
    for rec in (r for _, r in audit.records if r.interaction != "operation:validate"):
        assert rec.patients == [pid], rec


def test_referring_finds_current_visible_resources_naming_a_target_in_rid_order(
        engine: Engine, shared_services: EngineServices, policy: HidingPolicy,
        audit: MemoryAuditSink) -> None:
    """Repository.referring: resources of one type whose reference parameter names the
    target, each once, in rid order, through the policy's filter, without an access-log
    entry."""
    wipe(engine)
    services = EngineServices(shared_services.registry, shared_services.validator, policy,
                              audit)

    def at(encounter: str, **extra: Any) -> dict[str, Any]:
        return observation("Patient/p1", encounter={"reference": encounter}, **extra)

    def seed(conn: Connection) -> None:
        repo = Repository(conn, services, RequestContext(principal=SERVER))
        # Created in this order (rids ascending), ids not in that order.
        for fhir_id, content in [
                ("z-first", at("Encounter/e1")), (SECRET, at("Encounter/e1")),
                ("other-stay", at("Encounter/e2")), ("deleted", at("Encounter/e1")),
                ("a-last", at("Encounter/e1", focus=[{"reference": "Encounter/e1"}] * 2)),
                ("by-subject", observation("Patient/e1"))]:
            repo.update("Observation", fhir_id, {**content, "id": fhir_id})
        repo.update("Condition", "condition", {
            "resourceType": "Condition", "id": "condition", "subject": {
                "reference": "Patient/p1"}, "encounter": {"reference": "Encounter/e1"}})
        repo.delete("Observation", "deleted")
    run_in_transaction(engine, seed)
    audit.records.clear()

    def referring(param: str = "encounter", target: str = "e1") -> list[str]:
        def read(conn: Connection) -> list[str]:
            repo = Repository(conn, services, RequestContext(principal=SERVER))
            return [r["id"] for r in repo.referring("Observation", param, "Encounter",
                                                    target)]
        return run_in_transaction(engine, read)

    assert referring() == ["z-first", SECRET, "a-last"]
    assert referring("focus") == ["a-last"]  # named twice, found once
    assert referring(target="e2") == ["other-stay"]
    policy.active = True
    assert referring() == ["z-first", "a-last"]
    # The statement's own condition (a delete also clears the index rows).
    with engine.begin() as conn:
        conn.execute(update(resource).where(resource.c.fhir_id == "z-first").values(
            deleted=True))
    assert referring() == ["a-last"]
    assert not audit.records

    def unwritten(conn: Connection) -> list[str]:
        repo = Repository(conn, services, RequestContext(principal=SERVER))
        repo.defer_index = True  # as in a transaction bundle: index rows are flushed first
        repo.update("Observation", "new", {**at("Encounter/e1"), "id": "new"})
        with pytest.raises(BadRequest):
            repo.referring("Observation", "code", "Encounter", "e1")
        return [r["id"] for r in repo.referring("Observation", "encounter", "Encounter",
                                                "e1")]
    assert run_in_transaction(engine, unwritten) == ["a-last", "new"]
