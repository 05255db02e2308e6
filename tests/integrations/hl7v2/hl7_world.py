"""A small hospital for the HL7 v2 end-to-end tests: one hospital, two wards with rooms and
beds (HSA-ids as in the demo region), two doctors, a nurse and patients with personnummer;
an application built by create_app (so the workflow's listeners are assembled as in
production), and helpers to take ADT steps and read the FHIR state."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from sqlalchemy import Engine, delete

from vardnav.config import Settings
from vardnav.db.unit_of_work import run_in_transaction
from vardnav.domains.adt.models import ADT_TABLES
from vardnav.domains.identity.access.principal import SERVER
from vardnav.fhir.hooks import RequestContext
from vardnav.fhir.storage.repository import EngineServices, Repository
from vardnav.main import create_app

HSA = "urn:oid:1.2.752.29.4.19"
PNR = "http://electronichealth.se/identifier/personnummer"
LOCATION_TYPE = "http://terminology.hl7.org/CodeSystem/location-physical-type"
BED_STATUS = "http://terminology.hl7.org/CodeSystem/v2-0116"
HOSPITAL = "SE2321000131-HX"
WARDS = ("SE2321000131-HX-MED9", "SE2321000131-HX-KIR9")
DOCTORS = ("SE2321000131-PX0001", "SE2321000131-PX0002")
NURSE = "SE2321000131-PX0003"


def personnummer(date: str, serial: int) -> str:
    """A valid 12-digit personnummer for YYYYMMDD and a 3-digit serial (Luhn check digit)."""
    digits = f"{date[2:]}{serial:03d}"
    total = 0
    for i, ch in enumerate(digits):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return f"{date}{serial:03d}{(10 - total % 10) % 10}"


PATIENTS = tuple(personnummer(f"19{50 + n:02d}0{1 + n % 9}1{n % 10}", 100 + n)
                 for n in range(12))


def ward_hsa(ward: str) -> str:
    return f"{ward}-L"


def bed_hsa(ward: str, room: int, bed: int) -> str:
    return f"{ward}-R{room}-B{bed}"


def _hsa(value: str) -> list[dict[str, str]]:
    return [{"system": HSA, "value": value}]


def _loc(key: str, hsa: str, kind: str, name: str, part_of: str | None,
         unit: str | None = None, bed: bool = False) -> dict[str, Any]:
    content: dict[str, Any] = {
        "resourceType": "Location", "identifier": _hsa(hsa), "status": "active", "name": name,
        "mode": "instance", "physicalType": {"coding": [{"system": LOCATION_TYPE,
                                                         "code": kind}]}}
    if part_of:
        content["partOf"] = {"reference": part_of}
    if unit:
        content["managingOrganization"] = {"reference": unit}
    if bed:
        content["operationalStatus"] = {"system": BED_STATUS, "code": "U",
                                        "display": "Unoccupied"}
    return {"fullUrl": f"urn:uuid:{key}", "resource": content,
            "request": {"method": "POST", "url": "Location"}}


def hospital_bundle() -> dict[str, Any]:
    import uuid

    def key() -> str:
        return str(uuid.uuid4())

    entries: list[dict[str, Any]] = []
    org = key()
    entries.append({"fullUrl": f"urn:uuid:{org}", "resource": {
        "resourceType": "Organization", "identifier": _hsa(HOSPITAL), "active": True,
        "name": "Testsjukhuset"}, "request": {"method": "POST", "url": "Organization"}})
    hospital = key()
    entries.append(_loc(hospital, f"{HOSPITAL}-L", "bu", "Testsjukhuset", None,
                        f"urn:uuid:{org}"))
    for ward in WARDS:
        unit = key()
        entries.append({"fullUrl": f"urn:uuid:{unit}", "resource": {
            "resourceType": "Organization", "identifier": _hsa(ward), "active": True,
            "name": f"Avdelning {ward[-4:]}", "partOf": {"reference": f"urn:uuid:{org}"}},
            "request": {"method": "POST", "url": "Organization"}})
        ward_key = key()
        entries.append(_loc(ward_key, ward_hsa(ward), "wa", f"Avdelning {ward[-4:]}",
                            f"urn:uuid:{hospital}", f"urn:uuid:{unit}"))
        for room in (1, 2):
            room_key = key()
            entries.append(_loc(room_key, f"{ward}-R{room}", "ro", f"Sal {room}",
                                f"urn:uuid:{ward_key}", f"urn:uuid:{unit}"))
            for bed in (1, 2):
                entries.append(_loc(key(), bed_hsa(ward, room, bed), "bd",
                                    f"Sal {room} säng {bed}", f"urn:uuid:{room_key}",
                                    f"urn:uuid:{unit}", bed=True))
    for n, hsa in enumerate((*DOCTORS, NURSE)):
        entries.append({"resource": {
            "resourceType": "Practitioner", "identifier": _hsa(hsa), "active": True,
            "name": [{"family": ["Läkare", "Doktor", "Sköterska"][n], "given": ["Test"]}]},
            "request": {"method": "POST", "url": "Practitioner"}})
    for n, number in enumerate(PATIENTS):
        entries.append({"resource": {
            "resourceType": "Patient", "identifier": [{"system": PNR, "value": number}],
            "name": [{"family": f"Patient{n}", "given": ["Test"]}],
            "birthDate": f"{number[:4]}-{number[4:6]}-{number[6:8]}",
            "gender": "male" if int(number[10]) % 2 else "female"},
            "request": {"method": "POST", "url": "Patient"}})
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def wipe_all(engine: Engine) -> None:
    from hl7_support import clear_hl7

    from conftest import wipe

    wipe(engine)
    clear_hl7(engine)
    with engine.begin() as conn:
        for table in ADT_TABLES:
            conn.execute(delete(table))


@dataclass
class Hospital:
    app: FastAPI
    engine: Engine
    ids: dict[str, str] = field(default_factory=dict)  # HSA-id or personnummer → id

    @property
    def services(self) -> EngineServices:
        return self.app.state.services  # type: ignore[no-any-return]

    def step(self, name: str, **kwargs: Any) -> dict[str, Any]:
        """Run one workflow step as the server (system) in its own transaction."""
        wf = self.app.state.adt

        def work(conn: Any) -> dict[str, Any]:
            repo = Repository(conn, self.services, RequestContext(principal=SERVER))
            return getattr(wf, name)(repo, **kwargs)  # type: ignore[no-any-return]

        return run_in_transaction(self.engine, work)

    def read(self, rtype: str, fhir_id: str) -> dict[str, Any]:
        def work(conn: Any) -> dict[str, Any]:
            return Repository(conn, self.services, RequestContext(principal=SERVER)).read(
                rtype, fhir_id)
        return run_in_transaction(self.engine, work, write=False)

    def search(self, rtype: str, **params: str) -> list[dict[str, Any]]:
        def work(conn: Any) -> list[dict[str, Any]]:
            repo = Repository(conn, self.services, RequestContext(principal=SERVER))
            return repo.search(repo.parse(rtype, list(params.items()))).matches
        return run_in_transaction(self.engine, work, write=False)

    def encounters(self, patient: str) -> list[dict[str, Any]]:
        return self.search("Encounter", subject=f"Patient/{self.ids[patient]}")

    def bed_status(self, ward: str, room: int, bed: int) -> str | None:
        found = self.read("Location", self.ids[bed_hsa(ward, room, bed)])
        return (found.get("operationalStatus") or {}).get("code")


def build_hospital(settings: Settings, engine: Engine, services: EngineServices,
                   **overrides: Any) -> Hospital:
    """A fresh store with the test hospital, and an app whose settings carry `overrides`
    (e.g. hl7_receivers)."""
    wipe_all(engine)
    from fastapi.testclient import TestClient

    from conftest import FHIR_JSON, bearer, mint_token

    app_settings = settings.model_copy(update=overrides)
    app = create_app(app_settings, services=dataclasses.replace(services), engine=engine)
    h = Hospital(app, engine)
    client = TestClient(app, headers=bearer(mint_token(app_settings)))
    r = client.post("/fhir", json=hospital_bundle(), headers=FHIR_JSON)
    assert r.status_code == 200, r.text
    for rtype in ("Location", "Practitioner", "Organization"):
        for res in h.search(rtype, _count="100"):
            h.ids[res["identifier"][0]["value"]] = res["id"]
    for res in h.search("Patient", _count="100"):
        h.ids[res["identifier"][0]["value"]] = res["id"]
    return h

