"""The websocket channel: a client gets a binding token, binds, receives the handshake and
notifications in order, and after a disconnect binds again and gets what it missed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from starlette.testclient import WebSocketTestSession
from sub_support import create, eventually, numbers, running_app, state_of, status_of, subscription

from conftest import FHIR_JSON, observation, patient
from vardnav.config import Settings
from vardnav.fhir.storage.repository import EngineServices
from vardnav.integrations.subscriptions.websocket import PATH

_pool = ThreadPoolExecutor(max_workers=2)


@pytest.fixture
def client(engine: Engine, settings: Settings, services: EngineServices,
           system_token: str) -> Iterator[TestClient]:
    with running_app(engine, settings, services, system_token) as c:
        yield c


def receive(ws: WebSocketTestSession, timeout: float = 15.0) -> dict[str, Any]:
    """The next message, or fail after `timeout` (a receive without one would hang)."""
    return json.loads(_pool.submit(ws.receive_text).result(timeout=timeout))


def binding_token(client: TestClient, sid: str) -> dict[str, Any]:
    r = client.get(f"/fhir/Subscription/{sid}/$get-ws-binding-token")
    assert r.status_code == 200, r.text
    return {p["name"]: next(v for k, v in p.items() if k.startswith("value"))
            for p in r.json()["parameter"]}


def test_bind_receive_rebind_and_get_the_missed_events(client: TestClient,
                                                       engine: Engine) -> None:
    anna = create(client, patient("Berg", "Anna"))["id"]
    sid = create(client, subscription(f"Observation?subject=Patient/{anna}",
                                      channel="websocket", content="id-only"))["id"]
    binding = binding_token(client, sid)
    assert binding["websocket-url"] == "ws://testserver/fhir/$subscription-websocket"
    with client.websocket_connect(PATH) as ws:
        ws.send_text(f"bind-with-token {binding['token']}")
        hello = receive(ws)
        assert status_of(hello)["type"] == "handshake"
        eventually(lambda: state_of(engine, sid).status == "active", what="active")
        ids = [create(client, observation(f"Patient/{anna}", value=v))["id"]
               for v in range(3)]
        got = [receive(ws) for _ in range(3)]
        assert [n for b in got for n in numbers(b)] == [1, 2, 3]
        assert [b["entry"][1]["fullUrl"].rsplit("/", 1)[1] for b in got] == ids
        eventually(lambda: state_of(engine, sid).delivered_upto == 3, what="recorded")
    # Disconnected: these wait in the outbox.
    for v in range(3, 6):
        create(client, observation(f"Patient/{anna}", value=v))
    assert state_of(engine, sid).delivered_upto == 3
    with client.websocket_connect(PATH) as ws:
        ws.send_text(f"bind-with-token {binding['token']}")  # still valid (5 minutes)
        assert status_of(receive(ws))["type"] == "handshake"
        missed = [receive(ws) for _ in range(3)]
        assert [n for b in missed for n in numbers(b)] == [4, 5, 6]
        create(client, observation(f"Patient/{anna}", value=9))
        assert numbers(receive(ws)) == [7]


def test_a_bad_token_is_refused_and_the_connection_stays_usable(client: TestClient) -> None:
    sid = create(client, subscription("Observation", channel="websocket"))["id"]
    with client.websocket_connect(PATH) as ws:
        ws.send_text("bind-with-token not-a-token")
        refused = receive(ws)
        assert refused["resourceType"] == "OperationOutcome"
        ws.send_text("hello")
        assert receive(ws)["resourceType"] == "OperationOutcome"
        ws.send_text(f"bind-with-token {binding_token(client, sid)['token']}")
        assert status_of(receive(ws))["type"] == "handshake"


def test_a_binding_token_needs_read_access_to_the_subscription(
        client: TestClient, settings: Settings) -> None:
    from conftest import bearer, mint_token

    sid = create(client, subscription("Observation", channel="websocket"))["id"]
    patients_only = bearer(mint_token(settings, "system/Patient.rs"))
    r = client.get(f"/fhir/Subscription/{sid}/$get-ws-binding-token", headers=patients_only)
    assert r.status_code == 403, r.text


def test_heartbeat_over_websocket(client: TestClient) -> None:
    sid = create(client, subscription("Observation", channel="websocket", heartbeat=1))["id"]
    with client.websocket_connect(PATH) as ws:
        ws.send_text(f"bind-with-token {binding_token(client, sid)['token']}")
        assert status_of(receive(ws))["type"] == "handshake"
        assert status_of(receive(ws))["type"] == "heartbeat"


def test_a_rest_hook_subscription_cannot_be_bound(client: TestClient) -> None:
    sid = create(client, subscription("Observation", "https://x.example/hook"))["id"]
    with client.websocket_connect(PATH) as ws:
        ws.send_text(f"bind-with-token {binding_token(client, sid)['token']}")
        assert receive(ws)["resourceType"] == "OperationOutcome"


def test_post_is_accepted_for_the_binding_token(client: TestClient) -> None:
    sid = create(client, subscription("Observation", channel="websocket"))["id"]
    r = client.post(f"/fhir/Subscription/{sid}/$get-ws-binding-token",
                    json={"resourceType": "Parameters"}, headers=FHIR_JSON)
    assert r.status_code == 200, r.text
