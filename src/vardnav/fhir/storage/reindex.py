"""Rebuild index rows from the stored current versions, in batches."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, update

from vardnav.config import Settings
from vardnav.db.engine import make_engine
from vardnav.db.unit_of_work import run_in_transaction
from vardnav.fhir.compartment import patients_of
from vardnav.fhir.search.custom import registry_for
from vardnav.fhir.search.extract import extract
from vardnav.fhir.storage.tables import INDEX_TABLES, resource, resource_version


def _current(resource_type: str | None) -> list:
    conds = [resource.c.deleted.is_(False)]
    if resource_type:
        conds.append(resource.c.resource_type == resource_type)
    return conds


def count_current(settings: Settings, resource_type: str | None) -> int:
    engine = make_engine(settings.database_url)
    with engine.connect() as conn:
        n = conn.execute(select(func.count()).select_from(resource)
                         .where(*_current(resource_type))).scalar_one()
    engine.dispose()
    return n


_SET_PATIENT = (update(resource).where(resource.c.rid == bindparam("b_rid"))
                .values(patient_id=bindparam("b_patient")))
# Versions stored before they carried their patient get the current one (best known).
_SET_VERSION_PATIENT = (update(resource_version)
                        .where(resource_version.c.rid == bindparam("b_rid"),
                               resource_version.c.patient_id.is_(None))
                        .values(patient_id=bindparam("b_patient")))


def reindex_all(settings: Settings, resource_type: str | None, *, batch: int = 500,
                on_batch: Callable[[int], None] = lambda n: None,
                searchable: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> int:
    """`searchable` as in EngineServices: what of each resource the index may hold."""
    engine = make_engine(settings.database_url)
    registry = registry_for(engine)
    last_rid, done = 0, 0
    try:
        while True:
            def work(conn, after=last_rid):
                rows = conn.execute(
                    select(resource.c.rid, resource.c.content)
                    .where(*_current(resource_type), resource.c.rid > after)
                    .order_by(resource.c.rid).limit(batch)).all()
                if not rows:
                    return rows
                rids = [r.rid for r in rows]
                pending: dict[str, list[dict]] = {}
                for r in rows:
                    indexed = searchable(r.content) if searchable else r.content
                    for kind, index_rows in extract(registry, indexed).items():
                        for row in index_rows:
                            row["rid"] = r.rid
                        pending.setdefault(kind, []).extend(index_rows)
                # The compartment column too, for rows stored before it existed.
                patients = [{"b_rid": r.rid,
                             "b_patient": (patients_of(registry, r.content) or [None])[0]}
                            for r in rows]
                conn.execute(_SET_PATIENT, patients)
                conn.execute(_SET_VERSION_PATIENT, patients)
                for table in INDEX_TABLES.values():
                    conn.execute(delete(table).where(table.c.rid.in_(rids)))
                for kind, index_rows in pending.items():
                    if index_rows:
                        conn.execute(insert(INDEX_TABLES[kind]), index_rows)
                return rows

            rows = run_in_transaction(engine, work)
            if not rows:
                break
            last_rid = rows[-1].rid
            done += len(rows)
            on_batch(len(rows))
    finally:
        engine.dispose()
    return done
