"""Rest-hook delivery to a real HTTP receiver on loopback: handshake, order, headers, the
three payload kinds, a receiver that goes away and comes back, heartbeats, and `error`
after the give-up period (with an injected clock)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sub_support import (
    Receiver,
    create,
    eventually,
    outbox_rows,
    running_app,
    state_of,
    status_of,
    subscription,
)

from conftest import FHIR_JSON, observation, patient
from vardnav.config import Settings
from vardnav.fhir.storage.repository import EngineServices
from vardnav.integrations.subscriptions.delivery import Dispatcher
from vardnav.integrations.subscriptions.runtime import store_for


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rx = Receiver().start()
    yield rx
    rx.stop()


@pytest.fixture
def client(engine: Engine, settings: Settings, services: EngineServices,
           system_token: str) -> Iterator[TestClient]:
    with running_app(engine, settings, services, system_token) as c:
        yield c


def _watched_patient(client: TestClient, receiver: Receiver,
                     clock: Any) -> tuple[str, str, Any]:
    """A patient, a rest-hook subscription to their observations, and a delivery store
    running on `clock`: (patient id, subscription id, store)."""
    anna = create(client, patient("Berg", "Anna"))["id"]
    sid = create(client, subscription(f"Observation?subject=Patient/{anna}",
                                      receiver.url))["id"]
    app_settings = client.app.state.settings  # type: ignore[attr-defined]
    store = store_for(client.app.state.services, app_settings,  # type: ignore[attr-defined]
                      clock=clock)
    return anna, sid, store


async def _dispatch_until(dispatcher: Dispatcher, until: Any, describe: Any, *,
                          linger: float = 0.0) -> None:
    """Run `dispatcher` until `until()` holds (10 s at most; `describe()` says where it got
    to), then `linger` seconds more, then stop it."""
    task = asyncio.create_task(dispatcher.run())
    try:
        for _ in range(500):
            if until():
                break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError(f"the dispatcher did not get there: {describe()}")
        await asyncio.sleep(linger)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def _active(client: TestClient, sid: str) -> bool:
    return client.get(f"/fhir/Subscription/{sid}").json()["status"] == "active"


def test_notifications_arrive_in_order_with_headers_and_each_payload_kind(
        client: TestClient, receiver: Receiver) -> None:
    anna = create(client, patient("Berg", "Anna"))["id"]
    criteria = f"Observation?subject=Patient/{anna}"
    subs = {kind: create(client, subscription(
        criteria, f"{receiver.url}?kind={kind}", content=kind,
        headers=["Authorization: Bearer secret-1", f"X-Kind: {kind}"]))["id"]
        for kind in ("empty", "id-only", "full-resource")}
    handshakes = eventually(lambda: len(receiver.events("handshake")) == 3 and
                            receiver.events("handshake"), what="handshakes")
    assert {status_of(b)["status"] for b in handshakes} == {"requested"}
    for sid in subs.values():
        eventually(lambda sid=sid: _active(client, sid), what="active")
    written = [create(client, observation(f"Patient/{anna}", value=v))["id"]
               for v in range(60, 70)]
    eventually(lambda: len(receiver.events()) == 30, what="30 notifications")
    by_kind: dict[str, list[tuple[dict[str, str], dict[str, Any]]]] = {}
    for headers, body in receiver.received:
        if status_of(body)["type"] == "event-notification":
            by_kind.setdefault(headers["x-kind"], []).append((headers, body))
    for kind, items in by_kind.items():
        assert [int(status_of(b)["events"][0]["event-number"]) for _h, b in items] == list(
            range(1, 11))
        for headers, body in items:
            assert headers["authorization"] == "Bearer secret-1"
            assert headers["content-type"] == "application/fhir+json"
            assert body["type"] == "history"
            assert status_of(body)["subscription"]["reference"].endswith(subs[kind])
        focus = [status_of(b)["events"][0].get("focus") for _h, b in items]
        if kind == "empty":
            assert all(len(b["entry"]) == 1 for _h, b in items) and focus == [None] * 10
            continue
        assert [f["reference"].rsplit("/", 1)[1] for f in focus] == written
        entries = [b["entry"][1] for _h, b in items]
        assert [e["request"]["method"] for e in entries] == ["POST"] * 10
        if kind == "id-only":
            assert all("resource" not in e for e in entries)
        else:
            assert [e["resource"]["id"] for e in entries] == written
            assert entries[0]["resource"]["valueQuantity"]["value"] == 60


def test_a_receiver_down_mid_stream_gets_everything_in_order(
        client: TestClient, receiver: Receiver, engine: Engine) -> None:
    anna = create(client, patient("Berg", "Anna"))["id"]
    sid = create(client, subscription(f"Observation?subject=Patient/{anna}",
                                      receiver.url, content="id-only"))["id"]
    eventually(lambda: _active(client, sid), what="active")
    for v in range(5):
        create(client, observation(f"Patient/{anna}", value=v))
    eventually(lambda: len(receiver.events()) >= 2, what="first notifications")
    receiver.stop()  # mid-stream: the port is closed, connections are refused
    for v in range(5, 15):
        create(client, observation(f"Patient/{anna}", value=v))
    eventually(lambda: state_of(engine, sid).attempts >= 2, what="failed attempts")
    failing = state_of(engine, sid)
    assert failing.last_error and failing.delivered_upto < 15
    receiver.status = 503  # back, but refusing: still failing, nothing recorded as received
    receiver.start()
    eventually(lambda: state_of(engine, sid).attempts > failing.attempts,
               what="a refused attempt")
    receiver.status = 200
    for v in range(15, 20):
        create(client, observation(f"Patient/{anna}", value=v))
    eventually(lambda: state_of(engine, sid).delivered_upto == 20, what="all delivered")
    got = receiver.event_numbers()
    assert sorted(set(got)) == list(range(1, 21))  # nothing lost
    assert got == sorted(got)  # nothing out of order
    assert len(got) == len(set(got))  # no duplicates here (no crash)
    done = state_of(engine, sid)
    assert (done.attempts, done.last_error, done.status) == (0, None, "active")
    assert all(r.delivered is not None for r in outbox_rows(engine, sid))


def test_an_idle_subscription_gets_heartbeats(client: TestClient,
                                              receiver: Receiver) -> None:
    sid = create(client, subscription("Observation", receiver.url, heartbeat=1))["id"]
    eventually(lambda: _active(client, sid), what="active")
    beats = eventually(lambda: receiver.events("heartbeat"), what="a heartbeat")
    assert status_of(beats[0])["events-since-subscription-start"] == "0"
    assert len(beats[0]["entry"]) == 1


def test_status_error_after_the_give_up_period(
        engine: Engine, settings: Settings, services: EngineServices, system_token: str,
        receiver: Receiver) -> None:
    now = [1_900_000_000.0]
    with running_app(engine, settings, services, system_token,
                     subscriptions_deliver=False) as client:
        anna, sid, store = _watched_patient(client, receiver, lambda: now[0])

        def rounds(until: Any) -> None:
            asyncio.run(_dispatch_until(Dispatcher(engine, store, poll=0.02), until,
                                        lambda: state_of(engine, sid)))

        rounds(lambda: _active(client, sid))
        receiver.stop()
        create(client, observation(f"Patient/{anna}"))
        rounds(lambda: state_of(engine, sid).attempts == 1)
        first = state_of(engine, sid)
        assert first.next_attempt == pytest.approx(now[0] + 0.05)
        now[0] += 23 * 3600  # still retrying after 23 hours
        rounds(lambda: state_of(engine, sid).attempts == 2)
        assert _active(client, sid)
        now[0] += 3600  # 24 hours of failing: give up
        rounds(lambda: state_of(engine, sid).status == "error")
        sub = client.get(f"/fhir/Subscription/{sid}").json()
        assert sub["status"] == "error" and "24.0 hours" in sub["error"]
        assert len(outbox_rows(engine, sid)) == 1  # kept
        # The client restarts it; the receiver is back: handshake, then the kept event.
        receiver.start()
        restarted = {k: v for k, v in sub.items() if k not in ("error", "meta")}
        r = client.put(f"/fhir/Subscription/{sid}", json={**restarted, "status": "requested"},
                       headers=FHIR_JSON)
        assert r.status_code == 200, r.text
        rounds(lambda: state_of(engine, sid).delivered_upto == 1)
        assert receiver.event_numbers() == [1]
        assert _active(client, sid)


def test_a_failed_attempt_is_not_repeated_from_a_stale_look_at_what_is_due(
        engine: Engine, settings: Settings, services: EngineServices, system_token: str,
        receiver: Receiver) -> None:
    """A step that read what is due while a delivery was failing must not try that
    subscription again when the delivery's task has ended meanwhile: its retry time was
    just moved on. (Seen under load: two attempts at one instant, the backoff skipped.)"""
    now = [1_900_000_000.0]
    with running_app(engine, settings, services, system_token,
                     subscriptions_deliver=False) as client:
        anna, sid, store = _watched_patient(client, receiver, lambda: now[0])
        reads = [0]
        read_due = store.due

        def stale_due(conn: Any, *args: Any, **kwargs: Any) -> Any:
            found = read_due(conn, *args, **kwargs)
            reads[0] += 1
            time.sleep(0.3)  # the failing delivery ends while this answer travels
            return found

        async def slow_failure(_request: httpx.Request) -> httpx.Response:
            await asyncio.sleep(0.1)
            raise httpx.ConnectError("the receiver is down")

        def state() -> Any:
            return state_of(engine, sid)

        asyncio.run(_dispatch_until(Dispatcher(engine, store, poll=0.02),
                                    lambda: _active(client, sid), state))
        create(client, observation(f"Patient/{anna}"))
        store.due = stale_due  # type: ignore[method-assign]
        failing = httpx.AsyncClient(transport=httpx.MockTransport(slow_failure))
        asyncio.run(_dispatch_until(Dispatcher(engine, store, poll=0.02, client=failing),
                                    lambda: state().attempts >= 1, state,
                                    linger=1.0))  # long enough for a second attempt, if any
        assert reads[0] >= 2  # a step read what was due while the delivery was failing
        assert state_of(engine, sid).attempts == 1
