"""Fixtures of the ADT tests (a pytest plugin: `pytest_plugins = ("adt_fixtures",)`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from adt_support import GER2, HOSPITAL, MED1, ORT3, World, first, wipe_adt
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from conftest import FHIR_JSON, load_region, patient
from vardnav.config import Settings
from vardnav.domains.identity.organisation.region import HSA_SYSTEM


@pytest.fixture
def world(pdl_client: TestClient, settings: Settings, engine: Engine) -> Iterator[World]:
    wipe_adt(engine)
    c = pdl_client
    load_region(c.app)
    w = World(c, settings, engine)
    for hsa in (MED1, GER2, ORT3):
        w.wards[hsa] = first(c, f"Location?identifier={HSA_SYSTEM}|{hsa}-L")["id"]
        w.units[hsa] = first(c, f"Organization?identifier={HSA_SYSTEM}|{hsa}")["id"]
        beds = c.get("/fhir/Location", params={
            "partof:Location.partof": f"Location/{w.wards[hsa]}", "_count": 100,
            "_sort": "name"}).json()
        w.beds[hsa] = [e["resource"]["id"] for e in beds["entry"]]
    w.hospital = first(c, f"Location?identifier={HSA_SYSTEM}|{HOSPITAL}-L")["id"]
    w.hospital_org = first(c, f"Organization?identifier={HSA_SYSTEM}|{HOSPITAL}")["id"]
    w.doctors = [e["resource"]["id"] for e in c.get(
        "/fhir/Practitioner", params={"_count": 3, "_sort": "_id"}).json()["entry"]]
    for n, (family, given) in enumerate((("Andersson", "Anna"), ("Berg", "Bo"),
                                         ("Carlsson", "Cilla"), ("Dahl", "Dan"))):
        r = c.post("/fhir/Patient", json=patient(family, given, birth=f"194{n}-01-0{n + 1}"),
                   headers=FHIR_JSON)
        assert r.status_code == 201, r.text
        w.patients.append(r.json()["id"])
    yield w
    wipe_adt(engine)
