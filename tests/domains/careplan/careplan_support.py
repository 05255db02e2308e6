"""Shared setup of the care plan tests: the demo region, medical ward MED1 (region) and its
staff in every profession, a municipal home-care nurse under option 3 (Öckerö, another care
provider), patients of 65+ and younger, admissions through the ADT workflow, and the care plan
service's clock, which tests move."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from conftest import FHIR_JSON, bearer, load_region, mint_token, patient
from stay_support import MED1, T0, Caller, Clock, StayWorld
from vardnav.config import Settings
from vardnav.domains.identity.organisation.region import HSA_SYSTEM
from vardnav.domains.identity.organisation.region_data import REGION_HSA

GER2 = "SE2321000131-SU-GER2"
OCKERO = "SE000014070000-K1407"  # option 3: documents in the shared record
OCKERO_HOME = f"{OCKERO}-HSV"
PLAN = "https://vardnav.se/fhir/CodeSystem/care-plan-category|interprofessional"
RECORDED_BY = "https://vardnav.se/fhir/StructureDefinition/recorded-by"
Q = "https://vardnav.se/fhir/Questionnaire"


def value_param(name: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"name": name, "valueBoolean": value}
    if isinstance(value, datetime):
        return {"name": name, "valueDateTime": value.isoformat()}
    if isinstance(value, date):
        return {"name": name, "valueDate": value.isoformat()}
    if isinstance(value, int):
        return {"name": name, "valueInteger": value}
    if isinstance(value, tuple):  # ("Quantity", {...}): an explicitly typed value
        return {"name": name, f"value{value[0]}": value[1]}
    if isinstance(value, dict) and value.get("resourceType"):
        return {"name": name, "resource": value}
    if isinstance(value, dict) and "reference" in value:
        return {"name": name, "valueReference": value}
    if isinstance(value, dict):
        return {"name": name, "valueCoding": value}
    return {"name": name, "valueString": value}


def params(**values: Any) -> dict[str, Any]:
    """Parameters: a list of dicts under a name → repeated entries with parts."""
    out: list[dict[str, Any]] = []
    for name, value in values.items():
        if value is None:
            continue
        if isinstance(value, list):
            for item in value:
                if isinstance(item, dict) and not item.get("reference"):
                    out.append({"name": name, "part": [value_param(k, v)
                                                       for k, v in item.items()
                                                       if v is not None]})
                else:
                    out.append(value_param(name, item))
        else:
            out.append(value_param(name, value))
    return {"resourceType": "Parameters", "parameter": out}


class Staff(Caller):
    def __init__(self, c: TestClient, settings: Settings, subject: str, unit: str,
                 provider: str, role: str, practitioner: str) -> None:
        self.practitioner = f"Practitioner/{practitioner}"
        super().__init__(c, bearer(mint_token(settings, "user/*.cruds", kind="staff",
                                              subject=subject, unit=unit, provider=provider,
                                              role=role, fhir_user=self.practitioner)), params)
        self.unit, self.provider, self.role = unit, provider, role
        self.subject = subject

    def refused(self, path: str, expect: int, **values: Any) -> str:
        r = self.op(path, **values)
        assert r.status_code == expect, r.text
        body = r.json()
        assert body["resourceType"] == "OperationOutcome", body
        return str(body["issue"][0]["diagnostics"])

    def read(self, path: str) -> dict[str, Any]:
        r = self.get(path)
        assert r.status_code == 200, r.text
        return r.json()


def resources(bundle: dict[str, Any], rtype: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle.get("entry", [])
            if e["resource"]["resourceType"] == rtype]


def stamp(element: dict[str, Any]) -> dict[str, Any]:
    """The recorded-by parts of an element as plain values."""
    for e in element.get("extension", []):
        if e["url"] == RECORDED_BY:
            out = {}
            for part in e["extension"]:
                value = next(v for k, v in part.items() if k.startswith("value"))
                out[part["url"]] = (value.get("value") or value.get("code")
                                    or value.get("reference")) if isinstance(value, dict) \
                    else value
            return out
    return {}


@dataclass
class World(StayWorld):
    beds: list[str] = field(default_factory=list)
    people: list[str] = field(default_factory=list)
    staff: dict[str, Staff] = field(default_factory=dict)
    admitted: int = 0

    def add_patient(self, name: str, birth: str = "1938-04-05") -> str:
        r = self.c.post("/fhir/Patient", json=patient(name, "Test", birth=birth),
                        headers=FHIR_JSON)
        assert r.status_code == 201, r.text
        self.patients[name] = r.json()["id"]
        return self.patients[name]

    def admit(self, name: str, at: datetime = T0) -> str:
        bed = self.beds[self.admitted]
        self.admitted += 1
        r = self.c.post(f"/fhir/Patient/{self.patients[name]}/$admit", json=params(
            bed={"reference": f"Location/{bed}"},
            attending={"reference": f"Practitioner/{self.people[0]}"}, at=at),
            headers=FHIR_JSON)
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    def plan_of(self, enc: str, status: str = "active") -> dict[str, Any]:
        r = self.c.get("/fhir/CarePlan", params={"encounter": f"Encounter/{enc}",
                                                 "category": PLAN, "status": status})
        assert r.status_code == 200, r.text
        entries = r.json().get("entry", [])
        assert len(entries) == 1, r.text
        return entries[0]["resource"]

    def home_care(self, name: str) -> str:
        """An active home-care episode at Öckerö's home-care unit (a care relationship)."""
        r = self.c.post("/fhir/EpisodeOfCare", headers=FHIR_JSON, json={
            "resourceType": "EpisodeOfCare", "status": "active",
            "patient": {"reference": f"Patient/{self.patients[name]}"},
            "managingOrganization": {"reference": f"Organization/{self.orgs[OCKERO_HOME]}"},
            "period": {"start": T0.isoformat()}})
        assert r.status_code == 201, r.text
        return str(r.json()["id"])


def build_world(c: TestClient, settings: Settings, engine: Engine) -> World:
    load_region(c.app)
    clock = Clock(T0)
    c.app.state.careplan.clock = clock  # type: ignore[attr-defined]
    w = World(c, settings, engine, clock)
    for hsa in (MED1, GER2, OCKERO, OCKERO_HOME, REGION_HSA):
        w.orgs[hsa] = w.first(f"Organization?identifier={HSA_SYSTEM}|{hsa}")["id"]
    ward = w.first(f"Location?identifier={HSA_SYSTEM}|{MED1}-L")["id"]
    beds = c.get("/fhir/Location", params={"partof:Location.partof": f"Location/{ward}",
                                           "_count": 100, "_sort": "name"}).json()
    w.beds = [e["resource"]["id"] for e in beds["entry"]]
    people = c.get("/fhir/Practitioner", params={"_count": 10, "_sort": "_id"}).json()
    w.people = [e["resource"]["id"] for e in people["entry"]]
    roles = [("nurse", MED1, REGION_HSA, "registered-nurse"),
             ("usk", MED1, REGION_HSA, "assistant-nurse"),
             ("doctor", MED1, REGION_HSA, "physician"),
             ("physio", MED1, REGION_HSA, "physiotherapist"),
             ("dietitian", MED1, REGION_HSA, "dietitian"),
             ("ger_nurse", GER2, REGION_HSA, "registered-nurse"),
             ("home_nurse", OCKERO_HOME, OCKERO, "registered-nurse")]
    for n, (key, unit, provider, role) in enumerate(roles):
        w.staff[key] = Staff(c, settings, f"{provider}-T{n}", unit, provider, role,
                             w.people[n + 1])
    w.add_patient("Andersson")  # 88 at T0
    w.add_patient("Berg", birth="1990-06-01")  # 35
    return w


# -- questionnaire responses ---------------------------------------------------------------

NORTON_ITEMS = ("mental-status", "physical-activity", "mobility", "food-intake",
                "fluid-intake", "incontinence", "general-condition")
NORTON_CODES = {
    "mental-status": ("stuporous", "confused", "apathetic", "alert"),
    "physical-activity": ("bed-bound", "chair-bound", "walks-with-help", "ambulant"),
    "mobility": ("immobile", "very-limited", "slightly-limited", "full"),
    "food-intake": ("none", "poor", "fair", "good"),
    "fluid-intake": ("none", "poor", "fair", "good"),
    "incontinence": ("urine-and-faeces", "usually-urine", "occasional", "none"),
    "general-condition": ("very-poor", "poor", "fair", "good"),
}
ANSWER = "https://vardnav.se/fhir/CodeSystem/{}-answer"


def answer(key: str, code: str) -> dict[str, Any]:
    return {"valueCoding": {"system": ANSWER.format(key), "code": code}}


def norton_points(total: int) -> dict[str, int]:
    """Points per item (1–4) adding up to `total` (7–28)."""
    points = dict.fromkeys(NORTON_ITEMS, 1)
    left = total - 7
    for item in NORTON_ITEMS:
        add = min(3, left)
        points[item] += add
        left -= add
    return points


def norton_response(total: int, *, sent_total: int | None = None,
                    subject: str | None = None) -> dict[str, Any]:
    items = [{"linkId": item, "answer": [answer("modified-norton",
                                                NORTON_CODES[item][points - 1])]}
             for item, points in norton_points(total).items()]
    if sent_total is not None:
        items.append({"linkId": "total", "answer": [{"valueInteger": sent_total}]})
    qr: dict[str, Any] = {"resourceType": "QuestionnaireResponse", "status": "completed",
                          "questionnaire": f"{Q}/modified-norton", "item": items}
    if subject:
        qr["subject"] = {"reference": subject}
    return qr


def response(key: str, answers: dict[str, list[str]]) -> dict[str, Any]:
    return {"resourceType": "QuestionnaireResponse", "status": "completed",
            "questionnaire": f"{Q}/{key}",
            "item": [{"linkId": link, "answer": [answer(key, code) for code in codes]}
                     for link, codes in answers.items()]}
