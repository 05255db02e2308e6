"""An update rewrites only the index rows it changes (fhir/storage/index_memo.py): whatever
path a write takes, the index rows in the tables are exactly those of the current content."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from sqlalchemy import Engine, select

from conftest import observation, patient, wipe
from vardnav.db.unit_of_work import run_in_transaction
from vardnav.domains.identity.access.principal import SERVER
from vardnav.fhir.hooks import RequestContext
from vardnav.fhir.search.extract import extract
from vardnav.fhir.storage import repository
from vardnav.fhir.storage.index_memo import apply_changes
from vardnav.fhir.storage.repository import EngineServices, Repository
from vardnav.fhir.storage.tables import INDEX_TABLES, resource


def _repo(conn: Any, services: EngineServices) -> Repository:
    return Repository(conn, services, RequestContext(principal=SERVER))


def _stored_rows(engine: Engine, rtype: str, fhir_id: str) -> dict[str, Counter]:
    with engine.connect() as conn:
        rid = conn.execute(select(resource.c.rid).where(
            resource.c.resource_type == rtype, resource.c.fhir_id == fhir_id)).scalar_one()
        out = {}
        for kind, table in INDEX_TABLES.items():
            rows = conn.execute(select(table).where(table.c.rid == rid)).mappings().all()
            if rows:
                out[kind] = Counter(tuple(sorted((k, v) for k, v in r.items() if k != "rid"))
                                    for r in rows)
        return out


def _expected(services: EngineServices, content: dict[str, Any]) -> dict[str, Counter]:
    indexed = services.searchable(content) if services.searchable else content
    return {kind: Counter(tuple(sorted(r.items())) for r in rows)
            for kind, rows in extract(services.registry, indexed).items() if rows}


def _read(engine: Engine, services: EngineServices, rtype: str, fhir_id: str) -> dict:
    with engine.connect() as conn:
        return _repo(conn, services).read(rtype, fhir_id)


def test_updates_leave_exactly_the_current_contents_rows(
        engine: Engine, services: EngineServices, monkeypatch: pytest.MonkeyPatch) -> None:
    wipe(engine)
    diffs = []

    def counted(*args: Any) -> Any:
        diffs.append(args)
        return apply_changes(*args)
    monkeypatch.setattr(repository, "apply_changes", counted)
    pid = run_in_transaction(engine, lambda conn: _repo(conn, services).create(
        "Patient", patient(family="Ek", identifier=[{"system": "urn:x", "value": "1"}])).id)
    versions = [
        patient(family="Ek", identifier=[{"system": "urn:x", "value": "1"}]),  # unchanged
        patient(family="Björk", given="Anna", identifier=[{"system": "urn:x", "value": "1"},
                                                          {"system": "urn:x", "value": "1"}]),
        patient(family="Björk", birth="1950", active=True),  # rows go, others come
        patient(family="Al", telecom=[{"system": "phone", "value": "1"}] * 3),  # duplicates
        patient(family="Al"),
    ]
    for n, content in enumerate(versions):
        def write(conn: Any, content: dict = content) -> None:
            _repo(conn, services).update("Patient", pid, {**content, "id": pid})
        run_in_transaction(engine, write)
        current = _read(engine, services, "Patient", pid)
        assert _stored_rows(engine, "Patient", pid) == _expected(services, current), n
    # Each update found the rows stored by the one before (SQLite), none rewrote them all.
    assert len(diffs) == (len(versions) if engine.dialect.name == "sqlite" else 0)


def test_a_rolled_back_update_or_another_writer_is_not_taken_for_the_stored_rows(
        engine: Engine, services: EngineServices, shared_services: EngineServices) -> None:
    wipe(engine)
    obs_id = run_in_transaction(engine, lambda conn: _repo(conn, services).create(
        "Observation", observation("Patient/p1", value=70)).id)

    # An update rolled back after it wrote: the memo remembers rows that were undone.
    class Undo(Exception):
        pass

    def undone(conn: Any) -> None:
        _repo(conn, services).update("Observation", obs_id, {
            **observation("Patient/p2", code="1234-5", value=80), "id": obs_id})
        raise Undo
    with pytest.raises(Undo):
        run_in_transaction(engine, undone)
    # Another process (other services, its own memo) writes the next version.
    other = EngineServices(shared_services.registry, shared_services.validator,
                           services.policy, services.audit, searchable=services.searchable)
    run_in_transaction(engine, lambda conn: _repo(conn, other).update(
        "Observation", obs_id, {**observation("Patient/p3", value=90), "id": obs_id}))
    # Then this process again: it must not diff against what it remembers.
    run_in_transaction(engine, lambda conn: _repo(conn, services).update(
        "Observation", obs_id, {**observation("Patient/p3", value=91), "id": obs_id}))
    current = _read(engine, services, "Observation", obs_id)
    assert current["valueQuantity"]["value"] == 91
    assert _stored_rows(engine, "Observation", obs_id) == _expected(services, current)
    with engine.connect() as conn:
        found = _repo(conn, services).search(_repo(conn, services).parse(
            "Observation", [("subject", "Patient/p3")]))
        assert [m["id"] for m in found.matches] == [obs_id]
        assert not _repo(conn, services).search(_repo(conn, services).parse(
            "Observation", [("subject", "Patient/p1")])).matches
