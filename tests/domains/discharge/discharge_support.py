"""Shared setup of the discharge coordination tests: the demo region, a hospital ward, two
primary-care units, two municipalities with staff of their own, patients living in each, an
admitted stay, and the workflow's clock, which the tests move."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from conftest import FHIR_JSON, bearer, load_region, mint_token, patient
from stay_support import MED1, T0, Caller, Clock, StayWorld
from vardnav.config import Settings
from vardnav.domains.identity.organisation.region import HSA_SYSTEM
from vardnav.domains.identity.organisation.region_data import REGION_HSA

HOSPITAL = "SE2321000131-SU"
VC_GBG = "SE2321000131-VC01"  # Vårdcentralen Högsbo, Göteborg
VC_BORAS = "SE2321000131-VC04"  # Vårdcentralen Sjöbo, Borås
GBG = "SE000014800000-K1480"  # Göteborg
BORAS = "SE000014900000-K1490"  # Borås


def params(**values: Any) -> dict[str, Any]:
    """A Parameters body: dict → valueReference, bool, datetime → valueDateTime, else
    valueString; a list of dicts → repeated parts (SIP actions)."""
    out: list[dict[str, Any]] = []
    for name, value in values.items():
        if value is None:
            continue
        if isinstance(value, list):
            out += [{"name": name, "part": [
                {"name": k, **({"valueReference": v} if isinstance(v, dict) else
                               {"valueString": v})} for k, v in item.items()]}
                for item in value]
        elif isinstance(value, dict):
            out.append({"name": name, "valueReference": value})
        elif isinstance(value, bool):
            out.append({"name": name, "valueBoolean": value})
        elif isinstance(value, datetime):
            out.append({"name": name, "valueDateTime": value.isoformat()})
        else:
            out.append({"name": name, "valueString": value})
    return {"resourceType": "Parameters", "parameter": out}


class Staff(Caller):
    def __init__(self, c: TestClient, settings: Settings, subject: str, unit: str,
                 provider: str, role: str = "registered-nurse") -> None:
        super().__init__(c, bearer(mint_token(settings, "user/*.cruds", kind="staff",
                                              subject=subject, unit=unit, provider=provider,
                                              role=role)), params)
        self.unit = unit

    def ids(self, query: str) -> set[str]:
        r = self.get(query)
        assert r.status_code == 200, r.text
        return {f"{e['resource']['resourceType']}/{e['resource']['id']}"
                for e in r.json().get("entry", []) if e["search"]["mode"] != "outcome"}


@dataclass
class World(StayWorld):
    beds: list[str] = field(default_factory=list)
    doctor: str = ""  # Practitioner id
    nurse_person: str = ""
    staff: dict[str, Staff] = field(default_factory=dict)
    admitted: list[str] = field(default_factory=list)

    def add_patient(self, name: str, municipality: str, primary: str | None,
                    **extra: Any) -> str:
        body = patient(name, "Test", birth="1938-04-05", address=[{
            "use": "home", "line": ["Storgatan 1"], "postalCode": "413 10",
            "city": municipality, "district": municipality}], **extra)
        if primary:
            body["generalPractitioner"] = [{"reference": f"Organization/{self.orgs[primary]}"}]
        r = self.c.post("/fhir/Patient", json=body, headers=FHIR_JSON)
        assert r.status_code == 201, r.text
        self.patients[name] = r.json()["id"]
        return self.patients[name]

    def admit(self, name: str, at: datetime = T0) -> str:
        """Admit to the next free bed of the ward."""
        bed = self.beds[len(self.admitted)]
        self.admitted.append(name)
        r = self.c.post(f"/fhir/Patient/{self.patients[name]}/$admit", json=params(
            bed=bed, attending=self.doctor, at=at), headers=FHIR_JSON)
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    def discharge(self, enc: str, at: datetime) -> None:
        r = self.c.post(f"/fhir/Encounter/{enc}/$discharge", json={
            "resourceType": "Parameters", "parameter": [
                {"name": "disposition", "valueCode": "home"},
                {"name": "at", "valueDateTime": at.isoformat()}]}, headers=FHIR_JSON)
        assert r.status_code == 200, r.text

    def case(self, enc: str) -> dict[str, Any]:
        r = self.c.get("/fhir/Task", params={"encounter": f"Encounter/{enc}",
                                             "code": "https://vardnav.se/fhir/CodeSystem/"
                                                     "discharge-coordination|coordination"})
        assert r.status_code == 200, r.text
        entries = r.json().get("entry", [])
        assert len(entries) == 1, r.text
        return entries[0]["resource"]

    def notices(self, enc: str) -> dict[str, dict[str, Any]]:
        """The case's notices by receiver HSA-id."""
        case = self.case(enc)
        r = self.c.get("/fhir/Task", params={"part-of": f"Task/{case['id']}"})
        return {e["resource"]["owner"]["identifier"]["value"]: e["resource"]
                for e in r.json().get("entry", [])}

    def messages(self, enc: str, category: str | None = None) -> list[dict[str, Any]]:
        case = self.case(enc)
        r = self.c.get("/fhir/Communication", params={"part-of": f"Task/{case['id']}",
                                                      "_count": 200})
        found = [e["resource"] for e in r.json().get("entry", [])]
        if category:
            found = [m for m in found if m["category"][0]["coding"][0]["code"] == category]
        return found

    def report(self, who: Staff | None = None, **query: Any) -> Any:
        headers = who.h if who else {}
        return self.c.get("/fhir/$discharge-report", params=query, headers=headers)


def build_world(c: TestClient, settings: Settings, engine: Engine) -> World:
    load_region(c.app)
    clock = Clock(T0)
    c.app.state.discharge.clock = clock  # type: ignore[attr-defined]
    w = World(c, settings, engine, clock)
    for hsa in (MED1, HOSPITAL, VC_GBG, VC_BORAS, GBG, BORAS, REGION_HSA):
        w.orgs[hsa] = w.first(f"Organization?identifier={HSA_SYSTEM}|{hsa}")["id"]
    ward = w.first(f"Location?identifier={HSA_SYSTEM}|{MED1}-L")["id"]
    beds = c.get("/fhir/Location", params={"partof:Location.partof": f"Location/{ward}",
                                           "_count": 100, "_sort": "name"}).json()
    w.beds = [e["resource"]["id"] for e in beds["entry"]]
    people = c.get("/fhir/Practitioner", params={"_count": 3, "_sort": "_id"}).json()
    w.doctor, w.nurse_person = (e["resource"]["id"] for e in people["entry"][:2])
    w.staff = {
        "nurse": Staff(c, settings, "SE2321000131-DN1", MED1, REGION_HSA),
        "doctor": Staff(c, settings, "SE2321000131-DD1", MED1, REGION_HSA, "physician"),
        "vc": Staff(c, settings, "SE2321000131-DV1", VC_GBG, REGION_HSA),
        "vc_boras": Staff(c, settings, "SE2321000131-DV2", VC_BORAS, REGION_HSA),
        "gbg": Staff(c, settings, "SE000014800000-DG1", GBG, GBG, "social-worker"),
        "boras": Staff(c, settings, "SE000014900000-DB1", BORAS, BORAS, "social-worker"),
    }
    w.add_patient("Göransson", "Göteborg", VC_GBG)
    w.add_patient("Borg", "Borås", VC_BORAS)
    return w


