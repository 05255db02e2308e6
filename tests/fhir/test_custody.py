"""The engine records, on every write, the patient whose compartment holds a resource and the
custody the custodian hook assigns; write listeners run in the write's own transaction."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Connection, Engine, select

from conftest import FHIR_JSON, Fhir, authed_client, observation, patient, wipe
from vardnav.config import Settings
from vardnav.errors import BusinessRuleViolation
from vardnav.fhir.hooks import Custody, RequestContext
from vardnav.fhir.storage.repository import EngineServices
from vardnav.fhir.storage.tables import resource
from vardnav.main import create_app


class UnitStamp:
    """Stamps a fixed custodian on new resources and a tag the client cannot forge."""

    def stamp(self, ctx: RequestContext, resource_type: str, content: dict[str, Any],
              previous: Custody | None) -> tuple[dict[str, Any], Custody]:
        custody = previous or Custody("provider-A", "unit-1")
        tags = [t for t in (content.get("meta") or {}).get("tag", [])
                if t.get("system") != "urn:custody"]
        tags.append({"system": "urn:custody", "code": custody.owner})
        return {**content, "meta": {**(content.get("meta") or {}), "tag": tags}}, custody


class Recorder:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, bool, Custody]] = []

    def written(self, conn: Connection, ctx: RequestContext, resource_type: str,
                fhir_id: str, stored: dict[str, Any] | None, custody: Custody) -> None:
        self.seen.append((resource_type, fhir_id, stored is not None, custody))
        if stored is not None and stored.get("status") == "entered-in-error":
            raise BusinessRuleViolation("listener refuses")  # fails the whole transaction


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def stamped(engine: Engine, settings: Settings, services: EngineServices,
            recorder: Recorder) -> Fhir:
    wipe(engine)
    custom = EngineServices(services.registry, services.validator, services.policy,
                            services.audit, custodian=UnitStamp(), listeners=(recorder,))
    return Fhir(authed_client(create_app(settings, services=custom, engine=engine)))


def columns(engine: Engine, rtype: str, fhir_id: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(resource.c.patient_id, resource.c.owner,
                                   resource.c.owner_unit, resource.c.recorded)
                            .where(resource.c.resource_type == rtype,
                                   resource.c.fhir_id == fhir_id)).one()


def test_patient_and_custody_are_recorded(stamped: Fhir, engine: Engine,
                                          recorder: Recorder) -> None:
    forged = patient(meta={"tag": [{"system": "urn:custody", "code": "provider-EVIL"}]})
    p = stamped.create(forged)
    assert [t["code"] for t in p["meta"]["tag"]] == ["provider-A"]
    o = stamped.create(observation(f"Patient/{p['id']}"))
    assert tuple(columns(engine, "Patient", p["id"]))[:3] == (p["id"], "provider-A", "unit-1")
    first = columns(engine, "Observation", o["id"])
    assert (first.patient_id, first.owner) == (p["id"], "provider-A")
    stamped.put({**o, "status": "amended"})
    again = columns(engine, "Observation", o["id"])
    assert again.recorded == first.recorded  # first recorded, not last updated
    stamped.c.delete(f"/fhir/Observation/{o['id']}")
    assert [(t, alive) for t, _i, alive, _c in recorder.seen] == [
        ("Patient", True), ("Observation", True), ("Observation", True), ("Observation", False)]


def test_a_failing_listener_fails_the_whole_transaction(stamped: Fhir, engine: Engine) -> None:
    p = stamped.create(patient())
    r = stamped.c.post("/fhir", headers=FHIR_JSON, json={
        "resourceType": "Bundle", "type": "transaction", "entry": [
            {"resource": observation(f"Patient/{p['id']}"),
             "request": {"method": "POST", "url": "Observation"}},
            {"resource": observation(f"Patient/{p['id']}", status="entered-in-error"),
             "request": {"method": "POST", "url": "Observation"}}]})
    assert r.status_code == 422 and "listener refuses" in r.text
    with engine.connect() as conn:
        assert conn.execute(select(resource.c.rid).where(
            resource.c.resource_type == "Observation")).first() is None
