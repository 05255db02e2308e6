"""Shared setup of the ADT tests: the demo region (hospitals → wards → rooms → beds), a few
patients and practitioners, staff tokens, and helpers to call the ADT operations and to
snapshot everything a step may change (for "nothing half-written" and "cancel restores")."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, select

from conftest import FHIR_JSON, bearer, mint_token
from vardnav.config import Settings
from vardnav.domains.adt.models import ADT_TABLES, adt_bed, adt_encounter, adt_stay, adt_step
from vardnav.domains.identity.organisation.region_data import REGION_HSA
from vardnav.fhir.storage.tables import resource

MED1 = "SE2321000131-SU-MED1"
GER2 = "SE2321000131-SU-GER2"
ORT3 = "SE2321000131-SU-ORT3"
HOSPITAL = "SE2321000131-SU"


def wipe_adt(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in ADT_TABLES:
            conn.execute(delete(table))


def params(**values: Any) -> dict[str, Any]:
    """A Parameters body: str → valueString (ids), dict → valueReference, else by type."""
    out = []
    for name, value in values.items():
        if value is None:
            continue
        if isinstance(value, dict):
            out.append({"name": name, "valueReference": value})
        elif isinstance(value, bool):
            out.append({"name": name, "valueBoolean": value})
        elif name in ("at", "expectedAt", "expectedDischarge"):
            out.append({"name": name, "valueDateTime": value})
        elif name in ("disposition", "kind", "status"):
            out.append({"name": name, "valueCode": value})
        else:
            out.append({"name": name, "valueString": value})
    return {"resourceType": "Parameters", "parameter": out}


@dataclass
class World:
    c: TestClient
    settings: Settings
    engine: Engine
    wards: dict[str, str] = field(default_factory=dict)  # ward HSA → Location id
    units: dict[str, str] = field(default_factory=dict)  # ward HSA → Organization id
    hospital: str = ""  # the hospital's building Location id
    hospital_org: str = ""
    beds: dict[str, list[str]] = field(default_factory=dict)  # ward HSA → bed Location ids
    doctors: list[str] = field(default_factory=list)  # Practitioner ids
    patients: list[str] = field(default_factory=list)

    # -- calls --------------------------------------------------------------------------

    def op(self, path: str, headers: dict[str, str] | None = None, **values: Any) -> Any:
        return self.c.post(f"/fhir/{path}", json=params(**values),
                           headers={**FHIR_JSON, **(headers or {})})

    def ok(self, path: str, expect: int = 200, **values: Any) -> dict[str, Any]:
        r = self.op(path, **values)
        assert r.status_code == expect, r.text
        return r.json()

    def admit(self, n: int = 0, bed: str | None = None, expect: int = 201,
              **values: Any) -> dict[str, Any]:
        values.setdefault("attending", self.doctors[0])
        return self.ok(f"Patient/{self.patients[n]}/$admit", expect,
                       bed=bed or self.beds[MED1][0], **values)

    def read(self, path: str) -> dict[str, Any]:
        r = self.c.get(f"/fhir/{path}")
        assert r.status_code == 200, r.text
        return r.json()

    def bed_status(self, bed: str) -> str | None:
        return (self.read(f"Location/{bed}").get("operationalStatus") or {}).get("code")

    def board(self, path: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
        r = self.c.get(f"/fhir/{path}/$bed-board", headers=headers or {})
        assert r.status_code == 200, r.text
        return r.json()

    def staff(self, unit_hsa: str, subject: str = "SE2321000131-T1",
              role: str = "registered-nurse", scopes: str = "user/*.cruds") -> dict[str, str]:
        return bearer(mint_token(self.settings, scopes, kind="staff", subject=subject,
                                 unit=unit_hsa, provider=REGION_HSA, role=role))

    # -- state --------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Every stored Encounter, Composition and bed Location (without meta) and every ADT
        table row: what a step may change."""
        with self.engine.connect() as conn:
            res = {f"{r.resource_type}/{r.fhir_id}": _strip(r.content) for r in conn.execute(
                select(resource.c.resource_type, resource.c.fhir_id, resource.c.content)
                .where(resource.c.resource_type.in_(("Encounter", "Composition", "Location"))))}
            tables = {t.name: sorted((tuple(sorted(r._mapping.items())) for r in
                                      conn.execute(select(t)).all()), key=repr)
                      for t in (adt_encounter, adt_stay, adt_bed)}
            steps = conn.execute(select(adt_step.c.id, adt_step.c.cancelled)).all()
        return {"resources": res, "tables": tables, "steps": sorted(map(tuple, steps))}


def _strip(content: dict[str, Any] | None) -> dict[str, Any] | None:
    if content is None:
        return None
    return {k: v for k, v in content.items() if k != "meta"}


def first(c: TestClient, query: str) -> dict[str, Any]:
    r = c.get(f"/fhir/{query}")
    assert r.status_code == 200, r.text
    entries = r.json().get("entry", [])
    assert entries, query
    return entries[0]["resource"]
