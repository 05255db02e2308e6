"""Concurrent writes through the real request path: no update is lost or duplicated.

Each worker thread has its own TestClient on one app (one engine, one connection pool), so
requests really overlap in the server: every request runs its own database transaction in
the threadpool, as under uvicorn. On SQLite writers serialise on BEGIN IMMEDIATE; on
PostgreSQL they meet on row locks and unique indexes, and the unit of work retries the loser.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from conftest import FHIR_JSON, authed_client, patient, wipe
from vardnav.config import Settings
from vardnav.fhir.storage.repository import EngineServices
from vardnav.main import create_app

T = TypeVar("T")
THREADS = 8


@pytest.fixture
def app(engine: Engine, settings: Settings, services: EngineServices) -> Iterator[FastAPI]:
    wipe(engine)
    yield create_app(settings, services=services, engine=engine)
    wipe(engine)


def in_parallel(app: FastAPI, n: int, work: Callable[[TestClient, int], T]) -> list[T]:
    """Run work(client, index) in n threads, each with its own client, all starting at once."""
    barrier = threading.Barrier(n)

    def run(index: int) -> T:
        with authed_client(app) as client:
            barrier.wait(timeout=30)
            return work(client, index)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n)))


def version_of(r: Any) -> int:
    etag = r.headers["etag"]
    assert etag.startswith('W/"') and etag.endswith('"'), etag
    return int(etag[3:-1])


def history(c: TestClient, path: str) -> dict[str, Any]:
    r = c.get(f"/fhir/{path}/_history", params={"_count": 1000})
    assert r.status_code == 200, r.text
    return r.json()


def marker(entry_or_resource: dict[str, Any]) -> str:
    res = entry_or_resource.get("resource", entry_or_resource)
    return res["name"][0]["given"][0]


def test_parallel_updates_without_if_match_lose_nothing(app: FastAPI) -> None:
    per_thread = 10
    with authed_client(app) as c:
        r = c.put("/fhir/Patient/shared", json=patient(id="shared", given="start"),
                  headers=FHIR_JSON)
        assert r.status_code == 201, r.text

    def work(client: TestClient, k: int) -> list[tuple[int, int, str]]:
        out = []
        for i in range(per_thread):
            given = f"t{k}-{i}"
            r = client.put("/fhir/Patient/shared", json=patient(id="shared", given=given),
                           headers=FHIR_JSON)
            out.append((r.status_code, version_of(r) if r.status_code == 200 else -1, given))
        return out

    results = [x for chunk in in_parallel(app, THREADS, work) for x in chunk]
    total = THREADS * per_thread
    assert Counter(s for s, _, _ in results) == {200: total}, Counter(s for s, _, _ in results)
    # Every PUT got its own version, and together they are exactly 2..81.
    assert sorted(v for _, v, _ in results) == list(range(2, total + 2))

    with authed_client(app) as c:
        current = c.get("/fhir/Patient/shared").json()
        assert current["meta"]["versionId"] == str(1 + total)
        hist = history(c, "Patient/shared")
        assert hist["total"] == 1 + total
        versions = sorted(int(e["resource"]["meta"]["versionId"]) for e in hist["entry"])
        assert versions == list(range(1, total + 2))
        # Each stored version holds the body of the PUT that the response said made it.
        by_version = {int(e["resource"]["meta"]["versionId"]): marker(e) for e in hist["entry"]}
        assert by_version[1] == "start"
        assert {v: g for _, v, g in results} == {v: g for v, g in by_version.items() if v > 1}
        assert marker(current) == by_version[1 + total]
        # The search index holds the current version only: one match, on the last given name.
        found = c.get("/fhir/Patient", params={"given": marker(current)}).json()
        assert [e["resource"]["id"] for e in found["entry"]] == ["shared"]
        assert c.get("/fhir/Patient").json()["total"] == 1


def test_parallel_if_match_updates_never_both_win(app: FastAPI) -> None:
    attempts = 10
    with authed_client(app) as c:
        r = c.put("/fhir/Patient/guarded", json=patient(id="guarded", given="start"),
                  headers=FHIR_JSON)
        assert r.status_code == 201, r.text

    def work(client: TestClient, k: int) -> list[tuple[int, int, int, str]]:
        out = []
        for i in range(attempts):
            read = client.get("/fhir/Patient/guarded")
            assert read.status_code == 200, read.text
            seen = version_of(read)
            given = f"t{k}-{i}"
            r = client.put("/fhir/Patient/guarded", json=patient(id="guarded", given=given),
                           headers={**FHIR_JSON, "If-Match": f'W/"{seen}"'})
            out.append((r.status_code, seen, version_of(r) if r.status_code == 200 else -1,
                        given))
        return out

    results = [x for chunk in in_parallel(app, THREADS, work) for x in chunk]
    statuses = Counter(s for s, _, _, _ in results)
    assert set(statuses) <= {200, 412}, statuses
    wins = [(seen, new, given) for s, seen, new, given in results if s == 200]
    assert wins, "at least the first writer must win"
    # A win turns exactly the version it read into the next one; no two wins share one.
    assert all(new == seen + 1 for seen, new, _ in wins)
    assert len({new for _, new, _ in wins}) == len(wins)
    assert sorted(new for _, new, _ in wins) == list(range(2, len(wins) + 2))

    with authed_client(app) as c:
        current = c.get("/fhir/Patient/guarded").json()
        assert current["meta"]["versionId"] == str(1 + len(wins))
        hist = history(c, "Patient/guarded")
        assert hist["total"] == 1 + len(wins)
        by_version = {int(e["resource"]["meta"]["versionId"]): marker(e) for e in hist["entry"]}
        assert {new: given for _, new, given in wins} == \
            {v: g for v, g in by_version.items() if v > 1}


def test_parallel_update_as_create_of_one_new_id(app: FastAPI) -> None:
    rounds = 10
    each_round = threading.Barrier(2)

    def work(client: TestClient, k: int) -> list[tuple[int, int]]:
        out = []
        for n in range(rounds):
            each_round.wait(timeout=30)
            r = client.put(f"/fhir/Patient/new-{n}", json=patient(id=f"new-{n}", given=f"t{k}"),
                           headers=FHIR_JSON)
            out.append((r.status_code, version_of(r) if r.status_code < 300 else -1))
        return out

    # Both threads race for every id: a barrier lines them up for each one.
    per_thread = in_parallel(app, 2, work)
    with authed_client(app) as c:
        for n in range(rounds):
            pair = sorted((per_thread[0][n], per_thread[1][n]))
            # One creates version 1 (201), the other updates it to version 2 (200).
            assert pair == [(200, 2), (201, 1)], (n, pair)
            hist = history(c, f"Patient/new-{n}")
            assert hist["total"] == 2
            assert sorted(e["resource"]["meta"]["versionId"] for e in hist["entry"]) == ["1", "2"]
        assert c.get("/fhir/Patient", params={"_summary": "count"}).json()["total"] == rounds


def test_parallel_creates_and_deletes_of_one_id_keep_a_consistent_history(app: FastAPI) -> None:
    with authed_client(app) as c:
        assert c.put("/fhir/Patient/flip", json=patient(id="flip"),
                     headers=FHIR_JSON).status_code == 201

    def work(client: TestClient, k: int) -> list[int]:
        out = []
        for _ in range(6):
            if k % 2:
                r = client.delete("/fhir/Patient/flip")
            else:
                r = client.put("/fhir/Patient/flip", json=patient(id="flip", given=f"t{k}"),
                               headers=FHIR_JSON)
            out.append(r.status_code)
        return out

    statuses = Counter(s for chunk in in_parallel(app, 4, work) for s in chunk)
    assert set(statuses) <= {200, 201, 204}, statuses
    with authed_client(app) as c:
        hist = history(c, "Patient/flip")
        versions = sorted(int(e["response"]["etag"][3:-1]) for e in hist["entry"])
        assert versions == list(range(1, len(versions) + 1))
        # Repeated deletes of a deleted resource write nothing (204); everything else did.
        written = 1 + statuses[200] + statuses[201]
        assert hist["total"] == written


def test_parallel_conditional_creates_with_one_if_none_exist(app: FastAPI,
                                                              engine: Engine) -> None:
    """If-None-Exist under a race: exactly one resource is created, the rest get it back.

    Without serialisation, READ COMMITTED on PostgreSQL would let every racer see "none" and
    create its own copy. The repository takes a transaction-scoped advisory lock on the
    condition first, so racers with the same condition queue, and the later ones find the
    first one's resource.
    """
    rounds = 3
    each_round = threading.Barrier(THREADS)

    def work(client: TestClient, k: int) -> list[tuple[int, str]]:
        out = []
        for n in range(rounds):
            each_round.wait(timeout=30)
            body = patient(given=f"t{k}", identifier=[{"system": "urn:test:race",
                                                       "value": f"race-{n}"}])
            r = client.post("/fhir/Patient", json=body,
                            headers={**FHIR_JSON,
                                     "If-None-Exist": f"identifier=urn:test:race|race-{n}"})
            out.append((r.status_code, r.json().get("id", "") if r.content else ""))
        return out

    per_thread = in_parallel(app, THREADS, work)
    with authed_client(app) as c:
        for n in range(rounds):
            answers = [per_thread[k][n] for k in range(THREADS)]
            assert {s for s, _ in answers} <= {200, 201}, answers
            stored = c.get("/fhir/Patient",
                           params={"identifier": f"urn:test:race|race-{n}"}).json()
            ids = sorted(e["resource"]["id"] for e in stored["entry"])
            assert len(ids) == 1, (engine.dialect.name, n, ids, answers)
            assert Counter(s for s, _ in answers) == {201: 1, 200: THREADS - 1}, answers
            assert {i for _, i in answers} == set(ids)


def test_parallel_conditional_updates_with_one_criteria(app: FastAPI) -> None:
    """PUT Patient?identifier=...: the first racer creates, every later one updates it."""

    def work(client: TestClient, k: int) -> tuple[int, int]:
        body = patient(given=f"t{k}", identifier=[{"system": "urn:test:cu", "value": "one"}])
        r = client.put("/fhir/Patient", params={"identifier": "urn:test:cu|one"}, json=body,
                       headers=FHIR_JSON)
        return r.status_code, version_of(r) if r.status_code < 300 else -1

    answers = in_parallel(app, THREADS, work)
    assert Counter(s for s, _ in answers) == {201: 1, 200: THREADS - 1}, answers
    assert sorted(v for _, v in answers) == list(range(1, THREADS + 1))
    with authed_client(app) as c:
        stored = c.get("/fhir/Patient", params={"identifier": "urn:test:cu|one"}).json()
        assert stored["total"] == 1
        assert stored["entry"][0]["resource"]["meta"]["versionId"] == str(THREADS)


def test_parallel_transactions_with_one_conditional_create(app: FastAPI) -> None:
    """Bundle entries with request.ifNoneExist race the same way as the header."""

    def work(client: TestClient, k: int) -> list[str]:
        bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [{
            "fullUrl": "urn:uuid:7d3e8a52-1111-4c1e-9d7a-0a4f4e4c0b11",
            "resource": patient(given=f"t{k}",
                                identifier=[{"system": "urn:test:tx", "value": "one"}]),
            "request": {"method": "POST", "url": "Patient",
                        "ifNoneExist": "identifier=urn:test:tx|one"}}]}
        r = client.post("/fhir", json=bundle, headers=FHIR_JSON)
        assert r.status_code == 200, r.text
        return [e["response"]["status"] for e in r.json()["entry"]]

    statuses = Counter(s[:3] for chunk in in_parallel(app, THREADS, work) for s in chunk)
    assert statuses == {"201": 1, "200": THREADS - 1}, statuses
    with authed_client(app) as c:
        stored = c.get("/fhir/Patient", params={"identifier": "urn:test:tx|one"}).json()
        assert stored["total"] == 1
