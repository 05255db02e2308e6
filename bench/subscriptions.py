"""FHIR Subscriptions under load (issue 6): notifications delivered per second and the
latency from the write's commit to the receiver holding the notification.

A fresh SQLite store, a real uvicorn server (its lifespan runs the rest-hook delivery
worker, polling every 0.05 s here) and 100 rest-hook subscriptions (full-resource payload)
to one local HTTP receiver in a process of its own (HTTP/1.1 keep-alive, answers 200 at
once). Two runs:

- fan-out: every subscription matches every write (`Observation?code=…`): 100
  notifications per write;
- selective: each subscription follows one patient (`Observation?subject=Patient/…`),
  writes spread over the patients: one notification per write, 100 candidates matched.

Writes are Observation creates over the API by 2 client threads. Latency = arrival at the
receiver − the outbox row's `created` (set in the write's transaction just before commit).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from sqlalchemy import select

from bench.common import authorization, free_port, fresh_database, server, summary

SUBSCRIPTIONS = 100
POLL = "0.05"
CODE = "8867-4"


def _receive(port: int, pipe: Any) -> None:
    arrived: dict[tuple[str, int], float] = {}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a real receiver would

        def do_POST(self) -> None:
            now = time.time()
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            params = {p["name"]: p for p in body["entry"][0]["resource"]["parameter"]}
            if params["type"]["valueCode"] == "event-notification":
                sid = params["subscription"]["valueReference"]["reference"].rsplit("/", 1)[1]
                with lock:
                    for p in body["entry"][0]["resource"]["parameter"]:
                        if p["name"] == "notification-event":
                            arrived[(sid, int(p["part"][0]["valueString"]))] = now
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    ThreadingHTTPServer.request_queue_size = 256  # 100 senders connect at once
    httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    pipe.send("ready")
    while True:
        command = pipe.recv()
        with lock:
            pipe.send(len(arrived) if command == "count" else dict(arrived))
        if command == "stop":
            return


def _observation(patient: str, n: int) -> dict[str, Any]:
    return {"resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": CODE}]},
            "subject": {"reference": f"Patient/{patient}"},
            "effectiveDateTime": "2026-11-27T10:00:00Z",
            "valueQuantity": {"value": 60 + n % 40, "unit": "/min"}}


def _scenario(name: str, url: str, writes: int) -> None:
    from vardnav.db.engine import make_engine
    from vardnav.integrations.subscriptions.models import outbox

    port = free_port()
    parent, child = multiprocessing.Pipe()
    receiver = multiprocessing.Process(target=_receive, args=(port, child), daemon=True)
    receiver.start()
    assert parent.recv() == "ready"
    hook = f"http://127.0.0.1:{port}/hook"
    os.environ["VARDNAV_SUBSCRIPTIONS_POLL_SECONDS"] = POLL
    with server(url) as (base, _proc):
        auth = {"Authorization": authorization(base)[0],
                "Content-Type": "application/fhir+json"}
        http = httpx.Client(base_url=base, headers=auth, timeout=60)
        patients = [http.post("/Patient", json={"resourceType": "Patient", "gender": "other"}
                              ).json()["id"] for _ in range(SUBSCRIPTIONS)]
        for n in range(SUBSCRIPTIONS):
            criteria = (f"Observation?code={CODE}" if name == "fan-out"
                        else f"Observation?subject=Patient/{patients[n]}")
            r = http.post("/Subscription", json={
                "resourceType": "Subscription", "status": "requested", "reason": "bench",
                "criteria": criteria,
                "channel": {"type": "rest-hook", "endpoint": hook,
                            "payload": "application/fhir+json",
                            "header": ["Authorization: Bearer receiver-secret"]}})
            assert r.status_code == 201, r.text
        engine = make_engine(url)
        from vardnav.integrations.subscriptions.models import state

        deadline = time.monotonic() + 60
        with engine.connect() as conn:
            while conn.execute(select(state.c.status)).scalars().all().count("active") < \
                    SUBSCRIPTIONS and time.monotonic() < deadline:
                time.sleep(0.1)
                conn.rollback()
        write_ms: list[float] = []
        lock = threading.Lock()

        def writer(offset: int) -> None:
            client = httpx.Client(base_url=base, headers=auth, timeout=60)
            for n in range(offset, writes, 2):
                t0 = time.perf_counter()
                r = client.post("/Observation", json=_observation(patients[n % SUBSCRIPTIONS],
                                                                  n))
                assert r.status_code == 201, r.text
                with lock:
                    write_ms.append((time.perf_counter() - t0) * 1000)

        expected = writes * (SUBSCRIPTIONS if name == "fan-out" else 1)
        start = time.time()
        threads = [threading.Thread(target=writer, args=(k,)) for k in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        produced = time.time() - start
        deadline = time.monotonic() + 300
        while True:
            parent.send("count")
            if parent.recv() >= expected or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        parent.send("stop")
        arrived: dict[tuple[str, int], float] = parent.recv()
        receiver.join(10)
        with engine.connect() as conn:
            created = {(r.subscription_id, r.event_number): r.created
                       for r in conn.execute(select(outbox.c.subscription_id,
                                                    outbox.c.event_number, outbox.c.created))}
        engine.dispose()
    latencies = [(arrived[k] - t) * 1000 for k, t in created.items() if k in arrived]
    last = max(arrived.values(), default=start)
    print(f"subscriptions {name} (SQLite, {SUBSCRIPTIONS} rest-hook subscriptions, poll "
          f"{POLL} s): {writes} writes in {produced:.1f} s (write {summary(write_ms)}); "
          f"{len(arrived)}/{expected} notifications in {last - start:.1f} s = "
          f"{len(arrived) / max(last - start, 1e-9):,.0f} notifications/s; "
          f"commit→receiver {summary(latencies)}")


def run(fan_out_writes: int = 100, selective_writes: int = 1000) -> None:
    for name, writes in (("fan-out", fan_out_writes), ("selective", selective_writes)):
        with fresh_database("sqlite") as url:
            _scenario(name, url, writes)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fan-out-writes", type=int, default=100)
    parser.add_argument("--selective-writes", type=int, default=1000)
    args = parser.parse_args()
    run(args.fan_out_writes, args.selective_writes)
