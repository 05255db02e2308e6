"""Matching inside the write transaction: which changes become outbox rows, with contiguous
event numbers, and none when the write fails."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sub_support import create, outbox_rows, running_app, state_of, subscription

from conftest import FHIR_JSON, observation, patient
from vardnav.config import Settings
from vardnav.fhir.storage.repository import EngineServices
from vardnav.integrations.subscriptions.topics import register_topic, unregister_topic

HOOK = "https://receiver.example/hook"
ENCOUNTER_START = "https://example.org/fhir/SubscriptionTopic/encounter-start"


@pytest.fixture
def client(engine: Engine, settings: Settings, services: EngineServices,
           system_token: str) -> Iterator[TestClient]:
    register_topic(ENCOUNTER_START, "Encounter", interactions=["create", "update"],
                   fhirpath="status = 'in-progress'", filters=["service-provider", "subject"],
                   title="Encounter started")
    with running_app(engine, settings, services, system_token,
                     subscriptions_deliver=False) as c:
        yield c
    unregister_topic(ENCOUNTER_START)


def encounter(subject: str, provider: str, status: str = "planned") -> dict[str, object]:
    return {"resourceType": "Encounter", "status": status,
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                      "code": "IMP"},
            "subject": {"reference": subject},
            "serviceProvider": {"reference": provider}}


def test_criteria_with_several_parameters(client: TestClient, engine: Engine) -> None:
    anna = create(client, patient("Berg", "Anna"))["id"]
    olle = create(client, patient("Lund", "Olle"))["id"]
    sid = create(client, subscription(
        f"Observation?subject=Patient/{anna}&code=8867-4&value-quantity=gt100", HOOK))["id"]
    hit = create(client, observation(f"Patient/{anna}", value=120))
    create(client, observation(f"Patient/{anna}", value=80))  # value too low
    create(client, observation(f"Patient/{anna}", code="2339-0", value=120))  # other code
    create(client, observation(f"Patient/{olle}", value=120))  # other patient
    rows = outbox_rows(engine, sid)
    assert [(r.event_number, r.resource_id, r.action) for r in rows] == [
        (1, hit["id"], "create")]
    # An update that still matches is an event; one that no longer matches is not.
    hit["valueQuantity"]["value"] = 130
    assert client.put(f"/fhir/Observation/{hit['id']}", json=hit,
                      headers=FHIR_JSON).status_code == 200
    hit["valueQuantity"]["value"] = 90
    client.put(f"/fhir/Observation/{hit['id']}", json=hit, headers=FHIR_JSON)
    rows = outbox_rows(engine, sid)
    assert [(r.event_number, r.action, r.version_id) for r in rows] == [
        (1, "create", 1), (2, "update", 2)]
    assert state_of(engine, sid).events == 2


def test_chained_criteria(client: TestClient, engine: Engine) -> None:
    anna = create(client, patient("Berg", "Anna"))["id"]
    olle = create(client, patient("Lund", "Olle"))["id"]
    sid = create(client, subscription("Observation?subject:Patient.family=berg", HOOK))["id"]
    create(client, observation(f"Patient/{olle}"))
    mine = create(client, observation(f"Patient/{anna}"))
    assert [r.resource_id for r in outbox_rows(engine, sid)] == [mine["id"]]


def test_delete_events_match_the_last_version(client: TestClient, engine: Engine) -> None:
    anna = create(client, patient("Berg", "Anna"))["id"]
    sid = create(client, subscription(f"Observation?subject=Patient/{anna}&code=8867-4",
                                      HOOK))["id"]
    matching = create(client, observation(f"Patient/{anna}"))["id"]
    other = create(client, observation(f"Patient/{anna}", code="2339-0"))["id"]
    assert client.delete(f"/fhir/Observation/{other}").status_code in (200, 204)
    assert client.delete(f"/fhir/Observation/{matching}").status_code in (200, 204)
    rows = outbox_rows(engine, sid)
    assert [(r.event_number, r.resource_id, r.action, r.version_id) for r in rows] == [
        (1, matching, "create", 1), (2, matching, "delete", 2)]
    # The savepoint put nothing back for good: the resource stays deleted and unsearchable.
    assert client.get(f"/fhir/Observation/{matching}").status_code == 410
    assert client.get(f"/fhir/Observation?subject=Patient/{anna}&_summary=count"
                      ).json()["total"] == 0


def test_topic_trigger_fhirpath_and_filter(client: TestClient, engine: Engine) -> None:
    anna = create(client, patient("Berg", "Anna"))["id"]
    ours = create(client, {"resourceType": "Organization", "name": "Ours"})["id"]
    theirs = create(client, {"resourceType": "Organization", "name": "Theirs"})["id"]
    sid = create(client, subscription(ENCOUNTER_START, HOOK, filters=[
        f"Encounter?service-provider=Organization/{ours}"]))["id"]
    planned = create(client, encounter(f"Patient/{anna}", f"Organization/{ours}"))
    assert outbox_rows(engine, sid) == []  # planned: the FHIRPath criterion is false
    started = {**planned, "status": "in-progress"}
    client.put(f"/fhir/Encounter/{planned['id']}", json=started, headers=FHIR_JSON)
    create(client, encounter(f"Patient/{anna}", f"Organization/{theirs}", "in-progress"))
    direct = create(client, encounter(f"Patient/{anna}", f"Organization/{ours}",
                                      "in-progress"))
    client.delete(f"/fhir/Encounter/{direct['id']}")  # delete is not a trigger of this topic
    rows = outbox_rows(engine, sid)
    assert [(r.resource_id, r.action) for r in rows] == [
        (planned["id"], "update"), (direct["id"], "create")]


def test_a_failed_transaction_leaves_no_outbox_row(client: TestClient, engine: Engine) -> None:
    anna = create(client, patient("Berg", "Anna"))["id"]
    sid = create(client, subscription(f"Observation?subject=Patient/{anna}", HOOK))["id"]
    failing = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"request": {"method": "POST", "url": "Observation"},
         "resource": observation(f"Patient/{anna}")},
        {"request": {"method": "PUT", "url": "Observation/missing-id"},
         "resource": {**observation(f"Patient/{anna}"), "id": "other-id"}}]}
    r = client.post("/fhir", json=failing, headers=FHIR_JSON)
    assert r.status_code == 400, r.text
    assert outbox_rows(engine, sid) == []
    assert state_of(engine, sid).events == 0
    # The next event is number 1: a rolled-back change takes its number back too.
    ok = {**failing, "entry": failing["entry"][:1] * 3}
    assert client.post("/fhir", json=ok, headers=FHIR_JSON).status_code == 200
    assert [r.event_number for r in outbox_rows(engine, sid)] == [1, 2, 3]


def test_an_off_subscription_and_another_type_get_nothing(client: TestClient,
                                                          engine: Engine) -> None:
    anna = create(client, patient("Berg", "Anna"))["id"]
    off = create(client, subscription("Observation", HOOK, status="off"))["id"]
    conditions = create(client, subscription("Condition", HOOK))["id"]
    create(client, observation(f"Patient/{anna}"))
    assert outbox_rows(engine, off) == [] and outbox_rows(engine, conditions) == []


def test_a_new_subscription_is_seen_by_the_next_write(client: TestClient,
                                                      engine: Engine) -> None:
    anna = create(client, patient("Berg", "Anna"))["id"]
    create(client, observation(f"Patient/{anna}"))  # loads the (empty) cache
    sid = create(client, subscription("Observation", HOOK))["id"]
    create(client, observation(f"Patient/{anna}"))
    assert len(outbox_rows(engine, sid)) == 1
    deleted = client.delete(f"/fhir/Subscription/{sid}")
    assert deleted.status_code in (200, 204)
    create(client, observation(f"Patient/{anna}"))
    assert len(outbox_rows(engine, sid)) == 1
    assert state_of(engine, sid).status == "off"
