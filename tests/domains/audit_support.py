"""Helpers for the access-log tests: callers of each kind, test data, and reading the log
back (fixtures: audit_fixtures.py)."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, select

from conftest import FHIR_JSON, bearer, mint_token
from vardnav.domains.access.audit_frames import parsed_frames, render
from vardnav.domains.access.models import audit_log, audit_log_patient, audit_seal
from vardnav.domains.identity.access.principal import Principal
from vardnav.domains.identity.access.scopes import parse_scopes

HSA = "urn:oid:1.2.752.29.4.19"
PROVIDER = "SE2321000131-T1"
UNIT = "SE2321000131-T1-AVD1"
USER = "SE2321000131-T1-U1"
OTHER_USER = "SE2321000131-T1-U2"
REVIEWER = "SE2321000131-T1-LG1"


def clear_log(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(delete(audit_seal))
        conn.execute(delete(audit_log_patient))
        conn.execute(delete(audit_log))


def staff_client(app: Any, subject: str = USER, role: str = "registered-nurse",
                 unit: str = UNIT, provider: str = PROVIDER, **claims: Any) -> TestClient:
    token = mint_token(app.state.settings, "user/*.cruds", kind="staff", subject=subject,
                       unit=unit, provider=provider, role=role, **claims)
    return TestClient(app, headers=bearer(token))


def resident_client(app: Any, patient_id: str) -> TestClient:
    token = mint_token(app.state.settings, "patient/*.rs", kind="resident",
                       subject=f"patient:{patient_id}", patient=patient_id,
                       fhir_user=f"Patient/{patient_id}")
    return TestClient(app, headers=bearer(token))


def staff_principal(subject: str = USER, unit: str = UNIT, provider: str = PROVIDER,
                    role: str = "registered-nurse") -> Principal:
    return Principal(kind="staff", subject=subject, client_id="test-client",
                     scope_text="user/*.cruds", scopes=tuple(parse_scopes("user/*.cruds")),
                     unit=unit, provider=provider, role=role)


def create(c: TestClient, resource: dict[str, Any]) -> dict[str, Any]:
    r = c.post(f"/fhir/{resource['resourceType']}", json=resource, headers=FHIR_JSON)
    assert r.status_code == 201, r.text
    return r.json()


def log_rows(engine: Engine) -> list[dict[str, Any]]:
    """Every log row in seq order, with its patients, its stored entry and its AuditEvent."""
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(select(audit_log)
                                                       .order_by(audit_log.c.seq))]
        links = conn.execute(select(audit_log_patient)).all()
        frames = parsed_frames(conn, [json.loads(row["event"]) for row in rows])
    for row in rows:
        row["patients"] = sorted(link.patient for link in links if link.seq == row["seq"])
        row["stored"] = json.loads(row["event"])
        row["parsed"] = render(row["stored"], frames)  # the AuditEvent, its frame filled in
    return rows


def organisation(hsa_id: str, name: str) -> dict[str, Any]:
    return {"resourceType": "Organization", "name": name,
            "identifier": [{"system": HSA, "value": hsa_id}]}


def practitioner(hsa_id: str, family: str, given: str, **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Practitioner", "name": [{"family": family, "given": [given]}],
            "identifier": [{"system": HSA, "value": hsa_id}], **extra}
