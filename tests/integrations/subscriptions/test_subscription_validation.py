"""A Subscription is validated when it is written: unusable ones get a 4xx OperationOutcome
naming the element, and nothing is stored."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sub_support import create, running_app, subscription

from conftest import FHIR_JSON
from vardnav.config import Settings
from vardnav.fhir.storage.repository import EngineServices
from vardnav.integrations.subscriptions.spec import FILTER_CRITERIA, PAYLOAD_CONTENT
from vardnav.integrations.subscriptions.topics import register_topic, unregister_topic

HOOK = "https://receiver.example/hook"
TOPIC = "https://example.org/topic/task-for-us"


@pytest.fixture
def client(engine: Engine, settings: Settings, services: EngineServices,
           system_token: str) -> Iterator[TestClient]:
    register_topic(TOPIC, "Task", filters=["owner", "status"])
    with running_app(engine, settings, services, system_token,
                     subscriptions_deliver=False) as c:
        yield c
    unregister_topic(TOPIC)


def _with(body: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**body, **changes}


def _channel(**changes: Any) -> dict[str, Any]:
    return {"type": "rest-hook", "endpoint": HOOK, "payload": "application/fhir+json",
            **changes}


BASE = subscription("Observation?code=8867-4", HOOK)

REFUSED = [
    (_with(BASE, criteria="Nonsense?code=1"), "criteria", "known resource type"),
    (_with(BASE, criteria="Observation?nonsense=1"), "criteria", "nonsense"),
    (_with(BASE, criteria="Observation?code=1&_include=Observation:subject"), "criteria",
     "_include"),
    (_with(BASE, criteria="Observation?date=notadate"), "criteria", "not a valid search"),
    (_with(BASE, criteria="https://example.org/no-such-topic"), "criteria", "No topic"),
    (_with(BASE, channel=_channel(type="email")), "channel.type", "not supported"),
    (_with(BASE, channel=_channel(endpoint=None)), "channel.endpoint", "endpoint"),
    (_with(BASE, channel=_channel(endpoint="ftp://x.example/in")), "channel.endpoint",
     "http(s)"),
    (_with(BASE, channel=_channel(header=["no colon here"])), "channel.header[0]",
     "Name: value"),
    (_with(BASE, channel=_channel(header=["Host: evil"])), "channel.header[0]",
     "set by the server"),
    (_with(BASE, channel=_channel(payload="application/xml")), "channel.payload",
     "not supported"),
    (_with(BASE, channel=_channel(_payload={"extension": [
        {"url": PAYLOAD_CONTENT, "valueCode": "everything"}]})), "channel.payload",
     "payload content"),
    (_with(BASE, status="active"), "status", "set by the server"),
    (_with(BASE, status="error"), "status", "set by the server"),
    (_with(BASE, criteria=TOPIC, _criteria={"extension": [
        {"url": FILTER_CRITERIA, "valueString": "Task?code=x"}]}), "_criteria",
     "cannot be filtered by 'code'"),
    (_with(BASE, criteria=TOPIC, _criteria={"extension": [
        {"url": FILTER_CRITERIA, "valueString": "Encounter?status=planned"}]}), "_criteria",
     "must search Task"),
    (_with(BASE, _criteria={"extension": [
        {"url": FILTER_CRITERIA, "valueString": "Observation?status=final"}]}), "_criteria",
     "topic subscriptions only"),
]


@pytest.mark.parametrize(("body", "element", "text"), REFUSED,
                         ids=[f"{n}-{e}" for n, (_b, e, _t) in enumerate(REFUSED)])
def test_an_unusable_subscription_is_refused_and_not_stored(
        client: TestClient, body: dict[str, Any], element: str, text: str) -> None:
    r = client.post("/fhir/Subscription", json=body, headers=FHIR_JSON)
    assert 400 <= r.status_code < 500, r.text
    issue = r.json()["issue"][0]
    assert r.json()["resourceType"] == "OperationOutcome"
    assert text in issue["diagnostics"], issue
    assert issue.get("expression") in ([f"Subscription.{element}"], None), issue
    assert client.get("/fhir/Subscription?_summary=count").json()["total"] == 0


def test_a_structurally_invalid_subscription_is_a_400(client: TestClient) -> None:
    r = client.post("/fhir/Subscription", json=_with(BASE, status="sleeping"),
                    headers=FHIR_JSON)
    assert r.status_code == 400, r.text


def test_usable_subscriptions_are_stored_as_requested(client: TestClient) -> None:
    kept = [
        BASE,
        subscription("Patient", HOOK, content=None),  # every Patient change, no body
        subscription("Observation?subject:Patient.family=berg&value-quantity=gt100", HOOK,
                     content="id-only", headers=["Authorization: Bearer x", "X-Tenant: 7"]),
        subscription(TOPIC, HOOK, filters=["Task?owner=Organization/1", "Task?status=ready"]),
        subscription("Encounter?status=in-progress", channel="websocket"),
        subscription("Encounter", HOOK, status="off"),
    ]
    for body in kept:
        stored = create(client, body)
        assert stored["status"] == body["status"]


def test_a_client_may_turn_off_and_restart_but_not_activate(client: TestClient) -> None:
    sub = create(client, BASE)
    off = client.put(f"/fhir/Subscription/{sub['id']}", json={**sub, "status": "off"},
                     headers=FHIR_JSON)
    assert off.status_code == 200, off.text
    active = client.put(f"/fhir/Subscription/{sub['id']}", json={**sub, "status": "active"},
                        headers=FHIR_JSON)
    assert active.status_code == 422, active.text
    again = client.put(f"/fhir/Subscription/{sub['id']}",
                       json={**sub, "status": "requested"}, headers=FHIR_JSON)
    assert again.status_code == 200, again.text


def test_topics_are_listed(client: TestClient) -> None:
    bundle = client.get("/fhir/$topics").json()
    urls = [e["fullUrl"] for e in bundle["entry"]]
    assert TOPIC in urls
    basic = next(e["resource"] for e in bundle["entry"] if e["fullUrl"] == TOPIC)
    assert basic["resourceType"] == "Basic"
    assert basic["code"]["coding"][0]["code"] == "SubscriptionTopic"
    assert client.get("/fhir/Patient/$topics").status_code == 404


def test_capability_statement_lists_subscription_and_operations(client: TestClient) -> None:
    cs = client.get("/fhir/metadata").json()
    rest = cs["rest"][0]
    sub = next(r for r in rest["resource"] if r["type"] == "Subscription")
    assert "get-ws-binding-token" in {o["name"] for o in sub.get("operation", [])}
    assert "topics" in {o["name"] for o in rest["operation"]}
