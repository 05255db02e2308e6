"""Setup of the web page tests: the demo region, sign-in accounts for a few roles, and a
Göteborg resident whose record was written by their primary-care centre (so PDL has
something to hide), plus helpers that sign in and post forms the way a browser does."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete
from starlette.responses import Response

from conftest import FHIR_JSON, bearer, load_region, mint_token, wipe
from vardnav.config import Settings
from vardnav.db.unit_of_work import run_in_transaction
from vardnav.domains.adt.models import ADT_TABLES
from vardnav.domains.identity.models import login_failure, user_account
from vardnav.domains.identity.organisation.region import HSA_SYSTEM
from vardnav.domains.identity.organisation.staff import PROFESSION_SYSTEM
from vardnav.domains.identity.signin.accounts import create_account, hash_password
from vardnav.domains.identity.swedish_identifiers import PERSONNUMMER_SYSTEM
from vardnav.fhir.storage.repository import EngineServices

PASSWORD = "demo-lösenord-1"
MED1 = "SE2321000131-SU-MED1"
GER2 = "SE2321000131-SU-GER2"
VC01 = "SE2321000131-VC01"
GBG = "SE000014800000-K1480"
REGION = "SE2321000131-E000000000001"
PRIVATE = "SE0000PV010000-PPV01"  # Kvarnbyns Läkarhus AB, a private care provider
PRIVATE_UNIT = f"{PRIVATE}-VC"


def personnummer(born: date, serial: int) -> str:
    """A valid 12-digit personnummer (Luhn check digit over YYMMDDNNN)."""
    nine = f"{born:%y%m%d}{serial:03d}"
    total = sum((d // 10 + d % 10) for d in (int(c) * (2 - i % 2) for i, c in enumerate(nine)))
    return f"{born:%Y}{nine[2:]}{(10 - total % 10) % 10}"


@dataclass
class Person:
    hsa: str
    practitioner: str  # Practitioner id
    unit: str  # unit HSA-id
    provider: str  # provider HSA-id
    role: str

    def token(self, settings: Settings) -> str:
        return mint_token(settings, "user/*.cruds", kind="staff", subject=self.hsa,
                          unit=self.unit, provider=self.provider, role=self.role,
                          fhir_user=f"Practitioner/{self.practitioner}")


@dataclass
class World:
    app: Any
    settings: Settings
    system: TestClient
    staff: dict[str, Person] = field(default_factory=dict)
    orgs: dict[str, str] = field(default_factory=dict)  # HSA-id → Organization id
    patient: str = ""  # Patient id of the Göteborg resident
    pnr: str = ""  # their personnummer (12 digits)
    resident_name: str = "Greta Testsson"

    def client(self) -> TestClient:
        return TestClient(self.app)

    def as_staff(self, who: str, method: str, path: str, body: Any = None) -> Any:
        person = self.staff[who]
        r = self.system.request(method, f"/fhir/{path}", json=body, headers={
            **FHIR_JSON, **bearer(person.token(self.settings))})
        assert r.status_code < 300, r.text
        return r.json()


def wipe_all(engine: Engine) -> None:
    wipe(engine)
    with engine.begin() as conn:
        for table in ADT_TABLES:
            conn.execute(delete(table))
        conn.execute(delete(login_failure))
        conn.execute(delete(user_account))


def _staff(system: TestClient, unit: str, profession: str) -> tuple[str, str]:
    """(HSA-id, Practitioner id) of the first staff member with that assignment."""
    r = system.get("/fhir/PractitionerRole", params={
        "organization.identifier": f"{HSA_SYSTEM}|{unit}",
        "role": f"{PROFESSION_SYSTEM}|{profession}",
        "_include": "PractitionerRole:practitioner"})
    assert r.status_code == 200, r.text
    person = next(e["resource"] for e in r.json()["entry"]
                  if e["resource"]["resourceType"] == "Practitioner")
    hsa = next(i["value"] for i in person["identifier"] if i["system"] == HSA_SYSTEM)
    return hsa, person["id"]


def build_world(app: Any, settings: Settings, engine: Engine, services: EngineServices,
                system: TestClient) -> World:
    wipe_all(engine)
    load_region(app)
    world = World(app, settings, system)
    for hsa in (MED1, GER2, VC01, GBG, REGION, PRIVATE_UNIT):
        r = system.get("/fhir/Organization", params={"identifier": f"{HSA_SYSTEM}|{hsa}"})
        world.orgs[hsa] = r.json()["entry"][0]["resource"]["id"]
    providers = {MED1: REGION, GER2: REGION, VC01: REGION, REGION: REGION, GBG: GBG,
                 PRIVATE_UNIT: PRIVATE}
    for key, unit, role in (("nurse", MED1, "registered-nurse"), ("doctor", MED1, "physician"),
                            ("ger2-doctor", GER2, "physician"),
                            ("vc-doctor", VC01, "physician"),
                            ("private-doctor", PRIVATE_UNIT, "physician"),
                            ("coordinator", GBG, "registered-nurse"),
                            ("reviewer", REGION, "log-reviewer")):
        hsa, practitioner = _staff(system, unit, role)
        world.staff[key] = Person(hsa, practitioner, unit, providers[unit], role)
    born = date(1941, 3, 4)
    world.pnr = personnummer(born, 234)
    created = world.as_staff("vc-doctor", "POST", "Patient", {
        "resourceType": "Patient", "birthDate": born.isoformat(), "gender": "female",
        "identifier": [{"system": PERSONNUMMER_SYSTEM, "value": world.pnr}],
        "name": [{"family": "Testsson", "given": ["Greta"]}],
        "generalPractitioner": [{"reference": f"Organization/{world.orgs[VC01]}"}],
        "address": [{"use": "home", "line": ["Storgatan 1"], "postalCode": "413 10",
                     "city": "Göteborg", "district": "Göteborg"}]})
    world.patient = created["id"]
    subject = {"reference": f"Patient/{world.patient}"}
    world.as_staff("vc-doctor", "POST", "AllergyIntolerance", {
        "resourceType": "AllergyIntolerance", "patient": subject, "criticality": "high",
        "code": {"text": "Penicillin"},
        "reaction": [{"manifestation": [{"text": "Anafylaxi"}]}]})
    world.as_staff("vc-doctor", "POST", "Condition", {
        "resourceType": "Condition", "subject": subject, "code": {"text": "Hjärtsvikt"},
        "recordedDate": "2025-01-10"})
    hashed = hash_password(PASSWORD)

    def accounts(conn: Any) -> None:
        for hsa in {person.hsa for person in world.staff.values()}:
            create_account(conn, username=hsa, kind="staff", password_hash=hashed)
        create_account(conn, username=world.pnr, kind="resident", password_hash=hashed)

    run_in_transaction(engine, accounts)
    return world


# -- the browser's side -------------------------------------------------------------------------

def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html[:2000]
    return found.group(1)


def sign_in(c: TestClient, username: str, unit_label: str | None = None,
            next_url: str = "/web/") -> Response:
    """Sign in through /login as a browser would; with several assignments, choose the one
    whose label contains `unit_label`."""
    token = csrf_of(c.get("/login", params={"next": next_url}).text)
    r = c.post("/login", data={"csrf": token, "username": username, "password": PASSWORD,
                               "next": next_url})
    if r.url.path == "/login/choose":
        options = re.findall(r'name="choice" value="([^"]+)"[^>]*>\s*<label[^>]*>([^<]+)',
                             r.text)
        pick = next(v for v, label in options if unit_label is None or unit_label in label)
        r = c.post("/login/choose", data={"csrf": csrf_of(r.text), "choice": pick})
    assert r.status_code == 200, r.text[:2000]
    return r


def post_form(c: TestClient, page: str, to: str | None = None, **fields: str) -> Response:
    """GET `page`, take its CSRF token, POST `fields` to `to` (default: the page)."""
    token = csrf_of(c.get(page).text)
    return c.post(to or page, data={"csrf": token, **fields})


def text_of(html: str) -> str:
    """The visible text, whitespace collapsed (for assertions a reader would make)."""
    body = re.sub(r"<head>.*?</head>", " ", html, flags=re.S)
    body = re.sub(r"<[^>]+>", " ", body)
    return re.sub(r"\s+", " ", body.replace("&#39;", "'").replace("&amp;", "&")).strip()
