"""Helpers of the subscription tests: a real HTTP receiver on loopback (in a thread), waiting
for conditions with a timeout, Subscription builders and clean subscription tables."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, select

from conftest import FHIR_JSON, bearer, wipe
from vardnav.config import Settings
from vardnav.fhir.storage.repository import EngineServices
from vardnav.integrations.subscriptions.models import generation, lease, outbox, state, ws_token
from vardnav.integrations.subscriptions.spec import (
    FILTER_CRITERIA,
    HEARTBEAT_PERIOD,
    PAYLOAD_CONTENT,
)
from vardnav.main import create_app


def clear_subscriptions(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in (outbox, state, generation, lease, ws_token):
            conn.execute(delete(table))


def eventually(check: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    """Poll `check` until it returns something truthy, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class Receiver:
    """An HTTP server that records every POST (headers and JSON body) and answers
    `self.status`; `stop()` closes the port (connection refused), `start()` reopens it."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.status = 200
        self.port = 0
        self._server: ThreadingHTTPServer | None = None
        self._lock = threading.Lock()

    def start(self) -> Receiver:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                code = outer.status
                if code < 300:
                    with outer._lock:
                        outer.received.append(
                            ({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(code)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def bodies(self) -> list[dict[str, Any]]:
        with self._lock:
            return [b for _h, b in self.received]

    def events(self, kind: str = "event-notification") -> list[dict[str, Any]]:
        """The notification bundles of one type, as received."""
        return [b for b in self.bodies() if status_of(b)["type"] == kind]

    def event_numbers(self) -> list[int]:
        return [n for b in self.events() for n in numbers(b)]


def status_of(bundle: dict[str, Any]) -> dict[str, Any]:
    """The SubscriptionStatus Parameters of a notification as a plain dict."""
    params = bundle["entry"][0]["resource"]["parameter"]
    out: dict[str, Any] = {}
    for p in params:
        value = next((v for k, v in p.items() if k.startswith("value")), p.get("part"))
        if p["name"] == "notification-event":
            out.setdefault("events", []).append(
                {q["name"]: next(v for k, v in q.items() if k.startswith("value"))
                 for q in p["part"]})
        else:
            out[p["name"]] = value
    return out


def numbers(bundle: dict[str, Any]) -> list[int]:
    return [int(e["event-number"]) for e in status_of(bundle).get("events", [])]


def subscription(criteria: str, endpoint: str | None = None, *, channel: str = "rest-hook",
                 content: str | None = "full-resource", headers: list[str] | None = None,
                 filters: list[str] | None = None, heartbeat: int | None = None,
                 status: str = "requested") -> dict[str, Any]:
    ch: dict[str, Any] = {"type": channel}
    if endpoint:
        ch["endpoint"] = endpoint
    if content is not None:
        ch["payload"] = "application/fhir+json"
        ch["_payload"] = {"extension": [{"url": PAYLOAD_CONTENT, "valueCode": content}]}
    if headers:
        ch["header"] = headers
    if heartbeat:
        ch["extension"] = [{"url": HEARTBEAT_PERIOD, "valueUnsignedInt": heartbeat}]
    sub: dict[str, Any] = {"resourceType": "Subscription", "status": status,
                           "reason": "test", "criteria": criteria, "channel": ch}
    if filters:
        sub["_criteria"] = {"extension": [{"url": FILTER_CRITERIA, "valueString": f}
                                          for f in filters]}
    return sub


@contextlib.contextmanager
def running_app(engine: Engine, settings: Settings, services: EngineServices, token: str,
                **overrides: Any) -> Iterator[TestClient]:
    """A fresh server (empty store and subscription tables) with fast test timings; its
    lifespan runs the delivery worker unless subscriptions_deliver=False."""
    wipe(engine)
    clear_subscriptions(engine)
    fast = {"subscriptions_poll_seconds": 0.02, "subscriptions_retry_first_seconds": 0.05,
            "subscriptions_retry_max_seconds": 0.3, **overrides}
    app = create_app(settings.model_copy(update=fast), services=services, engine=engine)
    with TestClient(app, headers=bearer(token)) as client:
        yield client


def create(client: TestClient, body: dict[str, Any], status: int = 201,
           headers: dict[str, str] | None = None) -> dict[str, Any]:
    r = client.post(f"/fhir/{body['resourceType']}", json=body,
                    headers={**FHIR_JSON, **(headers or {})})
    assert r.status_code == status, r.text
    return r.json()


def outbox_rows(engine: Engine, sid: str) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(outbox).where(outbox.c.subscription_id == sid)
                                 .order_by(outbox.c.event_number)))


def state_of(engine: Engine, sid: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(state).where(state.c.subscription_id == sid)).first()
