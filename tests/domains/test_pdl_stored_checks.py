"""On PostgreSQL a read by id calls the patient data law's rarely reached checks as stored
functions (migration 0015); searches, and SQLite, carry them as sub-queries
(pdl_policy.staff_condition). Both shapes must let exactly the same rows through: random
worlds of care relationships, consents, emergency accesses, providers that do not share,
blocks and lifts, read by random staff, give the same rows either way."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, Float, bindparam, insert, select

from conftest import examples
from vardnav.domains.access.pdl_policy import staff_condition
from vardnav.domains.access.pdl_tables import (
    block,
    block_lift,
    care_relationship,
    consent,
    emergency,
    not_sharing,
)
from vardnav.domains.identity.access.principal import Principal
from vardnav.fhir.storage.tables import resource

NOW = 1_800_000_000.0
DAY = 86400.0
PROVIDERS = ("P-region", "P-town", "P-school")
UNITS = {"U-ward": "P-region", "U-clinic": "P-region", "U-home": "P-town", "U-school": "P-school"}
PATIENTS = ("pat-1", "pat-2")
USERS = ("user-1", "user-2")
TYPES = ("Observation", "Flag", "Consent")

when = st.sampled_from((NOW - 30 * DAY, NOW - DAY, NOW + DAY))  # past, recent, future
maybe_end = st.one_of(st.none(), when)
unit = st.sampled_from(sorted(UNITS))
patient = st.sampled_from(PATIENTS)
user = st.sampled_from(USERS)

relationships = st.lists(st.builds(lambda p, u, s, e: {
    "patient_id": p, "unit": u, "source": "test", "start": s, "end": e},
    patient, unit, when, maybe_end), max_size=4)
consents = st.lists(st.builds(lambda p, v, s, e: {
    "patient_id": p, "provider": v, "start": s, "end": e, "source_ref": "Consent/c"},
    patient, st.sampled_from(PROVIDERS), when, maybe_end), max_size=3)
emergencies = st.lists(st.builds(lambda who, p, until: {
    "subject": who, "patient_id": p, "start": NOW - DAY, "until": until, "reason": "r"},
    user, patient, when), max_size=2)
blocks = st.lists(st.builds(lambda p, kind, u, lo, hi, exempt, active: {
    "patient_id": p, "kind": kind, "provider": UNITS[u] if kind == "outer" else None,
    "unit": u if kind == "inner" else None, "data_from": lo, "data_to": hi,
    "exempt_attention": exempt, "active": active, "source_ref": "Consent/b"},
    patient, st.sampled_from(("inner", "outer")), unit, maybe_end, maybe_end, st.booleans(),
    st.booleans()), max_size=3)
lifts = st.lists(st.tuples(st.integers(0, 2), st.one_of(user, unit), when, when), max_size=2)


def records() -> list[dict[str, Any]]:
    rows = [{"resource_type": "Organization", "fhir_id": "org", "patient_id": None,
             "owner": None, "owner_unit": None, "recorded": NOW - DAY}]
    for p in PATIENTS:
        for u, provider in UNITS.items():
            for t in TYPES:
                for age, recorded in (("old", NOW - 30 * DAY), ("new", NOW - DAY / 2)):
                    rows.append({"resource_type": t, "fhir_id": f"{p}-{u}-{t}-{age}",
                                 "patient_id": p, "owner": provider, "owner_unit": u,
                                 "recorded": recorded})
    return [{**r, "version_id": 1, "last_updated": NOW, "deleted": False, "content": {}}
            for r in rows]


@pytest.fixture
def postgres(engine: Engine) -> Engine:
    if engine.dialect.name != "postgresql":
        pytest.skip("the stored checks exist on PostgreSQL only (migration 0015)")
    return engine


@settings(max_examples=examples(60), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rels=relationships, cons=consents, emgs=emergencies, blks=blocks, lfts=lifts,
       opted_out=st.sets(st.sampled_from(PROVIDERS), max_size=1),
       reader=st.tuples(user, unit))
def test_the_stored_checks_let_the_same_rows_through(
        postgres: Engine, rels: list[dict[str, Any]], cons: list[dict[str, Any]],
        emgs: list[dict[str, Any]], blks: list[dict[str, Any]],
        lfts: list[tuple[int, str, float, float]], opted_out: set[str],
        reader: tuple[str, str]) -> None:
    who, where = reader
    staff = Principal(kind="staff", subject=who, client_id="test", scope_text="",
                      unit=where, provider=UNITS[where])
    now = bindparam("pdl_now", NOW, type_=Float)
    with postgres.connect() as conn, conn.begin() as tx:  # rolled back: leaves nothing
        conn.execute(insert(resource), records())
        for table, rows in ((care_relationship, rels), (consent, cons), (emergency, emgs)):
            if rows:
                conn.execute(insert(table), rows)
        for provider in opted_out:
            conn.execute(insert(not_sharing).values(provider=provider))
        ids = [conn.execute(insert(block).values(**b).returning(block.c.id)).scalar_one()
               for b in blks]
        for n, lifted_for, start, until in lfts:
            if ids:
                named = {"unit": lifted_for} if lifted_for in UNITS else {"subject": lifted_for}
                conn.execute(insert(block_lift).values(
                    block_id=ids[n % len(ids)], start=start, until=until, basis="consent",
                    reason="r", lifted_by="x", **named))
        seen = {}
        for stored in (False, True):
            condition = staff_condition(staff, resource, "Observation", now, stored=stored)
            seen[stored] = set(conn.execute(
                select(resource.c.fhir_id).where(condition)).scalars())
        tx.rollback()
    assert seen[True] == seen[False]
