"""What the tests of hospital stays share (discharge coordination, care plans; their
`*_support` modules build on it): the ADT tables' wipe, a clock the tests move, staff members
calling the API with tokens of their own, and the world's lookups and consents."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete

from conftest import FHIR_JSON
from vardnav.config import Settings
from vardnav.domains.adt.models import ADT_TABLES

MED1 = "SE2321000131-SU-MED1"
# A Monday morning well in the past, so that the care relationships PDL derives from a stay
# (which start at the recorded times) are in force at the real time of each request; the
# workflows' clocks start here too.
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def wipe_adt(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in ADT_TABLES:
            conn.execute(delete(table))


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def move(self, **delta: float) -> datetime:
        self.at += timedelta(**delta)
        return self.at


class Caller:
    """One signed-in staff member: operations with a Parameters body made by `params` (each
    test area writes its values its own way), reads and searches, all with their token."""

    def __init__(self, c: TestClient, headers: dict[str, str],
                 params: Callable[..., dict[str, Any]]) -> None:
        self.c = c
        self.h = headers
        self._params = params

    def op(self, path: str, **values: Any) -> Any:
        return self.c.post(f"/fhir/{path}", json=self._params(**values),
                           headers={**FHIR_JSON, **self.h})

    def ok(self, path: str, expect: int = 200, **values: Any) -> dict[str, Any]:
        r = self.op(path, **values)
        assert r.status_code == expect, r.text
        return r.json()

    def get(self, path: str, **query: Any) -> Any:
        return self.c.get(f"/fhir/{path}", params=query or None, headers=self.h)

    def sees(self, ref: str) -> bool:
        status = self.get(ref).status_code
        assert status in (200, 404), status
        return status == 200


@dataclass
class StayWorld:
    """The system client, the workflow's clock, and the ids the tests name things by."""

    c: TestClient
    settings: Settings
    engine: Engine
    clock: Clock
    orgs: dict[str, str] = field(default_factory=dict)  # HSA-id → Organization id
    patients: dict[str, str] = field(default_factory=dict)  # name → Patient id

    def first(self, query: str) -> dict[str, Any]:
        r = self.c.get(f"/fhir/{query}")
        assert r.status_code == 200, r.text
        return r.json()["entry"][0]["resource"]

    def consent(self, name: str, provider: str) -> None:
        """The patient consents that `provider` reads other providers' data."""
        r = self.c.post("/fhir/Consent", headers=FHIR_JSON, json={
            "resourceType": "Consent", "status": "active",
            "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                            "consentscope", "code": "patient-privacy"}]},
            "category": [{"coding": [{"system": "https://vardnav.se/fhir/CodeSystem/"
                                                "pdl-consent-category",
                                      "code": "sjf-consent"}]}],
            "patient": {"reference": f"Patient/{self.patients[name]}"},
            "provision": {"type": "permit", "actor": [{
                "role": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                               "v3-RoleCode", "code": "PROV"}]},
                "reference": {"reference": f"Organization/{self.orgs[provider]}"}}]}})
        assert r.status_code == 201, r.text
